"""Statistics on scores and genes: group comparisons (``_compare``), ordered trends (``_trend``),
correlations within groups and pairs (``_correlate``, partial ones in ``_partial_corr``), per-cell
correlations with donors as the unit (``_donors``), Mg-score/mechanism coupling (``_coupling``),
random-effects meta-analysis (``_meta``) and survival (``_survival``, Cox fits in ``_cox``).
``_features`` resolves the features (scores, genes, obs columns) they all take."""

from ._compare import ADJUSTED_COLUMNS, COMPARE_COLUMNS, compare
from ._correlate import CORRELATE_COLUMNS, correlate
from ._coupling import COUPLING_COLUMNS, coupling
from ._donors import DONORS_UNKNOWN, correlate_cells, donor_column
from ._meta import META_COLUMNS, meta_analysis, pool
from ._survival import survival
from ._trend import TREND_COLUMNS, trend

__all__ = ["compare", "trend", "correlate", "correlate_cells", "donor_column", "coupling",
           "meta_analysis", "pool", "survival", "COMPARE_COLUMNS", "ADJUSTED_COLUMNS", "TREND_COLUMNS",
           "CORRELATE_COLUMNS", "COUPLING_COLUMNS", "META_COLUMNS", "DONORS_UNKNOWN"]

"""Gene-set scoring: one module per method, a runner and shared helpers.

The methods are the modules named as the method (``ssgsea``, ``gsva``, ``zscore``, ``plage``,
``singscore``, ``mean``); none imports another one. What they share lives in the private
modules: ``_common`` (set unions, threads, standardisation), ``_ranks`` (ranking kernels),
``_gsva_kernels`` (GSVA's density kernels); ``_runner`` dispatches a method over chunks of
samples and ``_core`` holds :func:`score`. ``_cells`` (per-cell scores, pseudobulk) and
``_composition`` (cell-type marker scores, marker coherence) build on :func:`score`.
"""

from ._cells import pseudobulk, score_cells
from ._composition import COHERENCE_COLUMNS, composition, marker_coherence
from ._core import score
from ._methods import method_options, score_methods
from ._runner import METHODS
from .mean import mg_balance

__all__ = ["score", "mg_balance", "METHODS", "method_options", "score_methods", "score_cells", "pseudobulk",
           "composition", "marker_coherence", "COHERENCE_COLUMNS"]

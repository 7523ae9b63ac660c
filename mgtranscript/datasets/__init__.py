"""Public liver cohorts into AnnData.

``geo``            a GEO series (series matrix, NCBI-generated or author counts, SOFT)
``gdc``            TCGA projects from the GDC (STAR counts + clinical risk factors)
``load_cohort``    a catalog cohort: the loader above plus harmonised labels
``catalog``        the cohort catalog (a data file shipped with the package; ``catalog=`` / ``use_catalog``
                   merge a user catalog over it)
``infer_labels``   propose a catalog entry from a series' own metadata or a sample table
``apply_labels``   harmonised ``disease`` / ``condition`` / ``fibrosis_stage`` / ``nas``
``harmonise_var``  gene ids to current symbols through NCBI gene_info

The names below are the whole public surface; the modules behind them are private.
"""

from ._author_counts import AuthorCounts, match_author_columns, read_author_counts
from ._catalog import (
    CONDITIONS,
    DISEASES,
    LabelWarning,
    catalog,
    cohort_info,
    condition_order,
    load_catalog,
    use_catalog,
)
from ._catalog_schema import EXPECTED_META_KEYS
from ._cohort import load_cohort
from ._gdc import gdc
from ._gdc_clinical import GDCClinicalWarning
from ._gene_info import GeneInfo
from ._geneids import ensure_symbols, harmonise_ids, harmonise_var, load_gene_info
from ._geo import geo
from ._infer import LABEL_COLUMNS, LabelDraft, infer_labels
from ._label_checks import format_counts
from ._labels import apply_labels, label_obs
from ._samplesheet import read_sample_sheet
from ._seriesmatrix import read_series_matrix

__all__ = [
    "load_cohort", "geo", "gdc", "catalog", "cohort_info", "condition_order", "use_catalog", "load_catalog",
    "apply_labels", "label_obs", "infer_labels", "LabelDraft", "LABEL_COLUMNS", "format_counts",
    "read_series_matrix", "read_sample_sheet", "read_author_counts", "match_author_columns", "AuthorCounts",
    "ensure_symbols", "GeneInfo", "harmonise_var", "harmonise_ids", "load_gene_info",
    "DISEASES", "CONDITIONS", "EXPECTED_META_KEYS", "LabelWarning", "GDCClinicalWarning",
]

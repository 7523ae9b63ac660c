"""Public liver cohorts into AnnData.

``geo``            a GEO series (series matrix, NCBI-generated or author counts, SOFT)
``gdc``            TCGA projects from the GDC (STAR counts + clinical risk factors)
``load_cohort``    a catalog cohort: the loader above plus harmonised labels
``catalog``        the cohort catalog (a data file shipped with the package)
``apply_labels``   harmonised ``disease`` / ``condition`` / ``fibrosis_stage`` / ``nas``
``harmonise_var``  gene ids to current symbols through NCBI gene_info
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

logger = logging.getLogger(__name__)

# Functions named like their submodule are imported eagerly: a lazy attribute would be
# rebound to the submodule by the import system the first time the submodule loads.
from .catalog import catalog, cohort_info, condition_order  # noqa: E402
from .gdc import gdc  # noqa: E402
from .geo import geo  # noqa: E402
from .labels import apply_labels, label_obs  # noqa: E402

_LAZY = {
    "read_series_matrix": ("seriesmatrix", "read_series_matrix"),
    "read_sample_sheet": ("samplesheet", "read_sample_sheet"),
    "read_author_counts": ("author_counts", "read_author_counts"),
    "match_author_columns": ("author_counts", "match_author_columns"),
    "AuthorCounts": ("author_counts", "AuthorCounts"),
    "ensure_symbols": ("geneids", "ensure_symbols"),
    "GeneInfo": ("geneids", "GeneInfo"),
    "harmonise_var": ("geneids", "harmonise_var"),
    "harmonise_ids": ("geneids", "harmonise_ids"),
    "load_gene_info": ("geneids", "load_gene_info"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_cohort(accession: str, *, samples=None, samples_key: str | None = None,
                metadata_only: bool = False, labels: bool = True, **kwargs):
    """Load a cohort and add the catalog's harmonised labels.

    Parameters
    ----------
    accession
        A GEO series (``GSE126848``) or a GDC project (``TCGA-LIHC``).
    samples
        A user sample sheet (path or DataFrame) joined on GSM / run / title / ``samples_key``.
    samples_key
        Column of the sheet to join on (auto-detected when omitted).
    metadata_only
        Load sample metadata only (no expression).
    labels
        Apply the catalog's label rules (``obs["disease"]``, ``obs["condition"]``,
        ``obs["fibrosis_stage"]``, ``obs["nas"]``, ``obs["pair_id"]``). Accessions not in the
        catalog are returned unlabelled with a warning.
    **kwargs
        Passed to :func:`geo` or :func:`gdc`.

    Returns
    -------
    AnnData (samples x genes).
    """
    acc = str(accession).strip()
    if acc.upper().startswith("TCGA-"):
        adata = gdc(acc.upper(), **kwargs)
    else:
        adata = geo(acc, samples=samples, samples_key=samples_key,
                    metadata_only=metadata_only, **kwargs)
    if labels:
        known = set(catalog()["accession"])
        if acc.upper() in known:
            apply_labels(adata, acc.upper())
        else:
            logger.warning("%s is not in the cohort catalog: no harmonised labels added", acc)
    return adata


__all__ = ["load_cohort", "geo", "gdc", "catalog", "cohort_info", "apply_labels", "label_obs",
           "condition_order", *_LAZY]

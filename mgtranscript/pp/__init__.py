"""Preprocessing: TMM + log2 CPM and an expression filter for counts, log detection for arrays.

Gene-id harmonisation lives in :func:`mgtranscript.datasets.harmonise_var`.
"""

from ._normalize import (
    calc_norm_factors,
    check_counts,
    ensure_log,
    expressed_genes,
    filter_expressed,
    log2_cpm,
)

__all__ = [
    "log2_cpm", "ensure_log", "check_counts", "calc_norm_factors", "expressed_genes",
    "filter_expressed",
]

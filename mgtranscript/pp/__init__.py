"""Preprocessing: log2 CPM for counts, log detection for arrays.

Gene-id harmonisation lives in :func:`mgtranscript.datasets.harmonise_var`.
"""

from .normalize import check_counts, ensure_log, log2_cpm

__all__ = ["log2_cpm", "ensure_log", "check_counts"]

"""Relative cell-type marker scores for bulk liver samples.

Bulk liver RNA is a mixture: hepatocytes dominate, and a biopsy with more infiltrating
lymphocytes, activated stellate cells or ductular reaction carries more of their
transcripts. A gene such as KLRK1 (NKG2D) then measures how many NK / CD8 T cells a
sample holds, not what happens inside them. :func:`composition` scores bundled marker
sets of seven liver populations (``gene_sets/liver_celltypes.gmt``; markers and their
sources in ``liver_celltypes.tsv``) so that comparisons and correlations can be adjusted
for composition (``covariates=`` of :func:`mgtranscript.tl.compare`,
:func:`mgtranscript.tl.correlate`, :func:`mgtranscript.tl.coupling`).

These are **relative marker scores, not cell proportions**: a score says that a sample
expresses a population's markers more or less than the other samples of the same
cohort. It is not a fraction of cells, is not comparable across cohorts, and depends on
the markers' own regulation (hepatocyte genes fall in dedifferentiated tumours without any
change in hepatocyte number). Use a deconvolution method with a single-cell reference if
proportions are needed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["composition"]

_NOT_PROPORTIONS = (
    "relative marker scores (samples compared within this cohort), not cell proportions"
)


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def composition(
    adata,
    *,
    gene_sets: Any = "liver_celltypes",
    method: str = "zscore",
    layer: str | None = None,
    key_added: str = "composition",
    obs: bool = True,
    copy: bool = False,
):
    """Score liver cell-type marker sets per sample (relative scores, not proportions).

    Parameters
    ----------
    adata
        AnnData, samples x genes, log-scale expression in ``X`` (or ``layer``), gene
        symbols as ``var_names``.
    gene_sets
        Marker sets; default the bundled ``"liver_celltypes"`` (hepatocyte,
        cholangiocyte, stellate_fibroblast, sinusoidal_endothelial, kupffer_macrophage,
        t_nk, b_plasma). Anything :func:`mgtranscript.genesets.load` accepts.
    method
        Scoring method of :func:`mgtranscript.tl.score`; default ``"zscore"`` (the
        combined z-score of Lee et al. 2008 as in GSVA: every marker is standardised across
        the samples and a sample's score is ``sum(z) / sqrt(k)``), which keeps the scores on
        a comparable, cohort-relative scale. ``"ssgsea"`` / ``"gsva"`` also work.
    layer
        Expression layer (default ``X``).
    key_added
        ``obsm[key_added]`` gets the samples x cell types table; ``uns[key_added]`` the
        parameters (``"params"``, with ``"interpretation"`` and the cell-type -> obs
        column map) and the marker coverage per set (``"coverage"``: markers found,
        missing, resolved through aliases).
    obs
        Also write one ``obs`` column per cell type, ``f"{key_added}_{cell_type}"``
        (e.g. ``composition_t_nk``), ready for ``covariates=``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The samples x cell types DataFrame (``copy=False``) or the modified copy
    (``copy=True``).

    Raises
    ------
    InputDataError
        No marker set could be scored (no marker in ``var_names``).

    Examples
    --------
    >>> mg.tl.composition(adata)                                          # doctest: +SKIP
    >>> mg.tl.correlate(adata, "MAGT1", "KLRK1", within="condition",
    ...                 covariates=["composition_t_nk"])                  # doctest: +SKIP
    """
    from .score import score

    if copy:
        adata = adata.copy()
    score(adata, gene_sets, method=method, layer=layer, key_added=key_added, min_size=1)
    table = adata.obsm[key_added]
    if table.shape[1] == 0:
        raise InputDataError(
            "no cell-type marker set could be scored (no marker found in var_names); "
            "composition needs gene symbols as var_names."
        )
    columns = {}
    if obs:
        for ct in table.columns:
            col = f"{key_added}_{_snake(ct)}"  # a rerun overwrites its own columns
            adata.obs[col] = table[ct].to_numpy(dtype=float)
            columns[str(ct)] = col
    entry = adata.uns[key_added]
    params = dict(entry["params"])
    params["interpretation"] = _NOT_PROPORTIONS
    params["obs_columns"] = columns
    entry["params"] = params
    cov = entry.get("coverage")
    if isinstance(cov, pd.DataFrame) and "final_size" in cov.columns:
        low = [str(s) for s, k in cov["final_size"].items() if k < 3]
        if low:
            logger.warning("composition: fewer than 3 markers found for %s; those scores are noisy", low)
    n_nan = int(np.isnan(table.to_numpy(dtype=float)).any(axis=0).sum())
    if n_nan:
        logger.warning("composition: %d cell type(s) could not be scored in some samples", n_nan)
    return adata if copy else table.copy()

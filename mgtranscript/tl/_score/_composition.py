"""Relative cell-type marker scores for bulk liver samples.

Bulk liver RNA is a mixture: hepatocytes dominate, and a biopsy with more infiltrating
lymphocytes, activated stellate cells or ductular reaction carries more of their
transcripts. A gene such as KLRK1 (NKG2D) then measures how many NK / CD8 T cells a
sample holds, not what happens inside them. :func:`composition` scores bundled marker
sets of eight liver populations (``gene_sets/liver_celltypes.gmt``; markers and their
sources in ``liver_celltypes.tsv``) so that comparisons and correlations can be adjusted
for composition (``covariates=`` of :func:`mgtranscript.tl.compare`,
:func:`mgtranscript.tl.correlate`, :func:`mgtranscript.tl.coupling`).

These are **relative marker scores, not cell proportions**: a score says that a sample
expresses a population's markers more or less than the other samples of the same
cohort. It is not a fraction of cells, is not comparable across cohorts, and depends on
the markers' own regulation (hepatocyte genes fall in dedifferentiated tumours without any
change in hepatocyte number). Use a deconvolution method with a single-cell reference if
proportions are needed. :func:`marker_coherence` measures whether the markers of a set move
together inside strata of samples (the bundled sets were chosen so that they do in the
mirror cohorts).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import InputDataError
from .._store import finish, start, store

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["composition", "marker_coherence", "COHERENCE_COLUMNS"]

#: Columns of the :func:`marker_coherence` table.
COHERENCE_COLUMNS = ["cell_type", "gene", "level", "n", "rho"]

_NOT_PROPORTIONS = (
    "relative marker scores (samples compared within this cohort), not cell proportions"
)


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def composition(
    adata: AnnData,
    *,
    gene_sets: Any = "liver_celltypes",
    method: str = "zscore",
    layer: str | None = None,
    key_added: str = "composition",
    obs: bool = True,
    copy: bool = False,
) -> AnnData | None:
    """Score liver cell-type marker sets per sample (relative scores, not proportions).

    Parameters
    ----------
    adata
        AnnData, samples x genes, log-scale expression in ``X`` (or ``layer``), gene
        symbols as ``var_names``.
    gene_sets
        Marker sets; default the bundled ``"liver_celltypes"`` (hepatocyte,
        cholangiocyte, stellate_fibroblast, sinusoidal_endothelial, kupffer_macrophage,
        t_nk, b_cell, plasma_cell; markers chosen for their coherence in bulk liver, see
        :func:`marker_coherence` and ``gene_sets/README.md``). Anything :func:`mgtranscript.genesets.load` accepts.
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
    The modified copy when ``copy=True``, else ``None``. The samples x cell types scores are
    in ``obsm[key_added]`` (:func:`mgtranscript.get.scores` ``(adata, key_added)``), the
    marker coverage in ``uns[key_added]["coverage"]`` (:func:`mgtranscript.get.coverage`).

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
    from ._core import score

    adata = start(adata, "composition", key_added=key_added, copy=copy)
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
    params = {k: v for k, v in entry["params"].items() if k != "function"}
    params["interpretation"] = _NOT_PROPORTIONS
    params["obs_columns"] = columns
    store(adata, key_added, "composition", params, coverage=entry["coverage"])
    cov = entry.get("coverage")
    if isinstance(cov, pd.DataFrame) and "final_size" in cov.columns:
        low = [str(s) for s, k in cov["final_size"].items() if k < 3]
        if low:
            logger.warning("composition: fewer than 3 markers found for %s; those scores are noisy", low)
    n_nan = int(np.isnan(table.to_numpy(dtype=float)).any(axis=0).sum())
    if n_nan:
        logger.warning("composition: %d cell type(s) could not be scored in some samples", n_nan)
    return finish(adata, copy)


def marker_coherence(
    adata: AnnData,
    *,
    gene_sets: Any = "liver_celltypes",
    within: str | None = None,
    layer: str | None = None,
    min_n: int = 5,
    key_added: str = "marker_coherence",
    copy: bool = False,
) -> AnnData | None:
    """How well each marker tracks the rest of its set, within strata of samples.

    A marker set can only stand for a cell population in bulk samples when its markers move
    together. For every set and marker, and inside every level of ``within`` (e.g. each
    condition, so that the group difference does not make unrelated genes correlate), the
    Spearman correlation of the marker with the **rest of its set**: the mean, over the
    other markers, of their values standardised inside the stratum. A marker whose
    correlation is low in several strata does not measure what the rest of the set
    measures (it is regulated on its own, or expressed by another population too).

    Parameters
    ----------
    adata
        AnnData, samples x genes, log-scale expression in ``X`` (or ``layer``), gene
        symbols as ``var_names``.
    gene_sets
        Marker sets (default the bundled ``"liver_celltypes"``); anything
        :func:`mgtranscript.genesets.load` accepts. Markers absent from ``var_names`` or
        constant within a stratum are left out there.
    within
        ``obs`` column of the strata (default: all samples as one stratum, level ``"all"``).
        Missing and ``"unlabelled"`` values are left out.
    layer
        Expression layer (default ``X``).
    min_n
        Smallest stratum analysed (samples).
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. The table, read with
    :func:`mgtranscript.get.marker_coherence` ``(adata, key_added)``, has one row per set,
    marker and stratum (:data:`COHERENCE_COLUMNS`): ``cell_type``, ``gene``, ``level`` (the
    stratum), ``n`` (samples), ``rho`` (Spearman correlation with the rest of the set; NaN
    when fewer than two other markers are measured).

    Raises
    ------
    InputDataError
        Unknown ``within`` column or ``layer``, ``min_n`` below 4.
    """
    from scipy import stats

    from ...genesets import load
    from ._runner import describe_spec

    adata = start(adata, "marker_coherence", key_added=key_added, copy=copy)
    if min_n < 4:
        raise InputDataError(f"min_n must be at least 4, got {min_n}.")
    if layer is not None and layer not in adata.layers:
        raise InputDataError(f"adata.layers has no {layer!r}; available: {list(adata.layers) or 'none'}.")
    if within is not None and within not in adata.obs.columns:
        raise InputDataError(f"obs has no column {within!r}; available: {list(adata.obs.columns)}.")
    sets = load(gene_sets)
    names = pd.Index(adata.var_names.astype(str))
    M = adata.layers[layer] if layer is not None else adata.X
    M = M.toarray() if hasattr(M, "toarray") else np.asarray(M, dtype=float)
    if within is None:
        strata = {"all": np.ones(adata.n_obs, dtype=bool)}
    else:
        lab = adata.obs[within].astype("object")
        levels = [str(v) for v in dict.fromkeys(lab.dropna()) if str(v) != "unlabelled"]
        strata = {lv: (lab.astype(str) == lv).to_numpy() for lv in levels}
    rows = []
    for ct, genes in sets.items():
        idx = [names.get_loc(g) for g in genes if g in names]
        for lv, m in strata.items():
            if m.sum() < min_n:
                continue
            X = M[np.ix_(m, idx)]
            sd = X.std(axis=0, ddof=1)
            ok = sd > 0
            Z = np.where(ok, (X - X.mean(axis=0)) / np.where(ok, sd, 1.0), np.nan)
            for j, gi in enumerate(idx):
                rest = [k for k in range(len(idx)) if k != j and ok[k]]
                rho = np.nan
                if ok[j] and len(rest) >= 2:
                    rho = float(stats.spearmanr(X[:, j], Z[:, rest].mean(axis=1))[0])
                rows.append({"cell_type": str(ct), "gene": str(names[gi]), "level": lv, "n": int(m.sum()),
                             "rho": rho})
    params = {"gene_sets": describe_spec(gene_sets), "within": within or "", "layer": layer or "X",
              "min_n": int(min_n)}
    store(adata, key_added, "marker_coherence", params, table=pd.DataFrame(rows, columns=COHERENCE_COLUMNS))
    return finish(adata, copy)

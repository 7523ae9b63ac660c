"""The Mg-gene heatmap: group means of z-scored expression.

Takes either an AnnData (scores in ``obsm[key]``, labels in ``obs``) or a
tidy per-sample DataFrame (one row per sample: label columns such as ``condition`` and
``pair_id`` plus numeric feature columns, e.g. ``AnalysisResult.features[accession]``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._look import _tick_labels, styled, two_lines, wrap
from mgtranscript.pl._utils import (
    _column,
    _is_anndata,
    group_levels,
    new_figure,
    obs_column,
    savefig,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from anndata import AnnData

logger = logging.getLogger(__name__)


def _dense(m) -> np.ndarray:
    if hasattr(m, "toarray"):
        m = m.toarray()
    elif hasattr(m, "compute"):
        m = m.compute()
    return np.asarray(m, dtype=float)


@styled
def heatmap(
    adata: AnnData,
    genes: Sequence[str],
    *,
    groupby: str = "condition",
    layer: str | None = None,
    standard_scale: str | None = "var",
    gene_symbols: str | None = None,
    order: Sequence[str] | None = None,
    annotate: bool = True,
    title: str | None = None,
    units: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Genes (rows) x groups (columns) heatmap of group means.

    Parameters
    ----------
    adata
        Samples x genes AnnData (log-scale expression is expected), or a per-sample
        DataFrame with one column per gene and the ``groupby`` column.
    genes
        Genes to show, matched to ``var_names`` (or to ``var[gene_symbols]``) or to the
        DataFrame's columns. Genes not measured are skipped with a warning.
    groupby
        Label column defining the columns.
    layer
        Use ``adata.layers[layer]`` instead of ``X`` (AnnData only).
    standard_scale
        ``"var"`` (default): z-score each gene across all samples before averaging, so
        colours are comparable between genes; ``None``: plain group means.
    gene_symbols
        ``var`` column holding the names in ``genes`` (e.g. ``"symbol"``).
    order
        Group order.
    annotate
        Write the value in each cell.
    title
        Axes title.
    units
        Units of the expression values (named in the colour-bar label), e.g. "log2 CPM (TMM)".
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if standard_scale not in {"var", None}:
        raise InputDataError(f"standard_scale must be 'var' or None, got {standard_scale!r}.")
    if isinstance(genes, str):
        genes = [genes]
    if _is_anndata(adata):
        if gene_symbols is not None and gene_symbols not in adata.var.columns:
            raise InputDataError(f"gene_symbols={gene_symbols!r} is not a column of adata.var.")
        names = adata.var[gene_symbols].astype(str) if gene_symbols is not None else pd.Series(
            adata.var_names, index=adata.var_names)
        first = pd.Series(np.arange(adata.n_vars), index=names.to_numpy())
        first = first[~first.index.duplicated()]
        shown = [g for g in dict.fromkeys(genes) if g in first.index]
        if not shown:
            raise InputDataError(
                f"none of the genes {list(genes)[:5]} is in the data (var names start "
                f"{list(names[:3])}); pass gene_symbols='<var column>' if var_names are Ensembl/Entrez ids."
            )
        if layer is not None and layer not in adata.layers:
            raise InputDataError(f"layer {layer!r} not in adata.layers ({list(adata.layers.keys())}).")
        mat = adata.layers[layer] if layer is not None else adata.X
        X = _dense(mat[:, first[shown].to_numpy()])
        group = obs_column(adata, groupby)
    elif isinstance(adata, pd.DataFrame):
        shown = [g for g in dict.fromkeys(genes) if g in adata.columns]
        if not shown:
            raise InputDataError(f"none of the genes {list(genes)[:5]} is a column of the table.")
        X = adata[shown].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        group = _column(adata, groupby, "groupby")
    else:
        raise InputDataError(f"adata must be an AnnData or a per-sample DataFrame, got {type(adata).__name__}.")
    missing = [g for g in genes if g not in shown]
    if missing:
        logger.warning("%d genes not measured and skipped: %s", len(missing), missing[:10])
    if standard_scale == "var":
        sd = np.nanstd(X, axis=0, ddof=1)
        sd[~(sd > 0)] = np.nan
        X = (X - np.nanmean(X, axis=0)) / sd
    levels = group_levels(group, order)
    gmask = [(group == lv).to_numpy() for lv in levels]
    with np.errstate(all="ignore"):
        M = np.column_stack([np.nanmean(X[m], axis=0) if m.any() else np.full(X.shape[1], np.nan)
                             for m in gmask])
    counts = [int(m.sum()) for m in gmask]
    width = max(4.6, 2.6 + 0.95 * len(levels))
    fig = new_figure(width, 1.7 + 0.3 * len(shown))
    ax = fig.add_subplot()
    if standard_scale == "var":
        lim = max(float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0, 0.1)
        im = ax.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        label = "group mean of per-gene z-scores"
    else:
        lim = 1.0
        im = ax.imshow(M, aspect="auto", cmap="viridis", interpolation="nearest")
        label = "group mean" + (f" ({units})" if units else "")
    if annotate and M.size <= 600:
        for (i, j), v in np.ndenumerate(M):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if standard_scale == "var" and abs(v) > 0.6 * lim else "black")
    ticklabels, rotate = _tick_labels(levels, counts, 0.95 * len(levels))
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([t.replace("\n", " ") if rotate else t for t in ticklabels],
                       rotation=35 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor" if rotate else "default")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(shown)
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    cb = fig.colorbar(im, ax=ax, shrink=min(1.0, 4.0 / max(len(shown), 1) + 0.5), pad=0.02)
    cb.set_label(two_lines(label if units is None or standard_scale != "var" else f"{label} of {units}", 28))
    if title:
        ax.set_title(wrap(title, 60))
    savefig(fig, save, svg=svg)
    return fig

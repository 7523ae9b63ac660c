"""Sample-level plots: scores per group, Mg-gene heatmap, score-vs-score scatter."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import (
    colours,
    group_levels,
    new_figure,
    obs_column,
    obsm_frame,
    savefig,
    select_columns,
)

logger = logging.getLogger(__name__)


def scores(
    adata,
    key: str,
    *,
    groupby: str = "condition",
    order: Sequence[str] | None = None,
    kind: str = "box",
    sets: Sequence[str] | str | None = None,
    paired_by: str | None = None,
    ncols: int = 4,
    save: str | Path | None = None,
):
    """Scores per group: one panel per gene set, box or violin plus every sample as a point.

    Parameters
    ----------
    adata
        AnnData with scores in ``obsm[key]`` (samples x sets).
    key
        ``obsm`` key, e.g. ``"mg_ssgsea"``.
    groupby
        ``obs`` column defining the groups on the x axis.
    order
        Group order (default: categorical order, else first appearance).
    kind
        ``"box"`` or ``"violin"``.
    sets
        Which score columns to draw (default all).
    paired_by
        ``obs`` column identifying pairs (e.g. patient id for tumour/normal pairs): the
        points of one pair are joined by a grey line.
    ncols
        Panels per row.
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if kind not in {"box", "violin"}:
        raise InputDataError(f"kind must be 'box' or 'violin', got {kind!r}.")
    df = obsm_frame(adata, key)
    cols = select_columns(df, sets)
    group = obs_column(adata, groupby)
    levels = group_levels(group, order)
    if not levels:
        raise InputDataError(f"obs[{groupby!r}] has no non-missing groups to plot.")
    pairs = obs_column(adata, paired_by, "paired_by") if paired_by is not None else None
    ncols = max(1, min(ncols, len(cols)))
    nrows = math.ceil(len(cols) / ncols)
    fig = new_figure(max(3.2, 0.9 * len(levels) + 1.4) * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    cols_rgb = colours(len(levels))
    rng = np.random.default_rng(0)  # fixed jitter: identical figures on every run
    xpos = {lv: i for i, lv in enumerate(levels)}
    jitter = pd.Series(rng.uniform(-0.18, 0.18, size=adata.n_obs), index=adata.obs_names)
    for ax, col in zip(axes, cols):
        data = [df.loc[(group == lv).to_numpy(), col].dropna().to_numpy() for lv in levels]
        nonempty = [i for i, d in enumerate(data) if len(d)]
        if kind == "box":
            bp = ax.boxplot([data[i] for i in nonempty], positions=nonempty, widths=0.6,
                            showfliers=False, patch_artist=True)
            for i, patch in zip(nonempty, bp["boxes"]):
                patch.set_facecolor((*cols_rgb[i][:3], 0.35))
                patch.set_edgecolor(cols_rgb[i])
            for med in bp["medians"]:
                med.set_color("black")
        else:
            multi = [i for i in nonempty if len(data[i]) > 1]
            if multi:
                vp = ax.violinplot([data[i] for i in multi], positions=multi, widths=0.8,
                                   showmedians=True, showextrema=False)
                for i, body in zip(multi, vp["bodies"]):
                    body.set_facecolor(cols_rgb[i])
                    body.set_alpha(0.35)
                vp["cmedians"].set_color("black")
        if pairs is not None:
            sub = pd.DataFrame({"pair": pairs, "group": group, "y": df[col]}).dropna()
            sub = sub[sub["group"].isin(levels)]
            for _, blk in sub.groupby("pair", observed=True):
                if len(blk) < 2:
                    continue
                blk = blk.assign(x=[xpos[g] for g in blk["group"]]).sort_values("x")
                ax.plot(blk["x"] + jitter[blk.index].to_numpy(), blk["y"], color="0.6", lw=0.6,
                        alpha=0.6, zorder=1)
        for i, lv in enumerate(levels):
            m = (group == lv).to_numpy() & df[col].notna().to_numpy()
            ax.scatter(i + jitter.to_numpy()[m], df.loc[m, col], s=12, color=cols_rgb[i],
                       edgecolor="white", linewidth=0.3, zorder=3)
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels([f"{lv}\n(n={len(data[i])})" for i, lv in enumerate(levels)], fontsize=8)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_title(col, fontsize=9)
        ax.set_ylabel(key, fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    savefig(fig, save)
    return fig


def _dense(m) -> np.ndarray:
    if hasattr(m, "toarray"):
        m = m.toarray()
    elif hasattr(m, "compute"):
        m = m.compute()
    return np.asarray(m, dtype=float)


def heatmap(
    adata,
    genes: Sequence[str],
    *,
    groupby: str = "condition",
    layer: str | None = None,
    standard_scale: str | None = "var",
    gene_symbols: str | None = None,
    order: Sequence[str] | None = None,
    annotate: bool = True,
    save: str | Path | None = None,
):
    """Genes (rows) x groups (columns) heatmap of group means.

    Parameters
    ----------
    adata
        Samples x genes AnnData (log-scale expression is expected).
    genes
        Genes to show, matched to ``var_names`` (or to ``var[gene_symbols]``). Genes not
        measured are skipped with a warning.
    groupby
        ``obs`` column defining the columns.
    layer
        Use ``adata.layers[layer]`` instead of ``X``.
    standard_scale
        ``"var"`` (default): z-score each gene across all samples before averaging, so
        colours are comparable between genes; ``None``: plain group means.
    gene_symbols
        ``var`` column holding the names in ``genes`` (e.g. ``"symbol"``).
    order
        Group order.
    annotate
        Write the value in each cell.
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if standard_scale not in {"var", None}:
        raise InputDataError(f"standard_scale must be 'var' or None, got {standard_scale!r}.")
    if isinstance(genes, str):
        genes = [genes]
    names = adata.var[gene_symbols].astype(str) if gene_symbols is not None else pd.Series(
        adata.var_names, index=adata.var_names)
    if gene_symbols is not None and gene_symbols not in adata.var.columns:
        raise InputDataError(f"gene_symbols={gene_symbols!r} is not a column of adata.var.")
    first = pd.Series(np.arange(adata.n_vars), index=names.to_numpy())
    first = first[~first.index.duplicated()]
    shown = [g for g in dict.fromkeys(genes) if g in first.index]
    missing = [g for g in genes if g not in first.index]
    if missing:
        logger.warning("%d genes not measured and skipped: %s", len(missing), missing[:10])
    if not shown:
        raise InputDataError(
            f"none of the genes {list(genes)[:5]} is in the data (var names start "
            f"{list(names[:3])}); pass gene_symbols='<var column>' if var_names are Ensembl/Entrez ids."
        )
    mat = adata.layers[layer] if layer is not None else adata.X
    if layer is not None and layer not in adata.layers:
        raise InputDataError(f"layer {layer!r} not in adata.layers ({list(adata.layers.keys())}).")
    X = _dense(mat[:, first[shown].to_numpy()])
    if standard_scale == "var":
        sd = np.nanstd(X, axis=0, ddof=1)
        sd[~(sd > 0)] = np.nan
        X = (X - np.nanmean(X, axis=0)) / sd
    group = obs_column(adata, groupby)
    levels = group_levels(group, order)
    M = np.column_stack([np.nanmean(X[(group == lv).to_numpy()], axis=0) for lv in levels])
    counts = [int((group == lv).sum()) for lv in levels]
    fig = new_figure(1.6 + 0.75 * len(levels), 1.3 + 0.28 * len(shown))
    ax = fig.add_subplot()
    if standard_scale == "var":
        lim = max(float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0, 0.1)
        im = ax.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        label = "mean z-score"
    else:
        im = ax.imshow(M, aspect="auto", cmap="viridis", interpolation="nearest")
        label = "mean expression"
    if annotate and M.size <= 600:
        for (i, j), v in np.ndenumerate(M):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if standard_scale == "var" and abs(v) > 0.6 * lim else "black")
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([f"{lv}\n(n={c})" for lv, c in zip(levels, counts)], fontsize=8)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(shown, fontsize=8)
    ax.set_xlabel(groupby, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8).set_label(label, fontsize=8)
    savefig(fig, save)
    return fig


def scatter(
    adata,
    x_key: str,
    y_key: str,
    *,
    x_set: str,
    y_set: str,
    groupby: str | None = None,
    order: Sequence[str] | None = None,
    save: str | Path | None = None,
):
    """One score against another across samples, with Spearman's rho.

    Parameters
    ----------
    adata
        AnnData with ``obsm[x_key]`` and ``obsm[y_key]``.
    x_key, y_key
        ``obsm`` keys (e.g. ``"mg_ssgsea"`` and a Hallmark score table).
    x_set, y_set
        Columns of those tables.
    groupby
        Optional ``obs`` column colouring the points; the legend gives each group's rho.
    order
        Group order.
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
        Title carries the overall rho, p-value and n.
    """
    xdf, ydf = obsm_frame(adata, x_key), obsm_frame(adata, y_key)
    x = xdf[select_columns(xdf, x_set)[0]].to_numpy(float)
    y = ydf[select_columns(ydf, y_set)[0]].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        raise InputDataError(f"only {int(ok.sum())} samples have both scores; need at least 3.")
    fig = new_figure(5.2, 4.4)
    ax = fig.add_subplot()
    if groupby is not None:
        group = obs_column(adata, groupby)
        levels = group_levels(group, order)
        for c, lv in zip(colours(len(levels)), levels):
            m = ok & (group == lv).to_numpy()
            lab = f"{lv} (n={int(m.sum())}"
            if m.sum() >= 3 and np.ptp(x[m]) > 0 and np.ptp(y[m]) > 0:
                lab += f", rho={stats.spearmanr(x[m], y[m])[0]:.2f}"
            ax.scatter(x[m], y[m], s=16, color=c, label=lab + ")", edgecolor="white", linewidth=0.3)
        ax.legend(fontsize=7, frameon=False)
    else:
        ax.scatter(x[ok], y[ok], s=16, color=colours(1)[0], edgecolor="white", linewidth=0.3)
    rho, p = stats.spearmanr(x[ok], y[ok])
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    xs = np.linspace(x[ok].min(), x[ok].max(), 2)
    ax.plot(xs, slope * xs + intercept, color="0.3", lw=1, ls="--")
    ax.set_xlabel(f"{x_set} ({x_key})", fontsize=8)
    ax.set_ylabel(f"{y_set} ({y_key})", fontsize=8)
    ax.set_title(f"Spearman rho = {rho:.2f}, p = {p:.2g}, n = {int(ok.sum())}", fontsize=9)
    ax.tick_params(labelsize=8)
    savefig(fig, save)
    return fig

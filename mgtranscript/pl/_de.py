"""Volcano plot of a differential-expression table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._look import styled, suptitle
from mgtranscript.pl._utils import new_figure, savefig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

_EFFECT = ("log2fc", "logfc", "log2foldchange", "lfc", "log2_fold_change", "logfoldchange", "effect")
_PVAL = ("pval", "pvalue", "p.value", "p_value", "p")
_QVAL = ("qval", "padj", "adj.p.val", "fdr", "q_value", "qvalue", "p_adj")


def _pick(df: pd.DataFrame, given: str | None, candidates: Sequence[str], what: str, required: bool = True):
    if given is not None:
        if given not in df.columns:
            raise InputDataError(f"de_table has no column {given!r} (columns: {list(df.columns)}).")
        return given
    low = {str(c).lower(): c for c in df.columns}
    for c in candidates:
        if c in low:
            return low[c]
    if required:
        raise InputDataError(
            f"cannot find the {what} column of the DE table (columns: {list(df.columns)}); "
            f"pass {what}='<column>'."
        )
    return None


@styled
def volcano(
    de_table: pd.DataFrame,
    *,
    highlight: Sequence[str] | None = None,
    q: float = 0.05,
    x: str | None = None,
    pval: str | None = None,
    qval: str | None = None,
    gene: str | None = None,
    lfc: float = 0.0,
    max_labels: int = 30,
    title: str | None = None,
    x_label: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Volcano plot: effect (log2 fold change) vs -log10 p-value, highlighted genes labelled.

    Labels are moved apart (adjustText) so none overlaps another label or a point's
    label line; the legend sits outside the data.

    Parameters
    ----------
    de_table
        One row per gene. Columns found automatically (case-insensitive): effect
        ``log2fc``/``logFC``/``log2FoldChange``; p-value ``pval``/``pvalue``/``P.Value``;
        q-value ``qval``/``padj``/``adj.P.Val``/``fdr``; gene ``gene`` (else the index).
    highlight
        Genes to mark and label (e.g. the Mg genes); those absent are ignored.
    q
        q-value threshold for colouring genes as significant (if no q column, p is used).
    x, pval, qval, gene
        Column names, overriding detection.
    lfc
        Minimum |effect| (in addition to q) for the significant colour; also drawn.
    max_labels
        Label at most this many highlighted genes (the most significant).
    title
        Figure title.
    x_label
        X-axis label (default "log2 fold change").
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D  # noqa: PLC0415

    if not isinstance(de_table, pd.DataFrame) or de_table.empty:
        raise InputDataError("de_table must be a non-empty DataFrame with one row per gene.")
    xc = _pick(de_table, x, _EFFECT, "x")
    pc = _pick(de_table, pval, _PVAL, "pval")
    qc = _pick(de_table, qval, _QVAL, "qval", required=False)
    gc = gene if gene is not None else ("gene" if "gene" in de_table.columns else None)
    names = (de_table[gc] if gc is not None else pd.Series(de_table.index, index=de_table.index)).astype(str)
    eff = pd.to_numeric(de_table[xc], errors="coerce").to_numpy(float)
    p = pd.to_numeric(de_table[pc], errors="coerce").to_numpy(float)
    sig_stat = pd.to_numeric(de_table[qc], errors="coerce").to_numpy(float) if qc else p
    ok = np.isfinite(eff) & np.isfinite(p)
    if not ok.any():
        raise InputDataError("no gene has a finite effect and p-value.")
    floor = np.nanmin(p[ok & (p > 0)]) if (ok & (p > 0)).any() else 1e-300
    ly = -np.log10(np.clip(p, floor * 0.1, 1.0))
    # a few extreme p-values would squash every other gene to the axis: cap the display
    bulk = np.nanpercentile(ly[ok], 99.5) if ok.sum() > 20 else np.nanmax(ly[ok])
    cap = max(10.0, 1.6 * bulk)
    capped = ok & (ly > cap)
    ly = np.where(capped, cap, ly)
    sig = ok & (sig_stat < q) & (np.abs(eff) >= lfc)
    fig = new_figure(7.6, 5.0)
    ax = fig.add_subplot()
    qname = "q" if qc else "p"
    ax.scatter(eff[ok & ~sig], ly[ok & ~sig], s=5, color="0.78", linewidth=0, rasterized=True)
    up, down = sig & (eff > 0), sig & (eff < 0)
    ax.scatter(eff[up], ly[up], s=6, color="#c0392b", linewidth=0, rasterized=True, alpha=0.8)
    ax.scatter(eff[down], ly[down], s=6, color="#2471a3", linewidth=0, rasterized=True, alpha=0.8)
    handles = [
        Line2D([], [], marker="o", ls="", color="#c0392b", label=f"up, {qname} < {q:g} ({int(up.sum()):,})"),
        Line2D([], [], marker="o", ls="", color="#2471a3", label=f"down, {qname} < {q:g} ({int(down.sum()):,})"),
        Line2D([], [], marker="o", ls="", color="0.78", label=f"not significant ({int((ok & ~sig).sum()):,})"),
    ]
    if capped.any():
        ax.scatter(eff[capped], ly[capped], s=22, marker="^", color="#566573", linewidth=0, zorder=3)
        handles.append(Line2D([], [], marker="^", ls="", color="#566573",
                              label=f"p < 1e-{cap:.0f}, drawn at the top ({int(capped.sum())})"))
    texts = []
    if highlight is not None:
        hset = set(map(str, highlight))
        hm = ok & names.isin(hset).to_numpy()
        if not hm.any():
            logger.warning("none of the highlighted genes is in the DE table")
        ax.scatter(eff[hm], ly[hm], s=30, facecolor="none", edgecolor="black", linewidth=1.0, zorder=4)
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="none", markeredgecolor="black",
                              label=f"Mg genes, labelled ({int(hm.sum())})"))
        idx = np.flatnonzero(hm)
        idx = idx[np.argsort(p[idx], kind="stable")][:max_labels]
        for i in idx:
            texts.append(ax.text(eff[i], ly[i], names.iloc[i], fontsize=8.5, color="black", zorder=5))
    if lfc > 0:
        for v in (-lfc, lfc):
            ax.axvline(v, color="0.5", lw=0.6, ls=":")
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel(x_label or "log2 fold change")
    ax.set_ylabel("−log10 p-value")
    ax.grid(color="0.94", lw=0.6)
    ax.set_axisbelow(True)
    fig.legend(handles=handles, loc="outside right center", frameon=False)
    if title:
        suptitle(fig, title)
    if texts:
        _spread_labels(fig, ax, texts, eff[ok], ly[ok])
    savefig(fig, save, svg=svg)
    return fig


#: Most label-moving steps in a volcano (they usually settle in 20-150).
_LABEL_ITERATIONS = 1000


def _spread_labels(fig, ax, texts, xs, ys) -> None:
    """Move labels apart so none overlaps another (adjustText), joined to their point by a line."""
    try:
        from adjustText import adjust_text  # noqa: PLC0415
    except ImportError:  # pragma: no cover - declared dependency
        logger.warning("adjustText is not installed; volcano labels may overlap")
        return
    # adjust_text lays the figure out first (without rendering): labels move in display space.
    # An iteration limit, not adjustText's default 1 s time limit: the same labels on a busy machine.
    adjust_text(texts, ax=ax, expand=(1.3, 1.5), force_text=(0.3, 0.6), force_static=(0.2, 0.4),
                iter_lim=_LABEL_ITERATIONS, arrowprops=dict(arrowstyle="-", color="0.35", lw=0.6))

"""Volcano plot of a differential-expression table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import new_figure, savefig

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
    save: str | Path | None = None,
):
    """Volcano plot: effect (log2 fold change) vs -log10 p-value.

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
        Axes title.
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
    """
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
    sig = ok & (sig_stat < q) & (np.abs(eff) >= lfc)
    fig = new_figure(5.6, 4.6)
    ax = fig.add_subplot()
    ax.scatter(eff[ok & ~sig], ly[ok & ~sig], s=5, color="0.75", linewidth=0, rasterized=True,
               label=f"{qc or pc} >= {q}" if lfc == 0 else "not significant")
    up, down = sig & (eff > 0), sig & (eff < 0)
    ax.scatter(eff[up], ly[up], s=6, color="#c0392b", linewidth=0, rasterized=True, label=f"up ({int(up.sum())})")
    ax.scatter(eff[down], ly[down], s=6, color="#2471a3", linewidth=0, rasterized=True,
               label=f"down ({int(down.sum())})")
    if highlight is not None:
        hset = set(map(str, highlight))
        hm = ok & names.isin(hset).to_numpy()
        if not hm.any():
            logger.warning("none of the highlighted genes is in the DE table")
        ax.scatter(eff[hm], ly[hm], s=26, facecolor="none", edgecolor="black", linewidth=0.9,
                   label=f"highlighted ({int(hm.sum())})", zorder=4)
        idx = np.flatnonzero(hm)
        idx = idx[np.argsort(p[idx], kind="stable")][:max_labels]
        for i in idx:
            ax.annotate(names.iloc[i], (eff[i], ly[i]), xytext=(3, 3), textcoords="offset points", fontsize=7,
                        color="black", zorder=5)
    if lfc > 0:
        for v in (-lfc, lfc):
            ax.axvline(v, color="0.5", lw=0.6, ls=":")
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel(str(xc), fontsize=9)
    ax.set_ylabel(f"-log10 {pc}", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    if title:
        ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    savefig(fig, save)
    return fig

"""GSEA enrichment (running-sum) plot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import new_figure, savefig


def gsea(
    ranking: pd.Series | pd.DataFrame,
    gene_set_genes: Iterable[str],
    *,
    result_row: Mapping | pd.Series | None = None,
    title: str | None = None,
    weight: float = 1.0,
    key: str | None = None,
    save: str | Path | None = None,
):
    """Classic GSEA enrichment plot: running sum, hit ticks, ranking metric.

    Parameters
    ----------
    ranking
        The ranking given to :func:`mgtranscript.tl.gsea_prerank` (Series gene -> stat,
        or a DE table with ``gene`` and ``stat``/``key``); cleaned the same way.
    gene_set_genes
        Members of the set.
    result_row
        The set's row of the :func:`~mgtranscript.tl.gsea_prerank` result; its NES,
        p-value and FDR are printed on the plot.
    title
        Title (default: ``result_row["set"]`` if available).
    weight
        GSEA weight used for the running sum (must match the analysis).
    key
        Statistic column for a DataFrame ranking.
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mgtranscript.tl.enrich import _clean_ranking, _sort_ranking, running_sum  # noqa: PLC0415

    series = _sort_ranking(_clean_ranking(ranking, key))
    genes = list(gene_set_genes) if not isinstance(gene_set_genes, str) else [gene_set_genes]
    if not genes:
        raise InputDataError("gene_set_genes is empty.")
    pos, res = running_sum(series, genes, weight=weight)
    n = len(series)
    imax = int(np.argmax(np.abs(res)))
    es = res[imax]
    fig = new_figure(6.0, 4.6)
    gs = fig.add_gridspec(3, 1, height_ratios=[3.0, 0.5, 1.4])
    ax1 = fig.add_subplot(gs[0])
    ax2 = fig.add_subplot(gs[1], sharex=ax1)
    ax3 = fig.add_subplot(gs[2], sharex=ax1)
    xs = np.arange(n)
    ax1.plot(xs, res, color="#1e8449", lw=1.6)
    ax1.axhline(0, color="0.4", lw=0.6)
    ax1.axvline(imax, color="#c0392b", lw=0.8, ls="--")
    if es >= 0:
        ax1.axvspan(0, imax, color="#c0392b", alpha=0.06, lw=0)
    else:
        ax1.axvspan(imax, n - 1, color="#2471a3", alpha=0.06, lw=0)
    ax1.set_ylabel("running ES", fontsize=8)
    label = f"ES = {es:.3f}\nhits = {len(pos)}/{len(set(genes))}"
    if result_row is not None:
        row = dict(result_row)
        for k, fmt in (("nes", "NES = {:.2f}"), ("pval", "p = {:.3g}"), ("fdr", "FDR = {:.3g}")):
            if k in row and pd.notna(row[k]):
                label += "\n" + fmt.format(float(row[k]))
        if title is None and "set" in row:
            title = str(row["set"])
    ax1.text(0.98 if es >= 0 else 0.02, 0.95, label, transform=ax1.transAxes, fontsize=7,
             ha="right" if es >= 0 else "left", va="top",
             bbox=dict(boxstyle="round", fc="white", ec="0.8"))
    if title:
        ax1.set_title(title, fontsize=9)
    ax2.vlines(pos, 0, 1, color="black", lw=0.5)
    ax2.set_yticks([])
    ax2.set_ylim(0, 1)
    vals = series.to_numpy()
    ax3.fill_between(xs, vals, 0, where=vals >= 0, color="#c0392b", alpha=0.6, lw=0)
    ax3.fill_between(xs, vals, 0, where=vals < 0, color="#2471a3", alpha=0.6, lw=0)
    ax3.set_ylabel("ranking\nmetric", fontsize=8)
    ax3.set_xlabel(f"rank in ordered gene list (n = {n})", fontsize=8)
    ax3.set_xlim(0, n - 1)
    for ax in (ax1, ax2):
        ax.tick_params(labelbottom=False)
    for ax in (ax1, ax3):
        ax.tick_params(labelsize=7)
    savefig(fig, save)
    return fig

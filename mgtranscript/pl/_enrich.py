"""GSEA enrichment (running-sum) plot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._look import styled, suptitle
from mgtranscript.pl._utils import new_figure, savefig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


@styled
def gsea(
    ranking: pd.Series | pd.DataFrame,
    gene_set_genes: Iterable[str],
    *,
    result_row: Mapping | pd.Series | None = None,
    title: str | None = None,
    weight: float = 1.0,
    key: str | None = None,
    metric_label: str = "ranking metric",
    up_label: str | None = None,
    down_label: str | None = None,
    p_floor: float | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Classic GSEA enrichment plot: running sum, hit ticks, ranking metric.

    The statistics (ES, NES, p, FDR, hits) are written on a line between the title and
    the curve, never on top of it.

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
        Title (default: the set's name in words).
    weight
        GSEA weight used for the running sum (must match the analysis).
    key
        Statistic column for a DataFrame ranking.
    metric_label
        Words for the ranking metric (y axis of the bottom panel), e.g. "moderated t (limma)".
    up_label, down_label
        Words for the two ends of the ranking (e.g. "higher in NASH", "lower in NASH").
    p_floor
        Smallest p-value the permutations can give (1 / (permutations + 1)): a p-value of
        0 is shown as "< p_floor".
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mgtranscript._words import fmt_p, set_label  # noqa: PLC0415
    from mgtranscript.pl._look import wrap  # noqa: PLC0415
    from mgtranscript._utils import clean_ranking, sort_ranking  # noqa: PLC0415
    from mgtranscript.tl import running_sum  # noqa: PLC0415

    series = sort_ranking(clean_ranking(ranking, key))
    genes = list(gene_set_genes) if not isinstance(gene_set_genes, str) else [gene_set_genes]
    if not genes:
        raise InputDataError("gene_set_genes is empty.")
    pos, res = running_sum(series, genes, weight=weight)
    n = len(series)
    imax = int(np.argmax(np.abs(res)))
    es = res[imax]
    fig = new_figure(7.0, 5.2)
    gs = fig.add_gridspec(3, 1, height_ratios=[3.0, 0.45, 1.4])
    ax1 = fig.add_subplot(gs[0])
    ax2 = fig.add_subplot(gs[1], sharex=ax1)
    ax3 = fig.add_subplot(gs[2], sharex=ax1)
    xs = np.arange(n)
    ax1.plot(xs, res, color="#1e8449", lw=1.8)
    ax1.axhline(0, color="0.4", lw=0.6)
    ax1.axvline(imax, color="#c0392b", lw=0.8, ls="--")
    ax1.set_ylabel("running enrichment\nscore")
    parts = [f"ES = {es:.2f}"]
    if result_row is not None:
        row = dict(result_row)
        if "nes" in row and pd.notna(row["nes"]):
            parts.append(f"NES = {float(row['nes']):.2f}")
        if "pval" in row and pd.notna(row["pval"]):
            pv = float(row["pval"])
            t = fmt_p(pv, floor=p_floor)
            parts.append(f"p {t}" if t.startswith("<") else f"p = {t}")
        if "fdr" in row and pd.notna(row["fdr"]):
            t = fmt_p(row["fdr"])
            parts.append(f"FDR {t}" if t.startswith("<") else f"FDR = {t}")
        if title is None and "set" in row:
            title = set_label(row["set"])
    parts.append(f"{len(pos)} of {len(set(genes))} set genes in the ranking")
    ax1.set_title("  ·  ".join(parts), fontsize=9, fontweight="normal", loc="left")
    if title:
        suptitle(fig, title)
    ax2.vlines(pos, 0, 1, color="black", lw=0.7)
    ax2.set_yticks([])
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("set\ngenes", rotation=0, ha="right", va="center")
    for side in ("left", "top", "right"):
        ax2.spines[side].set_visible(False)
    vals = series.to_numpy()
    ax3.fill_between(xs, vals, 0, where=vals >= 0, color="#c0392b", alpha=0.6, lw=0)
    ax3.fill_between(xs, vals, 0, where=vals < 0, color="#2471a3", alpha=0.6, lw=0)
    ax3.set_ylabel(wrap(metric_label, 18))
    ax3.set_xlabel(f"genes ranked by {metric_label} (n = {n:,})")
    ax3.set_xlim(0, n - 1)
    if up_label:
        ax3.text(0.01, 0.04, f"← {up_label}", transform=ax3.transAxes, fontsize=8.5, ha="left", va="bottom",
                 color="#922b21")
    if down_label:
        ax3.text(0.99, 0.96, f"{down_label} →", transform=ax3.transAxes, fontsize=8.5, ha="right", va="top",
                 color="#1a5276")
    for ax in (ax1, ax2):
        ax.tick_params(labelbottom=False)
    savefig(fig, save, svg=svg)
    return fig

"""Features across ordered stages, the stage medians joined.

Takes either an AnnData (scores in ``obsm[key]``, labels in ``obs``) or a
tidy per-sample DataFrame (one row per sample: label columns such as ``condition`` and
``pair_id`` plus numeric feature columns, e.g. ``AnalysisResult.features[accession]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript._words import feature_label, group_colour, group_label
from mgtranscript.pl._look import styled, suptitle, two_lines
from mgtranscript.pl._utils import (
    _column,
    _jitter,
    _labels_frame,
    _unit_of,
    group_levels,
    new_figure,
    savefig,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from anndata import AnnData


@styled
def trend(
    adata: AnnData,
    features: Sequence[str] | str,
    *,
    by: str,
    order: Sequence | None = None,
    units: str | Mapping[str, str] | None = None,
    stats_text: Mapping[str, str] | None = None,
    titles: Mapping[str, str] | None = None,
    ncols: int = 3,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Features across ordered stages: a box per stage, every sample, a line through the medians.

    Parameters
    ----------
    adata
        Per-sample DataFrame (or AnnData with the features in ``obs``).
    features
        Numeric columns to draw, one panel each.
    by
        The ordered label column (e.g. ``condition`` in stage order, or ``fibrosis_stage``).
    order
        Stage order (default: numeric order for a numeric column, else first appearance).
    units
        Y-axis units (one string or a mapping feature -> units).
    stats_text
        Mapping feature -> text under the panel title (e.g. "Spearman ρ = −0.73, q = 4e-9").
    titles
        Mapping feature -> panel title (default: the feature's name in words).
    ncols
        Panels per row.
    title
        Figure title.
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = _labels_frame(adata)
    feats = [features] if isinstance(features, str) else list(features)
    missing = [f for f in feats if f not in df.columns]
    if missing:
        raise InputDataError(f"features {missing} are not columns of the table.")
    stage = _column(adata, by, "by")
    if order is None:
        num = pd.to_numeric(stage, errors="coerce")
        if num.notna().sum() == stage.notna().sum() and num.notna().any():
            stage = num
            order = sorted(num.dropna().unique())
    levels = group_levels(stage, order)
    if len(levels) < 2:
        raise InputDataError(f"{by!r} has fewer than two stages to plot.")
    ncols = max(1, min(ncols, len(feats)))
    nrows = math.ceil(len(feats) / ncols)
    fig = new_figure(max(3.0, 0.6 * len(levels) + 1.3) * ncols, 3.7 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    jit = _jitter(df.index, 0.14)
    numeric_stage = pd.api.types.is_numeric_dtype(stage)
    for ax, f in zip(axes, feats):
        y = pd.to_numeric(df[f], errors="coerce")
        vals = [y[(stage == lv).to_numpy()].dropna().to_numpy() for lv in levels]
        pos = [i for i, v in enumerate(vals) if len(v)]
        if not pos:
            raise InputDataError(f"{f!r} has no numeric value at any stage of {by!r}.")
        cols = ["#7b8a97" if numeric_stage else group_colour(lv) for lv in levels]
        bp = ax.boxplot([vals[i] for i in pos], positions=pos, widths=0.55, showfliers=False, patch_artist=True)
        for i, patch in zip(pos, bp["boxes"]):
            patch.set_facecolor(cols[i])
            patch.set_alpha(0.25)
            patch.set_edgecolor(cols[i])
        for med in bp["medians"]:
            med.set_color("black")
        for i in pos:
            m = (stage == levels[i]).to_numpy() & y.notna().to_numpy()
            ax.scatter(i + jit.to_numpy()[m], y[m], s=11, color=cols[i], edgecolors="white", linewidths=0.3,
                       zorder=3)
        med = [np.median(vals[i]) for i in pos]
        ax.plot(pos, med, color="black", lw=1.2, marker="D", ms=4, zorder=4)
        labels = [(f"{lv + 0.0:g}" if isinstance(lv, (int, float, np.number)) else group_label(lv)) +
                  f"\n(n={len(vals[i])})" for i, lv in enumerate(levels)]
        rotate = len(levels) > 5 or any(len(str(group_label(lv))) > 11 for lv in levels)
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlabel(by.replace("_", " ") + (" (ordered)" if not numeric_stage else ""))
        if stats_text and stats_text.get(f):
            ax.text(0.0, 1.02, stats_text[f], transform=ax.transAxes, fontsize=8.5, color="0.25",
                    ha="left", va="bottom")
        ptitle = (titles or {}).get(f) or feature_label(f, units=False)
        ax.set_title(two_lines(ptitle, 30), pad=18 if stats_text and stats_text.get(f) else 6)
        u = _unit_of(units, f)
        ax.set_ylabel(two_lines(u, 30) if u else "")
        ax.grid(axis="y", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    for ax in axes[len(feats):]:
        ax.set_visible(False)
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig

"""Scores per group: box plots with every sample as a point, pairs joined.

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
from mgtranscript._words import LABEL_COLUMNS, group_colour, group_label, set_label
from mgtranscript.pl._look import _legend_outside, _tick_labels, styled, suptitle, two_lines
from mgtranscript.pl._utils import (
    _column,
    _is_anndata,
    _jitter,
    _unit_of,
    group_levels,
    new_figure,
    obs_column,
    obsm_frame,
    savefig,
    select_columns,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from anndata import AnnData

#: Units of the scoring methods of :func:`mgtranscript.tl.score`, for axis labels.
METHOD_UNITS = {
    "ssgsea": "ssGSEA score (unnormalised)",
    "gsva": "GSVA score",
    "zscore": "mean z-score",
    "plage": "PLAGE score",
    "singscore": "singscore",
    "mean": "mean log expression",
}


def _score_units(data, key: str | None) -> str:
    if _is_anndata(data) and key is not None:
        params = dict(dict(data.uns.get(key, {}) or {}).get("params", {}) or {})
        method = str(params.get("method", "")).lower()
        if method in METHOD_UNITS:
            return METHOD_UNITS[method]
        for m, u in METHOD_UNITS.items():
            if key.lower().endswith("_" + m):
                return u
        return key
    return ""


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in LABEL_COLUMNS and pd.api.types.is_numeric_dtype(df[c])]



def _pair_segments(x: pd.Series, y: pd.Series, pairs: pd.Series) -> list[np.ndarray]:
    """Line segments joining consecutive members of each pair (ordered by x)."""
    sub = pd.DataFrame({"x": x, "y": y, "pair": pairs}).dropna()
    segs = []
    for _, blk in sub.groupby("pair", observed=True, sort=False):
        if len(blk) < 2:
            continue
        pts = blk.sort_values("x")[["x", "y"]].to_numpy(float)
        segs.extend(pts[i:i + 2] for i in range(len(pts) - 1))
    return segs



@styled
def scores(
    adata: AnnData,
    key: str | None = None,
    *,
    groupby: str = "condition",
    order: Sequence[str] | None = None,
    kind: str = "box",
    sets: Sequence[str] | str | None = None,
    paired_by: str | None = None,
    colour_by: str | None = None,
    ncols: int = 4,
    units: str | Mapping[str, str] | None = None,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Scores per group: one panel per gene set, box or violin plus every sample as a point.

    Parameters
    ----------
    adata
        AnnData with scores in ``obsm[key]`` (samples x sets), or a per-sample DataFrame
        with the label columns and one numeric column per score.
    key
        ``obsm`` key, e.g. ``"mg_ssgsea"`` (AnnData only).
    groupby
        Label column defining the groups on the x axis.
    order
        Group order (default: categorical order, else first appearance).
    kind
        ``"box"`` or ``"violin"``.
    sets
        Which score columns to draw (default all).
    paired_by
        Label column identifying pairs (e.g. patient id for tumour/normal pairs): the
        points of one pair are joined by a grey line.
    colour_by
        Label column colouring the points (default ``groupby``); e.g. ``"condition"``
        when ``groupby="disease"``, to show the finer groups inside each box.
    ncols
        Panels per row.
    units
        Y-axis units (one string, or a mapping column -> units); default from the scoring
        method recorded in ``uns[key]["params"]`` (e.g. "ssGSEA score (unnormalised)").
    title
        Figure title.
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per set, titled with the set's name in words.
    """
    from matplotlib.collections import LineCollection  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415

    if kind not in {"box", "violin"}:
        raise InputDataError(f"kind must be 'box' or 'violin', got {kind!r}.")
    if _is_anndata(adata):
        if key is None:
            raise InputDataError("pass key= (the obsm key of the scores, e.g. 'mg_ssgsea'; see tl.score).")
        df = obsm_frame(adata, key)
    elif isinstance(adata, pd.DataFrame):
        df = adata[_numeric_columns(adata)] if sets is None else adata
    else:
        raise InputDataError(f"adata must be an AnnData or a per-sample DataFrame, got {type(adata).__name__}.")
    cols = select_columns(df, sets)
    if not cols:
        raise InputDataError("no numeric score column to plot.")
    if units is None:
        units = _score_units(adata, key)
    group = _column(adata, groupby, "groupby").reindex(df.index) if not _is_anndata(adata) else \
        obs_column(adata, groupby)
    group = pd.Series(np.asarray(group, dtype=object), index=df.index)
    levels = group_levels(group, order)
    if not levels:
        raise InputDataError(f"{groupby!r} has no non-missing groups to plot.")
    colour_col = colour_by or groupby
    cgroup = pd.Series(np.asarray(_column(adata, colour_col, "colour_by"), dtype=object), index=df.index)
    pairs = (pd.Series(np.asarray(_column(adata, paired_by, "paired_by"), dtype=object), index=df.index)
             if paired_by is not None else None)
    ncols = max(1, min(ncols, len(cols)))
    nrows = math.ceil(len(cols) / ncols)
    longest = max((len(group_label(lv)) for lv in levels), default=0)
    panel_w = min(4.2, max(2.6, 0.7 * len(levels) + 1.1, len(levels) * (longest * 0.075 + 0.2) + 0.9))
    legend_w = 1.7 if colour_by and colour_by != groupby else 0.0
    fig = new_figure(max(panel_w * ncols + legend_w, 5.0 if title else 0.0), 3.5 * nrows + (0.5 if title else 0.2))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    xpos = {lv: i for i, lv in enumerate(levels)}
    jit = _jitter(df.index)
    x_all = group.map(xpos).astype(float) + jit
    counts = [int(((group == lv) & df[cols[0]].notna()).sum()) for lv in levels]
    ticklabels, rotate = _tick_labels(levels, counts, panel_w - 0.8)
    for ax, col in zip(axes, cols):
        y = pd.to_numeric(df[col], errors="coerce")
        data_lv = [y[(group == lv).to_numpy()].dropna().to_numpy() for lv in levels]
        nonempty = [i for i, d in enumerate(data_lv) if len(d)]
        if not nonempty:
            raise InputDataError(f"{col!r} has no numeric value in any group of {groupby!r}.")
        if kind == "box":
            bp = ax.boxplot([data_lv[i] for i in nonempty], positions=nonempty, widths=0.6,
                            showfliers=False, patch_artist=True, zorder=2)
            for i, patch in zip(nonempty, bp["boxes"]):
                c = group_colour(levels[i])
                patch.set_facecolor(c)
                patch.set_alpha(0.28)
                patch.set_edgecolor(c)
            for part in ("whiskers", "caps"):
                for ln in bp[part]:
                    ln.set_color("0.35")
            for med in bp["medians"]:
                med.set_color("black")
                med.set_linewidth(1.6)
        else:
            multi = [i for i in nonempty if len(data_lv[i]) > 1]
            if multi:
                vp = ax.violinplot([data_lv[i] for i in multi], positions=multi, widths=0.8,
                                   showmedians=True, showextrema=False)
                for i, body in zip(multi, vp["bodies"]):
                    body.set_facecolor(group_colour(levels[i]))
                    body.set_alpha(0.3)
                vp["cmedians"].set_color("black")
        ok = group.isin(levels) & y.notna()
        if pairs is not None:
            segs = _pair_segments(x_all[ok], y[ok], pairs[ok])
            if segs:
                ax.add_collection(LineCollection(segs, colors="0.45", linewidths=0.6, alpha=0.45, zorder=1))
        pc = [group_colour(v) for v in cgroup[ok]]
        crowd = max((len(d) for d in data_lv), default=0)  # many samples: smaller, lighter points
        ax.scatter(x_all[ok], y[ok], s=14 if crowd <= 120 else max(4.0, 14 * 120 / crowd), c=pc,
                   edgecolors="white", linewidths=0.3 if crowd <= 120 else 0.1, alpha=1.0 if crowd <= 120 else 0.7,
                   zorder=3)
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels(ticklabels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_title(two_lines(set_label(col), max(14, int((panel_w - 0.5) * 7.5))))
        u = _unit_of(units, col)
        ax.set_ylabel(two_lines(u, 30) if u else "")
        ax.grid(axis="y", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    if colour_by and colour_by != groupby:
        seen = [v for v in pd.unique(cgroup.dropna())]
        handles = [Line2D([], [], marker="o", ls="", color=group_colour(v), label=group_label(v)) for v in seen]
        _legend_outside(fig, handles, title=colour_by.replace("_", " "))
    if pairs is not None:
        shown_pairs = pairs[group.isin(levels)].dropna()
        n_pairs = int((shown_pairs.value_counts() >= 2).sum())
        if n_pairs:
            # as the figure's x-label, so the constrained layout keeps room for it below the axes
            fig.supxlabel(f"grey lines join the {n_pairs} pairs ({paired_by})", fontsize=8,
                          color="0.35", x=0.01, ha="left")
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig

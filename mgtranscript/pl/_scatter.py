"""One score against another, coloured by group, with within-group fits.

Takes either an AnnData (scores in ``obsm[key]``, labels in ``obs``) or a
tidy per-sample DataFrame (one row per sample: label columns such as ``condition`` and
``pair_id`` plus numeric feature columns, e.g. ``AnalysisResult.features[accession]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from mgtranscript.errors import InputDataError
from mgtranscript._words import feature_label, fmt_signed, group_colour, group_label, set_label
from mgtranscript.pl._look import _legend_outside, styled, suptitle, two_lines, wrap
from mgtranscript.pl._utils import (
    _column,
    _is_anndata,
    group_levels,
    new_figure,
    obsm_frame,
    savefig,
    select_columns,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from anndata import AnnData


def _within_fits(ax, x: np.ndarray, y: np.ndarray, groups: np.ndarray, levels) -> None:
    for lv in levels:
        m = (groups == lv) & np.isfinite(x) & np.isfinite(y)
        if m.sum() >= 3 and np.ptp(x[m]) > 0:
            slope, intercept = np.polyfit(x[m], y[m], 1)
            xs = np.array([x[m].min(), x[m].max()])
            ax.plot(xs, slope * xs + intercept, color=group_colour(lv), lw=1.6, zorder=4)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y)[0])


@styled
def scatter(
    adata: AnnData,
    x_key: str,
    y_key: str,
    *,
    x_set: str | None = None,
    y_set: str | None = None,
    groupby: str | None = None,
    order: Sequence[str] | None = None,
    within_fits: bool = True,
    pooled_fit: bool = False,
    x_label: str | None = None,
    y_label: str | None = None,
    stats_text: str | None = None,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """One score against another across samples, coloured by group, with within-group fits.

    A correlation across samples pooled from different groups mostly reflects the group
    difference (Simpson's paradox), so each group gets its own least-squares line and its
    own Spearman rho in the legend; the line over all samples is drawn only with
    ``pooled_fit=True`` and labelled "pooled".

    Parameters
    ----------
    adata
        AnnData (``x_key``/``y_key`` are ``obsm`` keys and ``x_set``/``y_set`` their
        columns) or a per-sample DataFrame (``x_key``/``y_key`` are its columns).
    x_key, y_key
        See ``adata``.
    x_set, y_set
        Columns of the ``obsm`` tables (AnnData only).
    groupby
        Label column colouring the points.
    order
        Group order.
    within_fits
        Draw one least-squares line per group (groups with at least 3 samples).
    pooled_fit
        Also draw a dashed line fitted over all samples.
    x_label, y_label
        Axis labels (default: the names in words).
    stats_text
        Line under the title (default: the within-group rho combined by Fisher z and the
        pooled rho, both labelled).
    title
        Figure title (default "<y> vs <x>").
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D  # noqa: PLC0415

    if _is_anndata(adata):
        if x_set is None or y_set is None:
            raise InputDataError("with an AnnData pass x_set= and y_set= (columns of obsm[x_key], obsm[y_key]).")
        xdf, ydf = obsm_frame(adata, x_key), obsm_frame(adata, y_key)
        x = xdf[select_columns(xdf, x_set)[0]].to_numpy(float)
        y = ydf[select_columns(ydf, y_set)[0]].to_numpy(float)
        xname, yname = x_set, y_set
    elif isinstance(adata, pd.DataFrame):
        for c in (x_key, y_key):
            if c not in adata.columns:
                raise InputDataError(f"{c!r} is not a column of the table.")
        x = pd.to_numeric(adata[x_key], errors="coerce").to_numpy(float)
        y = pd.to_numeric(adata[y_key], errors="coerce").to_numpy(float)
        xname, yname = x_key, y_key
    else:
        raise InputDataError(f"adata must be an AnnData or a per-sample DataFrame, got {type(adata).__name__}.")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        raise InputDataError(f"only {int(ok.sum())} samples have both values; need at least 3.")
    fig = new_figure(7.4 if groupby else 5.4, 4.8)
    ax = fig.add_subplot()
    handles = []
    within = ""
    if groupby is not None:
        group = np.asarray(_column(adata, groupby, "groupby"), dtype=object)
        levels = group_levels(pd.Series(group), order)
        zs, ws = [], []
        for lv in levels:
            m = ok & (group == lv)
            r = _spearman(x[m], y[m])
            ax.scatter(x[m], y[m], s=18, color=group_colour(lv), edgecolors="white", linewidths=0.3, zorder=3)
            lab = f"{group_label(lv)} (n={int(m.sum())})"
            if np.isfinite(r):
                lab += f"\nρ = {fmt_signed(r)}"
                if m.sum() > 3 and abs(r) < 1:
                    zs.append(np.arctanh(r))
                    ws.append(m.sum() - 3)
            handles.append(Line2D([], [], marker="o", ls="-" if within_fits else "", color=group_colour(lv),
                                  label=lab))
        if within_fits:
            _within_fits(ax, x, y, group, levels)
        if zs:
            zbar = float(np.average(zs, weights=ws))
            within = f"within groups ρ = {fmt_signed(float(np.tanh(zbar)))} (Fisher z over {len(zs)} groups)"
    else:
        ax.scatter(x[ok], y[ok], s=18, color="#2f6fad", edgecolors="white", linewidths=0.3)
    rho_all = _spearman(x[ok], y[ok])
    if pooled_fit or groupby is None:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        xs = np.linspace(x[ok].min(), x[ok].max(), 2)
        ax.plot(xs, slope * xs + intercept, color="0.3", lw=1, ls="--", zorder=2)
        handles.append(Line2D([], [], color="0.3", ls="--", label="pooled fit (ignores groups)"))
    ax.set_xlabel(x_label if x_label is not None else feature_label(xname, units=False))
    ax.set_ylabel(y_label if y_label is not None else wrap(feature_label(yname, units=False), 34))
    ax.grid(color="0.93", lw=0.6)
    ax.set_axisbelow(True)
    if handles:
        _legend_outside(ax, handles, title=groupby.replace("_", " ") if groupby else None)
    if stats_text is None:
        pooled = f"pooled over all samples ρ = {fmt_signed(rho_all)}, n = {int(ok.sum())}"
        stats_text = f"{within}; {pooled}" if within else f"Spearman ρ = {fmt_signed(rho_all)}, n = {int(ok.sum())}"
    ax.set_title(two_lines(stats_text, 80), fontsize=9, fontweight="normal", loc="left")
    suptitle(fig, title or f"{set_label(yname)} vs {set_label(xname)}")
    savefig(fig, save, svg=svg)
    return fig

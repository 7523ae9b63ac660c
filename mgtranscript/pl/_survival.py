"""Kaplan-Meier curves with a numbers-at-risk table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript._words import group_colour, group_label
from mgtranscript.pl._look import styled, suptitle, two_lines
from mgtranscript.pl._utils import new_figure, savefig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from anndata import AnnData


def _at(curve: pd.DataFrame, t: float, col: str) -> float:
    before = curve[curve["time"] <= t]
    if col == "at_risk":
        after = curve[curve["time"] >= t]
        return float(after[col].iloc[0]) if len(after) else 0.0
    return float(before[col].iloc[-1]) if len(before) else 1.0


@styled
def km(
    km_table: pd.DataFrame,
    *,
    group: str = "group",
    time_units: str = "days",
    stats_text: str | None = None,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Kaplan-Meier survival curves per group, with the numbers at risk below.

    Parameters
    ----------
    km_table
        Tidy step table: ``group`` (e.g. "high"/"low"), ``time``, ``survival`` and
        ``at_risk`` (as in ``AnalysisResult.km[accession]``).
    group
        Group column.
    time_units
        Units of ``time`` for the axis label.
    stats_text
        Line under the title (e.g. "log-rank p = 0.003 · HR per SD 1.31 [1.10, 1.56]").
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
    need = [group, "time", "survival"]
    missing = [c for c in need if c not in km_table.columns]
    if missing:
        raise InputDataError(f"km_table lacks columns {missing} (has {list(km_table.columns)}).")
    if km_table.empty:
        raise InputDataError("km_table is empty.")
    levels = list(pd.unique(km_table[group].dropna()))
    fig = new_figure(7.0, 5.0)
    gs = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.35 + 0.28 * len(levels)])
    ax = fig.add_subplot(gs[0])
    risk = fig.add_subplot(gs[1], sharex=ax)
    tmax = float(km_table["time"].max())
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    ticks = [t for t in MaxNLocator(6).tick_values(0, tmax) if 0 <= t <= tmax]
    for i, lv in enumerate(levels):
        cur = km_table[km_table[group] == lv].sort_values("time")
        t = np.concatenate([[0.0], cur["time"].to_numpy(float)])
        s = np.concatenate([[1.0], cur["survival"].to_numpy(float)])
        ax.step(t, s, where="post", color=group_colour(lv), lw=1.8, label=f"{group_label(lv)} (n = "
                f"{int(cur['at_risk'].max()) if 'at_risk' in cur else len(cur)})")
        if "at_risk" in cur:
            for tt in ticks:
                risk.text(tt, -i, f"{int(_at(cur, tt, 'at_risk'))}", ha="center", va="center", fontsize=9,
                          color=group_colour(lv))
    ax.set_ylim(0, 1.03)
    ax.set_ylabel("overall survival (probability)")
    ax.grid(color="0.93", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0.0)
    ax.tick_params(labelbottom=False)
    if stats_text:
        ax.set_title(two_lines(stats_text, 80), fontsize=9, fontweight="normal", loc="left")
    risk.set_yticks([-i for i in range(len(levels))])
    risk.set_yticklabels([group_label(lv) for lv in levels])
    risk.set_ylim(-len(levels) + 0.5, 0.5)
    risk.set_xticks(ticks)
    risk.set_xticklabels([f"{t:,.0f}" for t in ticks])
    risk.set_xlabel(f"time ({time_units}); numbers at risk above")
    for side in ("top", "right", "left"):
        risk.spines[side].set_visible(False)
    risk.tick_params(axis="y", length=0)
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def survival(
    adata: AnnData,
    key: str = "survival",
    *,
    feature: str | None = None,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Kaplan-Meier curves for high vs low values of a feature, numbers at risk below.

    Parameters
    ----------
    adata
        AnnData on which :func:`mgtranscript.tl.survival` was run.
    key
        ``adata.uns`` key written by :func:`mgtranscript.tl.survival` (its ``key_added``).
    feature
        Which feature to draw when several were analysed (default: the first).
    title
        Figure title (default: ``"Overall survival by <feature> (<cut> cut)"``).
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure, drawn by :func:`km`; the line under the title gives the log-rank
    p and the Cox hazard ratio per SD (and the adjusted one, when fitted).
    """
    from .. import get

    curves, summary = get.survival(adata, key, table="km"), get.survival(adata, key)
    feats = list(summary["feature"].astype(str))
    feature = feats[0] if feature is None else str(feature)
    if feature not in feats:
        raise InputDataError(f"feature {feature!r} was not analysed under uns[{key!r}] (features: {feats}).")
    curves = curves[curves["feature"].astype(str) == feature].rename(columns={"timeline": "time"})
    curves["group"] = feature + " " + curves["group"].astype(str)
    row = summary[summary["feature"].astype(str) == feature].iloc[0]
    time_col = str(get.params(adata, key).get("time", "os_days"))
    unit = "days" if "day" in time_col else ("months" if "month" in time_col else "time")
    text = (f"log-rank p = {_fmt_p(float(row['logrank_p']))}"
            + (f" (optimal cut, {int(row['n_cuts'])} cuts tried)" if row["cut"] == "optimal" else "")
            + f" · Cox HR per SD {row['hr_per_sd']:.2f} [{row['hr_ci_low']:.2f}, {row['hr_ci_high']:.2f}],"
            f" p = {_fmt_p(float(row['cox_p']))}")
    if np.isfinite(float(row["hr_adj_per_sd"])):
        text += (f" · adjusted for {row['adjusted_for']}: HR {row['hr_adj_per_sd']:.2f} "
                 f"[{row['hr_adj_ci_low']:.2f}, {row['hr_adj_ci_high']:.2f}]")
    return km(curves, time_units=unit, stats_text=text, save=save, svg=svg,
              title=title or f"Overall survival by {feature} ({row['cut']} cut, n = {int(row['n'])})")

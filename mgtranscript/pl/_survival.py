"""Kaplan-Meier curves (high vs low feature) with numbers at risk, from :func:`mgtranscript.tl.survival`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import colours, new_figure, savefig

logger = logging.getLogger(__name__)

_GROUP_LABEL = {"high": "high", "low": "low"}


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _at_risk(km: pd.DataFrame, group: str, ticks: np.ndarray) -> list[int]:
    """Patients still followed at each tick: ``at_risk`` of the first KM time at or after it."""
    g = km[km["group"] == group].sort_values("timeline")
    t = g["timeline"].to_numpy(dtype=float)
    at = g["at_risk"].to_numpy(dtype=int)
    idx = np.searchsorted(t, ticks, side="left")
    return [int(at[i]) if i < len(t) else 0 for i in idx]


def survival(
    adata,
    key: str = "survival",
    *,
    feature: str | None = None,
    title: str | None = None,
    save: str | Path | None = None,
):
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
        Stem of ``.png``/``.svg`` files to write (:func:`mgtranscript.pl.savefig`).

    Returns
    -------
    matplotlib.figure.Figure. The legend gives each group's size and the log-rank p and
    the Cox hazard ratio per SD (adjusted one too, when fitted) are written on the plot.
    """
    res = adata.uns.get(key)
    if not isinstance(res, dict) or "km" not in res or "summary" not in res:
        raise InputDataError(f"adata.uns[{key!r}] holds no survival results; run "
                             f"mgtranscript.tl.survival(adata, ..., key_added={key!r}) first.")
    km, summary = pd.DataFrame(res["km"]), pd.DataFrame(res["summary"])
    feats = list(summary["feature"].astype(str))
    feature = feats[0] if feature is None else str(feature)
    if feature not in feats:
        raise InputDataError(f"feature {feature!r} was not analysed under uns[{key!r}] (features: {feats}).")
    km = km[km["feature"].astype(str) == feature]
    row = summary[summary["feature"].astype(str) == feature].iloc[0]
    params = res.get("params", {})
    time_col = str(params.get("time", "os_days"))
    unit = "days" if "day" in time_col else ("months" if "month" in time_col else "time")

    fig = new_figure(6.4, 5.4)
    gs = fig.add_gridspec(2, 1, height_ratios=[4, 1])
    ax = fig.add_subplot(gs[0])
    ax_tab = fig.add_subplot(gs[1], sharex=ax)
    cols = dict(zip(("high", "low"), colours(2)))
    for group in ("high", "low"):
        g = km[km["group"] == group].sort_values("timeline")
        if g.empty:
            continue
        n = int(row["n_high"] if group == "high" else row["n_low"])
        ax.step(g["timeline"], g["survival"], where="post", color=cols[group],
                label=f"{feature} {group} (n={n})")
        ax.fill_between(g["timeline"], g["ci_low"], g["ci_high"], step="post", color=cols[group], alpha=0.15)
        cens = g[g["censored"] > 0] if "censored" in g else g.iloc[:0]
        ax.plot(cens["timeline"], cens["survival"], "|", color=cols[group], markersize=7)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("Overall survival probability")
    ax.legend(loc="lower left", frameon=False, fontsize=9)
    text = (f"log-rank p = {_fmt_p(float(row['logrank_p']))}"
            + (f" (optimal cut, {int(row['n_cuts'])} cuts tried)" if row["cut"] == "optimal" else "")
            + f"\nCox HR per SD = {row['hr_per_sd']:.2f} ({row['hr_ci_low']:.2f}-{row['hr_ci_high']:.2f}), "
            f"p = {_fmt_p(float(row['cox_p']))}")
    if np.isfinite(float(row["hr_adj_per_sd"])):
        text += (f"\nadjusted ({row['adjusted_for']}): HR {row['hr_adj_per_sd']:.2f} "
                 f"({row['hr_adj_ci_low']:.2f}-{row['hr_adj_ci_high']:.2f}), p = {_fmt_p(float(row['cox_adj_p']))}")
    ax.text(0.98, 0.98, text, transform=ax.transAxes, ha="right", va="top", fontsize=8)
    where = str(params.get("group") or "all samples")
    ax.set_title(title or f"Overall survival by {feature} ({row['cut']} cut; {where}, n={int(row['n'])})",
                 fontsize=10)
    ax.tick_params(labelbottom=False)

    tmax = float(km["timeline"].max()) if len(km) else 1.0
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, tmax)
    ticks = ticks[(ticks >= 0) & (ticks <= tmax)]
    ax_tab.set_xlim(ax.get_xlim())
    for y, group in enumerate(("low", "high")):
        counts = _at_risk(km, group, ticks)
        for tick, c in zip(ticks, counts):
            ax_tab.text(tick, y, str(c), ha="center", va="center", fontsize=8, color=cols[group])
    ax_tab.set_yticks([0, 1], ["low", "high"])
    ax_tab.set_ylim(-0.6, 1.6)
    ax_tab.set_xticks(ticks)
    ax_tab.set_title("Number at risk", fontsize=8, loc="left")
    ax_tab.set_xlabel(f"Overall survival ({unit})")
    for side in ("top", "right", "left"):
        ax_tab.spines[side].set_visible(False)
    ax_tab.tick_params(axis="y", length=0)
    savefig(fig, save)
    return fig

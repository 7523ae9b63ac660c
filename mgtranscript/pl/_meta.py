"""Forest plot of a per-cohort meta-analysis, faceted by disease group."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import new_figure, savefig

logger = logging.getLogger(__name__)

_Z975 = 1.959963984540054
_GROUP_ORDER = ("MASLD", "ALD", "HCC")


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputDataError(
            f"{what} lacks columns {missing} (has {list(df.columns)}); pass the tables of "
            "mgtranscript.tl.meta_analysis (per-cohort and pooled)."
        )


def forest(
    per_cohort: pd.DataFrame,
    pooled: pd.DataFrame,
    *,
    effect: str = "hedges_g",
    ci: tuple[str, str] | None = None,
    features: Sequence[str] | str | None = None,
    groups: Sequence[str] | None = None,
    save: str | Path | None = None,
):
    """Forest plot: per-cohort effects with CIs and weights, pooled diamond, one facet per group.

    Parameters
    ----------
    per_cohort
        One row per cohort x feature x group with ``cohort, feature, group, <effect>``, the
        CI columns (``g_ci_low, g_ci_high`` for ``hedges_g``) and ``n``; an optional
        ``weight`` column is used as is, otherwise weights are random-effects inverse
        variances ``1 / (se^2 + tau2)`` with ``se`` recovered from the 95% CI.
    pooled
        One row per feature x group with ``feature, group, pooled, ci_low, ci_high, tau2,
        I2, k``.
    effect
        Per-cohort effect column.
    ci
        Per-cohort CI columns (default ``g_ci_low, g_ci_high`` for ``hedges_g``, else
        ``<effect>_ci_low``/``ci_low``).
    features
        Features (e.g. Mg sets) to draw, stacked within each facet (default: all).
    groups
        Facet order (default MASLD, ALD, HCC, then any other group).
    save
        Stem of ``.png``/``.svg`` files to write.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ci is None:
        if effect == "hedges_g":
            ci = ("g_ci_low", "g_ci_high")
        elif f"{effect}_ci_low" in per_cohort.columns:
            ci = (f"{effect}_ci_low", f"{effect}_ci_high")
        else:
            ci = ("ci_low", "ci_high")
    _need(per_cohort, ["cohort", "feature", "group", effect, *ci], "per_cohort")
    _need(pooled, ["feature", "group", "pooled", "ci_low", "ci_high"], "pooled")
    feats = list(pd.unique(pd.concat([per_cohort["feature"], pooled["feature"]])))
    if features is not None:
        features = [features] if isinstance(features, str) else list(features)
        unknown = [f for f in features if f not in feats]
        if unknown:
            raise InputDataError(f"features {unknown} are not in the tables (available: {feats}).")
        feats = features
    present = list(pd.unique(pd.concat([per_cohort["group"], pooled["group"]]).astype(str)))
    if groups is None:
        groups = [g for g in _GROUP_ORDER if g in present] + [g for g in present if g not in _GROUP_ORDER]
    else:
        groups = [g for g in groups if g in present]
    if not groups:
        raise InputDataError("no group to plot.")
    pc = per_cohort[per_cohort["feature"].isin(feats)].copy()
    pc["group"] = pc["group"].astype(str)
    po = pooled[pooled["feature"].isin(feats)].copy()
    po["group"] = po["group"].astype(str)

    # rows per facet
    layouts = []
    for g in groups:
        rows = []
        for f in feats:
            sub = pc[(pc["group"] == g) & (pc["feature"] == f)]
            prow = po[(po["group"] == g) & (po["feature"] == f)]
            if sub.empty and prow.empty:
                continue
            tau2 = float(prow["tau2"].iloc[0]) if "tau2" in prow.columns and len(prow) and pd.notna(
                prow["tau2"].iloc[0]) else 0.0
            if "weight" in sub.columns:
                w = sub["weight"].to_numpy(float)
            else:
                se = (sub[ci[1]].to_numpy(float) - sub[ci[0]].to_numpy(float)) / (2 * _Z975)
                w = 1.0 / (se**2 + tau2)
            w = w / np.nansum(w) if np.nansum(w) > 0 else np.full(len(w), np.nan)
            if len(feats) > 1:
                rows.append(("header", f, None, None))
            for (_, r), wi in zip(sub.iterrows(), w):
                rows.append(("cohort", f, r, wi))
            if len(prow):
                rows.append(("pooled", f, prow.iloc[0], None))
        layouts.append(rows)
    nmax = max(len(r) for r in layouts) or 1
    fig = new_figure(3.6 * len(groups) + 1.0, 0.9 + 0.3 * nmax)
    axes = np.atleast_1d(fig.subplots(1, len(groups), squeeze=False)).ravel()
    allx = np.concatenate([pc[list(ci)].to_numpy(float).ravel(), po[["ci_low", "ci_high"]].to_numpy(float).ravel()])
    allx = allx[np.isfinite(allx)]
    lo, hi = (min(allx.min(), 0), max(allx.max(), 0)) if allx.size else (-1, 1)
    pad = 0.05 * (hi - lo or 1)
    for ax, g, rows in zip(axes, groups, layouts):
        labels = []
        for i, (kind, f, r, wi) in enumerate(rows):
            y = -i
            if kind == "header":
                labels.append(f"{f}")
            elif kind == "cohort":
                est, l, h = float(r[effect]), float(r[ci[0]]), float(r[ci[1]])
                ax.plot([l, h], [y, y], color="0.25", lw=1)
                size = 20 + 160 * (wi if np.isfinite(wi) else 0.2)
                ax.scatter([est], [y], marker="s", s=size, color="#2e4053", zorder=3)
                n = f", n={int(r['n'])}" if "n" in r.index and pd.notna(r["n"]) else ""
                wt = f", {100 * wi:.0f}%" if np.isfinite(wi) else ""
                labels.append(f"{r['cohort']}{n}{wt}")
            else:
                est, l, h = float(r["pooled"]), float(r["ci_low"]), float(r["ci_high"])
                ax.fill([l, est, h, est], [y, y + 0.3, y, y - 0.3], color="#c0392b", zorder=3)
                extra = []
                if "k" in r.index and pd.notna(r["k"]):
                    extra.append(f"k={int(r['k'])}")
                if "I2" in r.index and pd.notna(r["I2"]):
                    i2 = float(r["I2"])
                    extra.append(f"I²={100 * i2 if i2 <= 1 else i2:.0f}%")
                labels.append("Pooled" + (f" ({', '.join(extra)})" if extra else ""))
        ax.axvline(0, color="0.5", lw=0.7, ls="--")
        ax.set_yticks([-i for i in range(len(rows))])
        ax.set_yticklabels(labels, fontsize=7)
        for tick, (kind, *_rest) in zip(ax.get_yticklabels(), rows):
            if kind != "cohort":
                tick.set_fontweight("bold")
        ax.set_ylim(-nmax + 0.4, 0.6)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_title(g, fontsize=10)
        ax.set_xlabel(effect, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    savefig(fig, save)
    return fig

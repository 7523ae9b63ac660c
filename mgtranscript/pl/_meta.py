"""Forest plot of a per-cohort meta-analysis, faceted by disease group."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript._words import fmt_p, fmt_signed
from mgtranscript.pl._look import styled, suptitle, wrap
from mgtranscript.pl._utils import new_figure, savefig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

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


@styled
def forest(
    per_cohort: pd.DataFrame,
    pooled: pd.DataFrame,
    *,
    effect: str = "hedges_g",
    ci: tuple[str, str] | None = None,
    features: Sequence[str] | str | None = None,
    groups: Sequence[str] | None = None,
    effect_label: str | None = None,
    title: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
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
    effect_label
        X-axis label (default: "Hedges' g (disease vs reference)" for ``hedges_g``).
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
    fig = new_figure(min(11.5, 3.2 * len(groups) + 1.4), 1.3 + 0.32 * nmax)
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
                from mgtranscript._words import set_label  # noqa: PLC0415

                labels.append(set_label(f))
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
        ax.set_yticklabels(labels, fontsize=8.5)
        for tick, (kind, *_rest) in zip(ax.get_yticklabels(), rows):
            if kind != "cohort":
                tick.set_fontweight("bold")
        ax.set_ylim(-nmax + 0.4, 0.6)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_title(g)
        ax.set_xlabel(effect_label or ("Hedges' g (group vs reference)" if effect == "hedges_g" else effect))
        ax.grid(axis="x", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig


@styled
def effect_forest(
    table: pd.DataFrame,
    *,
    pooled: pd.DataFrame | None = None,
    label: str = "label",
    estimate: str = "estimate",
    ci: tuple[str, str] = ("ci_low", "ci_high"),
    n: str | None = "n",
    qval: str | None = "qval",
    included: str | None = "included",
    group: str | None = None,
    null: float = 0.0,
    log: bool = False,
    effect_label: str = "effect (95% CI)",
    title: str | None = None,
    width: float | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Figure:
    """Forest plot of one question: a row per cohort/test, a diamond per pooled estimate.

    Every row shows its estimate and 95% CI as a square and a line, with the numbers
    (estimate [CI], q, n) written in a column to the right. Rows not counted in a verdict
    (``included`` False) are drawn hollow and grey. Pooled rows (``pooled``) are drawn as
    diamonds below a rule; pass them only where at least two cohorts were pooled.

    Parameters
    ----------
    table
        One row per estimate with the ``label``, ``estimate`` and ``ci`` columns (optional
        ``n``, ``qval``, ``included``); ``n`` may hold text (e.g. "50 pairs").
    pooled
        Pooled estimates with the same columns (optional ``k``, ``I2``).
    label, estimate, ci, n, qval, included
        Column names (``None`` for an absent optional column).
    group
        Optional column: a bold header row is inserted whenever its value changes (e.g.
        the gene set tested, when one claim is tested on several sets).
    null
        The no-effect line (0 for differences and correlations, 1 for hazard ratios).
    log
        Logarithmic x axis (hazard / odds ratios).
    effect_label
        X-axis label in words (e.g. "Hedges' g, NASH vs healthy (95% CI)").
    title
        Figure title.
    width
        Figure width in inches (default 9.4; about 6 suits a few short row labels, and then
        sits beside another figure in the report).
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise InputDataError("table must be a non-empty DataFrame with one row per estimate.")
    _need(table, [label, estimate, *ci], "table")
    rows = []
    prev = object()
    for _, r in table.iterrows():
        if group is not None and group in r.index and r[group] != prev:
            rows.append(("header", r))
            prev = r[group]
        rows.append(("row", r))
    if pooled is not None and len(pooled):
        _need(pooled, [label, estimate, *ci], "pooled")
        rows += [("pooled", r) for _, r in pooled.iterrows()]
    nrow = len(rows)
    fig_w = 9.4 if width is None else float(width)
    fig = new_figure(fig_w, 1.45 + 0.46 * nrow)
    # the numbers' column: "estimate [95% CI]", q and n at fixed offsets (inches) from its left edge
    text_w = 4.0 if width is not None and fig_w < 9 else fig_w * 2.3 / 5.3
    gs = fig.add_gridspec(1, 2, width_ratios=[fig_w - text_w, text_w], wspace=0.02)
    ax = fig.add_subplot(gs[0])
    tx = fig.add_subplot(gs[1], sharey=ax)
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory  # noqa: PLC0415

    def at(dx_in: float):  # x: inches from the column's left edge; y: the row
        return blended_transform_factory(tx.transAxes + ScaledTranslation(dx_in, 0, fig.dpi_scale_trans),
                                         tx.transData)

    def note(y, text, dx_in, **kw):  # the numbers never push the layout around (constrained layout ignores them)
        tx.text(0.0, y, text, va=kw.pop("va", "center"), ha="left", fontsize=9, transform=at(dx_in),
                **kw).set_in_layout(False)
    vals = pd.concat([t[[estimate, *ci]] for t in [table] + ([pooled] if pooled is not None else [])]).to_numpy(float)
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    lo, hi = (min(vals.min(), null), max(vals.max(), null)) if vals.size else (null - 1, null + 1)
    labels = []
    any_hollow = False
    for i, (kind, r) in enumerate(rows):
        y = -i
        if kind == "header":
            labels.append(wrap(str(r[group]), 40))
            continue
        est, l, h = (float(r[estimate]), float(r[ci[0]]), float(r[ci[1]]))
        counted = True if included is None or included not in r.index else bool(r[included])
        colour = "#1c2833" if counted else "0.6"
        if kind == "row":
            if np.isfinite(l) and np.isfinite(h):
                ax.plot([l, h], [y, y], color=colour, lw=1.3, solid_capstyle="butt")
            if np.isfinite(est):
                ax.scatter([est], [y], marker="s", s=46, zorder=3, color=colour if counted else "white",
                           edgecolors=colour, linewidths=1.2)
            lab = str(r[label])
            any_hollow = any_hollow or not counted
        else:
            if np.isfinite(est) and np.isfinite(l) and np.isfinite(h):
                ax.fill([l, est, h, est], [y, y + 0.28, y, y - 0.28], color="#b03a2e", zorder=3)
            lab = str(r[label])
        labels.append(wrap(lab, 40))
        txt = fmt_signed(est) if np.isfinite(est) else "—"
        if np.isfinite(l) and np.isfinite(h):
            txt += f" [{fmt_signed(l)}, {fmt_signed(h)}]"
        note(y, txt, 0.05, color=colour, fontweight="bold" if kind == "pooled" else "normal")
        if qval and qval in r.index and pd.notna(r[qval]):
            qv = float(r[qval])
            note(y, fmt_p(qv), 1.6, color=colour)
        if n and n in r.index and pd.notna(r[n]) and str(r[n]) != "":
            nv = r[n]
            ntxt = str(nv) if isinstance(nv, str) else f"{int(nv):,}"
            note(y, ntxt, 2.12, color=colour)
    for head, dx in (("estimate [95% CI]", 0.05), ("q", 1.6), ("n", 2.12)):
        note(0.75, head, dx, va="bottom", fontweight="bold")
    npool = sum(1 for k, _ in rows if k == "pooled")
    if npool:
        ax.axhline(-(nrow - npool) + 0.5, color="0.6", lw=0.8)
    ax.axvline(null, color="0.45", lw=0.8, ls="--")
    if log:
        from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter  # noqa: PLC0415

        ax.set_xscale("log")
        ax.set_xlim(lo / 1.15, hi * 1.15)
        nice = [t for t in (0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 5, 10)
                if lo / 1.15 <= t <= hi * 1.15]
        ax.xaxis.set_major_locator(FixedLocator(nice))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        pad = 0.08 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_yticks([-i for i in range(nrow)])
    ax.set_yticklabels(labels)
    for tick, (kind, _r) in zip(ax.get_yticklabels(), rows):
        if kind in ("pooled", "header"):
            tick.set_fontweight("bold")
    ax.set_ylim(-nrow + 0.4, 1.1)
    ax.set_xlabel(wrap(effect_label, 60 if fig_w >= 9 else 34))
    ax.grid(axis="x", color="0.93", lw=0.6)
    ax.set_axisbelow(True)
    tx.set_xlim(0, 1)
    tx.axis("off")
    if any_hollow or npool:
        from matplotlib.lines import Line2D  # noqa: PLC0415

        handles = [Line2D([], [], marker="s", ls="-", color="#1c2833", label="counted in the verdict")]
        if any_hollow:
            handles.append(Line2D([], [], marker="s", ls="-", color="0.6", markerfacecolor="white",
                                  label="shown beside, not counted"))
        if npool:
            handles.append(Line2D([], [], marker="D", ls="", color="#b03a2e", label="pooled (random effects)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig

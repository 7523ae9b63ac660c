"""The comparison the toolkit exists for, in two pictures, drawn from a run's tables.

:func:`contrast_heatmap`: the Mg genes and Mg gene-set scores (rows) across every disease
contrast of every cohort (columns: MASLD vs control, NASH vs NAFL, HCC tumour vs non-tumour,
ALD and TCGA strata when present), standardised effect (Hedges' g) as colour, significance
marked, flagged or disqualified contrasts visibly marked.

:func:`enrichment_dotplot`: GSEA of the Mg and mechanism sets across the same contrasts, as
enrichment results are compared across conditions: NES as colour, q as dot size.

Both take the run's tables (``tables/comparisons.tsv``, ``tables/gsea.tsv``, optionally
``tables/design.tsv`` and ``tables/claims_evidence.tsv`` for the marks) and follow scanpy's
plotting conventions: keyword-only options, ``show=``, ``save=``, the Axes returned.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript._words import group_label, set_label
from mgtranscript.pl._look import styled, two_lines
from mgtranscript.pl._utils import new_figure, savefig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

__all__ = ["contrast_heatmap", "enrichment_dotplot", "contrast_marks"]


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes")


def contrast_marks(design: pd.DataFrame | None = None, evidence: pd.DataFrame | None = None
                   ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(flagged, disqualified) ``(cohort, contrast)`` pairs from the design audit and the claims' evidence.

    Flagged: any flagged check of the design audit (``flagged``). Disqualified: a design row
    that says so (a true ``disqualified``/``disqualifies`` column, or a flagged
    ``batch_aliased`` check: batch and group completely confounded), or primary evidence
    rows of that contrast marked unusable (a false ``used`` column).
    """
    flagged: set[tuple[str, str]] = set()
    disq: set[tuple[str, str]] = set()
    if design is not None and not design.empty and {"cohort", "contrast"} <= set(design.columns):
        for _, r in design.iterrows():
            key = (str(r["cohort"]), str(r["contrast"]))
            fl = _truthy(r.get("flagged"))
            if fl:
                flagged.add(key)
            if any(_truthy(r.get(c)) for c in ("disqualified", "disqualifies")) or (
                    fl and str(r.get("check")) == "batch_aliased"):
                disq.add(key)
    if evidence is not None and not evidence.empty and "used" in evidence.columns and \
            {"cohort", "contrast"} <= set(evidence.columns):
        ev = evidence
        if "scenario" in ev.columns:
            ev = ev[ev["scenario"].astype(str) == "primary"]
        for _, r in ev[~ev["used"].map(_truthy)].iterrows():
            disq.add((str(r["cohort"]), str(r["contrast"])))
    return flagged, disq


def _contrast_words(contrast: str) -> str:
    """``condition:NASH|NAFL`` -> ``NASH vs NAFL``; a shared first word said once:
    ``HCC tumour`` vs ``HCC non-tumour`` -> ``HCC: tumour vs non-tumour``."""
    m = re.match(r"^([^:]+):([^|]+)\|(.+)$", str(contrast))
    if not m:
        return str(contrast).replace("_", " ")
    a, b = group_label(m.group(2)), group_label(m.group(3))
    wa, wb = a.split(" ", 1), b.split(" ", 1)
    if len(wa) == 2 and len(wb) == 2 and wa[0] == wb[0]:
        return f"{wa[0]}: {wa[1]} vs {wb[1]}"
    return f"{a} vs {b}"


def _columns(df: pd.DataFrame, contrasts: Sequence[str] | None) -> list[tuple[str, str]]:
    cols = list(dict.fromkeys(zip(df["cohort"].astype(str), df["contrast"].astype(str))))
    if contrasts is not None:
        keep = set(contrasts)
        cols = [c for c in cols if c[1] in keep or f"{c[0]}:{c[1]}" in keep]
    if not cols:
        raise InputDataError("no contrast to show: the table has no rows for the contrasts asked for.")
    return cols


def _col_labels(cols, flagged, disq, width: int = 15) -> list[str]:
    """``GSE77314 ⚑`` over the contrast in words, wrapped to the column's width."""
    from mgtranscript.pl._look import wrap  # noqa: PLC0415

    out = []
    for acc, contrast in cols:
        mark = " ✕" if (acc, contrast) in disq else (" ⚑" if (acc, contrast) in flagged else "")
        out.append(f"{acc}{mark}\n{wrap(_contrast_words(contrast), width)}")
    return out


def _col_width(n: int, fixed: float) -> float:
    """Inches per column: 1.0, narrower when that would make the figure wider than the report's column."""
    return min(1.0, max(0.55, (11.4 - fixed) / max(n, 1)))


def _set_col_labels(ax, cols, flagged, disq, width_in: float = 1.0) -> None:
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(_col_labels(cols, flagged, disq, width=max(8, int(width_in * 15))), fontsize=8.5,
                       linespacing=1.15)
    ax.xaxis.tick_top()


def _row_label(feature: str) -> str:
    return set_label(feature) if str(feature).startswith(("MG_", "mg_")) else str(feature)


def _mark_columns(ax, cols, flagged, disq, n_rows: int) -> None:
    """A dashed frame around a flagged contrast, grey hatching over a disqualified one."""
    from matplotlib.patches import Rectangle  # noqa: PLC0415

    for j, key in enumerate(cols):
        if key in disq:
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, n_rows, fill=False, hatch="///", edgecolor="#7f8c8d",
                                   linewidth=0))
        if key in flagged or key in disq:
            ax.add_patch(Rectangle((j - 0.46, -0.46), 0.92, n_rows - 0.08, fill=False, edgecolor="#922b21",
                                   linestyle=(0, (3, 2)), linewidth=1.0))


def _legend_text(flagged, disq, cols) -> str:
    parts = []
    if any(c in flagged and c not in disq for c in cols):
        parts.append("⚑ dashed frame: design flags (see the design audit)")
    if any(c in disq for c in cols):
        parts.append("✕ hatched: disqualified (complete confound)")
    return " · ".join(parts)


def _finish(fig, ax, *, show: bool | None, save, svg: bool):
    """Save when asked; ``show=True`` shows the figure (``plt.show``) and returns None, as scanpy does."""
    savefig(fig, save, svg=svg)
    if show:
        import matplotlib.pyplot as plt

        plt.show()
        return None
    return ax


@styled
def contrast_heatmap(
    comparisons: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    contrasts: Sequence[str] | None = None,
    design: pd.DataFrame | None = None,
    evidence: pd.DataFrame | None = None,
    effect: str = "hedges_g",
    q: str = "qval",
    alpha: float = 0.05,
    vmax: float | None = None,
    title: str | None = "Mg genes and Mg scores across every disease contrast",
    show: bool | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Axes | None:
    """Mg genes and Mg set scores (rows) x every contrast of every cohort (columns), effect as colour.

    Parameters
    ----------
    comparisons
        The run's comparisons (``tables/comparisons.tsv``): one row per cohort, contrast and
        feature with ``cohort``, ``contrast``, ``feature``, ``kind`` (``gene``/``score``), the
        effect column and the q column.
    features
        Rows, in order (default: the Mg set scores, the Mg balance, then every gene compared).
    contrasts
        Contrasts to show (``"condition:NASH|NAFL"`` or ``"GSE126848:condition:NASH|NAFL"``);
        default: every contrast of every cohort, in the table's order.
    design, evidence
        The design audit and the claims' evidence (``tables/design.tsv``,
        ``tables/claims_evidence.tsv``): contrasts with design flags get a dashed frame and ⚑,
        disqualified ones grey hatching and ✕ (see :func:`contrast_marks`).
    effect
        Column of the standardised effect (Hedges' g by default).
    q
        Column of the q-value; cells with q < ``alpha`` get a dot.
    alpha
        Significance level of the dots.
    vmax
        Colour limit (default: the largest |effect|, at most 3).
    title
        Axes title (None: none).
    show
        Display the figure (in a notebook) and return None.
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.axes.Axes
        The heatmap's Axes (``ax.figure`` is the Figure), unless ``show=True``.
    """
    need = {"cohort", "contrast", "feature", effect}
    if not isinstance(comparisons, pd.DataFrame) or not need <= set(comparisons.columns):
        raise InputDataError(f"comparisons must be a table with the columns {sorted(need)} "
                             "(the run's tables/comparisons.tsv).")
    df = comparisons.copy()
    if features is None:
        kind = df.get("kind", pd.Series("", index=df.index)).astype(str)
        feats = list(pd.unique(df["feature"].astype(str)))
        sets = [f for f in feats if f.startswith("MG_")]
        bal = [f for f in feats if f == "mg_balance"]
        genes = [f for f in pd.unique(df.loc[kind == "gene", "feature"].astype(str))]
        features = sets + bal + genes
        if not features:
            raise InputDataError("no Mg set score, Mg balance or gene in the comparisons table.")
    features = list(dict.fromkeys(str(f) for f in features))
    cols = _columns(df[df["feature"].astype(str).isin(features)], contrasts)
    flagged, disq = contrast_marks(design, evidence)
    vals = pd.to_numeric(df[effect], errors="coerce").to_numpy(float)
    qvals = pd.to_numeric(df[q], errors="coerce").to_numpy(float) if q in df else np.full(len(df), np.nan)
    where: dict[tuple[str, str, str], int] = {}
    for i, k in enumerate(zip(df["cohort"].astype(str), df["contrast"].astype(str), df["feature"].astype(str))):
        where.setdefault(k, i)
    M = np.full((len(features), len(cols)), np.nan)
    Q = np.full_like(M, np.nan)
    for i, f in enumerate(features):
        for j, (acc, c) in enumerate(cols):
            k = where.get((acc, c, f))
            if k is not None:
                M[i, j], Q[i, j] = vals[k], qvals[k]
    lim = vmax if vmax is not None else min(3.0, max(0.5, float(np.nanmax(np.abs(M))) if np.isfinite(M).any()
                                                     else 1.0))
    cw = _col_width(len(cols), 3.4)
    fig = new_figure(max(5.5, 3.4 + cw * len(cols)), 2.3 + 0.27 * len(features))
    ax = fig.add_subplot()
    cmap = _cmap()
    im = ax.imshow(np.ma.masked_invalid(M), aspect="auto", cmap=cmap, vmin=-lim, vmax=lim,
                   interpolation="nearest")
    sig = np.isfinite(Q) & (Q < alpha)
    ii, jj = np.nonzero(sig)
    ax.scatter(jj, ii, s=9, c="black", marker="o", linewidths=0, zorder=3)
    _mark_columns(ax, cols, flagged, disq, len(features))
    _set_col_labels(ax, cols, flagged, disq, cw)
    ax.set_yticks(range(len(features)))
    ax.set_yticklabels([_row_label(f) for f in features])
    n_sets = sum(1 for f in features if f.startswith(("MG_", "mg_")))
    if 0 < n_sets < len(features):
        ax.axhline(n_sets - 0.5, color="white", linewidth=2.5)
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    cb = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    cb.set_label(two_lines(f"{'Hedges’ g' if effect == 'hedges_g' else effect.replace('_', ' ')}, "
                          "group vs reference", 22))
    note = f"● q < {alpha:g} · grey: not measured"
    marks = _legend_text(flagged, disq, cols)
    ax.set_xlabel(two_lines(note + (" · " + marks if marks else ""), 90), fontsize=8.5, color="#444")
    if title:
        ax.set_title(two_lines(title, 70))
    return _finish(fig, ax, show=show, save=save, svg=svg)


def _cmap():
    import matplotlib  # noqa: PLC0415

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad="#e5e7e9")


_Q_LEVELS = (0.25, 0.05, 0.01, 0.001)


def _q_size(qv: np.ndarray) -> np.ndarray:
    """Dot area from q: -log10(q) clipped to [0, 4], 8 to 170 pt²."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -np.log10(np.clip(qv, 1e-4, 1.0))
    return 8 + 40.5 * np.nan_to_num(s, nan=0.0)


@styled
def enrichment_dotplot(
    gsea: pd.DataFrame,
    *,
    sets: Sequence[str] | None = None,
    contrasts: Sequence[str] | None = None,
    design: pd.DataFrame | None = None,
    evidence: pd.DataFrame | None = None,
    q: str | None = None,
    vmax: float | None = None,
    title: str | None = "Enrichment of Mg and mechanism gene sets across contrasts",
    show: bool | None = None,
    save: str | Path | None = None,
    svg: bool = False,
) -> Axes | None:
    """GSEA of gene sets (rows) across the contrasts of every cohort (columns): NES as colour, q as size.

    Parameters
    ----------
    gsea
        The run's GSEA results (``tables/gsea.tsv``): ``cohort``, ``contrast``, ``set``, ``nes``
        and a q column.
    sets
        Rows, in order (default: the Mg sets, then the other sets by their mean |NES|).
    contrasts
        Contrasts to show (as in :func:`contrast_heatmap`).
    design, evidence
        Marks for flagged (⚑) and disqualified (✕) contrasts, as in :func:`contrast_heatmap`.
    q
        Column of the q-value (default: ``fdr``, else ``qval``).
    vmax
        Colour limit of the NES (default: the largest |NES|, at most 3).
    title
        Axes title (None: none).
    show
        Display the figure (in a notebook) and return None.
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.axes.Axes
        The dot plot's Axes (``ax.figure`` is the Figure), unless ``show=True``.
    """
    if q is None:
        q = "fdr" if isinstance(gsea, pd.DataFrame) and "fdr" in gsea.columns else "qval"
    need = {"cohort", "contrast", "set", "nes", q}
    if not isinstance(gsea, pd.DataFrame) or not need <= set(gsea.columns):
        raise InputDataError(f"gsea must be a table with the columns {sorted(need)} (the run's tables/gsea.tsv).")
    df = gsea.copy()
    df["nes"] = pd.to_numeric(df["nes"], errors="coerce")
    df[q] = pd.to_numeric(df[q], errors="coerce")
    if sets is None:
        all_sets = list(pd.unique(df["set"].astype(str)))
        mg = [s for s in all_sets if s.startswith("MG_")]
        other = df[~df["set"].astype(str).isin(mg)].groupby("set")["nes"].apply(lambda v: np.nanmean(np.abs(v)))
        sets = mg + list(other.sort_values(ascending=False).index.astype(str))
    sets = [s for s in dict.fromkeys(str(x) for x in sets) if (df["set"].astype(str) == s).any()]
    if not sets:
        raise InputDataError("none of the sets asked for is in the GSEA table.")
    cols = _columns(df, contrasts)
    flagged, disq = contrast_marks(design, evidence)
    xs, ys, nes, qv = [], [], [], []
    lookup = df.drop_duplicates(["cohort", "contrast", "set"]).set_index(["cohort", "contrast", "set"])
    for i, s in enumerate(sets):
        for j, (acc, c) in enumerate(cols):
            if (acc, c, s) in lookup.index:
                r = lookup.loc[(acc, c, s)]
                xs.append(j)
                ys.append(i)
                nes.append(float(r["nes"]))
                qv.append(float(r[q]))
    nes_a, q_a = np.array(nes), np.array(qv)
    lim = vmax if vmax is not None else min(3.0, max(1.0, float(np.nanmax(np.abs(nes_a))) if len(nes_a) else 1.0))
    cw = _col_width(len(cols), 5.0)
    fig = new_figure(max(6.0, 5.0 + cw * len(cols)), 2.3 + 0.26 * len(sets))
    ax = fig.add_subplot()
    sc = ax.scatter(xs, ys, s=_q_size(q_a), c=nes_a, cmap=_cmap(), vmin=-lim, vmax=lim, edgecolors="#555",
                    linewidths=0.4, zorder=3)
    _mark_columns(ax, cols, flagged, disq, len(sets))
    ax.set_xlim(-0.6, len(cols) - 0.4)
    ax.set_ylim(len(sets) - 0.5, -0.5)
    _set_col_labels(ax, cols, flagged, disq, cw)
    ax.set_yticks(range(len(sets)))
    ax.set_yticklabels([set_label(s) for s in sets], fontsize=8.5)
    n_mg = sum(1 for s in sets if s.startswith("MG_"))
    if 0 < n_mg < len(sets):
        ax.axhline(n_mg - 0.5, color="#bbb", linewidth=0.8)
    ax.grid(True, color="#eee", linewidth=0.6, zorder=0)
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    cb = fig.colorbar(sc, ax=ax, shrink=0.45, pad=0.02, anchor=(0.0, 1.0))
    cb.set_label("NES (GSEA prerank)")
    from matplotlib.lines import Line2D  # noqa: PLC0415

    handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor="#bbb", markeredgecolor="#555",
                      markersize=float(np.sqrt(_q_size(np.array([lv]))[0])), label=f"{lv:g}") for lv in _Q_LEVELS]
    ax.legend(handles=handles, title=f"q ({'GSEA FDR' if q == 'fdr' else q})", loc="lower left",
              bbox_to_anchor=(1.02, 0.0), frameon=False, labelspacing=1.0, borderaxespad=0.0)
    marks = _legend_text(flagged, disq, cols)
    if marks:
        ax.set_xlabel(two_lines(marks, 90), fontsize=8.5, color="#444")
    if title:
        ax.set_title(two_lines(title, 70))
    return _finish(fig, ax, show=show, save=save, svg=svg)

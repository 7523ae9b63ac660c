"""Sample-level plots: scores per group, Mg-gene heatmap, score-vs-score scatter, ordered trends.

Each function takes either an AnnData (scores in ``obsm[key]``, labels in ``obs``) or a
tidy per-sample DataFrame (one row per sample: label columns such as ``condition`` and
``pair_id`` plus numeric feature columns, e.g. ``AnalysisResult.features[accession]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mgtranscript.errors import InputDataError
from mgtranscript.pl._style import (
    LABEL_COLUMNS,
    feature_label,
    fmt_signed,
    group_colour,
    group_label,
    set_label,
    styled,
    suptitle,
    wrap,
)
from mgtranscript.pl._utils import (
    group_levels,
    new_figure,
    obs_column,
    obsm_frame,
    savefig,
    select_columns,
)

logger = logging.getLogger(__name__)

#: Units of the scoring methods of :func:`mgtranscript.tl.score`, for axis labels.
METHOD_UNITS = {
    "ssgsea": "ssGSEA score (unnormalised)",
    "gsva": "GSVA score",
    "zscore": "mean z-score",
    "plage": "PLAGE score",
    "singscore": "singscore",
    "mean": "mean log expression",
}


def _is_anndata(data) -> bool:
    return hasattr(data, "obs") and hasattr(data, "obsm") and hasattr(data, "var_names")


def _labels_frame(data) -> pd.DataFrame:
    return data.obs if _is_anndata(data) else data


def _column(data, col: str, what: str) -> pd.Series:
    if _is_anndata(data):
        return obs_column(data, col, what)
    if col not in data.columns:
        raise InputDataError(f"{what}={col!r} is not a column of the table (columns: {list(data.columns)[:20]}).")
    return data[col]


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


def _unit_of(units, col: str) -> str:
    if isinstance(units, Mapping):
        return str(units.get(col, ""))
    return "" if units is None else str(units)


def _tick_labels(levels, counts, width_in: float | None = None) -> tuple[list[str], bool]:
    """Tick labels "group (n=..)" and whether they must be rotated to fit ``width_in`` inches."""
    labels = [f"{group_label(lv)}\n(n={c})" for lv, c in zip(levels, counts)]
    longest = max((len(group_label(lv)) for lv in levels), default=0)
    if width_in is None:
        rotate = len(levels) > 4 or longest > 11
    else:  # 9 pt text: about 0.068 in per character, plus a gap
        rotate = len(levels) * (longest * 0.068 + 0.1) > width_in * 0.9
    return labels, rotate


def _jitter(index: pd.Index, width: float = 0.16) -> pd.Series:
    """A fixed horizontal offset per sample (identical figures on every run)."""
    rng = np.random.default_rng(0)
    return pd.Series(rng.uniform(-width, width, size=len(index)), index=index)


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


def _legend_outside(ax_or_fig, handles, title: str | None = None) -> None:
    if not handles:
        return
    target = ax_or_fig
    if hasattr(target, "legend") and hasattr(target, "transAxes"):
        target.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      frameon=False, borderaxespad=0.0)
    else:
        target.legend(handles=handles, title=title, loc="outside right center", frameon=False)


@styled
def scores(
    adata,
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
):
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
        ax.set_title(wrap(set_label(col), max(14, int((panel_w - 0.5) * 7.5))))
        u = _unit_of(units, col)
        ax.set_ylabel(wrap(u, 30) if u else "")
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
            fig.text(0.01, 0.005, f"grey lines join the {n_pairs} pairs ({paired_by})", fontsize=8,
                     color="0.35", ha="left", va="bottom")
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig


def _dense(m) -> np.ndarray:
    if hasattr(m, "toarray"):
        m = m.toarray()
    elif hasattr(m, "compute"):
        m = m.compute()
    return np.asarray(m, dtype=float)


@styled
def heatmap(
    adata,
    genes: Sequence[str],
    *,
    groupby: str = "condition",
    layer: str | None = None,
    standard_scale: str | None = "var",
    gene_symbols: str | None = None,
    order: Sequence[str] | None = None,
    annotate: bool = True,
    title: str | None = None,
    units: str | None = None,
    save: str | Path | None = None,
    svg: bool = False,
):
    """Genes (rows) x groups (columns) heatmap of group means.

    Parameters
    ----------
    adata
        Samples x genes AnnData (log-scale expression is expected), or a per-sample
        DataFrame with one column per gene and the ``groupby`` column.
    genes
        Genes to show, matched to ``var_names`` (or to ``var[gene_symbols]``) or to the
        DataFrame's columns. Genes not measured are skipped with a warning.
    groupby
        Label column defining the columns.
    layer
        Use ``adata.layers[layer]`` instead of ``X`` (AnnData only).
    standard_scale
        ``"var"`` (default): z-score each gene across all samples before averaging, so
        colours are comparable between genes; ``None``: plain group means.
    gene_symbols
        ``var`` column holding the names in ``genes`` (e.g. ``"symbol"``).
    order
        Group order.
    annotate
        Write the value in each cell.
    title
        Axes title.
    units
        Units of the expression values (named in the colour-bar label), e.g. "log2 CPM (TMM)".
    save
        Stem of the ``.png`` (and, with ``svg=True``, ``.svg``) file to write.
    svg
        Also write an SVG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if standard_scale not in {"var", None}:
        raise InputDataError(f"standard_scale must be 'var' or None, got {standard_scale!r}.")
    if isinstance(genes, str):
        genes = [genes]
    if _is_anndata(adata):
        if gene_symbols is not None and gene_symbols not in adata.var.columns:
            raise InputDataError(f"gene_symbols={gene_symbols!r} is not a column of adata.var.")
        names = adata.var[gene_symbols].astype(str) if gene_symbols is not None else pd.Series(
            adata.var_names, index=adata.var_names)
        first = pd.Series(np.arange(adata.n_vars), index=names.to_numpy())
        first = first[~first.index.duplicated()]
        shown = [g for g in dict.fromkeys(genes) if g in first.index]
        if not shown:
            raise InputDataError(
                f"none of the genes {list(genes)[:5]} is in the data (var names start "
                f"{list(names[:3])}); pass gene_symbols='<var column>' if var_names are Ensembl/Entrez ids."
            )
        if layer is not None and layer not in adata.layers:
            raise InputDataError(f"layer {layer!r} not in adata.layers ({list(adata.layers.keys())}).")
        mat = adata.layers[layer] if layer is not None else adata.X
        X = _dense(mat[:, first[shown].to_numpy()])
        group = obs_column(adata, groupby)
    elif isinstance(adata, pd.DataFrame):
        shown = [g for g in dict.fromkeys(genes) if g in adata.columns]
        if not shown:
            raise InputDataError(f"none of the genes {list(genes)[:5]} is a column of the table.")
        X = adata[shown].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        group = _column(adata, groupby, "groupby")
    else:
        raise InputDataError(f"adata must be an AnnData or a per-sample DataFrame, got {type(adata).__name__}.")
    missing = [g for g in genes if g not in shown]
    if missing:
        logger.warning("%d genes not measured and skipped: %s", len(missing), missing[:10])
    if standard_scale == "var":
        sd = np.nanstd(X, axis=0, ddof=1)
        sd[~(sd > 0)] = np.nan
        X = (X - np.nanmean(X, axis=0)) / sd
    levels = group_levels(group, order)
    gmask = [(group == lv).to_numpy() for lv in levels]
    with np.errstate(all="ignore"):
        M = np.column_stack([np.nanmean(X[m], axis=0) if m.any() else np.full(X.shape[1], np.nan)
                             for m in gmask])
    counts = [int(m.sum()) for m in gmask]
    width = max(4.6, 2.6 + 0.95 * len(levels))
    fig = new_figure(width, 1.7 + 0.3 * len(shown))
    ax = fig.add_subplot()
    if standard_scale == "var":
        lim = max(float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0, 0.1)
        im = ax.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        label = "group mean of per-gene z-scores"
    else:
        lim = 1.0
        im = ax.imshow(M, aspect="auto", cmap="viridis", interpolation="nearest")
        label = "group mean" + (f" ({units})" if units else "")
    if annotate and M.size <= 600:
        for (i, j), v in np.ndenumerate(M):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if standard_scale == "var" and abs(v) > 0.6 * lim else "black")
    ticklabels, rotate = _tick_labels(levels, counts, 0.95 * len(levels))
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([t.replace("\n", " ") if rotate else t for t in ticklabels],
                       rotation=35 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor" if rotate else "default")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(shown)
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    cb = fig.colorbar(im, ax=ax, shrink=min(1.0, 4.0 / max(len(shown), 1) + 0.5), pad=0.02)
    cb.set_label(wrap(label if units is None or standard_scale != "var" else f"{label} of {units}", 28))
    if title:
        ax.set_title(wrap(title, 60))
    savefig(fig, save, svg=svg)
    return fig


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
    adata,
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
):
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
    ax.set_title(wrap(stats_text, 80), fontsize=9, fontweight="normal", loc="left")
    suptitle(fig, title or f"{set_label(yname)} vs {set_label(xname)}")
    savefig(fig, save, svg=svg)
    return fig


@styled
def trend(
    adata,
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
):
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
        ax.set_title(wrap(ptitle, 30), pad=18 if stats_text and stats_text.get(f) else 6)
        u = _unit_of(units, f)
        ax.set_ylabel(wrap(u, 30) if u else "")
        ax.grid(axis="y", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    for ax in axes[len(feats):]:
        ax.set_visible(False)
    if title:
        suptitle(fig, title)
    savefig(fig, save, svg=svg)
    return fig

"""Group comparisons and ordered trends of gene-set scores and single genes, within a cohort.

:func:`compare` contrasts each condition with a reference (Welch t / Mann-Whitney U, or
paired t / Wilcoxon signed-rank for matched designs) and reports effect sizes (Hedges' g
with a 95% CI, AUROC). :func:`trend` tests for a monotone trend across ordered stages
(Spearman rho and the Jonckheere-Terpstra test). Both write one tidy table to
``adata.uns[key_added]["table"]`` (read it back with :func:`mgtranscript.get.compare` /
:func:`mgtranscript.get.trend`), with BH q-values over all rows of the run.

This module holds :func:`compare`; :func:`trend` lives in ``_trend`` and the feature
resolution both use in ``_features``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputDataError
from .._store import finish, start, store
from ._features import _as_list, _features, _labels, covariate_frame
from ..._stats import auroc, bh_adjust, hedges_g, hedges_g_av, hedges_g_paired, hedges_j

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["compare", "COMPARE_COLUMNS", "ADJUSTED_COLUMNS"]

#: Columns of the :func:`compare` table, in order.
COMPARE_COLUMNS = [
    "feature", "kind", "source", "groupby", "group", "reference", "contrast", "paired",
    "n_group", "n_ref", "n", "n_missing", "mean_group", "mean_ref", "diff",
    "hedges_g", "g_se", "g_ci_low", "g_ci_high", "g_kind", "g_av", "g_av_se", "g_av_ci_low", "g_av_ci_high",
    "auroc", "t_stat", "t_pval", "u_pval", "test", "qval", "u_qval", "note",
]  # fmt: skip

#: Columns added to the :func:`compare` table when ``covariates`` are given, in order.
ADJUSTED_COLUMNS = [
    "adj_diff", "adj_se", "adj_ci_low", "adj_ci_high", "adj_pval", "adj_qval", "adj_df", "adj_n", "adjusted_for",
    "adj_g", "adj_g_se", "adj_g_ci_low", "adj_g_ci_high",
]  # fmt: skip

_G_NAN = ("hedges_g", "g_se", "g_ci_low", "g_ci_high", "g_av", "g_av_se", "g_av_ci_low", "g_av_ci_high", "auroc",
          "t_stat", "t_pval", "u_pval")

_UNLABELLED = "unlabelled"


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------


def _default_reference(adata, groupby: str, levels: list[str]) -> str:
    info = adata.uns.get("labels", {})
    ref = info.get("reference") if isinstance(info, dict) and groupby == "condition" else None
    if ref is not None and str(ref) in levels:
        return str(ref)
    s = adata.obs[groupby]
    if isinstance(s.dtype, pd.CategoricalDtype):
        for c in s.cat.categories:
            if str(c) in levels:
                return str(c)
    raise InputDataError(
        f"No reference given and none can be inferred for obs[{groupby!r}]; pass reference= "
        f"(one of {levels})."
    )


def _level_order(adata, groupby: str, levels: list[str]) -> list[str]:
    """Levels in the natural order: categorical order, catalog stage order, else sorted."""
    s = adata.obs[groupby]
    if isinstance(s.dtype, pd.CategoricalDtype):
        first = [str(c) for c in s.cat.categories if str(c) in levels]
    else:
        info = adata.uns.get("labels", {})
        order = info.get("condition_order") if isinstance(info, dict) and groupby == "condition" else None
        first = [str(o) for o in (order if order is not None else []) if str(o) in levels]  # may be an array (h5ad)
    return first + [lv for lv in levels if lv not in first]


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------


#: Both groups larger than this: SciPy's Mann-Whitney U (``method="auto"``) is asymptotic whatever the ties.
_MWU_EXACT_MAX = 8


def _unpaired_tests(values: np.ndarray, ig: np.ndarray, ir: np.ndarray) -> dict[int, tuple]:
    """Welch t, Mann-Whitney U and AUROC of every feature (row of ``values``) at once, for the rows the
    per-feature code would test without a special case (every value finite, >= 2 per group, not
    constant in both groups or overall): ``{row: (t_stat, t_pval, u_pval, auroc)}``.

    The same SciPy functions on the same numbers, along ``axis=1`` of C-contiguous rows: each row's
    reductions and ranks are those of the one-dimensional call, bit for bit (checked by
    tests/tl/statistics/test_compare.py); only the per-call overhead (about 1.5 ms a feature) is gone.
    With 8 or fewer samples in a group SciPy picks the exact test for a feature without ties and the
    asymptotic one otherwise: the features are split so, and each part tested with its method."""
    if values.size == 0 or len(ig) < 2 or len(ir) < 2:
        return {}
    x, y = np.ascontiguousarray(values[:, ig]), np.ascontiguousarray(values[:, ir])
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    rows = np.flatnonzero(ok)
    if rows.size:
        x, y = x[rows], y[rows]
        vx, vy = x.var(axis=1), y.var(axis=1)
        xy = np.concatenate([x, y], axis=1)
        keep = ~((vx == 0) & (vy == 0)) & (xy.max(axis=1) > xy.min(axis=1))
        rows, x, y, xy = rows[keep], x[keep], y[keep], xy[keep]
    if not rows.size:
        return {}
    n1, n2 = x.shape[1], y.shape[1]
    t = stats.ttest_ind(x, y, axis=1, equal_var=False)
    ranks = stats.rankdata(xy, axis=1)
    au = (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n2)
    if n1 > _MWU_EXACT_MAX and n2 > _MWU_EXACT_MAX:
        u = stats.mannwhitneyu(x, y, alternative="two-sided", axis=1).pvalue
    else:  # SciPy's choice for small groups, feature by feature: exact without ties, else asymptotic
        ties = (np.diff(np.sort(xy, axis=1), axis=1) == 0).any(axis=1)
        u = np.empty(rows.size)
        for tied, method in ((False, "exact"), (True, "asymptotic")):
            m = ties == tied
            if m.any():
                u[m] = stats.mannwhitneyu(x[m], y[m], alternative="two-sided", axis=1, method=method).pvalue
    up = [float(v) for v in u]
    return {int(r): (float(ts), float(tp), upv, float(a))
            for r, ts, tp, upv, a in zip(rows, t.statistic, t.pvalue, up, au)}


def _unpaired_row(x: np.ndarray, y: np.ndarray, tested: tuple | None = None) -> dict:
    """One feature, group ``x`` vs reference ``y``; ``tested``: its entry of :func:`_unpaired_tests`."""
    x = x[np.isfinite(x)]
    y = y[np.isfinite(y)]
    row = {
        "n_group": x.size, "n_ref": y.size, "n": x.size + y.size,
        "mean_group": x.mean() if x.size else np.nan, "mean_ref": y.mean() if y.size else np.nan,
        "test": "Welch t / Mann-Whitney U", "note": "", "g_kind": "g",
    }  # fmt: skip
    row["diff"] = row["mean_group"] - row["mean_ref"]
    nan = dict.fromkeys(_G_NAN, np.nan)
    row["_sd"] = np.nan
    if x.size < 2 or y.size < 2:
        row.update(nan, note=f"too few samples (n_group={x.size}, n_ref={y.size}; need >= 2 each)")
        return row
    g, se, lo, hi = hedges_g(x, y)
    row.update(hedges_g=g, g_se=se, g_ci_low=lo, g_ci_high=hi, g_av=g, g_av_se=se, g_av_ci_low=lo, g_av_ci_high=hi,
               auroc=auroc(x, y) if tested is None else tested[3])
    row["_sd"] = np.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))
    row["_j"] = hedges_j(x.size + y.size - 2)
    if x.var() == 0 and y.var() == 0:
        row.update(t_stat=np.nan, t_pval=np.nan, note="constant values in both groups")
    elif tested is not None:
        row.update(t_stat=tested[0], t_pval=tested[1])
    else:
        t = stats.ttest_ind(x, y, equal_var=False)
        row.update(t_stat=float(t.statistic), t_pval=float(t.pvalue))
    if np.unique(np.concatenate([x, y])).size < 2:
        row["u_pval"] = np.nan
    elif tested is not None:
        row["u_pval"] = tested[2]
    else:
        row["u_pval"] = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    return row


def _paired_row(x: np.ndarray, y: np.ndarray) -> dict:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    d = x - y
    n = d.size
    row = {
        "n_group": n, "n_ref": n, "n": n,
        "mean_group": x.mean() if n else np.nan, "mean_ref": y.mean() if n else np.nan,
        "diff": d.mean() if n else np.nan, "test": "paired t / Wilcoxon signed-rank", "note": "", "g_kind": "g_z",
    }  # fmt: skip
    nan = dict.fromkeys(_G_NAN, np.nan)
    row["_sd"] = np.nan
    if n < 2:
        row.update(nan, note=f"too few complete pairs (n={n}; need >= 2)")
        return row
    g, se, lo, hi = hedges_g_paired(d)
    ga, sea, loa, hia = hedges_g_av(x, y)
    row.update(hedges_g=g, g_se=se, g_ci_low=lo, g_ci_high=hi, g_av=ga, g_av_se=sea, g_av_ci_low=loa,
               g_av_ci_high=hia, auroc=auroc(x, y))
    row["_sd"] = np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2.0)
    row["_j"] = hedges_j(n - 1)
    if d.var() == 0:
        row.update(t_stat=np.nan, t_pval=np.nan, u_pval=np.nan, note="identical within-pair differences")
        return row
    t = stats.ttest_rel(x, y)
    row.update(t_stat=float(t.statistic), t_pval=float(t.pvalue))
    if np.all(d == 0):
        row["u_pval"] = np.nan
    else:
        row["u_pval"] = float(stats.wilcoxon(d, alternative="two-sided").pvalue)
    return row


def compare(
    adata: AnnData,
    *,
    groupby: str = "condition",
    reference: str | None = None,
    groups: Sequence[str] | None = None,
    keys: str | Sequence[str] | None = None,
    genes: str | Sequence[str] | None = None,
    layer: str | None = None,
    paired_by: str | None = None,
    covariates: str | Sequence[str] | None = None,
    key_added: str = "compare",
    copy: bool = False,
) -> AnnData | None:
    """Compare scores and single genes between each condition and a reference.

    For every feature (each column of each ``obsm`` score table in ``keys``, each numeric
    ``obs`` column in ``keys``, each gene in ``genes``) and every group in ``groups``, one
    row of statistics of ``group`` versus ``reference``.

    Unpaired (default): Hedges' g (pooled SD, small-sample corrected) with its 95% CI from
    the Hedges & Olkin variance, AUROC ``P(group > ref) + 0.5 P(tie)``, Welch's t-test and
    the two-sided Mann-Whitney U test (SciPy defaults: exact for small samples without ties,
    else normal approximation with tie and continuity corrections).

    Paired (``paired_by``): only complete pairs (exactly one ``group`` and one
    ``reference`` sample with the same ``obs[paired_by]``) are used; ``diff`` is the mean
    of within-pair differences, ``hedges_g`` is the paired standardised mean difference
    ``g_z = J * mean(d) / sd(d)`` with ``J = 1 - 3/(4(n-1)-1)`` and variance
    ``1/n + g_z^2/(2n)`` (n = pairs), tests are the paired t and the Wilcoxon signed-rank
    test; ``auroc`` is still the unpaired ``P(group > ref)`` over the paired samples.
    ``g_kind`` says which standardised difference ``hedges_g`` is (``"g"`` unpaired, ``"g_z"``
    paired). Beside it, ``g_av`` (with ``g_av_se``, ``g_av_ci_low``, ``g_av_ci_high``) is the
    **average-SD standardised** difference, comparable with an unpaired g: for paired rows
    ``J * mean(d) / sqrt((sd_group^2 + sd_ref^2) / 2)`` with ``J`` on ``n - 1`` df
    (:func:`~mgtranscript._stats.hedges_g_av`); for unpaired rows it equals ``hedges_g``.
    ``g_z`` is ``g_av`` divided by ``sqrt(2 (1 - r))`` (r: the correlation of the pairs), so
    with strongly correlated pairs it is much larger, and with weakly correlated ones smaller,
    than the g of the same difference measured in two independent groups: compare and pool
    paired with unpaired cohorts on ``g_av``.

    Parameters
    ----------
    adata
        AnnData, samples x genes.
    groupby
        ``obs`` column with the conditions. Samples with a missing value are dropped and
        counted in ``n_missing``.
    reference
        Reference level. Default: ``uns["labels"]["reference"]`` (catalog cohorts) when
        ``groupby="condition"``, else the first category of a categorical column.
    groups
        Levels to compare with the reference (default: all others except ``"unlabelled"``,
        in categorical / ``uns["labels"]["condition_order"]`` order, else sorted).
    keys
        ``obsm`` keys holding samples x sets DataFrames (as written by ``tl.score``) and/or
        numeric ``obs`` columns. Default (when ``genes`` is also None): every DataFrame in
        ``obsm``.
    genes
        ``var_names`` whose values (from ``X`` or ``layer``) are compared one by one.
    layer
        Layer for ``genes`` (default ``X``; use log-scale expression).
    paired_by
        ``obs`` column identifying matched samples (e.g. ``"pair_id"``).
    covariates
        Optional ``obs`` columns (numeric as is, categorical as 0/1 indicators with the
        first level dropped), genes or ``"<obsm key>:<column>"`` scores, e.g. age, sex
        or the ``composition_*`` cell-type scores of :func:`mgtranscript.tl.composition`.
        The table then also holds the covariate-adjusted difference
        (:data:`ADJUSTED_COLUMNS`), by ordinary least squares:

        * unpaired: ``feature ~ 1 + [group] + covariates`` on the ``group`` and
          ``reference`` samples with complete values; ``adj_diff`` is the coefficient of
          the group indicator (the difference in means at equal covariates);
        * paired: ``d_feature ~ 1 + d_covariates`` on the within-pair differences
          (group minus reference); ``adj_diff`` is the intercept (the mean within-pair
          difference at equal covariates). This equals the pair fixed-effect model
          ``feature ~ pair + [group] + covariates``; covariates that do not vary within
          pairs (e.g. sex) drop out, as they must.

        ``adj_se`` is the OLS standard error, ``adj_ci_low``/``adj_ci_high`` the 95%
        t interval on ``adj_df`` residual degrees of freedom, ``adj_pval`` the two-sided
        t-test (all as R ``summary(lm(...))`` / ``confint``), ``adj_qval`` BH over the
        table, ``adj_n`` the samples (pairs) used, ``adjusted_for`` the covariate columns
        that entered (``;`` joined). A group indicator collinear with the covariates
        (e.g. all cases male, all controls female with sex as covariate) gives NaN and a
        note. ``adj_g`` (``adj_g_se``, ``adj_g_ci_low``, ``adj_g_ci_high``) is the
        **regression-adjusted standardised difference**: ``J * adj_diff / s`` with the
        unadjusted standardiser ``s`` and ``J`` of the row's g (pooled SD for unpaired rows,
        the average SD of ``g_av`` for paired ones), so that it is on the scale of
        ``hedges_g`` / ``g_av`` and moves only with the adjusted mean difference; its CI is
        ``adj_g +/- t(adj_df) * J * adj_se / s``, its p-value ``adj_pval``. Without
        ``covariates`` the table is exactly as before.
    key_added
        Where the results go: ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy when ``copy=True``). The table (columns
    :data:`COMPARE_COLUMNS`) is in ``uns[key_added]["table"]``: read it with
    :func:`mgtranscript.get.compare` ``(adata, key_added)``. ``qval``/``u_qval`` are
    Benjamini-Hochberg over all rows of the table (the t and U p-values respectively).

    Raises
    ------
    InputDataError
        Unknown columns, groups or reference (the message lists the available ones).
    """
    adata = start(adata, "compare", key_added=key_added, copy=copy)
    labels = _labels(adata, groupby)
    n_missing = int(labels.isna().sum())
    levels = sorted(set(labels.dropna()))
    if reference is None:
        reference = _default_reference(adata, groupby, levels)
    reference = str(reference)
    if reference not in levels:
        raise InputDataError(f"reference {reference!r} is not a level of obs[{groupby!r}]; available: {levels}.")
    if groups is None:
        groups = [lv for lv in _level_order(adata, groupby, levels) if lv != reference and lv != _UNLABELLED]
    else:
        groups = [str(g) for g in _as_list(groups)]
        unknown = [g for g in groups if g not in levels]
        if unknown:
            raise InputDataError(f"groups {unknown} are not levels of obs[{groupby!r}]; available: {levels}.")
        if reference in groups:
            raise InputDataError(f"the reference {reference!r} cannot also be in groups.")
    if not groups:
        raise InputDataError(f"No group to compare with {reference!r} in obs[{groupby!r}] (levels: {levels}).")
    feats = _features(adata, keys, genes, layer)
    lab = labels.to_numpy(dtype=object)
    rows = []
    pairs = None
    if paired_by is not None:
        pairs = _labels(adata, paired_by).to_numpy(dtype=object)
    cov_names = _as_list(covariates)
    Zdf = None
    if cov_names:
        Zdf, _ = covariate_frame(adata, cov_names, layer=layer)
    values = np.vstack([vals for *_, vals in feats]) if pairs is None and feats else None
    for grp in groups:
        if pairs is None:
            ig = np.flatnonzero(lab == grp)
            ir = np.flatnonzero(lab == reference)
            extra_note = ""
            tested = _unpaired_tests(values, ig, ir)
        else:
            ig, ir, n_bad = _complete_pairs(lab, pairs, grp, reference)
            extra_note = f"{n_bad} samples without a complete pair dropped" if n_bad else ""
        for k, (feature, kind, source, vals) in enumerate(feats):
            if pairs is None:
                row = _unpaired_row(vals[ig], vals[ir], tested.get(k))
            else:
                row = _paired_row(vals[ig], vals[ir])
            if Zdf is not None:
                adj = _adjusted(vals, Zdf, ig, ir, paired=pairs is not None)
                row.update({k: v for k, v in adj.items() if k != "note"})
                row.update(_adjusted_g(adj, row.get("_sd", np.nan), row.get("_j", np.nan)))
                if adj["note"]:
                    row["note"] = "; ".join(n for n in (row["note"], adj["note"]) if n)
            notes = [n for n in (row["note"], extra_note) if n]
            row.update(
                feature=feature, kind=kind, source=source, groupby=groupby, group=grp, reference=reference,
                contrast=f"{groupby}:{grp}|{reference}", paired=pairs is not None, n_missing=n_missing,
                note="; ".join(notes),
            )  # fmt: skip
            rows.append(row)
    table = pd.DataFrame(rows).drop(columns=["_sd", "_j"], errors="ignore")
    table["qval"] = bh_adjust(table["t_pval"].to_numpy(dtype=float))
    table["u_qval"] = bh_adjust(table["u_pval"].to_numpy(dtype=float))
    if Zdf is not None:
        table["adj_qval"] = bh_adjust(table["adj_pval"].to_numpy(dtype=float))
        table = table[COMPARE_COLUMNS + ADJUSTED_COLUMNS]
        table["adj_n"] = table["adj_n"].astype(int)
    else:
        table = table[COMPARE_COLUMNS]
    for c in ("n_group", "n_ref", "n", "n_missing"):
        table[c] = table[c].astype(int)
    if n_missing:
        logger.info("compare: %d samples with missing %s dropped", n_missing, groupby)
    params = {
        "groupby": groupby, "reference": reference, "groups": list(groups), "keys": _as_list(keys),
        "genes": _as_list(genes), "layer": layer or "X", "paired_by": paired_by or "", "n_missing": n_missing,
        "covariates": cov_names,
    }  # fmt: skip
    store(adata, key_added, "compare", params, table=table)
    return finish(adata, copy)


def _ols(y: np.ndarray, X: np.ndarray, coef: int):
    """OLS coefficient ``coef`` of ``y ~ X`` -> ``(estimate, se, p, df, kept columns)``.

    Columns other than ``coef`` that are linear combinations of earlier ones are dropped
    (as R ``lm`` reports them NA); None when ``coef`` itself is aliased or no df is left.
    """
    basis: list[int] = []
    for j in range(X.shape[1]):
        if j != coef and np.linalg.matrix_rank(X[:, basis + [j]]) == len(basis) + 1:
            basis.append(j)
    if np.linalg.matrix_rank(X[:, basis + [coef]]) < len(basis) + 1:
        return None
    cols = sorted(basis + [coef])
    X = X[:, cols]
    k = cols.index(coef)
    n, p = X.shape
    df = n - p
    if df < 1:
        return None
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ (X.T @ y)
    resid = y - X @ beta
    s2 = float(resid @ resid) / df
    se = float(np.sqrt(s2 * XtX_inv[k, k]))
    est = float(beta[k])
    if se == 0:
        return est, 0.0, (0.0 if est != 0 else np.nan), df, cols
    return est, se, float(2 * stats.t.sf(abs(est / se), df)), df, cols


def _adjusted(vals: np.ndarray, Zdf: pd.DataFrame, ig: np.ndarray, ir: np.ndarray, *, paired: bool) -> dict:
    """The covariate-adjusted difference of one feature (see ``compare(covariates=...)``)."""
    Z = Zdf.to_numpy(dtype=float)
    names = np.array(Zdf.columns, dtype=object)
    out = {"adj_diff": np.nan, "adj_se": np.nan, "adj_ci_low": np.nan, "adj_ci_high": np.nan, "adj_pval": np.nan,
           "adj_df": np.nan, "adj_n": 0, "adjusted_for": "", "note": ""}  # fmt: skip
    if paired:
        ok = np.isfinite(vals[ig]) & np.isfinite(vals[ir]) & np.isfinite(Z[ig]).all(1) & np.isfinite(Z[ir]).all(1)
        yv = vals[ig][ok] - vals[ir][ok]
        D = Z[ig][ok] - Z[ir][ok]
        used = np.ptp(D, axis=0) > 0 if D.shape[0] else np.zeros(D.shape[1], bool)
        X = np.column_stack([np.ones(yv.size), D[:, used]])
        coef, first = 0, 1
    else:
        idx = np.concatenate([ig, ir])
        grp = np.r_[np.ones(ig.size), np.zeros(ir.size)]
        ok = np.isfinite(vals[idx]) & np.isfinite(Z[idx]).all(1)
        yv = vals[idx][ok]
        Zs = Z[idx][ok]
        used = np.ptp(Zs, axis=0) > 0 if Zs.shape[0] else np.zeros(Zs.shape[1], bool)
        X = np.column_stack([np.ones(yv.size), grp[ok], Zs[:, used]])
        coef, first = 1, 2
    out["adj_n"] = int(yv.size)
    res = _ols(yv, X, coef) if yv.size else None
    if res is None:
        out["adjusted_for"] = ";".join(map(str, names[used]))
        out["note"] = "adjusted difference not estimable (too few samples or group collinear with covariates)"
        return out
    est, se, p, df, cols = res
    out["adjusted_for"] = ";".join(str(names[used][j - first]) for j in cols if j >= first)
    tq = float(stats.t.ppf(0.975, df))
    out.update(adj_diff=est, adj_se=se, adj_ci_low=est - tq * se, adj_ci_high=est + tq * se, adj_pval=p, adj_df=df)
    return out


def _adjusted_g(adj: dict, sd: float, j: float) -> dict:
    """The adjusted difference standardised like the row's g: ``J * adj_diff / sd``."""
    out = dict.fromkeys(("adj_g", "adj_g_se", "adj_g_ci_low", "adj_g_ci_high"), np.nan)
    est, se, df = adj.get("adj_diff", np.nan), adj.get("adj_se", np.nan), adj.get("adj_df", np.nan)
    if not (np.isfinite(est) and np.isfinite(sd) and sd > 0 and np.isfinite(j) and np.isfinite(df)):
        return out
    g, g_se = j * est / sd, j * se / sd
    tq = float(stats.t.ppf(0.975, df))
    out.update(adj_g=g, adj_g_se=g_se, adj_g_ci_low=g - tq * g_se, adj_g_ci_high=g + tq * g_se)
    return out


def _complete_pairs(lab, pairs, grp, reference) -> tuple[np.ndarray, np.ndarray, int]:
    """Indices (group, reference) of complete pairs, aligned; and the number of dropped samples."""
    ig, ir = [], []
    cand = np.flatnonzero(((lab == grp) | (lab == reference)) & np.array([p is not None for p in pairs]))
    by_pair: dict[str, list[int]] = {}
    for i in cand:
        by_pair.setdefault(pairs[i], []).append(i)
    used = 0
    for members in by_pair.values():
        g = [i for i in members if lab[i] == grp]
        r = [i for i in members if lab[i] == reference]
        if len(g) == 1 and len(r) == 1:
            ig.append(g[0])
            ir.append(r[0])
            used += 2
    n_all = int(((lab == grp) | (lab == reference)).sum())
    return np.array(ig, dtype=int), np.array(ir, dtype=int), n_all - used

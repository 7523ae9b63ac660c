"""Shared statistical helpers for :mod:`mgtranscript.tl` (compare, trend, de, meta).

Everything here is plain NumPy/SciPy on arrays; no AnnData.  Each helper documents the
exact formula it implements so that results can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from .errors import InputDataError

__all__ = [
    "bh_adjust",
    "hedges_j",
    "hedges_g",
    "hedges_g_paired",
    "hedges_g_av",
    "auroc",
    "jonckheere_terpstra",
    "Z_95",
]

#: two-sided 95% normal quantile, ``scipy.stats.norm.ppf(0.975)``.
Z_95 = float(stats.norm.ppf(0.975))


def bh_adjust(pvals: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (as R ``p.adjust(p, "BH")``).

    ``scipy.stats.false_discovery_control(p, method="bh")`` on the finite p-values: NaN
    (or infinite) p-values are left out, stay NaN and do not count towards the number of
    tests ``m``.

    Parameters
    ----------
    pvals
        Raw p-values in ``[0, 1]`` (rounding overshoots up to 1e-12 are clipped), any
        shape (shape preserved on output).

    Returns
    -------
    Adjusted p-values, same shape as the input, in ``[0, 1]``.

    Raises
    ------
    InputDataError
        A finite p-value outside ``[0, 1]``.
    """
    p = np.asarray(pvals, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    pv = p[ok]
    if pv.min() < 0 or pv.max() > 1 + 1e-12:
        raise InputDataError(
            f"p-values must lie in [0, 1]; got values from {pv.min():.3g} to {pv.max():.3g}."
        )
    out[ok] = stats.false_discovery_control(np.minimum(pv, 1.0), method="bh")
    return out


def hedges_j(df: float) -> float:
    """Small-sample correction ``J = 1 - 3 / (4 df - 1)`` (Hedges 1981 approximation)."""
    return 1.0 - 3.0 / (4.0 * df - 1.0) if df > 0.25 else np.nan


def hedges_g(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Hedges' g of ``x`` (group) versus ``y`` (reference) with a 95% CI.

    ``d = (mean(x) - mean(y)) / s_pooled`` with the pooled SD on ``n_x + n_y - 2`` df,
    ``g = J d`` with ``J = 1 - 3 / (4 (n_x + n_y) - 9)``, and the Hedges & Olkin (1985)
    large-sample variance ``v = (n_x + n_y) / (n_x n_y) + g^2 / (2 (n_x + n_y))``;
    CI = ``g +/- 1.959964 sqrt(v)``.

    Returns
    -------
    ``(g, se, ci_low, ci_high)``; all NaN when either group has < 2 values or the
    pooled SD is 0.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n1, n2 = x.size, y.size
    if n1 < 2 or n2 < 2:
        return (np.nan,) * 4
    s2 = ((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2)
    if not s2 > 0:
        return (np.nan,) * 4
    d = (x.mean() - y.mean()) / np.sqrt(s2)
    g = hedges_j(n1 + n2 - 2) * d
    v = (n1 + n2) / (n1 * n2) + g * g / (2.0 * (n1 + n2))
    se = float(np.sqrt(v))
    return float(g), se, float(g - Z_95 * se), float(g + Z_95 * se)


def hedges_g_paired(diff: np.ndarray) -> tuple[float, float, float, float]:
    """Paired standardised mean difference ``g_z`` of within-pair differences.

    ``d_z = mean(diff) / sd(diff)`` (Cohen's d_z), ``g_z = J d_z`` with
    ``J = 1 - 3 / (4 (n - 1) - 1)``, variance ``v = 1 / n + g_z^2 / (2 n)`` (the
    one-sample Hedges & Olkin variance, ``n`` = number of pairs); CI = ``g_z +/- 1.96 sqrt(v)``.

    Returns
    -------
    ``(g_z, se, ci_low, ci_high)``; all NaN with < 2 pairs or zero SD of differences.
    """
    d = np.asarray(diff, dtype=float)
    n = d.size
    if n < 2:
        return (np.nan,) * 4
    sd = d.std(ddof=1)
    if not sd > 0:
        return (np.nan,) * 4
    g = hedges_j(n - 1) * d.mean() / sd
    se = float(np.sqrt(1.0 / n + g * g / (2.0 * n)))
    return float(g), se, float(g - Z_95 * se), float(g + Z_95 * se)


def hedges_g_av(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Average-SD standardised mean difference ``g_av`` of paired samples, with a 95% CI.

    ``d_av = mean(x - y) / s_av`` with ``s_av = sqrt((sd(x)^2 + sd(y)^2) / 2)`` (Cumming
    2012; the standardiser of an unpaired g, so ``g_av`` is comparable with it), ``g_av = J
    d_av`` with ``J = 1 - 3 / (4 (n - 1) - 1)``. Variance by the delta method for bivariate
    normal pairs with correlation ``r``: ``v = J^2 [sd(x - y)^2 / (n s_av^2) + d_av^2 (1 + r^2)
    / (4 (n - 1))]`` (the first term is the sampling variance of the mean difference, the
    second that of ``s_av``, whose two variances are correlated by ``r^2``); CI =
    ``g_av +/- 1.959964 sqrt(v)``.

    Returns
    -------
    ``(g_av, se, ci_low, ci_high)``; all NaN with < 3 pairs or zero SDs.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    if n < 3 or y.size != n:
        return (np.nan,) * 4
    s_av = np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2.0)
    sd_d = (x - y).std(ddof=1)
    if not s_av > 0:
        return (np.nan,) * 4
    d = (x - y).mean() / s_av
    j = hedges_j(n - 1)
    r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
    v = j * j * (sd_d**2 / (n * s_av**2) + d * d * (1.0 + r * r) / (4.0 * (n - 1)))
    g = j * d
    se = float(np.sqrt(v))
    return float(g), se, float(g - Z_95 * se), float(g + Z_95 * se)


def auroc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve ``P(X > Y) + 0.5 P(X = Y)`` (``x`` = group, ``y`` = reference).

    Equals the Mann-Whitney ``U_x / (n_x n_y)``. NaN when either sample is empty.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size == 0 or y.size == 0:
        return np.nan
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = ranks[: x.size].sum() - x.size * (x.size + 1) / 2.0
    return float(u / (x.size * y.size))


def jonckheere_terpstra(values: np.ndarray, groups: np.ndarray) -> tuple[float, float, float, float]:
    """Jonckheere-Terpstra test for an ordered alternative, normal approximation.

    ``statsmodels.stats.nonparametric.jonckheere_terpstra`` (two-sided) on the groups
    ordered by their codes in ``groups`` (0, 1, 2, ...; empty codes skipped).
    ``J = sum_{i<j} #{(a in group i, b in group j): a < b} + 0.5 #{a = b}``,
    ``E[J] = (N^2 - sum n_i^2) / 4`` and the exact permutation variance with ties
    (Hollander & Wolfe 1999, eq. 6.19; Kendall's tie-corrected variance of S / 4)::

        Var = [N(N-1)(2N+5) - sum n_i(n_i-1)(2n_i+5) - sum t_k(t_k-1)(2t_k+5)] / 72
              + [sum n_i(n_i-1)(n_i-2)] [sum t_k(t_k-1)(t_k-2)] / [36 N(N-1)(N-2)]
              + [sum n_i(n_i-1)] [sum t_k(t_k-1)] / [8 N(N-1)]

    with ``t_k`` the sizes of the tie groups among all values.  ``z = (J - E) / sqrt(Var)``,
    two-sided ``p = 2 (1 - Phi(|z|))`` (no continuity correction).

    Parameters
    ----------
    values
        Observations (finite).
    groups
        Integer group order codes, same length.

    Returns
    -------
    ``(J, z, p_two_sided, var)``; all NaN with fewer than two non-empty groups;
    ``(J, NaN, NaN, 0)`` when every value is tied (Var = 0).
    """
    from statsmodels.stats.nonparametric import jonckheere_terpstra as sm_jt

    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    if v.shape != g.shape or v.ndim != 1:
        raise InputDataError("jonckheere_terpstra: values and groups must be 1-D and of the same length.")
    if not np.isfinite(v).all():
        raise InputDataError("jonckheere_terpstra: values must be finite; drop missing values first.")
    levels = np.unique(g)
    if levels.size < 2:
        return (np.nan,) * 4
    samples = [v[g == lv] for lv in levels]
    if np.unique(v).size < 2:  # statsmodels refuses a zero variance; J is still defined
        n_i = np.array([s.size for s in samples], dtype=float)
        jstat = float(sum(n_i[a] * n_i[b] for a in range(n_i.size) for b in range(a + 1, n_i.size))) / 2.0
        return jstat, np.nan, np.nan, 0.0
    res = sm_jt(samples, alternative="two-sided")
    return float(res.statistic), float(res.zstat), float(res.pvalue), float(res.var_null)


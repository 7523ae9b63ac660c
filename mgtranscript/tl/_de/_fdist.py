"""Scaled-F prior fits of limma's empirical Bayes (``squeezeVar``), ported from limma 3.54:
``fitFDist`` (moment estimation with ``trigammaInverse``; optional natural-spline trend on a
covariate) and ``fitFDistRobustly`` (Winsorized log-F moments, no covariate)."""

from __future__ import annotations

import logging

import numpy as np
from scipy import special, stats

from ...errors import InputDataError

logger = logging.getLogger(__name__)


def trigamma_inverse(x: np.ndarray) -> np.ndarray:
    """Inverse of the trigamma function, as limma's ``trigammaInverse`` (Newton iteration).

    Same starting value (``0.5 + 1/x``), step, tolerance (``1e-8``) and asymptotes
    (``x > 1e7 -> 1/sqrt(x)``, ``x < 1e-6 -> 1/x``) as limma 3.54.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.full(x.shape, np.nan)
    neg = x < 0
    big = x > 1e7
    small = x < 1e-6
    y[big] = 1.0 / np.sqrt(x[big])
    y[small & ~neg] = 1.0 / x[small & ~neg]
    todo = np.isfinite(x) & ~neg & ~big & ~small
    if todo.any():
        xt = x[todo]
        yt = 0.5 + 1.0 / xt
        for _ in range(51):
            tri = special.polygamma(1, yt)
            dif = tri * (1.0 - tri / xt) / special.polygamma(2, yt)
            yt = yt + dif
            if np.max(-dif / yt) < 1e-8:
                break
        else:  # pragma: no cover - limma warns too
            logger.warning("trigamma_inverse: iteration limit exceeded")
        y[todo] = yt
    return y


def fit_f_dist(x: np.ndarray, df1: np.ndarray, covariate: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Moment estimation of a scaled F distribution, as limma 3.54 ``fitFDist``.

    Returns
    -------
    ``(scale, df2)``: the prior variance (length ``len(x)`` when a covariate is given,
    else a length-1 array) and the prior degrees of freedom (may be ``inf``).
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    df1 = np.broadcast_to(np.asarray(df1, dtype=float), (n,)).copy()
    if n == 0:
        return np.array([np.nan]), np.nan
    if n == 1:
        return x.copy(), 0.0
    ok = np.isfinite(df1) & (df1 > 1e-15)
    cov = None
    if covariate is not None:
        cov = np.asarray(covariate, dtype=float).copy()
        if cov.size != n:
            raise ValueError("covariate and x must be of the same length")
        fin = np.isfinite(cov)
        if not fin.all():
            if fin.any():
                cov[cov == -np.inf] = cov[fin].min() - 1
                cov[cov == np.inf] = cov[fin].max() + 1
            else:
                cov = np.sign(cov)
    ok &= np.isfinite(x) & (x > -1e-15)
    nok = int(ok.sum())
    if nok == 1:
        return x[ok], 0.0
    xs, d1 = x[ok], df1[ok]
    if cov is not None:
        splinedf = 1 + (nok >= 3) + (nok >= 6) + (nok >= 30)
        splinedf = min(splinedf, np.unique(cov[ok]).size)
        if splinedf < 2:
            scale, df2 = fit_f_dist(xs, d1)
            return np.full(n, scale[0]), df2
    xs = np.maximum(xs, 0)
    m = float(np.median(xs))
    if m == 0:
        logger.warning("More than half of residual variances are exactly zero: eBayes unreliable")
        m = 1.0
    elif (xs == 0).any():
        logger.warning("Zero sample variances detected, have been offset away from zero")
    xs = np.maximum(xs, 1e-5 * m)
    e = np.log(xs) - special.digamma(d1 / 2) + np.log(d1 / 2)
    if cov is None:
        emean = float(e.mean())
        evar = float(((e - emean) ** 2).sum() / (nok - 1))
    else:
        # fit on the ok points; evaluate the spline (linear beyond the range) at all points
        # knots come from the ok points (as R's ns on covariate[ok]); predicted at all points
        basis_ok, basis_all = _ns_fit_predict(cov[ok], cov, splinedf)
        coef, *_ = np.linalg.lstsq(basis_ok, e, rcond=None)
        fitted = basis_ok @ coef
        rank = np.linalg.matrix_rank(basis_ok)
        evar = float(((e - fitted) ** 2).sum() / (nok - rank))
        emean = basis_all @ coef
    evar = evar - float(np.mean(special.polygamma(1, d1 / 2)))
    if evar > 0:
        df2 = float(2 * trigamma_inverse(np.array([evar]))[0])
        s20 = np.exp(emean + special.digamma(df2 / 2) - np.log(df2 / 2))
    else:
        df2 = np.inf
        s20 = np.float64(xs.mean()) if cov is None else np.exp(emean)
    return np.atleast_1d(np.asarray(s20, dtype=float)), df2


def _ns_fit_predict(x_fit: np.ndarray, x_all: np.ndarray, df: int) -> tuple[np.ndarray, np.ndarray]:
    """Natural-spline basis with knots from ``x_fit``, evaluated at ``x_fit`` and ``x_all``.

    Spans the same space as R's ``splines::ns(x_fit, df=df, intercept=TRUE)``: boundary
    knots = ``range(x_fit)``, ``df - 2`` interior knots at quantiles ``(1..df-2)/(df-1)``
    (type 7).  The basis itself is the truncated-power form (ESL eq. 5.4-5.5) on ``x``
    rescaled to [0, 1], so least-squares fitted values and residuals equal R's.  Outside the boundary knots natural splines are linear, which the truncated-power form
    reproduces when evaluated there (as R's ``predict.ns``).
    """
    lo, hi = float(x_fit.min()), float(x_fit.max())
    scale = hi - lo if hi > lo else 1.0
    n_inner = df - 2
    probs = np.arange(1, n_inner + 1) / (n_inner + 1)
    inner = (np.quantile(x_fit, probs) - lo) / scale if n_inner > 0 else np.array([])
    knots = np.concatenate([[0.0], inner, [1.0]])

    def make(x: np.ndarray) -> np.ndarray:
        u = (np.asarray(x, dtype=float) - lo) / scale
        last = knots[-1]

        def d(k: float) -> np.ndarray:
            return (np.clip(u - k, 0, None) ** 3 - np.clip(u - last, 0, None) ** 3) / (last - k)

        cols = [np.ones_like(u), u]
        d_prev = d(knots[-2])
        for k in knots[: len(knots) - 2]:
            cols.append(d(k) - d_prev)
        return np.column_stack(cols)

    return make(x_fit), make(x_all)


# ---------------------------------------------------------------------------------------
# limma fitFDistRobustly (robust empirical Bayes)
# ---------------------------------------------------------------------------------------


def _f_logsf(x, d1, d2):
    return stats.chi2.logsf(x * d1, d1) if np.isinf(d2) else stats.f.logsf(x, d1, d2)


def _f_logcdf(x, d1, d2):
    return stats.chi2.logcdf(x * d1, d1) if np.isinf(d2) else stats.f.logcdf(x, d1, d2)


def _f_ppf(p, d1, d2):
    p = np.asarray(p, dtype=float)
    return stats.chi2.ppf(p, d1) / d1 if np.isinf(d2) else stats.f.ppf(p, d1, d2)


def _f_isf(p, d1, d2):
    p = np.asarray(p, dtype=float)
    return stats.chi2.isf(p, d1) / d1 if np.isinf(d2) else stats.f.isf(p, d1, d2)


def _f_pdf(x, d1, d2):
    return stats.chi2.pdf(x * d1, d1) * d1 if np.isinf(d2) else stats.f.pdf(x, d1, d2)


_GQ_NODES, _GQ_WEIGHTS = np.polynomial.legendre.leggauss(128)
_GQ_NODES = (_GQ_NODES + 1.0) / 2.0  # statmod::gauss.quad.prob(128, "uniform") on [0, 1]
_GQ_WEIGHTS = _GQ_WEIGHTS / 2.0


def _winsorized_moments(df1: float, df2: float, tail_p: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the Winsorized log-F distribution (limma, by Gauss quadrature)."""
    fq = _f_ppf(np.array([tail_p[0], 1 - tail_p[1]]), df1, df2)
    zq = np.log(fq)
    q = fq / (1 + fq)
    nodes = q[0] + (q[1] - q[0]) * _GQ_NODES
    fnodes = nodes / (1 - nodes)
    znodes = np.log(fnodes)
    f = _f_pdf(fnodes, df1, df2) / (1 - nodes) ** 2
    q21 = q[1] - q[0]
    m = q21 * np.sum(_GQ_WEIGHTS * f * znodes) + np.sum(zq * tail_p)
    v = q21 * np.sum(_GQ_WEIGHTS * f * (znodes - m) ** 2) + np.sum((zq - m) ** 2 * tail_p)
    return float(m), float(v)


def fit_f_dist_robustly(
    x: np.ndarray, df1: np.ndarray, winsor_tail_p: tuple[float, float] = (0.05, 0.1)
) -> tuple[np.ndarray, float, np.ndarray]:
    """limma 3.54 ``fitFDistRobustly`` without a covariate (``eBayes(robust=TRUE)``).

    Returns
    -------
    ``(scale, df2, df2_shrunk)``: prior variance (length-1 array), prior df and the
    per-gene shrunk prior df (smaller for outlier variances).
    """
    from scipy import optimize

    x = np.asarray(x, dtype=float).copy()
    n = x.size
    df1 = np.broadcast_to(np.asarray(df1, dtype=float), (n,)).copy()
    if n < 2:
        return np.array([np.nan]), np.nan, np.full(n, np.nan)
    if n == 2:
        scale, df2 = fit_f_dist(x, df1)
        return scale, df2, np.full(n, df2)
    ok = ~np.isnan(x) & np.isfinite(df1) & (df1 > 1e-6)
    if not ok.all():
        scale, df2, shrunk_ok = fit_f_dist_robustly(x[ok], df1[ok], winsor_tail_p)
        shrunk = x.copy()
        shrunk[ok] = shrunk_ok
        shrunk[~ok] = df2
        return scale, df2, shrunk
    m = float(np.median(x))
    if m <= 0:
        raise InputDataError("Variances are mostly <= 0: robust empirical Bayes is not possible.")
    small = x < m * 1e-12
    if small.any():
        logger.warning("%d very small variances detected, have been offset away from zero", int(small.sum()))
        x[small] = m * 1e-12
    nr_scale, nr_df2 = fit_f_dist(x, df1)
    tail_p = np.resize(np.asarray(winsor_tail_p, dtype=float), 2)
    prob = np.array([tail_p[0], 1 - tail_p[1]])
    if np.all(tail_p < 1 / n):
        return nr_scale, nr_df2, np.full(n, nr_df2)
    df1max = df1.max()
    i = df1 < (df1max - 1e-14)
    if i.any():
        s = nr_scale[0]
        f = x[i] / s
        pupper = _f_logsf(f, df1[i], nr_df2)
        plower = _f_logcdf(f, df1[i], nr_df2)
        up = pupper < plower
        f[up] = _f_isf(np.exp(pupper[up]), df1max, nr_df2)
        f[~up] = _f_ppf(np.exp(plower[~up]), df1max, nr_df2)
        x[i] = f * s
    d1 = float(df1max)
    z = np.log(x)
    ztrend = float(stats.trim_mean(z, tail_p[1]))
    zresid = z - ztrend
    zrq = np.quantile(zresid, prob)
    zwins = np.clip(zresid, zrq[0], zrq[1])
    zwmean = zwins.mean()
    zwvar = np.mean((zwins - zwmean) ** 2) * n / (n - 1)
    mom_inf = _winsorized_moments(d1, np.inf, tail_p)
    funval_inf = np.log(zwvar / mom_inf[1])
    if funval_inf <= 0:
        ztc = ztrend + zwmean - mom_inf[0]
        s20 = np.exp(ztc)
        fstat = np.exp(z - ztc)
        tailp = stats.chi2.sf(fstat * d1, d1)
        r = stats.rankdata(fstat)
        emp = (n - r + 0.5) / n
        p_not = np.minimum(tailp / emp, 1)
        shrunk = np.full(n, np.inf)
        o_mask = p_not < 1
        if o_mask.any():
            shrunk[o_mask] = p_not[o_mask] * n * d1
            o = np.argsort(tailp, kind="stable")
            shrunk[o] = np.maximum.accumulate(shrunk[o])
        return np.array([s20]), np.inf, shrunk

    def fun(u: float) -> float:  # on the link scale u = df2 / (1 + df2)
        if u >= 1:
            return float(funval_inf)
        return float(np.log(zwvar / _winsorized_moments(d1, u / (1 - u), tail_p)[1]))

    if np.isinf(nr_df2):
        return nr_scale, nr_df2, np.full(n, nr_df2)
    rbx = nr_df2 / (1 + nr_df2)
    funval_low = fun(rbx)
    if funval_low >= 0:
        df2 = nr_df2
    else:
        root = optimize.brentq(fun, rbx, 1.0, xtol=1e-14, rtol=1e-14)
        df2 = root / (1 - root)
    mom = _winsorized_moments(d1, df2, tail_p)
    ztc = ztrend + zwmean - mom[0]
    s20 = np.exp(ztc)
    fstat = np.exp(z - ztc)
    log_tailp = stats.f.logsf(fstat, d1, df2)
    r = stats.rankdata(fstat)
    log_emp = np.log(n - r + 0.5) - np.log(n)
    log_p_not = np.minimum(log_tailp - log_emp, 0)
    p_not = np.exp(log_p_not)
    p_out = -np.expm1(log_p_not)
    if (log_p_not < 0).any():
        min_log = log_tailp.min()
        if min_log == -np.inf:
            shrunk = p_not * df2
        else:
            df2_out = np.log(0.5) / min_log * df2
            new_log = stats.f.logsf(fstat.max(), d1, df2_out)
            df2_out = np.log(0.5) / new_log * df2_out
            shrunk = p_not * df2 + p_out * df2_out
        o = np.argsort(log_tailp, kind="stable")
        ordered = shrunk[o]
        mcum = np.cumsum(ordered) / np.arange(1, n + 1)
        imin = int(np.argmin(mcum))
        ordered[: imin + 1] = mcum[imin]
        shrunk = np.empty(n)
        shrunk[o] = np.maximum.accumulate(ordered)
    else:
        shrunk = np.full(n, df2)
    return np.array([s20]), float(df2), shrunk

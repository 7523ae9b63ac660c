"""The limma core of :func:`~mgtranscript.tl.de`: gene-wise linear models (``lmFit``,
:func:`lm_fit` -> :class:`LinearFit`) and the moderated t of empirical Bayes (``eBayes``,
:func:`ebayes`, with ``tmixture`` for the B statistic); the prior fits are in
``_fdist``. See ``_core`` for what is ported and how it
is tested against R limma 3.54."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ...errors import InputDataError
from ._fdist import fit_f_dist, fit_f_dist_robustly

logger = logging.getLogger(__name__)

__all__ = ["LinearFit", "lm_fit", "ebayes"]


@dataclass
class LinearFit:
    """Per-gene linear-model fit (the parts of limma's ``MArrayLM`` eBayes needs).

    Attributes
    ----------
    coefficients, stdev_unscaled
        genes x coefficients.
    sigma
        Residual SD per gene (NaN when no residual df).
    df_residual
        Residual degrees of freedom per gene.
    amean
        Average log-expression per gene (``rowMeans(y, na.rm=TRUE)``).
    design
        The design matrix (samples x coefficients).
    """

    coefficients: np.ndarray
    stdev_unscaled: np.ndarray
    sigma: np.ndarray
    df_residual: np.ndarray
    amean: np.ndarray
    design: np.ndarray


def _estimable_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Columns kept by R's ``lm.fit`` (dqrdc2 limited pivoting: drop columns that add no rank)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        cand = keep + [j]
        sub = X[:, cand]
        if np.linalg.matrix_rank(sub, tol=tol * max(1.0, np.abs(sub).max())) == len(cand):
            keep.append(j)
    return np.array(keep, dtype=int)


def lm_fit(
    y: np.ndarray, design: np.ndarray, weights: np.ndarray | None = None, *, coefs: Sequence[int] | None = None
) -> LinearFit:
    """Gene-wise linear models, as limma's ``lmFit`` (least squares, ``method="ls"``).

    Parameters
    ----------
    y
        genes x samples expression (log scale); NaN allowed (those genes are fitted on
        their observed samples, with fewer residual df).
    design
        samples x coefficients design matrix of full column rank.
    weights
        Optional genes x samples precision weights (e.g. from :func:`voom`).
    coefs
        With weights, compute ``stdev_unscaled`` only for these columns (others NaN);
        saves time for large designs (e.g. many pair dummies). Default: all.

    Returns
    -------
    :class:`LinearFit`
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(design, dtype=float)
    n_genes, n_samples = y.shape
    if X.shape[0] != n_samples:
        raise InputDataError(f"design has {X.shape[0]} rows but the data have {n_samples} samples.")
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise InputDataError(
            "The design matrix is not of full rank (a covariate or the pairing is confounded "
            "with the groups, or a covariate is constant). Drop the redundant covariate."
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != y.shape:
            raise InputDataError("weights must have the same shape as the expression matrix.")
        y = np.where(np.isfinite(weights) & (weights > 0), y, np.nan)
    with np.errstate(invalid="ignore"):
        amean = np.nanmean(y, axis=1) if np.isnan(y).any() else y.mean(axis=1)
    coef = np.full((n_genes, p), np.nan)
    su = np.full((n_genes, p), np.nan)
    sigma = np.full(n_genes, np.nan)
    dfr = np.zeros(n_genes)
    complete = np.isfinite(y).all(axis=1)
    idx = np.flatnonzero(complete)
    if idx.size:
        yc = y[idx]
        df = n_samples - p
        if weights is None:
            q, r = np.linalg.qr(X)
            beta = np.linalg.solve(r, q.T @ yc.T).T
            rinv = np.linalg.inv(r)
            su_row = np.sqrt((rinv**2).sum(axis=1))
            coef[idx] = beta
            su[idx] = su_row
            resid = yc - beta @ X.T
            rss = (resid**2).sum(axis=1)
        else:
            rss = np.empty(idx.size)
            cols = np.arange(p) if coefs is None else np.asarray(list(coefs), dtype=int)
            eye = np.eye(p)[:, cols]
            # normal equations X'WX b = X'Wy per gene, built with two matrix products:
            # X'WX = w @ [x_n x_n'] (samples x p^2). Chunked to bound memory.
            xx = (X[:, :, None] * X[:, None, :]).reshape(n_samples, p * p)
            chunk = max(1, int(2e7 // (p * p + n_samples)))
            for start in range(0, idx.size, chunk):
                sl = slice(start, start + chunk)
                w = weights[idx[sl]]
                yc_ = yc[sl]
                A = (w @ xx).reshape(-1, p, p)
                rhs = np.concatenate([((w * yc_) @ X)[:, :, None], np.broadcast_to(eye, (w.shape[0], p, cols.size))], axis=2)
                sol = np.linalg.solve(A, rhs)
                beta = sol[:, :, 0]
                coef[idx[sl]] = beta
                su[idx[sl][:, None], cols[None, :]] = np.sqrt(sol[:, cols, 1 + np.arange(cols.size)])
                resid = yc_ - beta @ X.T
                rss[sl] = (w * resid**2).sum(axis=1)
        dfr[idx] = df
        if df > 0:
            sigma[idx] = np.sqrt(rss / df)
    for g in np.flatnonzero(~complete):
        obs = np.isfinite(y[g])
        if not obs.any():
            continue
        Xo = X[obs]
        keep = _estimable_columns(Xo)
        Xk = Xo[:, keep]
        yo = y[g, obs]
        if weights is not None:
            sw = np.sqrt(weights[g, obs])
            Xk = Xk * sw[:, None]
            yo = yo * sw
        q, r = np.linalg.qr(Xk)
        b = np.linalg.solve(r, q.T @ yo)
        rinv = np.linalg.inv(r)
        coef[g, keep] = b
        su[g, keep] = np.sqrt((rinv**2).sum(axis=1))
        d = obs.sum() - keep.size
        dfr[g] = d
        if d > 0:
            sigma[g] = np.sqrt(((yo - Xk @ b) ** 2).sum() / d)
    return LinearFit(coef, su, sigma, dfr, amean, X)


# ---------------------------------------------------------------------------------------
# eBayes
# ---------------------------------------------------------------------------------------


def _tmixture(tstat: np.ndarray, su: np.ndarray, df: np.ndarray, proportion: float, v0_lim) -> float:
    """limma ``tmixture.vector``: prior variance of non-zero coefficients (for B)."""
    ok = ~np.isnan(tstat)
    tstat, su, df = np.abs(tstat[ok]), su[ok], df[ok].astype(float).copy()
    ngenes = tstat.size
    ntarget = int(np.ceil(proportion / 2 * ngenes))
    if ntarget < 1:
        return np.nan
    p = max(ntarget / ngenes, proportion)
    maxdf = df.max()
    i = df < maxdf
    if i.any():
        tail_logp = stats.t.logsf(tstat[i], df[i])
        tstat = tstat.copy()
        tstat[i] = stats.t.isf(np.exp(tail_logp), maxdf)
        df[i] = maxdf
    o = np.argsort(-tstat, kind="stable")[:ntarget]
    tstat = tstat[o]
    v1 = su[o] ** 2
    r = np.arange(1, ntarget + 1)
    p0 = 2 * stats.t.sf(tstat, maxdf)
    ptarget = ((r - 0.5) / ngenes - (1 - p) * p0) / p
    v0 = np.zeros(ntarget)
    pos = ptarget > p0
    if pos.any():
        qtarget = stats.t.isf(ptarget[pos] / 2, maxdf)
        v0[pos] = v1[pos] * ((tstat[pos] / qtarget) ** 2 - 1)
    if v0_lim is not None:
        v0 = np.minimum(np.maximum(v0, v0_lim[0]), v0_lim[1])
    return float(v0.mean())


_ROBUST_MSG = (
    "robust=True together with trend=True (limma's fitFDistRobustly with a covariate) is not "
    "implemented in mgtranscript; use one of them, or run limma in R."
)


def ebayes(
    fit: LinearFit,
    *,
    coef: int = 1,
    trend: bool = False,
    robust: bool = False,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
) -> dict[str, np.ndarray | float]:
    """Empirical-Bayes moderated t for one coefficient, as limma 3.54 ``eBayes``.

    Parameters
    ----------
    fit
        Output of :func:`lm_fit`.
    coef
        Column of the design to test (0-based; 1 = the group indicator in :func:`de`).
    trend
        Let the prior variance depend on the average log-expression (``eBayes(trend=TRUE)``).
    robust
        Robust hyperparameters (limma's ``fitFDistRobustly``): outlier variances get a
        smaller per-gene prior df. Not available together with ``trend``.
    proportion, stdev_coef_lim
        As limma, used only for the B statistic.

    Returns
    -------
    dict with ``t``, ``p_value``, ``lods`` (B), ``s2_post``, ``s2_prior``, ``df_prior``,
    ``df_total``, ``se`` (``stdev.unscaled * sqrt(s2.post)``).
    """
    if robust and trend:
        raise InputDataError(_ROBUST_MSG)
    df_res = np.asarray(fit.df_residual, dtype=float)
    if df_res.max() == 0:
        raise InputDataError(
            "No residual degrees of freedom in the linear model fits: each group needs "
            "more samples than the design has parameters (add samples or drop covariates)."
        )
    sigma = fit.sigma
    if not np.isfinite(sigma).any():
        raise InputDataError("No finite residual standard deviations: check the data for constant values/NaN.")
    var = sigma**2
    var = np.where(df_res == 0, 0.0, var)
    covariate = fit.amean if trend else None
    n = var.size
    if n == 1:
        s2_prior, df_prior = var.copy(), 0.0
    elif robust:
        s2_prior, _, df_prior = fit_f_dist_robustly(var, df_res)
    else:
        s2_prior, df_prior = fit_f_dist(var, df_res, covariate=covariate)
    df_prior = np.asarray(df_prior, dtype=float)
    if np.isnan(df_prior).any():
        raise InputDataError("Could not estimate the prior degrees of freedom (too few genes?).")
    s2p = np.broadcast_to(s2_prior, (n,)).astype(float)
    dfp = np.broadcast_to(df_prior, (n,))
    with np.errstate(invalid="ignore"):
        s2_post = np.where(np.isfinite(dfp), (df_res * var + dfp * s2p) / (df_res + dfp), s2p)
    b = fit.coefficients[:, coef]
    su = fit.stdev_unscaled[:, coef]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = b / su / np.sqrt(s2_post)
    df_total = np.minimum(df_res + df_prior, np.nansum(df_res))
    pval = 2 * stats.t.sf(np.abs(t), df_total)
    # B statistic
    var_prior_lim = np.array(stdev_coef_lim) ** 2 / np.median(s2p)
    var_prior = _tmixture(t, su, df_total, proportion, var_prior_lim)
    if np.isnan(var_prior):
        var_prior = 1.0 / s2p
        logger.warning("Estimation of var.prior failed - set to default value")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (su**2 + var_prior) / su**2
        t2 = t**2
        kernel = np.where(
            dfp > 1e6,
            t2 * (1 - 1 / r) / 2,
            (1 + df_total) / 2 * np.log((t2 + df_total) / (t2 / r + df_total)),
        )
        lods = np.log(proportion / (1 - proportion)) - np.log(r) / 2 + kernel
    return {
        "t": t,
        "p_value": pval,
        "lods": lods,
        "s2_post": s2_post,
        "s2_prior": np.asarray(s2_prior, dtype=float),
        "df_prior": float(df_prior) if df_prior.ndim == 0 else df_prior,
        "df_total": df_total,
        "se": su * np.sqrt(s2_post),
        "var_prior": var_prior,
    }

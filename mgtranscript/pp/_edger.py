"""Ports of edgeR 3.40 on count matrices (samples x genes, no AnnData): ``calcNormFactors``
(TMM, upper quartile, RLE; :func:`calc_norm_factors`) and the minimum group size of
``filterByExpr``. The AnnData-level functions that use them are in
:mod:`mgtranscript.pp._normalize`."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ..errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["calc_norm_factors"]


def _dense(m) -> np.ndarray:
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


_NORM_METHODS = ("TMM", "upperquartile", "RLE", "none")


def _norm_method(method: str | None) -> str:
    if method is None:
        return "none"
    for m in _NORM_METHODS:
        if isinstance(method, str) and method.lower() == m.lower():
            return m
    raise InputDataError(
        f"unknown normalisation method {method!r}; use one of {list(_NORM_METHODS)} "
        "(or None for plain library sizes)."
    )


def _as_count_matrix(counts) -> np.ndarray:
    if isinstance(counts, AnnData):
        raise InputDataError(
            "calc_norm_factors takes a samples x genes count matrix, not an AnnData; pass "
            "adata.layers['counts'] (or use mgtranscript.pp.log2_cpm, which stores the "
            "factors in obs['norm_factor'])."
        )
    m = _dense(counts)
    if m.ndim != 2:
        raise InputDataError(f"counts must be a 2-D samples x genes matrix, got shape {m.shape}.")
    m = m.astype(np.float64, copy=False)
    if np.isnan(m).any():
        raise InputDataError(
            f"{int(np.isnan(m).sum())} NaN count value(s); counts must be finite and >= 0. "
            "Remove or fix the affected genes before normalising."
        )
    if (~np.isfinite(m)).any() or (m < 0).any():
        bad = ~np.isfinite(m) | (m < 0)
        raise InputDataError(
            f"{int(bad.sum())} negative or infinite count value(s); counts must be finite and "
            ">= 0. These are not raw counts (log-scale data? use mgtranscript.pp.ensure_log)."
        )
    return m


def _r_quantile(x: np.ndarray, p: float, axis: int) -> np.ndarray:
    # R's default quantile (type 7) is numpy's "linear"
    return np.quantile(x, p, axis=axis, method="linear")


def _rank_window(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``lo <= rank <= hi`` for each value of ``x`` (finite), with ranks 1..n and ties given their
    average rank (R's ``rank``): the mask ``(rank >= lo) & (rank <= hi)`` of
    ``scipy.stats.rankdata(x, "average")``, found without sorting.

    Average ranks increase with the value, so the window is ``a <= x <= b``: ``a`` is the value
    at sorted position ``ceil(lo) - 1`` when its tie group's average rank reaches ``lo`` (a
    smaller value's group ends before that position, below ``lo``), else the next larger value
    (whose group starts after it); ``b`` likewise from position ``floor(hi) - 1``.
    """
    n = x.size
    k_lo, k_hi = max(0, int(np.ceil(lo)) - 1), min(n - 1, int(np.floor(hi)) - 1)
    if n == 0 or k_lo > n - 1 or k_hi < 0:
        return np.zeros(n, dtype=bool)
    part = np.partition(x, (k_lo, k_hi)) if k_lo != k_hi else np.partition(x, k_lo)
    v, w = part[k_lo], part[k_hi]

    def avg_rank(u: float) -> float:
        less = np.count_nonzero(x < u)
        return less + (np.count_nonzero(x == u) + 1) / 2.0

    if avg_rank(v) < lo:
        above = x[x > v]
        if not above.size:
            return np.zeros(n, dtype=bool)
        v = above.min()
    if avg_rank(w) > hi:
        below = x[x < w]
        if not below.size:
            return np.zeros(n, dtype=bool)
        w = below.max()
    return (x >= v) & (x <= w)


def _factor_tmm(
    obs: np.ndarray,
    ref: np.ndarray,
    n_obs: float,
    n_ref: float,
    *,
    logratio_trim: float,
    sum_trim: float,
    do_weighting: bool,
    a_cutoff: float,
) -> float:
    """TMM factor of one sample against the reference (edgeR ``.calcFactorTMM``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log2((obs / n_obs) / (ref / n_ref))
        abs_e = (np.log2(obs / n_obs) + np.log2(ref / n_ref)) / 2.0
        v = (n_obs - obs) / n_obs / obs + (n_ref - ref) / n_ref / ref
    fin = np.isfinite(log_r) & np.isfinite(abs_e) & (abs_e > a_cutoff)
    log_r, abs_e, v = log_r[fin], abs_e[fin], v[fin]
    if log_r.size == 0 or np.max(np.abs(log_r)) < 1e-6:
        return 1.0
    n = log_r.size
    lo_l = np.floor(n * logratio_trim) + 1
    hi_l = n + 1 - lo_l
    lo_s = np.floor(n * sum_trim) + 1
    hi_s = n + 1 - lo_s
    keep = _rank_window(log_r, lo_l, hi_l) & _rank_window(abs_e, lo_s, hi_s)
    if not keep.any():
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if do_weighting:  # R: sum(logR/v, na.rm=TRUE) / sum(1/v, na.rm=TRUE)
            num = log_r[keep] / v[keep]
            den = 1.0 / v[keep]
            f = np.sum(num[~np.isnan(num)]) / np.sum(den[~np.isnan(den)])
        else:
            f = np.mean(log_r[keep])
    if np.isnan(f):
        f = 0.0
    return float(2.0**f)


def calc_norm_factors(
    counts: np.ndarray | sparse.spmatrix | pd.DataFrame | AnnData,
    *,
    method: str | None = "TMM",
    lib_size=None,
    ref_column: int | None = None,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    do_weighting: bool = True,
    a_cutoff: float = -1e10,
    p: float = 0.75,
) -> np.ndarray:
    """Normalisation factors per sample, as edgeR's ``calcNormFactors``.

    Implements edgeR's trimmed mean of M-values (TMM, Robinson & Oshlack 2010): each
    sample is compared with a reference sample on the genes expressed in both; the
    log-ratios (M) are trimmed by ``logratio_trim`` at both ends and the average
    log-expression (A) by ``sum_trim``, and the remaining M values are averaged with
    inverse asymptotic-variance weights. The reference is the sample whose upper
    quartile (75 % quantile of ``counts / lib_size``) is closest to the mean upper
    quartile (or, when most upper quartiles are zero, the sample with the largest
    ``sum(sqrt(counts))``). Genes with zero counts in every sample are dropped first.
    The factors are scaled so that their product is one.

    Parameters
    ----------
    counts
        Raw counts, **samples x genes** (the AnnData orientation, i.e. the transpose
        of edgeR's genes x samples matrix); dense or scipy sparse.
    method
        ``"TMM"`` (default), ``"upperquartile"`` (``p`` quantile of ``counts / lib_size``),
        ``"RLE"`` (DESeq-style median ratio to the geometric mean, divided by library
        size) or ``"none"``/``None`` (all ones).
    lib_size
        Library sizes (default: per-sample sums of ``counts``); a scalar is recycled.
    ref_column
        0-based index of the reference sample for TMM (edgeR's ``refColumn``, which is
        1-based); chosen automatically when ``None``.
    logratio_trim, sum_trim, do_weighting, a_cutoff
        edgeR's ``logratioTrim``, ``sumTrim``, ``doWeighting``, ``Acutoff``.
    p
        Quantile for ``method="upperquartile"``.

    Returns
    -------
    Array of ``n_samples`` factors whose product is 1. The effective library size of
    sample ``i`` is ``lib_size[i] * factor[i]``.

    Raises
    ------
    InputDataError
        NaN, negative or infinite counts, bad ``lib_size`` or ``ref_column``, unknown
        ``method``.
    """
    method = _norm_method(method)
    x = _as_count_matrix(counts)
    n_samples = x.shape[0]
    if lib_size is None:
        lib = x.sum(axis=1)
    else:
        lib = np.atleast_1d(np.asarray(lib_size, dtype=np.float64)).ravel()
        if np.isnan(lib).any():
            raise InputDataError("lib_size contains NaN; pass finite library sizes or None.")
        if lib.size == 1:
            lib = np.repeat(lib, n_samples)
        elif lib.size != n_samples:
            raise InputDataError(
                f"lib_size has {lib.size} values but counts has {n_samples} samples (rows); "
                "counts must be samples x genes, with one library size per sample."
            )
    if n_samples == 0:
        return np.ones(0)
    key = _memo_key(x, lib, (method, ref_column, logratio_trim, sum_trim, do_weighting, a_cutoff, p))
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return hit.copy()
    f = _norm_factors(x, lib, method=method, ref_column=ref_column, logratio_trim=logratio_trim,
                      sum_trim=sum_trim, do_weighting=do_weighting, a_cutoff=a_cutoff, p=p)
    with _MEMO_LOCK:
        _MEMO[key] = f.copy()
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
    return f


#: Factors of the last count matrices seen (a run asks for the same matrix's factors several
#: times: the design audit of each contrast, the batch checks); keyed by a hash of the counts,
#: library sizes and options, so a hit returns exactly what the computation would.
_MEMO: dict[bytes, np.ndarray] = {}
_MEMO_SIZE = 16
_MEMO_LOCK = threading.Lock()


def _memo_key(x: np.ndarray, lib: np.ndarray, options: tuple) -> bytes:
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    h.update(repr((x.shape, x.dtype.str, lib.dtype.str, options)).encode())
    h.update(np.ascontiguousarray(x).data)
    h.update(np.ascontiguousarray(lib).data)
    return h.digest()


def _norm_factors(x: np.ndarray, lib: np.ndarray, *, method: str, ref_column, logratio_trim: float,
                  sum_trim: float, do_weighting: bool, a_cutoff: float, p: float) -> np.ndarray:
    """:func:`calc_norm_factors` after its checks (``x`` float counts, ``lib`` library sizes)."""
    n_samples = x.shape[0]
    x = x[:, (x > 0).any(axis=0)]  # drop genes that are zero in every sample
    if x.shape[1] == 0 or n_samples == 1:
        method = "none"

    if method == "TMM":
        if ref_column is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                f75 = _r_quantile(x, 0.75, axis=1) / lib
            if np.median(f75) < 1e-20:
                ref_column = int(np.argmax(np.sqrt(x).sum(axis=1)))
            else:
                ref_column = int(np.argmin(np.abs(f75 - np.mean(f75))))
        elif not (isinstance(ref_column, (int, np.integer)) and 0 <= ref_column < n_samples):
            raise InputDataError(
                f"ref_column must be a 0-based sample index in [0, {n_samples - 1}], got "
                f"{ref_column!r}."
            )
        ref = x[ref_column]
        f = np.array([
            _factor_tmm(
                x[i], ref, lib[i], lib[ref_column], logratio_trim=logratio_trim,
                sum_trim=sum_trim, do_weighting=do_weighting, a_cutoff=a_cutoff,
            )
            for i in range(n_samples)
        ])
    elif method == "upperquartile":
        q = _r_quantile(x, p, axis=1)
        if q.min() == 0:
            logger.warning("calc_norm_factors: one or more %g quantiles are zero", p)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = q / lib
    elif method == "RLE":
        with np.errstate(divide="ignore"):
            gm = np.exp(np.log(x).mean(axis=0))
        pos = gm > 0
        if not pos.any():
            raise InputDataError(
                "RLE needs genes with non-zero counts in every sample and there are none; "
                "use method='TMM'."
            )
        f = np.median(x[:, pos] / gm[pos], axis=1) / lib
    else:
        f = np.ones(n_samples)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = f / np.exp(np.mean(np.log(f)))
    return f


def _min_sample_size(group, design, n_obs: int) -> float:
    if group is not None:
        g = pd.Series(np.asarray(group, dtype=object).ravel())
        if g.size != n_obs:
            raise InputDataError(f"group has {g.size} values but there are {n_obs} samples.")
        missing = g.isna()
        if missing.any():
            logger.warning(
                "expressed_genes: %d sample(s) without a group are not counted in any group "
                "(as edgeR's filterByExpr)", int(missing.sum()),
            )
        sizes = g[~missing].astype(str).value_counts()
        if sizes.empty:
            raise InputDataError("group has no non-missing values; pass a group label per sample.")
        return float(sizes.min())
    if design is not None:
        d = np.asarray(design, dtype=np.float64)
        if d.ndim == 1:
            d = d[:, None]
        if d.shape[0] != n_obs or not np.isfinite(d).all():
            raise InputDataError(
                f"design must be a finite {n_obs} x p matrix (one row per sample), got shape "
                f"{d.shape}."
            )
        # R's hat(design): leverages of the column space of cbind(1, design)
        from scipy.linalg import qr

        x = np.column_stack([np.ones(n_obs), d])
        q, r, _ = qr(x, mode="economic", pivoting=True)
        diag = np.abs(np.diag(r))
        rank = int(np.sum(diag > 1e-7 * diag[0])) if diag.size and diag[0] > 0 else 0
        h = (q[:, :rank] ** 2).sum(axis=1)
        return float(1.0 / h.max())
    logger.info("expressed_genes: no group or design set; assuming all samples belong to one group")
    return float(n_obs)

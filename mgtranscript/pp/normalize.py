"""Log-scale preprocessing: edgeR-style TMM + log2 CPM and filterByExpr for counts, GEO2R's
log detection for arrays.

Every function records what it did in ``adata.uns["mgtranscript"]["scale"]`` so that
downstream tools (scoring, DE) know whether ``X`` is log2 and where the counts are.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ..errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = [
    "log2_cpm", "ensure_log", "check_counts", "calc_norm_factors", "expressed_genes",
    "filter_expressed",
]


def _dense(m) -> np.ndarray:
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


def _scale_uns(adata: AnnData) -> dict:
    mg = adata.uns.setdefault("mgtranscript", {})
    return mg


def check_counts(adata: AnnData, *, layer: str | None = "counts") -> np.ndarray:
    """Return the count matrix as float64 after checking it has no NaN or negative values.

    Parameters
    ----------
    adata
        Samples x genes.
    layer
        Layer holding the raw counts (``None``: ``X``).

    Returns
    -------
    The counts, samples x genes, dense float64.

    Raises
    ------
    InputDataError
        Naming up to five offending samples and genes, and the fix.
    """
    if layer is not None and layer not in adata.layers:
        raise InputDataError(
            f"no layer {layer!r} in the AnnData (layers: {list(adata.layers)}); pass layer=None "
            "to use X, or store raw counts in adata.layers['counts']."
        )
    m = _dense(adata.layers[layer] if layer is not None else adata.X).astype(np.float64, copy=False)
    bad = ~np.isfinite(m) | (m < 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        samples = list(dict.fromkeys(adata.obs_names[rows].tolist()))[:5]
        genes = list(dict.fromkeys(adata.var_names[cols].tolist()))[:5]
        kind = "NaN/infinite" if (~np.isfinite(m)).any() else "negative"
        raise InputDataError(
            f"{int(bad.sum())} {kind} count value(s) (e.g. samples {samples}, genes {genes}); "
            "counts must be finite and >= 0. These data are not raw counts: load them as "
            "log-scale data (mgtranscript.pp.ensure_log) or remove the offending genes/samples."
        )
    return m


def log2_cpm(
    adata: AnnData,
    *,
    layer: str | None = "counts",
    prior_count: float = 2.0,
    norm: str | None = "TMM",
    norm_factors=None,
    copy: bool = False,
) -> AnnData | None:
    """Set ``X`` to log2 counts-per-million with edgeR's ``cpm(log=TRUE)`` semantics.

    The effective library size of a sample is ``L = lib_size * norm_factor``
    (``lib_size`` = sum of its counts; ``norm_factor`` from :func:`calc_norm_factors`,
    TMM by default). With ``mean(L)`` over samples, the prior added to each count is
    ``p = prior_count * L / mean(L)`` and the library size is augmented by ``2 p``:
    ``log2((y + p) / (L + 2 p) * 1e6)``. This equals
    ``edgeR::cpm(calcNormFactors(DGEList(counts)), log=TRUE, prior.count=prior_count)``
    (and, with ``norm=None``, ``cpm(DGEList(counts), log=TRUE)`` without normalisation
    factors).

    TMM removes library-composition bias: when a few genes (e.g. albumin in normal
    liver) take a large share of the reads in some samples, plain CPM shrinks every
    other gene in those samples and shifts all fold changes.

    Parameters
    ----------
    adata
        Samples x genes.
    layer
        Layer holding raw counts (``None``: use ``X``, which is then copied to
        ``layers["counts"]`` first so the counts are kept).
    prior_count
        edgeR's ``prior.count`` (default 2, as edgeR).
    norm
        Normalisation-factor method passed to :func:`calc_norm_factors`: ``"TMM"``
        (default, as edgeR's ``calcNormFactors``), ``"upperquartile"``, ``"RLE"``, or
        ``None``/``"none"`` for raw library sizes (the behaviour before TMM).
    norm_factors
        Precomputed normalisation factors, one per sample (e.g. TMM computed on a count table
        before its gene ids were harmonised, so that the factors equal edgeR's on the table as
        published); ``norm`` then only names them.
    copy
        Return a modified copy instead of working in place.

    Returns
    -------
    The AnnData if ``copy``. Sets ``obs["norm_factor"]`` and ``obs["lib_size"]`` and records
    ``uns["mgtranscript"]["scale"] = {"X": "log2_cpm", "norm": "TMM", "prior_count": 2.0,
    "counts_layer": "counts", "method": ...}``.

    Raises
    ------
    InputDataError
        Negative or NaN counts (named), a sample with zero library size, or an unknown
        ``norm``.
    """
    method = _norm_method(norm)
    if prior_count is None or not np.isfinite(prior_count) or prior_count < 0:
        raise InputDataError(f"prior_count must be a finite number >= 0, got {prior_count}.")
    adata = adata.copy() if copy else adata
    if layer is None:
        adata.layers["counts"] = adata.X.copy()
        layer = "counts"
    y = check_counts(adata, layer=layer)
    lib = y.sum(axis=1)
    empty = np.flatnonzero(lib <= 0)
    if empty.size:
        raise InputDataError(
            f"samples with zero total counts: {adata.obs_names[empty][:5].tolist()}; remove them "
            "before normalising (e.g. adata = adata[adata.layers['counts'].sum(1) > 0])."
        )
    if norm_factors is None:
        nf = calc_norm_factors(y, method=method, lib_size=lib)
    else:
        nf = np.asarray(norm_factors, dtype=float).ravel()
        if nf.shape != (adata.n_obs,) or not (np.isfinite(nf).all() and (nf > 0).all()):
            raise InputDataError(f"norm_factors must be {adata.n_obs} finite positive numbers (one per sample).")
    eff = lib * nf
    p = prior_count * eff / eff.mean()
    # edgeR's C++ (add_prior + calculate_cpm_log) works on the natural-log scale
    with np.errstate(divide="ignore"):
        X = (np.log(y + p[:, None]) - np.log(eff + 2.0 * p)[:, None] + np.log(1e6)) / np.log(2.0)
    adata.X = X
    adata.obs["lib_size"] = lib
    adata.obs["norm_factor"] = nf
    if method != "none":
        logger.info(
            "log2_cpm: %s normalisation factors range %.3g-%.3g over %d samples",
            method, float(nf.min()), float(nf.max()), nf.size,
        )
    _scale_uns(adata)["scale"] = {
        "X": "log2_cpm", "norm": method, "prior_count": float(prior_count), "counts_layer": layer,
        "method": (
            "edgeR cpm(log=TRUE), library sizes without normalisation factors"
            if method == "none"
            else f"edgeR cpm(log=TRUE) on lib.size * calcNormFactors(method={method!r})"
        ),
    }
    return adata if copy else None


def ensure_log(adata: AnnData, *, layer: str | None = None, copy: bool = False) -> AnnData | None:
    """Log2-transform ``X`` unless it already looks log-scale (GEO2R's rule).

    With ``qx`` the 0, 25, 50, 75, 99 and 100 % quantiles of all finite values,
    the data are judged linear when ``qx[99%] > 100`` or
    (``qx[100%] - qx[0%] > 50`` and ``qx[25%] > 0``). Linear data get values
    ``<= 0`` set to NaN and ``log2`` applied; log data are left as they are.

    Parameters
    ----------
    adata
        Samples x genes (array intensities or any non-count expression).
    layer
        Take the values from this layer instead of ``X`` (the result goes to ``X``).
    copy
        Return a modified copy instead of working in place.

    Returns
    -------
    The AnnData if ``copy``. ``uns["mgtranscript"]["scale"]`` records
    ``{"X": "log2", "transformed": bool, "rule": "GEO2R", "quantiles": [...]}``.
    """
    adata = adata.copy() if copy else adata
    m = _dense(adata.layers[layer] if layer is not None else adata.X).astype(np.float64)
    finite = m[np.isfinite(m)]
    if finite.size == 0:
        raise InputDataError("no finite values in the expression matrix; nothing to log-transform.")
    qx = np.quantile(finite, [0, 0.25, 0.5, 0.75, 0.99, 1.0])
    logc = bool(qx[4] > 100 or (qx[5] - qx[0] > 50 and qx[1] > 0))
    n_nan = 0
    if logc:
        nonpos = m <= 0
        n_nan = int(nonpos.sum())
        m[nonpos] = np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.log2(m)
        if n_nan:
            logger.info("ensure_log: %d values <= 0 set to NaN before log2", n_nan)
    adata.X = m
    _scale_uns(adata)["scale"] = {
        "X": "log2", "transformed": logc, "rule": "GEO2R",
        "quantiles": [float(q) for q in qx], "n_set_nan": n_nan,
        "source": layer if layer is not None else "X",
    }
    return adata if copy else None


# --------------------------------------------------------------------------------------
# Normalisation factors (edgeR calcNormFactors) and the expression filter (filterByExpr)
# --------------------------------------------------------------------------------------

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
    from scipy.stats import rankdata

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
    rank_r = rankdata(log_r, method="average")
    rank_e = rankdata(abs_e, method="average")
    keep = (rank_r >= lo_l) & (rank_r <= hi_l) & (rank_e >= lo_s) & (rank_e <= hi_s)
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
    counts,
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


def _resolve_group(adata: AnnData, group):
    if group is None:
        return None, None
    if isinstance(group, str):
        if group not in adata.obs:
            raise InputDataError(
                f"no obs column {group!r} (obs columns: {list(adata.obs.columns)[:20]}); pass "
                "the name of the column holding the sample groups, or an array of labels."
            )
        return adata.obs[group].to_numpy(), group
    return np.asarray(group, dtype=object), "array"


def expressed_genes(
    adata: AnnData,
    *,
    group=None,
    design=None,
    layer: str | None = "counts",
    lib_size=None,
    min_count: float = 10,
    min_total_count: float = 15,
    large_n: int = 10,
    min_prop: float = 0.7,
) -> np.ndarray:
    """Boolean mask of genes with enough counts to analyse, as edgeR's ``filterByExpr``.

    A gene is kept when its CPM is at least ``min_count / median(lib_size) * 1e6`` in at
    least ``n`` samples and its total count is at least ``min_total_count``. ``n`` is the
    smallest group size (``group``), or ``1 / max(leverage)`` of the ``design``, or the
    number of samples; above ``large_n`` it becomes ``large_n + (n - large_n) * min_prop``.

    Parameters
    ----------
    adata
        Samples x genes with raw counts in ``layers[layer]``.
    group
        Name of an ``obs`` column, or one label per sample.
    design
        Design matrix (samples x p) used when ``group`` is ``None``; an intercept is
        added as R's ``hat()`` does.
    layer
        Layer with raw counts (``None``: ``X``).
    lib_size
        Library sizes; default the per-sample sum of the counts (``filterByExpr`` on a
        count matrix, or on a ``DGEList`` before ``calcNormFactors``). Pass
        ``adata.obs["lib_size"] * adata.obs["norm_factor"]`` to match ``filterByExpr``
        on a normalised ``DGEList``.
    min_count, min_total_count, large_n, min_prop
        edgeR's ``min.count``, ``min.total.count``, ``large.n``, ``min.prop``.

    Returns
    -------
    Boolean array over ``var`` (True = keep).
    """
    y = check_counts(adata, layer=layer)
    if lib_size is None:
        lib = y.sum(axis=1)
    else:
        lib = np.asarray(lib_size, dtype=np.float64).ravel()
        if lib.size == 1:
            lib = np.repeat(lib, adata.n_obs)
        if lib.size != adata.n_obs or not np.isfinite(lib).all() or (lib <= 0).any():
            raise InputDataError(
                f"lib_size must hold {adata.n_obs} finite positive values (one per sample)."
            )
    if (lib <= 0).any():
        empty = adata.obs_names[lib <= 0][:5].tolist()
        raise InputDataError(
            f"samples with zero total counts: {empty}; remove them before filtering."
        )
    g, _ = _resolve_group(adata, group)
    n_min = _min_sample_size(g, design, adata.n_obs)
    if n_min > large_n:
        n_min = large_n + (n_min - large_n) * min_prop
    cutoff = min_count / np.median(lib) * 1e6
    cpm = y / lib[:, None] * 1e6
    tol = 1e-14
    keep_cpm = (cpm >= cutoff).sum(axis=0) >= (n_min - tol)
    keep_total = y.sum(axis=0) >= (min_total_count - tol)
    return np.asarray(keep_cpm & keep_total)


def filter_expressed(
    adata: AnnData,
    *,
    group=None,
    design=None,
    layer: str | None = "counts",
    lib_size=None,
    min_count: float = 10,
    min_total_count: float = 15,
    large_n: int = 10,
    min_prop: float = 0.7,
    key_added: str = "filter_expressed",
    copy: bool = False,
) -> AnnData | None:
    """Keep only genes that pass edgeR's ``filterByExpr`` (see :func:`expressed_genes`).

    Filter the raw counts **before** :func:`log2_cpm`, as in edgeR's
    ``y[keep, , keep.lib.sizes=FALSE]; calcNormFactors(y)``: library sizes and TMM
    factors are then computed from the kept genes. If ``X`` already holds log2 CPM it is
    subset but not recomputed; call :func:`log2_cpm` again to match edgeR exactly.

    Parameters
    ----------
    adata
        Samples x genes with raw counts in ``layers[layer]``.
    group, design, layer, lib_size, min_count, min_total_count, large_n, min_prop
        As :func:`expressed_genes`.
    key_added
        ``uns["mgtranscript"][key_added]`` receives the settings and gene counts.
    copy
        Return a filtered copy instead of subsetting in place.

    Returns
    -------
    The filtered AnnData if ``copy``, else ``None`` (``adata`` is subset in place).
    """
    keep = expressed_genes(
        adata, group=group, design=design, layer=layer, lib_size=lib_size, min_count=min_count,
        min_total_count=min_total_count, large_n=large_n, min_prop=min_prop,
    )
    _, group_name = _resolve_group(adata, group)
    n_total = int(adata.n_vars)
    if copy:
        adata = adata[:, keep].copy()
    else:
        adata._inplace_subset_var(keep)
    logger.info("filter_expressed: kept %d of %d genes", int(keep.sum()), n_total)
    _scale_uns(adata)[key_added] = {
        "method": "edgeR filterByExpr",
        "group": group_name,
        "design": design is not None and group is None,
        "layer": layer,
        "min_count": float(min_count), "min_total_count": float(min_total_count),
        "large_n": int(large_n), "min_prop": float(min_prop),
        "n_genes_before": n_total, "n_genes_kept": int(keep.sum()),
    }
    return adata if copy else None

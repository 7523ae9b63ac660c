"""Log-scale preprocessing: edgeR-style TMM + log2 CPM and filterByExpr for counts, GEO2R's
log detection for arrays.

Every function records what it did in ``adata.uns["mgtranscript"]["scale"]`` so that
downstream tools (scoring, DE) know whether ``X`` is log2 and where the counts are.
The count-matrix ports of edgeR (``calcNormFactors``, the group size of ``filterByExpr``)
are in :mod:`mgtranscript.pp._edger`.
"""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from ..errors import InputDataError
from ._edger import _dense, _min_sample_size, _norm_method, calc_norm_factors

logger = logging.getLogger(__name__)

__all__ = [
    "log2_cpm", "ensure_log", "check_counts", "calc_norm_factors", "expressed_genes",
    "filter_expressed",
]


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

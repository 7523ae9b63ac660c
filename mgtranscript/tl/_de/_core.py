"""Differential expression: limma-style moderated t (``lmFit`` + ``eBayes``) and ``voom``.

This is a NumPy port of the parts of R limma 3.54 that a two-group comparison needs:

* ``lmFit``: per-gene (weighted) least squares on a design matrix; one QR for all genes
  when there are no missing values and no weights, batched normal equations with voom
  weights, a per-gene fit only for genes with missing values (as ``lm.series``).
* ``eBayes``: ``squeezeVar`` / ``fitFDist`` (moment estimation with ``trigammaInverse``),
  optional ``trend=TRUE`` (natural-spline prior on the average log-expression), the
  moderated t, its p-value on ``df.residual + df.prior`` (capped at the pooled df) and the
  B statistic (``tmixture``).
* ``voom``: log-CPM with library sizes, R's ``lowess`` (statsmodels' compiled local fits
  with R's robustness weights) of sqrt(sigma) on the mean, and precision weights.

Tests compare every column with R limma 3.54 outputs (``tests/data/limma``) at 1e-6.
``robust=TRUE`` (``fitFDistRobustly``) is implemented without a covariate (not with
``trend=TRUE``).

This module holds :func:`de`, :func:`voom` and :func:`lowess`; ``lmFit`` / ``eBayes`` are in
``_limma`` (:func:`lm_fit` and :func:`ebayes` are importable from here) and
``fitFDist`` / ``fitFDistRobustly`` in ``_fdist``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from ...errors import InputDataError
from .._store import finish, start, store
from ._limma import _ROBUST_MSG, ebayes, lm_fit
from ..._stats import bh_adjust

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["de", "de_table", "lm_fit", "ebayes", "voom", "lowess"]


# ---------------------------------------------------------------------------------------
# R lowess on statsmodels' lowess
# ---------------------------------------------------------------------------------------


def lowess(
    x: np.ndarray, y: np.ndarray, *, f: float = 2 / 3, iter: int = 3, delta: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Locally-weighted scatterplot smoothing as R's ``stats::lowess`` (Cleveland 1979).

    The local fits are statsmodels' compiled ``lowess`` (tricube weights over the
    ``floor(f n)`` nearest points, local linear fit, points closer than ``delta``
    interpolated, ties share a fit). The ``iter`` robustness iterations are done here
    with R's exact bisquare weights: weight 1 for ``|r| <= 0.001 c``, 0 for
    ``|r| > 0.999 c``, ``c = 6 median|r|``, and R's stop when ``c`` is negligible.
    statsmodels' own iterations omit those two cut-offs and drift from R by up to ~1e-7
    (relative); with them the result equals R to ~1e-15 on the committed reference data
    (tests/tl/test_de.py). statsmodels' tricube weights keep a tiny weight (< 3e-8) for
    neighbours beyond 0.999 of the bandwidth, which R zeroes: on a 20,000-gene voom trend
    the fit differs from R by ~3e-11 and voom's weights by ~2e-10 (relative).

    Parameters
    ----------
    x, y
        Data (finite); sorted by ``x`` internally with a stable sort, as R.
    f
        Smoother span (fraction of points in each local fit).
    iter
        Number of robustifying iterations.
    delta
        Interpolation distance; default ``0.01 * (max(x) - min(x))`` as R.

    Returns
    -------
    ``(x_sorted, fitted)``, as R's ``list(x, y)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputDataError("lowess: x and y must be 1-D arrays of the same length.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputDataError("lowess: x and y must be finite; drop missing values first.")
    if delta is None:
        delta = 0.01 * (x.max() - x.min()) if x.size else 0.0
    o = np.argsort(x, kind="stable")
    xs, ys = np.ascontiguousarray(x[o]), np.ascontiguousarray(y[o])
    if xs.size < 2:
        return xs, ys.copy()
    one_pass = _compiled_lowess()
    if one_pass is None:  # pragma: no cover - exercised by monkeypatching in the tests
        from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess

        fitted = sm_lowess(ys, xs, frac=float(f), it=int(iter), delta=float(delta), is_sorted=True,
                           return_sorted=False)
        return xs, np.asarray(fitted, dtype=float)
    robustness = np.ones(xs.size)
    for step in range(int(iter) + 1):
        fitted = one_pass(ys, xs, robustness, float(f), float(delta))
        if step == int(iter):
            break
        resid = np.abs(ys - fitted)
        cmad = 6.0 * float(np.median(resid))
        if cmad < 1e-7 * resid.mean():  # R: the fit is (nearly) exact, stop
            break
        robustness = np.where(
            resid <= 0.001 * cmad, 1.0, np.where(resid <= 0.999 * cmad, (1.0 - (resid / cmad) ** 2) ** 2, 0.0)
        )
    return xs, fitted


def _compiled_lowess():
    """``fit(y, x, robustness_weights, frac, delta) -> fitted`` for sorted ``x``: one pass
    (no robustness iteration) of statsmodels' compiled lowess with the given weights, or
    ``None`` if this statsmodels does not offer it.

    statsmodels' public ``lowess`` does not take robustness weights, so this calls the
    compiled routine behind it (this signature since statsmodels 0.12). Without it,
    :func:`lowess` falls back to the public function and its own robustness weights:
    voom's weights then differ from R's by ~1e-10 (relative) instead of ~1e-14.
    """
    try:
        from statsmodels.nonparametric._smoothers_lowess import lowess as compiled

        def fit(y, x, rw, frac, delta):
            out, _ = compiled(y, x, x, rw, frac=frac, it=0, delta=delta)
            return np.asarray(out[:, 1], dtype=float)

        probe = np.arange(3.0)
        if fit(probe, probe, np.ones(3), 1.0, 0.0).shape == (3,):
            return fit
    except (ImportError, TypeError, ValueError):  # pragma: no cover - other statsmodels
        pass
    return None  # pragma: no cover


# ---------------------------------------------------------------------------------------
# voom
# ---------------------------------------------------------------------------------------


def voom(
    counts: np.ndarray, design: np.ndarray, *, lib_size: np.ndarray | None = None, span: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """limma ``voom``: log2-CPM and precision weights from the mean-variance trend.

    Parameters
    ----------
    counts
        genes x samples non-negative counts.
    design
        samples x coefficients design matrix.
    lib_size
        Library sizes; default the column sums (as limma, no TMM normalisation).
    span
        ``lowess`` span of the trend.

    Returns
    -------
    ``(E, weights)``, both genes x samples.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape[0] < 2:
        raise InputDataError("voom needs at least two genes to fit a mean-variance trend.")
    if not np.isfinite(counts).all():
        raise InputDataError("voom: NA/infinite counts are not allowed; remove those genes first.")
    if counts.min() < 0:
        raise InputDataError("voom: negative counts are not allowed; pass raw counts (layers['counts']).")
    lib = counts.sum(axis=0) if lib_size is None else np.asarray(lib_size, dtype=float)
    E = np.log2((counts + 0.5) / (lib + 1.0) * 1e6)
    fit = lm_fit(E, design)
    if (fit.df_residual > 0).sum() < 2:
        logger.warning("The experimental design has no replication. Setting weights to 1.")
        return E, np.ones_like(E)
    sx = fit.amean + np.mean(np.log2(lib + 1.0)) - np.log2(1e6)
    sy = np.sqrt(fit.sigma)
    allzero = counts.sum(axis=1) == 0
    lx, ly = lowess(sx[~allzero], sy[~allzero], f=span)
    ux, inv = np.unique(lx, return_inverse=True)
    uy = np.bincount(inv, weights=ly) / np.bincount(inv)
    fitted = fit.coefficients @ fit.design.T
    fitted_logcount = np.log2(1e-6 * 2.0**fitted * (lib + 1.0))
    w = 1.0 / np.interp(fitted_logcount, ux, uy) ** 4
    return E, w


# ---------------------------------------------------------------------------------------
# design + public API
# ---------------------------------------------------------------------------------------


def _dense(mat) -> np.ndarray:
    if sparse.issparse(mat):
        return mat.toarray()
    if hasattr(mat, "compute"):  # dask
        mat = mat.compute()
    return np.asarray(mat, dtype=float)


def _covariate_columns(obs: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        s = obs[c]
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(str)
        if pd.api.types.is_numeric_dtype(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [lv for lv in s.cat.categories if (s == lv).any()]
            else:
                levels = sorted(s.astype(str).unique())
            s = s.astype(str)
            for lv in levels[1:]:
                cols.append((s == str(lv)).to_numpy(dtype=float))
                names.append(f"{c}[{lv}]")
    if not cols:
        return np.zeros((len(obs), 0)), []
    return np.column_stack(cols), names


def de(
    adata: AnnData,
    *,
    groupby: str,
    group: str,
    reference: str,
    layer: str | None = None,
    method: str = "limma",
    covariates: Sequence[str] | None = None,
    paired_by: str | None = None,
    key_added: str = "de",
    copy: bool = False,
    trend: bool = False,
    robust: bool = False,
) -> AnnData | None:
    """Differential expression of ``group`` versus ``reference`` (limma / voom moderated t).

    Only samples whose ``obs[groupby]`` is ``group`` or ``reference`` are used. The design
    is ``~ 1 + group indicator (+ covariates) (+ pair factor)``; the tested coefficient is
    the group indicator, so ``log2fc`` is ``group - reference`` on the log2 scale.

    Parameters
    ----------
    adata
        AnnData, samples x genes.
    groupby
        ``obs`` column with the conditions.
    group, reference
        The two levels to compare.
    layer
        Data to use. ``method="limma"``: log-scale expression, default ``X``.
        ``method="voom"``: raw counts, default ``layers["counts"]`` if present, else ``X``.
    method
        ``"limma"`` (moderated t on log data, as ``lmFit`` + ``eBayes``) or ``"voom"``
        (``voom`` on counts, weighted ``lmFit`` + ``eBayes``).
    covariates
        ``obs`` columns added to the design: numeric columns as is, categorical/string
        columns as treatment-coded dummies (first level = baseline, as R). Samples with
        missing covariate values are dropped (logged).
    paired_by
        ``obs`` column identifying pairs (e.g. patient); adds the pair factor to the
        design (as ``~ group + pair`` in limma). Only complete pairs are kept.
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Work on (and store results in) a copy of ``adata``, and return it.
    trend
        ``eBayes(trend=TRUE)``: prior variance follows the average expression.
    robust
        ``eBayes(robust=TRUE)`` (not together with ``trend=True``).

    Notes
    -----
    Genes are not filtered: as in limma, remove unexpressed genes first for ``voom``
    (e.g. keep genes with CPM > 1 in at least the smaller group's size of samples).
    Parity: every output column equals R limma 3.54 ``topTable(sort.by="none")`` to
    ~1e-12 on the committed test designs and on GSE126848 / GSE77314 (paired voom).

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. The table in
    ``uns[key_added]["table"]`` (read it with :func:`mgtranscript.get.de` ``(adata,
    key_added)``) is tidy, one row per gene in ``var_names`` order: ``gene``, ``log2fc``,
    ``se``, ``stat`` (moderated t), ``pval``, ``padj`` (BH), ``ave_expr``, ``B``,
    ``df_total``; ``params`` records the design (columns, samples per group, prior df).

    Raises
    ------
    InputDataError
        Unknown column/levels, too few samples, NaN/negative counts, rank-deficient design,
        ``robust=True`` together with ``trend=True``.
    """
    adata = start(adata, "de", key_added=key_added, copy=copy)
    table, params = de_table(adata, groupby=groupby, group=group, reference=reference, layer=layer, method=method,
                             covariates=covariates, paired_by=paired_by, trend=trend, robust=robust)
    store(adata, key_added, "de", params, table=table)
    return finish(adata, copy)


def de_table(adata: AnnData, *, groupby: str, group: str, reference: str, layer: str | None = None,
             method: str = "limma", covariates: Sequence[str] | None = None, paired_by: str | None = None,
             trend: bool = False, robust: bool = False) -> tuple[pd.DataFrame, dict]:
    """The work of :func:`de` without writing to ``adata``: ``(table, params)``."""
    if method not in ("limma", "voom"):
        raise InputDataError(f"method must be 'limma' or 'voom', got {method!r}.")
    if robust and trend:
        raise InputDataError(_ROBUST_MSG)
    obs = adata.obs
    covariates = list(covariates or [])
    for col in [groupby, *covariates, *([paired_by] if paired_by else [])]:
        if col not in obs.columns:
            raise InputDataError(f"obs has no column {col!r}; available: {list(obs.columns)}.")
    labels = obs[groupby].astype("object")
    present = sorted({str(v) for v in labels.dropna().unique()})
    for name, lv in (("group", group), ("reference", reference)):
        if str(lv) not in present:
            raise InputDataError(f"{name} {lv!r} is not a level of obs[{groupby!r}]; available: {present}.")
    if str(group) == str(reference):
        raise InputDataError("group and reference must differ.")
    lab = labels.map(lambda v: None if pd.isna(v) else str(v))
    mask = lab.isin([str(group), str(reference)]).to_numpy()
    if covariates:
        miss = obs[covariates].isna().any(axis=1).to_numpy() & mask
        if miss.any():
            logger.warning("de: dropping %d samples with missing covariate values", int(miss.sum()))
            mask &= ~miss
    n_unpaired_dropped = 0
    if paired_by:
        pairs = obs[paired_by].astype("object")
        sub = pd.DataFrame({"pair": pairs[mask], "lab": lab[mask]})
        sub = sub.dropna()
        counts_pair = sub.groupby("pair")["lab"].agg(lambda s: (s == str(group)).sum() == 1 and (s == str(reference)).sum() == 1 and len(s) == 2)
        complete = set(counts_pair.index[counts_pair])
        keep = pairs.isin(complete).to_numpy()
        n_unpaired_dropped = int((mask & ~keep).sum())
        if n_unpaired_dropped:
            logger.info("de: dropping %d samples without a complete %s/%s pair", n_unpaired_dropped, group, reference)
        mask &= keep
    sub_obs = obs.loc[mask]
    is_group = (lab[mask] == str(group)).to_numpy(dtype=float)
    n_group, n_ref = int(is_group.sum()), int((1 - is_group).sum())
    if n_group < 1 or n_ref < 1:
        raise InputDataError(f"Need samples in both {group!r} (n={n_group}) and {reference!r} (n={n_ref}).")
    cols = [np.ones(mask.sum()), is_group]
    names = ["(Intercept)", f"{groupby}[{group}]"]
    if covariates:
        cm, cn = _covariate_columns(sub_obs, covariates)
        cols.extend(cm.T)
        names.extend(cn)
    if paired_by:
        pm, pn = _covariate_columns(sub_obs[[paired_by]].astype(str), [paired_by])
        cols.extend(pm.T)
        names.extend(pn)
    X = np.column_stack(cols)
    if X.shape[0] - X.shape[1] < 1:
        raise InputDataError(
            f"Too few samples ({X.shape[0]}) for a design with {X.shape[1]} coefficients: "
            "add samples or drop covariates."
        )
    if method == "voom":
        if layer is None and "counts" in adata.layers:
            layer = "counts"
    mat = adata.X if layer is None else adata.layers[layer]
    if layer is not None and layer not in adata.layers:
        raise InputDataError(f"layer {layer!r} not found; available: {list(adata.layers.keys())}.")
    Y = _dense(mat[mask]).T  # genes x samples
    if method == "voom":
        # a normalised library (pp.log2_cpm records lib_size and TMM norm_factor) uses the
        # effective library sizes, as limma's voom does on a DGEList after calcNormFactors
        lib = None
        if {"lib_size", "norm_factor"} <= set(adata.obs.columns):
            lib = (adata.obs["lib_size"].to_numpy(float) * adata.obs["norm_factor"].to_numpy(float))[mask]
        E, W = voom(Y, X, lib_size=lib)
        fit = lm_fit(E, X, weights=W, coefs=[1])
    else:
        if np.isinf(Y).any():
            raise InputDataError("Expression contains infinite values; log-transform with a pseudocount.")
        if np.nanmax(Y) > 100 and np.allclose(Y[np.isfinite(Y)] % 1, 0):
            logger.warning("de(method='limma') looks like raw counts; use method='voom' or log-transform first.")
        fit = lm_fit(Y, X)
    eb = ebayes(fit, coef=1, trend=trend, robust=robust)
    table = pd.DataFrame(
        {
            "gene": np.asarray(adata.var_names, dtype=str),
            "log2fc": fit.coefficients[:, 1],
            "se": eb["se"],
            "stat": eb["t"],
            "pval": eb["p_value"],
            "padj": bh_adjust(eb["p_value"]),
            "ave_expr": fit.amean,
            "B": eb["lods"],
            "df_total": eb["df_total"],
        }
    )
    s2_prior = np.asarray(eb["s2_prior"])
    params = {
        "groupby": groupby,
        "group": str(group),
        "reference": str(reference),
        "method": method,
        "layer": layer or "X",
        "covariates": list(covariates),
        "paired_by": paired_by or "",
        "trend": bool(trend),
        "robust": bool(robust),
        "n_group": n_group,
        "n_ref": n_ref,
        "n_unpaired_dropped": n_unpaired_dropped,
        "design_columns": names,
        "df_prior": float(np.median(eb["df_prior"])),
        "s2_prior": float(np.median(s2_prior)),
    }
    logger.info(
        "de: %s vs %s (%d vs %d samples, %s), %d genes padj<0.05",
        group, reference, n_group, n_ref, method, int((table["padj"] < 0.05).sum()),
    )
    return table, params

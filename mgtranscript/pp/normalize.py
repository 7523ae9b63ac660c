"""Log-scale preprocessing: edgeR-style log2 CPM for counts, GEO2R's log detection for arrays.

Every function records what it did in ``adata.uns["mgtranscript"]["scale"]`` so that
downstream tools (scoring, DE) know whether ``X`` is log2 and where the counts are.
"""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData
from scipy import sparse

from ..errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["log2_cpm", "ensure_log", "check_counts"]


def _dense(m) -> np.ndarray:
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


def _scale_uns(adata: AnnData) -> dict:
    mg = adata.uns.setdefault("mgtranscript", {})
    return mg


def check_counts(adata: AnnData, *, layer: str | None = "counts") -> np.ndarray:
    """Return the count matrix as float64 after checking it has no NaN or negative values.

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
    copy: bool = False,
) -> AnnData | None:
    """Set ``X`` to log2 counts-per-million with edgeR's ``cpm(log=TRUE)`` semantics.

    For a sample with library size ``L`` (sum of its counts; no TMM factors), with
    ``mean(L)`` over samples, the prior added to each count is
    ``p = prior_count * L / mean(L)`` and the library size is augmented by ``2 p``:
    ``log2((y + p) / (L + 2 p) * 1e6)``. This equals ``edgeR::cpm(y, log=TRUE,
    prior.count=prior_count)`` on a ``DGEList`` with ``norm.factors = 1``.

    Parameters
    ----------
    adata
        Samples x genes.
    layer
        Layer holding raw counts (``None``: use ``X``, which is then copied to
        ``layers["counts"]`` first so the counts are kept).
    prior_count
        edgeR's ``prior.count`` (default 2, as edgeR).
    copy
        Return a modified copy instead of working in place.

    Returns
    -------
    The AnnData if ``copy``; records ``uns["mgtranscript"]["scale"] = {"X": "log2_cpm",
    "prior_count": ..., "counts_layer": ..., "method": "edgeR cpm(log=TRUE)"}``.

    Raises
    ------
    InputDataError
        Negative or NaN counts (named), or a sample with zero library size.
    """
    adata = adata.copy() if copy else adata
    if prior_count < 0:
        raise InputDataError(f"prior_count must be >= 0, got {prior_count}.")
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
    p = prior_count * lib / lib.mean()
    adj = lib + 2.0 * p
    X = np.log2((y + p[:, None]) / adj[:, None] * 1e6)
    adata.X = X
    _scale_uns(adata)["scale"] = {
        "X": "log2_cpm", "prior_count": float(prior_count), "counts_layer": layer,
        "method": "edgeR cpm(log=TRUE), library sizes without TMM",
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

"""GSVA's first step: the per-gene kernel CDF across samples (R GSVA 1.46's C code).

See :mod:`mgtranscript.tl._score.gsva` for the method and its parity with R. This module
holds the compiled kernels (Gaussian with GSVA's lookup table, Poisson through scipy's
``pdtr``, the empirical CDF) and how they are run: gene blocks on threads, or one dask
task per block (a ``dask.distributed`` cluster when a client is active).
"""

from __future__ import annotations

import ctypes
import logging
import math

import numba
import numpy as np

from . import _ranks
from ._common import resolve_n_jobs

logger = logging.getLogger(__name__)

# GSVA's C constants (kernel_estimation.c): SIGMA_FACTOR, PRECOMPUTE_RESOLUTION, MAX_PRECOMPUTE
_SIGMA_FACTOR = 4.0
_RESOLUTION = 10000
_MAX_PRECOMPUTE = 10.0

_TABLE: np.ndarray | None = None


def _cdf_table() -> np.ndarray:
    """``Phi(10 * i / 10000)`` for ``i = 0..10000``, as GSVA's ``initCdfs``."""
    global _TABLE
    if _TABLE is None:
        from scipy.special import ndtr

        i = np.arange(_RESOLUTION + 1, dtype=np.float64)
        _TABLE = ndtr(_MAX_PRECOMPUTE * i / float(_RESOLUTION))
    return _TABLE


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True, nogil=True)
def _sd(x):  # pragma: no cover - compiled
    """Two-pass sd with the mean refinement of GSVA's C ``sd()`` (R's cov.c)."""
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        s += x[i]
    mean = s / n
    if math.isfinite(mean):
        s = 0.0
        for i in range(n):
            s += x[i] - mean
        mean = mean + s / n
    s = 0.0
    for i in range(n):
        s += (x[i] - mean) * (x[i] - mean)
    return math.sqrt(s / (n - 1))


#: a product ``d * (1000 / h)`` this close to an integer may truncate differently from
#: GSVA's two divisions (they differ by < 1e-11 at most): such a pair is recomputed exactly
_NEAR_INTEGER = 1e-9


@numba.njit(nogil=True, cache=True)
def _exact_index(d, bw, top):  # pragma: no cover - compiled
    """GSVA's table index for a difference ``d >= 0``: ``trunc(d / h / 10 * 10000)``."""
    q = d / bw / _MAX_PRECOMPUTE * _RESOLUTION
    q = q if q < top else top
    return np.int32(q)


@numba.njit(nogil=True, cache=True)
def _gaussian_gene(x, order, table, out, acc, kbuf, xs):  # pragma: no cover - compiled
    """Gaussian step for one gene: ``out[j] = -log((1 - F_j) / F_j)``.

    ``F_j = mean_i K(x_j - x_i)`` with ``K(v) = table[trunc(|v / h| / 10 * 10000)]`` (``1 -``
    that for ``v < 0``, 0/1 beyond the table), exactly GSVA's C code. The samples are
    visited in ascending order (``order``), so every difference ``x_j - x_i`` (``j`` after
    ``i``) is >= 0: no branch, and each pair is computed once (``K(-d) = 1 - K(d)`` holds
    exactly for the table). The table index is computed with one multiplication in a
    vectorised loop; where the product lies within 1e-9 of an integer (where it could
    truncate differently from GSVA's two divisions) that sample's row of indices is
    recomputed with the divisions, so the indices are GSVA's exactly. The table reads
    are summed in four interleaved partial sums.
    """
    n = x.shape[0]
    top = float(table.shape[0] - 1)
    top_half = top + 0.5
    bw = _sd(x) / _SIGMA_FACTOR
    scale = (_RESOLUTION / _MAX_PRECOMPUTE) / bw
    for j in range(n):
        xs[j] = x[order[j]]
        acc[j] = 0.0
    for j in range(n):
        xj = xs[j]
        near = 0
        for i in range(j):  # vectorised: table index of every pair (i, j), i before j
            a = (xj - xs[i]) * scale
            a = a if a < top_half else top_half
            k = np.int32(a)
            kbuf[i] = k
            f = a - k
            near += np.int32(f < _NEAR_INTEGER) * np.int32(a > 0.0) + np.int32(f > 1.0 - _NEAR_INTEGER)
        if near:
            for i in range(j):
                kbuf[i] = _exact_index(xj - xs[i], bw, top)
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        i = 0
        while i + 4 <= j:
            t0 = table[kbuf[i]]
            t1 = table[kbuf[i + 1]]
            t2 = table[kbuf[i + 2]]
            t3 = table[kbuf[i + 3]]
            s0 += t0
            s1 += t1
            s2 += t2
            s3 += t3
            acc[i] += 1.0 - t0
            acc[i + 1] += 1.0 - t1
            acc[i + 2] += 1.0 - t2
            acc[i + 3] += 1.0 - t3
            i += 4
        while i < j:
            t0 = table[kbuf[i]]
            s0 += t0
            acc[i] += 1.0 - t0
            i += 1
        acc[j] += 0.5 + ((s0 + s1) + (s2 + s3))  # 0.5 = K(0) for the sample itself
    for j in range(n):
        f = acc[j] / n
        out[order[j]] = -1.0 * math.log((1.0 - f) / f)


@numba.njit(nogil=True, cache=True)
def _gaussian_block(Xg, order, table, out):  # pragma: no cover - compiled
    n = Xg.shape[1]
    acc = np.empty(n)
    kbuf = np.empty(n, dtype=np.int32)
    xs = np.empty(n)
    for g in range(Xg.shape[0]):
        _gaussian_gene(Xg[g], order[g], table, out[g], acc, kbuf, xs)


#: genes per thread task of the Gaussian step (tasks are handed out as threads free up)
_GENES_PER_TASK = 64


def _gaussian_kernel(Xg: np.ndarray, table: np.ndarray, out: np.ndarray, parallel: bool = True) -> None:
    """Gaussian step for genes x samples ``Xg`` into ``out`` (same shape): blocks of genes
    on all CPUs (threads; the compiled code releases the GIL, and blocks are handed out as
    threads free up, so a core busy with other work slows only its share), or on the
    calling thread only (``parallel=False``, for dask tasks, which bring their own
    parallelism). The numbers are the same either way."""
    Xg = np.ascontiguousarray(Xg, dtype=np.float64)

    def work(g0: int, g1: int, _ws=None) -> None:
        order = np.argsort(Xg[g0:g1], axis=1)  # NumPy's (SIMD) sort: samples ascending per gene
        _gaussian_block(Xg[g0:g1], order, table, out[g0:g1])

    jobs = resolve_n_jobs(None) if parallel else 1
    _ranks.run_row_tasks(work, Xg.shape[0], Xg.shape[1], jobs, step=_GENES_PER_TASK)


def _gaussian_rows(Xg: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """:func:`_gaussian_kernel` on the calling thread only."""
    _gaussian_kernel(Xg, table, out, parallel=False)


_POISSON: dict = {}


def _poisson_kernel(parallel: bool = True):
    """Compile (once per process) the Poisson step; it calls scipy's ``pdtr`` (Poisson
    CDF) through its C entry point, which numba cannot cache on disk. ``parallel=False``:
    on the calling thread only (for dask tasks)."""
    if parallel in _POISSON:
        return _POISSON[parallel]
    from numba.extending import get_cython_function_address

    addr = get_cython_function_address("scipy.special.cython_special", "pdtr")
    pdtr_c = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int)(addr)

    @numba.njit(nogil=True)
    def gene(x, out):  # pragma: no cover - compiled
        n = x.shape[0]
        for j in range(n):
            k = math.floor(x[j] + 1e-7)  # R's ppois floors its x with this fuzz
            f = 0.0
            for i in range(n):  # same order as R's C loop
                f += pdtr_c(k, x[i] + 0.5, 0)
            f = f / n
            out[j] = -1.0 * math.log((1.0 - f) / f)

    if parallel:
        @numba.njit(parallel=True)
        def poisson(Xg, out):  # pragma: no cover - compiled
            for g in numba.prange(Xg.shape[0]):
                gene(Xg[g], out[g])
    else:
        @numba.njit(nogil=True)
        def poisson(Xg, out):  # pragma: no cover - compiled
            for g in range(Xg.shape[0]):
                gene(Xg[g], out[g])

    _POISSON[parallel] = poisson
    return poisson


def _gaussian_density_numpy(Xg: np.ndarray) -> np.ndarray:
    """Reference implementation of the Gaussian step (genes x samples -> genes x samples),
    vectorised with numpy; memory ``genes x samples x samples`` for the given chunk."""
    table = _cdf_table()
    n = Xg.shape[1]
    bw = np.std(Xg, axis=1, ddof=1) / _SIGMA_FACTOR
    v = (Xg[:, :, None] - Xg[:, None, :]) / bw[:, None, None]  # [g, j, i] = (x_j - x_i)/h
    q = np.minimum(np.abs(v) / _MAX_PRECOMPUTE * float(_RESOLUTION), float(_RESOLUTION))
    c = table[q.astype(np.int64)]
    c = np.where(v < 0, 1.0 - c, c)
    f = c.sum(axis=2) / n
    return -1.0 * np.log((1.0 - f) / f)


def _ecdf_density(Xg: np.ndarray) -> np.ndarray:
    """kcdf="none": logit of the empirical CDF, per gene (rows)."""
    n = Xg.shape[1]
    srt = np.sort(Xg, axis=1)
    f = np.empty_like(Xg)
    for g in range(Xg.shape[0]):
        f[g] = np.searchsorted(srt[g], Xg[g], side="right") / n
    with np.errstate(divide="ignore"):
        return np.log(f / (1.0 - f))


def _density_block(Xg: np.ndarray, kcdf: str, parallel: bool = True) -> np.ndarray:
    """Transformed kernel CDF of genes x samples ``Xg`` (same shape). ``parallel=False``
    runs on the calling thread (dask tasks); the numbers are the same either way."""
    Xg = np.ascontiguousarray(Xg, dtype=np.float64)
    if kcdf == "gaussian":
        Dg = np.empty_like(Xg)
        (_gaussian_kernel if parallel else _gaussian_rows)(Xg, _cdf_table(), Dg)
        return Dg
    if kcdf == "poisson":
        Dg = np.empty_like(Xg)
        _poisson_kernel(parallel)(Xg, Dg)
        return Dg
    return _ecdf_density(Xg)


def _density_task(block: np.ndarray, kcdf: str) -> np.ndarray:
    """dask task: samples x genes block -> its transformed kernel CDF (samples x genes)."""
    return _density_block(block.T, kcdf, parallel=False).T


def _density(X: np.ndarray, cols: np.ndarray, kcdf: str, chunk_genes: int, progress=None,
             use_dask: bool = False) -> np.ndarray:
    """Transformed kernel CDF of the genes ``cols`` of ``X``, samples x len(cols),
    computed in gene chunks (no copy of ``X``); ``use_dask``: the chunks are dask tasks
    run by the active scheduler (a ``distributed`` cluster if a client is active)."""
    if use_dask:
        return _density_dask(X, cols, kcdf, chunk_genes)
    n_samples = X.shape[0]
    n_genes = cols.size
    out = np.empty((n_samples, n_genes), dtype=np.float64)
    for g0 in range(0, n_genes, chunk_genes):
        g1 = min(g0 + chunk_genes, n_genes)
        out[:, g0:g1] = _density_block(X[:, cols[g0:g1]].T, kcdf).T
        if progress is not None:
            progress(g1 - g0)
    return out


def _density_dask(X: np.ndarray, cols: np.ndarray, kcdf: str, chunk_genes: int) -> np.ndarray:
    """The kernel step as one dask task per block of genes. With an active
    ``dask.distributed`` client each block is scattered to one worker (the matrix travels
    once, block by block); otherwise the tasks run on dask's configured local scheduler."""
    import dask

    n_samples, n_genes = X.shape[0], cols.size
    starts = list(range(0, n_genes, chunk_genes))
    blocks = [np.ascontiguousarray(X[:, cols[g0:g0 + chunk_genes]]) for g0 in starts]
    client = _distributed_client()
    logger.info("GSVA: kernel step as %d dask task(s) of up to %d genes%s", len(blocks), chunk_genes,
                " on the distributed cluster" if client is not None else "")
    if client is not None:
        futures = client.map(_density_task, client.scatter(blocks), kcdf=kcdf, pure=False)
        parts = client.gather(futures)
    else:
        parts = dask.compute(*[dask.delayed(_density_task, pure=False)(b, kcdf) for b in blocks])
    out = np.empty((n_samples, n_genes), dtype=np.float64)
    for g0, part in zip(starts, parts):
        out[:, g0:g0 + part.shape[1]] = part
    return out


def _distributed_client():
    """The active ``dask.distributed`` client, if dask is set to use one."""
    try:
        import dask
        from distributed import default_client
    except ImportError:  # the "dask" extra not installed: no cluster
        return None
    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None  # the user chose another scheduler explicitly
    try:
        return default_client()
    except ValueError:  # no client
        return None

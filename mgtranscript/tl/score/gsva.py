"""GSVA (gene set variation analysis) scores, matching R GSVA 1.46.

The algorithm (Hänzelmann, Castelo & Guinney 2013, BMC Bioinformatics 14:7) has three
steps; this module reproduces what ``GSVA::gsva(expr, sets, method = "gsva")`` of the
1.46 Bioconductor release (old API) computes. Measured against R GSVA 1.46.0: max
|difference| 5e-13 at 20,000 genes x 424 samples (Gaussian), 5e-13 on GSE126848
log-CPM (Gaussian), ~1e-14 on the committed test inputs (Gaussian, Poisson, "none").
One known limit: with ``kcdf="poisson"`` on real low counts, genes with the same counts
in a different sample order have mathematically equal kernel CDFs that R and this
module each order by last-bit rounding noise (scipy's Poisson CDF and R's ``ppois``
differ in the last bits); on GSE126848 (17,843 genes x 57 samples) 40 of 2,280 scores
differ from R by up to 4e-5.

1. **Per-gene kernel CDF across samples.** For each gene ``g`` and sample ``j``,
   ``F[g, j] = mean_i K(x[g, j] - x[g, i])`` over all samples ``i`` (``j`` included), then
   ``D = -log((1 - F) / F)``.

   * ``kcdf="gaussian"`` (log-scale data): ``K(d) = Phi(d / h)`` with bandwidth
     ``h = sd(x[g, :]) / 4``. GSVA's C code does **not** evaluate ``Phi`` directly: it
     reads a table of ``Phi(10 i / 10000)``, ``i = 0..10000``, at index
     ``trunc(|d / h| / 10 * 10000)`` (a *floor*, not linear interpolation nor nearest
     point), returns ``1 - table`` for negative ``d`` and 0/1 beyond ``|d / h| > 10``.
     This module uses the same table and the same floating-point operations, because
     the quantisation (steps of 0.001 sd) moves ``F`` by ~1e-4, enough to swap genes'
     ranks.
   * ``kcdf="poisson"`` (counts): ``K = ppois(x[g, j], x[g, i] + 0.5)``.
   * ``kcdf="none"``: the empirical CDF ``F = #{i: x[g, i] <= x[g, j]} / n``, same logit
     (the sample with the largest value gets ``+inf``), as GSVA 1.46 did.

   Genes whose standard deviation is below 1e-10 are discarded first (as GSVA's
   ``.filterFeatures`` does); their indices are removed from every set, so the gene
   universe, ranks and the walk's step sizes are those of R.
2. **Rank within each sample.** Genes are ordered by decreasing ``D`` (ties keep input
   order, like R's ``order(decreasing = TRUE)``); the gene at 1-based position ``p`` gets
   the symmetric rank score ``r = |n - p + 1 - n / 2|``.
3. **KS-like random walk per set and sample.** Walking down the ordered genes, a set gene
   adds ``r**tau / sum_set(r**tau)``, any other gene subtracts ``1 / (n - k)``. With
   ``mx_diff=True`` the score is ``max_walk + min_walk`` (``max - min`` with
   ``abs_ranking=True``); with ``mx_diff=False`` the largest deviation from zero
   (positive one on a tie).

The walk is evaluated only at the set genes (its extremes sit just after or just before
a hit), so step 3 costs ``O(k log k)`` per set and sample instead of ``O(n_genes)``.

Differences from other implementations
--------------------------------------
* **gseapy** 1.3 (``gseapy.gsva``, Rust): evaluates the Gaussian kernel with the exact
  normal CDF (no lookup table), so some genes swap ranks and scores differ from R GSVA
  1.46 (and from this module) by up to ~1e-3 (measured at 20,000 x 424); its
  ``kcdf=None`` still applies the logit to the ECDF (as GSVA 1.46 ``kcdf="none"`` does
  here) while GSVA >= 2.0 dropped it, off by up to ~1.
* **GSVA >= 2.0** (``gsvaParam``): same Gaussian/Poisson kernels, but ties in ranks and
  ``kcdf="none"``/``"auto"`` changed, so results are not comparable at 1e-6.
* Scores depend on every sample in the matrix (the kernel CDF is across samples):
  ``SAMPLE_INDEPENDENT = False``. Scoring a subset of samples gives other values.

Performance and memory
----------------------
The kernel sum is ``O(n_genes * n_samples**2)``. Per gene, the samples are taken in
ascending order, so each pair is visited once with a non-negative difference
(``K(d) + K(-d) = 1`` holds exactly for the table); the table index is one
multiplication in a vectorised loop (recomputed with GSVA's two divisions where the
product lies within 1e-9 of an integer, so the indices are GSVA's exactly), and blocks of
genes run on all CPUs (compiled with numba; blocks are handed out as threads free up).
Ranking the genes within each sample costs about one sort of the matrix
(:mod:`~mgtranscript.tl.score._ranks`). ``python3 benchmarks/run.py`` compares this with
gseapy and R GSVA 1.46 on the same machine (numbers in ``benchmarks/README.md``).

From :data:`DASK_MIN_SAMPLES` (2,000) samples on, or with ``use_dask=True``, the kernel
step runs as one dask task per block of ``chunk_genes`` genes on the active dask
scheduler, so a ``dask.distributed`` cluster spreads it over its workers
(``benchmarks/gsva_scale.py``); the scores are identical to the in-process path.

Extra memory is one ``float64`` matrix the size of the input (the transformed
densities) plus ``chunk``-sized buffers; ranking is done in blocks of samples. Nothing of
size ``n_genes x n_samples x n_samples`` is ever allocated.
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Mapping

import numba
import numpy as np

from mgtranscript.errors import InputDataError

from . import _ranks
from .ssgsea import _union, resolve_n_jobs

logger = logging.getLogger(__name__)

#: A sample's GSVA score depends on the other samples (kernel CDF across samples).
SAMPLE_INDEPENDENT = False

_KCDFS = ("gaussian", "poisson", "none")
# GSVA's C constants (kernel_estimation.c): SIGMA_FACTOR, PRECOMPUTE_RESOLUTION, MAX_PRECOMPUTE
_SIGMA_FACTOR = 4.0
_RESOLUTION = 10000
_MAX_PRECOMPUTE = 10.0
# .filterFeatures: genes with sd below this are constant and discarded
_CONSTANT_SD = 1e-10
# bytes of scratch per block when ranking samples
_RANK_BLOCK_BYTES = 16 * 2**20

_TABLE: np.ndarray | None = None

#: from this many samples on, the kernel step runs as dask tasks (``use_dask=None``)
DASK_MIN_SAMPLES = 2000
#: "numba" (compiled ranking, default) or "numpy" (the reference implementation)
ENGINE = "numba"


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
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None  # the user chose another scheduler explicitly
    try:
        return default_client()
    except ValueError:  # no client
        return None


# --------------------------------------------------------------------------- walk
def _walk_scores(
    pos: np.ndarray,
    rscore: np.ndarray,
    idx: np.ndarray,
    n_genes: int,
    *,
    mx_diff: bool,
    abs_ranking: bool,
    tau: float,
) -> np.ndarray:
    """Random-walk statistic for one set over a block of samples.

    ``pos``: samples x genes 0-based position of each gene in the decreasing order;
    ``rscore``: samples x genes symmetric rank scores; ``idx``: the set's gene columns.
    """
    k = idx.size
    P = pos[:, idx]
    W = rscore[:, idx]
    if tau != 1.0:
        W = W**tau
    order = np.argsort(P, axis=1, kind="stable")
    P = np.take_along_axis(P, order, axis=1).astype(np.float64)
    W = np.take_along_axis(W, order, axis=1)
    total = W.sum(axis=1, keepdims=True)
    C = np.cumsum(W, axis=1)
    dec = 1.0 / (n_genes - k) if n_genes > k else 0.0
    m = np.arange(1, k + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        after = C / total - (P + 1.0 - m) * dec  # walk right after the m-th hit
        before = (C - W) / total - (P - (m - 1.0)) * dec  # walk right before it
    mx_pos = np.maximum(after.max(axis=1), 0.0)
    mx_neg = np.minimum(before.min(axis=1), 0.0)
    # the tail after the last hit ends at 0 (up to rounding), covered by the 0 start
    if mx_diff:
        return mx_pos - mx_neg if abs_ranking else mx_pos + mx_neg
    return np.where(mx_pos > np.abs(mx_neg), mx_pos, mx_neg)


# --------------------------------------------------------------------------- public
def _check_inputs(X, sets, kcdf, tau, chunk_genes):
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise InputDataError(
            "gsva_matrix needs a 2-D numpy array (samples x genes); got "
            f"{type(X).__name__} with shape {getattr(X, 'shape', None)}. "
            "Pass np.asarray(adata.X) or use mgtranscript.tl.score(adata, method='gsva')."
        )
    if X.shape[0] < 2 or X.shape[1] < 2:
        raise InputDataError(
            f"GSVA needs at least 2 samples and 2 genes; got {X.shape[0]} x {X.shape[1]}. "
            "Score a larger cohort (GSVA's kernel CDF is estimated across samples)."
        )
    if not all(np.isfinite(X[:, g0 : g0 + 4096]).all() for g0 in range(0, X.shape[1], 4096)):
        raise InputDataError(
            "The expression matrix contains NaN or infinite values; GSVA needs finite data. "
            "Impute or drop those genes first (e.g. adata[:, np.isfinite(adata.X).all(0)])."
        )
    if not isinstance(kcdf, str) or kcdf.lower() not in _KCDFS:
        raise InputDataError(
            f"kcdf={kcdf!r} is not supported; use 'gaussian' for log-scale data "
            "(log-CPM, log-TPM, microarray), 'poisson' for raw integer counts, or 'none'."
        )
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau >= 0):
        raise InputDataError(f"tau must be a finite number >= 0 (GSVA uses 1); got {tau!r}.")
    if chunk_genes is not None and (not isinstance(chunk_genes, (int, np.integer)) or chunk_genes < 1):
        raise InputDataError(f"chunk_genes must be a positive integer or None; got {chunk_genes!r}.")
    if not isinstance(sets, Mapping) or len(sets) == 0:
        raise InputDataError(
            "sets must be a non-empty dict of set name -> gene column indices "
            "(see mgtranscript.genesets.match)."
        )


def gsva_matrix(
    X: np.ndarray,
    sets: dict[str, np.ndarray],
    *,
    kcdf: str = "gaussian",
    mx_diff: bool = True,
    abs_ranking: bool = False,
    tau: float = 1.0,
    chunk_genes: int | None = None,
    use_dask: bool | None = None,
) -> np.ndarray:
    """GSVA enrichment scores, as R ``GSVA::gsva(method="gsva")`` 1.46 computes them.

    Parameters
    ----------
    X
        Expression, samples x genes, float64, finite. Log-scale data for
        ``kcdf="gaussian"``; raw non-negative integer counts for ``kcdf="poisson"``.
    sets
        Set name -> integer column indices into ``X`` (as returned by
        :func:`mgtranscript.genesets.match`).
    kcdf
        Kernel for the per-gene CDF across samples: ``"gaussian"`` (R ``"Gaussian"``),
        ``"poisson"`` (R ``"Poisson"``) or ``"none"`` (empirical CDF with logit, as
        GSVA 1.46). Case-insensitive.
    mx_diff
        ``True``: score = largest positive + largest negative walk deviation (roughly
        normal scores); ``False``: the deviation with the largest magnitude (bimodal).
    abs_ranking
        With ``mx_diff=True``, use ``max - min`` (sets whose genes move in both
        directions score high). Ignored when ``mx_diff=False``, as in R.
    tau
        Exponent on the rank scores in the walk (GSVA default 1).
    chunk_genes
        Genes per block of the kernel step (memory granularity: two blocks of
        ``chunk_genes x n_samples`` doubles). ``None``: 1/16 of the genes, clipped to
        64..1,024.
    use_dask
        Run the kernel step (``O(genes x samples**2)``) as one dask task per gene chunk,
        on the active dask scheduler: a ``dask.distributed`` cluster when a ``Client`` is
        active, else dask's local threads. ``None`` (default): when there are at least
        :data:`DASK_MIN_SAMPLES` (2,000) samples. Results are identical either way.

    Returns
    -------
    np.ndarray
        Samples x sets (in ``sets`` order), float64. A set whose genes are all constant
        across samples (and so discarded, as in R) gets NaN.

    Raises
    ------
    InputDataError
        Bad shapes, non-finite values, negative counts for ``kcdf="poisson"``, set
        indices out of range, or fewer than two non-constant genes.

    Notes
    -----
    See the module docstring for the exact algorithm, the table lookup that R uses for
    the Gaussian CDF and how this differs from gseapy and GSVA >= 2.0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(6, 1, size=(20, 100))
    >>> gsva_matrix(X, {"A": np.arange(10), "B": np.arange(50, 80)}).shape
    (20, 2)
    """
    _check_inputs(X, sets, kcdf, tau, chunk_genes)
    kcdf = kcdf.lower()
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_genes_all = X.shape
    if kcdf == "poisson":
        if X.min() < 0:
            raise InputDataError(
                "kcdf='poisson' needs raw non-negative counts but the matrix has negative "
                "values; use kcdf='gaussian' for log-scale data."
            )
        if any((np.mod(X[:, g0 : g0 + 4096], 1.0) != 0).any() for g0 in range(0, n_genes_all, 4096)):
            logger.warning(
                "kcdf='poisson' on non-integer values: they are floored, as R's ppois does. "
                "For log-scale or normalised data use kcdf='gaussian'."
            )

    # sets -> unique int indices, validated
    clean: dict[str, np.ndarray] = {}
    for name, idx in sets.items():
        arr = np.asarray(idx)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputDataError(
                f"Set {name!r} must hold integer column indices; got dtype {arr.dtype}. "
                "Map gene names to indices with mgtranscript.genesets.match."
            )
        arr = np.unique(arr.astype(np.int64))
        if arr.size and (arr[0] < 0 or arr[-1] >= n_genes_all):
            raise InputDataError(
                f"Set {name!r} has column indices outside 0..{n_genes_all - 1}; "
                "were the indices computed for another gene list?"
            )
        clean[name] = arr

    # discard constant genes, as GSVA's .filterFeatures
    sd = np.empty(n_genes_all)
    step = max(1, 2**20 // max(1, n_samples))  # column blocks: no full-size temporary
    for g0 in range(0, n_genes_all, step):
        sd[g0 : g0 + step] = np.std(X[:, g0 : g0 + step], axis=0, ddof=1)
    keep = sd >= _CONSTANT_SD
    n_const = int((~keep).sum())
    if n_const:
        logger.warning(
            "%d gene(s) have constant expression across samples and are discarded for GSVA "
            "(as R GSVA does).",
            n_const,
        )
        new_index = np.full(n_genes_all, -1, dtype=np.int64)
        new_index[keep] = np.arange(int(keep.sum()))
        for name, arr in clean.items():
            mapped = new_index[arr]
            clean[name] = mapped[mapped >= 0]
    cols = np.flatnonzero(keep)
    n_genes = cols.size
    if n_genes < 2:
        raise InputDataError(
            f"Fewer than two genes vary across the {n_samples} samples; GSVA cannot rank them. "
            "Check that the matrix holds expression values (not an all-constant layer)."
        )
    empty = [name for name, arr in clean.items() if arr.size == 0]
    if empty:
        logger.warning(
            "%d set(s) have no non-constant gene and get NaN: %s", len(empty), ", ".join(map(str, empty[:10]))
        )

    if chunk_genes is None:  # 64..1024 genes, at most ~1/16 of the matrix per chunk
        chunk_genes = max(64, min(1024, -(-n_genes // 16)))
    chunk_genes = int(min(chunk_genes, n_genes))
    if use_dask is None:
        use_dask = n_samples >= DASK_MIN_SAMPLES
    D = _density(X, cols, kcdf, chunk_genes, use_dask=bool(use_dask))  # samples x kept genes
    del X

    return _rank_and_walk(D, clean, mx_diff=mx_diff, abs_ranking=abs_ranking, tau=float(tau), engine=ENGINE)


def _rank_and_walk(D: np.ndarray, sets: dict[str, np.ndarray], *, mx_diff: bool, abs_ranking: bool,
                   tau: float, engine: str) -> np.ndarray:
    """Steps 2 and 3: rank the genes of each sample by decreasing ``D`` (ties in input
    order) and walk every set. ``engine="numba"`` ranks by one sort of (value, gene) keys
    (:mod:`~mgtranscript.tl.score._ranks`), ``"numpy"`` by a stable argsort of the whole
    row (the reference); both give the same positions."""
    n_samples, n_genes = D.shape
    out = np.full((n_samples, len(sets)), np.nan, dtype=np.float64)
    union, local = _union(sets, n_genes)
    if union.size == 0:
        return out
    half = n_genes / 2.0

    def work(s0: int, s1: int, ws=None) -> None:
        if engine == "numpy":
            order = np.argsort(-D[s0:s1], axis=1, kind="stable")  # decreasing, ties in input order
            pos = np.empty(order.shape, dtype=np.int32)
            np.put_along_axis(pos, order, np.broadcast_to(np.arange(n_genes, dtype=np.int32), order.shape), axis=1)
            pos = pos[:, union]
        else:
            pos = _ranks.row_ranks_numba(D[s0:s1], union, descending=True, want_pos=True)[2]
        rscore = np.abs((n_genes - pos) - half)  # R: abs(seq(n, 1) - n/2) at sorted positions
        for c, idx in enumerate(local.values()):
            if idx.size:
                out[s0:s1, c] = _walk_scores(pos, rscore, idx, n_genes, mx_diff=mx_diff,
                                             abs_ranking=abs_ranking, tau=tau)

    # blocks of samples: each block's scratch stays below 1/8 of D and 16 MiB
    block = max(1, min(-(-n_samples // 8), _RANK_BLOCK_BYTES // (8 * n_genes)))
    if engine == "numpy":
        for s0 in range(0, n_samples, block):
            work(s0, min(s0 + block, n_samples))
    else:
        _ranks.run_row_tasks(work, n_samples, n_genes, resolve_n_jobs(None), step=block)
    return out

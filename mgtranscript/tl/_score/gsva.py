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
(:mod:`~mgtranscript.tl._score._ranks`). ``python3 benchmarks/run.py`` compares this with
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

import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from mgtranscript.errors import InputDataError

from . import _ranks
from ._common import _union, resolve_n_jobs
from ._gsva_kernels import _density

logger = logging.getLogger(__name__)

#: A sample's GSVA score depends on the other samples (kernel CDF across samples).
SAMPLE_INDEPENDENT = False

_KCDFS = ("gaussian", "poisson", "none")
# .filterFeatures: genes with sd below this are constant and discarded
_CONSTANT_SD = 1e-10
# bytes of scratch per block when ranking samples
_RANK_BLOCK_BYTES = 16 * 2**20
# matrices whose constant genes were reported (digest of the per-gene SDs): told once per cohort, not
# once per family of sets scored on it
_CONSTANT_SAID: OrderedDict[str, None] = OrderedDict()
_CONSTANT_SAID_MAX = 64


def _say_constant(n_const: int, sd: np.ndarray, n_samples: int) -> None:
    """Warn that ``n_const`` genes are constant, once per matrix (later calls on it log at DEBUG)."""
    key = f"{n_samples}:" + hashlib.blake2b(np.ascontiguousarray(sd).tobytes(), digest_size=16).hexdigest()
    level = logging.DEBUG if key in _CONSTANT_SAID else logging.WARNING
    _CONSTANT_SAID[key] = None
    _CONSTANT_SAID.move_to_end(key)
    while len(_CONSTANT_SAID) > _CONSTANT_SAID_MAX:
        _CONSTANT_SAID.popitem(last=False)
    logger.log(level, "%d gene(s) have constant expression across samples and are discarded for GSVA "
               "(as R GSVA does).", n_const)


#: from this many samples on, the kernel step runs as dask tasks (``use_dask=None``)
DASK_MIN_SAMPLES = 2000
#: "numba" (compiled ranking, default) or "numpy" (the reference implementation)
ENGINE = "numba"


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
        _say_constant(n_const, sd, n_samples)
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
    (:mod:`~mgtranscript.tl._score._ranks`), ``"numpy"`` by a stable argsort of the whole
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

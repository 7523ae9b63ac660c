"""Single-sample GSEA (Barbie et al. 2009), as implemented by R GSVA 1.46.

For each sample, genes are ranked by expression (rank ``n`` = highest). A random walk
down the ranking steps up by ``r_g**alpha / sum(r_set**alpha)`` at set genes and down by
``1 / (n - k)`` elsewhere; the score is the *sum* of the walk over all ``n`` positions
(GSVA's definition, not the maximum deviation). Summing the walk telescopes, so the score
needs only the ranks of the ``k`` set genes::

    ES = sum_g w_g * r_g / sum_g w_g  -  (n (n + 1) / 2 - sum_g r_g) / (n - k),   w_g = r_g**alpha

where ``r_g`` is the rank of set gene ``g`` counted from the bottom (``n - position + 1``).
The implementation sorts every sample once, the genes travelling with their values, and
reads the set genes' ranks off the sorted row (:mod:`~mgtranscript.tl._score._ranks`); the
weights ``r**alpha`` are looked up in a table made once per call, and each set then costs
O(set size) per sample. Both cores are used on large matrices. The cost is about one
``np.sort`` of the matrix whatever the number of sets (``benchmarks/run.py``).

The compiled path (numba) is the default; the plain NumPy path (``np.sort`` and binary
searches) is kept as the reference the tests compare it with (``_ssgsea(...,
engine="numpy")``). Both give the same scores up to rounding (~1e-12).

Ties
----
``ties="average"`` (default)
    Tied genes get their average rank (not truncated), and a tied block is scored as the
    *mean over all orderings of the block*: the position term of a tied set gene is its
    expected position, which is its average rank. The score therefore does not depend on
    the order of genes in the input (permuting columns leaves it unchanged), and on data
    without ties it equals GSVA exactly.
``ties="gsva"``
    Reproduces GSVA 1.46 bit for bit on tied data: average ranks are truncated to
    integers (``mode(R) <- "integer"``) before weighting, and tied genes are walked in
    input order (R's ``order(..., decreasing=TRUE)`` is stable), so the score depends on
    the gene order of the input.

Normalisation
-------------
``normalize=True`` divides every score by the range (max - min) of *all* scores of the
call, as ``gsva(method="ssgsea", ssgsea.norm=TRUE)`` does. A sample's score then depends
on the other samples and sets scored with it, so the default is ``False``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ...errors import InputDataError
from . import _ranks
from ._common import _jobs, _parallel_rows, _sorted_search, _union

log = logging.getLogger(__name__)

#: unnormalised ssGSEA scores a sample on its own
SAMPLE_INDEPENDENT = True
#: ranking uses every gene of a sample
NEEDS_ALL_GENES = True

_TIES = ("average", "gsva")
#: "numba" (compiled kernels, default) or "numpy" (the reference implementation)
ENGINE = "numba"


def _average_ranks(X: np.ndarray, cols: np.ndarray, n_jobs: int | None = 1) -> np.ndarray:
    """Average within-sample ranks (1 = lowest) of columns ``cols`` of every row of ``X``."""
    R = np.empty((X.shape[0], cols.size), dtype=np.float64)

    def work(a: int, b: int) -> None:
        S = np.sort(X[a:b], axis=1)
        lo, hi = _sorted_search(S, X[a:b, cols])
        R[a:b] = (lo + hi + 1) / 2.0

    _parallel_rows(work, X.shape[0], X.shape[1], n_jobs)
    return R


def _gsva_ranks(X: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GSVA 1.46's integer-truncated average ranks and walk positions for ``cols``.

    Returns ``(weight_rank, position_rank)``: the truncated rank used for the weight and
    ``n - position + 1`` where ``position`` is the gene's place in GSVA's decreasing,
    stable (input-order) ranking.
    """
    n = X.shape[1]
    S = np.sort(X, axis=1)
    order = np.argsort(X, axis=1, kind="stable")
    inv = np.empty_like(order)
    rows = np.arange(X.shape[0])[:, None]
    inv[rows, order] = np.arange(n)[None, :]
    V = X[:, cols]
    lo, hi = _sorted_search(S, V)
    Rw = np.floor((lo + hi + 1) / 2.0)
    # genes with equal value and smaller input index come first in GSVA's walk; their
    # count is (position in the stable ascending order) - lo
    before = inv[:, cols] - lo
    Rp = (hi - before).astype(np.float64)
    return Rw, Rp


def ssgsea_matrix(
    X: np.ndarray,
    sets: Mapping[str, np.ndarray],
    *,
    alpha: float = 0.25,
    normalize: bool = False,
    ties: str = "average",
    n_jobs: int | None = None,
) -> np.ndarray:
    """ssGSEA enrichment scores.

    Parameters
    ----------
    X
        Samples x genes, float64, finite (log expression or counts: only ranks matter).
    sets
        Set name -> integer column indices of ``X`` (unique).
    alpha
        Weight exponent of the ranks of set genes (GSVA's ``tau``; 0.25 as in Barbie 2009).
    normalize
        Divide by the range of all scores (GSVA ``ssgsea.norm=TRUE``); makes scores
        depend on the other samples and sets. Default ``False``.
    ties
        ``"average"`` (order-invariant, default) or ``"gsva"`` (GSVA 1.46 exactly,
        input-order dependent); see the module docstring.
    n_jobs
        Threads for ranking (``None``: all available CPUs for matrices of at least
        two million entries, one thread below). Results do not depend on it.

    Returns
    -------
    Samples x sets array, columns in the order of ``sets``.
    """
    if ties not in _TIES:
        raise InputDataError(f"ssgsea: ties={ties!r} is not supported; use one of {', '.join(_TIES)}")
    if not np.isfinite(alpha) or alpha < 0:
        raise InputDataError(f"ssgsea: alpha must be a finite number >= 0, got {alpha!r}")
    es = _ssgsea(X, sets, alpha=alpha, ties=ties, n_jobs=n_jobs, engine=ENGINE)
    if normalize:
        es = _range_normalise(es)
    return es


def _ssgsea(X: np.ndarray, sets: Mapping[str, np.ndarray], *, alpha: float, ties: str,
            n_jobs: int | None, engine: str) -> np.ndarray:
    """Unnormalised scores by the compiled (``"numba"``) or reference (``"numpy"``) path."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n = X.shape
    union, local = _union(sets, n)
    es = np.full((n_samples, len(sets)), np.nan)
    if n_samples == 0 or not len(sets):
        return es
    for name, pos in local.items():
        if pos.size == 0 or pos.size >= n:
            warnings.warn(
                f"ssgsea: set {name!r} has {pos.size} of {n} genes; its score is undefined (NaN)",
                stacklevel=3,
            )
    if engine == "numpy":
        return _ssgsea_numpy(X, union, local, alpha, ties, n_jobs, es)
    if engine != "numba":
        raise ValueError(f"unknown engine {engine!r}")
    # r**alpha for every possible (average or truncated) rank r = 1, 1.5, ..., n, once
    wtab = (np.arange(2, 2 * n + 1, dtype=np.float64) / 2.0) ** alpha
    sizes, indptr, members = _ranks.set_csr(local)
    lookup = _ranks.lookup_table(n, union)
    mode = _ranks.MODE_GSVA if ties == "gsva" else _ranks.MODE_AVERAGE
    k = sizes.astype(np.float64)
    total = n * (n + 1) / 2.0
    defined = (sizes > 0) & (sizes < n)

    def work(a: int, b: int, ws: _ranks.Workspace) -> None:
        sums = _ranks.rank_sums(X[a:b], union, indptr, members, mode, wtab, lookup, ws)
        with np.errstate(divide="ignore", invalid="ignore"):
            block = sums[:, :, 1] / sums[:, :, 0] - (total - sums[:, :, 2]) / (n - k)
        es[a:b] = np.where(defined, block, np.nan)

    _ranks.run_row_tasks(work, n_samples, n, _jobs(n_jobs, n_samples, n))
    return es


def _ssgsea_numpy(X: np.ndarray, union: np.ndarray, local: dict[str, np.ndarray], alpha: float,
                  ties: str, n_jobs: int | None, es: np.ndarray) -> np.ndarray:
    """Reference path: ranks by ``np.sort`` and binary searches, sums per set in NumPy."""
    n = X.shape[1]
    if ties == "average":
        Rw = _average_ranks(X, union, n_jobs)
        Rp = Rw
    else:
        Rw, Rp = _gsva_ranks(X, union)
    W = Rw**alpha  # weights of the union's genes, once
    total = n * (n + 1) / 2.0
    for j, pos in enumerate(local.values()):
        k = pos.size
        if k == 0 or k >= n:
            continue
        Wk = W[:, pos]
        P = Rp[:, pos]
        es[:, j] = (Wk * P).sum(axis=1) / Wk.sum(axis=1) - (total - P.sum(axis=1)) / (n - k)
    return es


def _range_normalise(es: np.ndarray) -> np.ndarray:
    warnings.warn(
        "ssgsea: normalize=True divides by the range of all scores of this call, so a "
        "sample's score depends on the other samples and sets scored with it; use "
        "normalize=False to compare scores across runs",
        UserWarning,
        stacklevel=3,
    )
    finite = es[np.isfinite(es)]
    if finite.size == 0:
        return es
    span = finite.max() - finite.min()
    return es / span if span > 0 else es


def chunk_plan(options: dict) -> tuple[dict, Callable[[np.ndarray], np.ndarray] | None]:
    """Options for scoring sample chunks separately, and the step that joins them.

    Range normalisation needs all scores, so chunks are scored unnormalised and the
    joined matrix is normalised once at the end (identical to scoring in one go).
    """
    if options.get("normalize"):
        return {**options, "normalize": False}, _range_normalise
    return dict(options), None

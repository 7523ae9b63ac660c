"""Helpers shared by the scoring methods (no method module imports another one).

Set columns as one union (:func:`_union`), threads over row blocks (:func:`_parallel_rows`,
:func:`resolve_n_jobs`, :func:`_jobs`), per-row binary searches (:func:`_sorted_search`),
per-gene standardisation and the constant genes it leaves out (:func:`standardise`,
:func:`_drop_constant`). Ranking kernels live in :mod:`._ranks`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ...errors import InputDataError


def _union(sets: Mapping[str, np.ndarray], n: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All set columns once (ascending), and each set's positions within that union."""
    if not sets:
        return np.zeros(0, dtype=np.intp), {}
    arrays = {k: np.asarray(v, dtype=np.intp).ravel() for k, v in sets.items()}
    flat = np.concatenate(list(arrays.values()))
    if n is None:
        n = int(flat.max()) + 1 if flat.size else 0
    seen = np.zeros(n, dtype=bool)
    seen[flat] = True
    union = np.flatnonzero(seen)
    where = np.full(n, -1, dtype=np.intp)
    where[union] = np.arange(union.size)
    return union, {k: where[v] for k, v in arrays.items()}


def _row_blocks(n_rows: int, n_jobs: int) -> list[tuple[int, int]]:
    k = max(1, min(n_jobs, n_rows))
    edges = np.linspace(0, n_rows, k + 1).astype(int)
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


#: below this many matrix entries, n_jobs=None runs on one thread
_THREAD_MIN_ENTRIES = 2_000_000


def _parallel_rows(fn: Callable[[int, int], None], n_rows: int, n_cols: int, n_jobs: int | None) -> None:
    """Run ``fn(start, stop)`` over row blocks, on threads (NumPy sorting releases the GIL)."""
    jobs = resolve_n_jobs(n_jobs)
    if n_jobs is None and n_rows * n_cols < _THREAD_MIN_ENTRIES:
        jobs = 1  # threads only pay off on large matrices
    blocks = _row_blocks(n_rows, jobs)
    if len(blocks) <= 1:
        for a, b in blocks:
            fn(a, b)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
        for fut in [pool.submit(fn, a, b) for a, b in blocks]:
            fut.result()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``None`` -> number of CPUs available to this process; negative counts back from it."""
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        ncpu = os.cpu_count() or 1
    if n_jobs is None:
        return ncpu
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise InputDataError("n_jobs=0 means no worker; use None (all CPUs), a positive or a negative number")
    return max(1, n_jobs if n_jobs > 0 else ncpu + 1 + n_jobs)


def _sorted_search(S: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, how many entries of sorted ``S`` are < and <= each value of ``V``.

    The needles are sorted first: NumPy's binary search reuses the previous hit for
    increasing keys, which makes the search cache friendly.
    """
    order = np.argsort(V, axis=1)
    Vs = np.take_along_axis(V, order, axis=1)
    lo = np.empty(V.shape, dtype=np.intp)
    hi = np.empty(V.shape, dtype=np.intp)
    for i in range(V.shape[0]):
        lo[i, order[i]] = np.searchsorted(S[i], Vs[i], side="left")
        hi[i, order[i]] = np.searchsorted(S[i], Vs[i], side="right")
    return lo, hi


def _jobs(n_jobs: int | None, n_rows: int, n_cols: int) -> int:
    jobs = resolve_n_jobs(n_jobs)
    if n_jobs is None and n_rows * n_cols < _THREAD_MIN_ENTRIES:
        return 1  # threads only pay off on large matrices
    return jobs


#: genes with a standard deviation below this are constant (GSVA's threshold)
CONSTANT_SD = 1e-10


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene z-scores across samples (rows) and a mask of non-constant genes."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] < 2:
        return np.full(X.shape, np.nan), np.zeros(X.shape[1], dtype=bool)
    mu = X.mean(axis=0)
    C = X - mu
    sd = np.sqrt((C * C).sum(axis=0) / (X.shape[0] - 1))
    ok = sd >= CONSTANT_SD
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = C / np.where(ok, sd, np.nan)
    return Z, ok


def _drop_constant(sets: Mapping[str, np.ndarray], ok: np.ndarray, method: str) -> dict[str, np.ndarray]:
    out = {}
    dropped = {}
    for name, idx in sets.items():
        idx = np.asarray(idx, dtype=np.intp).ravel()
        keep = idx[ok[idx]]
        if keep.size < idx.size:
            dropped[name] = idx.size - keep.size
        out[name] = keep
    if dropped:
        summary = ", ".join(f"{k} ({v})" for k, v in list(dropped.items())[:5])
        warnings.warn(
            f"{method}: genes with constant expression across samples were left out of "
            f"{len(dropped)} set(s): {summary}; as in GSVA, they carry no information",
            UserWarning,
            stacklevel=3,
        )
    return out

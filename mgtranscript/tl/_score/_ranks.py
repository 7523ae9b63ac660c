"""Within-row ranks of selected columns at about the cost of one sort of the matrix.

Used by the rank-based scores: ssGSEA and singscore (ranks of the set genes within each
sample) and GSVA (positions of the set genes in each sample's ordering of the kernel
statistics).

How
---
Each value's float64 bit pattern keeps its high bits and carries its column in the lowest
``b = bit_length(n - 1)`` bits (for a negative value ``2**b - 1 - column``, so that equal
keys order by column either way; ``-0.0`` is folded into ``+0.0`` and ``+-inf`` into the
group of the largest finite magnitude). One NumPy sort of these keys per row, as float64
(SIMD sorting on x86), then gives the ascending order of the values *and* which column
sits where: the sorted row carries its genes, so the set genes' ranks are read off in one
linear pass (no binary search per gene, no argsort).

Neighbouring keys that differ above the column bits hold different values in the right
order. Only runs of keys equal there -- tied values, or values within about
``2**(b - 52)`` relative of each other -- are re-read from the data and put in exact
(value, column) order, by insertion (short runs) or a stable merge sort. The result is
exactly the *stable* ascending order (ties in column order) of
``np.argsort(x, kind="stable")``.

For each requested column the pass reports

``lo``
    how many values of the row are smaller (0-based start of its tie block),
``hi``
    how many are smaller or equal (end of its tie block),
``pos``
    its position in the stable ascending order,

from which the average rank ``(lo + hi + 1) / 2``, the minimum rank ``lo + 1`` and GSVA's
input-order tie breaking follow. :func:`row_ranks_numpy` computes the same numbers with
plain NumPy (``np.sort``, binary searches, a stable argsort): it is the reference the
tests compare the compiled path with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

#: matrix entries per task (keys of ~2 MB: the sort and the pass stay in cache)
_BLOCK_ENTRIES = 1 << 18
#: runs of equal keys up to this length are put in order by insertion
_INSERTION_MAX = 16

#: what the rank pass stores per selected column: ssGSEA's weight and walk rank from the
#: average rank, the same with GSVA 1.46's truncated ranks and input-order ties, the
#: minimum rank (singscore), or lo/hi/pos themselves
MODE_AVERAGE, MODE_GSVA, MODE_MIN, MODE_COLS = 0, 1, 2, 3


def _index_bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


# --------------------------------------------------------------------------- kernels


@numba.njit(nogil=True, cache=True)
def _pack_keys(X, Xu, bits, descending, out):  # pragma: no cover - compiled
    """Keys of ``X`` (rows x n; ``Xu`` its bits) into ``out`` (the bits of a float64
    array): the value with its lowest ``bits`` bits replaced by the column."""
    rows, n = X.shape
    low = np.uint64((1 << bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
    finite_max = np.uint64(0x7FEFFFFFFFFFFFFF)
    for r in range(rows):
        for g in range(n):
            x = X[r, g]
            if x == 0.0:
                u = np.uint64(0)  # -0.0 and +0.0 are equal: one key
            else:
                u = Xu[r, g]
                if descending:
                    u = u ^ sign
                if not math.isfinite(x):  # +-inf: the largest finite magnitude's group
                    u = (u & sign) | finite_max
            if u & sign:
                out[r, g] = (u & high) | (low - np.uint64(g))
            else:
                out[r, g] = (u & high) | np.uint64(g)


@numba.njit(nogil=True, cache=True, inline="always")
def _column(k, low, sign):  # pragma: no cover - compiled
    if k & sign:
        return np.int64(low - (k & low))
    return np.int64(k & low)


@numba.njit(nogil=True, cache=True, inline="always")
def _put(r, u, lo, hi, pos, mode, wtab, C, WP):  # pragma: no cover - compiled
    """Store what ``mode`` asks for about selected column ``u`` of row ``r`` (see
    :func:`_rank_pass`)."""
    if mode == MODE_AVERAGE:
        r2 = lo + hi + 1  # twice the average rank
        WP[r, u, 0] = wtab[r2 - 2]
        WP[r, u, 1] = 0.5 * r2
    elif mode == MODE_MIN:
        WP[r, u, 1] = lo + 1.0
    elif mode == MODE_GSVA:
        r2 = lo + hi + 1
        WP[r, u, 0] = wtab[(r2 // 2) * 2 - 2]  # GSVA 1.46 truncates the average rank
        WP[r, u, 1] = hi - (pos - lo)  # tied genes walked in input order
    else:
        C[r, u, 0] = lo
        C[r, u, 1] = hi
        C[r, u, 2] = pos


@numba.njit(nogil=True, cache=True)
def _rank_pass(Ku, X, bits, descending, lookup, mode, wtab, C, WP):  # pragma: no cover - compiled
    """One pass over each row's sorted keys ``Ku``: ``lo``/``hi``/``pos`` of every selected
    column (``lookup[column] = u >= 0``), stored per ``mode``:

    MODE_COLS: ``C[r, u] = (lo, hi, pos)``; MODE_AVERAGE: ``WP[r, u] = (w, p)``, ssGSEA's
    weight ``wtab[2 p - 2]`` and walk rank ``p``, the average rank; MODE_GSVA: the weight
    of GSVA 1.46's truncated average rank and the rank of the gene's place in its walk
    (tied genes in input order); MODE_MIN: ``p`` the minimum rank (``w`` left unset).

    ``C``/``WP`` have one spare column at the end: columns not selected are written there
    (no branch), and it is dropped by the caller.
    """
    rows, n = Ku.shape
    cols_mode = mode == MODE_COLS
    spare = (C.shape[1] if cols_mode else WP.shape[1]) - 1
    low = np.uint64((1 << bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
    gidx = np.empty(n, dtype=np.int64)
    gval = np.empty(n, dtype=np.float64)
    for r in range(rows):
        t = 0
        while t < n:
            k = Ku[r, t]
            hb = k & high
            e = t + 1
            while e < n and (Ku[r, e] & high) == hb:
                e += 1
            if e == t + 1:  # a value of its own: lo = pos = t, hi = t + 1
                u = lookup[_column(k, low, sign)]
                u = u if u >= 0 else spare
                if cols_mode:
                    C[r, u, 0] = t
                    C[r, u, 1] = e
                    C[r, u, 2] = t
                else:  # the same in every weight mode for an untied value
                    WP[r, u, 0] = wtab[2 * t]
                    WP[r, u, 1] = t + 1.0
                t = e
                continue
            # a run of equal keys, in column order: sort it stably by the true values
            m = e - t
            for q in range(m):
                g = _column(Ku[r, t + q], low, sign)
                gidx[q] = g
                gval[q] = -X[r, g] if descending else X[r, g]
            if m <= _INSERTION_MAX:
                for q in range(1, m):
                    v = gval[q]
                    g = gidx[q]
                    s = q
                    while s > 0 and gval[s - 1] > v:  # strict: equal values keep column order
                        gval[s] = gval[s - 1]
                        gidx[s] = gidx[s - 1]
                        s -= 1
                    gval[s] = v
                    gidx[s] = g
            else:
                order = np.argsort(gval[:m], kind="mergesort")
                vs = gval[:m][order]
                gs = gidx[:m][order]
                gval[:m] = vs
                gidx[:m] = gs
            s = 0
            while s < m:
                f = s + 1
                while f < m and gval[f] == gval[s]:
                    f += 1
                for q in range(s, f):
                    u = lookup[gidx[q]]
                    _put(r, u if u >= 0 else spare, t + s, t + f, t + q, mode, wtab, C, WP)
                s = f
            t = e


@numba.njit(nogil=True, cache=True)
def _set_sums(WP, mode, indptr, members, out):  # pragma: no cover - compiled
    """``out[r, s] = (sum w, sum w * p, sum p)`` over the members of set ``s``
    (``indptr``/``members``: CSR of positions in the union); MODE_MIN sums ``p`` only."""
    rows = WP.shape[0]
    n_sets = indptr.shape[0] - 1
    for r in range(rows):
        for s in range(n_sets):
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            if mode == MODE_MIN:
                for q in range(indptr[s], indptr[s + 1]):
                    a2 += WP[r, members[q], 1]
            else:
                for q in range(indptr[s], indptr[s + 1]):
                    u = members[q]
                    w = WP[r, u, 0]
                    p = WP[r, u, 1]
                    a0 += w
                    a1 += w * p
                    a2 += p
            out[r, s, 0] = a0
            out[r, s, 1] = a1
            out[r, s, 2] = a2


# --------------------------------------------------------------------------- API


def lookup_table(n: int, cols: np.ndarray) -> np.ndarray:
    """Column -> its index in ``cols`` (-1 for columns not in ``cols``)."""
    lookup = np.full(n, -1, dtype=np.int32)
    lookup[cols] = np.arange(cols.size, dtype=np.int32)
    return lookup


class Workspace:
    """Scratch arrays for one thread, reused from block to block (fresh large arrays
    would cost a page fault per 4 KiB on every block)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._arrays.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._arrays[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


def _run_pass(X: np.ndarray, cols: np.ndarray, mode: int, *, descending: bool = False,
              wtab: np.ndarray | None = None, lookup: np.ndarray | None = None,
              ws: Workspace | None = None) -> np.ndarray:
    """Sort the rows of ``X`` (as keys) and run :func:`_rank_pass`; returns ``C`` (rows x
    (cols + 1) x 3 int32: lo, hi, pos) for MODE_COLS, else ``WP`` (rows x (cols + 1) x 2:
    w, p); the last column is scratch."""
    ws = ws or Workspace()
    X = np.ascontiguousarray(X, dtype=np.float64)
    rows, n = X.shape
    cols = np.asarray(cols, dtype=np.intp)
    if lookup is None:
        lookup = lookup_table(n, cols)
    # one spare column at the end: where the pass writes columns that are not selected
    if mode == MODE_COLS:
        C = out = ws.get("C", (rows, cols.size + 1, 3), np.int32)
        WP = _NO_FLOAT
    else:
        C = _NO_INT
        WP = out = ws.get("WP", (rows, cols.size + 1, 2), np.float64)
    if wtab is None:  # MODE_MIN/MODE_COLS: no weights, but the pass reads the table for every mode
        wtab = ws.get("wtab", (2 * max(n, 1),), np.float64)
    elif wtab.size < 2 * n - 1:
        raise ValueError("wtab needs 2 n - 1 entries (ranks 1, 1.5, ..., n)")
    if rows and n and cols.size:
        bits = _index_bits(n)
        K = ws.get("K", (rows, n), np.float64)
        _pack_keys(X, X.view(np.uint64), bits, descending, K.view(np.uint64))
        K.sort(axis=1)  # as float64: NumPy's fastest sort
        _rank_pass(K.view(np.uint64), X, bits, descending, lookup, mode, wtab, C, WP)
    return out


_NO_INT = np.empty((0, 0, 3), dtype=np.int32)
_NO_FLOAT = np.empty((0, 0, 2), dtype=np.float64)


def row_ranks_numba(X: np.ndarray, cols: np.ndarray, *, descending: bool = False,
                    want_pos: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``lo``, ``hi``, ``pos`` (rows x ``cols.size``, int32) of the columns ``cols``
    (unique) within each row of ``X``; ``descending=True`` ranks ``-X`` (largest first,
    ties still in column order). Compiled path; see the module docstring."""
    C = _run_pass(X, cols, MODE_COLS, descending=descending)[:, : np.asarray(cols).size]
    return C[:, :, 0].copy(), C[:, :, 1].copy(), (C[:, :, 2].copy() if want_pos else None)


def row_ranks_numpy(X: np.ndarray, cols: np.ndarray, *, descending: bool = False,
                    want_pos: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reference for :func:`row_ranks_numba` in plain NumPy: a sort and two binary
    searches per row for ``lo``/``hi``, a stable argsort for ``pos``."""
    X = np.asarray(X, dtype=np.float64)
    if descending:
        X = -X
    X = X + 0.0  # -0.0 -> +0.0, as the compiled path
    rows, n = X.shape
    cols = np.asarray(cols, dtype=np.intp)
    S = np.sort(X, axis=1)
    V = X[:, cols]
    lo = np.empty(V.shape, dtype=np.int32)
    hi = np.empty(V.shape, dtype=np.int32)
    for i in range(rows):
        lo[i] = np.searchsorted(S[i], V[i], side="left")
        hi[i] = np.searchsorted(S[i], V[i], side="right")
    pos = None
    if want_pos:
        order = np.argsort(X, axis=1, kind="stable")
        inv = np.empty_like(order)
        np.put_along_axis(inv, order, np.broadcast_to(np.arange(n), order.shape), axis=1)
        pos = inv[:, cols].astype(np.int32)
    return lo, hi, pos


def set_csr(local: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sizes, indptr, members)``: the sets as CSR over positions in their union."""
    sizes = np.array([np.asarray(v).size for v in local.values()], dtype=np.int64)
    indptr = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    members = (np.concatenate([np.asarray(v, dtype=np.int64).ravel() for v in local.values()])
               if indptr[-1] else np.zeros(0, dtype=np.int64))
    return sizes, indptr, members


def rank_sums(X: np.ndarray, cols: np.ndarray, indptr: np.ndarray, members: np.ndarray,
              mode: int, wtab: np.ndarray, lookup: np.ndarray | None = None,
              ws: Workspace | None = None) -> np.ndarray:
    """Compiled path: rows x sets x 3 sums ``(sum w, sum w * p, sum p)`` over each set
    (``indptr``/``members``: CSR of positions in ``cols``), with ``w``, ``p`` per
    ``mode`` (see :func:`_emit`): one rank pass, each gene's weight formed once."""
    WP = _run_pass(X, cols, mode, wtab=wtab, lookup=lookup, ws=ws)
    out = np.empty((WP.shape[0], indptr.size - 1, 3), dtype=np.float64)
    _set_sums(WP, mode, indptr, members, out)
    return out


# --------------------------------------------------------------------------- driving


def rows_per_task(n_cols: int) -> int:
    return max(1, _BLOCK_ENTRIES // max(1, n_cols))


def run_row_tasks(fn: Callable[[int, int, Workspace], None], n_rows: int, n_cols: int, jobs: int,
                  step: int | None = None) -> None:
    """Call ``fn(start, stop, workspace)`` over row blocks (of ``step`` rows; default
    about 2 MB of keys) on ``jobs`` threads (the compiled kernels and NumPy's sort
    release the GIL), each thread reusing its own workspace. Results never depend on
    ``jobs`` or ``step``."""
    step = step or rows_per_task(n_cols)
    blocks = [(a, min(n_rows, a + step)) for a in range(0, n_rows, step)]
    jobs = max(1, min(jobs, len(blocks)))
    if jobs == 1:
        ws = Workspace()
        for a, b in blocks:
            fn(a, b, ws)
        return
    lock = threading.Lock()
    queue = iter(blocks)

    def worker() -> None:
        ws = Workspace()
        while True:
            with lock:
                block = next(queue, None)
            if block is None:
                return
            fn(block[0], block[1], ws)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for fut in [pool.submit(worker) for _ in range(jobs)]:
            fut.result()

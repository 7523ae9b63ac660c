"""singscore (Foroutan et al. 2018): rank-based single-sample scores.

Genes are ranked within each sample, ascending (1 = lowest), tied genes sharing the
*lowest* rank of their block (``ties="min"``, as R singscore's ``rankGenes``). For a set
of ``k`` genes out of ``n`` the mean rank ``m`` is scaled to [0, 1] by its theoretical
bounds, ``low = (k + 1) / 2`` (the ``k`` lowest ranks) and ``high = (2n - k + 1) / 2``
(the ``k`` highest)::

    up = (m - low) / (high - low)

and centred (``center=True``, default) by subtracting 0.5, so an up-only score lies in
[-0.5, 0.5]. For an *up/down* signature the down genes are scored the same way and
reversed, ``down = 1 - (m_down - low) / (high - low)``; after centring both parts the total
``up + down`` lies in [-1, 1]. A sample's score never depends on other samples.

Directions
----------
Give an up/down signature either as ``{"NAME": (up_genes, down_genes)}`` to
:func:`mgtranscript.tl.score` or as two sets named ``NAME_UP`` and ``NAME_DN``
(``NAME_DOWN`` also accepted): with ``method="singscore"`` such a pair becomes one column
``NAME``. Any other set is scored as up-only. (``k`` counts the genes found in the data;
R singscore counts the signature's genes before dropping missing ones, which differs only
when genes are missing.)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

import numpy as np

from ...errors import InputDataError
from . import _ranks
from ._common import _jobs, _parallel_rows, _sorted_search, _union

log = logging.getLogger(__name__)

SAMPLE_INDEPENDENT = True
NEEDS_ALL_GENES = True

UP_SUFFIXES = ("_UP",)
DOWN_SUFFIXES = ("_DN", "_DOWN")


#: "numba" (compiled kernels, default) or "numpy" (the reference implementation)
ENGINE = "numba"


def _min_ranks(X: np.ndarray, cols: np.ndarray, n_jobs: int | None = 1) -> np.ndarray:
    """Reference path: within-sample ranks (1 = lowest, ties share the block's lowest
    rank) of ``cols``, by ``np.sort`` and binary searches."""
    R = np.empty((X.shape[0], cols.size), dtype=np.float64)

    def work(a: int, b: int) -> None:
        S = np.sort(X[a:b], axis=1)
        lo, _hi = _sorted_search(S, X[a:b, cols])
        R[a:b] = lo + 1.0

    _parallel_rows(work, X.shape[0], X.shape[1], n_jobs)
    return R


def _scaled(mean_rank: np.ndarray, k: int, n: int) -> np.ndarray:
    low = (k + 1) / 2.0
    high = (2.0 * n - k + 1) / 2.0
    if high <= low:
        return np.full_like(mean_rank, np.nan)
    return (mean_rank - low) / (high - low)


def singscore_matrix(
    X: np.ndarray,
    sets: Mapping[str, np.ndarray],
    *,
    center: bool = True,
    down_sets: Mapping[str, np.ndarray] | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """singscore scores.

    Parameters
    ----------
    X
        Samples x genes, float64, finite (only within-sample ranks matter).
    sets
        Set name -> column indices of the set's (up) genes.
    center
        Subtract 0.5 from each (up and down) part (R singscore's ``centerScore``).
    down_sets
        Set name -> column indices of that set's *down* genes, for up/down signatures.
        :func:`mgtranscript.tl.score` fills this from ``(up, down)`` tuples or
        ``NAME_UP``/``NAME_DN`` pairs; set it yourself only when calling this function
        directly.
    n_jobs
        Threads for ranking (``None``: all available CPUs for large matrices). Results
        do not depend on it.

    Returns
    -------
    Samples x sets array, columns in the order of ``sets``.
    """
    X = np.asarray(X, dtype=np.float64)
    down_sets = dict(down_sets or {})
    unknown = set(down_sets) - set(sets)
    if unknown:
        raise InputDataError(
            f"singscore: down_sets names {sorted(unknown)} are not among the sets; "
            "key each down set by the name of its up set"
        )
    n = X.shape[1]
    all_sets = {("up", k): v for k, v in sets.items()}
    all_sets.update({("dn", k): v for k, v in down_sets.items()})
    es = np.full((X.shape[0], len(sets)), np.nan)
    if X.shape[0] == 0 or not sets:
        return es
    names = list(all_sets)
    means = _mean_ranks(X, all_sets, n_jobs, ENGINE)  # samples x (up and down) sets
    col = {key: j for j, key in enumerate(names)}
    for j, name in enumerate(sets):
        up = np.asarray(all_sets[("up", name)]).size
        if up == 0:
            continue
        score = _scaled(means[:, col[("up", name)]], up, n)
        if center:
            score = score - 0.5
        dn = np.asarray(all_sets.get(("dn", name), ())).size
        if dn:
            down = 1.0 - _scaled(means[:, col[("dn", name)]], dn, n)
            if center:
                down = down - 0.5
            score = score + down
        if not np.all(np.isfinite(score)):
            warnings.warn(f"singscore: set {name!r} covers all {n} genes; its score is undefined", stacklevel=2)
        es[:, j] = score
    return es


def _mean_ranks(X: np.ndarray, sets: Mapping, n_jobs: int | None, engine: str) -> np.ndarray:
    """Samples x sets: mean minimum rank of each set's genes (NaN for an empty set)."""
    n_samples, n = X.shape
    union, local = _union(sets, n)
    sizes = np.array([v.size for v in local.values()], dtype=np.float64)
    if engine == "numpy":
        R = _min_ranks(X, union, n_jobs)
        sums = np.stack([R[:, v].sum(axis=1) for v in local.values()], axis=1)
    else:
        _sizes, indptr, members = _ranks.set_csr(local)
        lookup = _ranks.lookup_table(n, union)
        sums = np.empty((n_samples, len(local)))

        def work(a: int, b: int, ws: _ranks.Workspace) -> None:
            part = _ranks.rank_sums(X[a:b], union, indptr, members, _ranks.MODE_MIN, None, lookup, ws)
            sums[a:b] = part[:, :, 2]

        _ranks.run_row_tasks(work, n_samples, n, _jobs(n_jobs, n_samples, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / sizes


def _split_suffix(name: str, suffixes: tuple[str, ...]) -> str | None:
    upper = name.upper()
    for s in suffixes:
        if upper.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return None


def prepare(sets: Mapping[str, np.ndarray], options: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Pair ``NAME_UP``/``NAME_DN`` sets into one up/down signature ``NAME``.

    Returns the sets to score (up parts, renamed ``NAME``) and the options with
    ``down_sets`` filled in. Unpaired sets are kept as up-only sets.
    """
    if options.get("down_sets") is not None:
        raise InputDataError(
            "singscore: pass up/down signatures as {'NAME': (up_genes, down_genes)} or as "
            "sets named NAME_UP and NAME_DN, not through the down_sets option"
        )
    ups = {b: k for k in sets if (b := _split_suffix(k, UP_SUFFIXES)) is not None}
    dns = {b: k for k in sets if (b := _split_suffix(k, DOWN_SUFFIXES)) is not None}
    paired = {b for b in ups if b in dns and b not in sets}
    out: dict[str, np.ndarray] = {}
    down: dict[str, np.ndarray] = {}
    for name, idx in sets.items():
        base_up = _split_suffix(name, UP_SUFFIXES)
        base_dn = _split_suffix(name, DOWN_SUFFIXES)
        if base_up in paired:
            out[base_up] = idx
            down[base_up] = sets[dns[base_up]]
        elif base_dn in paired:
            continue
        else:
            out[name] = idx
    if paired:
        log.info("singscore: scoring %d up/down signature(s): %s", len(paired), ", ".join(sorted(paired)))
    return out, {**options, "down_sets": down or None}

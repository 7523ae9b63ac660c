"""The compiled row ranks (mgtranscript.tl._score._ranks) against their plain-NumPy reference.

Every fast path (numba) keeps a NumPy reference; these tests check that both give the
same ranks on awkward inputs (ties, signed zeros, infinities, values equal up to the
last bits). Each method's own compiled path is tested in its test_<method>.py.
No test here looks at the clock: speed is measured by benchmarks/run.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mgtranscript.tl._score import _ranks

from support import score_data as sd


# --------------------------------------------------------------------------- ranks


@pytest.mark.parametrize("kind", ["normal", "counts", "near_equal", "specials"])
@pytest.mark.parametrize("descending", [False, True])
def test_compiled_ranks_equal_the_numpy_reference(kind, descending):
    rng = np.random.default_rng(["normal", "counts", "near_equal", "specials"].index(kind))
    for n in (1, 2, 7, 64, 301):
        X = sd.awkward(rng, kind, 5, n)
        cols = np.sort(rng.choice(n, size=max(1, n // 3), replace=False))
        got = _ranks.row_ranks_numba(X, cols, descending=descending, want_pos=True)
        ref = _ranks.row_ranks_numpy(X, cols, descending=descending, want_pos=True)
        for a, b, what in zip(got, ref, ("lo", "hi", "pos")):
            np.testing.assert_array_equal(a, b, err_msg=f"{what}, n={n}")


def test_ranks_are_the_stable_argsort_order():
    # pos is the place in np.argsort(kind="stable"): ties in column order
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(4, 40)).astype(float)
    cols = np.arange(40)
    _lo, _hi, pos = _ranks.row_ranks_numba(X, cols, want_pos=True)
    order = np.argsort(pos, axis=1)
    np.testing.assert_array_equal(order, np.argsort(X, axis=1, kind="stable"))


def test_long_runs_of_nearly_equal_values_in_reverse_order():
    # 5,000 distinct values within a few ulps, in reverse column order: one long run of
    # equal keys that must be re-sorted exactly (the merge-sort branch)
    n = 5000
    X = (1.0 + np.arange(n)[::-1] * 2.0**-52)[None, :]
    got = _ranks.row_ranks_numba(X, np.arange(n), want_pos=True)
    ref = _ranks.row_ranks_numpy(X, np.arange(n), want_pos=True)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- ssGSEA / singscore


# --------------------------------------------------------------------------- PLAGE / z-score


# --------------------------------------------------------------------------- GSVA



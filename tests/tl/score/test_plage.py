"""PLAGE: R GSVA 1.46 parity up to the singular vector's sign, its orientation, and the Gram-matrix path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mgtranscript.tl._score import plage
from mgtranscript.tl._score.plage import plage_matrix

from support import score_data as sd


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_plage_equals_r_up_to_sign_and_is_oriented(kind):
    e = sd.expr(kind)
    X, sets = e.T.to_numpy(float), sd.index_sets(list(e.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = plage_matrix(X, sets)
    ref = sd.ref(kind, "plage").to_numpy()
    sign = np.sign((got * ref).sum(axis=0))
    np.testing.assert_allclose(got * sign, ref, rtol=0, atol=1e-8)
    # documented convention: non-negative correlation with the set's mean z-score
    Z = (X - X.mean(0)) / X.std(0, ddof=1).clip(1e-300)
    for j, idx in enumerate(sets.values()):
        keep = idx[X[:, idx].std(0) > 0]
        assert got[:, j] @ Z[:, keep].mean(axis=1) >= 0


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_plage_gram_path_equals_svd_and_r(kind):
    X, sets = sd.scores_case(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant genes in the count data
        gram = plage.plage_matrix(X, sets)
        svd = plage._plage_svd(X, sets)
    np.testing.assert_allclose(gram, svd, rtol=0, atol=1e-12)
    ref = sd.ref(kind, "plage").to_numpy()
    sign = np.sign((gram * ref).sum(axis=0))
    np.testing.assert_allclose(gram * sign, ref, rtol=0, atol=1e-8)


def test_plage_gram_path_when_sets_are_larger_than_the_cohort():
    # k > samples: the samples x samples Gram matrix is used instead
    rng = np.random.default_rng(9)
    X = rng.normal(size=(12, 300)) + rng.normal(size=(12, 1))
    sets = {"wide": np.arange(250), "narrow": np.arange(5)}
    np.testing.assert_allclose(plage.plage_matrix(X, sets), plage._plage_svd(X, sets), rtol=0, atol=1e-12)

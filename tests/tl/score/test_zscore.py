"""z-score (GSVA's combined z-score, Lee et al. 2008): R GSVA 1.46 parity and the set-genes-only path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mgtranscript.tl._score import zscore
from mgtranscript.tl._score.zscore import zscore_matrix

from support import score_data as sd


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_zscore_equals_r(kind):
    e = sd.expr(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant genes in the count data
        got = zscore_matrix(e.T.to_numpy(float), sd.index_sets(list(e.index)))
    np.testing.assert_allclose(got, sd.ref(kind, "zscore").to_numpy(), rtol=0, atol=1e-8)


def test_zscore_warns_about_constant_genes_like_gsva_drops_them():
    e = sd.expr("ties")
    with pytest.warns(UserWarning, match="constant expression"):
        zscore_matrix(e.T.to_numpy(float), sd.index_sets(list(e.index)))


def test_zscore_reads_only_set_genes_and_equals_full_standardisation():
    rng = np.random.default_rng(10)
    X = rng.normal(5, 2, size=(20, 500))
    sets = {"a": np.arange(10), "b": np.array([3, 400, 499])}
    Z, _ok = zscore.standardise(X)
    want = np.stack([Z[:, v].sum(axis=1) / np.sqrt(v.size) for v in sets.values()], axis=1)
    np.testing.assert_allclose(zscore.zscore_matrix(X, sets), want, rtol=0, atol=1e-12)

"""log2 CPM (edgeR semantics) and GEO2R's log detection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from mgtranscript import pp
from mgtranscript.errors import InputDataError


def counts_adata(m):
    a = ad.AnnData(np.asarray(m, dtype=float))
    a.obs_names = [f"S{i}" for i in range(a.n_obs)]
    a.var_names = [f"G{j}" for j in range(a.n_vars)]
    a.layers["counts"] = a.X.copy()
    return a


def test_log2_cpm_matches_edger_formula():
    y = np.array([[10, 0, 90], [30, 50, 20], [0, 5, 5]], dtype=float)
    a = counts_adata(y)
    pp.log2_cpm(a, prior_count=2, norm=None)
    lib = y.sum(1)
    p = 2 * lib / lib.mean()
    expected = np.log2((y + p[:, None]) / (lib + 2 * p)[:, None] * 1e6)
    np.testing.assert_allclose(a.X, expected)
    # equal library sizes: the prior is exactly prior_count, library augmented by 2*prior
    e = counts_adata([[10, 0, 90], [30, 50, 20]])
    pp.log2_cpm(e, norm=None)
    np.testing.assert_allclose(e.X[0, 1], np.log2(2 / 104 * 1e6))
    np.testing.assert_allclose(e.X[1, 1], np.log2(52 / 104 * 1e6))
    np.testing.assert_array_equal(a.layers["counts"], y)
    scale = a.uns["mgtranscript"]["scale"]
    assert {k: scale[k] for k in ("X", "norm", "prior_count", "counts_layer")} == {
        "X": "log2_cpm", "norm": "none", "prior_count": 2.0, "counts_layer": "counts"}


def test_log2_cpm_without_prior_is_plain_log_cpm_and_copy_leaves_input():
    y = np.array([[1, 3], [2, 2]], dtype=float)
    a = counts_adata(y)
    b = pp.log2_cpm(a, prior_count=0, norm=None, copy=True)
    np.testing.assert_allclose(b.X, np.log2(y / y.sum(1, keepdims=True) * 1e6))
    np.testing.assert_array_equal(a.X, y)
    # layer=None keeps the counts from X
    c = ad.AnnData(y.copy())
    pp.log2_cpm(c, layer=None)
    np.testing.assert_array_equal(c.layers["counts"], y)


@pytest.mark.parametrize("bad, word", [(-1.0, "negative"), (np.nan, "NaN")])
def test_log2_cpm_refuses_bad_counts_and_names_them(bad, word):
    y = np.ones((3, 4))
    y[2, 1] = bad
    with pytest.raises(InputDataError, match=rf"{word}.*'S2'.*'G1'"):
        pp.log2_cpm(counts_adata(y))


def test_log2_cpm_zero_library():
    y = np.array([[0, 0], [1, 2]], dtype=float)
    with pytest.raises(InputDataError, match="zero total counts.*S0"):
        pp.log2_cpm(counts_adata(y))


def test_ensure_log_transforms_linear_intensities():
    rng = np.random.default_rng(0)
    lin = rng.lognormal(mean=7, sigma=1.5, size=(6, 200))
    lin[0, 0] = 0.0
    a = ad.AnnData(lin.copy())
    pp.ensure_log(a)
    sc = a.uns["mgtranscript"]["scale"]
    assert sc["transformed"] is True and sc["rule"] == "GEO2R" and sc["n_set_nan"] == 1
    assert np.isnan(a.X[0, 0])
    np.testing.assert_allclose(a.X[1], np.log2(lin[1]))


def test_ensure_log_keeps_log_data():
    rng = np.random.default_rng(1)
    logd = rng.normal(8, 2, size=(6, 200))
    a = ad.AnnData(logd.copy())
    pp.ensure_log(a)
    assert a.uns["mgtranscript"]["scale"]["transformed"] is False
    np.testing.assert_array_equal(a.X, logd)
    # the second GEO2R criterion: wide range with positive lower quartile
    b = ad.AnnData(np.tile(np.linspace(1, 60, 50), (3, 1)))
    pp.ensure_log(b)
    assert b.uns["mgtranscript"]["scale"]["transformed"] is True

"""singscore: hand-derived examples (R singscore is not packaged in Debian) and the compiled path."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.errors import InputDataError
from mgtranscript.tl._score import singscore
from mgtranscript.tl._score.singscore import prepare, singscore_matrix

# one sample, six genes; ascending ranks with ties "min":
#   value  1 -> g1: 1;  3,3 -> g2,g3: 2,2;  5 -> g0: 4;  7 -> g5: 5;  9 -> g4: 6
X1 = np.array([[5.0, 1.0, 3.0, 3.0, 9.0, 7.0]])


def test_up_only_hand_derived():
    # up {g0, g4}: mean rank 5; bounds (k+1)/2 = 1.5 and (2n-k+1)/2 = 5.5
    es = singscore_matrix(X1, {"up": np.array([0, 4])}, center=False)
    assert es[0, 0] == pytest.approx((5 - 1.5) / (5.5 - 1.5))  # 0.875
    assert singscore_matrix(X1, {"up": np.array([0, 4])})[0, 0] == pytest.approx(0.375)


def test_ties_take_the_minimum_rank():
    # {g2, g3} tie at ranks 2-3 and both get 2: mean 2 -> (2 - 1.5) / 4
    es = singscore_matrix(X1, {"t": np.array([2, 3])}, center=False)
    assert es[0, 0] == pytest.approx(0.125)


def test_up_down_hand_derived():
    # up {g0,g4} -> 0.875 ; down {g1,g2}: mean rank 1.5 -> 0, reversed 1 ; centred sum 0.375 + 0.5
    es = singscore_matrix(X1, {"sig": np.array([0, 4])}, down_sets={"sig": np.array([1, 2])})
    assert es[0, 0] == pytest.approx(0.875)


def test_extremes_reach_the_documented_bounds():
    X = np.arange(20, dtype=float)[None, :]
    top, bottom = np.arange(15, 20), np.arange(5)
    assert singscore_matrix(X, {"s": top})[0, 0] == pytest.approx(0.5)
    assert singscore_matrix(X, {"s": bottom})[0, 0] == pytest.approx(-0.5)
    assert singscore_matrix(X, {"s": top}, down_sets={"s": bottom})[0, 0] == pytest.approx(1.0)
    assert singscore_matrix(X, {"s": bottom}, down_sets={"s": top})[0, 0] == pytest.approx(-1.0)


def test_suffix_pairs_become_one_signature():
    sets = {"EMT_UP": np.array([0, 4]), "EMT_DN": np.array([1, 2]), "OTHER": np.array([5])}
    run_sets, opts = prepare(sets, {})
    assert list(run_sets) == ["EMT", "OTHER"]
    assert set(opts["down_sets"]) == {"EMT"}
    with pytest.raises(InputDataError, match="NAME_UP"):
        prepare(sets, {"down_sets": {"EMT": np.array([1])}})


def test_entry_point_with_up_down_tuple_is_sample_independent():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(50)]
    adata = ad.AnnData(pd.DataFrame(rng.normal(size=(6, 50)), index=[f"s{i}" for i in range(6)], columns=genes))
    sig = {"SIG": (genes[:5], genes[10:15]), "PLAIN": genes[20:30]}
    mg.tl.score(adata, sig, method="singscore")
    got = adata.obsm["mg_singscore"]
    assert list(got.columns) == ["SIG", "PLAIN"]
    assert got["SIG"].between(-1, 1).all() and got["PLAIN"].between(-0.5, 0.5).all()
    one = adata[:1].copy()
    mg.tl.score(one, sig, method="singscore")
    np.testing.assert_allclose(one.obsm["mg_singscore"].to_numpy(), got.iloc[:1].to_numpy(), atol=1e-12)


def test_singscore_compiled_path_equals_numpy_path(monkeypatch):
    rng = np.random.default_rng(8)
    X = rng.poisson(3, size=(25, 400)).astype(float)
    sets = {"a": np.arange(0, 400, 7), "b": np.array([1, 2, 3]), "c": np.arange(100, 140)}
    down = {"a": np.arange(300, 320)}
    got = singscore.singscore_matrix(X, sets, down_sets=down)
    monkeypatch.setattr(singscore, "ENGINE", "numpy")
    ref = singscore.singscore_matrix(X, sets, down_sets=down)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)

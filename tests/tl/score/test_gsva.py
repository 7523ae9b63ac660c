"""GSVA: parity with R GSVA 1.46 and behaviour of mgtranscript.tl._score.gsva.gsva_matrix.

The reference outputs in tests/data/gsva/ were produced by tests/r/make_reference_gsva.R
(R 4.2, GSVA 1.46.0); these tests do not need R.
"""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from mgtranscript.errors import InputDataError
from mgtranscript.tl._score import _gsva_kernels
from mgtranscript.tl._score import gsva as gsva_mod
from mgtranscript.tl._score.gsva import gsva_matrix

from support import score_data as sd


@pytest.mark.parametrize("case", sd.GSVA_CASES["case"].tolist())
def test_matches_r_gsva_146(case):
    row = sd.GSVA_CASES.set_index("case").loc[case]
    X, sets, expr = sd.gsva_input(row["input"])
    ref = pd.read_csv(sd.GSVA / f"gsva_{case}.tsv", sep="\t", index_col=0)
    got = gsva_matrix(
        X,
        sets,
        kcdf=row["kcdf"],
        mx_diff=bool(row["mx_diff"]),
        abs_ranking=bool(row["abs_ranking"]),
        tau=float(row["tau"]),
    )
    got = pd.DataFrame(got.T, index=list(sets), columns=expr.columns).loc[ref.index]
    assert got.shape == ref.shape == (8, 15)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)


def test_constant_gene_is_discarded_like_r(caplog):
    # G007 is constant in expr_log; R drops it before ranking. A set made of it alone is NaN.
    X, sets, expr = sd.gsva_input("expr_log")
    const = list(expr.index).index("G007")
    with caplog.at_level(logging.DEBUG, logger="mgtranscript.tl._score.gsva"):  # a warning the first time only
        out = gsva_matrix(X, {"only_constant": np.array([const]), "other": np.arange(20, 40)})
    assert np.isnan(out[:, 0]).all()
    assert np.isfinite(out[:, 1]).all()
    assert "constant" in caplog.text


def test_constant_genes_said_once_per_cohort(caplog):
    """Scoring two families of sets on one cohort (as the pipeline does) warns about its constant genes
    once; another cohort is told about its own."""
    rng = np.random.default_rng(11)
    X = rng.normal(6, 1, size=(12, 60))
    X[:, [3, 7]] = 5.0
    other = X.copy()
    other[:, 9] = 5.0
    with caplog.at_level(logging.WARNING, logger="mgtranscript.tl._score.gsva"):
        gsva_matrix(X, {"mg": np.arange(0, 20)})
        gsva_matrix(X, {"mech_a": np.arange(20, 40), "mech_b": np.arange(40, 60)})
        gsva_matrix(other, {"mg": np.arange(0, 20)})
    said = [r.getMessage() for r in caplog.records if "constant expression" in r.getMessage()]
    assert said == ["2 gene(s) have constant expression across samples and are discarded for GSVA (as R GSVA does).",
                    "3 gene(s) have constant expression across samples and are discarded for GSVA (as R GSVA does)."]


def test_compiled_kernel_matches_numpy_reference():
    rng = np.random.default_rng(1)
    Xg = rng.normal(5, 2, size=(40, 37)) * rng.uniform(0.2, 2, size=(40, 1))  # genes x samples
    ref = _gsva_kernels._gaussian_density_numpy(Xg)
    got = np.empty_like(Xg)
    _gsva_kernels._gaussian_kernel(Xg, _gsva_kernels._cdf_table(), got)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_chunking_and_gene_order_do_not_change_scores():
    rng = np.random.default_rng(2)
    X = rng.normal(6, 1, size=(25, 300))
    sets = {"a": np.arange(0, 30), "b": np.arange(100, 112), "c": np.array([5, 250, 299])}
    full = gsva_matrix(X, sets)
    np.testing.assert_array_equal(gsva_matrix(X, sets, chunk_genes=7), full)
    perm = rng.permutation(300)  # new column c holds old gene perm[c]
    inv = np.argsort(perm)
    moved = {k: np.sort(inv[v]) for k, v in sets.items()}
    np.testing.assert_allclose(gsva_matrix(X[:, perm], moved), full, atol=1e-12)


def test_scores_detect_an_upregulated_set():
    # a set up-regulated in the second half of the samples must score higher there
    rng = np.random.default_rng(3)
    X = rng.normal(5, 1, size=(30, 500))
    X[15:, :25] += 2.0
    out = gsva_matrix(X, {"up": np.arange(25), "null": np.arange(200, 225)})
    assert out[15:, 0].min() > out[:15, 0].max()
    assert abs(out[:, 1].mean()) < 0.2
    assert np.all(np.abs(out) <= 1.0 + 1e-12)  # max-diff scores lie in [-1, 1]


def test_scores_depend_on_the_cohort():
    assert gsva_mod.SAMPLE_INDEPENDENT is False
    rng = np.random.default_rng(4)
    X = rng.normal(5, 1, size=(20, 200))
    sets = {"a": np.arange(15)}
    assert not np.allclose(gsva_matrix(X, sets)[:10], gsva_matrix(X[:10], sets))


def test_peak_memory_is_bounded():
    rng = np.random.default_rng(5)
    X = rng.normal(5, 1, size=(60, 4000))
    sets = {f"s{i}": np.sort(rng.choice(4000, 50, replace=False)) for i in range(10)}
    gsva_matrix(X[:5, :50], {"a": np.arange(5)})  # compile outside the measurement
    tracemalloc.start()
    try:
        gsva_matrix(X, sets)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 3 * X.nbytes


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), {}, "NaN"),
        (np.ones((4, 3)) * np.arange(3) - 5 + np.arange(4)[:, None], {"kcdf": "poisson"}, "negative"),
        (np.random.default_rng(0).normal(size=(4, 3)), {"kcdf": "normal"}, "kcdf"),
        (np.random.default_rng(0).normal(size=(4, 3)), {"tau": -1}, "tau"),
        (np.ones((4, 3)), {}, "Fewer than two genes"),
        (np.arange(6.0), {}, "2-D"),
    ],
)
def test_bad_inputs_raise_clear_errors(X, kwargs, match):
    with pytest.raises(InputDataError, match=match):
        gsva_matrix(X, {"a": np.array([0, 1])}, **kwargs)


def test_bad_set_indices_raise():
    X = np.random.default_rng(0).normal(size=(5, 10))
    with pytest.raises(InputDataError, match="outside"):
        gsva_matrix(X, {"a": np.array([3, 10])})
    with pytest.raises(InputDataError, match="integer"):
        gsva_matrix(X, {"a": np.array([0.5, 1.0])})


# --------------------------------------------------------------------------- the compiled ranking path, the kernels, dask


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("case", sd.GSVA_CASES["case"].tolist())
def test_both_gsva_ranking_paths_match_r(case, engine, monkeypatch):
    X, sets, ref, opts = sd.gsva_case(case)
    monkeypatch.setattr(gsva_mod, "ENGINE", engine)
    np.testing.assert_allclose(gsva_mod.gsva_matrix(X, sets, **opts), ref, rtol=0, atol=1e-9)


def test_gsva_ranking_paths_agree_on_ties_and_infinities():
    rng = np.random.default_rng(11)
    D = rng.integers(-3, 4, size=(9, 200)).astype(float)
    D[:, ::17] = np.inf  # kcdf="none" gives +inf to a sample's largest value
    sets = {"a": np.arange(0, 200, 3), "b": np.array([0, 17, 34]), "c": np.arange(150, 200)}
    for kw in ({"mx_diff": True, "abs_ranking": False}, {"mx_diff": True, "abs_ranking": True},
               {"mx_diff": False, "abs_ranking": False}):
        a = gsva_mod._rank_and_walk(D, sets, tau=1.0, engine="numba", **kw)
        b = gsva_mod._rank_and_walk(D, sets, tau=1.0, engine="numpy", **kw)
        np.testing.assert_array_equal(a, b)


def test_gaussian_kernel_serial_and_parallel_are_identical():
    rng = np.random.default_rng(12)
    Xg = rng.normal(5, 2, size=(30, 41)) * rng.uniform(0.2, 2, size=(30, 1))
    Xg[3, :30] = 7.0  # ties (constant genes never get here: gsva_matrix drops them)
    Xg[4, :20] = Xg[4, 20:40]
    table = _gsva_kernels._cdf_table()
    par, ser = np.empty_like(Xg), np.empty_like(Xg)
    _gsva_kernels._gaussian_kernel(Xg, table, par)
    _gsva_kernels._gaussian_rows(Xg, table, ser)
    np.testing.assert_array_equal(par, ser)
    np.testing.assert_allclose(par, _gsva_kernels._gaussian_density_numpy(Xg), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kcdf", ["gaussian", "poisson", "none"])
def test_gsva_dask_path_gives_identical_scores(kcdf, caplog):
    rng = np.random.default_rng(13)
    X = rng.poisson(20, size=(40, 300)).astype(float)
    if kcdf == "gaussian":
        X = np.log2(X + 1)
    sets = {"a": np.arange(20), "b": np.arange(100, 160), "c": np.array([5, 250, 299])}
    local = gsva_mod.gsva_matrix(X, sets, kcdf=kcdf, use_dask=False)
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        via_dask = gsva_mod.gsva_matrix(X, sets, kcdf=kcdf, use_dask=True, chunk_genes=64)
    assert "dask task" in caplog.text
    np.testing.assert_array_equal(via_dask, local)


def test_gsva_uses_dask_from_the_sample_threshold_on(monkeypatch, caplog):
    rng = np.random.default_rng(14)
    X = rng.normal(6, 1, size=(30, 120))
    sets = {"a": np.arange(15)}
    monkeypatch.setattr(gsva_mod, "DASK_MIN_SAMPLES", 30)
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        gsva_mod.gsva_matrix(X, sets)
    assert "dask task" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        gsva_mod.gsva_matrix(X[:29], sets)
    assert "dask task" not in caplog.text


def test_gsva_dask_path_runs_on_an_active_distributed_client():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(15)
    X = rng.normal(6, 1, size=(24, 200))
    sets = {"a": np.arange(30), "b": np.arange(120, 140)}
    local = gsva_mod.gsva_matrix(X, sets, use_dask=False)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        with distributed.get_task_stream(client) as stream:
            got = gsva_mod.gsva_matrix(X, sets, use_dask=True, chunk_genes=50)
    assert sum("density_task" in str(t["key"]) for t in stream.data) >= 4  # 200 genes / 50 per task
    np.testing.assert_array_equal(got, local)

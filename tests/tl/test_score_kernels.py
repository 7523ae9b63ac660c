"""The compiled scoring kernels against their plain-NumPy references and R GSVA 1.46.

Every fast path (numba) keeps a NumPy reference; these tests check that both give the
same numbers, on awkward inputs (ties, signed zeros, infinities, values equal up to the
last bits) and on the committed R reference outputs (tests/data, made by tests/r/).
No test here looks at the clock: speed is measured by benchmarks/run.py.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgtranscript.tl._score import _gsva_kernels, _ranks, gsva, plage, singscore, ssgsea, zscore

DATA = Path(__file__).resolve().parents[1] / "data"


# --------------------------------------------------------------------------- ranks


def _awkward(rng, kind: str, rows: int, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=(rows, n))
    if kind == "counts":  # many ties, both signs
        return rng.poisson(2, size=(rows, n)) * rng.choice([-1.0, 1.0], size=(rows, n))
    if kind == "near_equal":  # differ only in the last bits: the column bits of the keys collide
        return 1.0 + rng.integers(0, 50, size=(rows, n)) * 2.0**-52
    if kind == "specials":
        X = rng.normal(size=(rows, n))
        X[:, ::3] = 0.0
        X[:, 1::7] = -0.0
        X[:, 2::11] = np.inf
        X[:, 4::13] = -np.inf
        X[:, 5::17] = 5e-324  # subnormal
        X[:, 6::19] = np.finfo(float).max
        return X
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["normal", "counts", "near_equal", "specials"])
@pytest.mark.parametrize("descending", [False, True])
def test_compiled_ranks_equal_the_numpy_reference(kind, descending):
    rng = np.random.default_rng(["normal", "counts", "near_equal", "specials"].index(kind))
    for n in (1, 2, 7, 64, 301):
        X = _awkward(rng, kind, 5, n)
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


def _scores_case(kind: str):
    e = pd.read_csv(DATA / "scores" / f"expr_{kind}.tsv", sep="\t", index_col=0)
    long = pd.read_csv(DATA / "scores" / "sets.tsv", sep="\t")
    pos = {g: i for i, g in enumerate(e.index)}
    sets = {s: np.array(sorted(pos[g] for g in grp if g in pos)) for s, grp in long.groupby("set", sort=False)["gene"]}
    return e.T.to_numpy(float), sets


def _ref(kind: str, method: str) -> np.ndarray:
    return pd.read_csv(DATA / "scores" / f"{kind}__{method}.tsv", sep="\t", index_col=0).to_numpy()


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_both_ssgsea_paths_match_r_gsva(engine, kind):
    X, sets = _scores_case(kind)
    got = ssgsea._ssgsea(X, sets, alpha=0.25, ties="gsva", n_jobs=1, engine=engine)
    np.testing.assert_allclose(got, _ref(kind, "ssgsea"), rtol=0, atol=1e-8)


@pytest.mark.parametrize("ties", ["average", "gsva"])
@pytest.mark.parametrize("kind", ["normal", "counts"])
def test_ssgsea_compiled_path_equals_numpy_path(ties, kind):
    rng = np.random.default_rng(4)
    X = _awkward(rng, kind, 30, 700)
    sets = {f"s{i}": np.sort(rng.choice(700, int(k), replace=False)) for i, k in enumerate([1, 5, 40, 200, 699])}
    sets["overlap"] = sets["s2"][:10]
    a = ssgsea._ssgsea(X, sets, alpha=0.25, ties=ties, n_jobs=1, engine="numba")
    b = ssgsea._ssgsea(X, sets, alpha=0.25, ties=ties, n_jobs=1, engine="numpy")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)


def test_ssgsea_threads_and_blocks_do_not_change_scores(monkeypatch):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(37, 900))
    sets = {f"s{i}": np.sort(rng.choice(900, 50, replace=False)) for i in range(6)}
    one = ssgsea.ssgsea_matrix(X, sets, n_jobs=1)
    monkeypatch.setattr(_ranks, "_BLOCK_ENTRIES", 900 * 3)  # 3 rows per task, many tasks
    np.testing.assert_array_equal(ssgsea.ssgsea_matrix(X, sets, n_jobs=2), one)


def test_singscore_compiled_path_equals_numpy_path(monkeypatch):
    rng = np.random.default_rng(8)
    X = rng.poisson(3, size=(25, 400)).astype(float)
    sets = {"a": np.arange(0, 400, 7), "b": np.array([1, 2, 3]), "c": np.arange(100, 140)}
    down = {"a": np.arange(300, 320)}
    got = singscore.singscore_matrix(X, sets, down_sets=down)
    monkeypatch.setattr(singscore, "ENGINE", "numpy")
    ref = singscore.singscore_matrix(X, sets, down_sets=down)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- PLAGE / z-score


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_plage_gram_path_equals_svd_and_r(kind):
    X, sets = _scores_case(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant genes in the count data
        gram = plage.plage_matrix(X, sets)
        svd = plage._plage_svd(X, sets)
    np.testing.assert_allclose(gram, svd, rtol=0, atol=1e-12)
    ref = _ref(kind, "plage")
    sign = np.sign((gram * ref).sum(axis=0))
    np.testing.assert_allclose(gram * sign, ref, rtol=0, atol=1e-8)


def test_plage_gram_path_when_sets_are_larger_than_the_cohort():
    # k > samples: the samples x samples Gram matrix is used instead
    rng = np.random.default_rng(9)
    X = rng.normal(size=(12, 300)) + rng.normal(size=(12, 1))
    sets = {"wide": np.arange(250), "narrow": np.arange(5)}
    np.testing.assert_allclose(plage.plage_matrix(X, sets), plage._plage_svd(X, sets), rtol=0, atol=1e-12)


def test_zscore_reads_only_set_genes_and_equals_full_standardisation():
    rng = np.random.default_rng(10)
    X = rng.normal(5, 2, size=(20, 500))
    sets = {"a": np.arange(10), "b": np.array([3, 400, 499])}
    Z, _ok = zscore.standardise(X)
    want = np.stack([Z[:, v].sum(axis=1) / np.sqrt(v.size) for v in sets.values()], axis=1)
    np.testing.assert_allclose(zscore.zscore_matrix(X, sets), want, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- GSVA


def _gsva_case(case: str):
    cases = pd.read_csv(DATA / "gsva" / "cases.tsv", sep="\t").set_index("case")
    row = cases.loc[case]
    expr = pd.read_csv(DATA / "gsva" / f"{row['input']}.tsv", sep="\t", index_col=0)
    long = pd.read_csv(DATA / "gsva" / "sets.tsv", sep="\t")
    pos = {g: i for i, g in enumerate(expr.index)}
    sets = {s: np.array(sorted(pos[g] for g in genes)) for s, genes in long.groupby("set", sort=False)["gene"]}
    ref = pd.read_csv(DATA / "gsva" / f"gsva_{case}.tsv", sep="\t", index_col=0).loc[list(sets)].to_numpy().T
    opts = dict(kcdf=row["kcdf"], mx_diff=bool(row["mx_diff"]), abs_ranking=bool(row["abs_ranking"]), tau=float(row["tau"]))
    return expr.T.to_numpy(np.float64), sets, ref, opts


GSVA_CASES = pd.read_csv(DATA / "gsva" / "cases.tsv", sep="\t")["case"].tolist()


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("case", GSVA_CASES)
def test_both_gsva_ranking_paths_match_r(case, engine, monkeypatch):
    X, sets, ref, opts = _gsva_case(case)
    monkeypatch.setattr(gsva, "ENGINE", engine)
    np.testing.assert_allclose(gsva.gsva_matrix(X, sets, **opts), ref, rtol=0, atol=1e-9)


def test_gsva_ranking_paths_agree_on_ties_and_infinities():
    rng = np.random.default_rng(11)
    D = rng.integers(-3, 4, size=(9, 200)).astype(float)
    D[:, ::17] = np.inf  # kcdf="none" gives +inf to a sample's largest value
    sets = {"a": np.arange(0, 200, 3), "b": np.array([0, 17, 34]), "c": np.arange(150, 200)}
    for kw in ({"mx_diff": True, "abs_ranking": False}, {"mx_diff": True, "abs_ranking": True},
               {"mx_diff": False, "abs_ranking": False}):
        a = gsva._rank_and_walk(D, sets, tau=1.0, engine="numba", **kw)
        b = gsva._rank_and_walk(D, sets, tau=1.0, engine="numpy", **kw)
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
    local = gsva.gsva_matrix(X, sets, kcdf=kcdf, use_dask=False)
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        via_dask = gsva.gsva_matrix(X, sets, kcdf=kcdf, use_dask=True, chunk_genes=64)
    assert "dask task" in caplog.text
    np.testing.assert_array_equal(via_dask, local)


def test_gsva_uses_dask_from_the_sample_threshold_on(monkeypatch, caplog):
    rng = np.random.default_rng(14)
    X = rng.normal(6, 1, size=(30, 120))
    sets = {"a": np.arange(15)}
    monkeypatch.setattr(gsva, "DASK_MIN_SAMPLES", 30)
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        gsva.gsva_matrix(X, sets)
    assert "dask task" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mgtranscript.tl._score._gsva_kernels"):
        gsva.gsva_matrix(X[:29], sets)
    assert "dask task" not in caplog.text


def test_gsva_dask_path_runs_on_an_active_distributed_client():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(15)
    X = rng.normal(6, 1, size=(24, 200))
    sets = {"a": np.arange(30), "b": np.arange(120, 140)}
    local = gsva.gsva_matrix(X, sets, use_dask=False)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        with distributed.get_task_stream(client) as stream:
            got = gsva.gsva_matrix(X, sets, use_dask=True, chunk_genes=50)
    assert sum("density_task" in str(t["key"]) for t in stream.data) >= 4  # 200 genes / 50 per task
    np.testing.assert_array_equal(got, local)

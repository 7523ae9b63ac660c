"""ssGSEA: agreement with R GSVA 1.46 and gseapy, the tie policy, normalisation, the compiled path,
speed-independent options."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from mgtranscript.errors import InputDataError
from mgtranscript.tl._score import _ranks, ssgsea
from mgtranscript.tl._score.ssgsea import ssgsea_matrix

from support import score_data as sd


def _walk_sum(values: np.ndarray, idx: np.ndarray, order: np.ndarray, ranks: np.ndarray, alpha: float) -> float:
    """The literal GSVA random walk for one sample, genes visited in ``order``."""
    inset = np.isin(order, idx).astype(float)
    w = ranks[order] ** alpha * inset
    step_in = np.cumsum(w) / w.sum()
    step_out = np.cumsum(1 - inset) / (1 - inset).sum()
    return float((step_in - step_out).sum())


def test_equals_gseapy_unnormalised_es_on_tie_free_data():
    gseapy = pytest.importorskip("gseapy")
    rng = np.random.default_rng(7)
    n = 400
    X = rng.lognormal(size=(5, n))
    genes = [f"G{i}" for i in range(n)]
    sets = {f"S{k}": np.sort(rng.choice(n, size=s, replace=False)) for k, s in enumerate([4, 15, 60])}
    df = pd.DataFrame(X.T, index=genes, columns=[f"s{i}" for i in range(5)])
    res = gseapy.ssgsea(data=df, gene_sets={k: [genes[i] for i in v] for k, v in sets.items()},
                        sample_norm_method="rank", weight=0.25, min_size=1, max_size=1000,
                        outdir=None, no_plot=True, threads=1, verbose=False)
    theirs = res.res2d.pivot(index="Name", columns="Term", values="ES").astype(float).loc[df.columns, list(sets)]
    np.testing.assert_allclose(ssgsea_matrix(X, sets), theirs.to_numpy(), rtol=0, atol=1e-9)


def test_average_ties_is_invariant_to_gene_order():
    rng = np.random.default_rng(3)
    X = rng.poisson(3, size=(8, 300)).astype(float)  # many ties
    sets = {"a": np.arange(0, 300, 7), "b": np.array([1, 2, 3, 50]), "c": np.arange(100, 140)}
    perm = rng.permutation(300)
    inv = np.argsort(perm)
    Xp = X[:, perm]
    sets_p = {k: np.sort(inv[v]) for k, v in sets.items()}
    np.testing.assert_allclose(ssgsea_matrix(Xp, sets_p), ssgsea_matrix(X, sets), rtol=0, atol=1e-10)
    # the GSVA-compatible policy is not: it walks tied genes in input order
    assert np.abs(ssgsea_matrix(Xp, sets_p, ties="gsva") - ssgsea_matrix(X, sets, ties="gsva")).max() > 1e-3


def test_average_ties_is_the_mean_walk_over_all_orderings_of_tied_genes():
    # 7 genes, two tied blocks; brute force every ordering within the blocks
    x = np.array([2.0, 5.0, 2.0, 9.0, 5.0, 2.0, 1.0])
    idx = np.array([0, 4, 6])
    from scipy.stats import rankdata

    ranks = rankdata(x, method="average")
    blocks = [np.flatnonzero(x == v) for v in sorted(set(x), reverse=True)]
    walks = []
    for perms in itertools.product(*(itertools.permutations(b) for b in blocks)):
        order = np.concatenate([np.array(p) for p in perms])
        walks.append(_walk_sum(x, idx, order, ranks, 0.25))
    got = ssgsea_matrix(x[None, :], {"s": idx})[0, 0]
    assert got == pytest.approx(np.mean(walks), abs=1e-12)


def test_gsva_ties_follow_the_literal_walk_with_truncated_ranks():
    from scipy.stats import rankdata

    rng = np.random.default_rng(11)
    X = rng.poisson(2, size=(4, 60)).astype(float)
    idx = np.array([0, 3, 10, 11, 40])
    for i in range(4):
        r = np.floor(rankdata(X[i], method="average"))
        order = np.argsort(-r, kind="stable")
        expected = _walk_sum(X[i], idx, order, r, 0.25)
        assert ssgsea_matrix(X[i:i + 1], {"s": idx}, ties="gsva")[0, 0] == pytest.approx(expected, abs=1e-10)


def test_score_of_a_sample_does_not_depend_on_other_samples_or_threads():
    rng = np.random.default_rng(5)
    X = rng.lognormal(size=(9, 500))
    sets = {"a": np.arange(20), "b": np.arange(100, 300, 3)}
    full = ssgsea_matrix(X, sets, n_jobs=1)
    np.testing.assert_array_equal(ssgsea_matrix(X, sets, n_jobs=3), full)
    np.testing.assert_allclose(ssgsea_matrix(X[4:5], sets), full[4:5], rtol=1e-13, atol=0)


def test_top_ranked_set_scores_higher_than_bottom_ranked_set():
    X = np.arange(100, dtype=float)[None, :]  # gene 99 highest
    es = ssgsea_matrix(X, {"top": np.arange(90, 100), "bottom": np.arange(10)})
    assert es[0, 0] > 0 > es[0, 1]


def test_alpha_zero_gives_the_unweighted_walk():
    x = np.array([[3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0]])
    idx = np.array([2, 5])
    from scipy.stats import rankdata

    r = rankdata(x[0])
    order = np.argsort(-r)
    assert ssgsea_matrix(x, {"s": idx}, alpha=0.0)[0, 0] == pytest.approx(_walk_sum(x[0], idx, order, r, 0.0))


def test_bad_options_raise():
    X = np.ones((2, 5))
    with pytest.raises(InputDataError, match="ties"):
        ssgsea_matrix(X, {"s": np.array([0])}, ties="first")
    with pytest.raises(InputDataError, match="alpha"):
        ssgsea_matrix(X, {"s": np.array([0])}, alpha=-1)


def test_a_set_covering_every_gene_is_nan_with_a_warning():
    with pytest.warns(UserWarning, match="undefined"):
        es = ssgsea_matrix(np.random.default_rng(0).normal(size=(2, 4)), {"all": np.arange(4)})
    assert np.isnan(es).all()


def test_normalize_warns_and_equals_global_range_scaling():
    rng = np.random.default_rng(2)
    X = rng.lognormal(size=(6, 200))
    sets = {"a": np.arange(10), "b": np.arange(50, 90)}
    raw = ssgsea_matrix(X, sets)
    with pytest.warns(UserWarning, match="depends on the other samples"):
        norm = ssgsea_matrix(X, sets, normalize=True)
    np.testing.assert_allclose(norm, raw / (raw.max() - raw.min()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ssgsea_matrix(X, sets)  # the default never warns


# --------------------------------------------------------------------------- R GSVA 1.46 (tests/data/scores)


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_ssgsea_gsva_ties_equals_r(kind):
    e = sd.expr(kind)
    got = ssgsea_matrix(e.T.to_numpy(float), sd.index_sets(list(e.index)), ties="gsva")
    np.testing.assert_allclose(got, sd.ref(kind, "ssgsea").to_numpy(), rtol=0, atol=1e-8)


def test_ssgsea_default_equals_r_without_ties():
    e = sd.expr("noties")
    got = ssgsea_matrix(e.T.to_numpy(float), sd.index_sets(list(e.index)))
    np.testing.assert_allclose(got, sd.ref("noties", "ssgsea").to_numpy(), rtol=0, atol=1e-8)


def test_ssgsea_average_ties_differs_from_gsva_truncation_on_tied_data():
    # the two documented tie policies really are different on count data
    e = sd.expr("ties")
    X, sets = e.T.to_numpy(float), sd.index_sets(list(e.index))
    assert np.abs(ssgsea_matrix(X, sets) - ssgsea_matrix(X, sets, ties="gsva")).max() > 1


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_ssgsea_normalized_equals_r(kind):
    e = sd.expr(kind)
    with pytest.warns(UserWarning, match="depends on the other samples"):
        got = ssgsea_matrix(e.T.to_numpy(float), sd.index_sets(list(e.index)), ties="gsva", normalize=True)
    np.testing.assert_allclose(got, sd.ref(kind, "ssgsea_norm").to_numpy(), rtol=0, atol=1e-8)


# --------------------------------------------------------------------------- the compiled path (numba) and its NumPy reference


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_both_ssgsea_paths_match_r_gsva(engine, kind):
    X, sets = sd.scores_case(kind)
    got = ssgsea._ssgsea(X, sets, alpha=0.25, ties="gsva", n_jobs=1, engine=engine)
    np.testing.assert_allclose(got, sd.ref(kind, "ssgsea").to_numpy(), rtol=0, atol=1e-8)


@pytest.mark.parametrize("ties", ["average", "gsva"])
@pytest.mark.parametrize("kind", ["normal", "counts"])
def test_ssgsea_compiled_path_equals_numpy_path(ties, kind):
    rng = np.random.default_rng(4)
    X = sd.awkward(rng, kind, 30, 700)
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

"""GSVA: parity with R GSVA 1.46 and behaviour of mgtranscript.tl._score.gsva.gsva_matrix.

The reference outputs in tests/data/gsva/ were produced by tests/r/make_reference_gsva.R
(R 4.2, GSVA 1.46.0); these tests do not need R.
"""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgtranscript.errors import InputDataError
from mgtranscript.tl._score import _gsva_kernels
from mgtranscript.tl._score import gsva as gsva_mod
from mgtranscript.tl._score.gsva import gsva_matrix

DATA = Path(__file__).resolve().parents[1] / "data" / "gsva"
CASES = pd.read_csv(DATA / "cases.tsv", sep="\t")


def _load(input_name: str):
    expr = pd.read_csv(DATA / f"{input_name}.tsv", sep="\t", index_col=0)
    long = pd.read_csv(DATA / "sets.tsv", sep="\t")
    pos = {g: i for i, g in enumerate(expr.index)}
    sets = {s: np.array(sorted(pos[g] for g in genes)) for s, genes in long.groupby("set", sort=False)["gene"]}
    return expr.T.to_numpy(dtype=np.float64), sets, expr


@pytest.mark.parametrize("case", CASES["case"].tolist())
def test_matches_r_gsva_146(case):
    row = CASES.set_index("case").loc[case]
    X, sets, expr = _load(row["input"])
    ref = pd.read_csv(DATA / f"gsva_{case}.tsv", sep="\t", index_col=0)
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
    X, sets, expr = _load("expr_log")
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

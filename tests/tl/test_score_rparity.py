"""Parity with R GSVA 1.46 (reference outputs made by tests/r/make_reference_scores.R)."""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.tl._score.plage import plage_matrix
from mgtranscript.tl._score.ssgsea import ssgsea_matrix
from mgtranscript.tl._score.zscore import zscore_matrix

DATA = Path(__file__).resolve().parents[1] / "data" / "scores"


def _expr(kind: str) -> pd.DataFrame:
    """Genes x samples, as written by R."""
    return pd.read_csv(DATA / f"expr_{kind}.tsv", sep="\t", index_col=0)


def _ref(kind: str, method: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{kind}__{method}.tsv", sep="\t", index_col=0)


def _sets_long() -> pd.DataFrame:
    return pd.read_csv(DATA / "sets.tsv", sep="\t")


def _index_sets(genes: list[str]) -> dict[str, np.ndarray]:
    pos = {g: i for i, g in enumerate(genes)}
    return {
        name: np.array(sorted(pos[g] for g in grp if g in pos))
        for name, grp in _sets_long().groupby("set", sort=False)["gene"]
    }


def _adata(kind: str) -> ad.AnnData:
    e = _expr(kind)
    return ad.AnnData(e.T.astype(np.float64))


def test_reference_inputs_are_what_the_tests_assume():
    noties, ties = _expr("noties"), _expr("ties")
    assert noties.shape == ties.shape == (200, 12)
    assert all(not noties[c].duplicated().any() for c in noties)
    assert any(ties[c].duplicated().any() for c in ties) and (ties.values == 0).any()
    assert "NOT_IN_DATA" in set(_sets_long()["gene"])


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_ssgsea_gsva_ties_equals_r(kind):
    e = _expr(kind)
    got = ssgsea_matrix(e.T.to_numpy(float), _index_sets(list(e.index)), ties="gsva")
    np.testing.assert_allclose(got, _ref(kind, "ssgsea").to_numpy(), rtol=0, atol=1e-8)


def test_ssgsea_default_equals_r_without_ties():
    e = _expr("noties")
    got = ssgsea_matrix(e.T.to_numpy(float), _index_sets(list(e.index)))
    np.testing.assert_allclose(got, _ref("noties", "ssgsea").to_numpy(), rtol=0, atol=1e-8)


def test_ssgsea_average_ties_differs_from_gsva_truncation_on_tied_data():
    # the two documented tie policies really are different on count data
    e = _expr("ties")
    X, sets = e.T.to_numpy(float), _index_sets(list(e.index))
    assert np.abs(ssgsea_matrix(X, sets) - ssgsea_matrix(X, sets, ties="gsva")).max() > 1


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_ssgsea_normalized_equals_r(kind):
    e = _expr(kind)
    with pytest.warns(UserWarning, match="depends on the other samples"):
        got = ssgsea_matrix(e.T.to_numpy(float), _index_sets(list(e.index)), ties="gsva", normalize=True)
    np.testing.assert_allclose(got, _ref(kind, "ssgsea_norm").to_numpy(), rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_zscore_equals_r(kind):
    e = _expr(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant genes in the count data
        got = zscore_matrix(e.T.to_numpy(float), _index_sets(list(e.index)))
    np.testing.assert_allclose(got, _ref(kind, "zscore").to_numpy(), rtol=0, atol=1e-8)


def test_zscore_warns_about_constant_genes_like_gsva_drops_them():
    e = _expr("ties")
    with pytest.warns(UserWarning, match="constant expression"):
        zscore_matrix(e.T.to_numpy(float), _index_sets(list(e.index)))


@pytest.mark.parametrize("kind", ["noties", "ties"])
def test_plage_equals_r_up_to_sign_and_is_oriented(kind):
    e = _expr(kind)
    X, sets = e.T.to_numpy(float), _index_sets(list(e.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = plage_matrix(X, sets)
    ref = _ref(kind, "plage").to_numpy()
    sign = np.sign((got * ref).sum(axis=0))
    np.testing.assert_allclose(got * sign, ref, rtol=0, atol=1e-8)
    # documented convention: non-negative correlation with the set's mean z-score
    Z = (X - X.mean(0)) / X.std(0, ddof=1).clip(1e-300)
    for j, idx in enumerate(sets.values()):
        keep = idx[X[:, idx].std(0) > 0]
        assert got[:, j] @ Z[:, keep].mean(axis=1) >= 0


@pytest.mark.parametrize(
    ("method", "ref", "options"),
    [("ssgsea", "ssgsea", {"ties": "gsva"}), ("zscore", "zscore", {}), ("ssgsea", "ssgsea_norm", {"ties": "gsva", "normalize": True})],
)
def test_entry_point_matches_r_and_reports_the_missing_gene(method, ref, options):
    adata = _adata("ties")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mg.tl.score(adata, _sets_long(), method=method, key_added="r", **options)
    got = adata.obsm["r"]
    expected = _ref("ties", ref)
    assert list(got.columns) == list(expected.columns)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-8)
    cov = mg.get.coverage(adata, "r")
    assert cov.loc["SET_D15", "n_missing"] == 1
    assert "NOT_IN_DATA" in cov.loc["SET_D15", "missing"]
    assert cov.loc["SET_D15", "final_size"] == 14

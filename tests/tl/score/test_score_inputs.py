"""Input checks in scoring (negative or non-finite values, counts where log is expected) and
h5ad files written after scoring that older anndata versions can read (no None in uns)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript import genesets
from mgtranscript.cli import main
from mgtranscript.errors import InputDataError


@pytest.fixture
def genes() -> list[str]:
    sets = genesets.load("magnesium")
    return sorted({g for name in sets for g in sets[name]}) + [f"OTHER{i}" for i in range(80)]


def _adata(X, genes) -> ad.AnnData:
    return ad.AnnData(np.asarray(X, dtype=float), var=pd.DataFrame(index=genes),
                      obs=pd.DataFrame(index=[f"S{i}" for i in range(X.shape[0])]))


def _log(genes, n=12, seed=0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    return _adata(rng.normal(6, 2, (n, len(genes))), genes)  # log2 values, some negative


def _counts(genes, n=12, seed=0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    return _adata(rng.negative_binomial(5, 0.01, (n, len(genes))), genes)


def _no_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("method", ["zscore", "plage", "mean", "gsva"])
def test_counts_where_log_is_expected_warn_with_the_fix(genes, method):
    a = _counts(genes)
    with pytest.warns(UserWarning, match="looks like raw counts.*Fix: log-transform") as rec:
        mg.tl.score(a, method=method)
    if method == "gsva":
        assert "kcdf='poisson'" in str(rec[0].message)
    assert f"mg_{method}" in a.obsm  # a warning, not a refusal


@pytest.mark.parametrize("method", ["ssgsea", "singscore"])
def test_rank_methods_do_not_warn_on_counts(genes, method):
    a = _counts(genes)
    assert not [m for m in _no_warnings(lambda: mg.tl.score(a, method=method)) if "raw counts" in m]


def test_log_data_with_negative_values_is_fine(genes):
    a = _log(genes)
    a.X[0, 0] = -1.5
    assert _no_warnings(lambda: mg.tl.score(a, method="zscore")) == []
    assert _no_warnings(lambda: mg.tl.score(a, method="gsva")) == []


def test_gsva_poisson_on_counts_does_not_warn(genes):
    a = _counts(genes)
    assert not [m for m in _no_warnings(lambda: mg.tl.score(a, method="gsva", kcdf="poisson"))
                if "raw counts" in m]


def test_negative_counts_in_a_counts_layer_are_refused(genes):
    a = _log(genes)
    a.layers["counts"] = _counts(genes).X
    a.layers["counts"][3, 5] = -1
    with pytest.raises(InputDataError, match="negative value.*declared as counts.*Fix"):
        mg.tl.score(a, layer="counts")
    assert "mg_ssgsea" not in a.obsm


def test_negative_integer_values_warn(genes):
    """The issue's case: an h5ad whose X holds negative 'counts' was scored silently."""
    a = _counts(genes)
    a.X[2, 4] = -3
    with pytest.warns(UserWarning, match="negative value.*counts cannot be negative"):
        mg.tl.score(a)


def test_non_finite_values_are_refused_naming_the_cells(genes):
    a = _log(genes)
    a.X[1, 2] = np.nan
    with pytest.raises(InputDataError, match="non-finite.*S1/"):
        mg.tl.score(a)


def test_cli_score_negative_counts_is_a_warning_line(genes, tmp_path, capsys):
    a = _counts(genes)
    a.X[0, 0] = -1
    path = tmp_path / "neg.h5ad"
    a.write_h5ad(path)
    assert main(["score", str(path), "--method", "mean", "--out", str(tmp_path / "s.tsv")]) == 0
    err = capsys.readouterr().err
    assert "warning: adata.X holds 1 negative value" in err and ".py:" not in err


def _walk(value, path="uns"):
    """Every None (which anndata < 0.12 cannot write) anywhere in uns, with where it is."""
    found = []
    if value is None:
        found.append(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            found += _walk(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += _walk(v, f"{path}[{i}]")
    elif isinstance(value, pd.DataFrame):
        for c in value.columns:
            if value[c].dtype == object and value[c].map(lambda x: x is None).any():
                found.append(f"{path}.{c}")
    return found


def test_h5ad_written_after_score_and_mg_balance_reads_back(genes, tmp_path):
    a = _log(genes)
    mg.tl.score(a)
    mg.tl.score(a, method="gsva", key_added="g")
    mg.tl.mg_balance(a)
    mg.tl.mg_balance(a, layer=None, key_added="bal2", influx=["TRPM7", "MAGT1"], efflux=["CNNM4", "SLC41A1"])
    assert _walk(dict(a.uns)) == []
    path = tmp_path / "scored.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(b.obsm["mg_ssgsea"], a.obsm["mg_ssgsea"])
    np.testing.assert_allclose(b.obs["mg_balance"], a.obs["mg_balance"])
    assert b.uns["mg_balance"]["params"] == {"function": "mg_balance", "influx": "MG_PM_INFLUX",
                                             "efflux": "MG_EFFLUX_EXCHANGE"}
    assert mg.get.scores(b, "g").shape == (12, a.obsm["g"].shape[1])

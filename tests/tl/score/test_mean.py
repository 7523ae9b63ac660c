"""mean (the mean expression of a set's genes) and the Mg influx/efflux balance (tl.mg_balance)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.errors import GeneSetError
from mgtranscript.tl._score.mean import mean_matrix


def test_mean_matrix():
    X = np.array([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]])
    np.testing.assert_allclose(mean_matrix(X, {"a": np.array([0, 2]), "b": np.array([1])}), [[2, 2], [6, 6]])


def _mg_adata() -> ad.AnnData:
    genes = ["TRPM7", "MAGT1", "CNNM4", "SLC41A1", "ALB", "APOA1"]
    X = np.array([
        [5.0, 6.0, 2.0, 1.0, 10.0, 9.0],
        [6.0, 7.0, 1.0, 1.5, 10.0, 9.0],
        [4.0, 5.0, 3.0, 2.0, 10.5, 9.0],
        [5.5, 5.5, 2.5, 0.5, 10.0, 9.5],
    ])
    return ad.AnnData(pd.DataFrame(X, index=list("abcd"), columns=genes))


def test_mg_balance_is_mean_influx_z_minus_mean_efflux_z():
    adata = _mg_adata()
    mg.tl.mg_balance(adata, influx=["TRPM7", "MAGT1"], efflux=["CNNM4", "SLC41A1"])
    X = adata.to_df()
    Z = (X - X.mean()) / X.std(ddof=1)
    expected = Z[["TRPM7", "MAGT1"]].mean(axis=1) - Z[["CNNM4", "SLC41A1"]].mean(axis=1)
    np.testing.assert_allclose(adata.obs["mg_balance"], expected)
    genes = mg.get.table(adata, "mg_balance", "genes")
    assert genes.loc[genes["role"] == "influx", "gene"].tolist() == ["TRPM7", "MAGT1"]
    # sample b: influx up, efflux down -> most positive
    assert adata.obs["mg_balance"].idxmax() == "b"


def test_mg_balance_with_bundled_set_names_and_copy():
    adata = _mg_adata()
    out = mg.tl.mg_balance(adata, copy=True)
    assert "mg_balance" not in adata.obs and "mg_balance" in out.obs
    genes = mg.get.table(out, "mg_balance", "genes")
    assert set(genes.loc[genes["role"] == "influx", "gene"]) <= {"TRPM7", "MAGT1"}
    assert np.isfinite(out.obs["mg_balance"]).all()


def test_mg_balance_without_overlap_raises():
    adata = _mg_adata()
    with pytest.raises(GeneSetError):
        mg.tl.mg_balance(adata, influx=["NOPE1"], efflux=["CNNM4"])

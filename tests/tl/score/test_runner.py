"""The scoring entry point: input checks, options, results in obsm/uns, get.*, R GSVA parity."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mgtranscript as mg
from mgtranscript.errors import GeneSetError, InputDataError, MgTranscriptError

from support import score_data as sd

GENES = [f"G{i:03d}" for i in range(120)]
SETS = {"A": GENES[:10], "B": GENES[30:60] + ["MISSING1"], "C": GENES[100:103]}


@pytest.fixture
def adata() -> ad.AnnData:
    rng = np.random.default_rng(1)
    X = rng.lognormal(mean=1, size=(10, 120))
    a = ad.AnnData(pd.DataFrame(X, index=[f"S{i}" for i in range(10)], columns=GENES))
    a.obs["group"] = ["x", "y"] * 5
    return a


def test_writes_scores_params_and_coverage(adata):
    mg.tl.score(adata, SETS)
    df = adata.obsm["mg_ssgsea"]
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == list(adata.obs_names) and list(df.columns) == ["A", "B", "C"]
    params = adata.uns["mg_ssgsea"]["params"]
    assert params["method"] == "ssgsea"
    assert params["options"] == {"alpha": 0.25, "normalize": False, "ties": "average"}
    assert params["min_size"] == 1 and "version" in params and params["sample_independent"]
    cov = mg.get.coverage(adata, "mg_ssgsea")
    assert cov.loc["B", "n_missing"] == 1 and cov.loc["B", "final_size"] == 30
    tidy = mg.get.scores(adata, "mg_ssgsea", obs="group")
    assert list(tidy.columns) == ["A", "B", "C", "group"]
    assert mg.get.params(adata, "mg_ssgsea")["method"] == "ssgsea"


def test_key_added_copy_and_layer(adata):
    adata.layers["shifted"] = adata.X + 100.0  # ranks unchanged -> same ssGSEA
    out = mg.tl.score(adata, SETS, layer="shifted", key_added="k", copy=True)
    assert "k" not in adata.obsm and "k" in out.obsm
    mg.tl.score(adata, SETS)
    np.testing.assert_allclose(out.obsm["k"].to_numpy(), adata.obsm["mg_ssgsea"].to_numpy(), atol=1e-10)
    assert out.uns["k"]["params"]["layer"] == "shifted"
    with pytest.raises(InputDataError, match="layer 'nope' not found"):
        mg.tl.score(adata, SETS, layer="nope")


def test_results_survive_an_h5ad_round_trip(adata, tmp_path):
    mg.tl.score(adata, SETS, method="zscore")
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(mg.get.scores(back, "mg_zscore"), mg.get.scores(adata, "mg_zscore"))
    assert mg.get.coverage(back, "mg_zscore").loc["B", "n_missing"] == 1


def test_sparse_input_equals_dense(adata):
    dense = adata.copy()
    mg.tl.score(dense, SETS, method="singscore")
    adata.X = sp.csr_matrix(adata.X)
    mg.tl.score(adata, SETS, method="singscore", chunk_size=3)
    np.testing.assert_allclose(adata.obsm["mg_singscore"].to_numpy(), dense.obsm["mg_singscore"].to_numpy())


@pytest.mark.parametrize("method", ["ssgsea", "singscore", "mean"])
def test_chunk_size_does_not_change_results(adata, method):
    a, b = adata.copy(), adata.copy()
    mg.tl.score(a, SETS, method=method)
    mg.tl.score(b, SETS, method=method, chunk_size=3, progress=False)
    np.testing.assert_allclose(a.obsm[f"mg_{method}"].to_numpy(), b.obsm[f"mg_{method}"].to_numpy(), rtol=1e-13)


def test_normalize_in_chunks_equals_one_pass(adata):
    a, b = adata.copy(), adata.copy()
    with pytest.warns(UserWarning, match="depends on the other samples"):
        mg.tl.score(a, SETS, normalize=True)
    with pytest.warns(UserWarning, match="depends on the other samples"):
        mg.tl.score(b, SETS, normalize=True, chunk_size=4)
    np.testing.assert_allclose(a.obsm["mg_ssgsea"].to_numpy(), b.obsm["mg_ssgsea"].to_numpy(), rtol=1e-13)
    assert not a.uns["mg_ssgsea"]["params"]["sample_independent"]


def test_nan_is_refused_with_location_and_fix(adata):
    adata.X[2, 5] = np.nan
    adata.X[7, 40] = np.inf
    with pytest.raises(InputDataError, match=r"2 non-finite value\(s\) \(1 NaN, 1 inf\)") as exc:
        mg.tl.score(adata, SETS)
    assert "S2/G005" in str(exc.value) and "S7/G040" in str(exc.value) and "Fix" in str(exc.value)
    with pytest.raises(InputDataError, match="NaN"):
        mg.tl.score(adata, SETS, method="zscore")


def test_duplicated_genes_are_refused_with_the_fix(adata):
    names = list(adata.var_names)
    names[3] = names[2]
    adata.var_names = names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata may warn about non-unique names
        with pytest.raises(InputDataError, match="harmonise_var.*var_names_make_unique") as exc:
            mg.tl.score(adata, SETS)
    assert "G002" in str(exc.value)


def test_duplicated_samples_are_refused(adata):
    adata.obs_names = ["S0"] * 2 + list(adata.obs_names[2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputDataError, match="obs_names_make_unique"):
            mg.tl.score(adata, SETS)


def test_unknown_method_lists_the_methods(adata):
    with pytest.raises(MgTranscriptError, match="ssgsea, gsva, zscore, plage, singscore, mean"):
        mg.tl.score(adata, SETS, method="gsea")


def test_unknown_option_lists_the_valid_ones(adata):
    with pytest.raises(MgTranscriptError, match=r"'tau'.*alpha=0.25"):
        mg.tl.score(adata, SETS, tau=1.0)
    with pytest.raises(MgTranscriptError, match="orient=True"):
        mg.tl.score(adata, SETS, method="plage", alpha=1.0)


def test_no_overlap_says_what_the_ids_look_like(adata):
    with pytest.raises(GeneSetError) as exc:
        mg.tl.score(adata, {"X": ["ENSG00000141510", "ENSG00000012048"]})
    assert "G000" in str(exc.value)  # names the data's first genes


def test_min_size_drops_small_sets_with_a_warning(adata):
    with pytest.warns(UserWarning, match="C"):
        mg.tl.score(adata, SETS, min_size=5)
    assert list(adata.obsm["mg_ssgsea"].columns) == ["A", "B"]
    cov = mg.get.coverage(adata)
    assert not cov.loc["C", "kept"] and cov.loc["C", "reason"] == "below min_size"
    with pytest.raises(InputDataError, match="min_size"):
        mg.tl.score(adata, SETS, min_size=0)


def test_gmt_blank_line_is_skipped_and_empty_set_is_an_error(adata, tmp_path):
    good = tmp_path / "sets.gmt"
    good.write_text("A\tdesc\t" + "\t".join(SETS["A"]) + "\n\nC\tdesc\t" + "\t".join(SETS["C"]) + "\n")
    mg.tl.score(adata, str(good))
    assert list(adata.obsm["mg_ssgsea"].columns) == ["A", "C"]
    bad = tmp_path / "bad.gmt"
    bad.write_text("A\tdesc\t" + "\t".join(SETS["A"]) + "\nEMPTY\tdesc\t\n")
    with pytest.raises(GeneSetError, match="EMPTY"):
        mg.tl.score(adata, str(bad))


def test_default_gene_sets_are_the_bundled_mg_sets():
    genes = ["TRPM7", "MAGT1", "CNNM4", "SLC41A1", "CNNM2", "NIPAL1", "MRS2", "TRPM6", "SLC41A3", "CNNM3"]
    genes += [f"BG{i}" for i in range(200)]
    rng = np.random.default_rng(4)
    a = ad.AnnData(pd.DataFrame(rng.lognormal(size=(5, len(genes))), columns=genes, index=list("abcde")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sub-sets whose genes this toy data lacks are dropped
        mg.tl.score(a)
    assert "MG_LIVER_CORE" in a.obsm["mg_ssgsea"].columns
    assert "MG_RENAL" not in a.obsm["mg_ssgsea"].columns
    assert a.uns["mg_ssgsea"]["params"]["gene_sets"] == "magnesium"


def test_get_errors_name_the_available_keys(adata):
    mg.tl.score(adata, SETS, method="mean")
    with pytest.raises(InputDataError, match="mg_mean"):
        mg.get.scores(adata, "mg_ssgsea")
    with pytest.raises(InputDataError, match="mg_mean"):
        mg.get.coverage(adata, "nope")


def test_tl_score_is_the_function_and_no_module_shares_its_name():
    import importlib.util

    from mgtranscript.tl._score import score as fn

    assert importlib.util.find_spec("mgtranscript.tl.score") is None  # the package is tl._score
    assert mg.tl.score is fn and callable(mg.tl.score)


# --------------------------------------------------------------------------- R GSVA 1.46 through the entry point (tests/data/scores)


def _tie_adata() -> ad.AnnData:
    return ad.AnnData(sd.expr("ties").T.astype(np.float64))


def test_reference_inputs_are_what_the_tests_assume():
    noties, ties = sd.expr("noties"), sd.expr("ties")
    assert noties.shape == ties.shape == (200, 12)
    assert all(not noties[c].duplicated().any() for c in noties)
    assert any(ties[c].duplicated().any() for c in ties) and (ties.values == 0).any()
    assert "NOT_IN_DATA" in set(sd.sets_long()["gene"])


@pytest.mark.parametrize(
    ("method", "ref", "options"),
    [("ssgsea", "ssgsea", {"ties": "gsva"}), ("zscore", "zscore", {}), ("ssgsea", "ssgsea_norm", {"ties": "gsva", "normalize": True})],
)
def test_entry_point_matches_r_and_reports_the_missing_gene(method, ref, options):
    adata = _tie_adata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mg.tl.score(adata, sd.sets_long(), method=method, key_added="r", **options)
    got = adata.obsm["r"]
    expected = sd.ref("ties", ref)
    assert list(got.columns) == list(expected.columns)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-8)
    cov = mg.get.coverage(adata, "r")
    assert cov.loc["SET_D15", "n_missing"] == 1
    assert "NOT_IN_DATA" in cov.loc["SET_D15", "missing"]
    assert cov.loc["SET_D15", "final_size"] == 14

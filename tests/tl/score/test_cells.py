"""Per-cell scoring and pseudobulk on scanpy's bundled pbmc68k_reduced (ships with scanpy,
no download). Both delegate to scanpy (tl.score_genes, get.aggregate): the tests compare
with scanpy called directly."""

from __future__ import annotations

import logging
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse, stats

import mgtranscript as mg
from mgtranscript.errors import GeneSetError, InputDataError

SETS = {
    "T_cell": ["CD3D", "CD3E", "IL7R", "LTB", "CCR7", "NOT_A_GENE"],
    "B_cell": ["MS4A1", "CD79A", "CD79B", "CD19"],
    "monocyte": ["CD14", "LYZ", "S100A8", "S100A9", "FCGR3A", "FCER1G"],
}


@pytest.fixture(autouse=True)
def _private_cache(cache):
    """Gene-set matching may look for NCBI gene_info in the download cache; a fresh
    empty cache keeps these tests independent of the user's cache (and its locks)."""
    return cache


def _present(adata, genes):
    names = adata.raw.var_names
    return [g for g in names if g in set(genes)]  # data order, as genesets.match returns


@pytest.mark.parametrize("random_state", [0, 7])
def test_each_set_reproduces_scanpy_score_genes_exactly(pbmc, random_state):
    mg.tl.score_cells(pbmc, SETS, random_state=random_state, ctrl_size=50)
    assert pbmc.obsm["mg_cells"].shape == (pbmc.n_obs, 3)
    for name, genes in SETS.items():
        ref = sc.tl.score_genes(
            pbmc, _present(pbmc, genes), random_state=random_state, ctrl_size=50, copy=True
        ).obs["score"]
        np.testing.assert_array_equal(pbmc.obs[f"mg_cells_{name}"].to_numpy(), ref.to_numpy())
        np.testing.assert_array_equal(pbmc.obsm["mg_cells"][name].to_numpy(), ref.to_numpy())


def test_scores_mark_the_right_cell_types(pbmc):
    mg.tl.score_cells(pbmc, SETS)
    means = pbmc.obsm["mg_cells"].groupby(pbmc.obs["bulk_labels"], observed=True).mean()
    assert means["B_cell"].idxmax() == "CD19+ B"
    assert means["monocyte"].idxmax() == "CD14+ Monocyte"
    assert means["T_cell"].idxmax().startswith(("CD4+", "CD8+"))


def test_coverage_params_and_rng_are_recorded(pbmc):
    state = np.random.get_state()[1].copy()
    obs_before = list(pbmc.obs.columns)
    mg.tl.score_cells(pbmc, SETS, key_added="imm")
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # caller's RNG untouched
    # scanpy computed on a private shell: only our columns were added to the caller's obs
    assert list(pbmc.obs.columns) == obs_before + ["imm_T_cell", "imm_B_cell", "imm_monocyte"]
    uns = pbmc.uns["imm"]
    cov = uns["coverage"]
    assert cov.loc["T_cell", "final_size"] == 5 and "NOT_A_GENE" in cov.loc["T_cell", "missing"]
    assert uns["params"]["use_raw"] is True and uns["params"]["ctrl_size"] == 50
    assert uns["params"]["scanpy_version"] == version("scanpy")  # provenance of the arithmetic


def test_layer_and_x_paths_reproduce_scanpy(pbmc):
    """use_raw=False and layer= pick the same matrix scanpy would, with the same scores."""
    pbmc.layers["lognorm"] = pbmc.X.copy()
    pbmc.X = pbmc.X * 2.0
    genes = ["CD14", "LYZ", "FCER1G", "S100A9"]  # genes of the 765 in pbmc.var_names
    for kwargs in ({"use_raw": False}, {"layer": "lognorm"}):
        got = mg.tl.score_cells(pbmc, {"mono": genes}, random_state=3, copy=True, **kwargs)
        ref = sc.tl.score_genes(pbmc, _present_var(pbmc, genes), random_state=3, copy=True, **kwargs)
        np.testing.assert_array_equal(got.obs["mg_cells_mono"].to_numpy(), ref.obs["score"].to_numpy())
    a = mg.tl.score_cells(pbmc, {"mono": genes}, use_raw=False, copy=True).obs["mg_cells_mono"]
    b = mg.tl.score_cells(pbmc, {"mono": genes}, layer="lognorm", copy=True).obs["mg_cells_mono"]
    np.testing.assert_allclose(a.to_numpy(), 2 * b.to_numpy(), rtol=1e-5, atol=1e-6)  # X = 2 x layer


def _present_var(adata, genes):
    return [g for g in adata.var_names if g in set(genes)]


def test_sparse_and_dense_give_the_same_scores(pbmc):
    dense = pbmc.copy()
    dense.raw = ad.AnnData(X=pbmc.raw.X.toarray().astype(np.float64), var=pbmc.raw.var, obs=pbmc.obs)
    a = mg.tl.score_cells(pbmc, SETS, copy=True).obsm["mg_cells"]
    b = mg.tl.score_cells(dense, SETS, copy=True).obsm["mg_cells"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-6)


def test_score_cells_errors(pbmc):
    with pytest.raises(InputDataError, match="exclusive"):
        mg.tl.score_cells(pbmc, SETS, use_raw=True, layer="x")
    with pytest.raises(InputDataError, match="ctrl_size"):
        mg.tl.score_cells(pbmc, SETS, ctrl_size=0)
    with pytest.raises(GeneSetError):
        mg.tl.score_cells(pbmc, {"ens": ["ENSG00000167286", "ENSG00000198851"]})
    with pytest.raises(InputDataError, match="not a DataFrame"):
        mg.tl.score_cells(pbmc.to_df(), SETS)


def test_score_cells_names_all_nan_genes_and_missing_controls():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, size=(30, 40))
    x[:, 3] = np.nan
    a = ad.AnnData(x, var=pd.DataFrame(index=[f"G{i}" for i in range(40)]))
    with pytest.raises(InputDataError, match=r"\['G3'\].*no finite mean"):
        mg.tl.score_cells(a, {"S": ["G1", "G3"]})
    tiny = ad.AnnData(rng.gamma(2.0, size=(10, 4)), var=pd.DataFrame(index=list("ABCD")))
    with pytest.raises(InputDataError, match="No control genes for set 'all'"):
        mg.tl.score_cells(tiny, {"all": list("ABCD")}, n_bins=2)


def test_mudata_gets_an_error_naming_the_rna_modality(pbmc):
    mudata = pytest.importorskip("mudata")
    md = mudata.MuData({"rna": pbmc})
    for call in (lambda: mg.tl.score_cells(md, SETS), lambda: mg.tl.pseudobulk(md, groupby="louvain")):
        with pytest.raises(InputDataError, match=r'not a MuData.*mdata\.mod\["rna"\]'):
            call()


# --------------------------------------------------------------------------- pseudobulk
def _with_counts(adata):
    """pbmc68k_reduced has no counts; rebuild count-like integers from raw (log1p of
    normalised values) so that the sum path can be tested."""
    raw = adata.raw.X.tocsr(copy=True)
    raw.data = np.rint(np.expm1(raw.data) * 3.0)
    raw.eliminate_zeros()
    out = ad.AnnData(X=adata.raw.X.copy(), obs=adata.obs.copy(), var=adata.raw.var.copy())
    out.layers["counts"] = raw
    return out


def test_pseudobulk_sums_counts_per_group_and_sample(pbmc):
    cells = _with_counts(pbmc)
    pb = mg.tl.pseudobulk(cells, groupby="bulk_labels", sample_key="phase", min_cells=10)
    dense = cells.layers["counts"].toarray()
    for name, row in pb.obs.iterrows():
        sel = ((cells.obs["bulk_labels"] == row["bulk_labels"]) & (cells.obs["phase"] == row["phase"])).to_numpy()
        assert row["n_cells"] == sel.sum() >= 10
        np.testing.assert_allclose(pb[name].X.ravel(), dense[sel].sum(0))
    assert pb.n_vars == cells.n_vars and list(pb.var_names) == list(cells.var_names)
    full = cells.obs.groupby(["bulk_labels", "phase"], observed=True).size()
    assert pb.n_obs == int((full >= 10).sum()) < len(full)  # small groups were dropped
    assert mg.get.params(pb, "pseudobulk")["sample_key"] == "phase"


@pytest.mark.parametrize("func", ["sum", "mean"])
def test_pseudobulk_equals_scanpy_aggregate(pbmc, func):
    cells = _with_counts(pbmc)
    cells.obs.loc[cells.obs_names[:5], "phase"] = np.nan  # left out, with a warning
    pb = mg.tl.pseudobulk(cells, groupby="bulk_labels", sample_key="phase", layer="counts",
                          func=func, min_cells=10)
    ok = cells.obs["phase"].notna().to_numpy()
    ref = sc.get.aggregate(cells[ok], by=["bulk_labels", "phase"], func=func, layer="counts")
    ref_rows = {
        (str(b), str(p)): ref.layers[func][i]
        for i, (b, p) in enumerate(zip(ref.obs["bulk_labels"], ref.obs["phase"]))
    }
    sizes = cells.obs[ok].groupby(["bulk_labels", "phase"], observed=True).size()
    assert pb.n_obs == int((sizes >= 10).sum()) < len(ref_rows)  # the small groups were dropped
    for name, row in pb.obs.iterrows():
        expect = np.asarray(ref_rows[(str(row["bulk_labels"]), str(row["phase"]))], dtype=np.float64)
        np.testing.assert_allclose(pb[name].X.ravel(), expect, rtol=1e-12)
    assert pb.X.dtype == np.float64


def test_pseudobulk_carries_group_level_columns(pbmc):
    cells = _with_counts(pbmc)
    cells.obs["donor_state"] = np.where(cells.obs["louvain"].astype(int) < 5, "A", "B")
    pb = mg.tl.pseudobulk(cells, groupby="louvain", min_cells=1)
    assert "donor_state" in pb.obs.columns and "n_genes" not in pb.obs.columns
    assert pb.obs["n_cells"].sum() == cells.n_obs


def test_pseudobulk_feeds_bulk_gsva(pbmc):
    # the point of pseudobulk: bulk methods apply; GSVA scores B cells' profile highest
    pb = mg.tl.pseudobulk(pbmc, groupby="bulk_labels", layer="raw", func="mean", min_cells=5)
    mg.tl.score(pb, SETS, method="gsva")
    scores = pb.obsm["mg_gsva"]
    assert scores.shape == (pb.n_obs, 3)
    assert scores["B_cell"].idxmax() == "CD19+ B"
    assert scores["monocyte"].idxmax() == "CD14+ Monocyte"


def test_pseudobulk_without_counts_explains_the_fix(pbmc, caplog):
    with pytest.raises(InputDataError, match="counts.*raw"):
        mg.tl.pseudobulk(pbmc, groupby="bulk_labels")  # no 'counts' layer in pbmc68k
    with pytest.raises(InputDataError, match="negative"):
        mg.tl.pseudobulk(pbmc, groupby="bulk_labels", layer=None)  # X is scaled
    with caplog.at_level(logging.WARNING, logger="mgtranscript.tl._score._cells"):
        mg.tl.pseudobulk(pbmc, groupby="bulk_labels", layer="raw", func="sum")
    assert "non-integer" in caplog.text
    with pytest.raises(InputDataError, match="no column"):
        mg.tl.pseudobulk(pbmc, groupby="cell_type", layer="raw")


def test_pseudobulk_dense_input_matches_sparse(pbmc):
    cells = _with_counts(pbmc)
    dense = cells.copy()
    dense.layers["counts"] = cells.layers["counts"].toarray()
    a = mg.tl.pseudobulk(cells, groupby="louvain", min_cells=1)
    b = mg.tl.pseudobulk(dense, groupby="louvain", min_cells=1)
    assert sparse.issparse(cells.layers["counts"])
    np.testing.assert_allclose(a.X, b.X)
    pd.testing.assert_frame_equal(a.obs, b.obs)


# --------------------------------------------------------------------------- donors as the unit
def _donor_cells(donor_rho, n_cells=120, seed=0, donor_col="donor"):
    """Per-cell data of several donors: inside donor d, MAGT1 and KLRK1 correlate with
    ``donor_rho[d]`` in NK and CD8 T cells; donors also differ in their mean levels."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    rows, obs = [], []
    for d, rho in enumerate(donor_rho):
        shift = rng.normal(0, 2, 2)
        for ct in ("CD56+ NK", "CD8+ cytotoxic T"):
            z = rng.normal(size=n_cells)
            x = z
            y = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n_cells)
            rows.append(np.c_[x + shift[0], y + shift[1]])
            obs += [{"cell_type": ct, donor_col: f"D{d}"}] * n_cells
    obs = pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))])
    return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=["MAGT1", "KLRK1"]))


def correlate_cells(adata, x, y, **kw) -> pd.DataFrame:
    """tl.correlate_cells stores its table (it returns None), read with get.correlate."""
    key = kw.setdefault("key_added", "correlate_cells")
    assert mg.tl.correlate_cells(adata, x, y, **kw) is None
    return mg.get.correlate(adata, key)


def test_correlate_cells_counts_donors_not_cells():
    """Six donors whose within-donor correlations disagree (0.6, 0.6, 0.5, -0.3, -0.4, 0.0):
    1,440 cells make any pooled correlation 'significant'; with donors as the unit the
    estimate is their mean on the Fisher scale, on 5 df, and not significant."""
    rhos = [0.6, 0.6, 0.5, -0.3, -0.4, 0.0]
    a = _donor_cells(rhos)
    t = correlate_cells(a, "MAGT1", "KLRK1")
    comb = t.iloc[0]
    assert comb["level"] == "combined" and comb["n"] == 6 and comb["df"] == 5
    assert comb["design"] == "cells: within cell type and donor; donors as the unit"
    per_donor = t[t["level"].str.startswith("donor ")].set_index("level")["estimate"]
    zd = np.arctanh(per_donor.to_numpy())
    assert comb["estimate"] == pytest.approx(np.tanh(zd.mean()))
    assert comb["pval"] == pytest.approx(stats.ttest_1samp(zd, 0).pvalue)
    assert comb["pval"] > 0.05 and comb["ci_low"] < 0 < comb["ci_high"]
    assert len(t[t["level"].str.contains(r" \| ")]) == 12  # cell type x donor
    # the same cells with the donors unknown: cells are the unit, and the rows say so
    b = a.copy()
    del b.obs["donor"]
    u = correlate_cells(b, "MAGT1", "KLRK1")
    assert u.iloc[0]["n"] == 1440 and u.iloc[0]["pval"] < 1e-6
    assert "donors unknown" in u.iloc[0]["design"] and "donors unknown" in u.iloc[0]["note"]


def test_correlate_cells_agreeing_donors_and_options():
    a = _donor_cells([0.5, 0.45, 0.55, 0.5], donor_col="donor_id")
    t = correlate_cells(a, "MAGT1", "KLRK1")  # donor_id found by default
    comb = t.iloc[0]
    assert comb["n"] == 4 and comb["pval"] < 0.01 and comb["ci_low"] > 0.3
    assert a.uns["correlate_cells"]["params"]["donor_key"] == "donor_id"
    few = correlate_cells(a[a.obs["donor_id"].isin(["D0", "D1"])].copy(), "MAGT1", "KLRK1")
    assert np.isnan(few.iloc[0]["estimate"]) and "fewer than 3 donors" in few.iloc[0]["note"]
    small = correlate_cells(a, "MAGT1", "KLRK1", min_cells=200)
    assert np.isnan(small.iloc[0]["estimate"]) and "fewer than 200 cells skipped" in small.iloc[0]["note"]
    with pytest.raises(InputDataError, match="donor_key 'patient_id' is not an obs column"):
        correlate_cells(a, "MAGT1", "KLRK1", donor_key="patient_id")
    with pytest.raises(InputDataError, match="cell types"):
        correlate_cells(a, "MAGT1", "KLRK1", cell_type_key="celltype")

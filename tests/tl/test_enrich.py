"""Tests of GSEA prerank, ORA, coupling (mgtranscript.tl) and the mechanism sets (mgtranscript.genesets)."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mgtranscript.errors import InputDataError
from mgtranscript import genesets, get, tl
from mgtranscript._stats import bh_adjust


@pytest.fixture(autouse=True)
def _fresh_cache(cache):
    """Hermetic: never read the user's download cache (gene_info there would change alias matching)."""
    return cache


@pytest.fixture
def ranking() -> pd.Series:
    rng = np.random.default_rng(42)
    genes = [f"GENE{i}" for i in range(1500)]
    return pd.Series(rng.normal(size=len(genes)), index=genes, name="stat")


def _sets(ranking: pd.Series) -> dict[str, list[str]]:
    order = ranking.sort_values(ascending=False).index
    rng = np.random.default_rng(1)
    return {
        "TOP": list(order[:40:2]),  # planted: 20 genes in the top 40
        "BOTTOM": list(order[-30:]),
        "RANDOM": list(rng.choice(ranking.index, 25, replace=False)),
        "TINY": list(order[:3]),  # a 3-gene set must not be dropped (gseapy default 15)
    }


@pytest.mark.parametrize("weight", [1.0, 0.0, 2.0])
def test_running_sum_matches_gseapy(ranking, weight):
    import gseapy

    sets = _sets(ranking)
    pre = gseapy.prerank(rnk=ranking, gene_sets=sets, permutation_num=10, min_size=1, max_size=5000,
                         weight=weight, seed=0, outdir=None, threads=1, no_plot=True)
    sorted_genes = ranking.sort_values(ascending=False).index
    for name, genes in sets.items():
        pos, res = tl.running_sum(ranking, genes, weight=weight)
        es = res[np.argmax(np.abs(res))]
        assert es == pytest.approx(pre.results[name]["es"], abs=1e-6)
        np.testing.assert_allclose(res, pre.results[name]["RES"], atol=1e-6)
        assert sorted(pos) == sorted(pre.results[name]["hits"])
        assert set(sorted_genes[pos]) == set(genes)


def test_gsea_prerank_finds_planted_sets_and_keeps_small_ones(ranking):
    sets = _sets(ranking)
    res = tl.gsea_prerank(ranking, sets, permutations=300, seed=3)
    assert set(res["set"]) == set(sets)  # nothing silently dropped, TINY (3 genes) included
    expected = ["set", "size", "n_genes", "es", "nes", "pval", "fdr", "fwer", "qval",
                "leading_edge", "n_leading_edge", "hits"]
    assert list(res.columns) == expected
    r = res.set_index("set")
    assert r.loc["TOP", "nes"] > 1.5 and r.loc["TOP", "pval"] < 0.01
    assert r.loc["BOTTOM", "nes"] < -1.5 and r.loc["BOTTOM", "pval"] < 0.01
    assert r.loc["RANDOM", "pval"] > 0.05
    assert r.loc["TINY", "size"] == 3 and r.loc["TINY", "es"] == pytest.approx(1.0)
    for name in sets:
        lead = r.loc[name, "leading_edge"].split(";")
        assert set(lead) <= set(sets[name])
        assert r.loc[name, "n_leading_edge"] == len(lead)
    np.testing.assert_allclose(r["qval"], bh_adjust(r["pval"].to_numpy()))
    assert res.attrs["n_ranked"] == len(ranking)
    assert {c["set"] for c in res.attrs["coverage"]} == set(sets)
    # reproducible for a fixed seed
    again = tl.gsea_prerank(ranking, sets, permutations=300, seed=3)
    pd.testing.assert_frame_equal(res, again)


def test_gsea_prerank_reports_missing_genes_and_accepts_de_table(ranking):
    sets = {"TOP": list(ranking.sort_values().index[-15:]) + ["NOT_MEASURED1", "NOT_MEASURED2"]}
    de = pd.DataFrame({"gene": ranking.index, "stat": ranking.to_numpy(), "log2fc": 0.0})
    a = tl.gsea_prerank(de, sets, permutations=50)
    b = tl.gsea_prerank(ranking, sets, permutations=50)
    pd.testing.assert_frame_equal(a, b)
    assert a.loc[0, "size"] == 15 and a.loc[0, "n_genes"] == 17
    cov = {c["set"]: c for c in a.attrs["coverage"]}
    assert cov["TOP"]["n_missing"] == 2


def test_gsea_prerank_cleans_nan_and_duplicates(ranking, caplog):
    sets = _sets(ranking)
    dirty = ranking.copy()
    dirty.iloc[5] = np.nan
    top = ranking.sort_values(ascending=False).index[0]
    # a duplicate of the top gene with a small statistic: the max-|stat| entry must win
    dirty = pd.concat([dirty, pd.Series({top: 0.01})])
    with caplog.at_level(logging.WARNING, logger="mgtranscript"):
        res = tl.gsea_prerank(dirty, sets, permutations=50)
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "NaN" in msgs and "more than once" in msgs
    assert res.attrs["n_ranked"] == len(ranking) - 1
    es_top = res.set_index("set").loc["TINY", "es"]
    assert es_top == pytest.approx(1.0)  # top gene kept at its large statistic

    inf = ranking.copy()
    inf.iloc[0] = np.inf
    with pytest.raises(InputDataError, match="infinite"):
        tl.gsea_prerank(inf, sets, permutations=10)
    with pytest.raises(InputDataError, match="key="):
        tl.gsea_prerank(pd.DataFrame({"gene": ["A", "B"], "x": [1.0, 2.0], "y": [2.0, 1.0]}), sets)


@pytest.mark.parametrize("case", [(20, 5, 8, 3), (200, 30, 12, 6), (1000, 40, 50, 0), (60, 10, 10, 10)])
def test_ora_matches_fisher_exact(case):
    N, K, n, k = case
    universe = [f"U{i}" for i in range(N)]
    gene_set = universe[:K]
    query = universe[:k] + universe[K:K + n - k]
    res = tl.ora(query, {"S": gene_set}, universe=universe)
    row = res.iloc[0]
    table = [[k, n - k], [K - k, N - K - n + k]]
    odds, p = stats.fisher_exact(table, alternative="greater")
    assert row["pval"] == pytest.approx(p, rel=1e-9)
    assert row["odds_ratio"] == pytest.approx(odds)
    assert row["overlap"] == k and row["set_size_in_universe"] == K
    assert row["expected"] == pytest.approx(n * K / N)
    assert res.attrs["universe_size"] == N


def test_ora_universe_is_the_measured_genes(caplog):
    measured = [f"M{i}" for i in range(500)]
    gene_set = measured[:20] + [f"UNMEASURED{i}" for i in range(80)]
    query = measured[:10] + measured[100:140] + ["NOT_IN_COHORT"]
    with caplog.at_level(logging.WARNING, logger="mgtranscript"):
        res = tl.ora(query, {"S": gene_set, "OTHER": measured[300:330]}, universe=measured)
    assert "not in the universe" in caplog.text
    row = res.set_index("set").loc["S"]
    assert row["set_size_in_universe"] == 20  # unmeasured members do not count
    assert row["pval"] == pytest.approx(stats.hypergeom.sf(9, 500, 20, 50))
    assert res.attrs["n_query"] == 50 and res.attrs["n_query_outside_universe"] == 1
    assert res["qval"].tolist() == pytest.approx(bh_adjust(res["pval"].to_numpy()).tolist())
    assert row["genes"].split(";") == measured[:10]
    # an AnnData works as the universe (its var_names)
    adata = ad.AnnData(np.zeros((2, 500)), var=pd.DataFrame(index=measured))
    res2 = tl.ora(query, {"S": gene_set}, universe=adata)
    assert res2.loc[0, "pval"] == pytest.approx(row["pval"])
    with pytest.raises(TypeError):
        tl.ora(query, {"S": gene_set})  # universe is required


def test_bh_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(size=57) ** 2
    np.testing.assert_allclose(bh_adjust(p), multipletests(p, method="fdr_bh")[1])
    assert np.isnan(bh_adjust([0.01, np.nan])[1])


def _coupled_adata(n_per_group: int = 30) -> ad.AnnData:
    rng = np.random.default_rng(7)
    n = 2 * n_per_group
    cond = np.repeat(["healthy", "NASH"], n_per_group)
    shift = (cond == "NASH").astype(float) * 3.0
    x = rng.normal(size=n)
    mg = pd.DataFrame(
        {
            "MG_LIVER_CORE": x,  # truly coupled with OXPHOS
            "MG_CONFOUNDED": shift + rng.normal(size=n),  # only a group difference
        }
    )
    mech = pd.DataFrame(
        {
            "HALLMARK_OXIDATIVE_PHOSPHORYLATION": 0.8 * x + 0.6 * rng.normal(size=n),
            "HALLMARK_INFLAMMATORY_RESPONSE": shift + rng.normal(size=n),
        }
    )
    obs = pd.DataFrame({"condition": pd.Categorical(cond, categories=["healthy", "NASH"])},
                       index=[f"S{i}" for i in range(n)])
    adata = ad.AnnData(np.zeros((n, 3)), obs=obs)
    adata.obsm["mg_ssgsea"] = mg.set_index(obs.index)
    adata.obsm["hallmark"] = mech.set_index(obs.index)
    return adata


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_coupling_matches_scipy(method):
    adata = _coupled_adata()
    out = tl.coupling(adata, mg_key="mg_ssgsea", mechanism_key="hallmark", method=method, copy=True)
    assert "coupling" not in adata.uns  # copy=True leaves the input alone
    tab = get.coupling(out)
    assert len(tab) == 4 and set(tab["group"]) == {"all"}
    f = stats.spearmanr if method == "spearman" else stats.pearsonr
    for row in tab.itertuples():
        ref = f(adata.obsm["mg_ssgsea"][row.mg_set], adata.obsm["hallmark"][row.mechanism_set])
        assert row.r == pytest.approx(ref[0], abs=1e-10)
        assert row.pval == pytest.approx(ref[1], rel=1e-6)
    np.testing.assert_allclose(tab["qval"], bh_adjust(tab["pval"].to_numpy()))
    mech = tab.set_index("mechanism_set")["mechanism"].to_dict()
    assert mech["HALLMARK_OXIDATIVE_PHOSPHORYLATION"] == "mitochondria"
    assert mech["HALLMARK_INFLAMMATORY_RESPONSE"] == "inflammation"


def test_coupling_partial_removes_group_confounding():
    import statsmodels.api as sm

    adata = _coupled_adata()
    tl.coupling(adata, mg_key="mg_ssgsea", mechanism_key="hallmark", method="pearson", groupby="condition")
    raw = get.coupling(adata).set_index(["group", "mg_set", "mechanism_set"])
    conf = ("MG_CONFOUNDED", "HALLMARK_INFLAMMATORY_RESPONSE")
    assert raw.loc[("all", *conf), "r"] > 0.6 and raw.loc[("all", *conf), "qval"] < 1e-4
    assert set(raw.index.get_level_values("group")) == {"all", "healthy", "NASH"}
    assert raw.loc[("NASH", *conf), "n"] == 30
    assert abs(raw.loc[("NASH", *conf), "r"]) < 0.5

    tl.coupling(adata, mg_key="mg_ssgsea", mechanism_key="hallmark", method="pearson",
               covariates="condition", key_added="partial")
    part = get.coupling(adata, "partial").set_index(["group", "mg_set", "mechanism_set"])
    assert abs(part.loc[("all", *conf), "r"]) < 0.3 and part.loc[("all", *conf), "pval"] > 0.05
    core = ("MG_LIVER_CORE", "HALLMARK_OXIDATIVE_PHOSPHORYLATION")
    assert part.loc[("all", *core), "r"] > 0.6
    # partial-correlation t-test == OLS t-test of the slope adjusted for the covariate
    y = adata.obsm["hallmark"][conf[1]].to_numpy()
    X = np.column_stack([adata.obsm["mg_ssgsea"][conf[0]].to_numpy(),
                         (adata.obs["condition"] == "NASH").to_numpy(float)])
    fit = sm.OLS(y, sm.add_constant(X)).fit()
    assert part.loc[("all", *conf), "pval"] == pytest.approx(fit.pvalues[1], rel=1e-6)
    assert part.loc[("all", *conf), "covariates"] == "condition"


def test_coupling_errors_name_the_fix():
    adata = _coupled_adata()
    with pytest.raises(InputDataError, match="tl.score"):
        tl.coupling(adata, mg_key="missing", mechanism_key="hallmark")
    with pytest.raises(InputDataError, match="covariate"):
        tl.coupling(adata, mg_key="mg_ssgsea", mechanism_key="hallmark", covariates=["age"])


def test_mechanisms_mapping_is_complete():
    assert set(genesets.MECHANISMS) == {"insulin_resistance", "mitochondria", "oxidative_stress", "inflammation",
                                 "er_stress", "dna_repair", "antitumour_immunity", "fibrosis"}
    assert genesets.CYTOLYTIC == ("GZMA", "PRF1")
    assert genesets.mechanism_of("hallmark_dna_repair") == "dna_repair"
    assert genesets.mechanism_of("HALLMARK_HYPOXIA") == ""


def test_mechanism_sets_from_msigdb(mirror_env):
    pytest.importorskip("mgtranscript.genesets")
    sets = genesets.mechanism_sets()
    names = set(sets.keys())
    expected = {n for v in genesets.MECHANISMS.values() for n in v}
    assert expected == names
    assert "INSR" in sets["REACTOME_SIGNALING_BY_INSULIN_RECEPTOR"]
    assert "NDUFA1" in sets["HALLMARK_OXIDATIVE_PHOSPHORYLATION"]
    assert tuple(sets["CYTOLYTIC"]) == ("GZMA", "PRF1")
    assert sets.meta.loc["HALLMARK_DNA_REPAIR", "description"] == "dna_repair"
    assert sets.meta.loc["REACTOME_SIGNALING_BY_INSULIN_RECEPTOR", "source"].startswith("MSigDB 7.0 c2.cp.reactome")
    assert "Rooney" in sets.meta.loc["CYTOLYTIC", "source"]


def test_gsea_prerank_hallmark_from_mirror(mirror_env):
    pytest.importorskip("mgtranscript.genesets")
    from mgtranscript import genesets

    hall = genesets.load("hallmark")
    universe = sorted({g for v in hall.values() for g in v})
    rng = np.random.default_rng(0)
    stat = pd.Series(rng.normal(size=len(universe)), index=universe)
    oxphos = list(hall["HALLMARK_OXIDATIVE_PHOSPHORYLATION"])
    stat[stat.index.isin(oxphos)] += 2.0  # planted up-regulation
    res = tl.gsea_prerank(stat, "hallmark", permutations=100, seed=0).set_index("set")
    assert len(res) == 50
    assert res.loc["HALLMARK_OXIDATIVE_PHOSPHORYLATION", "nes"] > 2
    assert res.loc["HALLMARK_OXIDATIVE_PHOSPHORYLATION", "fdr"] < 0.05

"""tl.correlate: pooled, within-group, within-pair (rmcorr) and partial correlations.

Synthetic data where the right answer is known (Simpson's paradox, paired designs), R
reference values (tests/r/make_reference_correlate.R: cor.test, lm, drop1, metafor) and
the real GSE126848 / GSE77314 cohorts from the mirror.
"""

from __future__ import annotations


import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mgtranscript as mg
from mgtranscript.errors import InputDataError
from mgtranscript.tl import CORRELATE_COLUMNS

from support import real_cohorts
from support.paths import DATA


DATA = DATA / "correlate"


def correlate(adata, x, y, **kw) -> pd.DataFrame:
    """tl.correlate stores its results (it returns None), read back with get.correlate."""
    key = kw.setdefault("key_added", "correlate")
    assert mg.tl.correlate(adata, x, y, **kw) is None
    return mg.get.correlate(adata, key)


# ---------------------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------------------


def simpson(n_per_group: int = 25, seed: int = 3) -> ad.AnnData:
    """Three groups whose means of x and y both rise, while y falls with x inside each group."""
    rng = np.random.default_rng(seed)
    cond = np.repeat(["healthy", "NAFL", "NASH"], n_per_group)
    mu = np.repeat([0.0, 3.0, 6.0], n_per_group)
    x = mu + rng.normal(size=cond.size)
    y = mu - 0.7 * (x - mu) + 0.5 * rng.normal(size=cond.size)
    obs = pd.DataFrame({"condition": pd.Categorical(cond, ["healthy", "NAFL", "NASH"])},
                       index=[f"S{i}" for i in range(cond.size)])
    a = ad.AnnData(np.column_stack([x, y, np.zeros(cond.size)]), obs=obs,
                   var=pd.DataFrame(index=["GENEX", "GENEY", "FLAT"]))
    a.obsm["scores"] = pd.DataFrame({"SX": x, "SY": y}, index=obs.index)
    return a


def paired(n_pairs: int = 30, seed: int = 5) -> ad.AnnData:
    """Tumour/normal pairs: patients differ a lot (positive between-patient association),
    within a patient y falls with x; tumours shift both x and y up."""
    rng = np.random.default_rng(seed)
    pat = rng.normal(scale=2.0, size=n_pairs)
    rows = []
    for i in range(n_pairs):
        for tissue, shift in (("normal", 0.0), ("tumour", 1.5)):
            dx = rng.normal()
            rows.append({"pair_id": f"P{i}", "condition": tissue, "x": pat[i] + shift + dx,
                         "y": 0.9 * pat[i] + shift - 0.8 * dx + 0.3 * rng.normal()})
    obs = pd.DataFrame(rows, index=[f"S{i}" for i in range(2 * n_pairs)])
    return ad.AnnData(np.zeros((len(obs), 1)), obs=obs)


# ---------------------------------------------------------------------------------------
# Simpson's paradox and pairs: the design decides the sign
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_simpsons_paradox_pooled_positive_within_negative(method):
    a = simpson()
    pooled = correlate(a, "GENEX", "GENEY", method=method)
    assert list(pooled.columns) == CORRELATE_COLUMNS
    row = pooled.iloc[0]
    assert row["design"] == "pooled" and row["level"] == "pooled"
    assert row["estimate"] > 0.5 and row["pval"] < 1e-6  # the pooled picture: strongly positive

    within = correlate(a, "GENEX", "GENEY", method=method, within="condition", key_added="w")
    comb = within.iloc[0]
    assert comb["level"] == "combined" and comb["design"] == "within:condition" and comb["combine"] == "fisher"
    assert comb["estimate"] < -0.5 and comb["ci_high"] < 0 and comb["pval"] < 1e-6
    per = within[within["level"] != "combined"].set_index("level")
    assert list(per.index) == ["healthy", "NAFL", "NASH"]
    assert (per["estimate"] < 0).all() and (per["n"] == 25).all() and (per["df"] == 23).all()
    assert comb["n"] == 75 and comb["n_groups"] == 3 and np.isnan(comb["df"])
    assert 0 <= comb["i2"] < 1 and comb["q_het"] >= 0
    assert np.isnan(per["qval"]).all() and comb["qval"] == pytest.approx(comb["pval"])
    assert a.uns["w"]["params"]["within"] == "condition" and a.uns["w"]["params"]["function"] == "correlate"
    pd.testing.assert_frame_equal(a.uns["w"]["table"], within)

    resid = correlate(a, "GENEX", "GENEY", method=method, within="condition", combine="residualise")
    r = resid.iloc[0]
    assert r["combine"] == "residualise" and r["df"] == 75 - 2 - 2
    assert r["estimate"] < -0.5 and r["ci_high"] < 0


def test_per_group_rows_match_scipy_and_fisher_combination():
    a = simpson()
    t = correlate(a, "scores:SX", "scores:SY", method="pearson", within="condition")
    per = t[t["level"] != "combined"]
    z, w = [], []
    for row in per.itertuples():
        m = (a.obs["condition"] == row.level).to_numpy()
        ref = stats.pearsonr(a.obsm["scores"]["SX"][m], a.obsm["scores"]["SY"][m])
        assert row.estimate == pytest.approx(ref.statistic, abs=1e-12)
        assert row.pval == pytest.approx(ref.pvalue, rel=1e-9)
        ci = ref.confidence_interval()  # scipy: Fisher z with 1/sqrt(n-3), as R cor.test
        assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
        z.append(np.arctanh(row.estimate))
        w.append(row.n - 3)
    z, w = np.array(z), np.array(w)
    zbar = (w * z).sum() / w.sum()
    se = 1 / np.sqrt(w.sum())
    comb = t.iloc[0]
    assert comb["estimate"] == pytest.approx(np.tanh(zbar), abs=1e-12)
    assert comb["pval"] == pytest.approx(2 * stats.norm.sf(abs(zbar / se)), rel=1e-9)
    assert comb["ci_low"] == pytest.approx(np.tanh(zbar - 1.959963984540054 * se), abs=1e-12)


def test_paired_rmcorr_recovers_the_within_pair_association():
    a = paired()
    pooled = correlate(a, "x", "y", method="pearson").iloc[0]
    assert pooled["estimate"] > 0.6  # between-patient differences dominate
    rm = correlate(a, "x", "y", method="pearson", paired_by="pair_id").iloc[0]
    assert rm["design"] == "paired:pair_id" and rm["combine"] == "rmcorr"
    assert rm["n"] == 60 and rm["n_groups"] == 30 and rm["df"] == 60 - 30 - 1
    # the tumour shift pushes both up inside each pair, so plain rmcorr is pulled upwards;
    # pair + tissue fixed effects remove it and recover the negative within-pair slope
    both = correlate(a, "x", "y", method="pearson", paired_by="pair_id", within="condition")
    c = both.iloc[0]
    assert c["design"] == "within:condition+paired:pair_id" and c["df"] == 60 - 30 - 1 - 1
    assert c["estimate"] < -0.8 and c["ci_high"] < -0.5
    assert rm["estimate"] > c["estimate"] + 0.2
    assert np.isnan(c["i2"])  # the two tissues share patients: no heterogeneity test
    assert set(both["level"]) == {"combined", "normal", "tumour"}
    # with one sample per pair and tissue this is the correlation of within-pair differences
    obs = a.obs.sort_values(["pair_id", "condition"])
    d = obs.groupby("pair_id")[["x", "y"]].agg(lambda s: s.iloc[1] - s.iloc[0])
    assert c["estimate"] == pytest.approx(np.corrcoef(d["x"], d["y"])[0, 1], abs=1e-12)


def test_incomplete_pairs_and_missing_values_are_dropped_and_said():
    a = paired(n_pairs=12)
    a.obs.loc["S0", "x"] = np.nan  # pair P0 loses its normal sample -> tumour has no partner
    t = correlate(a, "x", "y", method="pearson", paired_by="pair_id").iloc[0]
    assert t["n"] == 22 and t["n_groups"] == 11
    assert "1 samples without a complete partner dropped" in t["note"]
    pooled = correlate(a, "x", "y").iloc[0]
    assert pooled["n"] == 23


def test_small_groups_skipped_and_constant_features_give_nan_not_errors():
    a = simpson(n_per_group=8)
    keep = np.r_[0:8, 8:16, 16:19]  # NASH keeps 3 samples
    b = a[keep].copy()
    t = correlate(b, "GENEX", ["GENEY", "FLAT"], within="condition")
    gy = t[t["y"] == "GENEY"].set_index("level")
    assert np.isnan(gy.loc["NASH", "estimate"]) and "skipped: n < 4" in gy.loc["NASH", "note"]
    assert gy.loc["combined", "n_groups"] == 2 and "NASH (n=3)" in gy.loc["combined", "note"]
    flat = t[t["y"] == "FLAT"].set_index("level")
    assert flat["estimate"].isna().all()
    assert "constant y" in flat.loc["healthy", "note"]
    assert flat.loc["combined", "zero_fraction_y"] == 1.0
    assert "at its minimum in 100%" in flat.loc["combined", "note"]


def test_zero_fraction_uses_counts_for_genes():
    rng = np.random.default_rng(0)
    n = 40
    counts = np.column_stack([rng.poisson(50, n), np.where(np.arange(n) < 30, 0, rng.poisson(5, n))])
    a = ad.AnnData(np.log2(counts + 0.5) + rng.normal(scale=0.01, size=(n, 2)),
                   var=pd.DataFrame(index=["A", "SPARSE"]), obs=pd.DataFrame(index=[f"s{i}" for i in range(n)]))
    a.layers["counts"] = counts.astype(float)
    t = correlate(a, "A", "SPARSE").iloc[0]
    assert t["zero_fraction_y"] == pytest.approx(0.75)  # zero reads in 30 of 40 samples
    assert "zero counts in 75% of samples" in t["note"] and "library size" in t["note"]


def test_covariates_partial_out_a_confounder():
    rng = np.random.default_rng(11)
    n = 80
    conf = rng.normal(size=n)
    sex = rng.choice(["F", "M"], size=n)
    x = conf + 0.3 * rng.normal(size=n)
    y = conf + 0.3 * rng.normal(size=n)
    obs = pd.DataFrame({"conf": conf, "sex": sex, "x": x, "y": y}, index=[f"s{i}" for i in range(n)])
    a = ad.AnnData(np.zeros((n, 1)), obs=obs)
    raw = correlate(a, "x", "y", method="pearson").iloc[0]
    part = correlate(a, "x", "y", method="pearson", covariates=["conf", "sex"]).iloc[0]
    assert raw["estimate"] > 0.8
    assert abs(part["estimate"]) < 0.3 and part["df"] == n - 2 - 2 and part["covariates"] == "conf;sex"
    # == the t-test of the slope of x in lm(y ~ conf + sex + x)
    import statsmodels.api as sm

    X = sm.add_constant(np.column_stack([conf, (sex == "M").astype(float), x]))
    fit = sm.OLS(y, X).fit()
    assert part["pval"] == pytest.approx(fit.pvalues[3], rel=1e-9)


def test_features_resolution_and_errors():
    a = simpson()
    a.obs["age"] = np.arange(a.n_obs, dtype=float)
    t = correlate(a, "scores", "age")  # an obsm key expands to its columns
    assert list(t["x"]) == ["scores:SX", "scores:SY"]
    t2 = correlate(a, "SX", "age")  # a column name held by exactly one obsm table
    assert t2["estimate"].iloc[0] == pytest.approx(t["estimate"].iloc[0])
    with pytest.raises(InputDataError, match="not found"):
        correlate(a, "NOPE", "age")
    with pytest.raises(InputDataError, match="not numeric"):
        correlate(a, "obs:condition", "age")
    with pytest.raises(InputDataError, match="method"):
        correlate(a, "SX", "age", method="kendall")
    with pytest.raises(InputDataError, match="combine"):
        correlate(a, "SX", "age", within="condition", combine="mean")
    with pytest.raises(InputDataError, match="obs has no column"):
        correlate(a, "SX", "age", within="batch")
    a.obs["GENEX"] = 1.0
    with pytest.raises(InputDataError, match="both a gene and an obs column"):
        correlate(a, "GENEX", "age")
    out = mg.tl.correlate(a, "var:GENEX", "age", copy=True, key_added="copied")
    assert "copied" in out.uns and "copied" not in a.uns


# ---------------------------------------------------------------------------------------
# agreement with R (tests/r/make_reference_correlate.R)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rdata():
    s = pd.read_csv(DATA / "samples.tsv", sep="\t", index_col="sample")
    ref = pd.read_csv(DATA / "reference.tsv", sep="\t", index_col="id")["value"].astype(float).to_dict()
    a = ad.AnnData(np.zeros((len(s), 1)), obs=s)
    return a, ref


TOL = dict(rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_matches_r_pooled_and_within(rdata, method):
    a, ref = rdata
    for name, yv in (("x_y", "y"), ("x_k", "k")):
        r = correlate(a, "x", yv, method=method).iloc[0]
        assert r["estimate"] == pytest.approx(ref[f"pooled/{method}/{name}/estimate"], **TOL)
        assert r["pval"] == pytest.approx(ref[f"pooled/{method}/{name}/pval"], **TOL)
        if method == "pearson":
            assert r["ci_low"] == pytest.approx(ref[f"pooled/{method}/{name}/ci_low"], **TOL)
            assert r["ci_high"] == pytest.approx(ref[f"pooled/{method}/{name}/ci_high"], **TOL)
    t = correlate(a, "x", "y", method=method, within="condition").set_index("level")
    for g in ("healthy", "NAFL", "NASH"):
        assert t.loc[g, "estimate"] == pytest.approx(ref[f"within/{method}/{g}/estimate"], **TOL)
        assert t.loc[g, "pval"] == pytest.approx(ref[f"within/{method}/{g}/pval"], **TOL)
    for col in ("estimate", "ci_low", "ci_high", "pval", "q_het", "q_pval", "i2"):
        assert t.loc["combined", col] == pytest.approx(ref[f"within/{method}/combined/{col}"], **TOL), col
    r = correlate(a, "x", "y", method=method, within="condition", combine="residualise").iloc[0]
    for col in ("estimate", "pval", "df"):
        assert r[col] == pytest.approx(ref[f"residualise/{method}/{col}"], **TOL), col


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_matches_r_rmcorr_pairs_and_partial(rdata, method):
    a, ref = rdata
    r = correlate(a, "x", "y", method=method, paired_by="pair").iloc[0]
    for col in ("estimate", "pval", "df"):
        assert r[col] == pytest.approx(ref[f"rmcorr/{method}/{col}"], **TOL), col
    r = correlate(a, "x", "y", method=method, paired_by="pair", within="condition").iloc[0]
    for col in ("estimate", "pval", "df"):  # patients nested in condition: same as rmcorr
        assert r[col] == pytest.approx(ref[f"pairgroup/{method}/{col}"], **TOL), col
    b = a[a.obs["tissue"].notna()].copy()
    r = correlate(b, "x", "y", method=method, paired_by="pair", within="tissue").iloc[0]
    for col in ("estimate", "pval", "df"):
        assert r[col] == pytest.approx(ref[f"pairtissue/{method}/{col}"], **TOL), col
    assert r["estimate"] == pytest.approx(ref[f"pairtissue/{method}/diffcor"], **TOL)
    r = correlate(b, "x", "y", method=method, paired_by="pair").iloc[0]
    assert r["estimate"] == pytest.approx(ref[f"paironly/{method}/estimate"], **TOL)
    assert r["pval"] == pytest.approx(ref[f"paironly/{method}/pval"], **TOL)
    r = correlate(a, "x", "y", method=method, covariates=["age", "sex"]).iloc[0]
    for col in ("estimate", "pval", "df"):
        assert r[col] == pytest.approx(ref[f"partial/{method}/{col}"], **TOL), col


def test_r_reference_shows_three_different_answers(rdata):
    """The R data set itself: pooled +0.63, within condition ~0, within patient -0.81."""
    _, ref = rdata
    assert ref["pooled/pearson/x_y/estimate"] > 0.5
    assert abs(ref["within/pearson/combined/estimate"]) < 0.2
    assert ref["rmcorr/pearson/estimate"] < -0.7


# ---------------------------------------------------------------------------------------
# real cohorts
# ---------------------------------------------------------------------------------------


@pytest.mark.network
def test_gse126848_klrk1_zero_counts_and_within_group_coupling(mirror_server, session_cache, shared_dir, mirror_env):
    a = real_cohorts.load("GSE126848", mirror_server, session_cache, shared_dir)
    t = correlate(a, "MAGT1", "KLRK1", within="condition")
    comb = t.iloc[0]
    print(t[["level", "estimate", "ci_low", "ci_high", "pval", "n", "zero_fraction_y"]])
    # KLRK1 has no reads in most biopsies: flagged in the table and the note
    assert comb["zero_fraction_y"] > 0.7 and "zero counts" in comb["note"]
    assert comb["n"] == 57 and comb["n_groups"] == 4
    assert comb["ci_low"] < 0 < comb["ci_high"]  # no within-group association
    # the efflux score ~ inflammation: pooled positive, nothing within condition
    mg.tl.score(a, "magnesium", method="ssgsea", key_added="mg_ssgsea")
    mg.tl.score(a, "hallmark:HALLMARK_INFLAMMATORY_RESPONSE", method="ssgsea", key_added="mech")
    pooled = correlate(a, "mg_ssgsea:MG_EFFLUX_EXCHANGE", "mech").iloc[0]
    within = correlate(a, "mg_ssgsea:MG_EFFLUX_EXCHANGE", "mech", within="condition")
    print(pooled[["estimate", "pval"]].to_dict(), within[["level", "estimate", "pval"]])
    assert pooled["estimate"] > 0.2 and pooled["pval"] < 0.05  # measured +0.30, p 0.023
    assert within.iloc[0]["pval"] > 0.05 and within.iloc[0]["estimate"] < 0.1  # measured -0.10


@pytest.mark.network
def test_gse77314_pairs_are_not_independent_samples(mirror_server, session_cache, shared_dir, mirror_env):
    a = real_cohorts.load("GSE77314", mirror_server, session_cache, shared_dir)
    pooled = correlate(a, "MAGT1", "KLRK1").iloc[0]
    both = correlate(a, "MAGT1", "KLRK1", within="condition", paired_by="pair_id")
    c = both.iloc[0]
    assert pooled["n"] == 100 and pooled["df"] == 98
    assert c["n"] == 100 and c["n_groups"] == 50 and c["df"] == 100 - 50 - 1 - 1
    assert (c["ci_high"] - c["ci_low"]) > (pooled["ci_high"] - pooled["ci_low"])  # 50 patients, not 100
    per = both.set_index("level")
    assert per.loc["hcc_tumour", "n"] == 50 and per.loc["hcc_nontumour", "n"] == 50


# ---------------------------------------------------------------------------------------
# tl.coupling on top of correlate
# ---------------------------------------------------------------------------------------


def test_coupling_within_and_paired_use_correlate():
    a = simpson()
    a.obsm["mg"] = pd.DataFrame({"MG_A": a.obsm["scores"]["SX"]}, index=a.obs_names)
    a.obsm["mech"] = pd.DataFrame({"HALLMARK_INFLAMMATORY_RESPONSE": a.obsm["scores"]["SY"]}, index=a.obs_names)
    mg.tl.coupling(a, mg_key="mg", mechanism_key="mech", key_added="pooled")
    mg.tl.coupling(a, mg_key="mg", mechanism_key="mech", within="condition", key_added="within")
    pooled, within = mg.get.coupling(a, "pooled"), mg.get.coupling(a, "within")
    from mgtranscript.tl import COUPLING_COLUMNS

    assert list(within.columns) == COUPLING_COLUMNS
    assert pooled.iloc[0]["design"] == "pooled" and pooled.iloc[0]["r"] > 0.5
    top = within[within["group"] == "all"].iloc[0]
    assert top["design"] == "within:condition" and top["level"] == "combined" and top["r"] < -0.5
    assert top["mechanism"] == "inflammation" and top["mg_set"] == "MG_A"
    ref = correlate(a, "mg:MG_A", "mech:HALLMARK_INFLAMMATORY_RESPONSE", within="condition")
    np.testing.assert_allclose(within["r"].to_numpy(), ref["estimate"].to_numpy())
    assert set(within["group"]) == {"all", "healthy", "NAFL", "NASH"}
    # qval: BH within each group's family (one test per family here)
    np.testing.assert_allclose(within["qval"], within["pval"])

    b = paired()
    b.obsm["mg"] = pd.DataFrame({"MG_A": b.obs["x"].to_numpy()}, index=b.obs_names)
    b.obsm["mech"] = pd.DataFrame({"M": b.obs["y"].to_numpy()}, index=b.obs_names)
    mg.tl.coupling(b, mg_key="mg", mechanism_key="mech", method="pearson", within="condition", paired_by="pair_id")
    row = mg.get.coupling(b).iloc[0]
    assert row["design"] == "within:condition+paired:pair_id" and row["r"] < -0.8 and row["df"] == 28
    with pytest.raises(InputDataError, match="not both"):
        mg.tl.coupling(b, mg_key="mg", mechanism_key="mech", groupby="pair_id", within="condition")

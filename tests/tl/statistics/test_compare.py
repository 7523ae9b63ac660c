"""tl.compare / tl.trend and the shared statistics in mgtranscript._stats."""

from __future__ import annotations

import itertools

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from mgtranscript.errors import InputDataError
from mgtranscript import _stats as S
from mgtranscript import get
from mgtranscript.tl import COMPARE_COLUMNS, TREND_COLUMNS, compare, trend

from support.paths import DATA


STAGES = ["healthy", "obese", "NAFL", "NASH"]


def _cohort(seed: int = 0, n_per: int = 8) -> ad.AnnData:
    """Four stages; SET_UP and gene G0 rise with stage, SET_FLAT and G1 do not."""
    rng = np.random.default_rng(seed)
    n = 4 * n_per
    stage = np.repeat(np.arange(4), n_per)
    obs = pd.DataFrame(
        {
            "condition": np.array(STAGES, dtype=object)[stage],
            "fibrosis_stage": stage.astype(float),
            "pair_id": [f"P{i % n_per}" for i in range(n)],
            "mg_balance": rng.normal(size=n),
        },
        index=[f"S{i:02d}" for i in range(n)],
    )
    X = rng.normal(size=(n, 3))
    X[:, 0] += 0.8 * stage
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=["G0", "G1", "G2"]))
    a.obsm["mg_ssgsea"] = pd.DataFrame(
        {"SET_UP": rng.normal(size=n) + 1.0 * stage, "SET_FLAT": rng.normal(size=n)}, index=a.obs_names
    )
    return a


# ----------------------------------------------------------------------------- helpers


def test_bh_matches_statsmodels_and_skips_nan():
    p = np.random.default_rng(1).uniform(size=40) ** 3
    np.testing.assert_allclose(S.bh_adjust(p), multipletests(p, method="fdr_bh")[1])
    q = S.bh_adjust([0.01, np.nan, 0.04])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.04)


def test_hedges_g_and_ci_by_hand():
    x = np.array([5.1, 6.0, 6.8, 7.4, 5.9])
    y = np.array([4.0, 4.9, 5.2, 4.4])
    n1, n2 = 5, 4
    sp = np.sqrt(((n1 - 1) * np.var(x, ddof=1) + (n2 - 1) * np.var(y, ddof=1)) / 7)
    g = (1 - 3 / (4 * 9 - 9)) * (x.mean() - y.mean()) / sp
    se = np.sqrt(9 / 20 + g**2 / 18)
    got = S.hedges_g(x, y)
    np.testing.assert_allclose(got, [g, se, g - 1.959964 * se, g + 1.959964 * se], rtol=1e-6)
    assert all(np.isnan(S.hedges_g(x, y[:1])))
    # paired g_z
    d = x[:4] - y
    gz = (1 - 3 / (4 * 3 - 1)) * d.mean() / d.std(ddof=1)
    assert S.hedges_g_paired(d)[0] == pytest.approx(gz)
    assert S.hedges_g_paired(d)[1] == pytest.approx(np.sqrt(1 / 4 + gz**2 / 8))


def test_auroc_is_mann_whitney_u_over_n1n2_with_ties():
    x = np.array([1, 2, 2, 3, 5.0])
    y = np.array([2, 2, 4, 0.0])
    u = stats.mannwhitneyu(x, y).statistic
    assert S.auroc(x, y) == pytest.approx(u / 20)
    # by definition: P(X > Y) + 0.5 P(X = Y)
    gt = sum(a > b for a in x for b in y)
    eq = sum(a == b for a in x for b in y)
    assert S.auroc(x, y) == pytest.approx((gt + 0.5 * eq) / 20)


def _jt_count(values, codes):
    j = 0.0
    for a, b in itertools.product(range(len(values)), repeat=2):
        if codes[a] < codes[b]:
            j += 1.0 if values[a] < values[b] else 0.5 if values[a] == values[b] else 0.0
    return j


def test_jonckheere_terpstra_matches_brute_force_permutation_moments_with_ties():
    # 3 ordered groups (3, 3, 2), tied values; the exact permutation distribution of J
    # over all 8!/(3!3!2!) = 560 group assignments gives the true mean and variance.
    values = np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 6.0])
    codes = np.array([0, 0, 1, 0, 1, 1, 2, 2])
    j, z, p, var = S.jonckheere_terpstra(values, codes)
    assert j == _jt_count(values, codes)
    sizes = [3, 3, 2]
    perms = []
    for g0 in itertools.combinations(range(8), 3):
        rest = [i for i in range(8) if i not in g0]
        for g1 in itertools.combinations(rest, 3):
            c = np.full(8, 2)
            c[list(g0)] = 0
            c[list(g1)] = 1
            perms.append(_jt_count(values, c))
    perms = np.array(perms)
    assert perms.size == 560
    assert (64 - sum(s * s for s in sizes)) / 4 == pytest.approx(perms.mean())
    assert var == pytest.approx(perms.var(), rel=1e-12)  # exact tie-corrected variance
    assert z == pytest.approx((j - perms.mean()) / np.sqrt(perms.var()))
    assert p == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_jonckheere_terpstra_without_ties_textbook_variance():
    # no ties: Var = [N^2(2N+3) - sum n^2(2n+3)] / 72
    rng = np.random.default_rng(5)
    v = rng.permutation(12).astype(float)
    c = np.repeat([0, 1, 2], 4)
    _, _, _, var = S.jonckheere_terpstra(v, c)
    assert var == pytest.approx((144 * 27 - 3 * 16 * 11) / 72)


# ----------------------------------------------------------------------------- compare


def test_compare_unpaired_statistics_match_scipy():
    a = _cohort()
    assert compare(a, reference="healthy", keys=["mg_ssgsea", "mg_balance"], genes=["G0", "G1"]) is None
    t = get.compare(a, "compare")
    assert list(t.columns) == COMPARE_COLUMNS
    assert len(t) == 3 * 5
    # default groups follow no categorical order -> sorted, reference excluded
    assert set(t["group"]) == {"obese", "NAFL", "NASH"}
    row = t[(t.feature == "SET_UP") & (t.group == "NASH")].iloc[0]
    s = a.obsm["mg_ssgsea"]["SET_UP"].to_numpy()
    x, y = s[a.obs.condition == "NASH"], s[a.obs.condition == "healthy"]
    assert row.t_pval == pytest.approx(stats.ttest_ind(x, y, equal_var=False).pvalue)
    assert row.u_pval == pytest.approx(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    assert row.hedges_g == pytest.approx(S.hedges_g(x, y)[0])
    assert row["diff"] == pytest.approx(x.mean() - y.mean())
    assert (row.n_group, row.n_ref, row.n) == (8, 8, 16)
    assert row.contrast == "condition:NASH|healthy" and row.kind == "score" and row.source == "mg_ssgsea"
    assert row.hedges_g > 1 and row.g_ci_low > 0 and row.auroc > 0.8  # the rising set is detected
    assert t[t.feature == "mg_balance"].source.eq("obs").all()
    assert t[t.feature == "G0"].kind.eq("gene").all()
    # BH across ALL rows of the run
    np.testing.assert_allclose(t.qval, multipletests(t.t_pval, method="fdr_bh")[1])
    np.testing.assert_allclose(t.u_qval, multipletests(t.u_pval, method="fdr_bh")[1])


def test_compare_uses_layer_for_genes():
    a = _cohort()
    a.layers["log"] = a.X * 2
    compare(a, reference="healthy", groups=["NASH"], genes="G0", layer="log", key_added="c")
    row = get.compare(a, "c").iloc[0]
    assert row.source == "layers/log"
    g = a.obs.condition.to_numpy()
    assert row["diff"] == pytest.approx(2 * (a.X[g == "NASH", 0].mean() - a.X[g == "healthy", 0].mean()))


def test_compare_paired_uses_complete_pairs_only():
    a = _cohort()
    a.obs.loc["S24", "pair_id"] = None  # a NASH sample loses its pair id
    out = compare(a, reference="healthy", groups="NASH", keys="mg_ssgsea", paired_by="pair_id", copy=True)
    assert "compare" not in a.uns  # copy=True
    t = get.compare(out)
    row = t[t.feature == "SET_UP"].iloc[0]
    assert row.paired and row.n == row.n_group == row.n_ref == 7
    assert "2 samples without a complete pair dropped" in row.note  # the orphan and its partner
    obs = a.obs
    s = a.obsm["mg_ssgsea"]["SET_UP"]
    pairs = obs.loc[(obs.condition == "NASH") & obs.pair_id.notna(), "pair_id"]
    assert len(pairs) == 7
    xv = np.array([s[obs.index[(obs.condition == "NASH") & (obs.pair_id == p)][0]] for p in pairs])
    yv = np.array([s[obs.index[(obs.condition == "healthy") & (obs.pair_id == p)][0]] for p in pairs])
    assert row.t_pval == pytest.approx(stats.ttest_rel(xv, yv).pvalue)
    assert row.u_pval == pytest.approx(stats.wilcoxon(xv - yv).pvalue)
    assert row["diff"] == pytest.approx((xv - yv).mean())
    assert row.hedges_g == pytest.approx(S.hedges_g_paired(xv - yv)[0])
    assert row.test.startswith("paired t")


def test_compare_small_groups_and_missing_labels_do_not_crash():
    a = _cohort()
    a.obs["condition"] = a.obs["condition"].astype(object)
    a.obs.loc[a.obs.condition == "obese", "condition"] = None
    a.obs.loc["S08", "condition"] = "rare"  # a group with a single sample
    compare(a, reference="healthy", keys="mg_ssgsea")
    t = get.compare(a)
    assert (t.n_missing == 7).all()
    rare = t[t.group == "rare"]
    assert len(rare) == 2 and rare.hedges_g.isna().all() and rare.t_pval.isna().all()
    assert rare.note.str.contains("too few samples").all()
    assert t[t.group == "NASH"].t_pval.notna().all()


def test_compare_nan_values_are_dropped_per_feature():
    a = _cohort()
    a.obsm["mg_ssgsea"].iloc[[24, 25], 0] = np.nan  # two NASH samples unscored for SET_UP
    compare(a, reference="healthy", groups=["NASH"], keys="mg_ssgsea")
    t = get.compare(a).set_index("feature")
    assert t.loc["SET_UP", "n_group"] == 6 and t.loc["SET_FLAT", "n_group"] == 8
    assert np.isfinite(t.loc["SET_UP", "t_pval"])


def test_compare_errors_list_what_is_available():
    a = _cohort()
    with pytest.raises(InputDataError, match=r"available: \['NAFL', 'NASH', 'healthy', 'obese'\]"):
        compare(a, reference="control", keys="mg_ssgsea")
    with pytest.raises(InputDataError, match="groups \\['HCC'\\]"):
        compare(a, reference="healthy", groups=["HCC"], keys="mg_ssgsea")
    with pytest.raises(InputDataError, match="obsm keys"):
        compare(a, reference="healthy", keys="mg_gsva")
    with pytest.raises(InputDataError, match="MAGT1"):
        compare(a, reference="healthy", genes=["MAGT1"])
    with pytest.raises(InputDataError, match="pass reference="):
        compare(a, keys="mg_ssgsea")


def test_compare_default_reference_and_order_from_catalog_labels(tmp_path):
    a = _cohort()
    a.uns["labels"] = {"reference": "healthy", "condition_order": STAGES}
    compare(a, keys="mg_ssgsea")
    t = get.compare(a)
    assert (t.reference == "healthy").all()
    assert list(dict.fromkeys(t.group)) == ["obese", "NAFL", "NASH"]
    a.write_h5ad(tmp_path / "c.h5ad")
    back = ad.read_h5ad(tmp_path / "c.h5ad")
    pd.testing.assert_frame_equal(get.compare(back).reset_index(drop=True), t, check_dtype=False)


# ----------------------------------------------------------------------------- trend


def test_trend_over_ordered_conditions():
    a = _cohort()
    a.obs.loc["S00", "condition"] = "unlabelled"  # not in order -> excluded, counted
    trend(a, by="condition", order=STAGES, keys="mg_ssgsea", genes=["G0", "G1"])
    t = get.trend(a, "trend").set_index("feature")
    assert list(t.reset_index().columns) == TREND_COLUMNS
    assert (t.n == 31).all() and (t.n_missing == 1).all() and (t.n_groups == 4).all()
    assert t.loc["SET_UP", "rho"] > 0.5 and t.loc["SET_UP", "jt_pval"] < 1e-3 and t.loc["SET_UP", "jt_z"] > 0
    assert t.loc["G0", "qval"] < 0.01 and t.loc["SET_FLAT", "qval"] > 0.05
    keep = a.obs.condition != "unlabelled"
    codes = a.obs.condition[keep].map({s: i for i, s in enumerate(STAGES)}).to_numpy()
    v = a.obsm["mg_ssgsea"]["SET_UP"][keep].to_numpy()
    rho, p = stats.spearmanr(v, codes)
    assert t.loc["SET_UP", "rho"] == pytest.approx(rho) and t.loc["SET_UP", "pval"] == pytest.approx(p)
    assert t.loc["SET_UP", "jt_stat"] == _jt_count(v, codes)
    np.testing.assert_allclose(t.qval, multipletests(t.pval, method="fdr_bh")[1])


def test_trend_numeric_stage_with_missing_values():
    a = _cohort()
    a.obs.loc[["S01", "S02"], "fibrosis_stage"] = np.nan
    trend(a, by="fibrosis_stage", genes="G0", key_added="fib")
    row = get.trend(a, "fib").iloc[0]
    assert row.order == "0 < 1 < 2 < 3" and row.n == 30 and row.n_missing == 2
    assert row.rho > 0 and row.pval < 0.01


def test_trend_errors_and_degenerate_input():
    a = _cohort()
    with pytest.raises(InputDataError, match="pass order="):
        trend(a, by="condition", keys="mg_ssgsea")
    with pytest.raises(InputDataError, match="none of order"):
        trend(a, by="condition", order=["F0", "F4"], keys="mg_ssgsea")
    trend(a, by="condition", order=["NASH"], keys="mg_ssgsea", key_added="one")
    assert get.trend(a, "one").note.str.contains("too few stages").all()
    with pytest.raises(InputDataError, match=r"no 'missing': run tl.compare\(adata, ..., key_added='missing'\)"):
        get.compare(a, "missing")
    with pytest.raises(InputDataError, match=r"written by tl.trend, not by tl.compare: read it with mg.get.trend"):
        get.compare(a, "one")


# ------------------------------------------------------------------- covariate adjustment

_RDATA = DATA / "correlate"


def _r_adata():
    s = pd.read_csv(_RDATA / "samples.tsv", sep="\t", index_col="sample")
    ref = pd.read_csv(_RDATA / "reference.tsv", sep="\t", index_col="id")["value"].astype(float).to_dict()
    return ad.AnnData(np.zeros((len(s), 1)), obs=s), ref


def test_compare_covariates_match_r_lm():
    """adj_* == R summary(lm(y ~ group + age + sex)) / confint (tests/r/make_reference_correlate.R)."""
    from mgtranscript.tl import ADJUSTED_COLUMNS

    a, ref = _r_adata()
    compare(a, groupby="condition", reference="healthy", keys="y", covariates=["age", "sex"])
    assert list(get.compare(a).columns) == COMPARE_COLUMNS + ADJUSTED_COLUMNS
    tab = get.compare(a).set_index("group")
    for g in ("NAFL", "NASH"):
        assert tab.loc[g, "adj_diff"] == pytest.approx(ref[f"compare_adj/{g}/diff"], rel=1e-10)
        assert tab.loc[g, "adj_ci_low"] == pytest.approx(ref[f"compare_adj/{g}/ci_low"], rel=1e-10)
        assert tab.loc[g, "adj_ci_high"] == pytest.approx(ref[f"compare_adj/{g}/ci_high"], rel=1e-10)
        assert tab.loc[g, "adj_pval"] == pytest.approx(ref[f"compare_adj/{g}/pval"], rel=1e-8)
        assert tab.loc[g, "adjusted_for"] == "age;sex_M"
        assert tab.loc[g, "adj_df"] == tab.loc[g, "adj_n"] - 4
    np.testing.assert_allclose(tab["adj_qval"], S.bh_adjust(tab["adj_pval"].to_numpy()))
    # the unadjusted columns are untouched by covariates=
    b, _ = _r_adata()
    compare(b, groupby="condition", reference="healthy", keys="y")
    plain = get.compare(b)
    assert list(plain.columns) == COMPARE_COLUMNS
    pd.testing.assert_frame_equal(plain, get.compare(a)[COMPARE_COLUMNS])


def test_compare_covariates_paired_matches_r_pair_fixed_effects():
    a, ref = _r_adata()
    b = a[a.obs["tissue"].notna()].copy()
    compare(b, groupby="tissue", reference="normal", keys="y", paired_by="pair", covariates="age")
    row = get.compare(b).iloc[0]
    assert row["paired"] and row["adj_n"] == 24 and row["adj_df"] == 22
    assert row["adj_diff"] == pytest.approx(ref["compare_adj_paired/diff"], rel=1e-10)
    assert row["adj_pval"] == pytest.approx(ref["compare_adj_paired/pval"], rel=1e-8)
    assert row["adj_ci_low"] == pytest.approx(ref["compare_adj_paired/ci_low"], rel=1e-10)
    assert row["adj_ci_high"] == pytest.approx(ref["compare_adj_paired/ci_high"], rel=1e-10)


def test_compare_covariate_removes_a_depth_confound_and_flags_collinearity():
    """A gene that only follows library depth differs between groups sequenced at different
    depths; adjusting for (log) depth removes the difference. A covariate identical to the
    group gives NaN and says why."""
    rng = np.random.default_rng(4)
    n = 30
    grp = np.repeat(["ctrl", "case"], n)
    depth = np.r_[rng.normal(24.5, 0.3, n), rng.normal(23.5, 0.3, n)]  # log2 reads: 26 M vs 13 M
    gene = 0.8 * depth + rng.normal(scale=0.2, size=2 * n)
    obs = pd.DataFrame({"condition": grp, "log_depth": depth, "same": grp}, index=[f"s{i}" for i in range(2 * n)])
    a = ad.AnnData(gene[:, None], obs=obs, var=pd.DataFrame(index=["G"]))
    compare(a, groupby="condition", reference="ctrl", genes="G", covariates="log_depth")
    row = get.compare(a).iloc[0]
    assert row["t_pval"] < 1e-10 and row["diff"] < -0.5  # the raw comparison is "significant"
    assert row["adj_pval"] > 0.01 and abs(row["adj_diff"]) < abs(row["diff"]) / 3
    assert row["adj_ci_low"] < 0 < row["adj_ci_high"] or row["adj_pval"] > 0.01
    compare(a, groupby="condition", reference="ctrl", genes="G", covariates="same", key_added="c2")
    row = get.compare(a, "c2").iloc[0]
    assert np.isnan(row["adj_diff"]) and "collinear" in row["note"]
    assert np.isfinite(row["t_pval"])  # the unadjusted test still runs
    with pytest.raises(InputDataError, match="covariate 'nope'"):
        compare(a, groupby="condition", reference="ctrl", genes="G", covariates="nope")


def test_paired_g_av_is_on_the_scale_of_an_unpaired_g_and_its_ci_covers():
    """Pairs with correlation 0.8 and a true average-SD difference of 0.5: g_z (change-score
    standardised) is about 0.5 / sqrt(2 (1 - 0.8)) = 0.79, g_av about 0.5 with a CI that holds
    the truth in ~95% of the cohorts; compare reports both, named."""
    rng = np.random.default_rng(12)
    n, reps, cover, gav, gz = 30, 400, 0, [], []
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    for _ in range(reps):
        ref, grp = rng.multivariate_normal([0.0, 0.5], cov, size=n).T
        g, se, lo, hi = S.hedges_g_av(grp, ref)
        gav.append(g)
        cover += lo <= 0.5 <= hi
        gz.append(S.hedges_g_paired(grp - ref)[0])
    assert np.mean(gav) == pytest.approx(0.5, abs=0.03)
    assert np.mean(gz) == pytest.approx(0.5 / np.sqrt(0.4), abs=0.05)
    assert 0.92 <= cover / reps <= 0.98
    assert np.std(gav) == pytest.approx(np.mean([S.hedges_g_av(*rng.multivariate_normal(
        [0.5, 0.0], cov, size=n).T)[1] for _ in range(200)]), rel=0.15)  # the SE is the spread of g_av
    # compare: hedges_g is g_z for paired rows (g_kind says so), g_av beside; unpaired rows: g_av == g
    obs = pd.DataFrame({"tissue": ["normal"] * n + ["tumour"] * n, "pair": [f"P{i}" for i in range(n)] * 2},
                       index=[f"s{i}" for i in range(2 * n)])
    a = ad.AnnData(np.r_[ref, grp][:, None], obs=obs, var=pd.DataFrame(index=["G"]))
    compare(a, groupby="tissue", reference="normal", genes="G", paired_by="pair")
    row = get.compare(a).iloc[0]
    assert row["g_kind"] == "g_z" and row["hedges_g"] == pytest.approx(S.hedges_g_paired(grp - ref)[0])
    assert row["g_av"] == pytest.approx(S.hedges_g_av(grp, ref)[0]) and row["g_av"] < row["hedges_g"]
    compare(a, groupby="tissue", reference="normal", genes="G", key_added="u")
    u = get.compare(a, "u").iloc[0]
    assert u["g_kind"] == "g" and u["g_av"] == u["hedges_g"] and u["g_av_ci_low"] == u["g_ci_low"]


def test_an_imbalanced_covariate_creates_an_effect_that_the_adjusted_g_removes():
    """Sex shifts the gene by 1 SD; 75% of cases are women, 15% of controls: without a group
    effect the unadjusted g is large and 'significant', the adjusted g is not. With a true
    effect of 0.5 SD the adjusted g recovers it. adj_g = J * adj_diff / pooled SD."""
    rng = np.random.default_rng(3)
    n = 60
    grp = np.repeat(["case", "ctrl"], n)
    female = np.r_[rng.random(n) < 0.75, rng.random(n) < 0.15]
    obs = pd.DataFrame({"condition": grp, "sex": np.where(female, "female", "male")},
                       index=[f"s{i}" for i in range(2 * n)])
    null = rng.normal(size=2 * n) + 1.0 * female
    real = null + 0.5 * (grp == "case")
    a = ad.AnnData(np.c_[null, real], obs=obs, var=pd.DataFrame(index=["NULL", "REAL"]))
    compare(a, groupby="condition", reference="ctrl", genes=["NULL", "REAL"], covariates="sex")
    t = get.compare(a).set_index("feature")
    assert t.loc["NULL", "hedges_g"] > 0.4 and t.loc["NULL", "t_pval"] < 0.01  # created by the imbalance
    assert t.loc["NULL", "adj_g_ci_low"] < 0 < t.loc["NULL", "adj_g_ci_high"] and t.loc["NULL", "adj_pval"] > 0.05
    assert t.loc["REAL", "adj_g_ci_low"] < 0.5 < t.loc["REAL", "adj_g_ci_high"]
    x, y = real[:n], real[n:]
    sd = np.sqrt(((n - 1) * x.var(ddof=1) + (n - 1) * y.var(ddof=1)) / (2 * n - 2))
    j = 1 - 3 / (4 * (2 * n - 2) - 1)
    assert t.loc["REAL", "adj_g"] == pytest.approx(j * t.loc["REAL", "adj_diff"] / sd)
    assert t.loc["REAL", "adj_g_se"] == pytest.approx(j * t.loc["REAL", "adj_se"] / sd)


@pytest.mark.parametrize("n_group, n_ref", [(5, 7), (6, 12), (14, 21)])
def test_features_tested_together_give_the_numbers_of_one_by_one(n_group, n_ref, monkeypatch):
    """The features of a contrast are tested in one vectorised SciPy call (Welch t, Mann-Whitney U with
    SciPy's own choice of exact or asymptotic test per feature, AUROC): the table is bit for bit the one
    testing each feature alone, with ties, missing values, constant features and small groups."""
    from mgtranscript.tl._statistics import _compare

    rng = np.random.default_rng(n_group)
    n = n_group + n_ref
    genes = [f"G{i}" for i in range(60)]
    X = rng.normal(size=(n, len(genes)))
    X[:, 0:10] = np.round(X[:, 0:10])  # many ties
    X[:, 10] = 3.0  # constant
    X[:n_group, 11], X[n_group:, 11] = 1.0, 2.0  # constant within each group, different between
    X[:n_group, 12] = 5.0  # constant in the group only
    X[rng.random((n, len(genes))) < 0.03] = np.nan  # missing values here and there
    X[:, 13:16] *= 1e-9  # tiny values
    obs = pd.DataFrame({"condition": pd.Categorical(["case"] * n_group + ["control"] * n_ref)},
                       index=[f"s{i}" for i in range(n)])
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))
    together = compare(a, groupby="condition", reference="control", genes=genes, copy=True)
    monkeypatch.setattr(_compare, "_unpaired_tests", lambda *args: {})
    alone = compare(a, groupby="condition", reference="control", genes=genes, copy=True)
    t1, t2 = get.compare(together), get.compare(alone)
    assert t1.columns.equals(t2.columns) and len(t1) == len(genes)
    for col in t1.columns:
        if pd.api.types.is_float_dtype(t1[col]):
            v1, v2 = t1[col].to_numpy(), t2[col].to_numpy()
            assert np.array_equal(v1, v2, equal_nan=True), (col, np.flatnonzero(~((v1 == v2) | (np.isnan(v1) & np.isnan(v2)))))
        else:
            assert t1[col].tolist() == t2[col].tolist(), col
    assert t1["u_pval"].notna().sum() > 50 and t1["t_pval"].notna().sum() > 50

"""tl.meta_analysis: random-effects pooling (DerSimonian-Laird, REML; Hartung-Knapp or Wald)."""

from __future__ import annotations


import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from mgtranscript.errors import InputDataError
from mgtranscript import get
from mgtranscript.tl import compare
from mgtranscript.tl import META_COLUMNS, meta_analysis, pool
from mgtranscript.tl._statistics._meta import tau2_reml

from support.paths import DATA


DATA = DATA / "meta"

# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): tpos, tneg, cpos, cneg
BCG = np.array(
    [[4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
     [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892],
     [29, 7470, 45, 7232], [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338],
     [27, 16886, 29, 17825]], dtype=float,
)  # fmt: skip


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    a, b, c, d = BCG.T
    yi = np.log(a / (a + b)) - np.log(c / (c + d))  # escalc(measure="RR")
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return pd.DataFrame({"cohort": [f"trial{i + 1}" for i in range(13)], "feature": "BCG", "group": "vaccinated",
                         "yi": yi, "sei": np.sqrt(vi), "n": BCG.sum(axis=1)})  # fmt: skip


def test_bcg_matches_metafor_published_values(bcg):
    # metafor: rma(yi, vi, data=dat) [REML]; rma(..., method="DL"); rma(..., method="EE")
    # (values from the metafor documentation / its tests against Stata metan)
    reml = meta_analysis(bcg, effect="yi", se="sei", test="z").iloc[0]
    assert reml.k == 13 and reml.method == "REML"
    assert reml.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert reml.pooled == pytest.approx(-0.7145, abs=5e-5)
    assert reml.se == pytest.approx(0.1798, abs=5e-5)
    assert (reml.ci_low, reml.ci_high) == (pytest.approx(-1.0669, abs=5e-5), pytest.approx(-0.3622, abs=5e-5))
    assert reml.z == pytest.approx(-3.9744, abs=5e-5)
    assert reml.I2 == pytest.approx(92.22, abs=5e-3) and reml.H2 == pytest.approx(12.86, abs=5e-3)
    assert reml.Q == pytest.approx(152.2330, abs=5e-5) and reml.Q_df == 12
    dl = meta_analysis(bcg, effect="yi", se="sei", method="DL", test="z").iloc[0]
    assert dl.pooled == pytest.approx(-0.7141, abs=5e-5)
    assert (dl.ci_low, dl.ci_high) == (pytest.approx(-1.0644, abs=5e-5), pytest.approx(-0.3638, abs=5e-5))
    fe = meta_analysis(bcg, effect="yi", se="sei", method="FE", test="z").iloc[0]
    assert fe.pooled == pytest.approx(-0.4303, abs=5e-5) and fe.z == pytest.approx(-10.6247, abs=5e-4)
    assert reml.n_total == BCG.sum() and reml.cohorts.split(";")[0] == "trial1"


def test_dl_by_hand_and_reml_maximises_restricted_likelihood(bcg):
    y, v = bcg.yi.to_numpy(), bcg.sei.to_numpy() ** 2
    w = 1 / v
    q = (w * (y - (w * y).sum() / w.sum()) ** 2).sum()
    t2_dl = (q - 12) / (w.sum() - (w**2).sum() / w.sum())
    assert pool(y, np.sqrt(v), method="DL")["tau2"] == pytest.approx(t2_dl, rel=1e-12)

    def neg_rll(t2):
        ws = 1 / (v + t2)
        mu = (ws * y).sum() / ws.sum()
        return 0.5 * (np.log(v + t2).sum() + np.log(ws.sum()) + (ws * (y - mu) ** 2).sum())

    best = optimize.minimize_scalar(neg_rll, bounds=(0, 5), method="bounded", options={"xatol": 1e-12})
    t2, iters, converged = tau2_reml(y, v)
    assert converged and iters < 50
    assert t2 == pytest.approx(best.x, abs=1e-7)
    assert pool(y, np.sqrt(v))["tau2"] == pytest.approx(t2)


def _statsmodels_dl(y, se):
    from statsmodels.stats.meta_analysis import combine_effects

    return combine_effects(y, se**2, method_re="dl", use_t=False)


def test_dl_matches_statsmodels_combine_effects(bcg):
    """DerSimonian-Laird cross-checked against statsmodels' meta_analysis.combine_effects
    on the BCG trials and random blocks, heterogeneous or not.

    statsmodels leaves DL's moment estimate untruncated (a negative tau^2, NaN standard
    errors when it exceeds the smallest variance); here, as in metafor, tau^2 is truncated
    at 0, where the random-effects pool is statsmodels' fixed-effect one."""
    rng = np.random.default_rng(11)
    blocks = [(bcg.yi.to_numpy(), bcg.sei.to_numpy())]
    for k in (2, 3, 5, 8, 20):
        for spread in (0.0, 0.5):  # spread 0: homogeneous, DL's tau^2 is usually 0
            se = rng.uniform(0.1, 0.6, size=k)
            blocks.append((rng.normal(0.3, spread, size=k) + rng.normal(0, se), se))
    n_zero = 0
    for y, se in blocks:
        ours = pool(y, se, method="DL", test="z")
        with np.errstate(invalid="ignore"):
            ref = _statsmodels_dl(y, se)
            ci = ref.conf_int(use_t=False)  # [fixed, random, ...]
        assert ours["Q"] == pytest.approx(ref.q, rel=1e-10)
        if ref.tau2 > 0:
            assert ours["tau2"] == pytest.approx(ref.tau2, rel=1e-10)
            pooled, sd, (lo, hi), w = ref.mean_effect_re, ref.sd_eff_w_re, ci[1], ref.weights_rel_re
            assert ours["I2"] == pytest.approx(100 * ref.i2, rel=1e-9)
        else:
            n_zero += 1
            assert ours["tau2"] == 0.0 and ours["I2"] == 0.0
            pooled, sd, (lo, hi), w = ref.mean_effect_fe, ref.sd_eff_w_fe, ci[0], ref.weights_rel_fe
        assert ours["pooled"] == pytest.approx(pooled, rel=1e-10, abs=1e-14)
        assert ours["se"] == pytest.approx(sd, rel=1e-10)
        assert (ours["ci_low"], ours["ci_high"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
        np.testing.assert_allclose(ours["weights"], w, rtol=1e-10)
    assert 0 < n_zero < len(blocks)  # both regimes were exercised


def test_reml_truncates_at_zero_for_homogeneous_effects():
    y = np.array([0.50, 0.52, 0.49, 0.51])
    se = np.array([0.2, 0.25, 0.3, 0.2])
    res = pool(y, se, test="z")
    assert res["tau2"] == 0.0 and res["I2"] == 0.0
    w = 1 / se**2
    assert res["pooled"] == pytest.approx((w * y).sum() / w.sum())
    assert res["se"] == pytest.approx(1 / np.sqrt(w.sum()))


def test_se_from_ci_single_cohort_skips_and_weights(bcg):
    df = bcg.assign(g_ci_low=bcg.yi - 1.959963984540054 * bcg.sei, g_ci_high=bcg.yi + 1.959963984540054 * bcg.sei,
                    hedges_g=bcg.yi)  # fmt: skip
    lone = df.iloc[[0]].assign(feature="LONE")
    broken = df.iloc[[1, 2]].assign(feature="BROKEN")
    broken.loc[broken.index[0], "hedges_g"] = np.nan
    summary, weights = meta_analysis(pd.concat([df, lone, broken]), return_weights=True)
    assert list(summary.columns) == ["feature", "group", *META_COLUMNS]
    s = summary.set_index("feature")
    ref = meta_analysis(bcg, effect="yi", se="sei").iloc[0]
    assert s.loc["BCG", "ci_low"] == pytest.approx(ref.ci_low, rel=1e-9) and s.loc["BCG", "test"] == "knha"
    assert s.loc["BCG", "pooled"] == pytest.approx(ref.pooled, rel=1e-9)  # se recovered from the CI
    assert s.loc["LONE", "k"] == 1 and s.loc["LONE", "pooled"] == pytest.approx(df.yi.iloc[0])
    assert np.isnan(s.loc["LONE", "tau2"]) and "single cohort" in s.loc["LONE", "note"]
    assert s.loc["BROKEN", "k"] == 1 and "1 cohort(s) without a finite effect/SE skipped" in s.loc["BROKEN", "note"]
    np.testing.assert_allclose(summary.qval, stats.false_discovery_control(summary.pval))
    wb = weights[weights.feature == "BCG"]
    assert wb.weight.sum() == pytest.approx(1.0)
    raw = 1 / (wb.se**2 + s.loc["BCG", "tau2"])
    np.testing.assert_allclose(wb.weight, raw / raw.sum())
    assert (weights.feature == "BROKEN").sum() == 1


def test_input_errors(bcg):
    with pytest.raises(InputDataError, match="lacks columns"):
        meta_analysis(bcg)  # no hedges_g / CI columns
    with pytest.raises(InputDataError, match="more than once"):
        meta_analysis(pd.concat([bcg, bcg.iloc[[0]]]), effect="yi", se="sei")
    with pytest.raises(InputDataError, match="method"):
        meta_analysis(bcg, effect="yi", se="sei", method="SJ")
    with pytest.raises(InputDataError, match="test must be one of"):
        meta_analysis(bcg, effect="yi", se="sei", test="t")


def _cohort(seed: int, shift: float, n: int = 12) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    cond = np.repeat(["healthy", "NASH"], n)
    score = rng.normal(size=2 * n) + shift * (cond == "NASH")
    a = ad.AnnData(np.zeros((2 * n, 1)), obs=pd.DataFrame({"condition": cond}, index=[f"s{i}" for i in range(2 * n)]))
    a.obsm["mg"] = pd.DataFrame({"MG_SET": score}, index=a.obs_names)
    return a


def test_pools_compare_tables_across_cohorts():
    tables = []
    for i, shift in enumerate([1.0, 0.6, 1.4]):
        a = _cohort(i, shift)
        compare(a, reference="healthy", keys="mg")
        tables.append(get.compare(a).assign(cohort=f"GSE{i}"))
    eff = pd.concat(tables, ignore_index=True)
    m = meta_analysis(eff, by=("contrast", "feature"))
    row = m.iloc[0]
    assert row.contrast == "condition:NASH|healthy" and row.group == "NASH" and row.k == 3
    assert row.n_total == 3 * 24 and row.cohorts == "GSE0;GSE1;GSE2"
    assert eff.hedges_g.min() <= row.pooled <= eff.hedges_g.max()
    wald = meta_analysis(eff, by=("contrast", "feature"), test="z").iloc[0]
    assert wald.pooled == pytest.approx(row.pooled) and wald.ci_low > 0 and wald.pval < 0.01
    # three small cohorts: the Hartung-Knapp t interval (2 df) is honest about how little they pin down
    assert row.test == "knha" and row.df == 2 and row.ci_low < wald.ci_low and row.ci_high > wald.ci_high
    assert row.pi_low <= row.ci_low and row.pi_high >= row.ci_high


def test_small_k_pools_match_metafor_knha_and_prediction_intervals():
    """tests/r/make_reference_meta.R: metafor 3.8 rma(method=REML|DL, test="knha"|"z") and predict()
    on two cohorts that agree, two that disagree, three, five homogeneous ones and the BCG trials."""
    inp = pd.read_csv(DATA / "input.tsv", sep="\t")
    ref = pd.read_csv(DATA / "reference.tsv", sep="\t")
    assert len(ref) == 15
    for r in ref.itertuples():
        d = inp[inp["case"] == r.case]
        got = pool(d["y"].to_numpy(), d["se"].to_numpy(), method=r.method, test=r.test)
        where = f"{r.case} {r.method} {r.test}"
        for ours, theirs in (("pooled", "estimate"), ("se", "se"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                             ("z", "stat"), ("tau2", "tau2"), ("I2", "I2"), ("Q", "Q"), ("Q_pval", "Q_pval")):
            assert got[ours] == pytest.approx(getattr(r, theirs), rel=1e-6, abs=1e-8), (where, ours)
        assert got["pval"] == pytest.approx(r.pval, rel=1e-5, abs=1e-12), where
        assert got["df"] == (r.k - 1 if r.test == "knha" else np.inf)
        if r.k >= 3:  # the prediction interval of a new cohort
            assert (got["pi_low"], got["pi_high"]) == (pytest.approx(r.pi_low, rel=1e-6),
                                                       pytest.approx(r.pi_high, rel=1e-6)), where
        else:  # not reported for two cohorts
            assert np.isnan(got["pi_low"]) and np.isnan(got["pi_high"])


def test_two_cohort_knha_interval_is_the_t1_interval_around_the_pool():
    # by hand: with k = 2 Hartung-Knapp's se is |y1 - y2| sqrt(w1 w2) / (w1 + w2) (with the pool's weights)
    # and the critical value t(0.975, 1) = 12.71: an honest "two cohorts pin down very little"
    y, se = np.array([0.0125, 0.4218]), np.array([0.3594, 0.2044])
    res = pool(y, se, method="FE")
    w = 1 / se**2
    mu = (w * y).sum() / w.sum()
    se_hk = abs(y[0] - y[1]) * np.sqrt(w[0] * w[1]) / w.sum()
    assert res["se"] == pytest.approx(se_hk)
    assert res["pooled"] == pytest.approx(mu)
    assert res["ci_high"] - res["ci_low"] == pytest.approx(2 * stats.t.ppf(0.975, 1) * se_hk)
    assert res["df"] == 1 and np.isnan(res["pi_low"])
    wald = pool(y, se, method="FE", test="z")
    assert wald["ci_high"] - wald["ci_low"] < res["ci_high"] - res["ci_low"]

"""tl.design_check, the rules that disqualify or downgrade evidence: a batch aliased with the
groups that dominates the biology inside it, libraries far below their group's depth, an age
imbalance, pairing declared by sample order, the risk-of-bias column and adjusted covariates.

Synthetic cohorts where the right answer is known, and the real GSE126848 / GSE167523."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.tl import RISK_CHECKS, covariates_to_adjust, mark_adjusted

from support import real_cohorts


def design_check(adata, **kw) -> pd.DataFrame:
    """tl.design_check stores its tables (it returns None); its checks table, read with get.design."""
    key = kw.setdefault("key_added", "design_check")
    assert mg.tl.design_check(adata, **kw) is None
    return mg.get.design(adata, key)

LEVELS = ("healthy", "obese", "NAFL", "NASH")


def series_cohort(batch_effect: bool, n: int = 8, seed: int = 11) -> ad.AnnData:
    """healthy/obese sequenced in one series (ids 8xx, ~26 M reads), NAFL/NASH in another (ids
    2xxx, ~13 M). With ``batch_effect`` 40% of the genes shift 2-fold in the second series
    (a protocol difference); the biology inside each series is a shift of 10 genes."""
    rng = np.random.default_rng(seed)
    n_genes = 1000
    base = np.exp(rng.normal(3.5, 1.2, n_genes))
    base /= base.sum()
    batch_genes = rng.choice(n_genes, 400, replace=False)
    batch_shift = np.ones(n_genes)
    if batch_effect:
        batch_shift[batch_genes] = np.exp2(rng.choice([-1.0, 1.0], 400))
    bio = np.ones(n_genes)
    bio[:10] = 1.6
    rows, obs = [], []
    for lv in LEVELS:
        second = lv in ("NAFL", "NASH")
        for i in range(n):
            mu = base * (batch_shift if second else 1.0) * (bio if lv in ("obese", "NASH") else 1.0)
            depth = (13e6 if second else 26e6) * rng.lognormal(0, 0.1)
            rows.append(rng.negative_binomial(20, 20 / (20 + mu / mu.sum() * depth)))
            obs.append({"condition": lv, "disease": "MASLD" if second else "control",
                        "description": str((2600 if second else 860) + len(obs))})
    counts = np.array(rows, dtype=float)
    a = ad.AnnData(np.log2((counts + 0.5) / counts.sum(1, keepdims=True) * 1e6),
                   obs=pd.DataFrame(obs, index=[f"S{i}" for i in range(len(obs))]),
                   var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))
    a.layers["counts"] = counts
    a.obs["condition"] = pd.Categorical(a.obs["condition"], categories=list(LEVELS))
    return a


def _batch_row(t: pd.DataFrame) -> pd.Series:
    rows = t[t["check"] == "batch_aliased"]
    assert len(rows) == 1, t[["check", "variable"]]
    return rows.iloc[0]


def test_an_aliased_batch_that_dominates_disqualifies_the_contrast():
    a = series_cohort(batch_effect=True)
    t = design_check(a, groupby="disease", group="MASLD", reference="control")
    row = _batch_row(t)
    assert row["flagged"] and "sample-id series (description)" in row["variable"]
    m = re.search(r"([\d,]+) of ([\d,]+) expressed genes \((\d+)%\) differ across the boundary", row["caveat"])
    assert m and int(m.group(3)) >= 25  # 40% of the genes carry the batch shift
    # inside each series only the 10 biology genes can differ
    within = dict(re.findall(r"(NASH vs NAFL|obese vs healthy) (\d+) \(", row["caveat"]))
    assert set(within) == {"NASH vs NAFL", "obese vs healthy"} and all(int(v) <= 15 for v in within.values())
    assert "does not vote" in row["caveat"] and row["statistic"] >= 10
    assert row["risk_of_bias"].startswith("confounding by a batch that dominates")
    # the same holds for a single stage against the controls; contrasts inside one series stay
    assert _batch_row(design_check(a, groupby="condition", group="NASH", reference="healthy"))["flagged"]
    inside = design_check(a, groupby="condition", group="NASH", reference="NAFL")
    assert "batch_aliased" not in set(inside["check"])


def test_an_aliased_batch_without_a_batch_effect_is_reported_not_disqualifying():
    a = series_cohort(batch_effect=False)
    t = design_check(a, groupby="disease", group="MASLD", reference="control")
    row = _batch_row(t)
    assert not row["flagged"] and row["caveat"] == "" and row["risk_of_bias"] == ""
    assert "expressed genes" in row["effect"]  # the numbers are there to read
    ids = t[t["variable"] == "description (number ranges)"].iloc[0]
    assert ids["flagged"] and ids["risk_of_bias"].startswith("confounding")  # the aliasing stays a risk of bias
    # batch_strength_check=False: no DE is run
    t2 = design_check(a, groupby="disease", group="MASLD", reference="control", batch_strength_check=False)
    assert "batch_aliased" not in set(t2["check"])


def test_libraries_far_below_their_groups_depth_are_flagged():
    a = series_cohort(batch_effect=False, seed=3)
    c = a.layers["counts"]
    nash = np.flatnonzero(a.obs["condition"] == "NASH")
    c[nash[0]] = np.round(c[nash[0]] / 8)  # 1/8 of the depth: flagged
    c[nash[1]] = np.round(c[nash[1]] / 3)  # 1/3: within what a cohort shows
    t = design_check(a, groupby="condition", group="NASH", reference="NAFL")
    row = t[t["check"] == "library_outlier"].iloc[0]
    assert row["flagged"] and row["statistic"] == 1
    assert a.obs_names[nash[0]] in row["caveat"] and a.obs_names[nash[1]] not in row["caveat"]
    assert row["risk_of_bias"] == ""  # a caveat about one library, not a confound
    # the second series is sequenced at half the depth: no library of it is an outlier of the cohort
    t = design_check(a, groupby="condition", group="obese", reference="healthy")
    assert not t.loc[t["check"] == "library_outlier", "flagged"].iloc[0]


def test_a_moderate_age_imbalance_is_flagged_and_adjustment_clears_its_risk_of_bias():
    rng = np.random.default_rng(4)
    a = series_cohort(batch_effect=False, n=40, seed=4)
    a = a[a.obs["condition"].isin(["NAFL", "NASH"])].copy()
    nash = (a.obs["condition"] == "NASH").to_numpy()
    from scipy import stats

    spread = 16 * stats.norm.ppf((np.arange(40) + 0.5) / 40)  # the same age spread in both groups
    a.obs["age"] = 0.0
    a.obs.loc[nash, "age"] = 62 + spread
    a.obs.loc[~nash, "age"] = 50 + spread  # medians 62 vs 50: AUC about 0.70, as GSE167523
    a.obs["gender"] = np.where(nash, rng.choice(["F", "M"], a.n_obs, p=[0.55, 0.45]),
                               rng.choice(["F", "M"], a.n_obs, p=[0.15, 0.85]))
    t = design_check(a, groupby="condition", group="NASH", reference="NAFL")
    age = t[t["check"] == "age"].iloc[0]
    m = re.search(r"AUC (\d\.\d\d)", age["effect"])
    assert 0.65 <= float(m.group(1)) < 0.75  # below the |AUC - 0.5| >= 0.25 rule of the other checks
    assert age["flagged"] and age["risk_of_bias"].startswith("age imbalance left unadjusted")
    assert t.loc[t["check"] == "sex_recorded", "flagged"].iloc[0]
    assert covariates_to_adjust(t) == ["sex", "age"]
    done = mark_adjusted(t, ["sex", "age"])
    for chk in ("sex_recorded", "age"):
        r = done[done["check"] == chk].iloc[0]
        assert r["flagged"] and r["risk_of_bias"] == "" and "adjusted for in the primary estimates" in r["caveat"]
    # no imbalance: not flagged
    a.obs["age"] = rng.normal(55, 13, a.n_obs)
    t = design_check(a, groupby="condition", group="NASH", reference="NAFL", key_added="b")
    assert not t.loc[t["check"] == "age", "flagged"].iloc[0]


def test_pairing_declared_by_sample_order_is_a_risk_of_bias():
    from test_design import paired_cohort

    a = paired_cohort(n_pairs=12)
    a.uns["labels"] = {"pairing": "gsm_offset: k-th normal GSM pairs with k-th tumour GSM; declared"}
    t = design_check(a, groupby="condition", group="tumour", reference="normal", paired_by="pair_id")
    dec = t[t["check"] == "pairing_declared"].iloc[0]
    assert dec["flagged"] and "sample order" in dec["caveat"] and "P3" in dec["caveat"]
    assert dec["risk_of_bias"].startswith("pairing declared, not recorded")
    a.uns["labels"] = {"pairing": "column: patient id recorded in the sample sheet"}
    t = design_check(a, groupby="condition", group="tumour", reference="normal", paired_by="pair_id")
    dec = t[t["check"] == "pairing_declared"].iloc[0]
    assert not dec["flagged"] and dec["risk_of_bias"] == ""
    assert set(t.loc[t["risk_of_bias"] != "", "check"]) <= set(RISK_CHECKS)


# ---------------------------------------------------------------------------------------
# real cohorts
# ---------------------------------------------------------------------------------------


@pytest.mark.network
def test_gse126848_masld_vs_control_is_dominated_by_its_series(mirror_server, session_cache, shared_dir):
    a = real_cohorts.load("GSE126848", mirror_server, session_cache, shared_dir)
    mg.tl.composition(a)
    t = design_check(a, groupby="disease", group="MASLD", reference="control")
    row = _batch_row(t)
    print(row["caveat"])
    m = re.search(r"([\d,]+) of ([\d,]+) expressed genes \((\d+)%\) differ across the boundary", row["caveat"])
    n_de, n_genes = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
    assert n_genes > 12_000 and n_de / n_genes > 0.45  # measured: 7,563 of 13,173 (57%)
    within = dict(re.findall(r"(NASH vs NAFL|obese vs healthy) (\d+) \(", row["caveat"]))
    assert int(within["NASH vs NAFL"]) < 50 and int(within["obese vs healthy"]) < 200  # measured: 0 and 93
    # LSEC and Kupffer marker scores fall only at the boundary (measured g -2.7 and -3.5)
    jumps = dict(re.findall(r"(sinusoidal_endothelial|kupffer_macrophage) g ([-+]\d\.\d)", row["caveat"]))
    assert float(jumps["sinusoidal_endothelial"]) < -2 and float(jumps["kupffer_macrophage"]) < -2
    assert row["flagged"]


@pytest.mark.network
def test_gse167523_sex_and_age_imbalance_are_caught(mirror_server, session_cache, shared_dir):
    a = real_cohorts.load("GSE167523", mirror_server, session_cache, shared_dir)
    t = design_check(a, groupby="condition", group="NASH", reference="NAFL")
    age = t[t["check"] == "age"].iloc[0]
    assert age["flagged"] and age["pval"] < 1e-3 and "62.00 (NASH) vs 50.00 (NAFL)" in age["effect"]
    sex = t[t["check"] == "sex_recorded"].iloc[0]
    assert sex["flagged"] and "female 26/47" in sex["effect"] and "female 8/51" in sex["effect"]
    assert covariates_to_adjust(t) == ["sex", "age"]
    assert not t.loc[t["check"] == "library_outlier", "flagged"].iloc[0]

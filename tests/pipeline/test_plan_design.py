"""From the design audit to the evidence: a batch-aliased contrast that dominates does not vote,
an imbalanced covariate is adjusted for in the primary estimate (unadjusted beside), adjusted
imbalances are no longer a risk of bias, paired effects vote on g_av, and per-cell evidence
counts donors. Synthetic data where the right answer is known."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from mgtranscript.claims import EFFECT_COLUMNS, build_evidence, evaluate_claims, judge, load_claims
from mgtranscript.claims import compare_effects
from mgtranscript.claims._evidence import ALIASED_ROLE
from mgtranscript.pipeline import AnalysisResult

Z95 = 1.959963984540054
MASLD = "disease:MASLD|control"


def _eff(cohort, contrast, feature, est, p, *, scenario="primary", n=40, area="MASLD"):
    se = 2.0 / np.sqrt(n)
    return {"cohort": cohort, "disease_area": area, "scenario": scenario, "analysis": "compare",
            "contrast": contrast, "feature": feature, "effect_kind": "hedges_g", "estimate": est,
            "ci_low": est - Z95 * se, "ci_high": est + Z95 * se, "se": se, "pval": p, "qval": p, "n": n,
            "test": "t", "design": "unpaired", "level": "", "note": ""}


def _design(cohort, contrast, check, caveat, *, risk=""):
    return {"cohort": cohort, "contrast": contrast, "check": check, "variable": "", "test": "", "statistic": 1.0,
            "effect": caveat, "pval": np.nan, "n": 10, "flagged": True, "caveat": caveat, "risk_of_bias": risk}


ALIASED = ("the groups are completely aliased with sample-id series (description) (MASLD (2683–4010) vs control "
           "(869–910)), and the batch dominates the biology: 7,563 of 13,173 expressed genes (57%) differ across "
           "the boundary vs NASH vs NAFL 0 (0.0%); obese vs healthy 93 (0.7%) inside a batch; this contrast "
           "cannot be read as disease biology and does not vote")


def test_a_dominating_batch_takes_the_contrast_out_of_every_vote():
    rows = [_eff("A", MASLD, "CNNM4", -1.2, 1e-6), _eff("A", MASLD, "CNNM4", -1.1, 1e-5, scenario="DE: voom"),
            _eff("A", "condition:NASH|NAFL", "CNNM4", 0.1, 0.7)]
    eff = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    design = pd.DataFrame([_design("A", MASLD, "batch_aliased", ALIASED, risk="confounding by a batch: ...")])
    ev = build_evidence(eff, claims=load_claims(), design=design)
    r3 = ev[ev["claim_id"] == "R3-MASLD"]
    assert len(r3) == 2 and not r3["included"].any() and (r3["role"] == ALIASED_ROLE).all()
    assert r3["why"].str.contains("7,563 of 13,173 expressed genes").all()
    # a contrast inside one series stays
    assert ev.loc[ev["claim_id"] == "L1-PROG", "included"].all()
    v = evaluate_claims(eff, design=design).set_index("claim_id")
    assert v.loc["R3-MASLD", "verdict"] == "inconclusive" and v.loc["R3-MASLD", "certainty"] == "very low"
    assert "(57%)" in v.loc["R3-MASLD", "reason"] and np.isnan(v.loc["R3-MASLD", "effect"])
    assert v.loc["R3-MASLD", "robustness"] == "no alternative analysis applies"  # no dissent from the excluded rows
    # without the audit's verdict on the batch, the same estimate is "contradicted"
    assert evaluate_claims(eff).set_index("claim_id").loc["R3-MASLD", "verdict"] == "contradicted"
    # other evidence decides: an unaliased cohort votes alone, the aliased one is named as not used
    eff2 = pd.concat([eff, pd.DataFrame([_eff("B", MASLD, "CNNM4", 0.9, 1e-4, n=80)])], ignore_index=True)
    v2 = evaluate_claims(eff2, design=design).set_index("claim_id")
    assert v2.loc["R3-MASLD", "verdict"] == "supported" and v2.loc["R3-MASLD", "cohorts"] == "B"
    assert "Not used: A: the groups are completely aliased" in v2.loc["R3-MASLD", "reason"]


def test_an_adjusted_imbalance_is_no_risk_of_bias_an_unadjusted_one_is():
    sex = "recorded sex (gender) is unevenly distributed between groups"
    design = pd.DataFrame([_design("C", "condition:NASH|NAFL", "sex_recorded", sex,
                                   risk="sex imbalance left unadjusted: " + sex)])
    plain = _eff("C", "condition:NASH|NAFL", "CNNM4", 0.8, 1e-5, n=98)
    adjusted = dict(plain, test="Hedges' g adjusted for sex, age (OLS, standardised by the unadjusted SD)")
    a = evaluate_claims(pd.DataFrame([adjusted], columns=EFFECT_COLUMNS), design=design).set_index("claim_id")
    u = evaluate_claims(pd.DataFrame([plain], columns=EFFECT_COLUMNS), design=design).set_index("claim_id")
    a, u = a.loc["L1-PROG"], u.loc["L1-PROG"]
    assert "risk of bias" not in a["certainty_reasons"] and "adjusted for sex" in a["caveats"]
    assert "-1 risk of bias: sex imbalance not adjusted for" in u["certainty_reasons"]
    levels = ["high", "moderate", "low", "very low"]
    assert levels.index(u["certainty"]) >= levels.index(a["certainty"])


def _imbalanced_cohort(seed=0, n=60):
    """NASH vs NAFL, no true difference in gene G; G is 1.5 SD higher in women; 60% of NASH and 15%
    of NAFL are women (as GSE167523: 26/47 vs 8/51)."""
    rng = np.random.default_rng(seed)
    cond = np.repeat(["NASH", "NAFL"], n)
    female = np.r_[rng.random(n) < 0.6, rng.random(n) < 0.15]
    g = rng.normal(size=2 * n) + 1.5 * female
    obs = pd.DataFrame({"condition": pd.Categorical(cond, categories=["NAFL", "NASH"]),
                        "gender": np.where(female, "F", "M")}, index=[f"s{i}" for i in range(2 * n)])
    return ad.AnnData(np.c_[g, rng.normal(size=2 * n)], obs=obs, var=pd.DataFrame(index=["G", "OTHER"]))


def test_an_imbalanced_covariate_is_adjusted_for_in_the_primary_estimate():
    from mgtranscript.pipeline._contrasts import compare_table as _compare
    from mgtranscript.pipeline._design import UNADJUSTED, audit_contrasts, covariate_words

    a = _imbalanced_cohort()
    k = {"groupby": "condition", "group": "NASH", "reference": "NAFL", "paired_by": None,
         "tag": "condition:NASH|NAFL"}
    res = AnalysisResult()
    covs = audit_contrasts(a, "SYN", [k], res)
    assert covs == {k["tag"]: ["covariate_sex"]}
    d = res.design.set_index("check")
    assert d.loc["sex_recorded", "flagged"] and d.loc["sex_recorded", "risk_of_bias"] == ""
    base = dict(groupby="condition", reference="NAFL", groups=["NASH"])
    prim = compare_effects(_compare(a, genes=["G"], covariates=covs[k["tag"]], **base), cohort="SYN", area="MASLD",
                           covariates=covariate_words(covs[k["tag"]]))[0]
    unadj = compare_effects(_compare(a, genes=["G"], **base), cohort="SYN", area="MASLD", scenario=UNADJUSTED)[0]
    assert unadj["estimate"] > 0.4 and unadj["pval"] < 0.01  # the imbalance creates an effect
    assert prim["ci_low"] < 0 < prim["ci_high"] and prim["pval"] > 0.05  # adjusted: gone
    assert prim["effect_kind"] == "hedges_g" and prim["test"].startswith("Hedges' g adjusted for sex")
    assert prim["note"].startswith(f"unadjusted g {unadj['estimate']:+.2f}")


def test_paired_effects_vote_on_g_av_with_g_z_named_beside():
    from mgtranscript import get
    from mgtranscript.tl import compare

    rng = np.random.default_rng(2)
    n = 40
    normal, tumour = rng.multivariate_normal([0, 0.6], [[1, 0.8], [0.8, 1]], size=n).T
    obs = pd.DataFrame({"condition": ["hcc_nontumour"] * n + ["hcc_tumour"] * n,
                        "pair_id": [f"P{i}" for i in range(n)] * 2}, index=[f"s{i}" for i in range(2 * n)])
    a = ad.AnnData(np.r_[normal, tumour][:, None], obs=obs, var=pd.DataFrame(index=["SLC41A1"]))
    compare(a, groupby="condition", reference="hcc_nontumour", genes="SLC41A1", paired_by="pair_id")
    t = get.compare(a)
    row = compare_effects(t, cohort="P", area="HCC")[0]
    assert row["effect_kind"] == "hedges_g" and row["estimate"] == t["g_av"].iloc[0]
    assert f"g_z {t['hedges_g'].iloc[0]:+.2f}" in row["test"] and t["hedges_g"].iloc[0] > row["estimate"]


def test_cell_evidence_without_donors_says_so_and_is_a_risk_of_bias():
    from mgtranscript.pipeline._cells import cell_effects

    rng = np.random.default_rng(0)
    types = np.repeat(["CD56+ NK", "CD8+ cytotoxic T"], 200)
    z = rng.normal(size=types.size)
    X = np.c_[z + rng.normal(size=types.size), 0.6 * z + rng.normal(size=types.size)]
    cells = ad.AnnData(X, obs=pd.DataFrame({"cell_type": types}, index=[f"c{i}" for i in range(types.size)]),
                       var=pd.DataFrame(index=["MAGT1", "KLRK1"]))
    res = AnalysisResult()
    eff = pd.DataFrame(cell_effects({"one_sample": cells}, load_claims(), result=res), columns=EFFECT_COLUMNS)
    row = eff[eff["level"] == "combined"].iloc[0]
    assert "donors unknown" in row["design"] and row["n"] == 400
    d = res.design.iloc[0]
    assert d["check"] == "donors" and d["flagged"] and d["risk_of_bias"].startswith("donors unknown")
    ev = judge(build_evidence(eff), design=res.design).evidence
    used = ev[(ev["claim_id"] == "L6") & ev["included"]]
    assert len(used) == 1 and "donors unknown" in used["design"].iloc[0]  # the reason travels with the row
    # with a donor column the unit is the donor
    cells.obs["donor"] = np.tile([f"D{i}" for i in range(5)], 80)
    res = AnalysisResult()
    eff = pd.DataFrame(cell_effects({"five_donors": cells}, load_claims(), result=res), columns=EFFECT_COLUMNS)
    row = eff[eff["level"] == "combined"].iloc[0]
    assert row["n"] == 5 and row["design"] == "cells: within cell type and donor; donors as the unit"
    assert not res.design.iloc[0]["flagged"] and "5 donors" in res.design.iloc[0]["effect"]


def test_run_refuses_a_donor_key_the_cells_do_not_have_before_any_work(tmp_path, capsys):
    from mgtranscript.cli import main

    rng = np.random.default_rng(1)
    cells = ad.AnnData(rng.normal(size=(30, 2)), var=pd.DataFrame(index=["MAGT1", "KLRK1"]),
                       obs=pd.DataFrame({"cell_type": ["CD56+ NK"] * 30, "donor_id": ["D1"] * 30},
                                        index=[f"c{i}" for i in range(30)]))
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--cohorts", "GSE126848", "--cells", f"liver={path}",
                 "--donor-key", "patient_id", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "donor_key 'patient_id' is not an obs column of cells 'liver'" in err and "donor_id" in err
    assert not out.exists()

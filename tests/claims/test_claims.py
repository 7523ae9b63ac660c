"""Claims table and verdict rules (synthetic effects where the right answer is known)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgtranscript.claims import (
    CERTAINTY_LEVELS,
    EFFECT_COLUMNS,
    VERDICT_COLUMNS,
    build_evidence,
    evaluate_claims,
    judge,
    load_claims,
)
from mgtranscript.claims._grading import RISK_OF_BIAS, optimal_information_size
from mgtranscript.errors import DataFormatError
from mgtranscript.genesets import MECHANISMS

from support.claims_readback import check_sentences
from support.paths import DATA


Z95 = 1.959963984540054


def test_seed_claims_are_well_formed():
    claims = load_claims()
    assert len(claims) >= 40
    assert claims["claim_id"].is_unique
    assert set(claims["expected_direction"]) <= {"up", "down", "positive", "negative", "poor prognosis", "not down"}
    assert set(claims["scope"]) == {"tissue", "cell"}
    # every liver-specific finding L1..L12 and the review's R1..R3 are represented
    assert {f"L{i}" for i in range(1, 13)} <= set(claims["source_claim"])
    assert {"R1", "R2", "R3"} <= set(claims["source_claim"])
    c = claims.set_index("claim_id")
    # the cell-intrinsic MAGT1 -> NKG2D mechanism is a cell claim; L10's direction matches its statement
    assert c.loc["L6", "scope"] == "cell"
    assert c.loc["L10", "expected_direction"] == "not down" and "not" in c.loc["L10", "statement"]
    # L9's grade clause is its own claim, so "raised in HCC" cannot be supported by the untested part
    assert c.loc["L9-GRADE", "contrast"] == "trend:tumor_grade"
    assert "differentiated" not in c.loc["L9", "statement"]


def test_every_claim_says_where_it_comes_from():
    c = load_claims().set_index("claim_id")
    assert set(c["source"]) == {"review", "cited study", "project proxy", "project hypothesis"}
    # the project's operationalisations are not presented as the review's statements ...
    assert c.loc["R1-MASLD", "source"] == c.loc["R2-INFLAM-MASLD", "source"] == "project proxy"
    assert c.loc["R3-MASLD", "source"] == c.loc["L10", "source"] == c.loc["L1-PROG", "source"] == "project hypothesis"
    assert c.loc["L7", "source"] == "cited study"
    # ... and each names the statement it stands for (paraphrased and cited, not copied)
    proxies = c[c["source"].isin(("project proxy", "project hypothesis"))]
    assert (proxies["review_statement"].str.len() > 40).all()
    assert proxies["review_statement"].str.contains(r"Ji et al\. 2026|cited by the review").all()
    assert (c.loc[~c["source"].isin(("project proxy", "project hypothesis")), "review_statement"] == "").all()
    # the review's gut-liver axis and its interventional statements have rows, which no transcriptome tests
    assert c.loc["R2-GUTLIVER", "source"] == "review" and c.loc["R2-GUTLIVER", "feature_kind"] == "gut_liver"
    assert {"R3-CNNM4-INHIBITION", "R4-SUPPLEMENTATION"} <= set(c.index[c["feature_kind"] == "intervention"])
    v = evaluate_claims().set_index("claim_id")
    for cid in ("R2-GUTLIVER", "R3-CNNM4-INHIBITION", "R4-SUPPLEMENTATION"):
        assert v.loc[cid, "verdict"] == "not testable"
    assert "experiment or a trial" in v.loc["R4-SUPPLEMENTATION", "reason"]
    assert "microbiome" in v.loc["R2-GUTLIVER", "reason"]
    assert v.loc["R1-MASLD", "source"] == "project proxy"  # the source flows into tables/claims.tsv


def test_mechanism_claims_per_disease_area_with_their_gene_sets():
    c = load_claims()
    r2 = c[c["feature_kind"] == "coupling"].set_index("claim_id")
    assert set(r2["disease"]) == {"MASLD", "HCC"}  # never "any": one verdict per area
    for mech in MECHANISMS:
        areas = set(r2.loc[r2["features"].str.contains(f"~{mech} ", regex=False), "disease"])
        assert areas == ({"HCC"} if mech == "antitumour_immunity" else {"MASLD", "HCC"}), mech
    assert r2.loc["R2-IMMUNITY-HCC", "disease"] == "HCC"
    # each claim lists the gene sets it is scored on, exactly the mechanism's
    for f in r2["features"]:
        mech, sets = f.split("~")[1].split(" (")
        assert sets.rstrip(")").split(", ") == list(MECHANISMS[mech]), f
    assert "XENOBIOTIC" not in r2.loc["R2-OXSTRESS-MASLD", "features"]
    assert r2.loc["R2-OXSTRESS-MASLD", "features"].endswith("(HALLMARK_REACTIVE_OXYGEN_SPECIES_PATHWAY)")
    # a MASLD cohort never votes on an HCC mechanism claim, nor the reverse
    feat = "MG_EFFLUX_EXCHANGE~MECH_ANTITUMOUR_IMMUNITY"
    rows = [_eff("M", "coupling", feat, -0.6, 1e-6, kind="spearman_rho", analysis="coupling", design="within:condition",
                 level="combined", n=80, se=1 / np.sqrt(77))]
    v = _verdicts(rows)
    assert v.loc["R2-IMMUNITY-HCC", "verdict"] == "not testable"
    bad = c.copy()
    bad.loc[bad["claim_id"] == "R2-OXSTRESS-MASLD", "features"] = (
        "MG_EFFLUX_EXCHANGE~oxidative_stress "
        "(HALLMARK_REACTIVE_OXYGEN_SPECIES_PATHWAY, HALLMARK_XENOBIOTIC_METABOLISM)")
    with pytest.raises(DataFormatError, match="oxidative_stress mechanism is scored on"):
        build_evidence(pd.DataFrame(rows, columns=EFFECT_COLUMNS), claims=bad)


def test_duplicated_claim_ids_and_unknown_scope_are_refused(tmp_path):
    df = load_claims()
    p = tmp_path / "c.tsv"
    pd.concat([df, df.iloc[[0]]]).to_csv(p, sep="\t", index=False)
    with pytest.raises(DataFormatError, match="repeated"):
        load_claims(p)
    bad = df.copy()
    bad.loc[0, "scope"] = "organ"
    bad.to_csv(p, sep="\t", index=False)
    with pytest.raises(DataFormatError, match="scope"):
        load_claims(p)


def _eff(cohort, contrast, feature, est, p, *, area="MASLD", kind="hedges_g", n=40, scenario="primary",
         analysis="compare", design="unpaired", level="", se=None):
    se = se if se is not None else 2.0 / np.sqrt(n)
    if kind in ("spearman_rho", "pearson_r"):
        z = np.arctanh(est)
        lo, hi = np.tanh(z - Z95 * se), np.tanh(z + Z95 * se)
    else:
        lo, hi = est - Z95 * se, est + Z95 * se
    return {"cohort": cohort, "disease_area": area, "scenario": scenario, "analysis": analysis,
            "contrast": contrast, "feature": feature, "effect_kind": kind, "estimate": est, "ci_low": lo,
            "ci_high": hi, "se": se, "pval": p, "qval": p, "n": n, "test": "t", "design": design,
            "level": level, "note": ""}


def _verdicts(rows, **kw):
    eff = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    return evaluate_claims(eff, **kw).set_index("claim_id")


def test_every_claim_gets_exactly_one_verdict_even_without_data():
    v = evaluate_claims()
    assert list(v.columns) == VERDICT_COLUMNS
    assert len(v) == len(load_claims())
    assert set(v["verdict"]) == {"not testable"}
    assert (v["reason"].str.len() > 0).all()
    assert v["caveats"].str.contains("transcript levels only").all()
    # nothing to grade: not-testable claims have no certainty (and no reasons for one)
    assert set(v["certainty"]) == {""} and set(v["certainty_reasons"]) == {""}


def test_single_cohort_verdicts_follow_direction_and_say_single_cohort():
    v = _verdicts([
        _eff("GSE1", "condition:NASH|healthy", "CNNM4", 1.2, 1e-4),                    # L1 up: supported
        _eff("GSE2", "condition:hcc_tumour|hcc_nontumour", "TRPM7", -0.9, 1e-3, area="HCC"),  # L5: contradicted
        _eff("GSE2", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 0.3, 0.4, area="HCC"),  # L7: inconclusive
    ])
    assert v.loc["L1", "verdict"] == "supported"
    assert v.loc["L1", "effect"] == pytest.approx(1.2)
    assert v.loc["L1", "cohorts"] == "GSE1" and v.loc["L1", "n_cohorts"] == 1
    assert "single cohort" in v.loc["L1", "caveats"]
    assert v.loc["L5", "verdict"] == "contradicted"
    assert v.loc["L7", "verdict"] == "inconclusive"
    assert v.loc["L11", "verdict"] == "not testable" and "serum" in v.loc["L11", "reason"]
    # the verdict reports the p of the effect it voted on (not of another test)
    assert v.loc["L1", "pval"] == pytest.approx(1e-4)
    assert v.loc["L1", "ci_low"] < 1.2 < v.loc["L1", "ci_high"]


def test_claims_use_only_cohorts_of_their_disease_area():
    # an HCC claim must not be decided by a MASLD cohort's tumour-like contrast or correlation
    v = _verdicts([_eff("GSE1", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 1.0, 1e-6, area="MASLD")])
    assert v.loc["L7", "verdict"] == "not testable"


def test_two_cohorts_are_pooled_and_a_significantly_opposite_cohort_makes_it_inconclusive():
    agree = _verdicts([_eff("A", "condition:NASH|NAFL", "CNNM4", 0.62, 1e-5, n=300, se=0.12),
                       _eff("B", "condition:NASH|NAFL", "CNNM4", 0.60, 1e-5, n=300, se=0.12)])
    assert agree.loc["L1-PROG", "verdict"] == "supported"
    assert agree.loc["L1-PROG", "n_cohorts"] == 2 and "pool of 2 cohorts" in agree.loc["L1-PROG", "reason"]
    # two clean cohorts that agree start at moderate; L1-PROG is a project hypothesis (indirectness)
    assert agree.loc["L1-PROG", "certainty_reasons"].startswith("start moderate: 2 independent cohorts (A, B)")
    assert agree.loc["L1-PROG", "certainty"] == "low"
    split = _verdicts([_eff("A", "condition:NASH|NAFL", "CNNM4", 1.5, 1e-8, n=200),
                       _eff("B", "condition:NASH|NAFL", "CNNM4", -0.6, 1e-2, n=60)])
    assert split.loc["L1-PROG", "verdict"] in ("inconclusive",)
    assert "inconsistency" in split.loc["L1-PROG", "reason"]


def test_two_cohort_pool_has_the_hartung_knapp_interval_of_metafor():
    """tests/data/meta (metafor rma(method="REML", test="knha")): the two per-cohort g of CNNM4,
    NASH vs NAFL, pool to +0.322 [-1.913, +2.557], p 0.318 (a Wald interval would be [-0.03, +0.67])."""
    ref = pd.read_csv(DATA / "meta" / "reference.tsv", sep="\t")
    ref = ref[(ref["case"] == "two_agree") & (ref["method"] == "REML") & (ref["test"] == "knha")].iloc[0]
    v = _verdicts([_eff("GSE126848", "condition:NASH|NAFL", "CNNM4", 0.01253109134, 0.97, n=31, se=0.3594011678),
                   _eff("GSE167523", "condition:NASH|NAFL", "CNNM4", 0.4218124898, 0.035, n=98, se=0.204431464)])
    r = v.loc["L1-PROG"]
    assert (r["effect"], r["ci_low"], r["ci_high"]) == (pytest.approx(ref.estimate, abs=1e-9),
                                                        pytest.approx(ref.ci_low, abs=1e-8),
                                                        pytest.approx(ref.ci_high, abs=1e-8))
    assert r["pval"] == pytest.approx(ref.pval, rel=1e-6)
    assert r["verdict"] == "inconclusive" and "Hartung-Knapp, 1 df" in r["reason"]
    assert "-1 imprecision: the 95% CI includes no effect" in r["certainty_reasons"]


def test_cohorts_that_disagree_make_the_verdict_inconclusive_naming_both_estimates():
    # R1-PROG on the mirror: -0.66 vs +0.29, Q p 0.024; the pool would be "not significant" - the real
    # reason is that the cohorts disagree
    v = _verdicts([_eff("GSE126848", "condition:NASH|NAFL", "MG_EFFLUX_EXCHANGE", -0.664137, 0.066, n=31, se=0.369162),
                   _eff("GSE167523", "condition:NASH|NAFL", "MG_EFFLUX_EXCHANGE", 0.289836, 0.15, n=98, se=0.203256)])
    r = v.loc["R1-PROG"]
    assert r["verdict"] == "inconclusive"
    assert r["reason"].startswith("Cohorts disagree (heterogeneity Q p 0.024, I² 80%): "
                                  "GSE126848 g -0.66 [-1.39, +0.06] vs GSE167523 g +0.29 [-0.11, +0.69]")
    assert "-1 inconsistency: Q p 0.024, I² 80%, estimates of opposite sign" in r["certainty_reasons"]
    # even a significant pool is inconclusive when its cohorts disagree
    v = _verdicts([_eff("A", "condition:NASH|NAFL", "MG_EFFLUX_EXCHANGE", 2.0, 1e-9, n=200, se=0.15),
                   _eff("B", "condition:NASH|NAFL", "MG_EFFLUX_EXCHANGE", 0.9, 1e-4, n=200, se=0.15),
                   _eff("C", "condition:NASH|NAFL", "MG_EFFLUX_EXCHANGE", 1.4, 1e-6, n=200, se=0.15)])
    r = v.loc["R1-PROG"]
    assert r["pval"] < 0.05 and r["verdict"] == "inconclusive" and "cohorts disagree" in r["reason"].lower()
    assert "95% prediction interval [" in r["reason"]  # k >= 3


def test_design_audit_flags_become_caveats_and_lower_certainty():
    rows = [_eff("GSE126848", "condition:NASH|healthy", "CNNM4", -1.3, 1e-5, n=200)]
    design = pd.DataFrame([{"cohort": "GSE126848", "contrast": "condition:NASH|healthy", "check": "library_size",
                            "flagged": True, "caveat": "groups sequenced in different series; 26 M vs 13 M reads"}])
    plain = _verdicts(rows)
    flagged = _verdicts(rows, design=design)
    assert flagged.loc["L1", "verdict"] == "contradicted"
    assert "different series" in flagged.loc["L1", "caveats"]
    levels = list(CERTAINTY_LEVELS)
    assert levels.index(flagged.loc["L1", "certainty"]) == levels.index(plain.loc["L1", "certainty"]) + 1
    assert "risk of bias" in flagged.loc["L1", "reason"]


def test_coupling_claims_vote_within_groups_not_on_the_pooled_correlation():
    # Simpson's paradox: pooled across groups positive, within each group negative
    feat = "MG_EFFLUX_EXCHANGE~MECH_INFLAMMATION"
    rows = [
        _eff("A", "coupling", feat, 0.45, 1e-4, kind="spearman_rho", analysis="coupling", design="pooled",
             level="combined", n=60, se=1 / np.sqrt(57)),
        _eff("A", "coupling", feat, -0.40, 1e-3, kind="spearman_rho", analysis="coupling",
             design="within:condition", level="combined", n=60, se=1 / np.sqrt(54)),
    ]
    v = _verdicts(rows)
    assert v.loc["R2-INFLAM-MASLD", "verdict"] == "contradicted"
    assert v.loc["R2-INFLAM-MASLD", "effect"] == pytest.approx(-0.40)
    ev = build_evidence(pd.DataFrame(rows, columns=EFFECT_COLUMNS))
    pooled = ev[(ev.claim_id == "R2-INFLAM-MASLD") & (ev.role.str.startswith("pooled"))]
    assert len(pooled) == 1 and not pooled["included"].any()


def test_cell_claim_is_not_testable_on_bulk_and_testable_with_cells():
    bulk = _eff("GSE2", "correlation", "MAGT1~KLRK1", 0.5, 1e-6, area="HCC", kind="spearman_rho",
                analysis="correlation", design="within:condition", level="combined", n=100, se=0.1)
    v = _verdicts([bulk])
    assert v.loc["L6", "verdict"] == "not testable"
    assert "cell type" in v.loc["L6", "reason"] and "bulk" in v.loc["L6", "reason"]
    cells = dict(bulk, cohort="cells", design="cells:cell_type")
    v = _verdicts([bulk, cells])
    assert v.loc["L6", "verdict"] == "supported" and v.loc["L6", "cohorts"] == "cells"


def test_robustness_names_dissenting_alternatives():
    rows = [_eff("A", "condition:NASH|healthy", "CNNM4", 1.0, 1e-5),
            _eff("A", "condition:NASH|healthy", "CNNM4", 0.9, 1e-4, scenario="normalisation: RLE"),
            _eff("A", "condition:NASH|healthy", "CNNM4", 0.1, 0.6, scenario="DE: voom", kind="log2fc")]
    eff = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    j = judge(build_evidence(eff))
    v = j.verdicts.set_index("claim_id")
    assert v.loc["L1", "robustness"].startswith("1/2 alternatives agree")
    assert "DE: voom (inconclusive)" in v.loc["L1", "robustness"]
    assert set(j.sensitivity["alternative"]) == {"normalisation: RLE", "DE: voom"}
    assert set(j.evidence.loc[j.evidence.scenario != "primary", "role"]) == {"sensitivity"}


def test_not_down_claim_uses_a_non_inferiority_margin():
    up = _verdicts([_eff("A", "disease:MASLD|control", "MRS2", 0.4, 0.02, n=100, se=0.1)])
    assert up.loc["L10", "verdict"] == "supported"
    flat = _verdicts([_eff("A", "disease:MASLD|control", "MRS2", 0.0, 0.9, n=20, se=0.4)])
    assert flat.loc["L10", "verdict"] == "inconclusive"
    down = _verdicts([_eff("A", "disease:MASLD|control", "MRS2", -0.8, 1e-4, n=60, se=0.2)])
    assert down.loc["L10", "verdict"] == "contradicted"


def test_survival_claim_on_hazard_ratio():
    row = _eff("TCGA-LIHC", "survival", "SLC41A3", 1.4, 1e-3, area="HCC", kind="hazard_ratio",
               analysis="survival", n=300, se=0.09)
    row.update(ci_low=np.exp(np.log(1.4) - Z95 * 0.09), ci_high=np.exp(np.log(1.4) + Z95 * 0.09))
    v = _verdicts([row])
    assert v.loc["L8", "verdict"] == "supported"
    assert v.loc["L8", "effect_kind"] == "hazard_ratio"


def test_not_testable_reason_names_unavailable_cohorts():
    cohorts = pd.DataFrame([{"accession": "GSE142530", "disease_area": "ALD", "status": "unavailable",
                             "reason": "not in the mirror", "reason_short": "not in the mirror"}])
    v = evaluate_claims(cohorts=cohorts).set_index("claim_id")
    assert "GSE142530" in v.loc["L3", "reason"] and "ALD" in v.loc["L3", "reason"]


def _cells(seed=0, rho=0.6, n=150):
    """Synthetic per-cell data: MAGT1 and KLRK1 co-vary inside NK and CD8 T cells; B cells are noise."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    types = np.repeat(["CD56+ NK", "CD8+ cytotoxic T", "B cell"], n)
    z = rng.normal(size=types.size)
    magt1 = z + rng.normal(size=types.size)
    klrk1 = np.where(types == "B cell", rng.normal(size=types.size), rho * z + rng.normal(size=types.size))
    X = np.column_stack([magt1, klrk1, rng.normal(size=types.size)])
    return ad.AnnData(X, obs=pd.DataFrame({"cell_type": types}, index=[f"c{i}" for i in range(types.size)]),
                      var=pd.DataFrame(index=["MAGT1", "KLRK1", "ALB"]))


def test_cell_claim_uses_per_cell_data_inside_the_named_cell_types():
    from mgtranscript.pipeline import AnalysisResult
    from mgtranscript.pipeline._cells import cell_effects

    res = AnalysisResult()
    rows = cell_effects({"synthetic_cells": _cells()}, load_claims(), result=res)
    eff = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    used = eff[eff["level"] == "combined"]
    assert len(used) == 1 and used["design"].iloc[0].startswith("cells:")
    assert used["n"].iloc[0] == 300  # NK and CD8 T cells only; the B cells are left out
    v = judge(build_evidence(eff)).verdicts.set_index("claim_id")
    assert v.loc["L6", "verdict"] == "supported" and v.loc["L6", "cohorts"] == "synthetic_cells"
    # no association inside the cells: inconclusive, not supported
    null = pd.DataFrame(cell_effects({"null": _cells(seed=1, rho=0.0)}, load_claims(), result=AnalysisResult()),
                        columns=EFFECT_COLUMNS)
    assert judge(build_evidence(null)).verdicts.set_index("claim_id").loc["L6", "verdict"] == "inconclusive"


# ---------------------------------------------------------------------------------------------- GRADE


def _level(cert: str) -> int:
    return list(CERTAINTY_LEVELS).index(cert)


@pytest.mark.slow
def test_a_single_cohort_is_never_above_low_without_a_dose_response():
    rng = np.random.default_rng(3)
    for _ in range(12):  # clean, large, precise, direct single-cohort evidence at best reaches "low"
        g, n = float(rng.choice([-1, 1]) * rng.uniform(0.3, 2.0)), int(rng.integers(20, 2000))
        v = _verdicts([_eff("A", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", g, 10 ** -rng.uniform(0, 12),
                            area="HCC", n=n, se=float(rng.uniform(0.02, 0.5)))])
        assert v.loc["L7", "certainty"] in ("low", "very low"), (g, n)
        assert v.loc["L7", "certainty_reasons"].startswith("start low: 1 cohort (A)")
    best = _verdicts([_eff("A", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 0.9, 1e-9, area="HCC", n=400,
                           se=0.08)]).loc["L7"]
    assert best["certainty"] == "low" and best["certainty_reasons"] == "start low: 1 cohort (A); = low"


def _stage_rows(trend_rho, trend_p, *, g=-1.0, p=1e-6):
    return [_eff("A", "condition:NASH|healthy", "CNNM4", g, p, n=400, se=0.1),
            _eff("A", "trend:condition", "CNNM4", trend_rho, trend_p, analysis="trend", kind="spearman_rho", n=400,
                 se=1 / np.sqrt(397), design="ordered condition")]


def test_a_dose_response_across_ordered_stages_rates_up_once_and_only_without_bias():
    up = _verdicts(_stage_rows(-0.5, 1e-8)).loc["L1"]
    assert up["verdict"] == "contradicted" and up["certainty"] == "moderate"
    assert "+1 dose-response: CNNM4 falls across ordered condition in A (rho -0.50" in up["certainty_reasons"]
    # a gradient the other way, or not significant, does not rate up
    assert _verdicts(_stage_rows(+0.5, 1e-8)).loc["L1", "certainty"] == "low"
    assert _verdicts(_stage_rows(-0.05, 0.4)).loc["L1", "certainty"] == "low"
    # nor across a confounded boundary: the risk of bias blocks it, and the reasons say so
    design = pd.DataFrame([{"cohort": "A", "contrast": "condition:NASH|healthy", "check": "sample_ids",
                            "flagged": True, "caveat": "groups come from different sample-id series"}])
    blocked = _verdicts(_stage_rows(-0.5, 1e-8), design=design).loc["L1"]
    assert blocked["certainty"] == "very low"
    assert "no +1 for the gradient (CNNM4 falls across ordered condition in A" in blocked["certainty_reasons"]
    assert blocked["certainty_reasons"].endswith("): risk of bias; = very low")


def test_three_clean_cohorts_reach_high_and_every_downgrade_names_its_reason():
    rows = [_eff(c, "condition:hcc_tumour|hcc_nontumour", "SLC41A1", g, 1e-8, area="HCC", n=300, se=0.1)
            for c, g in (("A", 0.80), ("B", 0.85), ("C", 0.75))]
    v = _verdicts(rows).loc["L7"]
    assert v["verdict"] == "supported" and v["certainty"] == "high"
    assert v["certainty_reasons"] == "start high: 3 independent cohorts (A, B, C); = high"
    # risk of bias in one cohort: one level down, the check named in words
    design = pd.DataFrame([{"cohort": "B", "contrast": "condition:hcc_tumour|hcc_nontumour", "check": "norm_factor",
                            "flagged": True, "caveat": "RNA composition differs between groups"}])
    v = _verdicts(rows, design=design).loc["L7"]
    assert v["certainty"] == "moderate"
    assert "-1 risk of bias: RNA composition shifts between groups (TMM factors) (B)" in v["certainty_reasons"]
    # a project proxy is indirect; few samples are imprecise
    small = [dict(r, n=30) for r in rows]
    v = _verdicts(small).loc["L7"]
    ois = optimal_information_size("hedges_g")
    assert ois == 128 and optimal_information_size("hedges_g", paired=True) == 34
    assert optimal_information_size("spearman_rho") == 85
    assert f"-1 imprecision: 90 samples, below the optimal information size of {ois} samples" in v["certainty_reasons"]
    assert v["certainty"] == "moderate"
    proxy = _verdicts([dict(r, feature="MG_EFFLUX_EXCHANGE") for r in rows]).loc["R1-HCC"]
    assert "-1 indirectness: a project proxy, not the review's own statement" in proxy["certainty_reasons"]


# a flagged batch_aliased row (the batch dominates the biology) takes the contrast out of the vote
# altogether (tests/pipeline/test_plan_design.py): it never reaches the certainty of a verdict
@pytest.mark.parametrize("check", sorted(set(RISK_OF_BIAS) - {"batch_aliased"}))
def test_every_risk_of_bias_check_lowers_the_certainty_with_its_words(check):
    rows = [_eff(c, "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 0.8, 1e-8, area="HCC", n=300, se=0.1)
            for c in ("A", "B", "C")]
    design = pd.DataFrame([{"cohort": "A", "contrast": "condition:hcc_tumour|hcc_nontumour", "check": check,
                            "flagged": True, "caveat": f"the {check} flag"}])
    v = _verdicts(rows, design=design).loc["L7"]
    assert v["certainty"] == "moderate"
    assert f"-1 risk of bias: {RISK_OF_BIAS[check][0]} (A)" in v["certainty_reasons"]
    assert f"A: the {check} flag" in v["caveats"]


def test_an_imbalance_the_estimate_is_adjusted_for_is_no_risk_of_bias_and_other_flags_are_caveats():
    rows = [_eff("A", "condition:NASH|NAFL", "CNNM4", 0.8, 1e-8, n=300, se=0.1)]
    rows[0]["test"] = "Hedges' g, Welch t; adjusted for sex"
    design = pd.DataFrame([
        {"cohort": "A", "contrast": "condition:NASH|NAFL", "check": "sex_recorded", "flagged": True,
         "caveat": "recorded sex is unevenly distributed"},
        {"cohort": "A", "contrast": "condition:NASH|NAFL", "check": "sex_mismatch", "flagged": True,
         "caveat": "recorded sex disagrees with XIST in 2 samples"}])
    v = _verdicts(rows, design=design).loc["L1-PROG"]
    assert "risk of bias" not in v["certainty_reasons"]
    assert "recorded sex is unevenly distributed (the estimate is adjusted for sex)" in v["caveats"]
    assert "disagrees with XIST" in v["caveats"]
    rows[0]["test"] = "Hedges' g, Welch t"
    v = _verdicts(rows, design=design).loc["L1-PROG"]
    assert "-1 risk of bias: sex imbalance not adjusted for (A)" in v["certainty_reasons"]


def test_cohorts_of_mixed_disease_areas_are_indirect():
    claims = load_claims()
    claims.loc[claims["claim_id"] == "L6", "scope"] = "tissue"  # a tissue correlation over any disease
    claims.loc[claims["claim_id"] == "L6", "disease"] = "any"
    rows = [_eff(c, "correlation", "MAGT1~KLRK1", 0.5, 1e-6, area=a, kind="spearman_rho", analysis="correlation",
                 design="within:condition", level="combined", n=200, se=1 / np.sqrt(197))
            for c, a in (("M", "MASLD"), ("H", "HCC"))]
    cohorts = pd.DataFrame({"accession": ["M", "H"], "disease_area": ["MASLD", "HCC"], "status": "analysed"})
    v = evaluate_claims(pd.DataFrame(rows, columns=EFFECT_COLUMNS), claims=claims, cohorts=cohorts)
    v = v.set_index("claim_id").loc["L6"]
    assert "-1 indirectness: cohorts of mixed disease areas (HCC, MASLD)" in v["certainty_reasons"]


# ----------------------------------------------------------------------------------- words from numbers


def _r2_rows():
    feat = "MG_EFFLUX_EXCHANGE~MECH_OXIDATIVE_STRESS"
    kw = dict(kind="spearman_rho", analysis="coupling", design="within:condition", level="combined")
    return [_eff("GSE126848", "coupling", feat, 0.63, 5e-4, n=57, se=1 / np.sqrt(50), **kw),
            _eff("GSE167523", "coupling", feat, -0.05, 0.61, n=98, se=1 / np.sqrt(94), **kw)]


def test_sentences_are_written_from_the_evidence_they_describe():
    j = judge(build_evidence(pd.DataFrame(_r2_rows(), columns=EFFECT_COLUMNS)))
    r = j.verdicts.set_index("claim_id").loc["R2-OXSTRESS-MASLD"]
    # the old "no cohort is significant on its own" was false here
    assert "no cohort is significant" not in r["reason"]
    assert ("Per cohort: GSE126848 rho +0.63, q 0.0005 (run family): significant (positive); "
            "GSE167523 rho -0.05, q 0.61 (run family): not significant") in r["reason"]
    assert check_sentences(j.verdicts, j.evidence) >= 2
    # the read-back catches a sentence that does not match its numbers
    bad = j.verdicts.copy()
    bad["reason"] = bad["reason"].str.replace("q 0.0005 (run family): significant (positive)",
                                              "q 0.0005 (run family): not significant", regex=False)
    with pytest.raises(AssertionError):
        check_sentences(bad, j.evidence)
    worse = j.verdicts.copy()
    worse["certainty"] = worse["certainty"].replace({"very low": "low"})
    with pytest.raises(AssertionError):
        check_sentences(worse, j.evidence)


def test_one_q_per_estimate_the_voted_row_carries_the_verdicts_q():
    rows = [_eff("GSE1", "condition:NASH|healthy", "CNNM4", -1.6, 4.6e-8, n=57),
            _eff("GSE2", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 0.8, 3e-7, area="HCC", n=50)]
    rows[0]["qval"] = rows[1]["qval"] = 7.1e-7  # the run's own family (all compare tests)
    j = judge(build_evidence(pd.DataFrame(rows, columns=EFFECT_COLUMNS)))
    v = j.verdicts.set_index("claim_id")
    ev = j.evidence
    voted = ev[(ev.claim_id == "L1") & ev.included].iloc[0]
    assert voted["qval"] == v.loc["L1", "qval"] and voted["q_family"] == "claims"
    assert v.loc["L1", "qval"] != 7.1e-7
    assert check_sentences(j.verdicts, j.evidence) == 2


# ------------------------------------------------------------------------------------------- robustness


def test_a_pooled_row_never_counts_as_an_alternative_and_mediators_are_not_counted():
    c = "condition:NASH|NAFL"
    rows = [_eff("A", c, "CNNM4", 0.01, 0.97, n=31, se=0.36), _eff("B", c, "CNNM4", 0.42, 0.035, n=98, se=0.20)]
    alts = [  # voom re-derives both cohorts; RLE only B; composition adjusts for a mediator
        _eff("A", c, "CNNM4", 0.05, 0.6, kind="log2fc", scenario="DE: voom", n=31, se=0.1),
        _eff("B", c, "CNNM4", 0.12, 0.03, kind="log2fc", scenario="DE: voom", n=98, se=0.05),
        _eff("B", c, "CNNM4", 0.40, 0.04, scenario="normalisation: RLE", n=98, se=0.20),
        _eff("A", c, "CNNM4", 0.01, 0.97, scenario="normalisation: upper quartile", n=31, se=0.36),  # = primary
        _eff("A", c, "CNNM4", -0.1, 0.5, kind="adjusted_diff", scenario="adjusted: composition", n=31, se=0.1),
        _eff("B", c, "CNNM4", -0.02, 0.8, kind="adjusted_diff", scenario="adjusted: composition", n=98, se=0.07),
    ]
    j = judge(build_evidence(pd.DataFrame(rows + alts, columns=EFFECT_COLUMNS)))
    s = j.sensitivity[j.sensitivity.claim_id == "L1-PROG"].set_index("alternative")
    # an alternative that re-derived nothing (upper quartile returns the primary numbers) does not apply
    assert set(s.index) == {"DE: voom", "normalisation: RLE", "adjusted: composition"}
    assert s.loc["DE: voom", "rederived"] == "A;B" and s.loc["DE: voom", "effect_kind"] == "log2fc"
    assert s.loc["normalisation: RLE", "rederived"] == "B" and "A as in the primary analysis" in s.loc[
        "normalisation: RLE", "note"]
    # the primary pool is never one of an alternative's cohorts
    assert not s["cohorts"].str.contains("pooled").any() and (s["n_cohorts"] == 2).all()
    assert not s.loc["adjusted: composition", "counted"] and s.loc["DE: voom", "counted"]
    rob = j.verdicts.set_index("claim_id").loc["L1-PROG", "robustness"]
    assert rob.startswith("2/2 alternatives agree")
    assert "mediator adjustment, not counted: adjusted: composition" in rob and "dissent" not in rob
    # the pooled evidence row is still written, once, after the sensitivity analysis
    assert (j.evidence["role"] == "pooled").sum() == 1


# ----------------------------------------------------------------------------------------------- L10


def _mrs2(diff, se, *, n=57, scenario="primary", g=-0.17):
    d = _eff("GSE126848", "disease:MASLD|control", "MRS2", diff, 0.5, kind="log2fc", analysis="difference", n=n,
             se=se, scenario=scenario)
    return [d, _eff("GSE126848", "disease:MASLD|control", "MRS2", g, 0.5, n=n, scenario=scenario)]


def test_l10_margin_is_a_fold_change_with_its_power_and_the_stage_context():
    claims = load_claims().set_index("claim_id")
    assert "1.15-fold" in claims.loc["L10", "statement"]
    margin = np.log2(1.15)
    ok = _verdicts(_mrs2(-0.03, 0.05)).loc["L10"]
    assert ok["verdict"] == "supported" and ok["effect_kind"] == "log2fc"
    assert ok["ci_low"] > -margin and "1.15-fold" in ok["reason"]
    power = float(__import__("scipy.stats").stats.norm.cdf(margin / 0.05 - Z95))
    assert f"power {100 * power:.0f}% if truly unchanged" in ok["reason"]
    flat = _verdicts(_mrs2(-0.05, 0.08)).loc["L10"]
    assert flat["verdict"] == "inconclusive" and "A decrease larger than 1.15-fold cannot be excluded" in flat["reason"]
    assert "-1 imprecision: the 95% CI crosses the margin (-0.20)" in flat["certainty_reasons"]
    down = _verdicts(_mrs2(-0.5, 0.08)).loc["L10"]
    assert down["verdict"] == "contradicted"
    # the disease-stage context is shown, not voted
    rows = _mrs2(-0.05, 0.08) + [_eff("GSE167523", "condition:NASH|NAFL", "MRS2", -0.97, 4e-6, n=98, se=0.21)]
    j = judge(build_evidence(pd.DataFrame(rows, columns=EFFECT_COLUMNS)))
    r = j.verdicts.set_index("claim_id").loc["L10"]
    assert "Disease-stage context (not voted): MRS2 NASH vs NAFL GSE167523 g -0.97" in r["reason"]
    assert r["cohorts"] == "GSE126848"
    ev = j.evidence[j.evidence.claim_id == "L10"]
    assert set(ev.loc[ev.included, "effect_kind"]) == {"log2fc"}  # Hedges' g is shown beside
    assert (ev["role"] == "standardised (context)").sum() == 1 and (ev["role"] == "stage context").sum() == 1


def test_used_marks_exactly_the_rows_the_vote_rests_on():
    """``used`` is True for the primary rows a verdict voted on (and the pool), False for context,
    alternatives and rows a claim could not use."""
    from mgtranscript.claims import judge

    ev = pd.DataFrame([
        {"claim_id": "T1", "scenario": "primary", "cohort": "A", "contrast": "condition:NASH|healthy", "feature": "CNNM4",
         "effect_kind": "hedges_g", "estimate": 0.9, "ci_low": 0.3, "ci_high": 1.5, "se": 0.3, "pval": 0.003,
         "n": 60, "role": "primary", "included": True},
        {"claim_id": "T1", "scenario": "primary", "cohort": "B", "contrast": "condition:NASH|healthy", "feature": "CNNM4",
         "effect_kind": "hedges_g", "estimate": 0.7, "ci_low": 0.2, "ci_high": 1.2, "se": 0.25, "pval": 0.005,
         "n": 70, "role": "primary", "included": True},
        {"claim_id": "T1", "scenario": "primary", "cohort": "B", "contrast": "condition:NASH|healthy", "feature": "CNNM4",
         "effect_kind": "hedges_g", "estimate": 0.5, "ci_low": 0.0, "ci_high": 1.0, "se": 0.25, "pval": 0.05,
         "n": 70, "role": "not used: batch-aliased contrast", "included": False},
        {"claim_id": "T1", "scenario": "DE: voom", "cohort": "A", "contrast": "condition:NASH|healthy", "feature": "CNNM4",
         "effect_kind": "hedges_g", "estimate": 0.8, "ci_low": 0.2, "ci_high": 1.4, "se": 0.3, "pval": 0.01,
         "n": 60, "role": "primary", "included": True},
    ])
    claims = pd.DataFrame([{"claim_id": "T1", "statement": "CNNM4 up in NASH", "citation": "", "source": "review",
                            "scope": "tissue", "disease": "MASLD", "features": "CNNM4",
                            "contrast": "condition:NASH|healthy", "expected_direction": "up", "feature_kind": "gene"}])
    j = judge(ev, claims=claims)
    e = j.evidence
    used = e[e["used"].astype(bool)]
    assert set(used["cohort"]) == {"A", "B", "pooled (2 cohorts)"}
    assert set(used["scenario"]) == {"primary"}
    assert not e.loc[e["role"] == "not used: batch-aliased contrast", "used"].astype(bool).any()

"""Claims table and verdict rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgtranscript.claims import VERDICT_COLUMNS, evaluate_claims, load_claims
from mgtranscript.errors import DataFormatError


def test_seed_claims_are_well_formed():
    claims = load_claims()
    assert len(claims) >= 20
    assert claims["claim_id"].is_unique
    assert set(claims["expected_direction"]) <= {"up", "down", "positive", "negative", "poor prognosis"}
    # every liver-specific finding L1..L12 and the review's R1..R3 are represented
    assert {f"L{i}" for i in range(1, 13)} <= set(claims["source_claim"])
    assert {"R1", "R2", "R3"} <= set(claims["source_claim"])


def test_duplicated_claim_ids_are_refused(tmp_path):
    df = load_claims()
    bad = pd.concat([df, df.iloc[[0]]])
    p = tmp_path / "c.tsv"
    bad.to_csv(p, sep="\t", index=False)
    with pytest.raises(DataFormatError, match="repeated"):
        load_claims(p)


def _cmp(cohort, contrast, feature, g, q, lo=None, hi=None):
    return {"cohort": cohort, "contrast": contrast, "feature": feature, "hedges_g": g,
            "g_ci_low": g - 0.5 if lo is None else lo, "g_ci_high": g + 0.5 if hi is None else hi,
            "t_pval": q / 2, "qval": q, "n_group": 10, "n_ref": 10, "paired": False}


MECH = {"inflammation": ["HALLMARK_INFLAMMATORY_RESPONSE", "HALLMARK_TNFA_SIGNALING_VIA_NFKB"]}


def test_every_claim_gets_exactly_one_verdict_even_without_data():
    v = evaluate_claims(mechanisms=MECH)
    assert list(v.columns) == VERDICT_COLUMNS
    assert len(v) == len(load_claims())
    assert set(v["verdict"]) == {"not testable"}
    assert (v["reason"].str.len() > 0).all()
    assert v["note"].str.contains("transcript levels only").all()


def test_single_cohort_verdicts_follow_direction_and_q():
    comps = pd.DataFrame([
        _cmp("GSE1", "condition:NASH|healthy", "CNNM4", 1.2, 0.001),        # L1 up, supported
        _cmp("GSE2", "condition:hcc_tumour|hcc_nontumour", "TRPM7", -0.9, 0.01),  # L5 up, contradicted
        _cmp("GSE2", "condition:hcc_tumour|hcc_nontumour", "SLC41A1", 0.3, 0.4),  # L7 inconclusive
    ])
    v = evaluate_claims(comparisons=comps, mechanisms=MECH).set_index("claim_id")
    assert v.loc["L1", "verdict"] == "supported"
    assert v.loc["L1", "effect"] == pytest.approx(1.2)
    assert v.loc["L1", "cohorts"] == "GSE1"
    assert v.loc["L5", "verdict"] == "contradicted"
    assert v.loc["L7", "verdict"] == "inconclusive"
    assert v.loc["L11", "verdict"] == "not testable"  # serum Mg
    assert v.loc["L8", "verdict"] == "not testable"   # survival


def test_pooled_verdict_uses_meta_analysis_and_flags_disagreeing_cohorts():
    comps = pd.DataFrame([
        _cmp("A", "disease:MASLD|control", "CNNM4", 0.8, 0.01),
        _cmp("B", "disease:MASLD|control", "CNNM4", -0.9, 0.01),
    ])
    meta = pd.DataFrame([{"contrast": "disease:MASLD|control", "feature": "CNNM4", "pooled": 0.5,
                          "ci_low": 0.1, "ci_high": 0.9, "pval": 0.01, "qval": 0.02, "k": 2}])
    v = evaluate_claims(comparisons=comps, meta=meta, mechanisms=MECH).set_index("claim_id")
    assert v.loc["R3-MASLD", "effect_kind"] == "pooled_hedges_g"
    assert v.loc["R3-MASLD", "verdict"] == "inconclusive"  # one cohort significantly opposite


def test_not_testable_reason_names_unavailable_cohorts():
    cohorts = pd.DataFrame([{"accession": "GSE142530", "disease_area": "ALD", "status": "unavailable",
                             "reason": "not in the mirror"}])
    v = evaluate_claims(cohorts=cohorts, mechanisms=MECH).set_index("claim_id")
    assert "GSE142530" in v.loc["L3", "reason"] and "ALD" in v.loc["L3", "reason"]


def test_coupling_claim_counts_set_cohort_tests():
    coup = pd.DataFrame([
        {"cohort": "A", "mg_set": "MG_EFFLUX_EXCHANGE", "mechanism_set": "HALLMARK_INFLAMMATORY_RESPONSE",
         "rho": 0.6, "pval": 1e-4, "qval": 1e-3, "n": 50},
        {"cohort": "A", "mg_set": "MG_EFFLUX_EXCHANGE", "mechanism_set": "HALLMARK_TNFA_SIGNALING_VIA_NFKB",
         "rho": 0.2, "pval": 0.2, "qval": 0.3, "n": 50},
    ])
    v = evaluate_claims(coupling=coup, mechanisms=MECH).set_index("claim_id")
    assert v.loc["R2-INFLAM", "verdict"] == "supported"
    assert v.loc["R2-INFLAM", "effect"] == pytest.approx(np.median([0.6, 0.2]))
    assert "1/2" in v.loc["R2-INFLAM", "reason"]


def test_correlation_verdict_uses_unadjusted_rho_and_reports_composition_adjusted():
    corr = pd.DataFrame([
        {"cohort": "A", "feature_x": "MAGT1", "feature_y": "KLRK1", "adjusted_for": "", "rho": 0.5,
         "pval": 1e-4, "qval": 1e-3, "n": 60},
        {"cohort": "A", "feature_x": "MAGT1", "feature_y": "KLRK1", "adjusted_for": "PTPRC", "rho": 0.1,
         "pval": 0.4, "qval": 0.5, "n": 60},
    ])
    v = evaluate_claims(correlations=corr, mechanisms=MECH).set_index("claim_id")
    assert v.loc["L6", "verdict"] == "supported"
    assert v.loc["L6", "effect"] == pytest.approx(0.5)
    assert "PTPRC: rho +0.10" in v.loc["L6", "reason"]

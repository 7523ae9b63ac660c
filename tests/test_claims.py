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
from mgtranscript.errors import DataFormatError

Z95 = 1.959963984540054


def test_seed_claims_are_well_formed():
    claims = load_claims()
    assert len(claims) >= 28
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
    assert set(v["certainty"]) <= set(CERTAINTY_LEVELS)


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
    agree = _verdicts([_eff("A", "condition:NASH|NAFL", "CNNM4", 0.6, 1e-3, n=60),
                       _eff("B", "condition:NASH|NAFL", "CNNM4", 0.5, 1e-2, n=90)])
    assert agree.loc["L1-PROG", "verdict"] == "supported"
    assert agree.loc["L1-PROG", "n_cohorts"] == 2 and "pool of 2 cohorts" in agree.loc["L1-PROG", "reason"]
    assert agree.loc["L1-PROG", "certainty"] in ("high", "moderate")
    split = _verdicts([_eff("A", "condition:NASH|NAFL", "CNNM4", 1.5, 1e-8, n=200),
                       _eff("B", "condition:NASH|NAFL", "CNNM4", -0.6, 1e-2, n=60)])
    assert split.loc["L1-PROG", "verdict"] in ("inconclusive",)
    assert "inconsistency" in split.loc["L1-PROG", "reason"]


def test_design_audit_flags_become_caveats_and_lower_certainty():
    rows = [_eff("GSE126848", "condition:NASH|healthy", "CNNM4", -1.3, 1e-5, n=30)]
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
    assert v.loc["R2-INFLAM", "verdict"] == "contradicted"
    assert v.loc["R2-INFLAM", "effect"] == pytest.approx(-0.40)
    ev = build_evidence(pd.DataFrame(rows, columns=EFFECT_COLUMNS))
    pooled = ev[(ev.claim_id == "R2-INFLAM") & (ev.role.str.startswith("pooled"))]
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
    from mgtranscript.plan import cell_effects

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

"""A real run end to end on the mirror (served over HTTP) plus a real-shaped fake GDC, and
`mgtranscript claims`: what a user reads (verdicts, evidence, caveats) is checked here.

The run is the session's real run (``real_run`` in tests/conftest.py: ``run_analysis`` over
GSE126848, GSE167523, GSE77314, GSE135251, GSE142530 and TCGA-LIHC, 1,000 permutations, tables
only); its report and figures are those of the README tour's run (``tour_run``), checked here too."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mgtranscript.claims import VERDICT_COLUMNS, load_claims
from mgtranscript.cli import main

from support.paths import DATA


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(real_run):
    """The output folder of the session's real run (it held an earlier run's files, a stale figure too)."""
    return real_run.out


def _table(run_dir, name):
    return pd.read_csv(run_dir / "tables" / f"{name}.tsv", sep="\t")


def test_run_writes_its_tables_and_a_manifest(run_dir):
    for name in ("cohorts", "sample_counts", "coverage", "comparisons", "gsea", "coupling", "meta", "claims",
                 "claims_evidence", "effects", "design", "sensitivity", "survival"):
        assert (run_dir / "tables" / f"{name}.tsv").is_file(), name
    assert not (run_dir / "figures").exists() and not (run_dir / "report.html").exists()  # plots=False, report=False
    listed = {f["path"] for f in json.loads((run_dir / "manifest.json").read_text())["files"]}
    assert "tables/claims.tsv" in listed and "report.html" not in listed


def test_the_tour_run_writes_report_png_figures_and_replaces_the_output_whole(tour_run):
    """The README tour's run (``tour_run``): report, PNG figures (SVG only on request), a manifest; the
    folder held an earlier run's files, a stale figure among them: replaced as a whole."""
    out = tour_run.out
    assert (out / "report.html").stat().st_size > 50_000
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs and not list((out / "figures").glob("*.svg"))
    assert "stale_from_an_earlier_run.png" not in pngs
    listed = {f["path"] for f in json.loads((out / "manifest.json").read_text())["files"]}
    assert "tables/claims.tsv" in listed and "report.html" in listed
    assert {f"figures/{n}" for n in pngs} <= listed


def test_the_session_runs_are_made_once_in_one_worker(run_dir, request):
    """With pytest-xdist every test reading the session's real runs is in one group (``--dist loadgroup``),
    so the runs are made once, not once per worker (pytest 9.2 with pytest-xdist 3.8 silently lost the
    groups: see the pytest bound in pyproject.toml)."""
    if not hasattr(request.config, "workerinput"):
        pytest.skip("not run by a pytest-xdist worker")
    assert request.node.nodeid.endswith("@real_run")


def test_every_table_has_the_columns_of_the_one_list_of_tables(run_dir):
    """tables/ holds exactly the tables of pipeline.TABLES, PER_COHORT and INPUTS, each with its
    listed columns in that order (a method may add its own after or between them)."""
    from mgtranscript.pipeline import INPUTS, PER_COHORT, TABLES

    files = {p.name for p in (run_dir / "tables").glob("*.tsv")}
    per = {spec.file.format(accession=acc) + ".tsv" for spec in PER_COHORT
           for acc in ("GSE126848", "GSE167523", "GSE77314", "TCGA-LIHC")}
    assert files == {f"{spec.file}.tsv" for spec in (*TABLES, INPUTS)} | per
    for name in sorted(files):
        spec = next((s for s in (*TABLES, INPUTS) if f"{s.file}.tsv" == name), None) or next(
            s for s in PER_COHORT if name.startswith(s.file.split("{")[0]))
        header = (run_dir / "tables" / name).read_text().split("\n", 1)[0].split("\t")
        if header == [""]:  # an empty table (e.g. no survival data) is an empty file
            continue
        assert [c for c in header if c in spec.columns] == list(spec.columns), name


def test_cohort_statuses_and_groups(run_dir):
    cohorts = _table(run_dir, "cohorts").set_index("accession")
    for acc in ("GSE126848", "GSE167523", "GSE77314", "TCGA-LIHC"):
        assert cohorts.loc[acc, "status"] == "analysed", (acc, cohorts.loc[acc, "reason"])
    assert cohorts.loc["GSE135251", "status"] == "metadata only"
    assert "GSE135251_raw_counts" in cohorts.loc["GSE135251", "reason"]
    assert cohorts.loc["GSE142530", "status"] == "unavailable"
    assert cohorts["reason_short"].fillna("").str.len().max() <= 120
    counts = _table(run_dir, "sample_counts")
    c = counts[counts.accession == "GSE167523"].set_index("condition")["n"].to_dict()
    assert c == {"NAFL": 51, "NASH": 47}
    h = counts[counts.accession == "GSE77314"].set_index("condition")["n"].to_dict()
    assert h == {"hcc_tumour": 50, "hcc_nontumour": 50}


def test_claims_table_has_the_contract_columns_and_one_verdict_per_claim(run_dir):
    v = _table(run_dir, "claims")
    assert list(v.columns) == VERDICT_COLUMNS
    assert list(v["claim_id"]) == list(load_claims()["claim_id"])
    assert set(v["verdict"]) <= {"supported", "contradicted", "inconclusive", "not testable"}
    tested = v[v["verdict"] != "not testable"]
    assert set(tested["certainty"]) <= {"high", "moderate", "low", "very low"}
    assert v.loc[v["verdict"] == "not testable", "certainty"].isna().all()  # nothing to grade
    assert v["caveats"].str.contains("transcript levels only").all()
    assert set(v["source"]) == {"review", "cited study", "project proxy", "project hypothesis"}
    # a claim whose only evidence was taken out of the vote (a batch-aliased contrast) has no effect
    voted = tested[~tested["reason"].str.startswith("no usable evidence")]
    assert voted["effect"].notna().all() and (tested["effect"].isna() | tested.index.isin(voted.index)).all()
    assert (voted["ci_low"] <= voted["effect"]).all() and (voted["effect"] <= voted["ci_high"]).all()
    assert tested["robustness"].str.contains("alternatives agree|no alternative").all()


def test_coupling_claims_are_decided_within_groups(run_dir):
    ev = _table(run_dir, "claims_evidence")
    coup = ev[ev["claim_id"].str.startswith("R2-") & (ev["scenario"] == "primary")]
    voted = coup[coup["included"] & (coup["role"] == "primary")]
    assert len(voted) and voted["design"].str.startswith(("within", "paired")).all()
    pools = coup[coup["role"] == "pooled"]  # the random-effects pool over cohorts the verdict voted on
    assert set(pools["claim_id"]) <= set(voted["claim_id"]) and (pools["design"] == "meta-analysis").all()
    pooled = coup[coup["design"] == "pooled"]
    assert len(pooled) and not pooled["included"].any()  # shown beside, never voted
    # the paired HCC cohort is analysed pair-aware (pair and group fixed effects)
    assert voted.loc[voted["cohort"] == "GSE77314", "design"].str.contains("paired").all()


def test_masld_vs_control_from_gse126848_does_not_vote_its_series_dominates(run_dir):
    """GSE126848's controls and MASLD biopsies come from two sample-id series that differ in
    more than half of the expressed genes: those contrasts do not vote, with the numbers."""
    v = _table(run_dir, "claims").set_index("claim_id")
    ev = _table(run_dir, "claims_evidence")
    for cid in ("R1-MASLD", "R1-BAL-MASLD", "R3-MASLD", "L1", "L10"):
        assert v.loc[cid, "verdict"] == "inconclusive", cid
        assert v.loc[cid, "reason"].startswith("no usable evidence: GSE126848: the groups are completely aliased")
        assert "expressed genes" in v.loc[cid, "reason"] and "NASH vs NAFL" in v.loc[cid, "reason"]
        rows = ev[(ev["claim_id"] == cid) & (ev["cohort"] == "GSE126848")]
        aliased = rows[rows["role"] == "not used: batch-aliased contrast"]
        assert len(aliased) and aliased["why"].str.contains("dominates").all() and not rows["included"].any()
    design = _table(run_dir, "design")
    batch = design[(design["cohort"] == "GSE126848") & (design["check"] == "batch_aliased")]
    assert set(batch.loc[batch["flagged"], "contrast"]) == {"disease:MASLD|control", "condition:NASH|healthy",
                                                            "condition:NAFL|healthy"}
    # the contrasts inside one series still vote
    prog = ev[(ev["claim_id"] == "L1-PROG") & (ev["cohort"] == "GSE126848") & (ev["role"] == "primary")]
    assert len(prog) == 1 and prog["included"].all()
    # a library far below its group's depth is named
    out = design[(design["check"] == "library_outlier") & design["flagged"]]
    assert out["caveat"].str.contains("GSM3615322").any()


def test_gse167523_nash_vs_nafl_is_adjusted_for_sex_and_age_with_the_unadjusted_beside(run_dir):
    eff = _table(run_dir, "effects")
    e = eff[(eff["cohort"] == "GSE167523") & (eff["contrast"] == "condition:NASH|NAFL")
            & (eff["feature"] == "SLC41A1")].set_index(["scenario", "analysis"])
    prim = e.loc[("primary", "compare")]
    assert prim["test"].startswith("Hedges' g adjusted for sex, age") and prim["note"].startswith("unadjusted g")
    assert e.loc[("unadjusted for sex/age", "compare"), "estimate"] > prim["estimate"] + 0.2
    voom = e.loc[("DE: voom", "de")]
    assert voom["test"].endswith("adjusted for sex, age") and "unadjusted: log2FC +0.33" in voom["note"]
    sens = _table(run_dir, "sensitivity")
    assert ((sens["claim_id"] == "L1-PROG") & (sens["alternative"] == "unadjusted for sex/age")).any()
    design = _table(run_dir, "design")
    d = design[(design["cohort"] == "GSE167523") & design["check"].isin(["sex_recorded", "age"])]
    assert d["flagged"].all() and d["risk_of_bias"].isna().all()  # adjusted: no longer a risk of bias
    assert d["caveat"].str.contains("adjusted for in the primary estimates").all()


def test_certainty_is_grade_with_every_step_and_sentences_match_the_evidence(run_dir):
    from support.claims_readback import check_sentences

    v = _table(run_dir, "claims")
    ev = _table(run_dir, "claims_evidence")
    assert check_sentences(v, ev) >= 20  # every per-cohort number and word read back
    tested = v[v["verdict"] != "not testable"]
    assert tested["certainty_reasons"].str.match(r"start (low|moderate|high): ").all()
    single = tested[tested["n_cohorts"] == 1]
    rated_up = single["certainty_reasons"].str.contains("+1 dose-response", regex=False)
    assert single.loc[~rated_up, "certainty"].isin(["low", "very low"]).all()
    # the paired HCC cohort: pairing and RNA composition are a risk of bias, not just caveats
    hcc = v.set_index("claim_id").loc["R3-HCC"]
    assert "-1 risk of bias:" in hcc["certainty_reasons"] and "RNA composition" in hcc["certainty_reasons"]
    # R1-PROG's cohorts disagree: inconclusive for that reason, both estimates named
    prog = v.set_index("claim_id").loc["R1-PROG"]
    assert prog["verdict"] == "inconclusive" and prog["reason"].startswith("Cohorts disagree")
    assert prog["reason"].count("GSE126848 g ") and prog["reason"].count("GSE167523 g ")


def test_robustness_counts_only_alternatives_that_re_derived_the_estimate(run_dir):
    v = _table(run_dir, "claims").set_index("claim_id")
    sens = _table(run_dir, "sensitivity")
    assert not sens["cohorts"].fillna("").str.contains("pooled").any()
    for cid in ("R1-PROG", "L1-PROG"):
        s = sens[sens["claim_id"] == cid]
        counted = s[s["counted"]]
        both = counted[counted["alternative"] != "unadjusted for sex/age"]
        assert (both["rederived"] == "GSE126848;GSE167523").all() and (counted["n_cohorts"] == 2).all()
        # only GSE167523's estimate is adjusted for sex and age: the unadjusted alternative re-derives it alone
        assert counted.loc[counted["alternative"] == "unadjusted for sex/age", "rederived"].tolist() == ["GSE167523"]
        assert v.loc[cid, "robustness"].startswith(f"{int(counted['agrees'].sum())}/{len(counted)} alternatives agree")
        assert "mediator adjustment, not counted: adjusted: composition" in v.loc[cid, "robustness"]
    # R1-PROG: the two scoring alternatives re-derive a score contrast, and the unadjusted one GSE167523's
    assert set(sens.loc[(sens.claim_id == "R1-PROG") & sens["counted"], "alternative"]) == {
        "scoring: gsva", "scoring: zscore", "unadjusted for sex/age"}


def test_cell_level_mechanism_is_not_decided_by_bulk_correlation(run_dir):
    v = _table(run_dir, "claims").set_index("claim_id")
    assert v.loc["L6", "verdict"] == "not testable"
    assert "bulk" in v.loc["L6", "reason"] and "cell" in v.loc["L6", "reason"]
    ev = _table(run_dir, "claims_evidence")
    bulk = ev[ev["claim_id"] == "L6"]
    assert len(bulk) and not bulk["included"].any()


def test_nash_vs_nafl_is_pooled_over_two_cohorts_and_meta_has_only_k_ge_2(run_dir):
    v = _table(run_dir, "claims").set_index("claim_id")
    assert v.loc["L1-PROG", "n_cohorts"] == 2
    assert set(v.loc["L1-PROG", "cohorts"].split(";")) == {"GSE126848", "GSE167523"}
    meta = _table(run_dir, "meta")
    assert (meta["k"] >= 2).all()
    cnnm4 = meta[(meta["contrast"] == "condition:NASH|NAFL") & (meta["feature"] == "CNNM4")].iloc[0]
    # tables/meta.tsv and the verdict pool by the same rule (Hartung-Knapp, k - 1 df)
    np.testing.assert_allclose(cnnm4[["pooled", "ci_low", "ci_high", "pval"]].to_numpy(float),
                               v.loc["L1-PROG", ["effect", "ci_low", "ci_high", "pval"]].to_numpy(float), rtol=1e-12)
    assert cnnm4["df"] == 1 and np.isnan(cnnm4["pi_low"])
    single = v[v["n_cohorts"] == 1]
    assert single["caveats"].str.contains("single cohort").all()


def test_survival_claim_gets_km_and_cox_evidence_from_tcga(run_dir):
    v = _table(run_dir, "claims").set_index("claim_id")
    assert v.loc["L8", "verdict"] == "supported"  # the fake project builds worse survival with high SLC41A3
    assert v.loc["L8", "effect_kind"] == "hazard_ratio" and v.loc["L8", "effect"] > 1
    surv = _table(run_dir, "survival").set_index("feature")
    assert surv.loc["SLC41A3", "logrank_p"] < 0.05 and surv.loc["SLC41A3", "cox_p"] < 0.05
    assert v.loc["L9-GRADE", "verdict"] != "not testable"  # tumour grade recorded in TCGA


def test_hcc_comparison_is_paired_and_tcga_etiology_is_context_only(run_dir):
    comp = _table(run_dir, "comparisons")
    hcc = comp[(comp.cohort == "GSE77314") & (comp.contrast == "condition:hcc_tumour|hcc_nontumour")]
    assert hcc["paired"].all() and (hcc["n_group"] == 50).all()
    assert {"CNNM4", "SLC41A1", "TRPM7", "MG_EFFLUX_EXCHANGE", "mg_balance"} <= set(hcc["feature"])
    assert comp["qval"].between(0, 1).all()
    ev = _table(run_dir, "claims_evidence")
    ald = ev[ev["claim_id"].isin(["R1-ALD", "L3"]) & (ev["role"] == "context")]
    assert len(ald) and not ald["included"].any()
    assert ald["why"].str.contains("not ALD without cancer").all()


def test_verdict_numbers_match_an_independent_r_computation(run_dir):
    """tests/r/make_reference_verdicts.R recomputes the gene-level verdicts from the mirror files
    with edgeR (TMM log-CPM), lm (GSE167523 adjusted for sex and age) and metafor (escalc SMD,
    g_av by hand, rma REML)."""
    ref = pd.read_csv(DATA / "verdicts" / "reference.tsv", sep="\t")
    ev = _table(run_dir, "claims_evidence")
    v = _table(run_dir, "claims").set_index("claim_id")
    for r in ref.itertuples():
        if r.cohort == "pooled":
            got = v.loc[r.claim_id, ["effect", "ci_low", "ci_high", "pval"]].to_numpy(float)
        else:
            row = ev[(ev.claim_id == r.claim_id) & (ev.cohort == r.cohort) & (ev.scenario == "primary")
                     & ev.role.isin(["primary", "not used: batch-aliased contrast"])]
            assert len(row) == 1, (r.claim_id, r.cohort)
            # GSE126848's MASLD-vs-control estimates are computed, shown and not voted
            assert row["included"].iloc[0] == (r.cohort != "GSE126848" or r.contrast == "condition:NASH|NAFL")
            got = row[["estimate", "ci_low", "ci_high", "pval"]].to_numpy(float)[0]
            if r.cohort == "GSE77314":  # paired: g_av votes, g_z is named beside
                assert f"g_z {r.g_z:+.2f}" in row["test"].iloc[0]
        want = np.array([r.estimate, r.ci_low, r.ci_high, r.pval])
        # g: metafor's exact small-sample correction vs Hedges' approximation (~1e-4 at n >= 30)
        np.testing.assert_allclose(got[:3], want[:3], atol=2e-3, err_msg=f"{r.claim_id} {r.cohort}")
        np.testing.assert_allclose(np.log10(got[3]), np.log10(want[3]), atol=0.02, err_msg=r.claim_id)


def test_provenance_hashes_every_input(run_dir):
    prov = json.loads((run_dir / "provenance.json").read_text())
    by_url = {f["url"]: f for f in prov["inputs"]}
    counts = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz"
    assert by_url[counts]["sha256"] == "b4d9cac04755d202acbbe228b5180feca39fa12a28728a67e531d0a93cae7dee"
    assert by_url[counts]["bytes"] == 1383532
    sources = {f["source"] for f in prov["inputs"]}
    assert {"sample sheet", "bundled gene sets", "bundled claims table"} <= sources
    assert all(len(f["sha256"]) == 64 for f in prov["inputs"])
    assert prov["versions"]["mgtranscript"]


def test_claims_command_reuses_run_tables(run_dir, tmp_path, capsys):
    out = tmp_path / "claims.tsv"
    assert main(["claims", "--from", str(run_dir), "--out", str(out)]) == 0
    again = pd.read_csv(out, sep="\t")
    first = _table(run_dir, "claims")
    pd.testing.assert_series_equal(again["verdict"], first["verdict"])
    pd.testing.assert_series_equal(again["certainty"], first["certainty"])
    assert "transcript levels only" in capsys.readouterr().out

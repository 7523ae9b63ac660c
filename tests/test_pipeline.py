"""`mgtranscript run` end to end on the mirror (served over HTTP), and `mgtranscript claims`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mgtranscript.claims import load_claims
from mgtranscript.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mirror_server, session_cache, shared_dir):
    """One run of the main command over the offline cohorts (shared by the tests below)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MGTRANSCRIPT_MIRROR", mirror_server.url)
    mp.setenv("MGTRANSCRIPT_CACHE", str(session_cache))
    mp.setenv("MGTRANSCRIPT_SAMPLES", str(shared_dir / "samples"))
    mp.setenv("MGTRANSCRIPT_BACKOFF", "0.01")
    out = tmp_path_factory.mktemp("run") / "out"
    code = main(["run", "--out", str(out), "--cohorts", "GSE126848", "GSE77314", "GSE135251", "GSE142530",
                 "--permutations", "100", "--no-progress"])
    mp.undo()
    assert code == 0
    return out


def test_run_writes_report_tables_and_figures(run_dir):
    assert (run_dir / "report.html").stat().st_size > 50_000
    for name in ("cohorts", "sample_counts", "coverage", "comparisons", "gsea", "coupling", "meta", "claims"):
        assert (run_dir / "tables" / f"{name}.tsv").is_file(), name
    pngs = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert any(n.startswith("scores_GSE126848") for n in pngs)
    assert any(n.startswith("volcano_GSE77314") for n in pngs)
    assert not list((run_dir / "figures").glob("*.svg"))  # PNG only unless --svg


def test_run_reports_unobtainable_cohorts_without_failing(run_dir):
    cohorts = pd.read_csv(run_dir / "tables" / "cohorts.tsv", sep="\t").set_index("accession")
    assert cohorts.loc["GSE126848", "status"] == "analysed"
    assert cohorts.loc["GSE77314", "status"] == "analysed"
    assert cohorts.loc["GSE135251", "status"] == "metadata only"
    assert "GSE135251_raw_counts" in cohorts.loc["GSE135251", "reason"]
    assert cohorts.loc["GSE142530", "status"] == "unavailable"
    counts = pd.read_csv(run_dir / "tables" / "sample_counts.tsv", sep="\t")
    c = counts[counts.accession == "GSE126848"].set_index("condition")["n"].to_dict()
    assert c == {"healthy": 14, "obese": 12, "NAFL": 15, "NASH": 16}
    h = counts[counts.accession == "GSE77314"].set_index("condition")["n"].to_dict()
    assert h == {"hcc_tumour": 50, "hcc_nontumour": 50}


def test_every_claim_has_a_verdict_row(run_dir):
    verdicts = pd.read_csv(run_dir / "tables" / "claims.tsv", sep="\t")
    assert list(verdicts["claim_id"]) == list(load_claims()["claim_id"])
    assert set(verdicts["verdict"]) <= {"supported", "contradicted", "inconclusive", "not testable"}
    v = verdicts.set_index("claim_id")
    # tested claims carry effect, CI, q, cohorts and n; untestable ones say why
    assert v.loc["L7", "verdict"] != "not testable"
    assert v.loc["L7", "cohorts"] == "GSE77314" and v.loc["L7", "n"] == 50  # 50 tumour/normal pairs
    assert v.loc["L7", "ci_low"] < v.loc["L7", "effect"] < v.loc["L7", "ci_high"]
    assert v.loc["L3", "verdict"] == "not testable" and "GSE142530" in v.loc["L3", "reason"]
    assert v.loc["L11", "verdict"] == "not testable"
    assert v["note"].str.contains("transcript levels only").all()


def test_hcc_comparison_is_paired_and_mg_genes_are_compared(run_dir):
    comp = pd.read_csv(run_dir / "tables" / "comparisons.tsv", sep="\t")
    hcc = comp[(comp.cohort == "GSE77314") & (comp.contrast == "condition:hcc_tumour|hcc_nontumour")]
    assert hcc["paired"].all()
    assert {"CNNM4", "SLC41A1", "TRPM7", "MG_EFFLUX_EXCHANGE", "mg_balance"} <= set(hcc["feature"])
    assert comp["qval"].between(0, 1).all()


def test_provenance_lists_inputs_with_sha256(run_dir):
    prov = json.loads((run_dir / "provenance.json").read_text())
    urls = {f["url"]: f["sha256"] for f in prov["inputs"]}
    counts = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz"
    assert urls[counts] == "b4d9cac04755d202acbbe228b5180feca39fa12a28728a67e531d0a93cae7dee"
    assert prov["versions"]["mgtranscript"]


def test_claims_command_reuses_run_tables(run_dir, tmp_path, capsys):
    out = tmp_path / "claims.tsv"
    assert main(["claims", "--from", str(run_dir), "--out", str(out)]) == 0
    again = pd.read_csv(out, sep="\t")
    first = pd.read_csv(run_dir / "tables" / "claims.tsv", sep="\t")
    pd.testing.assert_series_equal(again["verdict"], first["verdict"])
    assert "transcript levels only" in capsys.readouterr().out

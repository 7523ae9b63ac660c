"""``mgtranscript datasets``: the catalog on the command line."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from mgtranscript.cli import main


def test_datasets_table(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["accession", "disease_area", "technology"]
    for acc in ["GSE126848", "GSE135251", "GSE77314", "GSE142530", "GSE28619", "TCGA-LIHC"]:
        assert any(line.startswith(acc + " ") for line in lines), acc
    assert "12 cohorts" in lines[-1]


def test_datasets_tsv_is_machine_readable(capsys):
    assert main(["datasets", "--tsv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out), sep="\t", dtype={"pmid": str})
    assert {"accession", "disease_area", "n_samples", "design", "citation", "pmid"} <= set(df.columns)
    assert df.set_index("accession").loc["GSE126848", "n_samples"] == 57
    assert main(["datasets", "--tsv", "--area", "ALD"]) == 0
    ald = pd.read_csv(io.StringIO(capsys.readouterr().out), sep="\t")
    assert set(ald["accession"]) == {"GSE142530", "GSE28619"}


def test_datasets_show_rules(capsys):
    assert main(["datasets", "--show", "GSE135251"]) == 0
    out = capsys.readouterr().out
    assert "label rules (first match wins)" in out
    assert "group in paper == 'NASH_F2'  ->  disease=MASLD, condition=NASH, subgroup=NASH_F2" in out
    assert "numeric fibrosis_stage: from fibrosis stage in [0, 4]" in out
    # the counts the source reports, and where they come from
    assert "expected         control 10, NAFL 51, NASH_F0-F1 34" in out and "Govaere" in out
    assert main(["datasets", "--show", "GSE77314"]) == 0
    assert "pairing: gsm_offset" in capsys.readouterr().out


def test_datasets_with_a_user_catalog(tmp_path, capsys):
    my = tmp_path / "my.toml"
    my.write_text("""
[cohorts.GSE999111]
accession = "GSE999111"
title = "A user's HCC series"
disease_area = "HCC"
platform = "GPL570"
technology = "array"
data_source = "series matrix"
n_samples = 20
citation = "Doe J et al. 2031"
pmid = "2"
design = "unpaired"
reference = "hcc_nontumour"
condition_order = ["hcc_nontumour", "hcc_tumour"]

[cohorts.GSE999111.expected]
source = "GEO summary: 10 tumours, 10 adjacent"
hcc_tumour = 10
hcc_nontumour = 10

[[cohorts.GSE999111.labels]]
columns = ["tissue"]
equals = "tumor"
disease = "HCC"
condition = "hcc_tumour"
""")
    assert main(["datasets", "--catalog", str(my)]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("GSE999111 ") for line in out.splitlines())
    assert f"13 cohorts (1 from {my})" in out
    assert main(["datasets", "--catalog", str(my), "--show", "GSE999111"]) == 0
    assert f"catalog          {my}" in capsys.readouterr().out
    assert main(["datasets", "--catalog", str(tmp_path / "missing.toml")]) == 2
    assert "no such catalog TOML file" in capsys.readouterr().err
    # run/claims/fetch know the user's cohorts only with --catalog
    assert main(["claims", "--cohorts", "GSE999111", "--out", str(tmp_path / "c.tsv")]) == 2
    assert "not a cohort of the catalog" in capsys.readouterr().err


def test_datasets_unknown_accession_fails_with_a_fix(capsys):
    assert main(["datasets", "--show", "GSE1"]) == 1
    err = capsys.readouterr().err
    assert "not in the cohort catalog" in err and "GSE126848" in err


def test_datasets_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "mgtranscript.cli", "datasets", "--tsv"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("accession\t")

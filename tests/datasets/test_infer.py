"""Label inference (``datasets.infer_labels``, ``mgtranscript datasets --draft``): on the mirror it
reproduces the hand-written rules of GSE126848, GSE167523 and GSE135251 sample for sample, and
GSE77314's labels from its SRA run table; sample tables in the GEOquery / GEOparse layouts;
non-liver series are said to be non-liver."""

from __future__ import annotations

import pandas as pd
import pytest

from mgtranscript.cli import main
from mgtranscript.datasets import geo, infer_labels, label_obs, load_catalog
from mgtranscript.datasets._infer import read_sample_table


@pytest.mark.parametrize("acc", ["GSE126848", "GSE167523", "GSE135251"])
def test_draft_reproduces_the_bundled_rule_sample_for_sample(mirror_env, tmp_path, acc):
    draft = infer_labels(acc)
    meta = geo(acc, metadata_only=True)
    bundled = label_obs(meta.obs, acc, warn=False)
    got = draft.labels.set_index("sample")
    assert list(got.index) == list(bundled.index)
    for col in ("disease", "condition") + (("subgroup",) if "subgroup" in bundled else ()):
        assert (got[col] == bundled[col].astype(str)).all(), col
    assert "unlabelled" not in draft.counts and not draft.unmapped
    # the proposed entry, written as TOML and read back, gives the same labels
    path = tmp_path / "draft.toml"
    path.write_text(draft.to_toml())
    entry = load_catalog(path)[acc]
    again = label_obs(meta.obs, acc, warn=False, catalog={acc: entry})
    assert (again["condition"].astype(str) == bundled["condition"].astype(str)).all()
    assert again.attrs["label_check"]["status"] == "ok"


def test_draft_fields_and_stages_on_gse135251(mirror_env):
    draft = infer_labels("GSE135251")
    assert draft.fields["label"] == "group_in_paper"
    assert draft.fields["fibrosis_stage"] == "fibrosis_stage" and draft.fields["nas"] == "nas_score"
    assert draft.counts == {"healthy": 10, "NAFL": 51, "NASH": 155}
    assert str(draft.labels["fibrosis_stage"].dtype) == "Int64"  # stages as integers
    assert draft.labels["fibrosis_stage"].value_counts().to_dict() == {2: 54, 3: 54, 1: 48, 0: 46, 4: 14}
    assert draft.entry["subgroup_order"] == ["control", "NAFL", "NASH_F0-F1", "NASH_F2", "NASH_F3", "NASH_F4"]


def test_draft_from_the_sra_run_table_gives_gse77314_labels(shared_dir):
    sheet = shared_dir / "samples" / "GSE77314_SraRunTable.csv"
    draft = infer_labels(sheet)
    assert draft.accession == "GSE77314" and draft.fields["label"] == "diagnosis"
    table = read_sample_table(sheet)  # one row per GSM (runs collapsed)
    bundled = label_obs(table, "GSE77314", warn=False)
    got = draft.labels.set_index("sample")
    assert len(got) == 100 and (got["condition"] == bundled["condition"].astype(str)).all()
    assert draft.counts == {"hcc_nontumour": 50, "hcc_tumour": 50}
    # no patient id in the sheet: the draft says the pairing must be declared, not guessed
    assert draft.entry["design"] == "unpaired" and any("no patient id" in r for r in draft.reasons)


def test_geoquery_pdata_export_with_ch1_columns_and_an_unmapped_value(tmp_path):
    n = 6
    pdata = pd.DataFrame({
        "title": [f"liver {i}" for i in range(n)],
        "geo_accession": [f"GSM10{i}" for i in range(n)],
        "source_name_ch1": ["liver biopsy"] * n,
        "characteristics_ch1": [f"diagnosis: {d}" for d in ["HC", "HC", "SS", "NASH", "NASH", "unclear"]],
        "characteristics_ch1.1": ["gender: male", "gender: female"] * 3,
        "diagnosis:ch1": ["HC", "HC", "SS", "NASH", "NASH", "unclear"],
        "gender:ch1": ["male", "female"] * 3,
        "fibrosis (stage):ch1": ["0", "0", "1", "3", "F4", ""],
        "age:ch1": ["41", "52", "60", "38", "47", "55"],
    }, index=[f"GSM10{i}" for i in range(n)])
    path = tmp_path / "GSE424242_pdata.csv"
    pdata.to_csv(path)
    draft = infer_labels(path)
    assert draft.accession == "GSE424242"
    assert draft.fields["label"] == "diagnosis" and draft.fields["sex"] == "gender"
    assert draft.unmapped == {"unclear": 1} and draft.confidence != "high"
    t = draft.labels.set_index("sample")
    assert t.loc["GSM100", "condition"] == "healthy" and t.loc["GSM102", "condition"] == "NAFL"
    assert t.loc["GSM105", "condition"] == "unlabelled"  # counted, not dropped
    assert t["fibrosis_stage"].tolist()[:5] == [0, 0, 1, 3, 4] and t["sex"].tolist()[:2] == ["male", "female"]
    assert t["age"].tolist()[0] == 41


def test_geoparse_phenotype_export_and_tsv_output(tmp_path, capsys):
    n = 4
    pheno = pd.DataFrame({
        "geo_accession": [f"GSM20{i}" for i in range(n)],
        "characteristics_ch1.0.tissue": ["Liver Tumor Tissue", "Liver Non-Tumor Tissue"] * 2,
        "characteristics_ch1.1.individual": ["Patient 1", "Patient 1", "Patient 2", "Patient 2"],
        "characteristics_ch1.2.hbv viral status": ["HBV", "HBV", "HCV", "HCV"],
    })
    path = tmp_path / "pheno.tsv"
    pheno.to_csv(path, sep="\t", index=False)
    draft = infer_labels(path, accession="GSE777")
    assert draft.counts == {"hcc_nontumour": 2, "hcc_tumour": 2}
    # a patient field: the draft proposes a paired design on it
    assert draft.entry["design"] == "paired" and draft.fields["pair_id"] == "individual"
    assert draft.labels["etiology"].tolist() == ["HBV", "HBV", "HCV", "HCV"]
    assert main(["datasets", "--draft", str(path), "--tsv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["sample", "disease", "condition"] and len(lines) == 5


def test_non_liver_series_is_said_to_be_non_liver(tmp_path, capsys):
    df = pd.DataFrame({"geo_accession": [f"GSM30{i}" for i in range(4)],
                       "source_name_ch1": ["peripheral blood PBMC"] * 4,
                       "disease state:ch1": ["healthy", "healthy", "NASH", "NASH"]})
    path = tmp_path / "blood.csv"
    df.to_csv(path, index=False)
    draft = infer_labels(path)
    assert not draft.liver and not draft.entry and "not a liver series" in draft.verdict
    assert main(["datasets", "--draft", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not a liver series" in out and "[cohorts." not in out


def test_cli_draft_prints_a_loadable_entry_for_gse126848(mirror_env, tmp_path, capsys):
    assert main(["datasets", "--draft", "GSE126848"]) == 0
    out = capsys.readouterr().out
    assert "[cohorts.GSE126848]" in out and 'equals = "NAFLD"' in out and "confidence" in out
    path = tmp_path / "d.toml"
    path.write_text(out)
    assert load_catalog(path)["GSE126848"]["expected"]["NASH"] == 16
    assert main(["datasets", "--draft", "GSE126848", "--tsv"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 58 and rows[0].startswith("sample\tdisease\tcondition\tfibrosis_stage\tnas")


def test_draft_of_something_that_is_neither_accession_nor_file(capsys):
    assert main(["datasets", "--draft", "no_such_table.csv"]) == 1
    assert "neither a GEO series accession" in capsys.readouterr().err


@pytest.mark.parametrize("values, expected", [
    (["Normal", "Alcoholic Hepatitis", "Alcohol-related Cirrhosis"], ["normal", "alcoholic_hepatitis", "alcohol_cirrhosis"]),
    (["Liver Tumor Tissue", "Liver Non-Tumor Tissue", "Liver Tumor Tissue"], ["hcc_tumour", "hcc_nontumour", "hcc_tumour"]),
    (["primary hepatocellular carcinoma tumor", "adjacent non-tumor liver tissue", "adjacent non-tumor liver tissue"],
     ["hcc_tumour", "hcc_nontumour", "hcc_nontumour"]),
    (["Control", "Healthy obese", "Steatosis", "Nash"], ["healthy", "obese", "NAFL", "NASH"]),
    (["HC", "SS", "NASH"], ["healthy", "NAFL", "NASH"]),
    (["healthy", "acetaminophen-induced liver injury"], ["healthy", "dili"]),
])
def test_liver_vocabulary_in_the_layouts_of_the_catalog_series(values, expected):
    df = pd.DataFrame({"geo_accession": [f"GSM5{i}" for i in range(len(values))],
                       "source_name_ch1": ["liver"] * len(values), "group:ch1": values})
    draft = infer_labels(df, accession="GSE1")
    assert draft.labels["condition"].tolist() == expected

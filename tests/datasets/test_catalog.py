"""The cohort catalog and its label rules, on real series matrices and on format fixtures."""

from __future__ import annotations

import gzip
import logging
import re
from collections import defaultdict
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.datasets import (
    CONDITIONS,
    DISEASES,
    LabelWarning,
    apply_labels,
    catalog,
    cohort_info,
    condition_order,
    label_obs,
    load_catalog,
)
from mgtranscript.datasets import match_author_columns, read_author_counts
from mgtranscript.errors import DataFormatError, InputDataError

from support.paths import REPO


SERIES = "ftp.ncbi.nlm.nih.gov/geo/series"
GSE126848_MATRIX = f"{SERIES}/GSE126nnn/GSE126848/matrix/GSE126848_series_matrix.txt.gz"
GSE126848_COUNTS = f"{SERIES}/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz"
GSE135251_MATRIX = f"{SERIES}/GSE135nnn/GSE135251/matrix/GSE135251_series_matrix.txt.gz"


def parse_series_matrix_obs(path: Path) -> pd.DataFrame:
    """A minimal series-matrix reader: !Sample_* fields + characteristics as snake_case columns."""
    fields: dict[str, list[str]] = {}
    chars: dict[str, dict[int, str]] = defaultdict(dict)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("!series_matrix_table_begin"):
                break
            if not line.startswith("!Sample_"):
                continue
            parts = line.rstrip("\n").split("\t")
            key = parts[0][len("!Sample_"):]
            vals = [v.strip('"') for v in parts[1:]]
            if key.startswith("characteristics"):
                for i, v in enumerate(vals):
                    k, sep, val = v.partition(":")
                    if sep:
                        chars[re.sub(r"[^0-9a-z]+", "_", k.strip().lower()).strip("_")][i] = val.strip()
            else:
                fields.setdefault(key, vals)
    obs = pd.DataFrame(fields)
    for k, d in chars.items():
        obs[k] = pd.Series(d, dtype=object).reindex(range(len(obs)))
    return obs.set_index("geo_accession")


# ------------------------------------------------------------------ the catalog


def test_catalog_lists_the_cohorts():
    cat = catalog()
    for acc in ["GSE126848", "GSE135251", "GSE77314", "GSE142530", "GSE28619", "TCGA-LIHC"]:
        assert acc in cat.index
    assert set(cat["disease_area"]) == {"MASLD", "ALD", "HCC"}
    assert set(cat["technology"]) <= {"rnaseq", "array"}
    assert cat.loc["GSE135251", "n_samples"] == 216
    assert cat.loc["GSE77314", "design"] == "paired"
    assert cat["pmid"].str.fullmatch(r"\d+").all()
    assert cat.loc["GSE126848", "expression_file"] == "GSE126848_Gene_counts_raw.txt.gz"


def test_condition_order_and_info():
    assert condition_order("GSE126848") == ["healthy", "obese", "NAFL", "NASH"]
    assert condition_order("gse77314")[0] == "hcc_nontumour"  # reference first, case-insensitive lookup
    info = cohort_info("GSE142530")
    info["labels"].clear()  # a copy: the catalog is not changed
    assert cohort_info("GSE142530")["labels"]
    for acc in catalog().index:
        for rule in cohort_info(acc)["labels"]:
            assert rule["disease"] in DISEASES and rule["condition"] in CONDITIONS
    with pytest.raises(InputDataError, match="not in the cohort catalog"):
        cohort_info("GSE1")


def test_catalog_validation_rejects_bad_rules(tmp_path):
    good = (REPO / "mgtranscript/data/cohorts.toml").read_text()
    assert load_catalog(None).keys() == load_catalog_from_text(tmp_path, good).keys()
    bad = good.replace('condition = "obese"', 'condition = "overweight"', 1)
    with pytest.raises(DataFormatError, match="overweight"):
        load_catalog_from_text(tmp_path, bad)
    with pytest.raises(DataFormatError, match="TOML"):
        load_catalog_from_text(tmp_path, "[cohorts\n")


def load_catalog_from_text(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return load_catalog(p)


# ------------------------------------------------------------------ real series


def test_gse126848_real_labels(mirror_dir):
    obs = parse_series_matrix_obs(mirror_dir / GSE126848_MATRIX)
    lab = label_obs(obs, "GSE126848")
    assert lab["condition"].value_counts().to_dict() == {"healthy": 14, "obese": 12, "NAFL": 15, "NASH": 16}
    assert list(lab["condition"].cat.categories) == ["healthy", "obese", "NAFL", "NASH"]
    assert lab["disease"].value_counts().to_dict() == {"MASLD": 31, "control": 26}
    # titles agree with the labels (NAFL_n / NASH_n)
    for prefix in ("NAFL", "NASH"):
        sel = obs["title"].str.startswith(prefix + "_")
        assert (lab.loc[sel, "condition"] == prefix).all()
    assert lab["fibrosis_stage"].isna().all() and lab["nas"].isna().all()
    assert (lab["cohort"] == "GSE126848").all()


def test_gse135251_real_labels(mirror_dir):
    obs = parse_series_matrix_obs(mirror_dir / GSE135251_MATRIX)
    lab = label_obs(obs, "GSE135251")
    assert len(lab) == 216 and (lab["condition"] != "unlabelled").all()
    raw_groups = obs["group_in_paper"].value_counts().to_dict()
    assert lab["subgroup"].value_counts().to_dict() == raw_groups
    assert lab["condition"].value_counts().to_dict() == {
        "healthy": raw_groups["control"], "NAFL": raw_groups["NAFL"],
        "NASH": 216 - raw_groups["control"] - raw_groups["NAFL"],
    }
    assert lab["fibrosis_stage"].dtype == float and lab["nas"].dtype == float
    assert lab["fibrosis_stage"].notna().all() and lab["nas"].notna().all()
    assert lab["fibrosis_stage"].between(0, 4).all() and lab["nas"].between(0, 8).all()
    assert lab["fibrosis_stage"].max() == 4 and lab["nas"].max() == 8
    # the NASH_F<k> groups carry their fibrosis stage
    for k in (2, 3, 4):
        assert (lab.loc[lab["subgroup"] == f"NASH_F{k}", "fibrosis_stage"] == k).all()
    assert (lab.loc[lab["condition"] == "healthy", "nas"] == 0).all()


def test_gse77314_sample_sheet_pairs(shared_dir, caplog):
    sheet = pd.read_csv(shared_dir / "samples/GSE77314_SraRunTable.csv").set_index("Sample Name")
    with caplog.at_level(logging.WARNING, logger="mgtranscript.datasets._labels"):
        lab = label_obs(sheet, "GSE77314")
    assert "declared rule" in caplog.text
    assert lab["condition"].value_counts().to_dict() == {"hcc_tumour": 50, "hcc_nontumour": 50}
    assert (lab["disease"] == "HCC").all()
    assert lab["pair_id"].notna().all() and lab["pair_id"].nunique() == 50
    per_pair = lab.groupby("pair_id", observed=True)["condition"].agg(lambda s: tuple(sorted(s)))
    assert (per_pair == ("hcc_nontumour", "hcc_tumour")).all()
    # the k-th normal GSM pairs with the k-th tumour GSM
    num = lab.index.str[3:].astype(int)
    first = lab.assign(num=num).sort_values("num").groupby("pair_id", observed=True)["num"].agg(["min", "max"])
    assert ((first["max"] - first["min"]) == 50).all()


def test_gse77314_subset_has_no_half_pairs(shared_dir):
    sheet = pd.read_csv(shared_dir / "samples/GSE77314_SraRunTable.csv").set_index("Sample Name")
    sub = sheet.drop(index=["GSM2049057"])  # the tumour partner GSM2049107 loses its pair
    lab = label_obs(sub, "GSE77314")
    assert pd.isna(lab.loc["GSM2049107", "pair_id"])
    assert lab["pair_id"].nunique() == 49


def test_real_author_counts_match_gse126848(mirror_dir):
    obs = parse_series_matrix_obs(mirror_dir / GSE126848_MATRIX)
    tab = read_author_counts(mirror_dir / GSE126848_COUNTS, "GSE126848")
    assert tab.counts.shape == (tab.genes.shape[0], 57)
    assert tab.counts.dtypes.map(lambda d: np.issubdtype(d, np.integer)).all()
    assert tab.counts.index[0].startswith("ENSG")
    m = match_author_columns(tab.counts.columns, obs, "GSE126848")
    assert m.notna().all() and m.is_unique and set(m) == set(obs.index)
    # zero-padded column names equal the description: "0869" is the sample with description "869"
    assert obs.loc[m["0869"], "description"] == "869"


# ------------------------------------------------------------------ fixtures (files not in the mirror)


_GSE142530 = (
    [("Control", f"Control_Lille {n}", f"Control_{n}", "Normal") for n in (389, 401, 415, 420, 433, 441, 450, 466,
                                                                          472, 480, 495, 502)]
    + [("AH", f"Severe AH_Lille {n}", f"Severe AH_{n}", "Alcoholic Hepatitis") for n in range(11, 21)]
    + [("Cirr", f"Cirrhosis without AH_Lille {n}", f"Cirrhosis without AH_{n}", "Alcohol-related Cirrhosis")
       for n in (31, 32, 33, 34, 35, 389)]  # 389 repeats a control's number on purpose
)


@pytest.fixture
def gse142530_obs() -> pd.DataFrame:
    return pd.DataFrame(
        {"title": [t for _, _, t, _ in _GSE142530], "disease_state": [d for *_, d in _GSE142530],
         "source_name_ch1": "liver biopsy"},
        index=[f"GSM41{i:05d}" for i in range(len(_GSE142530))],
    )


@pytest.fixture
def gse142530_counts(tmp_path) -> Path:
    """An author table in GSE142530's layout: 2 header rows, ids in 2 columns, one 'not.used' column."""
    names = [long for _, long, _, _ in _GSE142530]
    names[3] = "not.used"  # the fourth control is not usable -> 11 controls
    row1 = ["Ensembl", "Symbol"] + [f"RB_N{i + 1}" for i in range(len(names))]
    row2 = ["", ""] + names
    rng = np.random.default_rng(1)
    genes = [("ENSG00000158158", "CNNM4"), ("ENSG00000092439", "TRPM7"), ("ENSG00000133065", "SLC41A1")]
    body = [[e, s] + [str(v) for v in rng.integers(0, 500, len(names))] for e, s in genes]
    text = "\n".join(",".join(f'"{c}"' if " " in c else c for c in r) for r in [row1, row2, *body]) + "\n"
    path = tmp_path / "GSE142530_Annoted-RNAseq-with-SampleIDs.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def test_gse142530_labels_fixture(gse142530_obs):
    lab = label_obs(gse142530_obs, "GSE142530")
    assert lab["condition"].value_counts().to_dict() == {"normal": 12, "alcoholic_hepatitis": 10,
                                                         "alcohol_cirrhosis": 6}
    assert lab["disease"].value_counts().to_dict() == {"control": 12, "ALD": 16}
    assert list(lab["condition"].cat.categories) == ["normal", "alcohol_cirrhosis", "alcoholic_hepatitis"]
    # titles alone are enough when the characteristic is missing
    lab2 = label_obs(gse142530_obs.drop(columns="disease_state"), "GSE142530")
    pd.testing.assert_series_equal(lab2["condition"], lab["condition"])


def test_gse142530_author_counts_fixture(gse142530_counts, gse142530_obs):
    tab = read_author_counts(gse142530_counts, "GSE142530")
    assert tab.counts.shape == (3, 27)
    assert "not.used" not in tab.counts.columns and len(tab.dropped) == 1
    assert list(tab.genes.columns) == ["Ensembl", "Symbol"]
    assert tab.genes.loc["ENSG00000158158", "Symbol"] == "CNNM4"
    assert tab.header.loc["row1", "Control_Lille 389"] == "RB_N1"
    m = match_author_columns(tab.counts.columns, gse142530_obs, "GSE142530")
    assert m.notna().all() and m.is_unique
    # 389 occurs twice (a control and a cirrhosis) and is told apart by the first word
    assert gse142530_obs.loc[m["Control_Lille 389"], "title"] == "Control_389"
    assert gse142530_obs.loc[m["Cirrhosis without AH_Lille 389"], "title"] == "Cirrhosis without AH_389"
    lab = label_obs(gse142530_obs.loc[m.to_numpy()], "GSE142530")
    assert (lab["condition"] == "normal").sum() == 11


def test_author_counts_format_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("id,a,b\ng1,1,x\n")
    with pytest.raises(DataFormatError, match="non-numeric"):
        read_author_counts(p, {"sep": ","})
    p.write_text("id,a,a\ng1,1,2\n")
    with pytest.raises(DataFormatError, match="twice"):
        read_author_counts(p, {})
    p.write_text("id,a,b\ng1,1,-2\n")
    with pytest.raises(DataFormatError, match="negative"):
        read_author_counts(p, {})


def _write_gse28619_matrix(path: Path) -> None:
    descr = ["Alcoholic hepatitis"] * 15 + ["Normal liver"] * 7
    gsm = [f"GSM7{i:05d}" for i in range(len(descr))]
    titles = [f"AH{i + 1}" for i in range(15)] + [f"Normal{i + 1}" for i in range(7)]
    q = lambda xs: "\t".join(f'"{x}"' for x in xs)  # noqa: E731
    lines = [
        '!Series_geo_accession\t"GSE28619"',
        f"!Sample_title\t{q(titles)}",
        f"!Sample_geo_accession\t{q(gsm)}",
        f"!Sample_source_name_ch1\t{q(['Liver'] * len(gsm))}",
        f"!Sample_characteristics_ch1\t{q(['tissue: liver'] * len(gsm))}",
        f"!Sample_description\t{q(descr)}",
        f"!Sample_platform_id\t{q(['GPL570'] * len(gsm))}",
        "!series_matrix_table_begin",
        f'"ID_REF"\t{q(gsm)}',
        "\t".join(['"1007_s_at"'] + ["7.5"] * len(gsm)),
        "!series_matrix_table_end",
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def test_gse28619_description_fixture(tmp_path):
    path = tmp_path / "GSE28619_series_matrix.txt.gz"
    _write_gse28619_matrix(path)
    obs = parse_series_matrix_obs(path)
    lab = label_obs(obs, "GSE28619")
    assert lab["condition"].value_counts().to_dict() == {"alcoholic_hepatitis": 15, "normal": 7}
    assert lab["disease"].value_counts().to_dict() == {"ALD": 15, "control": 7}


def test_tcga_barcodes():
    bc = ["TCGA-2V-A95S-01A-11R-A37K-07", "TCGA-2V-A95S-11A-11R-A37K-07", "TCGA-BC-A10Q-01A-11R-A131-07",
          "TCGA-DD-A1EG-02A-11R-A131-07", "TCGA-BC-A10Q-10A-01D-A131-01"]
    obs = pd.DataFrame(index=bc)
    with pytest.warns(LabelWarning, match=r"1 of 5 samples.*TCGA-BC-A10Q-10A"):
        lab = label_obs(obs, "TCGA-LIHC")
    # 02 recurrent tumours are kept apart; a blood-derived normal (10) is not liver
    assert list(lab["condition"]) == ["hcc_tumour", "hcc_nontumour", "hcc_tumour", "hcc_recurrent", "unlabelled"]
    assert list(lab["disease"]) == ["HCC", "HCC", "HCC", "HCC", "unlabelled"]
    # only the patient with both an 01 tumour and an 11 normal gets a pair_id
    assert list(lab["pair_id"].astype(object).fillna("-")) == ["TCGA-2V-A95S", "TCGA-2V-A95S", "-", "-", "-"]
    # GDC's sample_type field is used when present
    obs2 = pd.DataFrame({"sample_type": ["Solid Tissue Normal", "Primary Tumor"]}, index=["a", "b"])
    assert list(label_obs(obs2, "TCGA-LIHC")["condition"]) == ["hcc_nontumour", "hcc_tumour"]


# ------------------------------------------------------------------ warnings and AnnData


def test_unknown_value_is_unlabelled_with_warning():
    obs = pd.DataFrame({"disease": ["healthy", "NASH", "steatosis?", "steatosis?"]}, index=list("abcd"))
    with pytest.warns(LabelWarning, match=r"GSE126848: 2 of 4 samples match no label rule.*c: disease='steatosis\?'"):
        lab = label_obs(obs, "GSE126848")
    assert list(lab["condition"]) == ["healthy", "NASH", "unlabelled", "unlabelled"]
    assert list(lab["disease"]) == ["control", "MASLD", "unlabelled", "unlabelled"]
    assert lab["condition"].cat.categories[-1] == "unlabelled"


def test_missing_rule_columns_are_named():
    obs = pd.DataFrame({"foo": ["x"]}, index=["s"])
    with pytest.warns(LabelWarning, match=r"none of the rule columns \['group in paper'\]"):
        label_obs(obs, "GSE135251")


def test_numeric_out_of_range_becomes_nan():
    obs = pd.DataFrame({"group_in_paper": ["NAFL", "NASH_F2"], "fibrosis_stage": ["1", "7"],
                        "nas_score": ["3", "n/a"]}, index=["a", "b"])
    with pytest.warns(LabelWarning, match="outside"):
        lab = label_obs(obs, "GSE135251")
    assert lab["fibrosis_stage"].tolist()[0] == 1.0 and np.isnan(lab["fibrosis_stage"].tolist()[1])
    assert lab["nas"].tolist()[0] == 3.0 and np.isnan(lab["nas"].tolist()[1])


def test_apply_labels_on_anndata(mirror_dir, tmp_path):
    obs = parse_series_matrix_obs(mirror_dir / GSE135251_MATRIX)
    a = ad.AnnData(X=np.zeros((len(obs), 3), dtype=np.float32), obs=obs)
    a.uns["geo"] = {"accession": "GSE135251"}
    raw_disease = a.obs["disease"].copy()
    b = apply_labels(a, copy=True)
    assert "condition" not in a.obs  # copy=True leaves the input alone
    assert b.uns["labels"]["cohort"] == "GSE135251" and b.uns["labels"]["n_unlabelled"] == 0
    assert b.uns["labels"]["condition_counts"]["NAFL"] == 51
    # the series' own "disease" column is kept
    assert (b.obs["disease_source"] == raw_disease).all()
    assert set(b.obs["disease"]) == {"control", "MASLD"}
    assert b.obs["fibrosis_stage"].dtype == float
    # idempotent
    before = b.obs.copy()
    apply_labels(b)
    pd.testing.assert_frame_equal(b.obs, before)
    b.obs.columns = [c.replace("/", "_") for c in b.obs.columns]
    b.write_h5ad(tmp_path / "l.h5ad")
    back = ad.read_h5ad(tmp_path / "l.h5ad")
    assert back.obs["condition"].value_counts()["NASH"] == 155


def test_apply_labels_needs_an_accession():
    a = ad.AnnData(X=np.zeros((2, 1)), obs=pd.DataFrame({"disease": ["healthy", "obese"]}, index=["a", "b"]))
    with pytest.raises(InputDataError, match="accession="):
        apply_labels(a)
    a.obs["cohort"] = "GSE126848"
    apply_labels(a)
    assert list(a.obs["condition"]) == ["healthy", "obese"]
    assert list(a.obs["disease"]) == ["control", "control"]
    # the rules read the series' own "disease" from disease_source: labelling again changes nothing
    apply_labels(a, warn=False)
    assert list(a.obs["condition"]) == ["healthy", "obese"]
    assert list(a.obs["disease_source"]) == ["healthy", "obese"]

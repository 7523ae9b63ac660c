"""Sample sheets joined onto GEO samples (synthetic sheets; the real SRA export in test_geo_mirror)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.datasets._samplesheet import join_sample_sheet, normalise_id, read_sample_sheet
from mgtranscript.errors import InputDataError


def make_adata():
    obs = pd.DataFrame({"title": ["Ctrl_1", "NASH_1", "NASH_2"], "description": ["869", "873", "2683"],
                        "disease": ["healthy", "NASH", "NASH"]},
                       index=["GSM1", "GSM2", "GSM3"])
    return ad.AnnData(np.zeros((3, 0)), obs=obs)


def test_runs_are_collapsed_to_one_row_per_gsm_and_key_is_detected(tmp_path):
    sheet = tmp_path / "SraRunTable.csv"
    sheet.write_text(
        "Run,GEO_Accession (exp),diagnosis,Bytes,disease\n"
        "SRR1,GSM1,Normal,10,none\nSRR2,GSM1,Normal,11,none\n"
        "SRR3,GSM2,Tumor,12,HCC\nSRR4,GSM3,Tumor,13,HCC\n"
    )
    adata = make_adata()
    join_sample_sheet(adata, sheet)
    rep = adata.uns["geo"]["sample_sheet"]
    assert rep["key"] == "GEO_Accession (exp)" and rep["matched_on"] == "gsm"
    assert rep["runs_collapsed"] == 1 and rep["n_samples_matched"] == 3
    assert adata.obs["diagnosis"].tolist() == ["Normal", "Tumor", "Tumor"]
    # differing run values joined with ';'
    assert adata.obs.loc["GSM1", "run"] == "SRR1;SRR2"
    assert adata.obs.loc["GSM1", "bytes"] == "10;11"
    # a clashing name gets the prefix, the GEO column is untouched
    assert adata.obs.loc["GSM2", "sheet_disease"] == "HCC" and adata.obs.loc["GSM2", "disease"] == "NASH"


def test_match_on_description_with_leading_zeros_and_title():
    adata = make_adata()
    sheet = pd.DataFrame({"lib": ["0869", "0873", "2683"], "batch": ["a", "b", "b"]})
    join_sample_sheet(adata, sheet)
    assert adata.uns["geo"]["sample_sheet"]["matched_on"] == "description"
    assert adata.obs["batch"].tolist() == ["a", "b", "b"]
    adata = make_adata()
    sheet = pd.DataFrame({"name": ["nash_2", "ctrl_1"], "age": ["50", "40"]})
    with pytest.warns(UserWarning, match="1 of 3 samples have no row.*GSM2"):
        join_sample_sheet(adata, sheet, samples_key="name")
    assert adata.uns["geo"]["sample_sheet"]["matched_on"] == "title"
    assert adata.obs.loc["GSM3", "age"] == "50" and pd.isna(adata.obs.loc["GSM2", "age"])


def test_duplicated_ids_without_runs_are_refused():
    sheet = pd.DataFrame({"sample": ["GSM1", "GSM1", "GSM2"], "group": ["a", "b", "c"]})
    with pytest.raises(InputDataError, match="GSM1.*more than once"):
        join_sample_sheet(make_adata(), sheet)


def test_no_matching_column_and_unknown_key():
    sheet = pd.DataFrame({"x": ["foo", "bar"]})
    with pytest.raises(InputDataError, match="samples_key"):
        join_sample_sheet(make_adata(), sheet)
    with pytest.raises(InputDataError, match="'nope' is not a column"):
        join_sample_sheet(make_adata(), pd.DataFrame({"gsm": ["GSM1"]}), samples_key="nope")


def test_read_sample_sheet_sniffs_tsv(tmp_path):
    p = tmp_path / "sheet.txt"
    p.write_text("gsm\tgroup, with comma\nGSM1\ta\n")
    df = read_sample_sheet(p)
    assert list(df.columns) == ["gsm", "group, with comma"]
    with pytest.raises(InputDataError, match="does not exist"):
        read_sample_sheet(tmp_path / "missing.csv")


def test_normalise_id():
    assert normalise_id("0869") == normalise_id(869) == normalise_id(" 869 ") == "869"
    assert normalise_id("GSM12") == "gsm12"
    assert normalise_id(np.nan) == ""

"""Series matrix and SOFT parsing on small synthetic files written by the tests."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mgtranscript.datasets._seriesmatrix import (
    parse_series_matrix,
    parse_soft,
    read_series_matrix,
    snake_case,
)
from mgtranscript.errors import DataFormatError

GSMS = ["GSM1", "GSM2", "GSM3"]


def q(values):
    return "\t".join(f'"{v}"' for v in values)


def matrix_text(table_rows=None, *, end=True, gsms=GSMS, header_gsms=None):
    lines = [
        '!Series_title\t"A test series"',
        '!Series_geo_accession\t"GSE999"',
        '!Series_contributor\t"A,,One"',
        '!Series_contributor\t"B,,Two"',
        '!Series_platform_id\t"GPL570"',
        "",
        "!Sample_title\t" + q(["ctrl 1", "NASH 1", "NASH 2"]),
        "!Sample_geo_accession\t" + q(gsms),
        "!Sample_characteristics_ch1\t" + q(["fibrosis stage: 0", "fibrosis stage: 2", "fibrosis stage: 4"]),
        "!Sample_characteristics_ch1\t" + q(["NAS score: 1", "nas score: 5", ""]),
        "!Sample_characteristics_ch1\t" + q(["group in paper: control", "group in paper: NASH_F2", "tissue: liver"]),
        "!Sample_data_processing\t" + q(["step a"] * 3),
        "!Sample_data_processing\t" + q(["step b"] * 3),
        "!Sample_description\t" + q(["0869", "873", "875"]),
        "!Sample_platform_id\t" + q(["GPL570"] * 3),
        "!Sample_contact_zip/postal_code\t" + q(["2970"] * 3),
        "!series_matrix_table_begin",
        q(["ID_REF"] + (header_gsms or gsms)),
    ]
    for row in table_rows or []:
        lines.append("\t".join(row))
    if end:
        lines.append("!series_matrix_table_end")
    return "\n".join(lines) + "\n"


def write(tmp_path, text, name="GSE999_series_matrix.txt.gz"):
    path = tmp_path / name
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


ROWS = [['"p1"', "1.5", "2.5", "3.5"], ['"p2"', "10", "", "null"], ['"p3"', "7", "8", "9"]]


def test_metadata_columns_follow_the_naming_rules(tmp_path):
    rec = parse_series_matrix(write(tmp_path, matrix_text(ROWS)))
    obs = rec.obs
    assert list(obs.index) == GSMS
    assert obs.loc["GSM2", "title"] == "NASH 1"
    # characteristics -> snake_case keys, numeric when all values are numbers
    assert obs["fibrosis_stage"].tolist() == [0, 2, 4]
    assert obs.loc["GSM1", "nas_score"] == 1 and np.isnan(obs.loc["GSM3", "nas_score"])
    assert obs.loc["GSM2", "group_in_paper"] == "NASH_F2"
    # a row whose key differs between samples is split per key
    assert obs.loc["GSM3", "tissue"] == "liver" and obs["tissue"].isna().sum() == 2
    # repeated fields get suffixes, single fields keep their name
    assert obs.loc["GSM1", "data_processing_1"] == "step a"
    assert obs.loc["GSM1", "data_processing_2"] == "step b"
    assert "contact_zip_postal_code" in obs
    # ids stay text (leading zeros kept)
    assert obs.loc["GSM1", "description"] == "0869"
    assert rec.series["title"] == "A test series"
    assert rec.series["contributor"] == ["A,,One", "B,,Two"]
    assert rec.platform_ids == ["GPL570"]


def test_table_values_and_missing_cells(tmp_path):
    rec = parse_series_matrix(write(tmp_path, matrix_text(ROWS)))
    t = rec.table
    assert list(t.columns) == GSMS and list(t.index) == ["p1", "p2", "p3"]
    assert t.loc["p1", "GSM3"] == 3.5
    assert np.isnan(t.loc["p2", "GSM2"]) and np.isnan(t.loc["p2", "GSM3"])


def test_empty_table_means_no_values(tmp_path):
    rec = parse_series_matrix(write(tmp_path, matrix_text([])))
    assert rec.table is None
    adata = read_series_matrix(write(tmp_path, matrix_text([])))
    assert adata.shape == (3, 0)
    assert adata.uns["geo"]["series"]["geo_accession"] == "GSE999"


def test_missing_table_end_is_reported(tmp_path):
    path = write(tmp_path, matrix_text(ROWS, end=False))
    with pytest.raises(DataFormatError, match="series_matrix_table_end.*truncated"):
        parse_series_matrix(path)


def test_ragged_row_names_its_line(tmp_path):
    rows = [ROWS[0], ['"p2"', "10", "11"], ROWS[2]]
    path = write(tmp_path, matrix_text(rows))
    text = gzip.open(path, "rt").read().splitlines()
    bad_line = next(i for i, ln in enumerate(text, 1) if ln.startswith('"p2"'))
    with pytest.raises(DataFormatError, match=f"line {bad_line}: 3 fields .* 4"):
        parse_series_matrix(path)


def test_non_numeric_value_names_the_first_bad_cell(tmp_path):
    rows = [ROWS[0], ['"p2"', "10", "oops", "12"], ['"p3"', "bad", "8", "9"]]
    path = write(tmp_path, matrix_text(rows))
    text = gzip.open(path, "rt").read().splitlines()
    bad_line = next(i for i, ln in enumerate(text, 1) if ln.startswith('"p2"'))
    with pytest.raises(DataFormatError, match=f"line {bad_line}: non-numeric value 'oops' in column 'GSM2', row 'p2'"):
        parse_series_matrix(path)


def test_duplicated_sample_ids_are_refused(tmp_path):
    path = write(tmp_path, matrix_text(ROWS, gsms=["GSM1", "GSM2", "GSM1"]))
    with pytest.raises(DataFormatError, match="duplicated sample ids.*GSM1"):
        parse_series_matrix(path)
    path = write(tmp_path, matrix_text(ROWS, header_gsms=["GSM1", "GSM2", "GSM2"]))
    with pytest.raises(DataFormatError, match="duplicated sample ids in the table header"):
        parse_series_matrix(path)


def test_snake_case():
    assert snake_case("Fibrosis Stage") == "fibrosis_stage"
    assert snake_case("contact_zip/postal_code") == "contact_zip_postal_code"
    assert snake_case("  NAS-score (0-8) ") == "nas_score_0_8"


SOFT = """^DATABASE = GeoMiame
!Database_name = Gene Expression Omnibus (GEO)
^SERIES = GSE998
!Series_title = Soft series
!Series_geo_accession = GSE998
^PLATFORM = GPL1
!Platform_title = toy array
!platform_table_begin
ID\tGene Symbol
a1\tCNNM4
a2\tTRPM7
!platform_table_end
^SAMPLE = GSM10
!Sample_title = healthy liver
!Sample_geo_accession = GSM10
!Sample_characteristics_ch1 = disease: healthy
!Sample_characteristics_ch1 = age: 40
!Sample_platform_id = GPL1
!sample_table_begin
ID_REF\tVALUE
a1\t5.5
a2\t7.25
!sample_table_end
^SAMPLE = GSM11
!Sample_title = NASH liver
!Sample_geo_accession = GSM11
!Sample_characteristics_ch1 = disease: NASH
!Sample_characteristics_ch1 = age: 52
!Sample_platform_id = GPL1
!sample_table_begin
ID_REF\tVALUE
a2\t6.0
a1\t4.0
!sample_table_end
"""


def test_soft_family_samples_and_tables(tmp_path):
    path = tmp_path / "GSE998_family.soft.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(SOFT)
    rec = parse_soft(path)
    assert rec.accession == "GSE998"
    assert list(rec.obs.index) == ["GSM10", "GSM11"]
    assert rec.obs["disease"].tolist() == ["healthy", "NASH"]
    assert rec.obs["age"].tolist() == [40, 52]
    # per-sample tables aligned by ID_REF, whatever their row order
    assert rec.table.loc["a1"].tolist() == [5.5, 4.0]
    assert rec.table.loc["a2"].tolist() == [7.25, 6.0]
    assert rec.platforms["GPL1"]["Gene Symbol"].tolist() == ["CNNM4", "TRPM7"]


def test_soft_truncated_table_is_reported(tmp_path):
    path = tmp_path / "GSE998_family.soft.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(SOFT.rsplit("!sample_table_end", 1)[0])
    with pytest.raises(DataFormatError, match="GSM11.*sample_table_end"):
        parse_soft(path)

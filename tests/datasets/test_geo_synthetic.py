"""geo() end to end on small synthetic series served from a directory mirror."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from mgtranscript import settings
from mgtranscript.datasets._geo import geo, read_count_table
from mgtranscript.errors import DataFormatError, FetchError, InputDataError
from mgtranscript.fetch import _urls as urls


@pytest.fixture
def mirror(tmp_path, cache):
    root = tmp_path / "mirror"
    root.mkdir()
    settings.mirror = root

    def put(url: str, text: str) -> None:
        path = root / urls.mirror_relpath(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(".gz"):
            with gzip.open(path, "wt") as fh:
                fh.write(text)
        else:
            path.write_text(text)

    return put


def q(values):
    return "\t".join(f'"{v}"' for v in values)


def series_matrix(acc, gsms, *, platform="GPL9001", rows=(), titles=None, descriptions=None,
                  seq=False, extra=()):
    titles = titles or [f"sample {g}" for g in gsms]
    lines = [f'!Series_title\t"{acc} test"', f'!Series_geo_accession\t"{acc}"',
             f'!Series_platform_id\t"{platform}"',
             "!Sample_title\t" + q(titles), "!Sample_geo_accession\t" + q(gsms),
             "!Sample_characteristics_ch1\t" + q([f"disease: {'NASH' if i % 2 else 'healthy'}"
                                                  for i in range(len(gsms))]),
             "!Sample_platform_id\t" + q([platform] * len(gsms))]
    if descriptions:
        lines.append("!Sample_description\t" + q(descriptions))
    if seq:
        lines.append("!Sample_library_strategy\t" + q(["RNA-Seq"] * len(gsms)))
    lines.extend(extra)
    lines += ["!series_matrix_table_begin", q(["ID_REF"] + list(gsms))]
    lines += ["\t".join([f'"{r[0]}"'] + [str(v) for v in r[1:]]) for r in rows]
    lines.append("!series_matrix_table_end")
    return "\n".join(lines) + "\n"


ANNOT = """^Annotation
!Annotation_date = Jan 01 2020
!Annotation_platform = GPL9001
#ID = probe id
#Gene symbol = symbol
!platform_table_begin
ID\tGene title\tGene symbol\tGene ID
p1\tcyclin M4\tCNNM4\t26504
p2\tcyclin M4\tCNNM4\t26504
p3\ttwo genes\tMAGT1///TUSC3\t84061///7991
p4\tnothing\t\t
p5\tTRPM7\tTRPM7\t54822
!platform_table_end
"""

ARRAY_ROWS = [
    ("p1", 1000, 2000, 4000, 8000),
    ("p2", 10, 20, 40, 80),
    ("p3", 500, 500, 500, 500),
    ("p4", 300, 300, 300, 300),
    ("p5", 256, 512, 128, 64),
]
GSMS4 = ["GSM101", "GSM102", "GSM103", "GSM104"]


def test_array_series_maps_probes_to_genes_and_logs(mirror):
    mirror(urls.geo_series_matrix_url("GSE1001"), series_matrix("GSE1001", GSMS4, rows=ARRAY_ROWS))
    mirror(urls.gpl_annot_url("GPL9001"), ANNOT)
    adata = geo("GSE1001", harmonise=False)
    assert list(adata.obs_names) == GSMS4
    assert (adata.obs["accession"] == "GSE1001").all()
    assert adata.obs["disease"].tolist() == ["healthy", "NASH", "healthy", "NASH"]
    assert sorted(adata.var_names) == ["CNNM4", "TRPM7"]
    # CNNM4 keeps p1 (highest mean), linear intensities were log2-transformed
    np.testing.assert_allclose(adata[:, "CNNM4"].X.ravel(), np.log2([1000, 2000, 4000, 8000]))
    rep = adata.uns["geo"]["probe_mapping"]
    assert rep["n_probes"] == 5 and rep["n_multi_gene"] == 1 and rep["n_unmapped"] == 1
    assert rep["n_collapsed"] == 1 and rep["n_genes"] == 2
    with pytest.raises(InputDataError, match="GSE1001 is on platform.*GPL9001.*not GPL1"):
        geo("GSE1001", platform="GPL1", harmonise=False)
    assert geo("GSE1001", platform="GPL9001", harmonise=False).n_vars == 2
    assert adata.uns["mgtranscript"]["scale"]["transformed"] is True
    files = adata.uns["geo"]["files"]
    assert files["annotation_GPL9001"]["url"] == urls.gpl_annot_url("GPL9001")
    assert len(files["series_matrix"]["sha256"]) == 64
    assert adata.uns["geo"]["platforms"] == ["GPL9001"]


def test_already_logged_array_is_left_alone_and_full_soft_is_the_fallback(mirror):
    rows = [(r[0], *np.round(np.log2(r[1:]), 3)) for r in ARRAY_ROWS]
    mirror(urls.geo_series_matrix_url("GSE1001"), series_matrix("GSE1001", GSMS4, rows=rows))
    # no annot.gz: the full platform SOFT must be used
    soft = ANNOT.replace("^Annotation", "^PLATFORM = GPL9001").replace("Gene symbol", "GENE_SYMBOL")
    mirror(urls.gpl_full_soft_url("GPL9001"), soft)
    adata = geo("GSE1001", harmonise=False)
    assert adata.uns["mgtranscript"]["scale"]["transformed"] is False
    np.testing.assert_allclose(adata[:, "TRPM7"].X.ravel(), np.round(np.log2([256, 512, 128, 64]), 3))
    assert adata.uns["geo"]["files"]["annotation_GPL9001"]["url"] == urls.gpl_full_soft_url("GPL9001")


def test_multi_platform_series(mirror):
    d = urls.geo_matrix_dir_url("GSE1002")
    mirror(d + "GSE1002-GPL9001_series_matrix.txt.gz",
           series_matrix("GSE1002", ["GSM1", "GSM2"], rows=[("p1", 5, 6), ("p5", 7, 8)]))
    mirror(d + "GSE1002-GPL9002_series_matrix.txt.gz",
           series_matrix("GSE1002", ["GSM3", "GSM4"], platform="GPL9002", rows=[("x1", 5, 6)]))
    mirror(urls.gpl_annot_url("GPL9001"), ANNOT)
    with pytest.raises(InputDataError, match=r"GPL9001.*GPL9002.*platform="):
        geo("GSE1002", harmonise=False)
    adata = geo("GSE1002", platform="GPL9001", harmonise=False)
    assert list(adata.obs_names) == ["GSM1", "GSM2"]
    assert sorted(adata.var_names) == ["CNNM4", "TRPM7"]
    with pytest.raises(InputDataError, match="no series matrix for platform GPL1234"):
        geo("GSE1002", platform="GPL1234", harmonise=False)
    # metadata of incompatible platforms can still be read together
    assert geo("GSE1002", metadata_only=True).n_obs == 4


def test_multi_platform_metadata_is_concatenated(mirror):
    d = urls.geo_matrix_dir_url("GSE1002")
    mirror(d + "GSE1002-GPL9001_series_matrix.txt.gz", series_matrix("GSE1002", ["GSM1", "GSM2"]))
    mirror(d + "GSE1002-GPL9002_series_matrix.txt.gz",
           series_matrix("GSE1002", ["GSM3"], platform="GPL9002"))
    adata = geo("GSE1002", metadata_only=True)
    assert list(adata.obs_names) == ["GSM1", "GSM2", "GSM3"] and adata.n_vars == 0
    assert adata.uns["geo"]["platforms"] == ["GPL9001", "GPL9002"]


SEQ_GSMS = ["GSM201", "GSM202", "GSM203"]


def seq_series(mirror, acc="GSE1003"):
    mirror(urls.geo_series_matrix_url(acc),
           series_matrix(acc, SEQ_GSMS, platform="GPL18573", seq=True,
                         titles=["Ctrl_1", "NASH_1", "NASH_2"], descriptions=["869", "873", "2683"]))


COUNTS = "key\t0869\t0873\t2683\nENSG1\t10\t0\t5\nENSG2\t100\t200\t300\nENSG1\t1\t2\t3\nENSG3\t0\t7\t1\n"


def test_rnaseq_counts_from_supplementary_matched_by_description(mirror):
    seq_series(mirror)
    mirror(urls.geo_suppl_url("GSE1003", "GSE1003_gene_counts.txt.gz"), COUNTS)
    mirror(urls.geo_suppl_url("GSE1003", "GSE1003_readme.txt.gz"), "not a table\n")
    adata = geo("GSE1003", harmonise=False)
    assert list(adata.obs_names) == SEQ_GSMS
    cm = adata.uns["geo"]["column_match"]
    assert cm["rule"] == "description" and cm["n_matched"] == 3
    # duplicated gene id ENSG1 summed, and reported
    counts = pd.DataFrame(adata.layers["counts"], index=adata.obs_names, columns=adata.var_names)
    assert counts.loc["GSM201", "ENSG1"] == 11 and counts.loc["GSM203", "ENSG1"] == 8
    assert adata.uns["geo"]["count_table"]["duplicate_ids"]["examples"] == ["ENSG1"]
    assert adata.uns["geo"]["count_table"]["duplicate_ids"]["rule"] == "sum"
    assert adata.uns["mgtranscript"]["scale"]["X"] == "log2_cpm"
    assert adata.uns["geo"]["source"] == "supplementary"
    assert adata.uns["geo"]["files"]["supplementary"]["url"].endswith("GSE1003_gene_counts.txt.gz")


def test_ncbi_counts_are_preferred(mirror):
    seq_series(mirror)
    mirror(urls.geo_suppl_url("GSE1003", "GSE1003_gene_counts.txt.gz"), COUNTS)
    mirror(urls.ncbi_counts_url("GSE1003"), "GeneID\tGSM201\tGSM202\tGSM203\n1\t5\t6\t7\n2\t8\t9\t10\n")
    adata = geo("GSE1003", harmonise=False)
    assert adata.uns["geo"]["source"] == "ncbi_counts"
    assert adata.uns["geo"]["column_match"]["rule"] == "gsm"
    assert list(adata.var_names) == ["1", "2"]


def test_counts_matching_no_sample_need_a_sample_sheet(mirror):
    seq_series(mirror)
    mirror(urls.geo_suppl_url("GSE1003", "GSE1003_raw_counts.tsv.gz"),
           "gene\tlib_a\tlib_b\tlib_c\nENSG1\t1\t2\t3\nENSG2\t4\t5\t6\n")
    with pytest.raises(DataFormatError, match=r"lib_a.*Ctrl_1.*869.*samples_key"):
        geo("GSE1003", harmonise=False)
    sheet = pd.DataFrame({"gsm": SEQ_GSMS, "library": ["lib_c", "lib_a", "lib_b"],
                          "batch": ["x", "y", "y"]})
    adata = geo("GSE1003", samples=sheet, samples_key="library", harmonise=False)
    assert adata.uns["geo"]["column_match"]["rule"] == "sample sheet column 'library'"
    counts = pd.DataFrame(adata.layers["counts"], index=adata.obs_names, columns=adata.var_names)
    assert counts.loc["GSM201", "ENSG1"] == 3 and counts.loc["GSM202", "ENSG1"] == 1
    assert adata.obs.loc["GSM203", "batch"] == "y"


def test_partial_column_match_warns_and_names_the_unmatched(mirror):
    seq_series(mirror)
    mirror(urls.geo_suppl_url("GSE1003", "GSE1003_counts.csv.gz"),
           "id,0869,0873,9999\nENSG1,1,2,3\nENSG2,4,5,6\n")
    with pytest.warns(UserWarning, match=r"2 of 3 .*'9999'.*GSM203"):
        adata = geo("GSE1003", harmonise=False)
    assert list(adata.obs_names) == ["GSM201", "GSM202"]


def test_rnaseq_without_any_expression_file(mirror):
    seq_series(mirror)
    with pytest.raises(FetchError, match=r"GSE1003_raw_counts_GRCh38.p13_NCBI.tsv.gz.*metadata_only"):
        geo("GSE1003", harmonise=False)
    adata = geo("GSE1003", metadata_only=True)
    assert adata.shape == (3, 0) and adata.obs["title"].tolist() == ["Ctrl_1", "NASH_1", "NASH_2"]


def test_soft_source(mirror):
    soft = ["^SERIES = GSE1004", "!Series_title = soft", "!Series_geo_accession = GSE1004",
            "^PLATFORM = GPL9001", "!platform_table_begin", "ID\tGene Symbol", "p1\tCNNM4",
            "p2\tCNNM4", "p5\tTRPM7", "!platform_table_end"]
    for i, g in enumerate(["GSM1", "GSM2"]):
        soft += [f"^SAMPLE = {g}", f"!Sample_title = s{i}", f"!Sample_geo_accession = {g}",
                 f"!Sample_characteristics_ch1 = disease: {'NASH' if i else 'healthy'}",
                 "!Sample_platform_id = GPL9001", "!sample_table_begin", "ID_REF\tVALUE",
                 f"p1\t{8 + i}", "p2\t1", "p5\t6", "!sample_table_end"]
    mirror(urls.geo_soft_url("GSE1004"), "\n".join(soft) + "\n")
    adata = geo("GSE1004", source="soft", harmonise=False)
    assert list(adata.obs_names) == ["GSM1", "GSM2"]
    assert adata.obs["disease"].tolist() == ["healthy", "NASH"]
    np.testing.assert_allclose(adata[:, "CNNM4"].X.ravel(), [8, 9])
    assert adata.uns["geo"]["source"] == "soft"
    assert adata.uns["geo"]["files"]["soft"]["url"] == urls.geo_soft_url("GSE1004")


def test_bad_arguments():
    with pytest.raises(InputDataError, match="source="):
        geo("GSE1", source="bogus")
    with pytest.raises(Exception, match="not a GEO accession"):
        geo("GSM12")


def test_read_count_table_second_header_row_and_bad_cells(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("ens,symbol,RB_N1,RB_N2\n,,Control_Lille 389,AH_12\nENSG1,CNNM4,5,6\nENSG2,TRPM7,7,8\n")
    df, rep = read_count_table(p)
    assert list(df.columns) == ["RB_N1", "RB_N2"] and df.loc["ENSG2", "RB_N2"] == 8
    assert rep["alt_labels"] == {"RB_N1": "Control_Lille 389", "RB_N2": "AH_12"}
    assert rep["non_numeric_columns_dropped"] == ["symbol"]
    p.write_text("gene\ta\tb\nG1\t1\t2\nG2\t3\tx\nG3\t4\t5\n")
    with pytest.raises(DataFormatError, match=r"'x' in column 'b', row 'G2'"):
        read_count_table(p)

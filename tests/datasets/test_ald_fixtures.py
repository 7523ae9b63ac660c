"""ALD cohorts end to end on small synthetic files in the public formats (none are offline).

GSE142530: series matrix with ``disease state`` and titles ``Control_<id>``, author counts
CSV with a second descriptive header row (``Control_Lille 389``) and a ``not.used`` column.
GSE28619: Affymetrix GPL570 series matrix with the disease in ``!Sample_description`` and a
GPL570 annotation file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mgtranscript import datasets, settings

from support.synthetic_geo import series_matrix, write_gz

GENES = {  # Ensembl id -> symbol (real ids, resolved through the mirror's gene_info)
    "ENSG00000158158": "CNNM4", "ENSG00000092439": "TRPM7", "ENSG00000133065": "SLC41A1",
    "ENSG00000102158": "MAGT1", "ENSG00000124532": "MRS2", "ENSG00000111640": "GAPDH",
}


@pytest.fixture
def ald_mirror(tmp_path, mirror_dir):
    root = tmp_path / "mirror"
    gi = "ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz"
    (root / gi).parent.mkdir(parents=True)
    os.symlink(mirror_dir / gi, root / gi)  # read at run time, never copied into the repo
    settings.mirror = root
    settings.cache_dir = tmp_path / "cache"
    return root


def _gse142530(root: Path) -> None:
    samples = [f"GSM42{i:05d}" for i in range(7)]
    titles = ["Control_389", "Control_391", "Control_402", "Severe AH_12", "Severe AH_15",
              "Cirrhosis without AH_7", "Cirrhosis without AH_9"]
    state = ["Normal"] * 3 + ["Alcoholic Hepatitis"] * 2 + ["Alcohol-related Cirrhosis"] * 2
    base = "ftp.ncbi.nlm.nih.gov/geo/series/GSE142nnn/GSE142530"
    write_gz(root / base / "matrix/GSE142530_series_matrix.txt.gz",
             series_matrix("GSE142530", "GPL16791", samples, titles=titles,
                           characteristics=[[f"disease state: {v}" for v in state]],
                           descriptions=["liver biopsy"] * 7))
    # author counts: RB_N* columns, second header row with the sample names, one unused column
    names = ["Control_Lille 389", "Control_Lille 391", "not.used", "Control_Lille 402",
             "Severe AH_Lille 12", "Severe AH_Lille 15", "Cirrhosis without AH_Lille 7",
             "Cirrhosis without AH_Lille 9"]
    rng = np.random.default_rng(1)
    rows = [",".join(["ENSEMBL_ID", "Symbol"] + [f"RB_N{i + 1}" for i in range(len(names))]),
            ",".join(["", ""] + names)]
    for ens, sym in GENES.items():
        rows.append(",".join([ens, sym] + [str(int(v)) for v in rng.poisson(200, len(names))]))
    write_gz(root / base / "suppl/GSE142530_Annoted-RNAseq-with-SampleIDs.csv.gz", "\n".join(rows) + "\n")


def test_gse142530_counts_match_titles_by_trailing_number_and_labels(ald_mirror):
    _gse142530(ald_mirror)
    ad = datasets.load_cohort("GSE142530", source="suppl")
    assert ad.n_obs == 7  # the not.used column is dropped, every sample matched
    assert "catalog" in ad.uns["geo"]["column_match"]["rule"]
    assert ad.obs["condition"].value_counts().to_dict() == {
        "normal": 3, "alcoholic_hepatitis": 2, "alcohol_cirrhosis": 2}
    assert set(ad.obs.loc[ad.obs["condition"] != "normal", "disease"]) == {"ALD"}
    assert set(ad.obs.loc[ad.obs["condition"] == "normal", "disease"]) == {"control"}
    assert {"CNNM4", "TRPM7", "SLC41A1", "MAGT1"} <= set(ad.var_names)
    # counts of Control_Lille 402 land on the sample titled Control_402
    assert ad.layers["counts"].sum() > 0


def _gse28619(root: Path) -> None:
    samples = [f"GSM7096{i:02d}" for i in range(6)]
    probes = [("1_at", "CNNM4"), ("2_at", "TRPM7"), ("3_at", "SLC41A1"), ("4_at", "MAGT1"),
              ("5_at", "GAPDH"), ("6_at", "GAPDH"), ("7_at", "A1BG /// A2M")]
    rng = np.random.default_rng(2)
    table = [(p, rng.normal(8, 1, len(samples))) for p, _ in probes]
    descr = ["Alcoholic hepatitis"] * 4 + ["Normal liver"] * 2
    write_gz(root / "ftp.ncbi.nlm.nih.gov/geo/series/GSE28nnn/GSE28619/matrix/GSE28619_series_matrix.txt.gz",
             series_matrix("GSE28619", "GPL570", samples, titles=[f"liver {i}" for i in range(6)],
                           characteristics=[["tissue: liver"] * 6], descriptions=descr, table=table))
    annot = ["^Annotation", "!Annotation_platform = GPL570", "!platform_table_begin",
             "ID\tGene title\tGene symbol\tGene ID"]
    annot += [f"{p}\tx\t{s}\t1" for p, s in probes]
    annot += ["!platform_table_end"]
    write_gz(root / "ftp.ncbi.nlm.nih.gov/geo/platforms/GPL570nnn/GPL570/annot/GPL570.annot.gz"
              .replace("GPL570nnn", "GPLnnn"), "\n".join(annot) + "\n")


def test_gse28619_array_labels_from_description_and_probe_collapse(ald_mirror):
    _gse28619(ald_mirror)
    ad = datasets.load_cohort("GSE28619")
    assert ad.obs["condition"].value_counts().to_dict() == {"alcoholic_hepatitis": 4, "normal": 2}
    assert "GAPDH" in ad.var_names and list(ad.var_names).count("GAPDH") == 1  # max-mean probe kept
    assert not any("///" in g for g in ad.var_names)  # multi-gene probes dropped
    assert ad.uns["mgtranscript"]["scale"]["X"]  # already-logged array data detected and recorded

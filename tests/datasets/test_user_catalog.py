"""User catalogs (``--catalog FILE``, ``catalog=``): merged over the bundled one, checked with clear
errors; labels that disagree, rules that match nothing or overlap; what is missing when a cohort's
labels or pairing come from information not given; and a user cohort end to end through
``mgtranscript run --catalog my.toml --cohorts ACC`` on a synthetic series served over HTTP."""

from __future__ import annotations

import pandas as pd
import pytest

from mgtranscript import datasets, settings
from mgtranscript.cli import main
from mgtranscript.datasets import catalog, cohort_info, label_obs, load_catalog, use_catalog
from mgtranscript.errors import CatalogError, LabelsMissing

from support.mirror_server import MirrorServer
from support.synthetic_geo import array_series, gsms, support_files


ENTRY = """
[cohorts.{acc}]
accession = "{acc}"
title = "A user's MASLD series"
disease_area = "MASLD"
platform = "GPL10558"
technology = "array"
data_source = "series matrix"
n_samples = {n}
citation = "Doe J et al. J Hepatol 2030"
pmid = "1"
design = "unpaired"
reference = "healthy"
condition_order = ["healthy", "NASH"]

[cohorts.{acc}.expected]
source = "the paper's Table 1: {h} controls, {s} NASH"
healthy = {h}
NASH = {s}

[[cohorts.{acc}.labels]]
columns = ["disease state"]
equals = "control"
disease = "control"
condition = "healthy"

[[cohorts.{acc}.labels]]
columns = ["disease state"]
equals = "NASH"
disease = "MASLD"
condition = "NASH"
"""


def _catalog(tmp_path, text: str, name: str = "my.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_user_entry_is_merged_over_the_bundled_catalog(tmp_path):
    p = _catalog(tmp_path, ENTRY.format(acc="GSE990001", n=16, h=8, s=8))
    cat = catalog(catalog=p)
    assert "GSE990001" in cat.index and "GSE126848" in cat.index
    assert cat.loc["GSE990001", "catalog_file"] == str(p) and cat.loc["GSE126848", "catalog_file"] == "bundled"
    assert "GSE990001" not in catalog().index  # only within the call
    with use_catalog(p):
        assert cohort_info("GSE990001")["expected"]["NASH"] == 8
    # a user entry replaces a bundled one of the same accession
    replaced = ENTRY.format(acc="GSE126848", n=57, h=30, s=27)
    assert cohort_info("GSE126848", catalog=_catalog(tmp_path, replaced, "r.toml"))["condition_order"] == ["healthy", "NASH"]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('design = "unpaired"', 'design = "unpaired"\nrefrence = "healthy"'),
     r"unknown cohort key 'refrence'; did you mean 'reference'\?"),
    (lambda t: t.replace("NASH = 8", "NASH = 9"), r"expected counts add up to 17, not n_samples = 16"),
    (lambda t: t.replace('equals = "NASH"', 'equals = "NASH"\nregx = "x"'), r"unknown label rule key 'regx'"),
    (lambda t: t.replace('condition = "NASH"\n', 'condition = "MASH"\n'), r"condition must be one of"),
    (lambda t: t.replace("healthy = 8\n", "healty = 8\n"), r"expected count for 'healty'.*did you mean 'healthy'"),
    (lambda t: t.replace('source = "the paper', 'sauce = "the paper'), r"\[expected\] needs a 'source'"),
])
def test_schema_errors_name_the_file_cohort_key_and_fix(tmp_path, edit, message):
    p = _catalog(tmp_path, edit(ENTRY.format(acc="GSE990001", n=16, h=8, s=8)))
    with pytest.raises(CatalogError, match=message):
        load_catalog(p)
    # on the command line: a usage error before any work, exit status 2
    assert main(["datasets", "--catalog", str(p)]) == 2


def test_rules_matching_no_sample_or_overlapping_make_labels_disagree(tmp_path):
    obs = pd.DataFrame({"disease_state": ["control"] * 3 + ["NASH"] * 3}, index=gsms(1, 6))
    typo = ENTRY.format(acc="GSE990001", n=6, h=3, s=3).replace('equals = "NASH"', 'equals = "NASH "\nregex = "x"')
    with pytest.raises(CatalogError, match="exactly one of 'equals' or 'regex'"):
        load_catalog(_catalog(tmp_path, typo))
    nomatch = ENTRY.format(acc="GSE990001", n=6, h=3, s=3).replace('equals = "NASH"', 'equals = "MASH"')
    lab = label_obs(obs, "GSE990001", warn=False, catalog=_catalog(tmp_path, nomatch, "n.toml"))
    check = lab.attrs["label_check"]
    assert check["status"] == "labels disagree"
    assert "rule 2 (disease state == 'MASH' -> NASH) matches no sample" in check["reason"]
    assert check["n_unlabelled"] == 3 and "3 of 6 samples match no label rule" in check["reason"]
    overlap = ENTRY.format(acc="GSE990001", n=6, h=3, s=3) + """
[[cohorts.GSE990001.labels]]
columns = ["disease state"]
regex = "."
disease = "MASLD"
condition = "NASH"
"""
    lab = label_obs(obs, "GSE990001", warn=False, catalog=_catalog(tmp_path, overlap, "o.toml"))
    assert "rule 1 (disease state == 'control' -> healthy) and rule 3" in lab.attrs["label_check"]["reason"]
    assert lab.attrs["label_check"]["status"] == "labels disagree"


@pytest.mark.slow
def test_gse77314_without_its_sample_sheet_says_what_is_missing(mirror_env):
    with pytest.raises(LabelsMissing, match=r"GSE77314: none of its 100 samples can be labelled.*SraRunTable"
                                            r".*--samples GSE77314=SHEET"):
        datasets.load_cohort("GSE77314")
    ad = datasets.load_cohort("GSE77314", labels=False)  # the data, unlabelled, on request
    assert ad.n_obs == 100 and "condition" not in ad.obs


def test_a_paired_cohort_without_its_pairing_column_says_what_is_missing(tmp_path):
    paired = ENTRY.format(acc="GSE990002", n=4, h=2, s=2).replace('design = "unpaired"', 'design = "paired"') + """
[cohorts.GSE990002.pairing]
method = "column"
columns = ["patient"]
"""
    p = _catalog(tmp_path, paired)
    obs = pd.DataFrame({"disease_state": ["control", "control", "NASH", "NASH"]}, index=gsms(1, 4))
    lab = label_obs(obs, "GSE990002", warn=False, catalog=p)
    assert "pairing information is missing: no column ['patient']" in lab.attrs["missing"]
    obs["patient"] = ["a", "b", "a", "b"]
    lab = label_obs(obs, "GSE990002", warn=False, catalog=p)
    assert lab.attrs["missing"] is None and lab["pair_id"].nunique() == 2


@pytest.fixture
def served(tmp_path, mirror_dir):
    root = tmp_path / "mirror"
    support_files(root, mirror_dir, msigdb=True)
    server = MirrorServer(root).start()
    settings.mirror = server.url
    settings.cache_dir = tmp_path / "cache"
    settings.backoff = 0.01
    settings.offline = False
    settings.samples_dir = None
    yield root
    server.stop()


@pytest.mark.slow
def test_a_user_catalog_adds_a_cohort_end_to_end(served, tmp_path):
    groups = ["control"] * 8 + ["NASH"] * 8
    array_series(served, "GSE990001", "GPL10558", gsms(5_000_000, 16), titles=[f"liver {i}" for i in range(16)],
                 characteristics=[[f"disease state: {g}" for g in groups], ["tissue: liver"] * 16],
                 groups=groups, shift={"CNNM4": {"NASH": 1.5}})
    # a bundled cohort whose served series has one control fewer than its source reports
    diag = ["HC"] * 23 + ["SS"] * 20 + ["NASH"] * 19
    array_series(served, "GSE89632", "GPL14951", gsms(6_000_000, 62), titles=[f"s{i}" for i in range(62)],
                 characteristics=[["tissue: liver"] * 62, [f"diagnosis: {d}" for d in diag]], groups=diag)
    my = _catalog(tmp_path, ENTRY.format(acc="GSE990001", n=16, h=8, s=8))
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--catalog", str(my), "--cohorts", "GSE990001", "GSE89632", "GSE76427",
                 "--no-plots", "--permutations", "20", "--no-progress"])
    assert code == 0
    cohorts = pd.read_csv(out / "tables" / "cohorts.tsv", sep="\t").set_index("accession")
    assert cohorts.loc["GSE990001", "status"] == "analysed", cohorts.loc["GSE990001", "reason"]
    assert cohorts.loc["GSE89632", "status"] == "labels disagree"
    assert "healthy 23" in cohorts.loc["GSE89632", "reason"] and "healthy 24" in cohorts.loc["GSE89632", "reason"]
    assert cohorts.loc["GSE76427", "status"] == "unavailable"  # not served: a one-line reason
    assert "\n" not in cohorts.loc["GSE76427", "reason_short"] and len(cohorts.loc["GSE76427", "reason_short"]) <= 120
    counts = pd.read_csv(out / "tables" / "sample_counts.tsv", sep="\t")
    mine = counts[counts.accession == "GSE990001"].set_index("condition")["n"].to_dict()
    assert mine == {"healthy": 8, "NASH": 8}
    comp = pd.read_csv(out / "tables" / "comparisons.tsv", sep="\t")
    cnnm4 = comp[(comp.cohort == "GSE990001") & (comp.feature == "CNNM4") & (comp.group == "NASH")]
    assert len(cnnm4) and (cnnm4["hedges_g"] > 1).all()  # the shift written into the series is found
    prov = (out / "provenance.json").read_text()
    assert str(my) in prov  # the user catalog is an input of the run

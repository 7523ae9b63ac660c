"""The cohorts added to the bundled catalog, each on a synthetic series matrix written by the test
in that series' own GEO layout (characteristics as GEO writes them for it) and served over HTTP:
they load, label with their expected counts, and a mismatched count gives "labels disagree"."""

from __future__ import annotations

import pytest

from mgtranscript import datasets, settings
from mgtranscript.datasets import LabelWarning, cohort_info

from support.mirror_server import MirrorServer
from support.synthetic_geo import array_series, gsms, support_files


def _cells(key: str, values: list[str]) -> list[str]:
    return [f"{key}: {v}" for v in values]


def _layout(acc: str, counts: dict[str, int]):
    """(titles, characteristics lines, group per sample, extra kwargs) in the layout of ``acc``."""
    groups = [g for g, n in counts.items() for _ in range(n)]
    n = len(groups)
    if acc == "GSE48452":  # 'group: Control / Healthy obese / Steatosis / Nash', then histology
        raw = {"healthy": "Control", "obese": "Healthy obese", "NAFL": "Steatosis", "NASH": "Nash"}
        chars = [_cells("group", [raw[g] for g in groups]),
                 _cells("fat", ["5"] * n), _cells("fibrosis", [str(i % 5) for i in range(n)]),
                 _cells("nas", [str(i % 9) for i in range(n)])]
        return [f"liver {i}" for i in range(n)], chars, groups, {}
    if acc == "GSE89632":  # second characteristics line: 'diagnosis: HC / SS / NASH'
        raw = {"healthy": "HC", "NAFL": "SS", "NASH": "NASH"}
        chars = [_cells("gender", ["male" if i % 3 else "female" for i in range(n)]),
                 _cells("diagnosis", [raw[g] for g in groups]),
                 _cells("fibrosis (stage)", [str(i % 5) for i in range(n)]),
                 _cells("nafld activity score", [str(i % 9) for i in range(n)])]
        return [f"{raw[g]}_{i}" for i, g in enumerate(groups)], chars, groups, {}
    if acc == "GSE14520":  # 'Tissue: Liver Tumor Tissue' (some samples write 'tissue:')
        raw = {"hcc_tumour": "Liver Tumor Tissue", "hcc_nontumour": "Liver Non-Tumor Tissue"}
        chars = [[f"{'tissue' if i % 7 == 0 else 'Tissue'}: {raw[g]}" for i, g in enumerate(groups)],
                 _cells("Disease state", ["HCC"] * n), _cells("Individual", [f"Patient {i // 2}" for i in range(n)])]
        return [f"HCC_{i}" for i in range(n)], chars, groups, {"matrix_name": "GSE14520-GPL3921_series_matrix.txt.gz"}
    if acc == "GSE76427":  # third characteristics line: 'tissue: ...'
        raw = {"hcc_tumour": "primary hepatocellular carcinoma tumor",
               "hcc_nontumour": "adjacent non-tumor liver tissue"}
        chars = [_cells("patientid", [f"P{i}" for i in range(n)]), _cells("gender", ["male"] * n),
                 _cells("tissue", [raw[g] for g in groups])]
        return [f"sample {i}" for i in range(n)], chars, groups, {}
    if acc == "GSE36376":  # 'tissue: liver tumor / adjacent non-tumor liver'
        raw = {"hcc_tumour": "liver tumor", "hcc_nontumour": "adjacent non-tumor liver"}
        chars = [_cells("tissue", [raw[g] for g in groups]), _cells("gender", ["M"] * n)]
        return [f"{i}" for i in range(n)], chars, groups, {}
    raise AssertionError(acc)


NEW = ["GSE48452", "GSE89632", "GSE14520", "GSE76427", "GSE36376"]


def _expected(acc: str) -> dict[str, int]:
    exp = cohort_info(acc)["expected"]
    return {k: v for k, v in exp.items() if k not in ("source", "by", "enforce", "note")}


@pytest.fixture
def synthetic(tmp_path, mirror_dir):
    root = tmp_path / "mirror"
    support_files(root, mirror_dir)
    server = MirrorServer(root).start()
    settings.mirror = server.url
    settings.cache_dir = tmp_path / "cache"
    settings.offline = False
    yield root
    server.stop()


def _write(root, acc, counts, start=7_000_000):
    titles, chars, groups, kw = _layout(acc, counts)
    platform = cohort_info(acc)["platform"]
    array_series(root, acc, platform, gsms(start, len(groups)), titles=titles, characteristics=chars,
                 groups=groups, **kw)
    return groups


def test_every_bundled_entry_cites_expected_counts_that_add_up():
    for acc in datasets.catalog().index:
        info = cohort_info(acc)
        exp = info["expected"]
        assert len(exp["source"]) > 20, acc  # a real citation, not a placeholder
        assert sum(_expected(acc).values()) == info["n_samples"], acc
    for acc in NEW:
        assert cohort_info(acc)["confidence"]  # how sure the entry is, said in the entry


@pytest.mark.parametrize("acc", NEW)
def test_new_entry_loads_and_labels_with_its_expected_counts(synthetic, acc):
    expected = _expected(acc)
    groups = _write(synthetic, acc, expected)
    ad = datasets.load_cohort(acc)
    assert ad.n_obs == len(groups)
    assert ad.obs["condition"].astype(str).value_counts().to_dict() == expected
    check = ad.uns["labels"]["check"]
    assert check["status"] == "ok", check["reason"]
    assert {"CNNM4", "TRPM7", "MAGT1"} <= set(ad.var_names)  # probes mapped through the platform annotation
    if acc in ("GSE48452", "GSE89632"):
        assert ad.obs["fibrosis_stage"].notna().all() and ad.obs["nas"].between(0, 8).all()
        assert set(ad.obs.loc[ad.obs["condition"].isin(["healthy", "obese"]), "disease"]) == {"control"}
    else:
        assert set(ad.obs["disease"]) == {"HCC"}


def test_gse14520_loads_only_its_gpl3921_matrix(synthetic):
    _write(synthetic, "GSE14520", _expected("GSE14520"))
    # a second platform's matrix in the same folder: the entry's [load] platform picks GPL3921
    titles, chars, groups, _ = _layout("GSE14520", {"hcc_tumour": 3, "hcc_nontumour": 3})
    array_series(synthetic, "GSE14520", "GPL571", gsms(9_000_000, 6), titles=titles, characteristics=chars,
                 groups=groups, matrix_name="GSE14520-GPL571_series_matrix.txt.gz")
    ad = datasets.load_cohort("GSE14520")
    assert ad.n_obs == 445 and ad.uns["geo"]["platforms"] == ["GPL3921"]
    assert ad.uns["labels"]["check"]["status"] == "ok"


def test_a_mismatched_count_gives_labels_disagree_with_both_counts(synthetic):
    counts = dict(_expected("GSE48452"), NASH=17)  # one NASH biopsy fewer than the paper reports
    _write(synthetic, "GSE48452", counts)
    with pytest.warns(LabelWarning, match="labels disagree"):
        ad = datasets.load_cohort("GSE48452")
    check = ad.uns["labels"]["check"]
    assert check["status"] == "labels disagree"
    assert "NASH 17" in check["reason"] and "NASH 18" in check["reason"]
    assert check["observed"]["NASH"] == 17 and check["expected"]["NASH"] == 18

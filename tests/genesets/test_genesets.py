"""mgtranscript.genesets: loading specs, GMT/GMX parsing, MSigDB via the fetch layer, matching."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from mgtranscript import genesets, settings
from mgtranscript.errors import AccessionNotFound, GeneSetError, InputDataError, OfflineError
from mgtranscript.genesets import GeneSetCoverageWarning, GeneSets

COVERAGE_COLUMNS = ["n_genes", "n_matched", "n_resolved_by_alias", "n_missing", "final_size",
                    "kept", "reason", "matched", "missing", "resolved"]


def _match(*args, **kw):
    """match() with coverage warnings silenced (tests that check warnings call it directly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeneSetCoverageWarning)
        return genesets.match(*args, **kw)


# ----------------------------------------------------------------- bundled specs


def test_magnesium_spec_is_liver_scope_and_all_adds_renal():
    liver = genesets.load("magnesium")
    everything = genesets.load("magnesium:all")
    assert genesets.DEFAULT_SET == "MG_LIVER_CORE" and "MG_LIVER_CORE" in liver
    assert "MG_RENAL" not in liver and "MG_RENAL" in everything
    assert set(liver) < set(everything)
    assert list(liver.meta.columns[:4]) == ["source", "description", "n_genes", "direction"]
    assert liver.meta.at["MG_INFLUX_ALL", "direction"] == "influx"
    assert liver.meta.at["MG_EFFLUX_ALL", "direction"] == "efflux"
    assert liver.meta.at["MG_LIVER_CORE", "n_genes"] == len(liver["MG_LIVER_CORE"])
    assert liver.version == genesets.bundled_version()
    assert all(isinstance(g, tuple) for g in liver.values())


def test_named_subsets_in_given_order_case_insensitive():
    gs = genesets.load("magnesium:mg_renal, MG_LIVER_CORE")
    assert list(gs) == ["MG_RENAL", "MG_LIVER_CORE"]
    assert gs.spec == "magnesium:mg_renal, MG_LIVER_CORE"


def test_unknown_bundled_subset_lists_valid_names():
    with pytest.raises(GeneSetError, match=r"MG_NOPE.*MG_LIVER_CORE.*MG_RENAL"):
        genesets.load("magnesium:MG_NOPE")


def test_bundled_version_mismatch_is_an_error():
    assert genesets.load("magnesium", version=genesets.bundled_version())
    with pytest.raises(GeneSetError, match="bundled"):
        genesets.load("magnesium", version="0.0.1")


def test_unknown_spec_lists_msigdb_names():
    with pytest.raises(GeneSetError, match=r"hallmark.*c5\.bp"):
        genesets.load("keggish")
    with pytest.raises(GeneSetError, match="does not exist"):
        genesets.load("no/such/file.gmt")


def test_gene_sets_dir_setting_overrides_the_bundled_folder(tmp_path):
    (tmp_path / "magnesium.gmt").write_text("MG_LIVER_CORE\tx; direction=influx; scope=liver\tAAA\tBBB\n")
    (tmp_path / "VERSION").write_text("9.9.9\n")
    settings.gene_sets_dir = tmp_path
    gs = genesets.load("magnesium")
    assert gs["MG_LIVER_CORE"] == ("AAA", "BBB") and gs.version == "9.9.9"
    settings.gene_sets_dir = tmp_path / "missing"
    with pytest.raises(GeneSetError, match="pip install -e"):
        genesets.load("magnesium")


def test_mg_gene_table_returns_a_copy():
    t = genesets.mg_gene_table()
    t.loc[0, "symbol"] = "CHANGED"
    assert genesets.mg_gene_table().loc[0, "symbol"] != "CHANGED"


# ----------------------------------------------------------------- files and objects


def test_gmt_roundtrip_keeps_names_genes_and_descriptions(tmp_path):
    gs = genesets.load("magnesium:all")
    back = genesets.read_gmt(gs.to_gmt(tmp_path / "out.gmt"))
    assert dict(back) == dict(gs)
    assert (back.meta["description"] != "").all()
    gz = tmp_path / "out.gmt.gz"
    gz.write_bytes(gzip.compress((tmp_path / "out.gmt").read_bytes()))
    assert dict(genesets.load(str(gz))) == dict(gs)


def test_gmt_tolerates_crlf_blank_lines_and_duplicate_genes(tmp_path):
    p = tmp_path / "x.gmt"
    p.write_bytes(b"A\tdesc\tG1\tG2\tG1\t\r\n\r\nB\t\tG3 \r\n")
    gs = genesets.read_gmt(p)
    assert dict(gs) == {"A": ("G1", "G2"), "B": ("G3",)}


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("A\td\tG1\nB\tdesc only\n", r"line 2 \(set 'B'\) has no genes"),
        ("A\td\tG1\nC\td\tG2\nA\td\tG3\n", r"'A' is duplicated \(lines 1 and 3\)"),
        ("", "empty"),
        ("\n\n", "empty"),
        ("A d G1 G2\n", "not tab-separated"),
    ],
)
def test_gmt_errors_name_the_problem(tmp_path, content, pattern):
    p = tmp_path / "bad.gmt"
    p.write_text(content)
    with pytest.raises(GeneSetError, match=pattern):
        genesets.read_gmt(p)


def test_gmt_missing_file(tmp_path):
    with pytest.raises(GeneSetError, match="does not exist"):
        genesets.read_gmt(tmp_path / "nope.gmt")


def test_gmx_columns_are_sets(tmp_path):
    p = tmp_path / "x.gmx"
    p.write_text("A\tB\nda\tdb\nG1\tG3\nG2\t\n")
    gs = genesets.load(p)
    assert dict(gs) == {"A": ("G1", "G2"), "B": ("G3",)}
    assert gs.meta.at["B", "description"] == "db"
    p.write_text("A\tB\nda\tdb\nG1\t\n")
    with pytest.raises(GeneSetError, match=r"set 'B'\) has no genes"):
        genesets.read_gmx(p)


def test_dict_dataframe_and_geneset_specs():
    d = genesets.load({"S1": ["TRPM7", " CNNM4 ", "TRPM7"], "S2": np.array(["MRS2"])})
    assert d["S1"] == ("TRPM7", "CNNM4") and d["S2"] == ("MRS2",)
    long = pd.DataFrame({"set": ["S1", "S1", "S2"], "gene": ["A", "B", "C"],
                         "direction": ["influx", "influx", "efflux"]})
    t = genesets.load(long)
    assert dict(t) == {"S1": ("A", "B"), "S2": ("C",)}
    assert t.meta.at["S2", "direction"] == "efflux"
    assert genesets.load(t) is t
    assert t.to_long().equals(long[["set", "gene"]])
    with pytest.raises(GeneSetError, match="lacks column"):
        genesets.load(pd.DataFrame({"name": ["S"], "symbol": ["A"]}))
    with pytest.raises(GeneSetError, match="no genes"):
        genesets.load({"S1": []})
    with pytest.raises(GeneSetError, match="single string"):
        genesets.load({"S1": "TRPM7"})
    with pytest.raises(GeneSetError, match="cannot load"):
        genesets.load(42)


def test_to_long_columns_give_decoupler_format_and_load_back(caplog):
    gs = genesets.load("magnesium")
    long = gs.to_long()
    assert list(long.columns) == ["set", "gene"]  # the default is unchanged
    net = gs.to_long(columns=("source", "target"))
    assert list(net.columns) == ["source", "target"]
    assert net.rename(columns={"source": "set", "target": "gene"}).equals(long)
    assert len(net) == int(gs.meta["n_genes"].sum())
    back = genesets.load(net)  # a decoupler network is read as source -> set, target -> gene
    assert dict(back) == dict(gs)
    assert (back.meta["source"] == "table").all()  # 'source' named the sets, not provenance
    # decoupler adds weight = 1: fine; other weights cannot be honoured and are reported
    assert dict(genesets.load(net.assign(weight=1.0))) == dict(gs)
    assert "weight" not in caplog.text
    signed = net.assign(weight=np.where(np.arange(len(net)) % 2, -1.0, 1.0))
    with caplog.at_level("WARNING", logger="mgtranscript.genesets._sets"):
        genesets.load(signed)
    assert "weight" in caplog.text and "unweighted" in caplog.text
    # set/gene win over source/target; explicit names win over both
    both = long.assign(source="MSigDB", target="x")
    t = GeneSets.from_long(both)
    assert dict(t) == dict(gs) and (t.meta["source"] == "MSigDB").all()
    custom = GeneSets.from_long(net.rename(columns={"source": "pathway"}), set_col="pathway", gene_col="target")
    assert dict(custom) == dict(gs)
    for bad in (("set",), ("set", "set"), "source", ("set", "")):
        with pytest.raises(GeneSetError, match="two distinct column names"):
            gs.to_long(columns=bad)
    with pytest.raises(GeneSetError, match="source.*target"):
        genesets.load(pd.DataFrame({"name": ["S"], "symbol": ["A"]}))


def test_subset_and_combine():
    gs = genesets.load("magnesium:all")
    with pytest.raises(GeneSetError, match="valid names"):
        gs.subset(["MG_LIVER_CORE", "NOPE"])
    both = genesets.combine("magnesium:MG_LIVER_CORE", {"OTHER": ["A"]})
    assert list(both) == ["MG_LIVER_CORE", "OTHER"]
    assert both.meta.at["MG_LIVER_CORE", "direction"] == "mixed"
    with pytest.raises(GeneSetError, match="more than one input"):
        genesets.combine("magnesium", "magnesium:MG_LIVER_CORE")


# ----------------------------------------------------------------- MSigDB through the fetch layer


def test_hallmark_from_the_mirror(mirror_env):
    h = genesets.load("hallmark")
    assert len(h) == 50 and h.version == "7.0"
    assert h.source == "MSigDB h.all v7.0"
    assert "HALLMARK_DNA_REPAIR" in h and len(h["HALLMARK_DNA_REPAIR"]) > 100
    assert dict(genesets.msigdb("h.all", version="7.0")) == dict(h)
    sub = genesets.load("hallmark:HALLMARK_DNA_REPAIR,HALLMARK_HYPOXIA")
    assert list(sub) == ["HALLMARK_DNA_REPAIR", "HALLMARK_HYPOXIA"]
    # the liver-claims mechanism sets exist under their exact names
    for name in ["HALLMARK_UNFOLDED_PROTEIN_RESPONSE", "HALLMARK_OXIDATIVE_PHOSPHORYLATION",
                 "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION", "HALLMARK_INTERFERON_GAMMA_RESPONSE"]:
        assert name in h


def test_c5_bp_defaults_to_release_6_2_and_covers_mg_transporters(mirror_env):
    bp = genesets.msigdb("c5.bp")
    assert bp.version == "6.2" and len(bp) > 4000
    go = set(bp["GO_MAGNESIUM_ION_TRANSMEMBRANE_TRANSPORT"])
    ours = set(genesets.mg_gene_table()["symbol"])
    # GO's Mg transporters are in the curated table, except the two palmitoyl-
    # transferases (ZDHHC13/17, HIP14 family) the project does not curate
    assert go - ours <= {"ZDHHC13", "ZDHHC17"}
    assert len(go & ours) >= 12


def test_msigdb_errors(mirror_env):
    with pytest.raises(GeneSetError, match=r"unknown MSigDB collection.*hallmark"):
        genesets.msigdb("kegg")
    with pytest.raises(AccessionNotFound, match="release 1.0"):
        genesets.msigdb("hallmark", version="1.0")
    settings.offline = True
    with pytest.raises(OfflineError):
        genesets.msigdb("c5.mf", version="6.2")  # not in the cache


# ----------------------------------------------------------------- match


def test_match_indices_and_coverage_contract():
    genes = ["MRS2", "X1", "TRPM7", "CNNM4", "X2", "SLC41A1"]
    idx, cov = genesets.match("magnesium:MG_LIVER_CORE,MG_PM_INFLUX,MG_EFFLUX_EXCHANGE", genes)
    assert list(cov.columns) == COVERAGE_COLUMNS
    assert cov.index.name == "set"
    np.testing.assert_array_equal(idx["MG_LIVER_CORE"], [0, 2, 3, 5])
    np.testing.assert_array_equal(idx["MG_PM_INFLUX"], [2])  # small sets are kept
    assert all(v.dtype.kind == "i" for v in idx.values())
    row = cov.loc["MG_LIVER_CORE"]
    assert row.n_genes == row.n_matched + row.n_resolved_by_alias + row.n_missing == 13
    assert row.final_size == 4 and row.kept and row.reason == ""
    assert set(row.matched.split(";")) == {"MRS2", "TRPM7", "CNNM4", "SLC41A1"}
    assert "MAGT1" in row.missing.split(";")


def test_alias_resolution_both_directions_is_reported():
    # an old GMT (ACDP4) against current data; current sets against data that use EMC5
    idx, cov = _match({"OLD": ["ACDP4", "TRPM7"]}, ["CNNM4", "TRPM7"], gene_info=False)
    np.testing.assert_array_equal(idx["OLD"], [0, 1])
    assert cov.at["OLD", "resolved"] == "ACDP4->CNNM4"
    assert cov.at["OLD", "n_resolved_by_alias"] == 1 and cov.at["OLD", "n_missing"] == 0
    idx, cov = _match("magnesium:MG_LIVER_CORE", ["GAPDH", "EMC5", "CNNM4"], gene_info=False)
    np.testing.assert_array_equal(idx["MG_LIVER_CORE"], [1, 2])
    assert cov.at["MG_LIVER_CORE", "resolved"] == "MMGT1->EMC5"
    # switched off: only exact matches
    idx, cov = _match({"OLD": ["ACDP4", "TRPM7"]}, ["CNNM4", "TRPM7"], resolve_aliases=False)
    np.testing.assert_array_equal(idx["OLD"], [1])
    assert cov.at["OLD", "missing"] == "ACDP4"


def test_alias_rules_with_a_gene_info_table():
    gi = pd.DataFrame({
        "symbol": ["AAA", "BBB", "CCC", "DDD"],
        "synonyms": ["OLDA|SHARED", "SHARED", "BBB|OLDC", np.nan],
    })
    data = ["AAA", "BBB", "CCC", "DDD"]
    idx, cov = _match({"S": ["OLDA", "SHARED", "OLDC", "ZZZ"]}, data, gene_info=gi)
    # OLDA -> AAA, OLDC -> CCC; SHARED is ambiguous and never used
    np.testing.assert_array_equal(idx["S"], [0, 2])
    assert cov.at["S", "resolved"] == "OLDA->AAA;OLDC->CCC"
    assert set(cov.at["S", "missing"].split(";")) == {"SHARED", "ZZZ"}
    # BBB is CCC's synonym but BBB's own current symbol: never re-routed to CCC
    with pytest.raises(GeneSetError):
        genesets.match({"S": ["BBB"]}, ["CCC", "DDD"], gene_info=gi)


def test_gene_info_synonyms_rescue_outdated_hallmark_symbols(mirror_env):
    from mgtranscript.datasets import load_gene_info

    gi = load_gene_info()
    data = gi.table["symbol"].dropna().drop_duplicates().tolist()
    _, plain = _match("hallmark", data, gene_info=False)
    _, rescued = _match("hallmark", data, gene_info=gi)
    assert plain["n_resolved_by_alias"].sum() == 0
    n = int(rescued["n_resolved_by_alias"].sum())
    assert n >= 20
    assert rescued["n_missing"].sum() == plain["n_missing"].sum() - n
    assert rescued.attrs["alias_sources"] == ["bundled magnesium table", "NCBI gene_info"]
    # every resolution is backed by NCBI: the set gene is a synonym of the data gene
    syn = gi.table.set_index("symbol")["synonyms"].dropna()
    syn = syn[~syn.index.duplicated()]
    pairs = [p.split("->") for s in rescued["resolved"] if s for p in s.split(";")]
    assert pairs and all(old in syn[new].split("|") for old, new in pairs)


def test_no_overlap_error_explains_ensembl_vs_symbols():
    with pytest.raises(GeneSetError, match=r"ENSG00000000003.*TRPM7.*look like Ensembl gene ids"):
        genesets.match("magnesium", ["ENSG00000000003", "ENSG00000000005", "ENSG00000092439"])
    with pytest.raises(InputDataError):
        genesets.match("magnesium", [])


def test_dropped_sets_are_named_in_warnings():
    genes = ["TRPM7", "CNNM4", "SLC41A1", "MRS2"]
    with pytest.warns(GeneSetCoverageWarning, match="MG_CNNM_REGULATORS"):
        idx, cov = genesets.match("magnesium", genes)
    assert "MG_CNNM_REGULATORS" not in idx
    assert cov.at["MG_CNNM_REGULATORS", "reason"] == "no overlap"
    assert not cov.at["MG_CNNM_REGULATORS", "kept"]
    with pytest.warns(GeneSetCoverageWarning, match=r"min_size=2.*MG_PM_INFLUX \(1 genes\)"):
        idx, cov = genesets.match("magnesium:MG_LIVER_CORE,MG_PM_INFLUX", genes, min_size=2)
    assert list(idx) == ["MG_LIVER_CORE"]
    assert cov.at["MG_PM_INFLUX", "reason"] == "below min_size"
    with pytest.warns(GeneSetCoverageWarning, match="MG_LIVER_CORE"):
        idx, cov = genesets.match("magnesium:MG_LIVER_CORE,MG_PM_INFLUX", genes, max_size=3)
    assert cov.at["MG_LIVER_CORE", "reason"] == "above max_size"
    with pytest.raises(GeneSetError, match="relax"):
        _match("magnesium:MG_PM_INFLUX", genes, min_size=5)
    with pytest.raises(GeneSetError, match="max_size"):
        genesets.match("magnesium", genes, min_size=3, max_size=2)


def test_duplicated_data_genes_use_first_occurrence():
    idx, cov = _match({"S": ["B", "A"]}, ["A", "B", "A", "C"])
    np.testing.assert_array_equal(idx["S"], [0, 1])
    assert cov.at["S", "final_size"] == 2


def test_match_agrees_with_a_plain_python_reference_on_many_sets():
    rng = np.random.default_rng(1)
    universe = np.array([f"G{i}" for i in range(3000)], dtype=object)
    genes = list(universe[rng.permutation(3000)[:2000]])
    sets = {f"S{i}": list(universe[rng.choice(3000, rng.integers(1, 60), replace=False)])
            for i in range(400)}
    idx, cov = _match(sets, genes, resolve_aliases=False)
    pos = {g: i for i, g in enumerate(genes)}
    for name, members in sets.items():
        expected = sorted({pos[g] for g in members if g in pos})
        assert cov.at[name, "final_size"] == len(expected)
        if expected:
            np.testing.assert_array_equal(idx[name], expected)
        else:
            assert name not in idx


def test_load_without_an_argument_is_the_bundled_magnesium_sets():
    assert dict(genesets.load()) == dict(genesets.load("magnesium"))

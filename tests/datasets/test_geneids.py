"""Gene-id harmonisation against NCBI gene_info (real 2020 snapshot via the mirror + small fixtures)."""

from __future__ import annotations

import gzip
import hashlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mgtranscript import settings
from mgtranscript.datasets import (
    GeneInfo,
    ensure_symbols,
    harmonise_ids,
    harmonise_var,
    load_gene_info,
)
from mgtranscript.errors import DataFormatError, InputDataError
from mgtranscript.fetch import _urls as urls

GENE_INFO_REL = "ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz"
GSE126848_COUNTS = "ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz"
GSE77314_COUNTS = "www.ncbi.nlm.nih.gov/geo/download/GSE77314/GSE77314_raw_counts_GRCh38.p13_NCBI.tsv.gz"


@pytest.fixture(scope="module")
def real_gi(mirror_server, tmp_path_factory) -> GeneInfo:
    """The real gene_info, fetched through mgtranscript.fetch from the local mirror server."""
    with settings.override(mirror=mirror_server.url, cache_dir=tmp_path_factory.mktemp("gicache"), offline=False):
        gi = load_gene_info()
        assert load_gene_info() is gi  # memoised: the second call does not re-parse
        harmonise_default = harmonise_ids(["ACDP4"])  # the default GeneInfo is this one
        assert harmonise_default["symbol"].iloc[0] == "CNNM4"
        return gi


# a tiny gene_info in NCBI's format with known clashes
_TINY = [
    # GeneID Symbol Synonyms dbXrefs type
    ("1", "AAA1", "OLD1|SHARED|BBB2", "HGNC:HGNC:1|Ensembl:ENSG00000000001", "protein-coding"),
    ("2", "BBB2", "OLD2|SHARED", "HGNC:HGNC:2|Ensembl:ENSG00000000002", "protein-coding"),
    ("3", "CCC3", "-", "Ensembl:ENSG00000000003", "ncRNA"),
    ("4", "LOC4", "-", "Ensembl:ENSG00000000003", "protein-coding"),  # Ensembl id shared with CCC3
    ("5", "DDD5", "c5orf9", "HGNC:HGNC:5|Ensembl:ENSG00000000005|Ensembl:ENSG00000000055", "protein-coding"),
]


@pytest.fixture
def tiny_gi(tmp_path) -> GeneInfo:
    header = ("#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\tchromosome\tmap_location\tdescription\t"
              "type_of_gene\tSymbol_from_nomenclature_authority\tFull_name_from_nomenclature_authority\t"
              "Nomenclature_status\tOther_designations\tModification_date\tFeature_type\n")
    lines = [f"9606\t{g}\t{s}\t-\t{syn}\t{x}\t1\t1p\tdesc\t{t}\t-\t-\t-\t-\t20200101\t-\n" for g, s, syn, x, t in _TINY]
    path = tmp_path / "tiny.gene_info.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(header + "".join(lines))
    return GeneInfo.from_file(path)


# ------------------------------------------------------------------ rules on a fixture


def test_rules_on_fixture_table(tiny_gi):
    m = tiny_gi.map_ids(["OLD1", "SHARED", "BBB2", "ENSG00000000003.7", "ENSG00000000055", "5", "c5orf9",
                         "C5ORF9", "aaa1", "NOPE", "999"])
    assert m.loc["OLD1", "symbol"] == "AAA1" and m.loc["OLD1", "how"] == "synonym"
    # a synonym two genes claim is not guessed
    assert pd.isna(m.loc["SHARED", "symbol"]) and m.loc["SHARED", "how"] == "unmapped"
    assert bool(m.loc["SHARED", "ambiguous"])
    # a current symbol wins over another gene's synonym
    assert m.loc["BBB2", "symbol"] == "BBB2" and m.loc["BBB2", "how"] == "symbol"
    # version stripped; an Ensembl id shared by two records goes to the protein-coding one
    assert m.loc["ENSG00000000003.7", "symbol"] == "LOC4"
    assert m.loc["ENSG00000000003.7", "ensembl"] == "ENSG00000000003"
    assert m.loc["ENSG00000000055", "symbol"] == "DDD5"  # second Ensembl xref of a gene
    assert m.loc["5", "symbol"] == "DDD5" and m.loc["5", "how"] == "entrez"
    assert m.loc["c5orf9", "symbol"] == "DDD5" and m.loc["C5ORF9", "symbol"] == "DDD5"
    assert m.loc["aaa1", "symbol"] == "AAA1"
    assert m.loc["NOPE", "how"] == "unmapped" and not m.loc["NOPE", "ambiguous"]
    assert m.loc["999", "how"] == "unmapped" and m.loc["999", "id_type"] == "entrez"


def test_map_ids_keeps_order_and_duplicates(tiny_gi):
    ids = ["BBB2", "OLD1", "BBB2", "NOPE"]
    m = tiny_gi.map_ids(ids)
    assert list(m.index) == ids
    assert list(m["original_id"]) == ids
    assert list(m["symbol"].fillna("-")) == ["BBB2", "AAA1", "BBB2", "-"]
    assert list(m["gene_id"].fillna("-")) == ["2", "1", "2", "-"]


def test_forced_id_type(tiny_gi):
    # "5" as a symbol is not a gene; as entrez it is DDD5
    assert tiny_gi.map_ids(["5"], id_type="symbol")["how"].iloc[0] == "unmapped"
    assert tiny_gi.map_ids(["5"], id_type="entrez")["symbol"].iloc[0] == "DDD5"
    with pytest.raises(InputDataError, match="id_type"):
        tiny_gi.map_ids(["5"], id_type="refseq")


def test_bad_gene_info_file(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("a\tb\n1\t2\n")
    with pytest.raises(DataFormatError, match="gene_info"):
        GeneInfo.from_file(p)


# ------------------------------------------------------------------ real gene_info


def test_real_old_symbols_resolve(real_gi):
    m = real_gi.map_ids(["ACDP4", "TMEM32", "EMC5", "CHAK", "MgtE", "CNNM4", "cnnm4", "ENSG00000158158.12", "26504"])
    assert m.loc["ACDP4", "symbol"] == "CNNM4" and m.loc["ACDP4", "how"] == "synonym"
    # the 2020 snapshot lists both TMEM32 and EMC5 as synonyms of MMGT1
    assert m.loc["TMEM32", "symbol"] == "MMGT1" and m.loc["EMC5", "symbol"] == "MMGT1"
    assert m.loc["CHAK", "symbol"] == "TRPM7"
    assert m.loc["MgtE", "symbol"] == "SLC41A1"
    assert set(m.loc[["CNNM4", "cnnm4", "ENSG00000158158.12", "26504"], "symbol"]) == {"CNNM4"}
    assert m.loc["26504", "ensembl"] == "ENSG00000158158"


def test_real_ambiguity_and_symbol_precedence(real_gi):
    t = real_gi.table
    syn = t[["symbol", "synonyms"]].dropna().assign(s=lambda d: d["synonyms"].str.split("|")).explode("s")
    claims = syn.groupby("s")["symbol"].nunique()
    current = set(t["symbol"])
    current_upper = {c.upper() for c in current}
    ambiguous = [s for s in claims.index[claims > 1] if s not in current and s.upper() not in current_upper][:20]
    clash = [s for s in claims.index if s in current][:20]  # current symbols that are also someone's synonym
    assert ambiguous and clash
    m = real_gi.map_ids(ambiguous + clash)
    assert (m.iloc[: len(ambiguous)]["how"] == "unmapped").all()
    assert m.iloc[: len(ambiguous)]["ambiguous"].all()
    assert (m.iloc[len(ambiguous):]["how"] == "symbol").all()
    assert list(m.iloc[len(ambiguous):]["symbol"]) == clash


def test_real_gse126848_ensembl_ids(real_gi, mirror_dir):
    ids = pd.read_csv(mirror_dir / GSE126848_COUNTS, sep="\t", usecols=[0]).iloc[:, 0]
    m = real_gi.map_ids(ids)
    frac = (m["how"] == "ensembl").mean()
    assert frac >= 0.95, frac
    assert set(m["id_type"]) == {"ensembl"}
    assert {"CNNM4", "TRPM7", "SLC41A1", "MAGT1", "MMGT1", "CNNM2"} <= set(m["symbol"].dropna())


def test_real_gse77314_geneids(real_gi, mirror_dir):
    ids = pd.read_csv(mirror_dir / GSE77314_COUNTS, sep="\t", usecols=[0], dtype=str).iloc[:, 0]
    m = real_gi.map_ids(ids)
    assert (m["how"] == "entrez").mean() >= 0.99
    assert m.loc["26504", "symbol"] == "CNNM4"


def test_the_same_gene_info_in_another_cache_is_not_parsed_again(real_gi, mirror_server, tmp_path, monkeypatch):
    """The parsed table is kept by the file's content: a second cache folder holding the same file
    (downloaded and verified there) gives the same table without parsing it again; another file is parsed."""
    parsed = []
    real_from_file = GeneInfo.from_file.__func__
    monkeypatch.setattr(GeneInfo, "from_file", classmethod(lambda cls, *a, **k: parsed.append(a) or
                                                           real_from_file(cls, *a, **k)))
    with settings.override(mirror=mirror_server.url, cache_dir=tmp_path / "other", offline=False):
        gi = load_gene_info()
    assert gi is real_gi and parsed == []
    assert (tmp_path / "other").is_dir() and any((tmp_path / "other").rglob("*gene_info*"))
    tiny = tmp_path / "tiny.gene_info"
    tiny.write_text("#tax_id\tGeneID\tSymbol\tSynonyms\tdbXrefs\ttype_of_gene\n9606\t1\tAAA1\tOLD1\tHGNC:HGNC:1|Ensembl:ENSG00000000001\tprotein-coding\n")
    assert len(load_gene_info(url=str(tiny))) == 1 and len(parsed) == 1


def test_ensure_symbols(real_gi):
    assert ensure_symbols(["ACDP4", "TRPM7", "NOT_A_GENE"], gene_info=real_gi) == ["CNNM4", "TRPM7", "NOT_A_GENE"]
    assert ensure_symbols(["ACDP4", "NOT_A_GENE"], keep_unmapped=False, gene_info=real_gi) == ["CNNM4"]


def test_gene_info_provenance(real_gi, mirror_dir):
    assert real_gi.source == urls.gene_info_url()
    expect = hashlib.sha256((mirror_dir / GENE_INFO_REL).read_bytes()).hexdigest()
    assert real_gi.sha256 == expect


# ------------------------------------------------------------------ harmonise_var


def _toy(gi_ids, X, layers=None):
    a = ad.AnnData(
        X=X,
        obs=pd.DataFrame({"group": ["a", "b"]}, index=["s1", "s2"]),
        var=pd.DataFrame({"note": [f"n{i}" for i in range(len(gi_ids))]}, index=gi_ids),
    )
    for k, v in (layers or {}).items():
        a.layers[k] = v
    return a


IDS = ["ENSG00000000001", "OLD1", "AAA1", "BBB2", "NOPE", "5"]
COUNTS = np.array([[1, 2, 30, 4, 5, 6], [10, 20, 3, 40, 50, 60]], dtype=np.int64)


def test_harmonise_var_auto_sums_counts(tiny_gi):
    logx = np.log1p(COUNTS.astype(float))
    a = _toy(IDS, logx.copy(), {"counts": COUNTS.copy()})
    obs_before = a.obs.copy()
    harmonise_var(a, gene_info=tiny_gi)
    assert list(a.var_names) == ["AAA1", "BBB2", "NOPE", "DDD5"]
    # three ids of AAA1 -> counts summed
    np.testing.assert_array_equal(a.layers["counts"][:, 0], [33, 33])
    np.testing.assert_array_equal(a.layers["counts"][:, 1:], COUNTS[:, 3:])
    # log X: the AAA1 row with the highest mean is kept (AAA1 itself: mean of log1p(30), log1p(3))
    np.testing.assert_allclose(a.X[:, 0], logx[:, 2])
    info = a.uns["gene_ids"]
    assert info["x_stale"] is True and info["summed_layers"] == ["layer:counts"]
    assert info["n_input"] == 6 and info["n_mapped"] == 5 and info["n_duplicates_collapsed"] == 2
    assert info["by_how"] == {"ensembl": 1, "synonym": 1, "symbol": 2, "entrez": 1, "unmapped": 1}
    assert a.var.loc["AAA1", "n_collapsed"] == 3
    assert a.var.loc["AAA1", "collapsed_ids"] == "ENSG00000000001|OLD1|AAA1"
    assert a.var.loc["AAA1", "original_id"] == "AAA1"
    assert a.var.loc["NOPE", "mapping"] == "unmapped" and pd.isna(a.var.loc["NOPE", "gene_id"])
    assert a.var.loc["DDD5", "ensembl"] == "ENSG00000000005"
    assert a.var.loc["BBB2", "note"] == "n3"  # other var columns follow their row
    pd.testing.assert_frame_equal(a.obs, obs_before)


def test_harmonise_var_auto_count_X_is_summed_too(tiny_gi):
    a = _toy(IDS, COUNTS.astype(np.float32), {"counts": COUNTS.copy()})
    harmonise_var(a, gene_info=tiny_gi)
    np.testing.assert_array_equal(a.X[:, 0], [33, 33])
    assert a.uns["gene_ids"]["x_stale"] is False


@pytest.mark.parametrize(
    "rule,expected_aaa1",
    [
        ("sum", [33, 33]),
        ("mean", [11, 11]),
        ("first", [1, 10]),
        ("max_mean", [30, 3]),  # AAA1 row: mean 16.5 beats 5.5 and 11
    ],
)
@pytest.mark.parametrize("sparse", [False, True])
def test_harmonise_var_rules_dense_and_sparse(tiny_gi, rule, expected_aaa1, sparse):
    X = COUNTS.astype(np.float64)
    a = _toy(IDS, sp.csr_matrix(X) if sparse else X.copy(), {"other": X * 2})
    out = harmonise_var(a, duplicates=rule, gene_info=tiny_gi, copy=True)
    assert a.n_vars == 6  # copy=True leaves the input alone
    got = out.X.toarray() if sparse else out.X
    assert sp.issparse(out.X) == sparse
    np.testing.assert_allclose(got[:, 0], expected_aaa1)
    np.testing.assert_allclose(np.asarray(out.layers["other"])[:, 0], np.asarray(expected_aaa1) * 2)
    assert out.uns["gene_ids"]["rule"] == rule


def test_harmonise_var_drop_unmapped(tiny_gi):
    a = _toy(IDS, COUNTS.astype(float))
    harmonise_var(a, unmapped="drop", gene_info=tiny_gi)
    assert "NOPE" not in a.var_names and a.uns["gene_ids"]["n_unmapped_dropped"] == 1
    assert a.var["mapping"].isin(["ensembl", "entrez", "symbol", "synonym"]).all()


def test_harmonise_var_bad_arguments(tiny_gi):
    a = _toy(IDS, COUNTS.astype(float))
    with pytest.raises(InputDataError, match="duplicates"):
        harmonise_var(a, duplicates="median", gene_info=tiny_gi)
    with pytest.raises(InputDataError, match="unmapped"):
        harmonise_var(a, unmapped="hide", gene_info=tiny_gi)
    with pytest.raises(InputDataError, match="view"):
        harmonise_var(a[:, :3], gene_info=tiny_gi)


def test_harmonise_var_real_gse126848(real_gi, mirror_dir, tmp_path):
    df = pd.read_csv(mirror_dir / GSE126848_COUNTS, sep="\t", index_col=0)
    counts = df.to_numpy().T.astype(np.int64)
    a = ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame(index=df.columns.astype(str)),
                   var=pd.DataFrame(index=df.index))
    a.layers["counts"] = sp.csr_matrix(counts)
    harmonise_var(a, gene_info=real_gi)
    info = a.uns["gene_ids"]
    assert info["fraction_mapped"] >= 0.95
    assert a.var_names.is_unique
    assert {"CNNM4", "TRPM7", "SLC41A1", "MAGT1"} <= set(a.var_names)
    # no read is lost or invented by collapsing
    assert a.layers["counts"].sum() == counts.sum()
    assert a.X.sum() == pytest.approx(counts.sum())
    # the CNNM4 column is the original ENSG00000158158 row
    np.testing.assert_array_equal(a.layers["counts"][:, a.var_names.get_loc("CNNM4")].toarray().ravel(),
                                  df.loc["ENSG00000158158"].to_numpy())
    a.write_h5ad(tmp_path / "h.h5ad")  # the report in uns must be writable
    back = ad.read_h5ad(tmp_path / "h.h5ad")
    assert back.uns["gene_ids"]["n_input"] == df.shape[0]

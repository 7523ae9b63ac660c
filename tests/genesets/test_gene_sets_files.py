"""The bundled magnesium gene sets (gene_sets/) against NCBI gene_info and their own rules."""

from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd
import pytest

from mgtranscript import genesets
from mgtranscript.fetch import fetch
from mgtranscript.fetch import _urls as urls

from support.paths import REPO


GENE_SETS = REPO / "gene_sets"
LIVER_SETS = {
    "MG_LIVER_CORE", "MG_PM_INFLUX", "MG_EFFLUX_EXCHANGE", "MG_ER_GOLGI",
    "MG_MITOCHONDRIAL", "MG_CNNM_REGULATORS", "MG_INFLUX_ALL", "MG_EFFLUX_ALL",
}
# kidney-specific genes the liver claims say must stay out of the default liver score
KIDNEY_ONLY = {"CLDN16", "CLDN19", "FXYD2", "HNF1B", "EGF", "EGFR", "KCNJ10", "CASR", "SLC12A3"}


@lru_cache(maxsize=2)
def _read_gene_info(path: str) -> pd.DataFrame:
    gi = pd.read_csv(path, sep="\t", dtype=str, usecols=["GeneID", "Symbol", "Synonyms", "dbXrefs"])
    return gi


@pytest.fixture
def gene_info(mirror_env) -> pd.DataFrame:
    """NCBI human gene_info, read from the mirror through the fetch layer."""
    return _read_gene_info(str(fetch(urls.gene_info_url(), progress=False)))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return genesets.mg_gene_table()


@pytest.fixture(scope="module")
def gmt() -> genesets.GeneSets:
    return genesets.read_gmt(GENE_SETS / "magnesium.gmt")


def _split(s: str) -> list[str]:
    return [x for x in s.split(";") if x]


def test_table_columns_and_unique_symbols(table):
    for col in ["symbol", "hgnc_id", "entrez", "ensembl", "aliases", "previous_symbols", "subsets",
                "direction", "location", "confidence", "citation", "liver_relevance"]:
        assert col in table.columns
    assert table["symbol"].is_unique
    assert table["entrez"].str.fullmatch(r"\d+").all()
    assert table["hgnc_id"].str.fullmatch(r"HGNC:\d+").all()
    assert table["ensembl"].str.fullmatch(r"ENSG\d{11}").all()
    assert set(table["direction"]) <= {"influx", "efflux", "regulator", "readout", "context"}
    assert (table["citation"] != "").all() and (table["liver_relevance"] != "").all()


def test_every_symbol_is_current_in_ncbi_gene_info(table, gene_info):
    current = gene_info.set_index("GeneID")["Symbol"]
    not_current = sorted(set(table["symbol"]) - set(gene_info["Symbol"]))
    assert not not_current, f"not current NCBI symbols: {not_current}"
    wrong = {r.symbol: current.get(r.entrez) for r in table.itertuples() if current.get(r.entrez) != r.symbol}
    assert not wrong, f"entrez id points at another symbol: {wrong}"


def test_ids_agree_with_gene_info_dbxrefs(table, gene_info):
    xref = gene_info.set_index("GeneID")["dbXrefs"]
    bad = []
    for r in table.itertuples():
        x = xref[r.entrez].split("|")
        if f"HGNC:{r.hgnc_id}" not in x:
            bad.append((r.symbol, r.hgnc_id))
        if f"Ensembl:{r.ensembl}" not in x:
            bad.append((r.symbol, r.ensembl))
    assert not bad, f"ids not in NCBI dbXrefs: {bad}"


def test_aliases_never_shadow_another_current_symbol(table, gene_info):
    current = set(gene_info["Symbol"])
    clashes, seen = [], {}
    for r in table.itertuples():
        for a in _split(r.aliases) + _split(r.previous_symbols):
            if a in current and a != r.symbol:
                clashes.append((r.symbol, a))
            seen.setdefault(a, set()).add(r.symbol)
    assert not clashes, f"alias is another gene's current symbol: {clashes}"
    shared = {a: s for a, s in seen.items() if len(s) > 1}
    assert not shared, f"alias claimed by several genes: {shared}"
    # the two renamings the matcher relies on are recorded
    t = table.set_index("symbol")
    assert "ACDP4" in _split(t.at["CNNM4", "previous_symbols"])
    assert "EMC5" in _split(t.at["MMGT1", "aliases"]) + _split(t.at["MMGT1", "previous_symbols"])


def test_table_and_gmt_agree(table, gmt):
    from_table: dict[str, set[str]] = {}
    for r in table.itertuples():
        assert _split(r.subsets), f"{r.symbol} belongs to no set"
        for s in _split(r.subsets):
            from_table.setdefault(s, set()).add(r.symbol)
    assert set(from_table) == set(gmt)
    for name, genes in gmt.items():
        assert set(genes) == from_table[name], name
    # the GMT's direction tag is what the table says about its genes
    direction = table.set_index("symbol")["direction"]
    meta = genesets.load("magnesium:all").meta
    for name, genes in gmt.items():
        dirs = set(direction[list(genes)])
        assert meta.at[name, "direction"] == (dirs.pop() if len(dirs) == 1 else "mixed"), name


def test_required_subsets_and_scope(gmt):
    required = LIVER_SETS | {"MG_RENAL"}
    assert required <= set(gmt)
    liver = set(genesets.load("magnesium"))
    assert liver == LIVER_SETS
    assert genesets.DEFAULT_SET in liver
    liver_genes = {g for s in liver for g in gmt[s]}
    assert not (liver_genes & KIDNEY_ONLY), "kidney-only genes in a liver-scope set"
    assert KIDNEY_ONLY <= set(gmt["MG_RENAL"])
    assert set(gmt["MG_CNNM_REGULATORS"]) == {"PTP4A1", "PTP4A2", "PTP4A3", "ARL15"}


def test_liver_core_rules(table, gmt):
    t = table.set_index("symbol")
    core = set(gmt["MG_LIVER_CORE"])
    # the liver claims' transporters are in the default score
    assert {"CNNM4", "TRPM7", "MRS2", "SLC41A1", "SLC41A3", "MAGT1"} <= core
    # only transporters: no regulators, read-outs, context genes, homology-only or single-study genes
    assert set(t.loc[list(core), "direction"]) <= {"influx", "efflux"}
    assert not set(t.loc[list(core), "confidence"]) & {"homology-only", "emerging"}
    assert not core & set(gmt["MG_IMMUNE_READOUT"])


def test_direction_sets_follow_the_table(table, gmt):
    liver_genes = {g for s in LIVER_SETS for g in gmt[s]}
    t = table[table["symbol"].isin(liver_genes) & (table["confidence"] != "contested")]
    assert set(gmt["MG_INFLUX_ALL"]) == set(t.loc[t["direction"] == "influx", "symbol"])
    assert set(gmt["MG_EFFLUX_ALL"]) == set(t.loc[t["direction"] == "efflux", "symbol"])
    assert not set(gmt["MG_INFLUX_ALL"]) & set(gmt["MG_EFFLUX_ALL"])
    assert "CNNM4" in gmt["MG_EFFLUX_ALL"] and "TRPM7" in gmt["MG_INFLUX_ALL"]


def test_version_is_recorded_everywhere(gmt):
    version = (GENE_SETS / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert genesets.bundled_version() == version
    meta = genesets.load("magnesium:all").meta
    assert (meta["version"] == version).all()
    readme = (GENE_SETS / "README.md").read_text()
    assert version in readme
    for name in gmt:
        assert name in readme, f"{name} is not documented in gene_sets/README.md"


def test_claim_genes_are_covered(shared_dir, table):
    """Every gene named in the liver claims is in the bundled table."""
    text = (shared_dir / "reference" / "liver_claims.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"^\| L\d+ ", line)]
    named = set()
    for line in rows:
        genes_cell = re.sub(r"\([^)]*\)", "", line.split("|")[2])  # drop "(PRL-3, ...)" notes
        named |= set(re.findall(r"\b[A-Z][A-Z0-9]{2,}\b", genes_cell))
    assert named, "no claim rows parsed"
    assert named <= set(table["symbol"]), sorted(named - set(table["symbol"]))

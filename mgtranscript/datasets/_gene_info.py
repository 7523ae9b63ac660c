"""NCBI ``gene_info`` as a lookup table: the id-mapping rules of :mod:`.geneids`.

:class:`GeneInfo` holds one row per GeneID and the indices (Ensembl, GeneID, current
symbol, unambiguous synonym) that :meth:`GeneInfo.map_ids` applies; the rules are
documented in :mod:`mgtranscript.datasets._geneids`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFormatError, InputDataError

logger = logging.getLogger("mgtranscript.datasets._geneids")

__all__ = ["GeneInfo", "detect_id_type"]

_ENSEMBL_RE = re.compile(r"^(ENS[A-Z]*G\d+)(?:\.\d+)?$")
_ENTREZ_RE = re.compile(r"^\d+$")
_ID_TYPES = ("auto", "ensembl", "entrez", "symbol")

_REQUIRED_COLUMNS = ("GeneID", "Symbol", "Synonyms", "dbXrefs", "type_of_gene")


def detect_id_type(ids: Iterable[str]) -> pd.Series:
    """Classify each id as ``"ensembl"``, ``"entrez"`` or ``"symbol"``.

    Parameters
    ----------
    ids
        Gene identifiers.

    Returns
    -------
    A string Series (positional index) of id types.
    """
    s = pd.Series(list(ids), dtype="object").astype(str).str.strip()
    out = np.where(
        s.str.match(_ENSEMBL_RE.pattern), "ensembl", np.where(s.str.match(_ENTREZ_RE.pattern), "entrez", "symbol")
    )
    return pd.Series(out, dtype="object")


@dataclass
class GeneInfo:
    """An NCBI ``gene_info`` table with lookup indices for id harmonisation.

    Attributes
    ----------
    table
        One row per GeneID with columns ``gene_id`` (str), ``symbol``, ``synonyms``
        (``|``-joined), ``ensembl`` (first Ensembl gene id or NA), ``ensembl_all``
        (``|``-joined), ``hgnc_id``, ``type_of_gene``, ``chromosome``,
        ``description``, ``modification_date``.
    source
        URL (or path) the table was read from.
    sha256
        sha256 of the file, when known (from the fetch cache metadata).
    """

    table: pd.DataFrame
    source: str = ""
    sha256: str = ""
    _by_entrez: pd.Series = field(init=False, repr=False)
    _by_ensembl: pd.Series = field(init=False, repr=False)
    _by_symbol: pd.Series = field(init=False, repr=False)
    _by_symbol_upper: pd.Series = field(init=False, repr=False)
    _by_synonym: pd.Series = field(init=False, repr=False)
    _by_synonym_upper: pd.Series = field(init=False, repr=False)
    _ambiguous_syn: frozenset = field(init=False, repr=False)
    _ambiguous_syn_upper: frozenset = field(init=False, repr=False)

    def __post_init__(self) -> None:
        t = self.table
        missing = {"gene_id", "symbol", "synonyms", "ensembl_all", "hgnc_id", "type_of_gene"} - set(t.columns)
        if missing:
            raise DataFormatError(
                f"GeneInfo table lacks columns {sorted(missing)}; build it with load_gene_info() "
                "or GeneInfo.from_file()."
            )
        pos = np.arange(len(t))
        # priority: HGNC-named first, then protein-coding, then lowest GeneID
        gid_num = pd.to_numeric(t["gene_id"], errors="coerce").fillna(np.inf).to_numpy()
        prio = pd.DataFrame(
            {
                "pos": pos,
                "no_hgnc": t["hgnc_id"].isna().to_numpy(),
                "not_pc": (t["type_of_gene"] != "protein-coding").to_numpy(),
                "gid": gid_num,
            }
        ).sort_values(["no_hgnc", "not_pc", "gid"], kind="stable")
        order = prio["pos"].to_numpy()

        self._by_entrez = pd.Series(pos, index=t["gene_id"].to_numpy())
        self._by_entrez = self._by_entrez[~self._by_entrez.index.duplicated()]

        sym = t["symbol"].to_numpy()[order]
        s = pd.Series(order, index=sym)
        self._by_symbol = s[~s.index.duplicated(keep="first")]
        su = pd.Series(order, index=pd.Index(sym).str.upper())
        self._by_symbol_upper = su[~su.index.duplicated(keep="first")]

        ens = t["ensembl_all"].fillna("").str.split("|").explode()
        ens = ens[ens != ""]
        rank = pd.Series(np.empty(len(t), dtype=np.int64), index=pos)
        rank.iloc[order] = np.arange(len(t))
        e = pd.DataFrame({"ens": ens.to_numpy(), "pos": ens.index.to_numpy(dtype=np.int64)})
        e["rank"] = rank.to_numpy()[e["pos"].to_numpy()]
        e = e.sort_values("rank", kind="stable").drop_duplicates("ens", keep="first")
        self._by_ensembl = pd.Series(e["pos"].to_numpy(), index=e["ens"].to_numpy())

        syn = t["synonyms"].fillna("").str.split("|").explode()
        syn = syn[syn != ""]
        sdf = pd.DataFrame({"syn": syn.to_numpy(), "pos": syn.index.to_numpy(dtype=np.int64)}).drop_duplicates()
        self._by_synonym, self._ambiguous_syn = _unique_claims(sdf["syn"], sdf["pos"])
        sdf_u = pd.DataFrame({"syn": sdf["syn"].str.upper(), "pos": sdf["pos"]}).drop_duplicates()
        self._by_synonym_upper, self._ambiguous_syn_upper = _unique_claims(sdf_u["syn"], sdf_u["pos"])

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_file(cls, path: str | Path, *, source: str | None = None, sha256: str = "") -> GeneInfo:
        """Read an NCBI ``*.gene_info(.gz)`` file.

        Raises
        ------
        DataFormatError
            If the file lacks the ``GeneID``/``Symbol``/``Synonyms``/``dbXrefs`` columns.
        """
        path = Path(path)
        try:
            raw = pd.read_csv(
                path,
                sep="\t",
                dtype=str,
                na_values=["-"],
                keep_default_na=False,
                quoting=3,
            )
        except (OSError, EOFError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataFormatError(
                f"could not read gene_info file {path}: {exc}. Delete it from the cache "
                "(`mgtranscript cache clear --pattern gene_info`) and retry."
            ) from exc
        raw.columns = [c.lstrip("#") for c in raw.columns]
        missing = [c for c in _REQUIRED_COLUMNS if c not in raw.columns]
        if missing:
            raise DataFormatError(
                f"{path} is not an NCBI gene_info file (missing columns {missing}); pass the "
                "Homo_sapiens.gene_info.gz file from ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/."
            )
        xref = raw["dbXrefs"].fillna("")
        ens_all = xref.str.findall(r"Ensembl:(ENS[A-Z]*G\d+)").str.join("|").replace("", np.nan)
        table = pd.DataFrame(
            {
                "gene_id": raw["GeneID"].astype(str),
                "symbol": raw["Symbol"],
                "synonyms": raw["Synonyms"],
                "ensembl": ens_all.str.split("|").str[0],
                "ensembl_all": ens_all,
                "hgnc_id": xref.str.extract(r"HGNC:(HGNC:\d+)", expand=False),
                "type_of_gene": raw["type_of_gene"],
                "chromosome": raw.get("chromosome"),
                "description": raw.get("description"),
                "modification_date": raw.get("Modification_date"),
            }
        )
        return cls(table=table, source=source or str(path), sha256=sha256)

    # ------------------------------------------------------------------ mapping
    def map_ids(self, ids: Iterable[str] | pd.Index, *, id_type: str = "auto") -> pd.DataFrame:
        """Map gene ids to current symbols (rules in the module docstring).

        Parameters
        ----------
        ids
            Ensembl ids, Entrez GeneIDs or symbols (may be mixed with ``id_type="auto"``).
        id_type
            ``"auto"`` (per id), ``"ensembl"``, ``"entrez"`` or ``"symbol"``.

        Returns
        -------
        DataFrame indexed by the input ids (order kept, duplicates allowed) with columns
        ``original_id``, ``symbol`` (current symbol or NA), ``gene_id`` (Entrez, str or NA),
        ``ensembl``, ``id_type``, ``how`` (``"ensembl"``, ``"entrez"``, ``"symbol"``,
        ``"synonym"`` or ``"unmapped"``), ``ambiguous`` (an unmapped synonym claimed by
        several genes) and ``type_of_gene``.

        Raises
        ------
        InputDataError
            For an unknown ``id_type``.
        """
        if id_type not in _ID_TYPES:
            raise InputDataError(f"id_type must be one of {_ID_TYPES}, got {id_type!r}.")
        orig = pd.Index(list(ids) if not isinstance(ids, pd.Index) else ids)
        s = pd.Series(orig.astype(str), dtype="object").str.strip().reset_index(drop=True)
        n = len(s)
        kinds = detect_id_type(s) if id_type == "auto" else pd.Series([id_type] * n, dtype="object")

        pos = np.full(n, -1, dtype=np.int64)
        how = np.full(n, "unmapped", dtype=object)
        ambiguous = np.zeros(n, dtype=bool)
        ens_in = pd.Series(np.nan, index=range(n), dtype="object")

        m_ens = (kinds == "ensembl").to_numpy()
        if m_ens.any():
            stripped = s[m_ens].str.replace(r"\.\d+$", "", regex=True)
            ens_in[m_ens] = stripped.to_numpy()
            hit = stripped.map(self._by_ensembl)
            ok = hit.notna().to_numpy()
            idx = np.flatnonzero(m_ens)[ok]
            pos[idx] = hit[ok].astype(np.int64).to_numpy()
            how[idx] = "ensembl"

        m_ent = (kinds == "entrez").to_numpy()
        if m_ent.any():
            hit = s[m_ent].map(self._by_entrez)
            ok = hit.notna().to_numpy()
            idx = np.flatnonzero(m_ent)[ok]
            pos[idx] = hit[ok].astype(np.int64).to_numpy()
            how[idx] = "entrez"

        m_sym = (kinds == "symbol").to_numpy()
        if m_sym.any():
            sub = s[m_sym]
            up = sub.str.upper()
            steps = (
                (sub, self._by_symbol, None, "symbol"),
                (up, self._by_symbol_upper, None, "symbol"),
                (sub, self._by_synonym, self._ambiguous_syn, "synonym"),
                (up, self._by_synonym_upper, self._ambiguous_syn_upper, "synonym"),
            )
            base = np.flatnonzero(m_sym)
            for keys, index, amb, label in steps:
                todo = pos[base] < 0
                if not todo.any():
                    break
                hit = keys[todo].map(index)
                ok = hit.notna().to_numpy()
                idx = base[todo][ok]
                pos[idx] = hit[ok].astype(np.int64).to_numpy()
                how[idx] = label
                if amb:
                    ambiguous[base[todo]] |= keys[todo].isin(amb).to_numpy()
            ambiguous &= pos < 0

        mapped = pos >= 0
        t = self.table
        sym = np.full(n, None, dtype=object)
        gid = np.full(n, None, dtype=object)
        ens = np.full(n, None, dtype=object)
        tog = np.full(n, None, dtype=object)
        sym[mapped] = t["symbol"].to_numpy()[pos[mapped]]
        gid[mapped] = t["gene_id"].to_numpy()[pos[mapped]]
        ens[mapped] = t["ensembl"].to_numpy()[pos[mapped]]
        tog[mapped] = t["type_of_gene"].to_numpy()[pos[mapped]]
        # an Ensembl input keeps its own (unversioned) id
        ens = np.where(m_ens, ens_in.to_numpy(), ens)
        out = pd.DataFrame(
            {
                "original_id": orig.astype(str).to_numpy(),
                "symbol": pd.array(sym, dtype="string"),
                "gene_id": pd.array(gid, dtype="string"),
                "ensembl": pd.array(np.where(pd.isna(ens), None, ens), dtype="string"),
                "id_type": kinds.to_numpy(),
                "how": how,
                "ambiguous": ambiguous,
                "type_of_gene": pd.array(tog, dtype="string"),
            },
            index=orig,
        )
        return out

    def symbols(self, ids: Iterable[str], *, id_type: str = "auto", keep_unmapped: bool = True) -> list[str]:
        """Current symbols of ``ids`` (unmapped ids kept as given, or dropped)."""
        m = self.map_ids(ids, id_type=id_type)
        if keep_unmapped:
            return m["symbol"].fillna(m["original_id"]).astype(str).tolist()
        return m["symbol"].dropna().astype(str).tolist()

    def __len__(self) -> int:
        return len(self.table)


def _unique_claims(keys: pd.Series, pos: pd.Series) -> tuple[pd.Series, frozenset]:
    """Keys claimed by exactly one gene -> that gene; and the set of ambiguous keys."""
    counts = keys.value_counts()
    amb = frozenset(counts.index[counts > 1])
    keep = ~keys.isin(amb).to_numpy()
    idx = pd.Series(pos.to_numpy()[keep], index=keys.to_numpy()[keep])
    return idx[~idx.index.duplicated()], amb

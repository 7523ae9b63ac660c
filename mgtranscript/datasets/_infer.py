"""Label inference: propose a catalog entry from a series' own sample metadata.

:func:`infer_labels` reads the sample metadata of a GEO series (series matrix or SOFT:
characteristics, title, source name, description) or a sample table (an SRA Run Selector
``SraRunTable.csv``, a GEOquery ``pData`` or GEOparse ``phenotype_data`` export, CSV or TSV),
finds the fields carrying the disease state (or tumour / non-tumour), fibrosis stage, NAS,
etiology, sex and age, maps their values through the liver vocabulary
(:mod:`mgtranscript.datasets._vocabulary`) and proposes a catalog entry in the schema of the
bundled ``cohorts.toml``: the label rules, the counts per label, every value it could not
map, and how sure it is. The labels it reports are those the proposed entry gives when
applied by :func:`mgtranscript.datasets.label_obs`, so the entry and the table agree.

A series whose samples are not liver (blood, adipose, cell lines...) is said to be
non-liver, and no entry is proposed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ._catalog import CONDITIONS, UNLABELLED
from ._seriesmatrix import snake_case
from ._vocabulary import (
    ETIOLOGY,
    SEX,
    area_of,
    liver_words,
    normalise,
    other_tissue_words,
    resolve,
    term_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["infer_labels", "LabelDraft", "read_sample_table"]

#: GEO sample fields that are not characteristics (free text at best)
_GEO_FIELDS = {
    "geo_accession", "status", "submission_date", "last_update_date", "type", "channel_count",
    "organism_ch1", "molecule_ch1", "taxid_ch1", "platform_id", "data_row_count", "instrument_model",
    "library_selection", "library_source", "library_strategy", "label_ch1", "label_protocol_ch1",
    "hyb_protocol", "scan_protocol", "accession", "lib_size", "norm_factor",
}
_FREE_TEXT = {"title": 1, "source_name_ch1": 2, "description": 1, "source_name": 2}
_SKIP = re.compile(r"^(contact_|data_processing|extract_protocol|supplementary_file|relation|growth_protocol|"
                   r"treatment_protocol|characteristics_ch\d_\d+$)|(_date|_protocol|bytes|bases|spots|avgspotlen|"
                   r"datastore|consent|center_name|release|version|bioproject|biosample|experiment|run|sra_study|"
                   r"instrument|platform|library|assay_type|organism)$")
_GSM = re.compile(r"^GSM\d+$")
_ID_COLUMNS = ("sample_name", "geo_accession_exp", "geo_accession", "gsm", "sample", "sample_id")
LABEL_COLUMNS = ("sample", "disease", "condition", "subgroup", "fibrosis_stage", "nas", "etiology", "sex",
                 "age", "pair_id")


@dataclass
class LabelDraft:
    """A proposed catalog entry and what it gives, for one series or sample table.

    Attributes
    ----------
    accession
        The series (or ``DRAFT`` for a table without one).
    liver
        ``False`` when the samples are not liver; then ``entry`` is empty.
    entry
        The proposed catalog entry (a dict in the schema of ``cohorts.toml``).
    labels
        One row per sample: :data:`LABEL_COLUMNS` in the catalog vocabulary (stages as integers).
    counts
        Samples per condition (``unlabelled`` included).
    unmapped
        Every value of the label field(s) the vocabulary could not map, with its sample count.
    fields
        The metadata field chosen for each role (``label``, ``fibrosis_stage``, ``nas``,
        ``etiology``, ``sex``, ``age``, ``pair_id``).
    confidence
        ``high``, ``medium`` or ``low``; ``reasons`` say why.
    """

    accession: str
    liver: bool
    entry: dict = field(default_factory=dict)
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    counts: dict = field(default_factory=dict)
    unmapped: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)
    confidence: str = "low"
    reasons: list = field(default_factory=list)
    verdict: str = ""

    def to_toml(self) -> str:
        """The proposed entry as TOML (loadable with ``--catalog``), with comments."""
        from ._catalog_toml import entry_to_toml

        if not self.liver:
            return f"# {self.accession}: {self.verdict}\n"
        head = [f"# draft by `mgtranscript datasets --draft`: confidence {self.confidence}"]
        head += [f"#   {r}" for r in self.reasons]
        head.append("# fields: " + ", ".join(f"{k} = {v}" for k, v in self.fields.items()))
        if self.unmapped:
            head.append("# unmapped values: " + "; ".join(f"{k!r} ({v})" for k, v in self.unmapped.items()))
        head.append("# [expected] holds the counts this draft gives: replace them with those the GEO summary "
                    "or the paper reports, and cite it.")
        return "\n".join(head) + "\n" + entry_to_toml(self.accession, self.entry)

    def summary(self) -> str:
        """A few lines for the terminal."""
        if not self.liver:
            return f"{self.accession}: {self.verdict}"
        lines = [f"{self.accession}: {len(self.labels)} samples; confidence {self.confidence}"]
        lines += [f"  {r}" for r in self.reasons]
        lines.append("  labels: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        lines.append("  unmapped: " + ("; ".join(f"{k!r} ({v})" for k, v in self.unmapped.items()) or "none"))
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def _expand_characteristics(df: pd.DataFrame) -> pd.DataFrame:
    """GEOquery ``pData`` (``characteristics_ch1.1`` "key: value", ``key:ch1``) and GEOparse
    (``characteristics_ch1.0.key``) exports -> one column per key."""
    out = {}
    for c in df.columns:
        s = str(c)
        m = re.match(r"^characteristics_ch(\d)(?:\.\d+)?(?:\.(.+))?$", s)
        if m and m.group(2):
            out[m.group(2) + ("" if m.group(1) == "1" else f"_ch{m.group(1)}")] = df[c]
        elif m:
            vals = df[c].astype("string")
            split = vals.str.split(":", n=1)
            keys = split.str[0].str.strip()
            if vals.notna().any() and vals.dropna().str.contains(":").all() and keys.nunique() == 1:
                out.setdefault(str(keys.dropna().iloc[0]), split.str[1].str.strip())
            else:
                out[s] = df[c]
        elif s.endswith(":ch1"):
            out[s[:-4]] = df[c]
        else:
            out.setdefault(s, df[c])
    return pd.DataFrame(out, index=df.index)


def read_sample_table(table: str | Path | pd.DataFrame) -> pd.DataFrame:
    """One row per sample from a sample table: an SRA Run Selector export (runs collapsed per
    sample, indexed by GSM), a GEOquery ``pData`` or GEOparse ``phenotype_data`` export.

    Columns become snake_case (as :func:`mgtranscript.datasets.geo` names them).

    Raises
    ------
    InputDataError
        The file does not exist or cannot be read as a table.
    """
    from ._samplesheet import read_sample_sheet

    df = read_sample_sheet(table)
    first = df.columns[0]
    if str(first).startswith("Unnamed") or str(first) == "" or df[first].astype(str).str.match(r"^GSM\d+$").all():
        df = df.set_index(first)
    df = _expand_characteristics(df)
    df.columns = [snake_case(c) for c in df.columns]
    df = df.loc[:, ~pd.Index(df.columns).duplicated()]
    idcol = next((c for c in _ID_COLUMNS if c in df and df[c].astype(str).str.match(r"^GSM\d+$").mean() > 0.9),
                 None)
    if idcol is None and pd.Index(df.index.astype(str)).str.match(r"^GSM\d+$").mean() > 0.9:
        df.index = df.index.astype(str)
        return df
    if idcol is None:
        idcol = next((c for c in _ID_COLUMNS if c in df and df[c].notna().all()), None)
    if idcol is not None:
        df = df.groupby(df[idcol].astype(str), sort=False).agg(
            lambda s: ";".join(dict.fromkeys(s.dropna().astype(str))) or np.nan)
        df.index.name = None
    df.index = df.index.astype(str)
    return df


def _obs_of(source, progress) -> tuple[pd.DataFrame, dict, str]:
    if isinstance(source, pd.DataFrame):
        return read_sample_table(source), {}, ""
    if hasattr(source, "obs") and hasattr(source, "uns"):
        geo_uns = source.uns.get("geo", {})
        return source.obs.copy(), dict(geo_uns.get("series", {})), str(geo_uns.get("accession", ""))
    text = str(source).strip()
    if re.fullmatch(r"(?i)GSE\d+", text) and not Path(text).exists():
        from ._geo import geo

        ad = geo(text.upper(), metadata_only=True, progress=progress)
        return ad.obs.copy(), dict(ad.uns["geo"].get("series", {})), text.upper()
    p = Path(text).expanduser()
    if not p.is_file():
        raise InputDataError(f"{text!r} is neither a GEO series accession (GSE...) nor a sample table file; "
                             "give GSE12345 or a CSV/TSV (SRA Run Selector export, GEOquery pData export).")
    m = re.match(r"(?i)(GSE\d+)", p.name)
    return read_sample_table(p), {}, (m.group(1).upper() if m else "")


# --------------------------------------------------------------------------- fields


def _candidate_columns(obs: pd.DataFrame) -> list[str]:
    out = []
    for c in obs.columns:
        if c in _GEO_FIELDS or _SKIP.search(c) or c.startswith("sheet_"):
            continue
        vals = obs[c].dropna().astype(str).str.strip()
        if vals.empty or vals.nunique() < 2:
            continue
        out.append(c)
    return out


def _priority(col: str) -> int:
    """Characteristics and table columns first; title / source / description after."""
    return 0 if col in _FREE_TEXT else 3 - (1 if re.search(r"title|description|name", col) else 0)


def _label_field(obs: pd.DataFrame) -> tuple[str | None, dict, list]:
    """The column whose values best map to catalog conditions, with its value -> label map."""
    best = None
    for c in _candidate_columns(obs):
        vals = obs[c].astype("string").str.strip()
        distinct = [v for v in pd.unique(vals.dropna()) if v != ""]
        if len(distinct) > max(20, 0.5 * len(obs)) and c not in _FREE_TEXT:
            continue
        terms = {v: term_of(v) for v in distinct}
        area = area_of(t for v in vals.dropna() for t in [terms.get(v)])
        fterms = set(terms.values())
        mapping = {v: resolve(t, area=area, field_terms=fterms) for v, t in terms.items()}
        resolved = vals.map(lambda v: mapping.get(v) if v is not pd.NA else None)
        frac = resolved.notna().mean()
        conds = {m[1] for m in mapping.values() if m}
        if frac == 0 or len(conds) < 2:
            continue
        key = (round(float(frac), 3), len(conds), _priority(c))
        if best is None or key > best[0]:
            best = (key, c, mapping, area)
    if best is None:
        return None, {}, []
    return best[1], best[2], [best[3]]


def _numeric_field(obs: pd.DataFrame, name_rx: str, lo: float, hi: float) -> str | None:
    for c in obs.columns:
        if not re.search(name_rx, c) or c in _GEO_FIELDS:
            continue
        vals = pd.to_numeric(obs[c].astype("string").str.extract(r"(-?\d+(?:\.\d+)?)", expand=False),
                             errors="coerce")
        present = obs[c].notna() & (obs[c].astype(str).str.strip() != "")
        if present.sum() and vals[present].notna().mean() >= 0.8 and vals.dropna().between(lo, hi).all():
            return c
    return None


def _sex_field(obs: pd.DataFrame) -> str | None:
    for c in obs.columns:
        if re.search(r"(^|_)(sex|gender)($|_)", c):
            vals = obs[c].dropna().astype(str).str.strip().str.lower()
            if len(vals) and vals.map(lambda v: v in SEX).mean() >= 0.8:
                return c
    return None


def _etiology_field(obs: pd.DataFrame) -> str | None:
    for c in obs.columns:
        if re.search(r"etiolog|aetiolog|virus|hbv|hcv|cause|underlying", c):
            return c
    return None


def _pair_field(obs: pd.DataFrame) -> str | None:
    for c in obs.columns:
        if re.search(r"patient|individual|subject|donor|case_?id|pair", c):
            v = obs[c].dropna().astype(str)
            if len(v) and v.duplicated(keep=False).mean() >= 0.5 and v.nunique() >= 2:
                return c
    return None


def _etiology(value) -> str | float:
    v = normalise(value)
    for name, rx in ETIOLOGY:
        if re.search(rx, v):
            return name
    return np.nan if not v or v == "nan" else v


def _is_liver(obs: pd.DataFrame, series: dict) -> tuple[bool, str]:
    cols = [c for c in obs.columns if re.search(r"tissue|source_name|organ|cell_type|body_site|title", c)]
    text = obs[cols].astype(str).apply(lambda r: " ".join(r).lower(), axis=1) if cols else pd.Series("", obs.index)
    stitle = " ".join(str(series.get(k, "")) for k in ("title", "summary")).lower()
    liver = text.str.contains(liver_words)
    other = text.str.contains(other_tissue_words) & ~liver
    if other.mean() > 0.5 or (not liver.any() and cols and not liver_words.search(stitle)):
        ex = obs.loc[~liver, cols].astype(str).iloc[0].to_dict() if cols and (~liver).any() else {}
        return False, (f"not a liver series: {int((~liver).sum())} of {len(obs)} samples name no liver tissue "
                       f"(e.g. {ex}); no catalog entry is proposed")
    return True, ""


# --------------------------------------------------------------------------- the draft


def infer_labels(source: str | Path | pd.DataFrame | AnnData, *, accession: str | None = None, progress: bool | None = None) -> LabelDraft:
    """Propose a catalog entry (label rules, counts, confidence) from a series' own metadata.

    Parameters
    ----------
    source
        A GEO series accession (its series matrix or SOFT file is read; metadata only), a
        sample table file (SRA Run Selector ``SraRunTable.csv``, GEOquery ``pData`` or
        GEOparse ``phenotype_data`` export; CSV or TSV), a DataFrame of samples, or an AnnData
        from :func:`mgtranscript.datasets.geo`.
    accession
        The accession to write in the entry (default: the series', or ``GSE...`` at the start
        of the file name, else ``DRAFT``).
    progress
        Download progress bars.

    Returns
    -------
    LabelDraft
        ``entry`` (catalog schema), ``labels`` (one row per sample, catalog vocabulary),
        ``counts``, ``unmapped``, ``fields``, ``confidence`` and ``reasons``;
        ``to_toml()`` writes the entry. ``liver`` is ``False`` for non-liver series.

    Raises
    ------
    InputDataError
        ``source`` is neither an accession nor a readable table.
    """
    from ._labels import label_obs

    obs, series, acc = _obs_of(source, progress)
    acc = (accession or acc or "DRAFT").strip()
    ok, why = _is_liver(obs, series)
    if not ok:
        return LabelDraft(accession=acc, liver=False, verdict=why)
    col, mapping, areas = _label_field(obs)
    if col is None:
        return LabelDraft(accession=acc, liver=True, verdict="no metadata field maps to liver disease groups",
                          reasons=["no field has two or more values the liver vocabulary maps"],
                          labels=pd.DataFrame({"sample": obs.index}), counts={UNLABELLED: len(obs)})
    area = areas[0] or "MASLD"
    entry, reasons, fields = _entry(obs, series, acc, col, mapping, area)
    labels = label_obs(obs, acc, warn=False, catalog={acc: entry})
    counts = {str(k): int(v) for k, v in labels["condition"].value_counts(sort=False).items() if v}
    # the draft's counts are the rules' own: the user replaces them with the source's
    entry["expected"] = {"source": entry["expected"]["source"], **counts}
    vals = obs[col].astype("string").str.strip()
    unmapped = {str(v): int((vals == v).sum()) for v in pd.unique(vals.dropna()) if mapping.get(v) is None}
    table = _table(obs, labels, fields)
    n_lab = int((labels["condition"].astype(str) != UNLABELLED).sum())
    notes = [m[2] for m in mapping.values() if m and m[2]]
    if n_lab == len(obs) and not notes and col not in _FREE_TEXT:
        conf = "high"
    elif n_lab >= 0.95 * len(obs):
        conf = "medium"
    else:
        conf = "low"
    reasons.insert(0, f"labels from obs[{col!r}]: {n_lab} of {len(obs)} samples mapped"
                      + (f"; {len(unmapped)} value(s) unmapped" if unmapped else ""))
    reasons += sorted(set(notes))
    entry["confidence"] = f"{conf} (inferred from the series' metadata; check against the paper)"
    return LabelDraft(accession=acc, liver=True, entry=entry, labels=table, counts=counts, unmapped=unmapped,
                      fields=fields, confidence=conf, reasons=reasons)


def _natural(v: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(v).lower())]


def _entry(obs, series, acc, col, mapping, area) -> tuple[dict, list, dict]:
    reasons: list[str] = []
    fields = {"label": col}
    by_cond: dict[str, list[str]] = {}
    for v, m in mapping.items():
        if m:
            by_cond.setdefault(m[1], []).append(v)
    subgroups = any(len(vs) > 1 for vs in by_cond.values())
    order = [c for c in CONDITIONS if c in by_cond]
    rules = []
    seen: set[str] = set()
    for cond in order:
        for v in sorted(by_cond[cond], key=_natural):
            if v.casefold() in seen:
                continue
            seen.add(v.casefold())
            m = mapping[v]
            rule = {"columns": [col], "equals": v, "disease": m[0], "condition": m[1]}
            if subgroups:
                rule["subgroup"] = v
            rules.append(rule)
    ref = next((c for c in ("healthy", "normal", "hcc_nontumour") if c in order), order[0])
    seq = "rnaseq" if any(obs.get(c, pd.Series(dtype=str)).astype(str).str.contains("RNA-Seq|SRA", case=False).any()
                          for c in ("library_strategy", "type", "assay_type")) else "array"
    plat = obs.get("platform_id", pd.Series(dtype=str)).dropna().astype(str).unique().tolist()
    entry: dict = {
        "accession": acc,
        "title": str(series.get("title", f"{acc} (title from GEO)")).strip()[:200],
        "disease_area": area,
        "source": "GEO",
        "platform": ",".join(plat) or "unknown",
        "technology": seq,
        "data_source": "NCBI-generated counts" if seq == "rnaseq" else "series matrix",
        "n_samples": int(len(obs)),
        "citation": "fill in: first author et al., journal, year",
        "pmid": str(series.get("pubmed_id", "") if not isinstance(series.get("pubmed_id"), list)
                    else series["pubmed_id"][0]),
        "design": "unpaired",
        "reference": ref,
        "condition_order": order,
    }
    if subgroups:
        entry["subgroup_order"] = [r["subgroup"] for r in rules]
    entry["labels"] = rules
    numeric = {}
    for name, rx, lo, hi in (("fibrosis_stage", r"fibrosis", 0, 4),
                             ("nas", r"(^|_)nas($|_)|nafld_activity|activity_score", 0, 8),
                             ("age", r"(^|_)age($|_)", 0, 110)):
        c = _numeric_field(obs, rx, lo, hi)
        if c:
            numeric[name] = {"columns": [c], "min": lo, "max": hi}
            fields[name] = c
    if numeric:
        entry["numeric"] = numeric
    for role, finder in (("sex", _sex_field), ("etiology", _etiology_field), ("pair_id", _pair_field)):
        c = finder(obs)
        if c:
            fields[role] = c
    if area == "HCC" and "pair_id" in fields:
        entry["design"] = "paired"
        entry["pairing"] = {"method": "column", "columns": [fields["pair_id"]],
                            "rule": f"samples sharing obs[{fields['pair_id']!r}] form a pair"}
    elif area == "HCC" and {"hcc_tumour", "hcc_nontumour"} <= set(order):
        reasons.append("tumour and non-tumour samples but no patient id field: entered as unpaired; declare the "
                       "pairing if the paper gives it")
    entry["expected"] = {"source": "counts given by this draft's rules; replace with the counts the GEO summary "
                                   "or the paper reports, and cite it",
                         "unlabelled": int(len(obs))}  # provisional: replaced by the rules' counts
    if seq == "rnaseq":
        reasons.append("RNA-seq: expression assumed from NCBI-generated counts; set data_source/expression_file "
                       "if the authors' table is needed")
    return entry, reasons, fields


def _table(obs: pd.DataFrame, labels: pd.DataFrame, fields: dict) -> pd.DataFrame:
    t = pd.DataFrame({"sample": obs.index.astype(str)}, index=obs.index)
    t["disease"] = labels["disease"].astype(str)
    t["condition"] = labels["condition"].astype(str)
    if "subgroup" in labels:
        t["subgroup"] = labels["subgroup"].astype(object).where(labels["subgroup"].notna(), "")
    for f in ("fibrosis_stage", "nas"):
        t[f] = labels[f].round().astype("Int64") if f in labels else pd.Series(pd.NA, index=obs.index, dtype="Int64")
    if "etiology" in fields:
        t["etiology"] = obs[fields["etiology"]].map(_etiology)
    if "sex" in fields:
        t["sex"] = obs[fields["sex"]].astype(str).str.strip().str.lower().map(SEX)
    if "age" in labels:
        t["age"] = labels["age"].round().astype("Int64")
    if "pair_id" in fields:
        t["pair_id"] = obs[fields["pair_id"]].astype(str)
    return t.reset_index(drop=True)

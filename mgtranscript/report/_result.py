"""Reading an ``AnalysisResult`` for the report: its tables and mappings, group order, feature columns."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from mgtranscript._words import GROUP_COLOURS, LABEL_COLUMNS, feature_kind, feature_units, group_label
from mgtranscript.report._format import is_missing

_GROUP_ORDER = list(GROUP_COLOURS)


def table(res: Any, name: str) -> pd.DataFrame:
    """``res.<name>`` as a DataFrame (empty when absent or not a table)."""
    v = getattr(res, name, None)
    return v if isinstance(v, pd.DataFrame) else pd.DataFrame()


def mapping(res: Any, name: str) -> dict:
    v = getattr(res, name, None)
    return dict(v) if isinstance(v, dict) else {}


def params_of(res: Any, cohort: str | None = None) -> dict:
    """The run's parameters, with units that name only the data at hand: an expression unit
    given for counts AND arrays ("log2 CPM (TMM) for counts; log2 intensity for arrays") is
    narrowed to the one that applies when every analysed cohort is RNA-seq (or every one an array),
    or, with ``cohort``, to the one of that cohort's technology (its row of ``res.cohorts``)."""
    params = dict(getattr(res, "params", None) or {})
    techs = set()
    cohorts = table(res, "cohorts")
    if cohort is not None and {"accession", "technology"} <= set(cohorts.columns):
        techs = set(cohorts.loc[cohorts["accession"].astype(str) == str(cohort), "technology"].astype(str))
    elif {"status", "technology"} <= set(cohorts.columns):
        techs = set(cohorts.loc[cohorts["status"].astype(str) == "analysed", "technology"].astype(str))
    de = params.get("de")
    if techs == {"rnaseq"} and isinstance(de, str):
        params["de"] = re.sub(r",\s*limma \(arrays\)\s*$", "", de)
    units = params.get("expression_units")
    if isinstance(units, str) and "; " in units and " for " in units:
        parts = {}
        for part in units.split("; "):
            what, _, kind = part.rpartition(" for ")
            parts[kind.strip()] = what.strip()
        if techs == {"rnaseq"} and "counts" in parts:
            params["expression_units"] = parts["counts"]
        elif techs == {"array"} and "arrays" in parts:
            params["expression_units"] = parts["arrays"]
    return params


def stage_order(values) -> list:
    """Groups in the palette's stage order (healthy < obese < NAFL < NASH ...), unknown ones last."""
    present = [v for v in pd.unique(pd.Series(list(values)).dropna()) if str(v) not in ("nan", "unlabelled")]
    known = [g for g in _GROUP_ORDER if g in present]
    return known + sorted((g for g in present if g not in known), key=str)


def mg_sets_in(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith("MG_") and pd.api.types.is_numeric_dtype(df[c])]
    return cols + (["mg_balance"] if "mg_balance" in df.columns else [])


def gene_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in LABEL_COLUMNS and feature_kind(c) == "gene"
            and pd.api.types.is_numeric_dtype(df[c])]


def units_for(cols, params: dict) -> dict:
    return {c: feature_units(c, params) for c in cols}


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


def design_words(design: Any) -> str:
    """A test's design in words: ``within:condition+paired:pair_id`` -> ``within condition and pairs``,
    ``paired: hcc_tumour vs hcc_nontumour`` -> ``within pairs (HCC tumour vs HCC non-tumour)``."""
    d = "" if is_missing(design) else str(design)
    if "+" in d:
        return " and ".join(design_words(p) for p in d.split("+")).replace(" and within ", " and ")
    if d.startswith("within:"):
        return f"within {d.split(':', 1)[1].replace('_', ' ')}"
    if d.startswith(("paired:", "unpaired:")):
        kind, rest = d.split(":", 1)
        rest = rest.strip()
        if rest in ("pair_id", ""):
            return "within pairs" if kind == "paired" else "unpaired"
        groups = " vs ".join(group_label(g.strip()) for g in rest.split(" vs "))
        return f"within pairs ({groups})" if kind == "paired" else f"unpaired ({groups})"
    if d == "pooled":
        return "pooled over all samples (ignores groups)"
    return d.replace("_", " ")

"""Harmonised labels from the cohort catalog's rules: :func:`label_obs` maps raw sample
metadata onto ``disease`` / ``condition`` / ``fibrosis_stage`` / ``nas`` / ``subgroup`` /
``pair_id`` (see :mod:`mgtranscript.datasets.catalog` for the vocabulary and the rule
file), and :func:`apply_labels` writes them into an AnnData."""

from __future__ import annotations

import logging
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ._catalog import (
    DISEASES,
    OUTPUT_COLUMNS,
    UNLABELLED,
    CatalogLike,
    LabelWarning,
    _cohorts,
    _resolve,
    _snake,
    use_catalog,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["label_obs", "apply_labels"]


def _find_column(obs: pd.DataFrame, name: str) -> str | None:
    """The obs column for a rule column name (snake_case comparison; *_source copies first)."""
    if name == "obs_names":
        return "obs_names"
    lookup = {_snake(c): c for c in obs.columns}
    key = _snake(name)
    if key in OUTPUT_COLUMNS and f"{key}_source" in lookup:
        return lookup[f"{key}_source"]
    return lookup.get(key)


def _values(obs: pd.DataFrame, col: str) -> pd.Series:
    s = pd.Series(obs.index, index=obs.index) if col == "obs_names" else obs[col]
    return s.astype("object").where(s.notna(), None).map(lambda v: None if v is None else str(v).strip())


def _rule_matches(obs: pd.DataFrame, rule: dict) -> tuple[np.ndarray, list[str]]:
    hit = np.zeros(len(obs), dtype=bool)
    used = []
    for name in rule["columns"]:
        col = _find_column(obs, name)
        if col is None:
            continue
        used.append(col)
        vals = _values(obs, col)
        present = vals.notna().to_numpy()
        v = vals.fillna("")
        if "equals" in rule:
            m = (v.str.casefold() == str(rule["equals"]).strip().casefold()).to_numpy()
        else:
            rx = re.compile(rule["regex"], re.IGNORECASE)
            m = np.fromiter((rx.search(x) is not None for x in v), dtype=bool, count=len(v))
        hit |= m & present
    return hit, used


def _parse_numeric(obs: pd.DataFrame, spec: dict, field_name: str, acc: str, warn: bool) -> pd.Series:
    out = pd.Series(np.nan, index=obs.index, dtype=float)
    for name in spec.get("columns", [field_name]):
        col = _find_column(obs, name)
        if col is None:
            continue
        raw = obs[col] if col != "obs_names" else pd.Series(obs.index, index=obs.index)
        if pd.api.types.is_numeric_dtype(raw):
            vals = raw.astype(float)
        else:
            pattern = spec.get("regex", r"(-?\d+(?:\.\d+)?)")
            vals = pd.to_numeric(raw.astype("string").str.extract(pattern, expand=False), errors="coerce")
        lo, hi = spec.get("min", -np.inf), spec.get("max", np.inf)
        bad = vals.notna() & ((vals < lo) | (vals > hi))
        if bad.any():
            ex = bad.idxmax()
            msg = (
                f"{acc}: {int(bad.sum())} {field_name} values in obs[{col!r}] lie outside "
                f"[{lo}, {hi}] (e.g. {ex}: {raw[ex]!r}); set to NaN."
            )
            if warn:
                warnings.warn(msg, LabelWarning, stacklevel=3)
            logger.warning(msg)
            vals = vals.mask(bad)
        out = vals.astype(float)
        break
    return out


def _gsm_number(names: pd.Index) -> pd.Series:
    return pd.to_numeric(pd.Series(names, index=names).astype(str).str.extract(r"^GSM(\d+)$", expand=False),
                         errors="coerce")


def _pairing(obs: pd.DataFrame, condition: pd.Series, spec: dict, acc: str) -> pd.Series:
    method = spec["method"]
    prefix = spec.get("prefix", f"{acc}_P")
    pid = pd.Series(pd.NA, index=obs.index, dtype="object")
    if method == "gsm_offset":
        num = _gsm_number(obs.index)
        n_pairs = spec.get("n_pairs")
        for cond, start in spec["start"].items():
            m = int(re.sub(r"\D", "", start))
            k = num - m
            ok = (condition == cond) & k.notna() & (k >= 0)
            if n_pairs is not None:
                ok &= k < n_pairs
            pid[ok] = [f"{prefix}{int(x) + 1}" for x in k[ok]]
    elif method == "order":
        groups = spec["groups"]
        num = _gsm_number(obs.index)
        members = [num[condition == g].sort_values() for g in groups]
        sizes = {g: len(m) for g, m in zip(groups, members)}
        if len(set(sizes.values())) != 1:
            logger.warning("%s: pairing by order needs equal group sizes, got %s; no pair_id set.", acc, sizes)
            return pid
        for m in members:
            pid[m.index] = [f"{prefix}{i + 1}" for i in range(len(m))]
    elif method in ("regex", "column"):
        for name in spec.get("columns", [spec.get("column", "")]):
            col = _find_column(obs, name)
            if col is None:
                continue
            vals = _values(obs, col)
            if method == "regex":
                vals = vals.astype("string").str.extract(spec["regex"], expand=False)
            pid = vals.astype("object").where(vals.notna(), pd.NA)
            break
    # keep only complete pairs: an id seen with at least two different conditions
    df = pd.DataFrame({"pid": pid, "cond": condition.astype("object")}).dropna()
    complete = df.groupby("pid")["cond"].nunique()
    complete = set(complete.index[complete >= 2])
    return pid.where(pid.isin(complete), pd.NA)


def _ordered_categorical(values: pd.Series, order: list[str]) -> pd.Categorical:
    present = list(pd.unique(values.dropna()))
    cats = [c for c in order if c in present] + sorted(c for c in present if c not in order and c != UNLABELLED)
    if UNLABELLED in present:
        cats.append(UNLABELLED)
    return pd.Categorical(values, categories=cats)


def label_obs(obs: pd.DataFrame, accession: str, *, warn: bool = True,
              catalog: CatalogLike | None = None) -> pd.DataFrame:
    """Harmonised labels for a sample table, by the catalog's rules for ``accession``.

    Parameters
    ----------
    obs
        One row per sample (index: sample ids, e.g. GSM), raw metadata columns
        (series-matrix characteristics in snake_case, sample-sheet columns as-is).
    accession
        A cohort of :func:`catalog`.
    warn
        Emit a :class:`LabelWarning` for samples no rule covers (they are always logged).
    catalog
        A user catalog (TOML path or mapping) merged over the bundled one.

    Returns
    -------
    DataFrame (same index) with ``cohort``, ``disease``, ``condition``,
    ``fibrosis_stage``, ``nas``, plus ``subgroup`` and ``pair_id`` when the cohort
    defines them. ``attrs["label_check"]`` holds the check against the entry's expected
    counts and rules (:func:`mgtranscript.datasets._label_checks.check_labels`) and
    ``attrs["missing"]`` what is missing to label or pair the samples (or ``None``).
    """
    with use_catalog(catalog):
        return _label_obs(obs, accession, warn=warn)


def _label_obs(obs: pd.DataFrame, accession: str, *, warn: bool) -> pd.DataFrame:
    from ._label_checks import check_labels, missing_information, rule_problems

    acc = _resolve(accession)
    info = _cohorts()[acc]
    n = len(obs)
    disease = np.full(n, UNLABELLED, dtype=object)
    condition = np.full(n, UNLABELLED, dtype=object)
    has_sub = any("subgroup" in r for r in info["labels"])
    subgroup = np.full(n, None, dtype=object)
    done = np.zeros(n, dtype=bool)
    used: list[str] = []
    hits: list[np.ndarray] = []
    for rule in info["labels"]:
        hit, cols = _rule_matches(obs, rule)
        hits.append(hit)
        used += [c for c in cols if c not in used]
        new = hit & ~done
        disease[new] = rule["disease"]
        condition[new] = rule["condition"]
        if "subgroup" in rule:
            subgroup[new] = rule["subgroup"]
        done |= new

    out = pd.DataFrame(index=obs.index)
    out["cohort"] = pd.Categorical([acc] * n)
    out["disease"] = _ordered_categorical(pd.Series(disease, index=obs.index), list(DISEASES))
    out["condition"] = _ordered_categorical(pd.Series(condition, index=obs.index), list(info["condition_order"]))
    if has_sub:
        out["subgroup"] = _ordered_categorical(pd.Series(subgroup, index=obs.index),
                                               list(info.get("subgroup_order", [])))
    numeric = info.get("numeric", {})
    # fibrosis_stage and nas always exist (NaN when not recorded); other declared numeric
    # fields (e.g. age) are added when the catalog declares them
    for fname in dict.fromkeys(["fibrosis_stage", "nas", *numeric]):
        out[fname] = (
            _parse_numeric(obs, numeric[fname], fname, acc, warn)
            if fname in numeric
            else pd.Series(np.nan, index=obs.index, dtype=float)
        )

    n_un = int((~done).sum())
    if n_un:
        wanted = sorted({c for r in info["labels"] for c in r["columns"]})
        if not used:
            detail = (
                f"none of the rule columns {wanted} is in obs (columns: {list(obs.columns)[:12]}"
                f"{' ...' if obs.shape[1] > 12 else ''})"
            )
        else:
            i = int(np.flatnonzero(~done)[0])
            vals = ", ".join(
                f"{c}={_values(obs, c).iloc[i]!r}" for c in used
            )
            detail = f"e.g. {obs.index[i]}: {vals}"
        msg = (
            f"{acc}: {n_un} of {n} samples match no label rule ({detail}); they are labelled "
            f"{UNLABELLED!r}. Add a rule to the catalog or fix their metadata."
        )
        if warn:
            warnings.warn(msg, LabelWarning, stacklevel=2)
        logger.warning(msg)

    pairing = info.get("pairing")
    if pairing is not None:
        pid = _pairing(obs, pd.Series(condition, index=obs.index), pairing, acc)
        out["pair_id"] = pd.Categorical(pid.where(pid.notna(), None))
        n_pairs = int(pid.nunique())
        logger.warning(
            "%s: pair_id assigned by the catalog's declared rule (%s: %s); %d complete pairs.",
            acc, pairing["method"], pairing.get("rule", ""), n_pairs,
        )
    pairing_present = True
    if pairing is not None and pairing["method"] in ("regex", "column"):
        found = [_find_column(obs, c) for c in pairing.get("columns", [pairing.get("column", "")])]
        pairing_present = any(c == "obs_names" or (c is not None and obs[c].notna().any()) for c in found)
    out.attrs["missing"] = missing_information(obs, out, info, acc, found_columns=used,
                                               pairing_present=pairing_present)
    out.attrs["label_check"] = check_labels(out, info, problems=rule_problems(hits, info["labels"], obs.index))
    return out


def _accession_of(adata) -> str:
    uns = adata.uns
    for key in ("geo", "gdc", "cohort"):
        v = uns.get(key)
        if isinstance(v, str) and v:
            return v
        if isinstance(v, dict):
            for k in ("accession", "geo_accession", "series", "project_id", "project"):
                if isinstance(v.get(k), str) and v[k]:
                    return v[k]
    for key in ("accession",):
        if isinstance(uns.get(key), str):
            return uns[key]
    for col in ("cohort", "accession", "series"):
        if col in adata.obs.columns:
            vals = adata.obs[col].dropna().astype(str).unique()
            if len(vals) == 1:
                return vals[0]
            if len(vals) > 1:
                raise InputDataError(
                    f"obs[{col!r}] holds several cohorts ({list(vals)[:5]}); label each cohort "
                    "separately or pass accession=."
                )
    raise InputDataError(
        "cannot tell which cohort this AnnData is (no uns['geo']['accession'], uns['gdc'], "
        "obs['cohort'] or obs['accession']); pass accession='GSE...'."
    )


def apply_labels(adata: AnnData, accession: str | None = None, *, copy: bool = False, warn: bool = True,
                 catalog: CatalogLike | None = None) -> AnnData | None:
    """Write harmonised labels into ``adata.obs`` by the catalog's rules.

    Parameters
    ----------
    adata
        AnnData with raw sample metadata in ``obs`` (as :func:`mgtranscript.datasets.geo` gives).
    accession
        Cohort accession; by default taken from ``uns["geo"]["accession"]``,
        ``uns["gdc"]["project_id"]``, ``obs["cohort"]`` or ``obs["accession"]``.
    copy
        Return a labelled copy instead of modifying ``adata``.
    warn
        Warn (:class:`LabelWarning`) about samples no rule covers, and when the labels
        disagree with the entry's expected counts.
    catalog
        A user catalog (TOML path or mapping) merged over the bundled one.

    Returns
    -------
    ``None`` or the copy. Sets ``obs`` columns ``cohort``, ``disease``, ``condition``,
    ``fibrosis_stage``, ``nas`` (and ``subgroup``/``pair_id`` where defined). A
    pre-existing raw column of one of these names (e.g. the series' own ``disease``
    characteristic) is kept as ``<name>_source`` and the rules read it from there, so
    applying the labels twice gives the same result. ``uns["labels"]`` records the
    cohort, counts per condition, reference and pairing rule, and ``check``: the labels against
    the entry's expected counts (``status`` ``ok`` or ``labels disagree``, ``reason``,
    ``expected``, ``observed``, ``source``, ``n_unlabelled``; see
    :mod:`mgtranscript.datasets._label_checks`).
    """
    with use_catalog(catalog):
        return _apply_labels(adata, accession, copy=copy, warn=warn)


def _apply_labels(adata, accession, *, copy: bool, warn: bool):
    if copy:
        adata = adata.copy()
    acc = _resolve(accession if accession is not None else _accession_of(adata))
    labels = _label_obs(adata.obs, acc, warn=warn)
    obs = adata.obs
    for col in labels.columns:
        if col in obs.columns and f"{col}_source" not in obs.columns:
            same = obs[col].astype("object").equals(labels[col].astype("object"))
            if not same:
                obs[f"{col}_source"] = obs[col]
        obs[col] = labels[col]
    info = _cohorts()[acc]
    counts = labels["condition"].value_counts(sort=False)
    check = labels.attrs.get("label_check", {})
    if check.get("status") not in (None, "ok") and not labels.attrs.get("missing"):
        msg = f"{acc}: {check['status']}: {check['reason']}"
        if warn:
            warnings.warn(msg, LabelWarning, stacklevel=3)
        else:
            logger.warning("%s", msg)
    adata.uns["labels"] = {
        "cohort": acc,
        "n_samples": int(len(labels)),
        "n_unlabelled": int((labels["condition"] == UNLABELLED).sum()),
        "condition_counts": {str(k): int(v) for k, v in counts.items()},
        "reference": info["reference"],
        "condition_order": list(info["condition_order"]),
        "design": info["design"],
        "pairing": (f"{info['pairing']['method']}: {info['pairing'].get('rule', '')}" if "pairing" in info else ""),
        "n_pairs": int(labels["pair_id"].nunique()) if "pair_id" in labels else 0,
        "catalog_file": str(info.get("catalog_file", "bundled")),
        "check": check,
        "missing": labels.attrs.get("missing") or "",
    }
    return adata if copy else None

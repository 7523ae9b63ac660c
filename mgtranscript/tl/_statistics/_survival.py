"""Overall survival by a feature (gene or score): Kaplan-Meier, log-rank and Cox models.

All estimators come from `lifelines <https://lifelines.readthedocs.io>`_
(``KaplanMeierFitter``, ``logrank_test``, ``CoxPHFitter``,
``proportional_hazard_test``); this module selects the samples, dichotomises the
feature for the curves and collects the results.

Samples: those with ``obs[groupby] == group`` (by default TCGA primary tumours), one per
``one_per`` (patient; the first by sorted sample name, e.g. ``01A`` before ``01B``),
with a finite feature value, a non-negative ``time`` and an ``event`` of 0/1.

Kaplan-Meier / log-rank
    ``high`` = feature above the cut value, ``low`` = at or below it. ``cut="median"``
    (default) or a quantile in (0, 1) give one pre-specified cut. ``cut="optimal"``
    tries every distinct value between the 20th and 80th percentiles and keeps the one
    with the smallest log-rank p; that minimum is biased, so ``logrank_p`` then holds
    the p-value corrected for the search (Altman, Lausen, Sauerbrei & Schumacher 1994,
    J Natl Cancer Inst 86:829, with epsilon = 0.2), ``logrank_p_raw`` the minimum and
    ``n_cuts`` how many cuts were tried.
Cox proportional hazards
    The feature as a continuous covariate scaled to unit SD (``hr_per_sd``: hazard ratio
    per SD, 95% Wald CI, Wald p), and the same model adjusted for ``covariates``
    (``hr_adj_*``). Each model's proportional-hazards assumption for the feature is
    tested on that model (Schoenfeld residuals, rank time transform: ``ph_test_p``
    for the plain model, ``ph_adj_test_p`` for the adjusted one); p < ``ph_alpha``
    sets ``ph_violated`` / ``ph_adj_violated`` and says so in ``note`` (the hazard ratio
    is then an average over follow-up, not a constant). A model the unpenalised fit
    cannot estimate (no convergence, e.g. separation) gets no hazard ratio: its
    ridge-penalised refit (penalizer 0.01) is shown in ``penalised`` (text), never in
    the ``hr_*``/``cox_*`` columns a verdict reads. Covariate coding: numeric columns as
    they are; a column whose values read ``Stage I``..``Stage IV`` (sub-stages pooled)
    as an ordinal 1-4; other text/boolean columns as indicator variables against their
    most frequent level, levels with fewer than 5 patients pooled into ``"other"``.
    Patients missing a covariate are left out of the adjusted model only (``n_adj``).
Excluded patients
    ``n_excluded`` counts the patients of the group left out for lack of survival
    data, ``excluded`` says why: by ``obs["os_missing_reason"]`` where the loader
    recorded it (e.g. a death without a date), else "time or event missing".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ...errors import InputDataError
from .._store import finish, start, store
from ._cox import cox_into as _cox_into

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["survival", "SUMMARY_COLUMNS", "KM_COLUMNS"]

#: Columns of the summary table (one row per feature).
SUMMARY_COLUMNS = [
    "feature", "source", "group", "n", "n_events", "n_high", "n_low", "cut", "cut_value", "n_cuts",
    "logrank_p", "logrank_p_raw", "hr_per_sd", "hr_ci_low", "hr_ci_high", "cox_p", "ph_test_p",
    "ph_violated", "adjusted_for", "n_adj", "hr_adj_per_sd", "hr_adj_ci_low", "hr_adj_ci_high", "cox_adj_p",
    "ph_adj_test_p", "ph_adj_violated", "median_os_high", "median_os_low", "n_excluded", "excluded",
    "penalised", "note",
]  # fmt: skip
#: Columns of the tidy Kaplan-Meier table.
KM_COLUMNS = ["feature", "group", "timeline", "survival", "ci_low", "ci_high", "at_risk", "events",
              "censored"]
_OPTIMAL_RANGE = (0.2, 0.8)
_MIN_LEVEL = 5
_STAGE = re.compile(r"^\s*stage\s*(iv|iii|ii|i)[a-c]?\s*$", re.IGNORECASE)
_STAGE_NUM = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


# ---------------------------------------------------------------------------- inputs


def _matrix_column(adata, j: int, layer: str | None) -> np.ndarray:
    mat = adata.X if layer is None else adata.layers[layer]
    col = mat[:, j]
    if hasattr(col, "compute"):
        col = col.compute()
    col = col.toarray() if sparse.issparse(col) else np.asarray(col)
    return col.ravel().astype(float)


def _feature_values(adata, feature: str, layer: str | None) -> tuple[np.ndarray, str]:
    """Values of a gene (var name or ``var["gene_name"]``), obs column or obsm score column."""
    if layer is not None and layer not in adata.layers:
        raise InputDataError(f"layer {layer!r} not found; available: {list(adata.layers.keys())}.")
    if feature in adata.var_names:
        j = adata.var_names.get_loc(feature)
        if not isinstance(j, (int, np.integer)):
            raise InputDataError(f"{feature!r} occurs several times in var_names; make them unique.")
        return _matrix_column(adata, int(j), layer), "X" if layer is None else f"layers/{layer}"
    if feature in adata.obs.columns:
        s = adata.obs[feature]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise InputDataError(f"obs[{feature!r}] is not numeric; survival needs a numeric feature.")
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), "obs"
    from ...get import scores

    key, _, col = feature.partition(":")
    if col and key in adata.obsm:
        df = scores(adata, key)
        if col in df.columns:
            return df[col].to_numpy(dtype=float), f"obsm/{key}"
    hits = []
    for k, v in adata.obsm.items():
        if isinstance(v, pd.DataFrame) and feature in v.columns:
            hits.append(k)
    if len(hits) == 1:
        return scores(adata, hits[0])[feature].to_numpy(dtype=float), f"obsm/{hits[0]}"
    if len(hits) > 1:
        raise InputDataError(f"{feature!r} is a score column of several obsm keys {hits}; "
                             f"pass '<key>:{feature}'.")
    if "gene_name" in adata.var.columns:
        where = np.flatnonzero(adata.var["gene_name"].astype(str).to_numpy() == feature)
        if len(where) == 1:
            return _matrix_column(adata, int(where[0]), layer), "X" if layer is None else f"layers/{layer}"
    raise InputDataError(
        f"{feature!r} is neither a gene in var_names, a numeric obs column, nor a score column of "
        f"obsm {list(adata.obsm.keys())}. Pass a measured gene, an obs column, or '<obsm key>:<set>'."
    )


def _need_column(adata, col: str, what: str) -> pd.Series:
    if col not in adata.obs.columns:
        hint = (" Load TCGA with clinical=True (mgtranscript.datasets.gdc) to get os_days/os_event."
                if col in ("os_days", "os_event") else "")
        raise InputDataError(f"{what}={col!r} is not a column of adata.obs.{hint}")
    return adata.obs[col]


def _select(adata, *, time: str, event: str, groupby: str | None, group, one_per: str | None) -> tuple[
        np.ndarray, pd.DataFrame, dict]:
    """Boolean mask of the samples used, their (time, event) frame, and counts."""
    t = pd.to_numeric(_need_column(adata, time, "time").astype("object"), errors="coerce").astype(float)
    e = pd.to_numeric(_need_column(adata, event, "event").astype("object"), errors="coerce").astype(float)
    bad = e.notna() & ~e.isin([0.0, 1.0])
    if bad.any():
        raise InputDataError(f"obs[{event!r}] must be 0 (censored) or 1 (event); found "
                             f"{sorted(set(e[bad]))[:5]}.")
    keep = np.ones(adata.n_obs, dtype=bool)
    if groupby is not None:
        g = _need_column(adata, groupby, "groupby").astype("object")
        if not (g == group).any():
            raise InputDataError(f"no sample has obs[{groupby!r}] == {group!r}; levels: "
                                 f"{sorted(set(g.dropna().astype(str)))}.")
        keep &= (g == group).to_numpy()
    have = (t.notna() & e.notna() & (t >= 0)).to_numpy()
    excluded = _excluded(adata.obs, keep & ~have, one_per)
    keep &= have
    n_dup = 0
    if one_per is not None:
        pid = _need_column(adata, one_per, "one_per").astype("object")
        order = np.argsort(adata.obs_names.to_numpy(dtype=str), kind="stable")
        seen: set = set()
        first = np.zeros(adata.n_obs, dtype=bool)
        for i in order:
            if not keep[i]:
                continue
            p = pid.iloc[i]
            key = adata.obs_names[i] if p is None or (isinstance(p, float) and np.isnan(p)) else p
            if key in seen:
                n_dup += 1
                continue
            seen.add(key)
            first[i] = True
        keep = first
    frame = pd.DataFrame({"T": t.to_numpy(), "E": e.to_numpy()}, index=adata.obs_names)
    return keep, frame, {"n_duplicates_dropped": n_dup, "excluded": excluded}


def _excluded(obs: pd.DataFrame, mask: np.ndarray, one_per: str | None) -> dict[str, int]:
    """Reason -> number of patients (``one_per``; else samples) left out for lack of survival."""
    if not mask.any():
        return {}
    why = (obs["os_missing_reason"].astype("object") if "os_missing_reason" in obs.columns
           else pd.Series(None, index=obs.index, dtype=object))
    why = why.where(why.notna(), "time or event missing")[mask]
    who = obs[one_per].astype("object")[mask] if one_per is not None and one_per in obs.columns else why.index
    df = pd.DataFrame({"why": why.astype(str).to_numpy(), "who": np.asarray(who, dtype=object)})
    df["who"] = df["who"].where(pd.notna(df["who"]), pd.Series(why.index, dtype=object))
    return {str(k): int(v) for k, v in df.drop_duplicates("who")["why"].value_counts().items()}


# ---------------------------------------------------------------------------- statistics


def _altman_p(p_min: float, eps: float = _OPTIMAL_RANGE[0]) -> float:
    """P-value of a minimum log-rank p over cut points in [eps, 1-eps] (Altman et al. 1994)."""
    if not np.isfinite(p_min) or p_min <= 0:
        return float(p_min)
    z = stats.norm.isf(p_min / 2)
    phi = stats.norm.pdf(z)
    p = phi * (z - 1 / z) * np.log((1 - eps) ** 2 / eps**2) + 4 * phi / z
    return float(min(1.0, max(p, p_min)))


def _logrank(T, E, high) -> float:
    from lifelines.statistics import logrank_test

    res = logrank_test(T[high], T[~high], event_observed_A=E[high], event_observed_B=E[~high])
    return float(res.p_value)


def _cut(x: np.ndarray, T, E, cut) -> tuple[str, float, np.ndarray, int, float, float]:
    """(cut label, cut value, high mask, n cuts tried, log-rank p, raw p)."""
    if isinstance(cut, str) and cut == "median":
        value, label = float(np.median(x)), "median"
    elif isinstance(cut, str) and cut == "optimal":
        lo, hi = np.quantile(x, _OPTIMAL_RANGE)
        cands = np.unique(x[(x >= lo) & (x < hi)])
        tried = []
        for c in cands:
            high = x > c
            if high.sum() < 2 or (~high).sum() < 2:
                continue
            tried.append((_logrank(T, E, high), float(c)))
        if not tried:
            raise InputDataError("cut='optimal': no cut point between the 20th and 80th percentiles "
                                 "splits the samples (too few distinct values).")
        p_raw, value = min(tried)
        high = x > value
        return "optimal", value, high, len(tried), _altman_p(p_raw), p_raw
    elif isinstance(cut, (int, float)) and not isinstance(cut, bool) and 0 < float(cut) < 1:
        value, label = float(np.quantile(x, float(cut))), f"quantile {float(cut):g}"
    else:
        raise InputDataError(f"cut must be 'median', 'optimal' or a quantile in (0, 1), not {cut!r}.")
    high = x > value
    if high.sum() == 0 or high.all():
        raise InputDataError(f"the {label} cut ({value:.4g}) leaves one group empty (tied values); "
                             "use another cut.")
    p = _logrank(T, E, high)
    return label, value, high, 1, p, p


def _covariate_frame(obs: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Design columns for the adjusted Cox model (see the module doc) and coding notes."""
    cols: dict[str, pd.Series] = {}
    notes = []
    for cov in covariates:
        if cov not in obs.columns:
            raise InputDataError(f"covariate {cov!r} is not a column of adata.obs.")
        s = obs[cov]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols[cov] = pd.to_numeric(s, errors="coerce").astype(float)
            continue
        text = s.astype("object").map(lambda v: None if v is None or v is pd.NA
                                      or (isinstance(v, float) and np.isnan(v)) else str(v))
        parsed = text.map(lambda v: _STAGE.match(v) if v is not None else None)
        if text.notna().any() and parsed[text.notna()].map(bool).mean() >= 0.5:
            cols[cov] = parsed.map(lambda m: float(_STAGE_NUM[m.group(1).lower()]) if m else np.nan)
            notes.append(f"{cov} as ordinal I=1..IV=4")
            continue
        counts = text.value_counts()
        rare = set(counts.index[counts < _MIN_LEVEL])
        if rare and len(counts) - len(rare) >= 1:
            text = text.map(lambda v, r=frozenset(rare): "other" if v in r else v)
        counts = text.value_counts()
        if len(counts) < 2:
            notes.append(f"{cov} dropped (one level)")
            continue
        ref = counts.index[0]
        for level in counts.index[1:]:
            cols[f"{cov}[{level}]"] = text.map(lambda v, lv=level: np.nan if v is None else float(v == lv))
        notes.append(f"{cov} vs {ref}")
    return pd.DataFrame(cols, index=obs.index), notes


def _km(T, E, high, feature: str):
    from lifelines import KaplanMeierFitter

    rows, medians = [], {}
    for name, mask in (("high", high), ("low", ~high)):
        kmf = KaplanMeierFitter().fit(T[mask], E[mask], label=name)
        sf = kmf.survival_function_[name]
        ci = kmf.confidence_interval_
        et = kmf.event_table.reindex(sf.index)
        rows.append(pd.DataFrame({
            "feature": feature, "group": name, "timeline": sf.index.to_numpy(dtype=float),
            "survival": sf.to_numpy(dtype=float), "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
            "at_risk": et["at_risk"].fillna(0).to_numpy(dtype=int),
            "events": et["observed"].fillna(0).to_numpy(dtype=int),
            "censored": et["censored"].fillna(0).to_numpy(dtype=int)}))
        med = float(kmf.median_survival_time_)
        medians[name] = med if np.isfinite(med) else np.nan
    return pd.concat(rows, ignore_index=True), medians


# ---------------------------------------------------------------------------- public


def survival(
    adata: AnnData,
    feature: str | Sequence[str],
    *,
    time: str = "os_days",
    event: str = "os_event",
    groupby: str | None = "condition",
    group: str = "hcc_tumour",
    one_per: str | None = "patient_id",
    cut: str | float = "median",
    covariates: Sequence[str] | None = None,
    layer: str | None = None,
    min_events: int = 10,
    ph_alpha: float = 0.05,
    key_added: str = "survival",
    copy: bool = False,
) -> AnnData | None:
    """Kaplan-Meier, log-rank and Cox proportional hazards for a feature (lifelines).

    Parameters
    ----------
    adata
        AnnData, samples x genes, with survival columns in ``obs`` (e.g. TCGA-LIHC from
        :func:`mgtranscript.datasets.gdc`).
    feature
        A gene in ``var_names`` (or in ``var["gene_name"]``), a numeric ``obs`` column
        (e.g. ``mg_balance``), or a score column of ``obsm`` (``"SET"`` when unique, or
        ``"<obsm key>:SET"``). A list gives one summary row per feature.
    time, event
        ``obs`` columns: follow-up time (days) and event indicator (1 = death, 0 = censored).
    groupby, group
        Use only samples with ``obs[groupby] == group`` (default: primary tumours);
        ``groupby=None`` uses every sample.
    one_per
        Keep one sample per value of this ``obs`` column (the first by sorted sample
        name); ``None`` keeps all.
    cut
        ``"median"`` (default), a quantile in (0, 1), or ``"optimal"`` (minimum log-rank p
        over cuts between the 20th and 80th percentiles, reported with the number of
        cuts tried and a p-value corrected for the search). Only the curves and the
        log-rank test use the cut; the Cox models use the continuous feature.
    covariates
        ``obs`` columns to adjust the Cox model for, e.g.
        ``["ajcc_pathologic_stage", "age_at_diagnosis", "etiology"]`` (coding in the
        module doc).
    layer
        Expression layer for genes (default ``X``).
    min_events
        Fewest events (deaths) among the selected samples; fewer raise
        :class:`~mgtranscript.errors.InputDataError`.
    ph_alpha
        Level of the proportional-hazards test below which ``ph_violated`` /
        ``ph_adj_violated`` are set.
    key_added
        Results go to ``adata.uns[key_added]``.
    copy
        Work on (and return) a copy of ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. ``adata.uns[key_added]`` holds
    ``"params"`` (a plain dict),
    ``"summary"`` (one row per feature, columns :data:`SUMMARY_COLUMNS`: ``n``,
    ``n_events``, ``cut``, ``cut_value``, ``n_cuts``, ``logrank_p``, ``logrank_p_raw``,
    ``hr_per_sd`` with ``hr_ci_low``/``hr_ci_high``/``cox_p``, ``ph_test_p``/``ph_violated``,
    ``adjusted_for``, ``n_adj``, ``hr_adj_per_sd``/``hr_adj_ci_low``/``hr_adj_ci_high``/
    ``cox_adj_p``, ``ph_adj_test_p``/``ph_adj_violated``, ``median_os_high``/
    ``median_os_low`` (NaN when not reached), ``n_excluded``/``excluded`` (patients of
    the group without survival data, and why), ``penalised`` (a refit shown, not used),
    ``note``) and ``"km"`` (tidy Kaplan-Meier curves, :data:`KM_COLUMNS`); read them with
    :func:`mgtranscript.get.survival` ``(adata, key_added)`` and ``(adata, key_added,
    table="km")``.

    Raises
    ------
    InputDataError
        Missing time/event/group/covariate columns, an unknown feature, fewer than
        ``min_events`` events, a constant feature or a cut that leaves a group empty.
    """
    adata = start(adata, "survival", key_added=key_added, copy=copy)
    features = [feature] if isinstance(feature, str) else list(feature)
    if not features:
        raise InputDataError("feature is empty; pass a gene, an obs column or a score.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    keep, frame, counts = _select(adata, time=time, event=event, groupby=groupby, group=group,
                                  one_per=one_per)
    cov_frame, cov_notes = _covariate_frame(adata.obs, covariates) if covariates else (None, [])
    rows, kms = [], []
    for feat in features:
        values, source = _feature_values(adata, feat, layer)
        ok = keep & np.isfinite(values)
        T = frame["T"].to_numpy()[ok]
        E = frame["E"].to_numpy()[ok].astype(int)
        x = values[ok]
        n, n_events = int(ok.sum()), int(E.sum())
        where = f"{groupby} == {group!r}" if groupby is not None else "all samples"
        if n_events < min_events:
            raise InputDataError(
                f"survival of {feat!r}: only {n_events} events ({event} = 1) among {n} samples with "
                f"{where}, known {time} and a value; need at least min_events={min_events}.")
        sd = float(np.std(x, ddof=1))
        if not np.isfinite(sd) or sd == 0:
            raise InputDataError(f"survival of {feat!r}: the feature is constant over the {n} samples.")
        note: list[str] = []
        label, value, high, n_cuts, p_lr, p_raw = _cut(x, T, E, cut)
        km, med = _km(T, E, high, feat)
        kms.append(km)
        df = pd.DataFrame({"T": T, "E": E, "z": (x - x.mean()) / sd})
        row = {
            "feature": feat, "source": source, "group": where, "n": n, "n_events": n_events,
            "n_high": int(high.sum()), "n_low": int((~high).sum()), "cut": label, "cut_value": value,
            "n_cuts": n_cuts, "logrank_p": p_lr, "logrank_p_raw": p_raw,
            "adjusted_for": ", ".join(covariates), "n_adj": 0,
            "median_os_high": med["high"], "median_os_low": med["low"],
            "n_excluded": int(sum(counts["excluded"].values())),
            "excluded": "; ".join(f"{v} {k}" for k, v in counts["excluded"].items()),
        }
        penalised: list[str] = []
        _cox_into(row, "", df, "Cox model", penalised, note, ph_alpha)
        if label == "optimal":
            note.append(f"optimal cut: smallest log-rank p over {n_cuts} cut points between the 20th "
                        "and 80th percentiles; logrank_p is corrected for this search (Altman et al. "
                        "1994), logrank_p_raw is the uncorrected minimum")
        if covariates and cov_frame is not None:
            adj = pd.concat([df.set_index(adata.obs_names[ok]), cov_frame.loc[adata.obs_names[ok]]], axis=1)
            adj = adj.dropna()
            adj = adj.loc[:, adj.nunique() > 1] if len(adj) else adj
            row["n_adj"] = len(adj)
            if len(adj) and int(adj["E"].sum()) >= min_events and "z" in adj:
                _cox_into(row, "adj_", adj.reset_index(drop=True), "adjusted Cox model", penalised, note,
                          ph_alpha)
                note.append("adjusted for " + "; ".join(cov_notes))
            else:
                note.append(f"adjusted model not fitted: {int(adj['E'].sum()) if len(adj) else 0} events "
                            f"among the {len(adj)} samples with every covariate (< min_events)")
        if not np.isfinite(med["high"]) or not np.isfinite(med["low"]):
            note.append("median survival not reached in "
                        + " and ".join(g for g in ("high", "low") if not np.isfinite(med[g])))
        if row["n_excluded"]:
            note.append(f"{row['n_excluded']} patients without survival left out ({row['excluded']})")
        row["penalised"] = "; ".join(penalised)
        row["note"] = "; ".join(note)
        rows.append(row)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    km = pd.concat(kms, ignore_index=True)[KM_COLUMNS]
    store(adata, key_added, "survival", {
            "features": [str(f) for f in features], "time": time, "event": event,
            "groupby": groupby or "", "group": str(group) if groupby is not None else "",
            "one_per": one_per or "", "cut": str(cut), "covariates": [str(c) for c in covariates],
            "layer": layer or "X", "min_events": int(min_events), "ph_alpha": float(ph_alpha),
            "n_duplicates_dropped": int(counts["n_duplicates_dropped"]),
            "excluded": dict(counts["excluded"]),
            "method": "lifelines KaplanMeierFitter, logrank_test, CoxPHFitter (per SD), "
                      "proportional_hazard_test (rank)",
        }, summary=summary, km=km)
    return finish(adata, copy)

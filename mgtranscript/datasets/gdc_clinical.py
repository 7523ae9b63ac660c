"""Clinical columns of a TCGA project from GDC ``cases`` records (real GDC layout).

One row per case, built by :func:`clinical_table` from the records that
``POST /cases`` returns with ``expand=demographic,diagnoses,exposures,follow_ups,
follow_ups.other_clinical_attributes``. What is read, exactly:

Risk factors (etiology)
    Only the fields named ``risk_factors`` / ``comorbidities`` (lists; GDC data
    release 42 puts the TCGA supplement's values there, under
    ``follow_ups[].other_clinical_attributes[]``) and their older single-valued forms
    ``risk_factor`` / ``comorbidity`` (on ``follow_ups[]``), wherever a case record
    carries them: ``follow_ups[]``, ``follow_ups[].other_clinical_attributes[]`` and a
    case-level ``other_clinical_attributes[]`` if a server sends one. Siblings such as
    ``risk_factor_treatment``, ``risk_factor_method_of_diagnosis`` or
    ``comorbidity_method_of_diagnosis`` are *not* risk factors and are ignored.

    Values ``Not Reported``, ``Unknown``, ``Not Applicable`` and blanks carry no
    information. A case with at least one informative value (``None`` included: "no
    risk factor") gets ``True``/``False`` flags; a case with none gets ``<NA>``
    (unknown), never ``False``:

    ``etiology_alcohol``  "Alcohol Consumption", "Alcoholic Liver Disease"
    ``etiology_hbv``      "Hepatitis B Infection" (or HBV)
    ``etiology_hcv``      "Hepatitis C Infection" (or HCV)
    ``etiology_nafld``    "Nonalcoholic Fatty Liver Disease", "Nonalcoholic
                          Steatohepatitis" (or NAFLD/NASH/MASLD/MASH)

    ``exposures[].alcohol_history`` records whether the patient ever drank (any
    amount); it does **not** make the tumour alcohol-related and is kept as its own
    column (``Yes``/``No``, the deprecated lower-case values normalised), as is
    ``alcohol_intensity``.

``etiology`` (one string per case)
    The true flags joined with ``+`` in the order alcohol, viral (HBV or HCV), NAFLD:
    ``"alcohol"``, ``"viral"``, ``"NAFLD"``, ``"alcohol+viral"``, ``"alcohol+NAFLD"``,
    ``"viral+NAFLD"``, ``"alcohol+viral+NAFLD"``; ``"other"`` when risk factors are
    recorded but none of the four (e.g. "None", "Hemochromatosis"); ``"unknown"``
    when nothing informative is recorded.

``viral_hepatitis_serology``
    The tests listed in ``viral_hepatitis_serology_tests`` (or the deprecated
    ``viral_hepatitis_serologies``), ``"; "``-joined. The GDC records which tests
    were done, not their results, so this column does not set the etiology flags.

Diagnosis
    The diagnosis with ``diagnosis_is_primary_disease`` true (else the one with
    ``classification_of_tumor == "primary"``, else the first one that names a
    ``primary_diagnosis``): ``primary_diagnosis``, ``ajcc_pathologic_stage``,
    ``tumor_grade`` (``G1``-``G4``, else missing), ``age_at_diagnosis`` (GDC days
    converted to years, /365.25; else ``demographic.age_at_index``).

Survival
    ``vital_status`` (``Alive``/``Dead``) and ``days_to_death`` from ``demographic``
    (older layouts: the diagnosis), ``days_to_last_follow_up`` from the primary
    diagnosis (else the largest over the diagnoses, else the largest
    ``follow_ups[].days_to_follow_up``). Derived overall survival: ``os_days`` =
    ``days_to_death`` for the dead, ``days_to_last_follow_up`` for the living;
    ``os_event`` = 1 (death) / 0 (censored) as nullable integers; missing when vital
    status or the needed time is unknown, or the time is negative.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "CLINICAL_COLUMNS",
    "CLINICAL_EXPAND",
    "CLINICAL_FIELDS",
    "ETIOLOGY_FLAGS",
    "GDCClinicalWarning",
    "clinical_table",
    "etiology_label",
    "risk_factor_table",
]

#: ``expand`` groups of the ``/cases`` query (the nested group holds the risk factors).
CLINICAL_EXPAND = "demographic,diagnoses,exposures,follow_ups,follow_ups.other_clinical_attributes"
_OCA = "follow_ups.other_clinical_attributes."
#: Explicit ``fields`` asked instead when a server refuses the nested expand group.
CLINICAL_FIELDS = [
    "submitter_id", "case_id",
    "demographic.gender", "demographic.vital_status", "demographic.days_to_death",
    "demographic.age_at_index",
    *(f"diagnoses.{f}" for f in (
        "primary_diagnosis", "ajcc_pathologic_stage", "tumor_grade", "age_at_diagnosis",
        "days_to_last_follow_up", "diagnosis_is_primary_disease", "classification_of_tumor",
        "vital_status", "days_to_death")),
    "exposures.alcohol_history", "exposures.alcohol_intensity",
    "follow_ups.days_to_follow_up", "follow_ups.risk_factor", "follow_ups.comorbidity",
    "follow_ups.risk_factors", "follow_ups.comorbidities",
    _OCA + "risk_factors", _OCA + "comorbidities", _OCA + "viral_hepatitis_serology_tests",
]  # fmt: skip

ETIOLOGY_FLAGS = ("etiology_alcohol", "etiology_hbv", "etiology_hcv", "etiology_nafld")
#: Columns of :func:`clinical_table` (index: patient barcode).
CLINICAL_COLUMNS = (
    "case_id", "risk_factors", *ETIOLOGY_FLAGS, "etiology", "alcohol_history",
    "alcohol_intensity", "viral_hepatitis_serology", "primary_diagnosis",
    "ajcc_pathologic_stage", "tumor_grade", "age_at_diagnosis", "gender", "vital_status",
    "days_to_death", "days_to_last_follow_up", "os_days", "os_event",
)  # fmt: skip

_RISK_KEYS = ("risk_factors", "comorbidities", "risk_factor", "comorbidity")
_SEROLOGY_KEYS = ("viral_hepatitis_serology_tests", "viral_hepatitis_serologies")
_NO_INFO = {"", "not reported", "unknown", "not applicable", "--", "nan", "none reported",
            "not available", "unspecified", "[not available]", "[unknown]", "[not applicable]"}
_PATTERNS = {
    "etiology_alcohol": re.compile(r"(?<!non)(?<!non-)(?<!non )\balcohol", re.IGNORECASE),
    "etiology_hbv": re.compile(r"hepatitis\s*b\b|\bhbv\b", re.IGNORECASE),
    "etiology_hcv": re.compile(r"hepatitis\s*c\b|\bhcv\b", re.IGNORECASE),
    "etiology_nafld": re.compile(
        r"non-?\s?alcoholic\s+(fatty|steato)|\bnafld\b|\bnash\b|\bmasld\b|\bmash\b", re.IGNORECASE),
}
_DAYS_PER_YEAR = 365.25


class GDCClinicalWarning(UserWarning):
    """GDC clinical records lack what the etiology / survival columns need."""


def _informative(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() not in _NO_INFO


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _dicts(value: Any) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _risk_records(case: dict) -> list[dict]:
    """Every record of a case that may hold risk-factor fields."""
    out = list(_dicts(case.get("other_clinical_attributes")))
    for fu in _dicts(case.get("follow_ups")):
        out.append(fu)
        out.extend(_dicts(fu.get("other_clinical_attributes")))
    return out


def _collect(records: list[dict], keys: tuple[str, ...]) -> tuple[list[str], bool]:
    """(informative values, whether any of ``keys`` occurs at all) over ``records``."""
    values: list[str] = []
    present = False
    for rec in records:
        for key in keys:
            if key in rec and rec[key] is not None:
                present = True
                values.extend(v.strip() for v in _strings(rec[key]) if _informative(v))
    return list(dict.fromkeys(values)), present


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return np.nan
    return out if np.isfinite(out) else np.nan


def _primary_diagnosis(diagnoses: list[dict]) -> dict:
    for test in (lambda d: d.get("diagnosis_is_primary_disease") is True
                 or str(d.get("diagnosis_is_primary_disease")).lower() == "true",
                 lambda d: str(d.get("classification_of_tumor") or "").lower() == "primary",
                 lambda d: _informative(d.get("primary_diagnosis"))):
        hit = next((d for d in diagnoses if test(d)), None)
        if hit is not None:
            return hit
    return diagnoses[0] if diagnoses else {}


def _yes_no(value: Any) -> str | None:
    v = str(value or "").strip().lower()
    return {"yes": "Yes", "no": "No"}.get(v)


def etiology_label(alcohol, hbv, hcv, nafld) -> str:
    """The ``etiology`` string for one case's flags (``True``/``False``/``pd.NA``).

    >>> etiology_label(True, False, True, False)
    'alcohol+viral'
    >>> etiology_label(pd.NA, pd.NA, pd.NA, pd.NA)
    'unknown'
    """
    flags = [alcohol, hbv, hcv, nafld]
    if all(f is None or f is pd.NA or (isinstance(f, float) and np.isnan(f)) for f in flags):
        return "unknown"
    parts = []
    if alcohol is True:
        parts.append("alcohol")
    if hbv is True or hcv is True:
        parts.append("viral")
    if nafld is True:
        parts.append("NAFLD")
    return "+".join(parts) if parts else "other"


def _case_row(case: dict) -> dict[str, Any]:
    terms, _ = _collect(_risk_records(case), _RISK_KEYS)
    serology, _ = _collect(_risk_records(case), _SEROLOGY_KEYS)
    row: dict[str, Any] = {
        "case_id": case.get("case_id") or case.get("id"),
        "risk_factors": "; ".join(terms) if terms else None,
    }
    for flag, pat in _PATTERNS.items():
        row[flag] = any(pat.search(t) for t in terms) if terms else pd.NA
    row["etiology"] = etiology_label(*(row[f] for f in ETIOLOGY_FLAGS))

    expo = _dicts(case.get("exposures"))
    row["alcohol_history"] = next((_yes_no(e.get("alcohol_history")) for e in expo
                                   if _yes_no(e.get("alcohol_history"))), None)
    row["alcohol_intensity"] = next((e["alcohol_intensity"].strip() for e in expo
                                     if _informative(e.get("alcohol_intensity"))), None)
    row["viral_hepatitis_serology"] = "; ".join(serology) if serology else None

    diagnoses = _dicts(case.get("diagnoses"))
    diag = _primary_diagnosis(diagnoses)
    for col in ("primary_diagnosis", "ajcc_pathologic_stage"):
        row[col] = diag.get(col).strip() if _informative(diag.get(col)) else None
    grade = str(diag.get("tumor_grade") or "").strip().upper()
    row["tumor_grade"] = grade if re.fullmatch(r"G[1-4]", grade) else None
    demo = next(iter(_dicts(case.get("demographic"))), {})
    age_days = _number(diag.get("age_at_diagnosis"))
    row["age_at_diagnosis"] = (age_days / _DAYS_PER_YEAR if np.isfinite(age_days)
                               else _number(demo.get("age_at_index")))
    gender = str(demo.get("gender") or "").strip().lower()
    row["gender"] = gender if gender in ("male", "female") else None

    vital = str(demo.get("vital_status") or diag.get("vital_status") or "").strip().lower()
    row["vital_status"] = {"alive": "Alive", "dead": "Dead"}.get(vital)
    dtd = _number(demo.get("days_to_death"))
    if not np.isfinite(dtd):
        dtd = _number(diag.get("days_to_death"))
    dtlf = _number(diag.get("days_to_last_follow_up"))
    if not np.isfinite(dtlf):
        vals = [_number(d.get("days_to_last_follow_up")) for d in diagnoses]
        vals = [v for v in vals if np.isfinite(v)]
        if not vals:
            vals = [_number(f.get("days_to_follow_up")) for f in _dicts(case.get("follow_ups"))]
            vals = [v for v in vals if np.isfinite(v)]
        dtlf = max(vals) if vals else np.nan
    row["days_to_death"], row["days_to_last_follow_up"] = dtd, dtlf
    os_days, os_event = np.nan, pd.NA
    if row["vital_status"] == "Dead" and np.isfinite(dtd):
        os_days, os_event = dtd, 1
    elif row["vital_status"] == "Alive" and np.isfinite(dtlf):
        os_days, os_event = dtlf, 0
    if np.isfinite(os_days) and os_days < 0:
        os_days, os_event = np.nan, pd.NA
    row["os_days"], row["os_event"] = os_days, os_event
    return row


def clinical_table(cases: list[dict], *, warn: bool = True) -> pd.DataFrame:
    """One row per case (index: patient barcode = case ``submitter_id``); see the module doc.

    Flags are pandas nullable booleans (``<NA>`` = unknown), ``os_event`` nullable
    integers, text columns object (``None`` when missing), numbers float.
    ``warn`` emits a :class:`GDCClinicalWarning` when no case carries any risk-factor
    field (every etiology would be unknown: the query or the server layout is wrong).
    """
    rows = {}
    any_field = False
    for case in cases:
        sid = case.get("submitter_id")
        if not isinstance(sid, str) or not sid:
            continue
        any_field |= _collect(_risk_records(case), _RISK_KEYS)[1]
        rows[sid] = _case_row(case)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.reindex(columns=list(CLINICAL_COLUMNS))
    for flag in ETIOLOGY_FLAGS:
        df[flag] = pd.array([v if isinstance(v, (bool, np.bool_)) else pd.NA for v in df[flag]],
                            dtype="boolean")
    df["os_event"] = pd.array([pd.NA if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                               else int(v) for v in df["os_event"]], dtype="Int64")
    for col in ("age_at_diagnosis", "days_to_death", "days_to_last_follow_up", "os_days"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["etiology"] = df["etiology"].fillna("unknown")
    if cases and not any_field:
        msg = (f"none of {len(rows)} GDC case records carries a risk-factor field (risk_factors / "
               "comorbidities under follow_ups[].other_clinical_attributes[], or the older "
               "follow_ups[].risk_factor); every etiology is unknown. The /cases query did not "
               "return them: check that the server honours expand=follow_ups."
               "other_clinical_attributes (MGTRANSCRIPT_GDC_URL).")
        logger.warning(msg)
        if warn:
            warnings.warn(msg, GDCClinicalWarning, stacklevel=2)
    return df


def risk_factor_table(cases: list[dict]) -> pd.DataFrame:
    """Risk-factor part of :func:`clinical_table` (kept for callers of the old name)."""
    cols = ["case_id", "risk_factors", *ETIOLOGY_FLAGS, "etiology", "alcohol_history",
            "alcohol_intensity", "viral_hepatitis_serology"]
    return clinical_table(cases)[cols]

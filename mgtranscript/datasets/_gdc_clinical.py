"""Clinical columns of a TCGA project from GDC ``cases`` records (today's GDC layout).

One row per case, built by :func:`clinical_table` from the records that
``POST /cases`` returns with ``expand=demographic,diagnoses,exposures,follow_ups,
follow_ups.other_clinical_attributes``. Fields the GDC has removed (Data Dictionary 3.4.4
and 4.0.3; API 8.3.0 and 8.5.0) are never asked for (:data:`CLINICAL_FIELDS`), but a
cached answer of an older release that still carries them is read. What is read, exactly:

Risk factors (etiology)
    ``risk_factors`` (a list; GDC data release 42 puts the TCGA supplement's values
    under ``follow_ups[].other_clinical_attributes[]``, older answers have a
    single-valued ``follow_ups[].risk_factor``) and, of the ``comorbidities``, only
    the **liver-relevant** ones (:data:`LIVER_TERMS`: hepatitis, alcoholic or fatty
    liver disease, cirrhosis, iron overload ...). A comorbidity such as
    "Hypertension" or "Diabetes" says nothing about the etiology and is ignored.
    Siblings such as ``risk_factor_treatment``, ``risk_factor_method_of_diagnosis`` or
    ``comorbidity_method_of_diagnosis`` are not risk factors either.

    Values ``Not Reported``, ``Unknown``, ``Not Applicable`` and blanks carry no
    information. A flag is ``True`` when a risk factor or liver comorbidity names it;
    ``False`` only when the case has an informative ``risk_factors`` value (``None``
    included: "no risk factor") that does not name it; otherwise ``<NA>`` (unknown),
    never ``False``:

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

Sex
    ``sex``: ``demographic.sex_at_birth`` (Data Dictionary 3.4.4), else the
    deprecated ``demographic.gender`` (removed in API 8.5.0), as ``male``/``female``;
    other values (unknown, not reported ...) missing. ``sex_source`` says which field.

Survival
    ``vital_status`` (``Alive``/``Dead``) and ``days_to_death`` from ``demographic``.
    Last contact ``days_to_last_follow_up`` = the **latest** of every diagnosis's
    ``days_to_last_follow_up`` and every ``follow_ups[].days_to_follow_up`` (data
    release 42 moved TCGA's follow-up to ``follow_ups``; the GDC's own survival
    endpoint, API 7.9.1 and 8.5.0, and TCGAbiolinks read it there too). Derived overall
    survival: ``os_days`` = ``days_to_death`` for the dead, ``days_to_last_follow_up``
    for the living; ``os_event`` = 1 (death) / 0 (censored) as nullable integers.
    A case without overall survival says why in ``os_missing_reason``
    (:data:`OS_MISSING_REASONS`: a death without a date, a living patient without any
    follow-up day, vital status not reported, a negative time); :func:`survival_counts`
    counts them.
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
    "LIVER_TERMS",
    "OS_MISSING_REASONS",
    "clinical_table",
    "etiology_label",
    "survival_counts",
]

#: ``expand`` groups of the ``/cases`` query (the nested group holds the risk factors).
CLINICAL_EXPAND = "demographic,diagnoses,exposures,follow_ups,follow_ups.other_clinical_attributes"
_OCA = "follow_ups.other_clinical_attributes."
#: Explicit ``fields`` asked instead when a server refuses the nested expand group: only
#: fields of today's GDC (no ``demographic.gender``, ``diagnoses.vital_status``,
#: ``diagnoses.days_to_death``, ``follow_ups.risk_factor(s)`` or
#: ``follow_ups.comorbidit(y/ies)``, all removed by API 8.3.0 / 8.5.0).
CLINICAL_FIELDS = [
    "submitter_id", "case_id",
    "demographic.sex_at_birth", "demographic.vital_status", "demographic.days_to_death",
    "demographic.age_at_index",
    *(f"diagnoses.{f}" for f in (
        "primary_diagnosis", "ajcc_pathologic_stage", "tumor_grade", "age_at_diagnosis",
        "days_to_last_follow_up", "diagnosis_is_primary_disease", "classification_of_tumor")),
    "exposures.alcohol_history", "exposures.alcohol_intensity",
    "follow_ups.days_to_follow_up",
    _OCA + "risk_factors", _OCA + "comorbidities", _OCA + "viral_hepatitis_serology_tests",
]  # fmt: skip

ETIOLOGY_FLAGS = ("etiology_alcohol", "etiology_hbv", "etiology_hcv", "etiology_nafld")
#: Columns of :func:`clinical_table` (index: patient barcode).
CLINICAL_COLUMNS = (
    "case_id", "risk_factors", *ETIOLOGY_FLAGS, "etiology", "alcohol_history",
    "alcohol_intensity", "viral_hepatitis_serology", "primary_diagnosis",
    "ajcc_pathologic_stage", "tumor_grade", "age_at_diagnosis", "sex", "vital_status",
    "days_to_death", "days_to_last_follow_up", "os_days", "os_event", "os_missing_reason",
)  # fmt: skip
#: Why a case has no overall survival (values of ``os_missing_reason``).
OS_MISSING_REASONS = {
    "dead_no_date": "dead without days_to_death",
    "alive_no_follow_up": "alive without any follow-up day",
    "vital_unknown": "vital status not reported",
    "negative_time": "negative follow-up or death time",
}

_RISK_KEYS = ("risk_factors", "risk_factor")
_COMORBIDITY_KEYS = ("comorbidities", "comorbidity")
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
#: Comorbidities that count for the etiology (GDC ``comorbidities`` vocabulary: liver
#: disease, hepatitis, alcohol, fatty liver, iron/copper overload, inherited liver disease).
LIVER_TERMS = re.compile(
    r"hepat|liver|cirrho|steato|alcohol|\bnafld\b|\bnash\b|\bmasld\b|\bmash\b|hemochromatosis|"
    r"iron overload|alpha-1 antitrypsin|wilson|tyrosinemia|glycogen storage|sclerosing cholangitis|"
    r"biliary cholangitis|biliary cirrhosis", re.IGNORECASE)
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


def _etiology(case: dict, row: dict[str, Any]) -> None:
    records = _risk_records(case)
    risk, _ = _collect(records, _RISK_KEYS)
    comorbid, _ = _collect(records, _COMORBIDITY_KEYS)
    terms = list(dict.fromkeys([*risk, *(t for t in comorbid if LIVER_TERMS.search(t))]))
    row["risk_factors"] = "; ".join(terms) if terms else None
    for flag, pat in _PATTERNS.items():
        if any(pat.search(t) for t in terms):
            row[flag] = True
        else:  # absence means "no" only where risk factors were recorded
            row[flag] = False if risk else pd.NA
    row["etiology"] = etiology_label(*(row[f] for f in ETIOLOGY_FLAGS))


def _sex(demo: dict) -> tuple[str | None, str]:
    for field in ("sex_at_birth", "gender"):
        value = str(demo.get(field) or "").strip().lower()
        if value in ("male", "female"):
            return value, f"demographic.{field}"
    return None, ""


def _survival(case: dict, demo: dict, diagnoses: list[dict], row: dict[str, Any]) -> None:
    diag = _primary_diagnosis(diagnoses)
    vital = str(demo.get("vital_status") or diag.get("vital_status") or "").strip().lower()
    row["vital_status"] = {"alive": "Alive", "dead": "Dead"}.get(vital)
    dtd = _number(demo.get("days_to_death"))
    if not np.isfinite(dtd):  # older answers kept it on the diagnosis
        dtd = _number(diag.get("days_to_death"))
    contact = [_number(d.get("days_to_last_follow_up")) for d in diagnoses]
    follow = [_number(f.get("days_to_follow_up")) for f in _dicts(case.get("follow_ups"))]
    contact, follow = [v for v in contact if np.isfinite(v)], [v for v in follow if np.isfinite(v)]
    last = max(contact + follow) if contact or follow else np.nan
    row["days_to_death"], row["days_to_last_follow_up"] = dtd, last
    row["_last_from_follow_ups"] = bool(follow) and (not contact or max(follow) > max(contact))
    os_days, os_event, why = np.nan, pd.NA, None
    if row["vital_status"] == "Dead":
        if np.isfinite(dtd):
            os_days, os_event = dtd, 1
        else:
            why = "dead_no_date"
    elif row["vital_status"] == "Alive":
        if np.isfinite(last):
            os_days, os_event = last, 0
        else:
            why = "alive_no_follow_up"
    else:
        why = "vital_unknown"
    if np.isfinite(os_days) and os_days < 0:
        os_days, os_event, why = np.nan, pd.NA, "negative_time"
    row["os_days"], row["os_event"] = os_days, os_event
    row["os_missing_reason"] = OS_MISSING_REASONS[why] if why else None


def _case_row(case: dict) -> dict[str, Any]:
    row: dict[str, Any] = {"case_id": case.get("case_id") or case.get("id")}
    _etiology(case, row)
    serology, _ = _collect(_risk_records(case), _SEROLOGY_KEYS)
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
    row["sex"], row["_sex_source"] = _sex(demo)
    _survival(case, demo, diagnoses, row)
    return row


def clinical_table(cases: list[dict], *, warn: bool = True) -> pd.DataFrame:
    """One row per case (index: patient barcode = case ``submitter_id``); see the module doc.

    Flags are pandas nullable booleans (``<NA>`` = unknown), ``os_event`` nullable
    integers, text columns object (``None`` when missing), numbers float.
    ``warn`` emits a :class:`GDCClinicalWarning` when no case carries any risk-factor
    field (every etiology would be unknown: the query or the server layout is wrong).
    ``df.attrs["survival"]`` holds :func:`survival_counts` and ``df.attrs["sex_source"]``
    how many cases each sex field gave.
    """
    rows = {}
    any_field = False
    for case in cases:
        sid = case.get("submitter_id")
        if not isinstance(sid, str) or not sid:
            continue
        recs = _risk_records(case)
        any_field |= _collect(recs, _RISK_KEYS)[1] or _collect(recs, _COMORBIDITY_KEYS)[1]
        rows[sid] = _case_row(case)
    raw = pd.DataFrame.from_dict(rows, orient="index")
    df = raw.reindex(columns=list(CLINICAL_COLUMNS))
    for flag in ETIOLOGY_FLAGS:
        df[flag] = pd.array([v if isinstance(v, (bool, np.bool_)) else pd.NA for v in df[flag]],
                            dtype="boolean")
    df["os_event"] = pd.array([pd.NA if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                               else int(v) for v in df["os_event"]], dtype="Int64")
    for col in ("age_at_diagnosis", "days_to_death", "days_to_last_follow_up", "os_days"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["etiology"] = df["etiology"].fillna("unknown")
    src = raw["_sex_source"].value_counts() if "_sex_source" in raw else pd.Series(dtype=int)
    df.attrs["sex_source"] = {str(k): int(v) for k, v in src.items() if k}
    n_fu = int(raw["_last_from_follow_ups"].sum()) if "_last_from_follow_ups" in raw else 0
    df.attrs["survival"] = survival_counts(df, n_last_contact_from_follow_ups=n_fu)
    if cases and not any_field:
        msg = (f"none of {len(rows)} GDC case records carries a risk-factor field (risk_factors / "
               "comorbidities under follow_ups[].other_clinical_attributes[]); every etiology is "
               "unknown. The /cases query did not return them: check that the server honours "
               "expand=follow_ups.other_clinical_attributes (MGTRANSCRIPT_GDC_URL).")
        logger.warning(msg)
        if warn:
            warnings.warn(msg, GDCClinicalWarning, stacklevel=2)
    return df


def survival_counts(table: pd.DataFrame, **extra: int) -> dict:
    """How many cases have overall survival, how many deaths, and why the others have none.

    ``table`` has ``os_days``, ``os_event`` and ``os_missing_reason`` (a
    :func:`clinical_table`, or ``obs`` one row per patient). Returns ``n_cases``,
    ``n_with_os``, ``n_deaths``, ``n_censored``, ``dropped`` (reason -> count, every
    reason of :data:`OS_MISSING_REASONS`, zeros included) and ``extra``.
    """
    has = table["os_days"].notna() if "os_days" in table else pd.Series(False, index=table.index)
    ev = pd.to_numeric(table["os_event"].astype("object"), errors="coerce") if "os_event" in table else has * 0
    why = table["os_missing_reason"] if "os_missing_reason" in table else pd.Series(None, index=table.index)
    counts = why.dropna().astype(str).value_counts()
    return {"n_cases": int(len(table)), "n_with_os": int(has.sum()), "n_deaths": int((ev[has] == 1).sum()),
            "n_censored": int((ev[has] == 0).sum()),
            "dropped": {r: int(counts.get(r, 0)) for r in OS_MISSING_REASONS.values()},
            **{k: int(v) for k, v in extra.items()}}

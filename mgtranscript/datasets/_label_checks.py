"""Checks of a cohort's labels against its catalog entry, run whenever a cohort is labelled.

- **Expected counts.** Every entry records the group counts its source reports
  (``[cohorts.X.expected]``: per condition, or per subgroup with ``by = "subgroup"``, and the
  ``source``). Labels that give other counts make the check ``"labels disagree"`` with both
  counts in the reason; the analysis plan does not analyse such a cohort.
- **Samples no rule labels** are counted (``n_unlabelled``) and named, never dropped.
- **Rules.** A rule that matches no sample (unless ``optional = true``) and two rules that
  match one sample with different labels are problems of the same kind: the catalog does not
  describe the series.
- **Missing information.** A cohort whose labels come from a sample sheet (``sample_sheet``
  in the entry, e.g. GSE77314's SRA run table), or whose paired design needs a pairing column
  that is absent, is reported with what is missing and how to give it
  (:class:`~mgtranscript.errors.LabelsMissing` from :func:`mgtranscript.datasets.load_cohort`).

The result is a plain dict (h5ad-safe) stored as ``adata.uns["labels"]["check"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._catalog_schema import EXPECTED_META_KEYS, UNLABELLED

__all__ = ["check_labels", "missing_information", "format_counts", "STATUS_OK", "STATUS_DISAGREE"]

STATUS_OK = "ok"
STATUS_DISAGREE = "labels disagree"
STATUS_UNCHECKED = "not enforced"


def format_counts(counts: dict) -> str:
    """``{"healthy": 14, "NASH": 16}`` -> ``"healthy 14, NASH 16"``."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _rule_text(i: int, rule: dict) -> str:
    test = f"== {rule['equals']!r}" if "equals" in rule else f"~ /{rule['regex']}/"
    return f"rule {i + 1} ({' | '.join(rule['columns'])} {test} -> {rule['condition']})"


def rule_problems(hits: list[np.ndarray], rules: list[dict], index: pd.Index) -> list[str]:
    """Rules matching no sample (unless optional) and pairs of rules that label one sample differently."""
    out = []
    if not any(h.any() for h in hits):
        return out  # nothing matched at all: reported as missing information / unlabelled instead
    for i, (h, rule) in enumerate(zip(hits, rules)):
        if not h.any() and not rule.get("optional", False):
            out.append(f"{_rule_text(i, rule)} matches no sample (a typo in the value or column? mark "
                       "it optional = true if it may legitimately match nothing)")
    for i in range(len(rules)):
        for j in range(i + 1, len(rules)):
            a, b = rules[i], rules[j]
            if (a["disease"], a["condition"], a.get("subgroup")) == (b["disease"], b["condition"], b.get("subgroup")):
                continue
            both = hits[i] & hits[j]
            if both.any():
                k = int(np.flatnonzero(both)[0])
                out.append(f"{_rule_text(i, a)} and {_rule_text(j, b)} both match {int(both.sum())} sample(s), "
                           f"e.g. {index[k]}; make the rules exclusive")
    return out


def check_labels(labels: pd.DataFrame, info: dict, *, problems: list[str] | None = None,
                 n_without_expression: int = 0) -> dict:
    """Compare labels with the entry's expected counts; return the check (a plain dict).

    Parameters
    ----------
    labels
        Output of :func:`mgtranscript.datasets.label_obs` for the series' samples.
    info
        The cohort's catalog entry.
    problems
        Rule problems found while labelling (:func:`rule_problems`).
    n_without_expression
        Samples of the series left out of the data for lack of expression values (their
        labels were counted from the metadata).
    """
    problems = list(problems or [])
    exp = dict(info.get("expected", {}))
    by = exp.get("by", "condition")
    source = str(exp.get("source", ""))
    enforce = bool(exp.get("enforce", True))
    expected = {k: int(v) for k, v in exp.items() if k not in EXPECTED_META_KEYS}
    col = by if by in labels else "condition"
    vals = labels[col].astype(object).where(labels["condition"].astype(object) != UNLABELLED, UNLABELLED)
    observed_all = vals.value_counts()
    observed = {str(k): int(observed_all.get(k, 0)) for k in expected}
    for k, v in observed_all.items():
        if str(k) not in observed:
            observed[str(k)] = int(v)
    n_un = int((labels["condition"].astype(object) == UNLABELLED).sum())
    if expected and observed != {**{k: 0 for k in observed}, **expected}:
        problems.insert(0, f"the rules give {format_counts(observed)} where the source reports "
                           f"{format_counts(expected)} ({source or 'no source given'})")
    elif not expected:
        problems.insert(0, "the catalog entry records no expected counts to check the labels against")
    if n_un and "unlabelled" not in expected:
        i = int(np.flatnonzero((labels["condition"].astype(object) == UNLABELLED).to_numpy())[0])
        problems.append(f"{n_un} of {len(labels)} samples match no label rule (e.g. {labels.index[i]}); they "
                        "stay 'unlabelled' and are counted, not dropped")
    if not problems:
        status = STATUS_OK
    elif not enforce:
        status = STATUS_UNCHECKED
    else:
        status = STATUS_DISAGREE
    reason = "; ".join(problems)
    if status == STATUS_UNCHECKED:
        reason = f"counts not enforced for this source: {reason}"
    return {
        "status": status,
        "reason": reason,
        "by": by,
        "expected": expected,
        "observed": observed,
        "source": source,
        "enforced": enforce,
        "n_samples": int(len(labels)),
        "n_unlabelled": n_un,
        "n_without_expression": int(n_without_expression),
        "problems": problems,
    }


def missing_information(obs: pd.DataFrame, labels: pd.DataFrame, info: dict, acc: str,
                        *, found_columns: list[str], pairing_present: bool = True) -> str | None:
    """What is missing for labels or pairing, and how to give it; ``None`` when nothing is.

    ``pairing_present``: whether a column the entry's pairing rule reads holds any value.
    """
    n = len(labels)
    conditions = " / ".join(info["condition_order"])
    if n and (labels["condition"].astype(object) == UNLABELLED).all():
        wanted = sorted({c for r in info["labels"] for c in r["columns"]})
        if info.get("sample_sheet"):
            return (f"{acc}: none of its {n} samples can be labelled ({conditions}): the labels are not in "
                    f"GEO's metadata but in a sample sheet ({info['sample_sheet']}). Give it with "
                    f"samples='SHEET.csv' in Python (--samples {acc}=SHEET.csv on the command line), or put "
                    f"it as {acc}*.csv in $MGTRANSCRIPT_SAMPLES; labels=False loads the data unlabelled.")
        return (f"{acc}: none of its {n} samples can be labelled ({conditions}): the label rules read "
                f"{wanted}, and {'none of these columns is' if not found_columns else 'no value of ' + str(found_columns) + ' is'} "
                f"in the sample metadata (columns: {list(obs.columns)[:10]}). Give a sample sheet carrying "
                f"one of them (samples=, --samples {acc}=SHEET), or fix the rules in a catalog (--catalog FILE).")
    pairing = info.get("pairing")
    if info.get("design") == "paired" and pairing is not None and "pair_id" in labels:
        method = pairing["method"]
        if method in ("regex", "column") and not pairing_present:
            cols = pairing.get("columns", [pairing.get("column", "")])
            return (f"{acc}: its design is paired (tumour and non-tumour of one patient), but the pairing "
                    f"information is missing: no column {cols} in the sample metadata. Give a sample sheet "
                    f"with a {cols[0]!r} column (one patient id per row; samples=, --samples {acc}=SHEET), "
                    "or declare the series unpaired in a catalog (--catalog FILE).")
        if method in ("gsm_offset", "order") and not obs.index.astype(str).str.fullmatch(r"GSM\d+").any():
            return (f"{acc}: its design is paired by GSM order ({pairing.get('rule', method)}), but the samples "
                    f"are not named by GSM ids (e.g. {obs.index[0]!r}); load them from GEO (load_cohort) or "
                    "give a sample sheet joined on GSM ids.")
    return None

"""Robustness of a verdict: the verdict re-derived under each alternative analysis that applies.

An alternative **applies** to a claim only where it actually re-derived the estimate of at least
one cohort the verdict voted on (a row of its own, with an estimate that differs from the
primary one); the cohorts it did not re-derive enter as in the primary analysis, and the
random-effects pool of the primary analysis is never one of its "cohorts". Alternatives that
adjust for a mediator - liver cell-type composition, which disease itself changes - are
reported as such (``counted = False``): neither agreement nor dissent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._table import SENSITIVITY_COLUMNS
from ._rules import claim_votes, decide

__all__ = ["MEDIATOR_ALTERNATIVES", "sensitivity", "robustness_text", "scenario_rows"]

#: Alternatives that adjust for a mediator (a consequence of disease): reported, not counted.
MEDIATOR_ALTERNATIVES = ("adjusted: composition",)


def _is_mediator(alternative: str) -> bool:
    return any(str(alternative).startswith(m) for m in MEDIATOR_ALTERNATIVES)


def scenario_rows(ev: pd.DataFrame, scenario: str, primary: str = "primary") -> pd.DataFrame:
    """Included rows of ``scenario``, falling back to the primary rows for (claim, cohort) pairs
    the scenario does not re-derive. Pooled rows (``role == "pooled"``) are never used."""
    ev = ev[ev["role"].astype(str) != "pooled"]
    prim = ev[(ev["scenario"] == primary) & ev["included"]]
    if scenario == primary:
        return prim
    alt = ev[(ev["scenario"] == scenario) & ev["included"]]
    keys = set(zip(alt["claim_id"], alt["cohort"]))
    keep = prim[[k not in keys for k in zip(prim["claim_id"], prim["cohort"])]]
    return pd.concat([keep, alt], ignore_index=True)


def _rederived(ev: pd.DataFrame, scenario: str, primary: str) -> dict[str, list[str]]:
    """claim -> cohorts of its primary vote whose estimate ``scenario`` re-derived (its own finite
    row whose estimate or CI differs from the primary row)."""
    ev = ev[ev["role"].astype(str) != "pooled"]
    prim = ev[(ev["scenario"] == primary) & ev["included"]].set_index(["claim_id", "cohort"])
    alt = ev[(ev["scenario"] == scenario) & ev["included"]]
    out: dict[str, list[str]] = {}
    for r in alt.itertuples():
        key = (r.claim_id, r.cohort)
        if key not in prim.index or not np.isfinite(r.estimate):
            continue
        p = prim.loc[key]
        p = p.iloc[0] if isinstance(p, pd.DataFrame) else p
        same = (r.effect_kind == p["effect_kind"]
                and np.allclose([r.estimate, r.ci_low, r.ci_high],
                                np.asarray([p["estimate"], p["ci_low"], p["ci_high"]], float),
                                rtol=1e-12, atol=0, equal_nan=True))
        if not same:
            out.setdefault(r.claim_id, []).append(str(r.cohort))
    return out


def sensitivity(claims: pd.DataFrame, ev: pd.DataFrame, verdict_of: dict[str, str], alpha: float, *,
                primary: str = "primary") -> pd.DataFrame:
    """One row per claim and alternative that re-derived at least one of its voted estimates
    (:data:`SENSITIVITY_COLUMNS`)."""
    rows = []
    scenarios = [s for s in dict.fromkeys(ev["scenario"]) if s != primary]
    expected = dict(zip(claims["claim_id"], claims["expected_direction"]))
    for scen in scenarios:
        rederived = _rederived(ev, scen, primary)
        votes, qs = claim_votes(claims, scenario_rows(ev, scen, primary), alpha)  # as the primary analysis
        mediator = _is_mediator(scen)
        for cid in claims["claim_id"]:
            if cid not in rederived or verdict_of.get(cid, "not testable") == "not testable":
                continue
            v = votes.get(cid)
            redo = ";".join(rederived[cid])
            if v is None or not np.isfinite(v.effect):
                rows.append({"claim_id": cid, "alternative": scen, "verdict": "not testable", "rederived": redo,
                             "agrees": False, "counted": not mediator, "note": "the alternative could not be computed"})
                continue
            q = qs.get(cid, np.nan)
            verdict, clause = decide(expected[cid], v, q, alpha=alpha)
            kept = [c for c in v.cohorts if c not in rederived[cid]]
            note = clause + (f"; {', '.join(kept)} as in the primary analysis" if kept else "")
            if mediator:
                note += "; adjusts for a mediator (composition changes with disease): reported, not counted"
            rows.append({"claim_id": cid, "alternative": scen, "verdict": verdict, "effect_kind": v.effect_kind,
                         "effect": v.effect, "ci_low": v.ci_low, "ci_high": v.ci_high, "pval": v.pval, "qval": q,
                         "n_cohorts": v.k, "cohorts": ";".join(v.cohorts), "rederived": redo,
                         "agrees": verdict == verdict_of.get(cid), "counted": not mediator, "note": note})
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def robustness_text(sens: pd.DataFrame) -> dict[str, str]:
    """claim -> "2/2 alternatives agree; dissent: ...; mediator adjustment: adjusted: composition (...)"."""
    out = {}
    if sens.empty:
        return out
    for cid, sub in sens.groupby("claim_id", sort=False):
        counted = sub[sub["counted"].astype(bool)]
        agree = counted["agrees"].astype(bool)
        parts = []
        if len(counted):
            parts.append(f"{int(agree.sum())}/{len(counted)} alternatives agree")
            dissent = [f"{a} ({v})" for a, v, ok in zip(counted["alternative"], counted["verdict"], agree) if not ok]
            if dissent:
                parts.append("dissent: " + ", ".join(dissent))
        else:
            parts.append("no alternative analysis applies")
        med = sub[~sub["counted"].astype(bool)]
        if len(med):
            parts.append("mediator adjustment, not counted: "
                         + ", ".join(f"{a} ({v})" for a, v in zip(med["alternative"], med["verdict"])))
        out[cid] = "; ".join(parts)
    return out

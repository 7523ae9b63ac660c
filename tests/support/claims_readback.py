"""Read the words of a verdict table back against the evidence it was written from.

Used by tests/claims/test_claims.py (synthetic evidence) and tests/pipeline/test_pipeline.py (a real run): every
number and word a verdict's ``reason`` and ``certainty_reasons`` state about its cohorts must be
what ``claims_evidence`` holds.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LEVELS = ("high", "moderate", "low", "very low")
_PER_COHORT = re.compile(r"(?P<cohort>[\w.-]+) (?P<sym>g|log2FC|rho|r|HR|adjusted difference) (?P<est>[+-]\d+\.\d\d), "
                         r"q (?P<q>< 1e-10|[\d.e+-]+) \((?P<family>claims|run) family\): "
                         r"(?P<word>significant \((?:positive|negative)\)|not significant)")
_DISAGREE = re.compile(r"(?P<cohort>[\w.-]+) (?:g|log2FC|rho|r|HR) (?P<est>[+-]\d+\.\d\d) "
                       r"\[(?P<lo>[+-]\d+\.\d\d), (?P<hi>[+-]\d+\.\d\d)\]")


def _q_text(q: float) -> str:
    return "< 1e-10" if q < 1e-10 else f"{q:.2g}"


def check_sentences(verdicts: pd.DataFrame, evidence: pd.DataFrame, *, alpha: float = 0.05) -> int:
    """Assert every per-cohort statement of every verdict against ``evidence``; return how many
    statements were checked."""
    ev = evidence.copy()
    ev["included"] = ev["included"].astype(str).str.lower().isin(("true", "1"))
    checked = 0
    for v in verdicts.itertuples():
        reason = "" if pd.isna(v.reason) else str(v.reason)
        cr = "" if pd.isna(v.certainty_reasons) else str(v.certainty_reasons)
        if v.verdict == "not testable":
            assert pd.isna(v.certainty) or v.certainty == "", (v.claim_id, v.certainty)
            assert cr == "", (v.claim_id, cr)
            continue
        if reason.startswith("no usable evidence"):  # measured only on batch-aliased contrasts: nothing voted
            assert v.verdict == "inconclusive" and v.certainty == "very low" and cr.endswith("= very low"), v.claim_id
            assert not (ev["included"] & (ev["claim_id"] == v.claim_id) & (ev["scenario"] == "primary")).any()
            continue
        voted = ev[(ev["claim_id"] == v.claim_id) & (ev["scenario"] == "primary") & ev["included"]
                   & (ev["role"] == "primary")]
        cohorts = str(v.cohorts).split(";")
        assert sorted(voted["cohort"]) == sorted(cohorts), (v.claim_id, list(voted["cohort"]), cohorts)
        # the certainty: its start names the cohorts, each step moves one level, the end is the level
        steps = cr.split("; ")
        assert all(s.startswith(("start ", "-1 ", "+1 ", "no +1 ", "= ")) for s in steps), (v.claim_id, steps)
        k = len(cohorts)
        start = {1: "start low: 1 cohort", 2: "start moderate: 2 independent cohorts"}.get(
            k, f"start high: {k} independent cohorts")
        assert steps[0].startswith(start), (v.claim_id, steps[0])
        level = LEVELS.index(steps[0].split(":")[0].split(" ", 1)[1])
        level += sum(s.startswith("-1 ") for s in steps) - sum(s.startswith("+1 ") for s in steps)
        assert steps[-1] == f"= {v.certainty}" == f"= {LEVELS[min(max(level, 0), 3)]}", (v.claim_id, cr)
        assert f"Certainty {v.certainty}: " + "; ".join(steps[:-1]) in reason, v.claim_id
        # one q per estimate: the row the verdict voted on carries the verdict's q
        if k == 1:
            row = voted.iloc[0]
            assert row["qval"] == v.qval and row["q_family"] == "claims", (v.claim_id, row["qval"], v.qval)
            checked += 1
        else:
            pooled = ev[(ev["claim_id"] == v.claim_id) & (ev["role"] == "pooled")]
            assert len(pooled) == 1 and pooled["qval"].iloc[0] == v.qval and pooled["q_family"].iloc[0] == "claims"
            said = {m["cohort"]: m for m in _PER_COHORT.finditer(reason)}
            assert sorted(said) == sorted(cohorts), (v.claim_id, sorted(said), reason)
            for r in voted.itertuples():
                m = said[r.cohort]
                assert m["est"] == f"{r.estimate:+.2f}", (v.claim_id, r.cohort, m["est"], r.estimate)
                assert m["q"] == _q_text(r.qval) and m["family"] == r.q_family, (v.claim_id, r.cohort, m["q"])
                sig = r.qval < alpha
                direction = "positive" if r.estimate > (1.0 if r.effect_kind == "hazard_ratio" else 0.0) else "negative"
                assert m["word"] == (f"significant ({direction})" if sig else "not significant"), (v.claim_id, r.cohort)
                checked += 1
            if "cohorts disagree" in reason:
                named = {m["cohort"]: m for m in _DISAGREE.finditer(reason.split(". ")[0])}
                assert sorted(named) == sorted(cohorts), (v.claim_id, reason)
                for r in voted.itertuples():
                    assert named[r.cohort]["est"] == f"{r.estimate:+.2f}"
                    assert named[r.cohort]["lo"] == f"{r.ci_low:+.2f}" and named[r.cohort]["hi"] == f"{r.ci_high:+.2f}"
        # the false sentence of old never comes back: a significant cohort is never "not significant"
        for r in voted.itertuples():
            if np.isfinite(r.qval) and r.qval < alpha and k > 1:
                assert f"{r.cohort} " in reason and "no cohort is significant" not in reason, v.claim_id
    return checked

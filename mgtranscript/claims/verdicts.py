"""From evidence rows to the verdict table, the evidence table and the sensitivity table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._table import EVIDENCE_COLUMNS, SENSITIVITY_COLUMNS, TRANSCRIPT_NOTE, VERDICT_COLUMNS, load_claims
from .evidence import ALIASED_ROLE, BULK_CELL_REASON
from .rules import Vote, decide, grade, vote

__all__ = ["Judgement", "judge", "PRIMARY", "CAVEAT_SEP", "BIAS_CHECKS", "contrast_label"]

#: Separator of the caveats of one verdict (a caveat may itself contain ";").
CAVEAT_SEP = " | "

#: The scenario holding the main analysis; every other scenario is a sensitivity analysis.
PRIMARY = "primary"

_KIND_LABEL = {
    "hedges_g": "Hedges' g", "log2fc": "log2 fold change", "adjusted_diff": "adjusted difference",
    "spearman_rho": "Spearman rho", "pearson_r": "Pearson r", "hazard_ratio": "hazard ratio per SD",
}


@dataclass
class Judgement:
    """Everything :func:`judge` decides: ``verdicts`` (one row per claim, :data:`VERDICT_COLUMNS`),
    ``evidence`` (the rows it used, with q-values, roles and why; :data:`EVIDENCE_COLUMNS`) and
    ``sensitivity`` (the verdict under each alternative analysis; :data:`SENSITIVITY_COLUMNS`)."""

    verdicts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VERDICT_COLUMNS))
    evidence: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVIDENCE_COLUMNS))
    sensitivity: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SENSITIVITY_COLUMNS))


def contrast_label(contrast: str) -> str:
    """``"condition:NASH|healthy"`` -> ``"NASH vs healthy"``; ``"trend:fibrosis_stage"`` -> ``"trend over fibrosis stage"``."""
    if contrast.startswith("trend:"):
        return "trend over " + contrast.split(":", 1)[1].replace("_", " ")
    if ":" in contrast and "|" in contrast:
        grp, ref = contrast.split(":", 1)[1].split("|", 1)
        return f"{grp} vs {ref}"
    return contrast


def _bh(p: np.ndarray) -> np.ndarray:
    from ..tl._stats import bh_adjust

    return bh_adjust(np.asarray(p, dtype=float))


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "< 1e-10" if p < 1e-10 else f"{p:.2g}"


def _effect_text(v: Vote) -> str:
    label = _KIND_LABEL.get(v.effect_kind, v.effect_kind)
    ci = f" [{v.ci_low:+.2f}, {v.ci_high:+.2f}]" if np.isfinite(v.ci_low) else ""
    where = (f"random-effects pool of {v.k} cohorts ({', '.join(v.cohorts)}), I² {v.i2:.0f}%"
             if v.pooled else f"single cohort ({v.cohorts[0]})")
    return f"{label} {v.effect:+.2f}{ci}, p {_fmt_p(v.pval)}; {where}; n = {v.n}"


def _design_words(design: str, test: str) -> str:
    design = str(design)
    words = "pooled across groups" if design == "pooled" else (
        "within condition and pairs" if "within" in design and "paired" in design else
        "within condition" if design.startswith("within") else design)
    if "adjusted for" in str(test):
        words += ", " + str(test)[str(test).index("adjusted for"):].replace("composition_", "").replace(";", ", ")
    return words


def _unavailable_reason(claim: pd.Series, cohorts: pd.DataFrame | None) -> str:
    disease = claim["disease"]
    if cohorts is None or cohorts.empty:
        return "no cohort with expression was analysed"
    if disease == "any":
        return "no analysed cohort measured what the claim needs"
    area = cohorts[cohorts["disease_area"].astype(str).str.upper() == disease.upper()]
    if area.empty:
        return f"no {disease} cohort in the catalog"
    parts = []
    for r in area.itertuples():
        short = getattr(r, "reason_short", "") or ""
        if not isinstance(short, str) or not short:
            short = str(r.reason).split("; ")[0].split(". ")[0][:120] if isinstance(r.reason, str) else ""
        parts.append(f"{r.accession}: {r.status}" + (f" ({short})" if short and r.status != "analysed" else ""))
    return f"no {disease} cohort with expression measured it [" + "; ".join(parts) + "]"


#: Design-audit checks that signal confounding of the contrast by how samples were collected
#: (risk of bias: the certainty drops a level), for design tables without a ``risk_of_bias``
#: column; newer tables name the risk-of-bias flags themselves (``risk_of_bias`` non-empty:
#: confounding by collection, an RNA-composition shift, pairing declared but not recorded, a
#: sex/age imbalance left unadjusted, unknown donors of per-cell data). Other flagged checks
#: become caveats only.
BIAS_CHECKS = ("library_size", "sample_ids", "technical", "sex_inferred", "sex_recorded", "age")


def _design_caveats(design: pd.DataFrame | None, rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(risk-of-bias flags, other caveats) for the cohort/contrast pairs a verdict uses."""
    if design is None or design.empty or rows.empty:
        return [], []
    flagged = design[design["flagged"].astype(str).str.lower().isin(("true", "1"))]
    # the audit names the flags that are a risk of bias (an adjusted sex/age imbalance is not);
    # older design tables without that column: the checks of BIAS_CHECKS
    rob = (flagged["risk_of_bias"].fillna("").astype(str).str.strip() != "" if "risk_of_bias" in flagged
           else flagged["check"].astype(str).isin(BIAS_CHECKS))
    bias, other = [], []
    for cohort, contrast in rows[["cohort", "contrast"]].drop_duplicates().itertuples(index=False):
        hit = flagged[(flagged["cohort"] == cohort)
                      & ((flagged["contrast"] == contrast) | (flagged["contrast"].isin(("", "pairs", "*"))))]
        flagged_bias = False
        for i, r in zip(hit.index, hit.itertuples()):
            caveat = "" if pd.isna(r.caveat) else str(r.caveat).strip()
            text = f"{cohort}: {caveat}" if caveat else ""
            if rob[i]:
                flagged_bias = True
                if text:  # a flag without text repeats another one (e.g. inferred and recorded sex)
                    bias.append(text)
            elif text:
                other.append(text)
        if flagged_bias and not any(b.startswith(f"{cohort}:") for b in bias):
            bias.append(f"{cohort}: the groups differ in how their samples were collected (design audit)")
    return list(dict.fromkeys(bias)), list(dict.fromkeys(other))


def _fill_q(ev: pd.DataFrame) -> pd.DataFrame:
    """Rows without a q-value get one: BH over the rows of their scenario that lack one."""
    ev = ev.copy()
    ev["qval"] = pd.to_numeric(ev["qval"], errors="coerce")
    for scen, idx in ev.groupby("scenario").groups.items():
        sub = ev.loc[idx]
        miss = sub["qval"].isna() & pd.to_numeric(sub["pval"], errors="coerce").notna()
        if miss.any():
            ev.loc[sub.index[miss], "qval"] = _bh(sub.loc[miss, "pval"].to_numpy(float))
    return ev


def _scenario_rows(ev: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Included rows of ``scenario``, falling back to the primary rows for (claim, cohort) pairs
    the scenario does not re-derive."""
    prim = ev[(ev["scenario"] == PRIMARY) & ev["included"]]
    if scenario == PRIMARY:
        return prim
    alt = ev[(ev["scenario"] == scenario) & ev["included"]]
    keys = set(zip(alt["claim_id"], alt["cohort"]))
    keep = prim[[k not in keys for k in zip(prim["claim_id"], prim["cohort"])]]
    return pd.concat([keep, alt], ignore_index=True)


def _votes(claims: pd.DataFrame, rows: pd.DataFrame, alpha: float) -> tuple[dict[str, Vote], dict[str, float]]:
    votes = {}
    for cid, sub in rows.groupby("claim_id", sort=False):
        votes[cid] = vote(sub, alpha=alpha)
    tested = [c for c in claims["claim_id"] if c in votes and np.isfinite(votes[c].pval)]
    q = dict(zip(tested, _bh(np.array([votes[c].pval for c in tested])))) if tested else {}
    return votes, q


def judge(evidence: pd.DataFrame | None = None, *, claims: pd.DataFrame | None = None,
          design: pd.DataFrame | None = None, cohorts: pd.DataFrame | None = None,
          alpha: float = 0.05) -> Judgement:
    """Give every claim a verdict, a certainty, a robustness and its caveats.

    Parameters
    ----------
    evidence
        Rows of :data:`EVIDENCE_COLUMNS`: one per claim x cohort x scenario (``"primary"`` or a
        named alternative analysis). ``included`` marks the rows the verdict may use (at most one
        per claim, cohort and scenario); the others are kept as context (``role``, ``why``).
    claims
        The claims table (default: the bundled one).
    design
        The design audit (``cohort, contrast, check, flagged, caveat``): flagged checks of a
        cohort and contrast become caveats and lower the certainty (pair checks: caveat only).
    cohorts
        The cohort status table, to say why an untestable claim could not be tested.
    alpha
        Significance level for q-values.
    """
    claims = load_claims() if claims is None else claims
    ev = pd.DataFrame(columns=EVIDENCE_COLUMNS) if evidence is None or len(evidence) == 0 else evidence.copy()
    for c in EVIDENCE_COLUMNS:
        if c not in ev.columns:
            ev[c] = "" if c in ("why", "role", "design", "test") else np.nan
    ev["included"] = ev["included"].astype(str).str.lower().isin(("true", "1"))
    ev["scenario"] = ev["scenario"].fillna(PRIMARY).replace("", PRIMARY)
    ev = _fill_q(ev)
    primary_rows = _scenario_rows(ev, PRIMARY)
    votes, qs = _votes(claims, primary_rows, alpha)

    out = []
    verdict_of: dict[str, str] = {}
    for _, c in claims.iterrows():
        cid = c["claim_id"]
        row = {k: c.get(k, "") for k in ("claim_id", "statement", "citation", "scope", "disease", "features",
                                           "contrast", "expected_direction")}
        v = votes.get(cid)
        used = primary_rows[primary_rows["claim_id"] == cid]
        context = ev[(ev["claim_id"] == cid) & (ev["scenario"] == PRIMARY) & ~ev["included"]]
        if v is None or not np.isfinite(v.effect):
            roles = context["role"].astype(str)
            why_not = [w for w in context.loc[~roles.isin(("context",)) & ~roles.str.startswith(("bulk", "pooled")),
                                              "why"].astype(str) if w]
            ctx = [w for w in context.loc[roles == "context", "why"].astype(str) if w]
            if c["feature_kind"] == "serum":
                reason = "needs serum magnesium, which transcriptome cohorts do not measure"
            elif c.get("scope") == "cell":
                where = f" ({c['cell_types'].replace(';', ', ')})" if c.get("cell_types") else ""
                reason = f"a cell-level claim{where}: {BULK_CELL_REASON}"
                bulk = context[context["role"].astype(str).str.startswith("bulk")]
                if not bulk.empty:
                    reason += ("; the bulk correlations are in the evidence for context ("
                               + "; ".join(f"{r.cohort}, {_design_words(r.design, r.test)}: rho {r.estimate:+.2f}"
                                           for r in bulk.itertuples() if np.isfinite(r.estimate)) + ")")
            elif why_not:
                reason = "; ".join(dict.fromkeys(why_not))
            elif c["feature_kind"] == "survival":
                reason = ("needs overall-survival follow-up, which no analysed "
                          f"{c['disease']} cohort records ("
                          f"{_unavailable_reason(c, cohorts).split('[', 1)[-1].rstrip(']')})")
            elif str(c["contrast"]).startswith("trend:"):
                by = str(c["contrast"]).split(":", 1)[1].replace("_", " ")
                reason = (f"no analysed {c['disease']} cohort records {by} with expression "
                          f"({_unavailable_reason(c, cohorts).split('[', 1)[-1].rstrip(']')})")
            else:
                reason = _unavailable_reason(c, cohorts)
            if ctx:
                reason += ". Context only: " + "; ".join(dict.fromkeys(ctx))
            verdict = "not testable"
            if (context["role"].astype(str) == ALIASED_ROLE).any():  # measured, but only on a batch-aliased contrast
                verdict, reason = "inconclusive", "no usable evidence: " + reason
            certainty, _ = grade(verdict, c["expected_direction"], Vote())
            row.update(verdict=verdict, certainty=certainty, effect_kind="", effect=np.nan,
                       ci_low=np.nan, ci_high=np.nan, pval=np.nan, qval=np.nan, n_cohorts=0, cohorts="",
                       robustness="", caveats=TRANSCRIPT_NOTE, reason=reason)
            verdict_of[cid] = verdict
            out.append(row)
            continue
        q = qs.get(cid, np.nan)
        verdict, clause = decide(c["expected_direction"], v, q, alpha=alpha)
        bias, other = _design_caveats(design, used)
        certainty, why = grade(verdict, c["expected_direction"], v, risk_of_bias=bias,
                               indirect=str(c.get("indirect", "") or ""), alpha=alpha)
        caveats = [*bias, *other]
        if not v.pooled:
            caveats.append("single cohort")
        excluded = [w for w in context["why"].astype(str) if w and "not voted" not in w]
        caveats.append(TRANSCRIPT_NOTE)
        reason = f"{clause}. {_effect_text(v)}. Certainty {certainty}: " + "; ".join(why) + "."
        if excluded:
            reason += " Not used: " + "; ".join(dict.fromkeys(excluded)) + "."
        row.update(verdict=verdict, certainty=certainty, effect_kind=v.effect_kind, effect=v.effect,
                   ci_low=v.ci_low, ci_high=v.ci_high, pval=v.pval, qval=q, n_cohorts=v.k,
                   cohorts=";".join(v.cohorts), robustness="", caveats=CAVEAT_SEP.join(dict.fromkeys(caveats)),
                   reason=reason)
        verdict_of[cid] = verdict
        out.append(row)
    verdicts = pd.DataFrame(out, columns=VERDICT_COLUMNS)
    pooled_rows = [_pooled_row(cid, v, qs.get(cid, np.nan), primary_rows[primary_rows["claim_id"] == cid])
                   for cid, v in votes.items() if v.pooled and np.isfinite(v.effect)]
    if pooled_rows:
        ev = pd.concat([ev, pd.DataFrame(pooled_rows)], ignore_index=True)

    sens = _sensitivity(claims, ev, verdict_of, alpha)
    if not sens.empty:
        for cid, sub in sens.groupby("claim_id", sort=False):
            agree = sub["agrees"].astype(bool)
            text = f"{int(agree.sum())}/{len(sub)} alternatives agree"
            dissent = [f"{a} ({vv})" for a, vv, ok in zip(sub["alternative"], sub["verdict"], agree) if not ok]
            if dissent:
                text += "; dissent: " + ", ".join(dissent)
            verdicts.loc[verdicts["claim_id"] == cid, "robustness"] = text
    tested = verdicts["verdict"] != "not testable"
    verdicts.loc[tested & (verdicts["robustness"] == ""), "robustness"] = "no alternative analysis applies"
    return Judgement(verdicts=verdicts, evidence=ev[EVIDENCE_COLUMNS].reset_index(drop=True), sensitivity=sens)


def _pooled_row(cid: str, v: Vote, q: float, used: pd.DataFrame) -> dict:
    """The evidence row of a random-effects pool: what the verdict of a k >= 2 claim voted on."""
    first = used.iloc[0]
    return {"claim_id": cid, "scenario": PRIMARY, "cohort": f"pooled ({v.k} cohorts)", "contrast": first["contrast"],
            "feature": first["feature"], "test": f"random-effects pool (REML) of {', '.join(v.cohorts)}; I² {v.i2:.0f}%",
            "design": "meta-analysis", "effect_kind": v.effect_kind, "estimate": v.effect, "ci_low": v.ci_low,
            "ci_high": v.ci_high, "se": np.nan, "pval": v.pval, "qval": q, "n": v.n, "role": "pooled",
            "included": True, "why": "the effect the verdict voted on (q over the claims)"}


def _sensitivity(claims: pd.DataFrame, ev: pd.DataFrame, verdict_of: dict[str, str], alpha: float) -> pd.DataFrame:
    rows = []
    scenarios = [s for s in dict.fromkeys(ev["scenario"]) if s != PRIMARY]
    expected = dict(zip(claims["claim_id"], claims["expected_direction"]))
    for scen in scenarios:
        applies = set(ev.loc[(ev["scenario"] == scen) & ev["included"], "claim_id"])
        srows = _scenario_rows(ev, scen)
        votes, qs = _votes(claims, srows, alpha)
        for cid in claims["claim_id"]:
            if cid not in applies or verdict_of.get(cid) == "not testable":
                continue
            v = votes.get(cid)
            if v is None or not np.isfinite(v.effect):
                rows.append({"claim_id": cid, "alternative": scen, "verdict": "not testable", "agrees": False,
                             "note": "the alternative could not be computed"})
                continue
            q = qs.get(cid, np.nan)
            verdict, clause = decide(expected[cid], v, q, alpha=alpha)
            rows.append({"claim_id": cid, "alternative": scen, "verdict": verdict, "effect_kind": v.effect_kind,
                         "effect": v.effect, "ci_low": v.ci_low, "ci_high": v.ci_high, "pval": v.pval, "qval": q,
                         "n_cohorts": v.k, "cohorts": ";".join(v.cohorts),
                         "agrees": verdict == verdict_of.get(cid), "note": clause})
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)

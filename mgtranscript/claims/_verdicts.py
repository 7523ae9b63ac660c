"""From evidence rows to the verdict table, the evidence table and the sensitivity table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._table import (
    EVIDENCE_COLUMNS,
    SENSITIVITY_COLUMNS,
    TRANSCRIPT_NOTE,
    UNTESTABLE_KINDS,
    VERDICT_COLUMNS,
    load_claims,
)
from ._evidence import ALIASED_ROLE, BULK_CELL_REASON, STAGE_CONTEXT_ROLE, build_evidence
from ._grading import DOSE_RESPONSE_ROLE, PROXY_SOURCES, grade, risk_of_bias
from ._robustness import robustness_text, scenario_rows, sensitivity
from ._rules import KIND_SYMBOL, Vote, claim_votes, cohort_estimate, decide, fmt_num, set_agreement, sign_of

__all__ = ["Judgement", "judge", "evaluate_claims", "PRIMARY", "CAVEAT_SEP", "STAGE_CONTEXT_ROLE", "contrast_label",
           "cohort_sentence"]

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
    from .._stats import bh_adjust

    return bh_adjust(np.asarray(p, dtype=float))


def _effect_text(v: Vote) -> str:
    label = _KIND_LABEL.get(v.effect_kind, v.effect_kind)
    ci = f" [{v.ci_low:+.2f}, {v.ci_high:+.2f}]" if np.isfinite(v.ci_low) else ""
    if v.pooled:
        ci += f" (Hartung-Knapp, {v.df:.0f} df)"
        where = (f"random-effects pool of {v.k} cohorts ({', '.join(v.cohorts)}), I² {v.i2:.0f}%, "
                 f"heterogeneity Q p {fmt_num(v.q_pval)}")
        if np.isfinite(v.pi_low):
            where += f", 95% prediction interval [{v.pi_low:+.2f}, {v.pi_high:+.2f}]"
    else:
        where = f"single cohort ({v.cohorts[0]})"
    unit = " pairs" if v.paired else ""
    return f"{label} {v.effect:+.2f}{ci}, p {fmt_num(v.pval)}; {where}; n = {v.n}{unit}"


def cohort_sentence(v: Vote, alpha: float = 0.05) -> str:
    """What each pooled cohort shows on its own, from the rows the verdict voted on:
    ``Per cohort: GSE1 rho +0.63, q 0.00048 (run family): significant (positive); GSE2 rho -0.05,
    q 0.61 (run family): not significant``."""
    parts = []
    for cohort, est, _lo, _hi, q, fam in v.rows:
        word = "not significant"
        if np.isfinite(q) and q < alpha:
            word = f"significant ({'positive' if sign_of(v.effect_kind, est) > 0 else 'negative'})"
        parts.append(f"{cohort} {KIND_SYMBOL.get(v.effect_kind, v.effect_kind)} {est:+.2f}, q {fmt_num(q)} "
                     f"({fam} family): {word}")
    return "Per cohort: " + "; ".join(parts)


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
            full = getattr(r, "reason", "")
            short = full.split("; ")[0].split(". ")[0][:120] if isinstance(full, str) else ""
        parts.append(f"{r.accession}: {r.status}" + (f" ({short})" if short and r.status != "analysed" else ""))
    return f"no {disease} cohort with expression measured it [" + "; ".join(parts) + "]"


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
    """Included rows of ``scenario`` (primary rows where it re-derives nothing; never a pool)."""
    return scenario_rows(ev, scenario, PRIMARY)


def _one_q(ev: pd.DataFrame, votes: dict[str, Vote], qs: dict[str, float], alpha: float) -> None:
    """One q per estimate: the row a single-cohort verdict voted on carries the verdict's q
    (family ``claims``), and "significant on its own" is read from it."""
    for cid, v in votes.items():
        if v.pooled or cid not in qs:
            continue
        idx = ev.index[(ev["claim_id"] == cid) & (ev["scenario"] == PRIMARY) & ev["included"]
                       & (ev["cohort"] == v.cohorts[0])]
        ev.loc[idx, "qval"] = qs[cid]
        ev.loc[idx, "q_family"] = "claims"
        v.rows = [(*r[:4], qs[cid], "claims") for r in v.rows]
        set_agreement(v, [qs[cid]], alpha=alpha)


def _not_testable_reason(c: pd.Series, context: pd.DataFrame, cohorts: pd.DataFrame | None) -> str:
    roles = context["role"].astype(str)
    why_not = [w for w in context.loc[~roles.isin(("context", STAGE_CONTEXT_ROLE, DOSE_RESPONSE_ROLE))
                                      & ~roles.str.startswith(("bulk", "pooled")), "why"].astype(str) if w]
    ctx = [w for w in context.loc[roles == "context", "why"].astype(str) if w]
    if c["feature_kind"] in UNTESTABLE_KINDS:
        reason = UNTESTABLE_KINDS[c["feature_kind"]]
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
    return reason


def _indirectness(c: pd.Series, v: Vote, areas: dict[str, str]) -> list[str]:
    """The reasons a claim's evidence answers a question other than the review's own."""
    out = []
    source = str(c.get("source", "") or "")
    if source in PROXY_SOURCES:
        out.append(f"a {source}, not the review's own statement")
    if str(c.get("indirect", "") or ""):
        out.append(str(c["indirect"]))
    mixed = sorted({areas[x] for x in v.cohorts if areas.get(x)})
    if len(mixed) > 1:
        out.append(f"cohorts of mixed disease areas ({', '.join(mixed)})")
    return out


def _stage_context(rows: pd.DataFrame) -> str:
    parts = [f"{r.feature} {contrast_label(r.contrast)} "
             f"{cohort_estimate(r.effect_kind, r.cohort, r.estimate, r.ci_low, r.ci_high)}, q {fmt_num(r.qval)} "
             f"({r.q_family} family)" for r in rows.itertuples() if np.isfinite(r.estimate)]
    return ("Disease-stage context (not voted): " + "; ".join(parts) + ".") if parts else ""


def judge(evidence: pd.DataFrame | None = None, *, claims: pd.DataFrame | None = None,
          design: pd.DataFrame | None = None, cohorts: pd.DataFrame | None = None,
          alpha: float = 0.05) -> Judgement:
    """Give every claim a verdict, a certainty with its reasons, a robustness and its caveats.

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
        cohort and contrast become caveats; those of :data:`~._grading.RISK_OF_BIAS` also rate
        the certainty down.
    cohorts
        The cohort status table, to say why an untestable claim could not be tested and which
        disease area each cohort belongs to.
    alpha
        Significance level for q-values.
    """
    claims = load_claims() if claims is None else claims
    ev = pd.DataFrame(columns=EVIDENCE_COLUMNS) if evidence is None or len(evidence) == 0 else evidence.copy()
    for c in EVIDENCE_COLUMNS:
        if c not in ev.columns:
            ev[c] = "" if c in ("why", "role", "design", "test", "q_family") else np.nan
    ev["q_family"] = ev["q_family"].fillna("").replace("", "run")
    ev["included"] = ev["included"].astype(str).str.lower().isin(("true", "1"))
    ev["scenario"] = ev["scenario"].fillna(PRIMARY).replace("", PRIMARY)
    ev = _fill_q(ev)
    votes, qs = claim_votes(claims, _scenario_rows(ev, PRIMARY), alpha)
    _one_q(ev, votes, qs, alpha)
    primary_rows = _scenario_rows(ev, PRIMARY)
    areas = ({} if cohorts is None or cohorts.empty or "disease_area" not in cohorts
             else dict(zip(cohorts["accession"].astype(str), cohorts["disease_area"].astype(str))))

    out = []
    verdict_of: dict[str, str] = {}
    for _, c in claims.iterrows():
        cid = c["claim_id"]
        row = {k: c.get(k, "") for k in ("claim_id", "statement", "citation", "source", "review_statement", "scope",
                                           "disease", "features", "contrast", "expected_direction")}
        v = votes.get(cid)
        used = primary_rows[primary_rows["claim_id"] == cid]
        context = ev[(ev["claim_id"] == cid) & (ev["scenario"] == PRIMARY) & ~ev["included"]]
        if v is None or not np.isfinite(v.effect):
            row.update(verdict="not testable", certainty="", certainty_reasons="", effect_kind="", effect=np.nan,
                       ci_low=np.nan, ci_high=np.nan, pval=np.nan, qval=np.nan, n_cohorts=0, cohorts="",
                       robustness="", caveats=TRANSCRIPT_NOTE, reason=_not_testable_reason(c, context, cohorts))
            row.update(_aliased_only(context, row["reason"]))
            verdict_of[cid] = row["verdict"]
            out.append(row)
            continue
        q = qs.get(cid, np.nan)
        verdict, clause = decide(c["expected_direction"], v, q, alpha=alpha)
        bias, other = risk_of_bias(design, used)
        certainty, steps = grade(verdict, c["expected_direction"], v, bias=bias, indirect=_indirectness(c, v, areas),
                                 dose_response=context[context["role"] == DOSE_RESPONSE_ROLE], alpha=alpha)
        worded = {(b.cohort, b.label) for b in bias if b.caveat}  # a flag without words repeats a worded one
        caveats = [*dict.fromkeys(f"{b.cohort}: {b.caveat}" if b.caveat else f"{b.cohort}: {b.label}" for b in bias
                                  if b.caveat or (b.cohort, b.label) not in worded), *other]
        if not v.pooled:
            caveats.append("single cohort")
        caveats.append(TRANSCRIPT_NOTE)
        sentences = [f"{clause[0].upper()}{clause[1:]}", _effect_text(v)]
        if v.pooled:
            sentences.append(cohort_sentence(v, alpha))
        reason = ". ".join(sentences) + f". Certainty {certainty}: " + "; ".join(steps[:-1]) + "."
        stage = _stage_context(context[context["role"] == STAGE_CONTEXT_ROLE])
        if stage:
            reason += " " + stage
        excluded = [w for w in context["why"].astype(str) if w and "not voted" not in w]
        if excluded:
            reason += " Not used: " + "; ".join(dict.fromkeys(excluded)) + "."
        row.update(verdict=verdict, certainty=certainty, certainty_reasons="; ".join(steps), effect_kind=v.effect_kind,
                   effect=v.effect, ci_low=v.ci_low, ci_high=v.ci_high, pval=v.pval, qval=q, n_cohorts=v.k,
                   cohorts=";".join(v.cohorts), robustness="", caveats=CAVEAT_SEP.join(dict.fromkeys(caveats)),
                   reason=reason)
        verdict_of[cid] = verdict
        out.append(row)
    verdicts = pd.DataFrame(out, columns=VERDICT_COLUMNS)

    sens = sensitivity(claims, ev, verdict_of, alpha, primary=PRIMARY)
    for cid, text in robustness_text(sens).items():
        verdicts.loc[verdicts["claim_id"] == cid, "robustness"] = text
    tested = verdicts["verdict"] != "not testable"
    empty = verdicts["robustness"].fillna("") == ""
    verdicts.loc[tested & empty, "robustness"] = "no alternative analysis applies"
    # ``used``: the row is part of its claim's vote (a primary, included row of a claim with a finite vote, or
    # the pool it gave); alternative scenarios feed the sensitivity table only
    voted = {cid for cid, v in votes.items() if np.isfinite(v.effect)}
    ev["used"] = False
    ev.loc[primary_rows.index[primary_rows["claim_id"].isin(voted)], "used"] = True
    pooled_rows = [_pooled_row(cid, v, qs.get(cid, np.nan), primary_rows[primary_rows["claim_id"] == cid])
                   for cid, v in votes.items() if v.pooled and np.isfinite(v.effect)]
    if pooled_rows:  # added after the sensitivity analysis: a pool is never an alternative's cohort
        ev = pd.concat([ev, pd.DataFrame(pooled_rows)], ignore_index=True)
    return Judgement(verdicts=verdicts, evidence=ev[EVIDENCE_COLUMNS].reset_index(drop=True), sensitivity=sens)


def _aliased_only(context: pd.DataFrame, reason: str) -> dict:
    """A claim measured only on contrasts aliased with a dominating batch (evidence role
    :data:`~._evidence.ALIASED_ROLE`) is ``inconclusive``, not "not testable": the data exist but
    cannot be read as biology. Its certainty is very low, for that risk of bias."""
    if not (context["role"].astype(str) == ALIASED_ROLE).any():
        return {}
    return {"verdict": "inconclusive", "certainty": "very low", "reason": "no usable evidence: " + reason,
            "certainty_reasons": "start low: no usable cohort (every estimate is of a contrast aliased with a "
                                 "processing batch that dominates the biology, not voted); -1 risk of bias: groups "
                                 "aliased with a processing batch; = very low"}


def _pooled_row(cid: str, v: Vote, q: float, used: pd.DataFrame) -> dict:
    """The evidence row of a random-effects pool: what the verdict of a k >= 2 claim voted on."""
    first = used.iloc[0]
    pi = f"; 95% prediction interval [{v.pi_low:+.2f}, {v.pi_high:+.2f}]" if np.isfinite(v.pi_low) else ""
    return {"claim_id": cid, "scenario": PRIMARY, "cohort": f"pooled ({v.k} cohorts)", "contrast": first["contrast"],
            "feature": first["feature"],
            "test": (f"random-effects pool (REML) of {', '.join(v.cohorts)}, Hartung-Knapp t ({v.df:.0f} df); "
                     f"I² {v.i2:.0f}%, Q p {fmt_num(v.q_pval)}{pi}"),
            "design": "meta-analysis", "effect_kind": v.effect_kind, "estimate": v.effect, "ci_low": v.ci_low,
            "ci_high": v.ci_high, "se": v.se, "pval": v.pval, "qval": q, "q_family": "claims", "n": v.n,
            "role": "pooled", "included": True, "used": True,
            "why": "the effect the verdict voted on (q over the claims)"}


def evaluate_claims(effects: pd.DataFrame | None = None, *, design: pd.DataFrame | None = None,
                    cohorts: pd.DataFrame | None = None, claims: pd.DataFrame | None = None,
                    alpha: float = 0.05) -> pd.DataFrame:
    """Give every claim a verdict from a run's ``effects`` table (see :func:`judge` for all tables).

    Parameters
    ----------
    effects
        The run's estimates (``tables/effects.tsv``; columns :data:`EFFECT_COLUMNS`).
    design
        The design audit (``tables/design.tsv``): flagged checks become caveats; a contrast
        aliased with a dominating batch does not vote.
    cohorts
        The cohort status table (``tables/cohorts.tsv``), to say why a claim is not testable.
    claims
        The claims table (default: the bundled ``seeds/claims.tsv``).
    alpha
        Significance level for q-values.

    Returns
    -------
    DataFrame with one row per claim and the columns of :data:`VERDICT_COLUMNS`.
    """
    claims = load_claims() if claims is None else claims
    evidence = build_evidence(effects, claims=claims, cohorts=cohorts, design=design)
    return judge(evidence, claims=claims, design=design, cohorts=cohorts, alpha=alpha).verdicts

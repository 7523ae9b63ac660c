"""Certainty of a verdict, in the manner of GRADE, with every step written down.

:func:`grade` starts from the number of independent cohorts, rates down for risk of bias,
inconsistency, indirectness and imprecision, and up only for a dose-response across ordered
stages; each step is one entry of ``certainty_reasons``. The design-audit checks that count as
risk of bias are one table, :data:`RISK_OF_BIAS`; :func:`risk_of_bias` applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._rules import I2_INCONSISTENT, NOT_DOWN_MARGIN, NULL, Vote, fmt_num, sign_of

__all__ = ["RISK_OF_BIAS", "Bias", "risk_of_bias", "grade", "optimal_information_size", "OIS_EFFECT",
           "LEVELS", "DOSE_RESPONSE_ROLE", "PROXY_SOURCES"]

LEVELS = ("high", "moderate", "low", "very low")

#: Design-audit checks (``tables/design.tsv``, column ``check``) that are a **risk of bias** when
#: flagged on a cohort and contrast a verdict uses: check -> (the words in ``certainty_reasons``,
#: the covariate whose adjustment in the voted estimate removes the risk, or ""). Flagged checks
#: not listed here (a recorded sex contradicting XIST/chrY in single samples, ...) are caveats only.
#: Extend this table to make a new audit check count.
RISK_OF_BIAS: dict[str, tuple[str, str]] = {
    # confounding by how the samples were collected or processed
    "batch_aliased": ("groups aliased with a processing batch", ""),
    "library_size": ("sequencing depth differs between groups", ""),
    "sample_ids": ("groups come from different sample-id series", ""),
    "technical": ("groups differ in technical fields (dates, instrument)", ""),
    # covariates left unadjusted
    "sex_inferred": ("sex imbalance not adjusted for", "sex"),
    "sex_recorded": ("sex imbalance not adjusted for", "sex"),
    "sex_imbalance_unadjusted": ("sex imbalance not adjusted for", ""),
    "age": ("age imbalance not adjusted for", "age"),
    "age_imbalance_unadjusted": ("age imbalance not adjusted for", ""),
    # composition shifts between the groups
    "norm_factor": ("RNA composition shifts between groups (TMM factors)", ""),
    "top_share": ("RNA composition shifts between groups (top-gene read share)", ""),
    # pairing
    "pairing_declared": ("pairing declared by sample order, not recorded", ""),
    "pairs": ("declared pairs that may not be one person", ""),
    # per-cell data without a donor column: cells counted as samples (tl.correlate_cells)
    "donors": ("donors unknown: cells counted as samples", ""),
    # model assumptions (statistical analysis, as in QUIPS): the voted Cox model violates PH
    "proportional_hazards": ("the voted Cox model violates proportional hazards", ""),
}

#: Effect the optimal information size is powered for (80% power, two-sided alpha 0.05): a
#: moderate standardised difference (Cohen's d 0.5) for group contrasts, a moderate correlation
#: (0.3) for correlations. Hazard ratios are not checked (the evidence does not carry events).
OIS_EFFECT = {"standardised": 0.5, "correlation": 0.3}
_STANDARDISED = ("hedges_g", "log2fc", "adjusted_diff", "diff")
_CORRELATION = ("spearman_rho", "pearson_r")

#: Role of the evidence rows that show a feature's gradient across ordered stages in a cohort
#: (context; a significant gradient in the verdict's direction may rate the certainty up).
DOSE_RESPONSE_ROLE = "dose-response (context)"
#: Claim sources that are the project's operationalisations, not the review's words (indirectness).
PROXY_SOURCES = ("project proxy", "project hypothesis")


def optimal_information_size(kind: str, *, paired: bool = False) -> int | None:
    """Samples (pairs when ``paired``) giving 80% power at two-sided alpha 0.05 for the effect of
    :data:`OIS_EFFECT`: ``2 (z_a + z_b)^2 / d^2`` per group (t-corrected) for unpaired contrasts,
    ``(z_a + z_b)^2 / d^2`` pairs for paired ones, ``((z_a + z_b) / atanh(r))^2 + 3`` for
    correlations; ``None`` for other kinds."""
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    if kind in _STANDARDISED:
        d = OIS_EFFECT["standardised"]
        if paired:
            return int(np.ceil((za + zb) ** 2 / d**2 + za**2 / 2))
        per_group = 2 * (za + zb) ** 2 / d**2 + za**2 / 4
        return int(2 * np.ceil(per_group))
    if kind in _CORRELATION:
        return int(np.ceil(((za + zb) / np.arctanh(OIS_EFFECT["correlation"])) ** 2 + 3))
    return None


@dataclass
class Bias:
    """One risk-of-bias finding: a flagged audit check on a cohort and contrast a verdict uses."""

    cohort: str
    check: str
    label: str
    caveat: str = ""


def risk_of_bias(design: pd.DataFrame | None, rows: pd.DataFrame) -> tuple[list[Bias], list[str]]:
    """(risk-of-bias findings, other caveats) for the cohort/contrast pairs a verdict uses.

    A flagged check listed in :data:`RISK_OF_BIAS` is a risk of bias unless the voted estimate of
    that cohort is adjusted for the check's covariate (its ``test`` says "adjusted for ... sex");
    then its caveat says so. Other flagged checks become caveats.
    """
    if design is None or design.empty or rows.empty:
        return [], []
    flagged = design[design["flagged"].astype(str).str.lower().isin(("true", "1"))]
    bias: list[Bias] = []
    other: list[str] = []
    for r in rows[["cohort", "contrast", "test"]].drop_duplicates(["cohort", "contrast"]).itertuples(index=False):
        cohort, contrast, test = r.cohort, r.contrast, str(r.test or "")
        adjusted = test.split("adjusted for", 1)[1].lower() if "adjusted for" in test else ""
        hit = flagged[(flagged["cohort"] == cohort)
                      & ((flagged["contrast"] == contrast) | (flagged["contrast"].isin(("", "pairs", "*"))))]
        for h in hit.itertuples():
            caveat = "" if pd.isna(h.caveat) else str(h.caveat).strip()
            check = str(h.check)
            label, covariate = RISK_OF_BIAS.get(check, ("", ""))
            if label and covariate and covariate in adjusted:
                other.append(f"{cohort}: {caveat} (the estimate is adjusted for {covariate})" if caveat else
                             f"{cohort}: {covariate} imbalance (the estimate is adjusted for it)")
            elif label:
                bias.append(Bias(cohort, check, label, caveat))
            elif caveat:
                other.append(f"{cohort}: {caveat}")
    return bias, list(dict.fromkeys(other))


def _by_label(items: Sequence[tuple[str, str]]) -> str:
    """``[(label, cohort), ...]`` -> ``"label (A, B), other (A)"``."""
    groups: dict[str, list[str]] = {}
    for label, cohort in items:
        groups.setdefault(label, [])
        if cohort not in groups[label]:
            groups[label].append(cohort)
    return ", ".join(f"{label} ({', '.join(c)})" for label, c in groups.items())


def grade(verdict: str, expected: str, v: Vote, *, bias: Sequence[Bias] = (), indirect: Sequence[str] = (),
          dose_response: pd.DataFrame | None = None, alpha: float = 0.05) -> tuple[str, list[str]]:
    """Certainty of a verdict and every step that set it (the ``certainty_reasons``).

    **Start** from the independent cohorts behind the effect: one cohort starts ``low``; two
    ``moderate`` (they must then agree without significant heterogeneity, or inconsistency
    rates them down); three or more ``high`` (kept only with no serious downgrade).

    **Rate down** one level per domain, each step naming its reasons:

    * risk of bias: a :data:`RISK_OF_BIAS` check flagged on a cohort and contrast used
      (confounding by depth, id series, batch or technical fields; sex or age imbalance left
      unadjusted; RNA composition shifts; pairing declared, not recorded, or in doubt);
    * inconsistency (two or more cohorts): Cochran's Q p < 0.10, I^2 > 50%, point estimates of
      opposite sign, or a cohort significantly opposite;
    * indirectness: ``indirect`` (a project proxy or hypothesis rather than the review's words;
      evidence at another level than tissue transcripts; cohorts of mixed disease areas);
    * imprecision: the 95% CI crosses the null (the non-inferiority margin for "not down"
      claims), or fewer samples than the optimal information size
      (:func:`optimal_information_size`).

    **Rate up** one level only for a dose-response: a significant (q < alpha) gradient of the
    feature across ordered stages in a voted cohort, in the verdict's direction (rows of
    ``dose_response``), for a supported or contradicted verdict with no risk of bias or
    inconsistency (a gradient across a confounded boundary is no dose-response).

    ``not testable`` claims have no certainty: ``("", [])``.
    """
    if verdict == "not testable":
        return "", []
    cohorts = list(dict.fromkeys(v.cohorts))
    k = len(cohorts)
    level = 2 if k <= 1 else 1 if k == 2 else 0
    steps = [f"start {LEVELS[level]}: " + (f"1 cohort ({cohorts[0]})" if k == 1 else
                                          f"{k} independent cohorts ({', '.join(cohorts)})")]
    if bias:
        level += 1
        steps.append("-1 risk of bias: " + _by_label([(b.label, b.cohort) for b in bias]))
    inconsistent = []
    if v.pooled:
        if np.isfinite(v.q_pval) and v.disagree:
            inconsistent.append(f"Q p {fmt_num(v.q_pval)}")
        if np.isfinite(v.i2) and v.i2 > I2_INCONSISTENT:
            inconsistent.append(f"I² {v.i2:.0f}%")
    if v.directions_differ:
        inconsistent.append("estimates of opposite sign")
    if v.opposing:
        inconsistent.append(f"{', '.join(v.opposing)} significantly opposite")
    if inconsistent:
        level += 1
        steps.append("-1 inconsistency: " + ", ".join(inconsistent))
    indirect = [i for i in dict.fromkeys(indirect) if i]
    if indirect:
        level += 1
        steps.append("-1 indirectness: " + ", ".join(indirect))
    imprecise = []
    null = NULL.get(v.effect_kind, 0.0)
    if expected == "not down":
        margin = NOT_DOWN_MARGIN.get(v.effect_kind, 0.0)
        if not (np.isfinite(v.ci_low) and v.ci_low > -margin):
            imprecise.append(f"the 95% CI crosses the margin ({-margin:+.2f})")
    elif not (np.isfinite(v.ci_low) and np.isfinite(v.ci_high)) or v.ci_low <= null <= v.ci_high:
        imprecise.append("the 95% CI includes no effect")
    ois = optimal_information_size(v.effect_kind, paired=v.paired)
    if ois is not None and v.n < ois:
        unit = "pairs" if v.paired else "samples"
        imprecise.append(f"{v.n} {unit}, below the optimal information size of {ois} {unit}")
    if imprecise:
        level += 1
        steps.append("-1 imprecision: " + ", ".join(imprecise))
    up = _dose_response(verdict, v, dose_response, alpha)
    if up:
        if not bias and not inconsistent:
            level -= 1
            steps.append(f"+1 dose-response: {up}")
        else:
            steps.append(f"no +1 for the gradient ({up}): {'risk of bias' if bias else 'inconsistency'}")
    level = min(max(level, 0), 3)
    steps.append(f"= {LEVELS[level]}")
    # steps are joined with "; " in certainty_reasons: none may contain one
    return LEVELS[level], [s.replace("; ", ", ") for s in steps]


def _dose_response(verdict: str, v: Vote, rows: pd.DataFrame | None, alpha: float) -> str:
    """Words for the significant gradients in the verdict's direction in voted cohorts ("" if none)."""
    if rows is None or rows.empty or verdict not in ("supported", "contradicted"):
        return ""
    direction = sign_of(v.effect_kind, v.effect)
    found = []
    for r in rows.itertuples():
        q = pd.to_numeric(r.qval, errors="coerce")
        if r.cohort in v.cohorts and np.isfinite(q) and q < alpha and sign_of(r.effect_kind, r.estimate) == direction:
            by = str(r.contrast).split(":", 1)[-1].replace("_", " ")
            found.append(f"{r.feature} {'rises' if direction > 0 else 'falls'} across ordered {by} in {r.cohort} "
                         f"(rho {r.estimate:+.2f}, q {fmt_num(q)})")
    return ", ".join(found)

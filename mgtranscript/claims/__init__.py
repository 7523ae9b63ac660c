"""The review's testable claims (``seeds/claims.tsv``) and their verdicts.

A verdict speaks about **transcript levels only**: mRNA abundance is a weak proxy for
magnesium flux (PRL phosphatases, for one, are regulated by Mg at translation).

How a claim is judged
---------------------
1. **Evidence** (:func:`build_evidence`): every estimate of the run that tests the claim, one
   row per claim x cohort x test (``tables/claims_evidence.tsv``), only from cohorts of the
   claim's disease area (``any``: all). Group contrasts use Hedges' g of the contrast (paired
   on matched pairs where the cohort is paired); trends use Spearman's rho; coupling and
   correlation claims use correlations **within** each condition (per-group Fisher z
   combined, pair-aware in paired cohorts), never across pooled disease and control samples
   (a pooled correlation mostly reflects the group difference: Simpson's paradox; it is shown
   beside, not voted); a claim about a mechanism inside one cell type (``scope = cell``) is
   not testable on bulk samples (per-cell data: correlations within cell type and donor,
   donors as the unit; without a donor column the row's ``design`` says the donors are
   unknown); survival claims use a Cox model per SD in tumours, one sample per patient.
   Paired contrasts vote on ``g_av`` (average-SD standardised, comparable with an unpaired
   g; the change-score ``g_z`` is named in ``test``); a contrast the design audit flags for a
   sex or age imbalance votes on the covariate-adjusted estimate (the unadjusted one is the
   alternative ``unadjusted for sex/age``). A contrast aliased with a batch that dominates the
   biology inside it (a flagged ``batch_aliased`` row of the design audit) does not vote in
   any scenario (:func:`~.evidence.exclude_batch_aliased`): ``included = False`` and the
   audit's numbers in ``why``; a claim left without other evidence is ``inconclusive``.
2. **One effect per claim** (:func:`~.rules.vote`): a single cohort gives its own estimate,
   CI and p ("single cohort"); two or more cohorts are pooled by random effects (REML) on the
   effect's pooling scale (g as is, correlations by Fisher z, hazard ratios on the log scale).
   A cohort never pools with itself; nothing is "pooled" with k = 1.
3. **Verdict** (:func:`~.rules.decide`), with q = Benjamini-Hochberg over the voted p-values
   of all testable claims and ``alpha`` = 0.05:

   ``supported``
       q < alpha in the expected direction (and, when pooled, no cohort significantly the
       other way). For "not down" claims (L10): the 95% CI excludes a decrease larger than a
       small effect (non-inferiority margin g = 0.2).
   ``contradicted``
       q < alpha in the opposite direction.
   ``inconclusive``
       testable, but not significant, or pooled cohorts disagree.
   ``not testable``
       no analysed cohort measured what the claim needs (the reason names the cohorts and
       why), a cell-level mechanism with bulk data only, or not about transcripts (serum Mg).
4. **Certainty** (:func:`~.rules.grade`), in the manner of GRADE: ``high`` when two or more
   independent cohorts agree on their own, ``moderate`` with one, ``low`` with none; one level
   down for each of risk of bias (a design-audit flag on a cohort and contrast used),
   inconsistency (I^2 > 50%, opposite directions), imprecision (CI includes no effect, or fewer
   than 30 samples) and indirectness (the claim's own evidence is serum/tissue Mg, protein,
   animals or cell lines). The reason names each downgrade.
5. **Robustness**: the verdict re-derived under each alternative analysis that applies
   (normalisation TMM vs RLE vs upper quartile; scoring ssGSEA vs GSVA vs z-score; DE by voom vs
   limma-trend; paired vs unpaired; controls with and without the obese group; composition
   adjusted): the share that agree, and the dissenting ones by name
   (``tables/sensitivity.tsv``).
6. **Caveats**: flags of the design audit (:func:`mgtranscript.tl.design_check`) of every
   cohort and contrast the verdict uses, in plain words, plus "single cohort" and the
   transcript-level note. Flags that mean the contrast is confounded with how the samples
   were collected are a risk of bias and lower the certainty: the audit names them in its
   ``risk_of_bias`` column (confounding by collection, an RNA-composition shift, pairing
   declared but not recorded, a sex/age imbalance left unadjusted, unknown donors); design
   tables without that column fall back on :data:`~.verdicts.BIAS_CHECKS`. Other flags
   (single libraries, a recorded sex that contradicts XIST/chrY, a declared pair whose
   members do not look like one person) are caveats only.
"""

from __future__ import annotations

import pandas as pd

from ._table import (
    CERTAINTY_LEVELS,
    CLAIM_COLUMNS,
    EVIDENCE_COLUMNS,
    SENSITIVITY_COLUMNS,
    TRANSCRIPT_NOTE,
    VERDICT_COLUMNS,
    VERDICTS,
    load_claims,
)
from .evidence import EFFECT_COLUMNS, build_evidence
from .verdicts import Judgement, contrast_label, judge

__all__ = [
    "load_claims", "evaluate_claims", "judge", "build_evidence", "Judgement", "contrast_label",
    "CLAIM_COLUMNS", "VERDICT_COLUMNS", "EVIDENCE_COLUMNS", "SENSITIVITY_COLUMNS", "EFFECT_COLUMNS",
    "VERDICTS", "CERTAINTY_LEVELS", "TRANSCRIPT_NOTE",
]


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

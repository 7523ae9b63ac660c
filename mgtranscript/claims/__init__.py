"""The review's testable claims (``seeds/claims.tsv``) and their verdicts.

A verdict speaks about **transcript levels only**: mRNA abundance is a weak proxy for
magnesium flux (PRL phosphatases, for one, are regulated by Mg at translation).

How a claim is judged
---------------------
0. **Source** (``seeds/claims.tsv``, column ``source``): ``review``, ``cited study``,
   ``project proxy`` or ``project hypothesis``; proxies and hypotheses name the review
   statement they stand for (``review_statement``) and are rated down for indirectness.
   Claims no transcriptome can test (serum Mg, the gut-liver axis, interventions:
   :data:`~._table.UNTESTABLE_KINDS`) are always ``not testable``.
1. **Evidence** (:func:`build_evidence`): every estimate of the run that tests the claim, one
   row per claim x cohort x test (``tables/claims_evidence.tsv``), only from cohorts of the
   claim's disease area (``any``: all); mechanism claims have one row per area and list their
   gene sets in ``features``. Group contrasts use Hedges' g of the contrast (paired on matched
   pairs where the cohort is paired); "not down" claims (L10) the mean log2 difference, their
   margin being a fold change; trends use Spearman's rho; coupling and correlation claims use
   correlations **within** each condition (per-group Fisher z combined, pair-aware in paired
   cohorts), never across pooled disease and control samples (a pooled correlation mostly
   reflects the group difference: Simpson's paradox; it is shown beside, not voted); a claim
   about a mechanism inside one cell type (``scope = cell``) is not testable on bulk samples;
   survival claims use a Cox model per SD in tumours, one sample per patient. Context rows
   (not voted): the feature's gradient across ordered stages (dose-response) and, for "not
   down" claims, the same gene between disease stages. Paired contrasts vote on ``g_av``
   (average-SD standardised, comparable with an unpaired g; the change-score ``g_z`` is named
   in ``test``); a contrast the design audit flags for a sex or age imbalance votes on the
   covariate-adjusted estimate (the unadjusted one is the alternative ``unadjusted for
   sex/age``); per-cell evidence counts donors, not cells (without a donor column the row's
   ``design`` says the donors are unknown, a risk of bias). A contrast aliased with a batch
   that dominates the biology inside it (a flagged ``batch_aliased`` row of the design audit)
   does not vote in any scenario (:func:`~._evidence.exclude_batch_aliased`: ``included =
   False``, the audit's numbers in ``why``); a claim left without other evidence is
   ``inconclusive`` ("no usable evidence", certainty very low).
2. **One effect per claim** (:func:`~._rules.vote`): a single cohort gives its own estimate,
   CI and p ("single cohort"); two or more cohorts are pooled by random effects (REML) on the
   effect's pooling scale (g as is, correlations by Fisher z, hazard ratios on the log scale)
   with a Hartung-Knapp t CI and p (k - 1 df) and, for k >= 3, a prediction interval
   (:func:`~._rules.pool_effects`, also behind ``tables/meta.tsv``). A cohort never pools with
   itself; nothing is "pooled" with k = 1.
3. **Verdict** (:func:`~._rules.decide`), with q = Benjamini-Hochberg over the voted p-values
   of all testable claims and ``alpha`` = 0.05:

   ``supported``
       q < alpha in the expected direction (and, when pooled, no cohort significantly the
       other way). For "not down" claims (L10): the 95% CI excludes a decrease larger than
       the margin stated in the claim (1.15-fold, :data:`~._rules.NOT_DOWN_MARGIN`).
   ``contradicted``
       q < alpha in the opposite direction ("not down": the whole CI below the margin).
   ``inconclusive``
       testable, but not significant, or pooled cohorts disagree (Cochran's Q p < 0.10: the
       reason says "cohorts disagree" and names every cohort's estimate).
   ``not testable``
       no analysed cohort measured what the claim needs (the reason names the cohorts and
       why), a cell-level mechanism with bulk data only, or not about transcripts.

   **One q per estimate**: the evidence row a verdict voted on carries the verdict's q
   (``q_family = "claims"``); other rows carry the run's q over the tests of their analysis
   (``"run"``), and the sentences name the family they quote.
4. **Certainty** (:func:`~._grading.grade`), GRADE written down step by step in
   ``certainty_reasons``: one cohort starts ``low``, two ``moderate``, three or more ``high``;
   -1 each for risk of bias (a flagged check of :data:`~._grading.RISK_OF_BIAS` on a cohort
   and contrast used: confounding by batch, depth, id series or technical fields; sex or age
   imbalance left unadjusted; RNA composition shifts; declared or doubtful pairing),
   inconsistency (Q p < 0.10, I^2 > 50%, opposite signs, a cohort significantly opposite),
   indirectness (project proxy or hypothesis; evidence at another level than tissue
   transcripts; mixed disease areas) and imprecision (CI includes no effect or crosses the
   margin; fewer samples than the optimal information size); +1 only for a dose-response
   across ordered stages without risk of bias or inconsistency. Not-testable claims have no
   certainty.
5. **Robustness** (:mod:`._robustness`): the verdict re-derived under each alternative analysis
   that re-derived at least one of its estimates (normalisation TMM vs RLE vs upper quartile;
   scoring ssGSEA vs GSVA vs z-score; DE by voom vs limma-trend; paired vs unpaired; controls
   with and without the obese group): the share that agree, and the dissenting ones by name
   (``tables/sensitivity.tsv``). The primary pool is never an alternative's estimate;
   composition adjustment (a mediator) is reported, not counted.
6. **Caveats**: flags of the design audit (:func:`mgtranscript.tl.design_check`) of every
   cohort and contrast the verdict uses, in plain words, plus "single cohort" and the
   transcript-level note.
"""

from ._effects import (
    compare_effects,
    contrast_parts,
    correlation_effects,
    de_effects,
    difference_effects,
    mechanism_union,
    survival_effects,
    trend_effects,
)
from ._evidence import EFFECT_COLUMNS, build_evidence
from ._grading import RISK_OF_BIAS
from ._rules import pool_effects
from ._table import (
    CERTAINTY_LEVELS,
    CLAIM_COLUMNS,
    EVIDENCE_COLUMNS,
    SENSITIVITY_COLUMNS,
    SOURCES,
    TRANSCRIPT_NOTE,
    VERDICT_COLUMNS,
    VERDICTS,
    load_claims,
)
from ._verdicts import Judgement, contrast_label, evaluate_claims, judge

__all__ = [
    "load_claims", "evaluate_claims", "judge", "build_evidence", "Judgement", "contrast_label",
    "CLAIM_COLUMNS", "VERDICT_COLUMNS", "EVIDENCE_COLUMNS", "SENSITIVITY_COLUMNS", "EFFECT_COLUMNS",
    "VERDICTS", "CERTAINTY_LEVELS", "SOURCES", "TRANSCRIPT_NOTE", "RISK_OF_BIAS",
    # the run's estimates as evidence rows, and their pooling (used by the analysis run)
    "compare_effects", "difference_effects", "de_effects", "trend_effects", "correlation_effects",
    "survival_effects", "mechanism_union", "contrast_parts", "pool_effects",
]

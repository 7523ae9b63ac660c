"""The claims table (``seeds/claims.tsv``) and the column contracts of the verdict tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataFormatError

__all__ = [
    "CLAIM_COLUMNS", "VERDICT_COLUMNS", "EVIDENCE_COLUMNS", "SENSITIVITY_COLUMNS", "VERDICTS",
    "CERTAINTY_LEVELS", "DIRECTIONS", "SOURCES", "UNTESTABLE_KINDS", "TRANSCRIPT_NOTE", "load_claims",
]

#: Columns a claims table must have (``indirect`` and ``cell_types`` may be empty).
CLAIM_COLUMNS = [
    "claim_id", "statement", "citation", "scope", "disease", "feature_kind", "features", "contrast",
    "expected_direction", "evidence", "source_claim",
]
#: Optional claim columns (filled with "" when absent): ``source`` (one of :data:`SOURCES`),
#: ``review_statement`` (for project proxies and hypotheses: the review's statement they stand for).
OPTIONAL_CLAIM_COLUMNS = ["indirect", "cell_types", "source", "review_statement"]

#: Where a claim comes from: the review's own statement, a study the review cites, or the
#: project's operationalisation of a review statement (a measurable proxy, or a direction the
#: project infers). Proxies and hypotheses are rated down for indirectness.
SOURCES = ("review", "cited study", "project proxy", "project hypothesis")

#: Feature kinds a transcriptome cannot test, and why (their claims are always "not testable").
UNTESTABLE_KINDS = {
    "serum": "needs serum magnesium, which transcriptome cohorts do not measure",
    "intervention": ("an interventional statement: what restoring magnesium or blocking a transporter does can be "
                     "tested only by an experiment or a trial, not by observational transcriptomes of patients"),
    "gut_liver": ("needs gut-side measurements (microbiome, barrier function, portal endotoxin), which liver "
                  "transcriptomes do not hold"),
}

#: One row per claim: the verdict table (``tables/claims.tsv``). The names are a contract.
#: ``certainty`` and ``certainty_reasons`` are empty for "not testable" claims.
VERDICT_COLUMNS = [
    "claim_id", "statement", "citation", "source", "review_statement", "scope", "disease", "features", "contrast",
    "expected_direction", "verdict", "certainty", "certainty_reasons", "effect_kind", "effect", "ci_low", "ci_high",
    "pval", "qval", "n_cohorts", "cohorts", "robustness", "caveats", "reason",
]

#: One row per claim x cohort x test (``tables/claims_evidence.tsv``). ``q_family`` names the
#: multiplicity family of ``qval``: ``claims`` (Benjamini-Hochberg over the voted p of all
#: testable claims: the verdict's q, carried by the row the verdict voted on) or ``run``
#: (Benjamini-Hochberg over all tests of the same analysis and scenario in the run,
#: ``tables/effects.tsv``).
EVIDENCE_COLUMNS = [
    "claim_id", "scenario", "cohort", "contrast", "feature", "test", "design", "effect_kind", "estimate",
    "ci_low", "ci_high", "se", "pval", "qval", "q_family", "n", "role", "included", "used", "why",
]

#: One row per claim x alternative analysis (``tables/sensitivity.tsv``). ``rederived`` lists the
#: cohorts whose estimate the alternative re-derived (the others enter as in the primary
#: analysis); ``counted`` is False for mediator adjustments (composition), which are reported
#: but neither agree nor dissent.
SENSITIVITY_COLUMNS = [
    "claim_id", "alternative", "verdict", "effect_kind", "effect", "ci_low", "ci_high", "pval", "qval",
    "n_cohorts", "cohorts", "rederived", "agrees", "counted", "note",
]

VERDICTS = ("supported", "contradicted", "inconclusive", "not testable")
CERTAINTY_LEVELS = ("high", "moderate", "low", "very low")
DIRECTIONS = ("up", "down", "positive", "negative", "poor prognosis", "not down")
SCOPES = ("tissue", "cell")
TRANSCRIPT_NOTE = "transcript levels only; mRNA is a weak proxy for Mg flux"


def _seeds_dir() -> Path:
    from .._resources import resource_dir

    d = resource_dir("seeds")
    if d is None:
        raise DataFormatError("the bundled claims table (seeds/claims.tsv) is missing from this "
                              "installation; reinstall mgtranscript or pass the path of a claims TSV.")
    return d


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """Read a claims table (default: the bundled ``seeds/claims.tsv``).

    Parameters
    ----------
    path
        A tab-separated file with the columns of :data:`CLAIM_COLUMNS` (``indirect``,
        ``cell_types``, ``source`` and ``review_statement`` optional).

    Returns
    -------
    DataFrame of strings, one row per claim, in file order.

    Raises
    ------
    DataFormatError
        If the file is missing, lacks required columns, repeats a claim id, or has an unknown
        scope, expected direction or source.
    """
    path = Path(path) if path is not None else _seeds_dir() / "claims.tsv"
    if not path.is_file():
        raise DataFormatError(f"claims file {path} not found; pass the path of a claims TSV.")
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path}: missing columns {missing}; expected {CLAIM_COLUMNS}.")
    for c in OPTIONAL_CLAIM_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    dup = df["claim_id"][df["claim_id"].duplicated()].tolist()
    if dup:
        raise DataFormatError(f"{path}: claim ids repeated: {dup}; make each claim_id unique.")
    bad = sorted(set(df["scope"]) - set(SCOPES))
    if bad:
        raise DataFormatError(f"{path}: unknown scope {bad}; use one of {SCOPES}.")
    bad = sorted(set(df["expected_direction"]) - set(DIRECTIONS))
    if bad:
        raise DataFormatError(f"{path}: unknown expected_direction {bad}; use one of {DIRECTIONS}.")
    bad = sorted(set(df["source"]) - set(SOURCES) - {""})
    if bad:
        raise DataFormatError(f"{path}: unknown source {bad}; use one of {SOURCES} (or leave it empty).")
    return df

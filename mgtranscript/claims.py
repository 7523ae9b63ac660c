"""The review's testable claims (``seeds/claims.tsv``) and their verdicts.

A verdict speaks about **transcript levels only**: mRNA abundance is a weak proxy for
magnesium flux (PRL phosphatases, for one, are regulated by Mg at translation).

Verdict rules (``alpha`` = 0.05 by default):

``supported``
    The effect points the expected way and its q-value is below ``alpha`` (for a claim
    tested in several cohorts: the random-effects pooled effect, and no cohort
    significantly the other way).
``contradicted``
    The effect is significant (q < ``alpha``) in the opposite direction.
``inconclusive``
    Testable, but not significant either way (or cohorts disagree).
``not testable``
    No available cohort carries what the claim needs (the reason says what is missing,
    e.g. "no ALD cohort with expression available offline"), or the claim is not about
    transcripts (serum Mg, survival).

For coupling claims (``A~mechanism``) every mechanism gene set in every cohort is a test;
the claim is supported when at least half the tests are significant the expected way and
none the opposite way, contradicted in the mirror case, inconclusive otherwise; the effect
reported is the median Spearman rho.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["load_claims", "evaluate_claims", "CLAIM_COLUMNS", "VERDICT_COLUMNS", "TRANSCRIPT_NOTE"]

CLAIM_COLUMNS = [
    "claim_id", "statement", "feature_kind", "features", "disease", "contrast",
    "expected_direction", "evidence", "citation", "source_claim",
]
VERDICT_COLUMNS = [
    "claim_id", "disease", "features", "contrast", "expected_direction", "verdict", "reason",
    "effect_kind", "effect", "ci_low", "ci_high", "pval", "qval", "observed_direction",
    "cohorts", "n", "note", "statement", "citation",
]
TRANSCRIPT_NOTE = "transcript levels only; mRNA is a weak proxy for Mg flux"


def _seeds_dir() -> Path:
    from ._resources import resource_dir

    d = resource_dir("seeds")
    if d is None:
        raise DataFormatError("the bundled claims table (seeds/claims.tsv) is missing from this "
                              "installation; reinstall mgtranscript or pass the path of a claims TSV.")
    return d


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """Read the claims table (default: the project's ``seeds/claims.tsv``).

    Raises
    ------
    DataFormatError
        If the file lacks required columns or repeats a claim id.
    """
    path = Path(path) if path is not None else _seeds_dir() / "claims.tsv"
    if not path.is_file():
        raise DataFormatError(f"claims file {path} not found; pass the path of a claims TSV.")
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path}: missing columns {missing}; expected {CLAIM_COLUMNS}.")
    dup = df["claim_id"][df["claim_id"].duplicated()].tolist()
    if dup:
        raise DataFormatError(f"{path}: claim ids repeated: {dup}; make each claim_id unique.")
    return df


def _direction(value: float, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return ""
    if kind in ("rho",):
        return "positive" if value > 0 else "negative"
    return "up" if value > 0 else "down"


def _matches(expected: str, observed: str) -> bool:
    return expected == observed


def _row(claim: pd.Series, **kw) -> dict:
    out = {c: "" for c in VERDICT_COLUMNS}
    for c in ("claim_id", "disease", "features", "contrast", "expected_direction", "statement", "citation"):
        out[c] = claim[c]
    out.update(effect=np.nan, ci_low=np.nan, ci_high=np.nan, pval=np.nan, qval=np.nan, n=0,
               note=TRANSCRIPT_NOTE)
    out.update(kw)
    return out


def _verdict_single(expected: str, effect: float, q: float, kind: str, alpha: float) -> tuple[str, str]:
    obs = _direction(effect, kind)
    if not np.isfinite(q):
        return "inconclusive", "statistic could not be computed (too few samples?)"
    if q < alpha:
        if _matches(expected, obs):
            return "supported", f"significant (q={q:.2g}) in the expected direction"
        return "contradicted", f"significant (q={q:.2g}) in the opposite direction ({obs})"
    return "inconclusive", f"not significant (q={q:.2g})"


def _contrast_rows(comparisons: pd.DataFrame, contrast: str, feature: str) -> pd.DataFrame:
    if comparisons is None or comparisons.empty:
        return pd.DataFrame()
    sel = comparisons[(comparisons["contrast"] == contrast) & (comparisons["feature"] == feature)]
    return sel


def evaluate_claims(
    *,
    comparisons: pd.DataFrame | None = None,
    trends: pd.DataFrame | None = None,
    coupling: pd.DataFrame | None = None,
    correlations: pd.DataFrame | None = None,
    meta: pd.DataFrame | None = None,
    cohorts: pd.DataFrame | None = None,
    claims: pd.DataFrame | None = None,
    mechanisms: dict[str, list[str]] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Give every claim a verdict from an analysis's result tables.

    Parameters
    ----------
    comparisons
        Tidy group comparisons with columns ``cohort, contrast, feature, hedges_g, g_ci_low,
        g_ci_high, t_pval, qval, n_group, n_ref`` (``contrast`` = ``"COLUMN:GROUP|REFERENCE"``).
    trends
        ``cohort, by, feature, rho, pval, qval, n``.
    coupling
        ``cohort, mg_set, mechanism_set, rho, pval, qval, n``.
    correlations
        ``cohort, feature_x, feature_y, rho, pval, qval, n`` (gene-gene).
    meta
        Random-effects pooled effects: ``contrast, feature, pooled, ci_low, ci_high, pval, k,
        cohorts, n_total``.
    cohorts
        Cohort status table: ``accession, disease_area, status, reason`` (used to say why a
        claim is not testable).
    claims
        The claims table (default :func:`load_claims`).
    mechanisms
        Mechanism key -> gene-set names (default ``mgtranscript.tl.enrich.MECHANISMS``).
    alpha
        Significance level for q-values.

    Returns
    -------
    DataFrame with one row per claim and the columns of :data:`VERDICT_COLUMNS`.
    """
    claims = load_claims() if claims is None else claims
    if mechanisms is None:
        from .tl.enrich import MECHANISMS

        mechanisms = {k: list(v) for k, v in MECHANISMS.items()}
    rows = []
    for _, c in claims.iterrows():
        kind, contrast = c["feature_kind"], c["contrast"]
        why_missing = _unavailable_reason(c, cohorts)
        if kind in ("serum", "survival"):
            what = "serum magnesium" if kind == "serum" else "survival follow-up"
            rows.append(_row(c, verdict="not testable",
                             reason=f"needs {what}, which transcriptome cohorts do not measure"))
            continue
        if ":" in contrast and not contrast.startswith("trend:"):
            rows.append(_eval_contrast(c, comparisons, meta, alpha, why_missing))
        elif contrast.startswith("trend:"):
            rows.append(_eval_trend(c, trends, alpha, why_missing))
        elif kind == "coupling":
            rows.append(_eval_coupling(c, coupling, mechanisms, alpha, why_missing))
        elif kind == "correlation":
            rows.append(_eval_correlation(c, correlations, alpha, why_missing))
        else:
            rows.append(_row(c, verdict="not testable", reason=f"unknown contrast {contrast!r}"))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def _unavailable_reason(c: pd.Series, cohorts: pd.DataFrame | None) -> str:
    disease = c["disease"]
    if cohorts is None or cohorts.empty or disease == "any":
        return "no cohort with expression available"
    area = cohorts[cohorts["disease_area"].astype(str).str.upper() == disease.upper()]
    if area.empty:
        return f"no {disease} cohort in the catalog"
    parts = [f"{r.accession}: {r.status}" + (f" ({_short(r.reason)})" if isinstance(r.reason, str) and r.reason else "")
             for r in area.itertuples()]
    return f"no {disease} cohort with expression available [" + "; ".join(parts) + "]"


def _short(text: str, limit: int = 140) -> str:
    """First sentence of a (possibly long) error message, capped at ``limit`` characters."""
    first = text.split("; ")[0].split(". ")[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _eval_contrast(c, comparisons, meta, alpha, why_missing) -> dict:
    sel = _contrast_rows(comparisons, c["contrast"], c["features"])
    sel = sel[np.isfinite(sel["hedges_g"].astype(float))] if not sel.empty else sel
    if sel.empty:
        return _row(c, verdict="not testable", reason=why_missing)
    n = int(sel["n_group"].sum() + sel["n_ref"].sum()) if "n_ref" in sel else int(sel["n_group"].sum())
    if "paired" in sel.columns and sel["paired"].astype(bool).all():
        n = int(sel["n_group"].sum())
    cohorts = ";".join(sel["cohort"].astype(str))
    if len(sel) == 1:
        r = sel.iloc[0]
        q = float(r["qval"])
        verdict, reason = _verdict_single(c["expected_direction"], float(r["hedges_g"]), q, "g", alpha)
        return _row(c, verdict=verdict, reason=f"{reason}; one cohort ({r['cohort']})",
                    effect_kind="hedges_g", effect=float(r["hedges_g"]),
                    ci_low=float(r["g_ci_low"]), ci_high=float(r["g_ci_high"]),
                    pval=float(r["t_pval"]), qval=q,
                    observed_direction=_direction(float(r["hedges_g"]), "g"),
                    cohorts=cohorts, n=n)
    m = None
    if meta is not None and not meta.empty:
        mm = meta[(meta["contrast"] == c["contrast"]) & (meta["feature"] == c["features"])]
        m = mm.iloc[0] if len(mm) else None
    if m is None:
        return _row(c, verdict="inconclusive", reason="several cohorts but no pooled estimate",
                    cohorts=cohorts, n=n)
    q = float(m.get("qval", m["pval"]))
    verdict, reason = _verdict_single(c["expected_direction"], float(m["pooled"]), q, "g", alpha)
    opposite = sel[(sel["qval"].astype(float) < alpha)
                   & (np.sign(sel["hedges_g"].astype(float)) != np.sign(float(m["pooled"])))]
    if verdict == "supported" and len(opposite):
        verdict, reason = "inconclusive", f"pooled effect significant but {len(opposite)} cohort(s) significantly opposite"
    return _row(c, verdict=verdict, reason=f"{reason}; random-effects pool of {len(sel)} cohorts",
                effect_kind="pooled_hedges_g", effect=float(m["pooled"]), ci_low=float(m["ci_low"]),
                ci_high=float(m["ci_high"]), pval=float(m["pval"]), qval=q,
                observed_direction=_direction(float(m["pooled"]), "g"), cohorts=cohorts, n=n)


def _eval_trend(c, trends, alpha, why_missing) -> dict:
    by = c["contrast"].split(":", 1)[1]
    if trends is None or trends.empty:
        return _row(c, verdict="not testable", reason=f"no cohort with expression has {by}: {why_missing}")
    sel = trends[(trends["by"] == by) & (trends["feature"] == c["features"])]
    if sel.empty:
        return _row(c, verdict="not testable",
                    reason=f"no cohort with expression records {by} ({why_missing})")
    best = sel.iloc[int(np.argmin(sel["qval"].astype(float).to_numpy()))] if len(sel) > 1 else sel.iloc[0]
    verdict, reason = _verdict_single(c["expected_direction"], float(best["rho"]), float(best["qval"]), "rho", alpha)
    return _row(c, verdict=verdict, reason=reason + f"; Spearman trend over {by}", effect_kind="spearman_rho",
                effect=float(best["rho"]), pval=float(best["pval"]), qval=float(best["qval"]),
                observed_direction="up" if best["rho"] > 0 else "down",
                cohorts=";".join(sel["cohort"].astype(str)), n=int(sel["n"].sum()))


def _vote(rho: np.ndarray, q: np.ndarray, expected: str, alpha: float) -> tuple[str, int, int]:
    """Verdict from several correlation tests: supported when at least half are significant
    the expected way and none the other way; contradicted in the mirror case."""
    want = 1 if expected == "positive" else -1
    good = int(np.sum((q < alpha) & (np.sign(rho) == want)))
    bad = int(np.sum((q < alpha) & (np.sign(rho) == -want)))
    if good and not bad and good * 2 >= len(rho):
        return "supported", good, bad
    if bad and not good and bad * 2 >= len(rho):
        return "contradicted", good, bad
    return "inconclusive", good, bad


def _eval_coupling(c, coupling, mechanisms, alpha, why_missing) -> dict:
    mg_set, _, mech = c["features"].partition("~")
    sets = mechanisms.get(mech)
    if sets is None:
        return _row(c, verdict="not testable", reason=f"unknown mechanism {mech!r}; known: {sorted(mechanisms)}")
    if coupling is None or coupling.empty:
        return _row(c, verdict="not testable", reason=why_missing)
    upper = {s.upper() for s in sets}
    sel = coupling[(coupling["mg_set"] == mg_set) & coupling["mechanism_set"].str.upper().isin(upper)]
    if sel.empty:
        return _row(c, verdict="not testable", reason=f"no cohort scored {mg_set} and the {mech} sets")
    rho = sel["rho"].astype(float).to_numpy()
    q = sel["qval"].astype(float).to_numpy()
    verdict, good, bad = _vote(rho, q, c["expected_direction"], alpha)
    total = len(sel)
    med = float(np.median(rho))
    reason = (f"{good}/{total} set-cohort tests significant in the expected direction, "
              f"{bad}/{total} significant the other way; rho from {rho.min():+.2f} to {rho.max():+.2f}")
    return _row(c, verdict=verdict, reason=reason, effect_kind="median_spearman_rho", effect=med,
                pval=float(sel["pval"].astype(float).min()), qval=float(np.min(q)),
                observed_direction=_direction(med, "rho"),
                cohorts=";".join(sorted(set(sel["cohort"].astype(str)))),
                n=int(sel.drop_duplicates("cohort")["n"].sum()))


def _eval_correlation(c, correlations, alpha, why_missing) -> dict:
    x, _, y = c["features"].partition("~")
    if correlations is None or correlations.empty:
        return _row(c, verdict="not testable", reason=why_missing)
    both = correlations[(correlations["feature_x"] == x) & (correlations["feature_y"] == y)]
    adjusted = both.get("adjusted_for", pd.Series("", index=both.index)).fillna("").astype(str)
    sel, adj = both[adjusted == ""], both[adjusted != ""]
    if sel.empty:
        return _row(c, verdict="not testable", reason=f"no cohort measured both {x} and {y}")
    rho = sel["rho"].astype(float).to_numpy()
    q = sel["qval"].astype(float).to_numpy()
    verdict, good, bad = _vote(rho, q, c["expected_direction"], alpha)
    med = float(np.median(rho))
    note = ""
    if not adj.empty:
        note = "; adjusted for composition (" + ", ".join(
            f"{r.cohort} | {r.adjusted_for}: rho {r.rho:+.2f}" for r in adj.itertuples()) + ")"
    return _row(c, verdict=verdict,
                reason=f"Spearman across samples; {good}/{len(sel)} cohorts significant as expected, "
                       f"{bad} opposite{note}",
                effect_kind="median_spearman_rho", effect=med,
                pval=float(sel["pval"].astype(float).min()), qval=float(q.min()),
                observed_direction=_direction(med, "rho"),
                cohorts=";".join(sel["cohort"].astype(str)), n=int(sel["n"].sum()))

"""Which estimate answers which claim: from the run's ``effects`` table to evidence rows.

The pipeline writes every estimate a claim could use to one tidy ``effects`` table
(:data:`EFFECT_COLUMNS`, ``tables/effects.tsv``): group comparisons, trends, within-group
correlations, survival models, each under the primary analysis and under named alternative
analyses (``scenario``). :func:`build_evidence` picks, for each claim, the rows that test it,
says which ones the verdict may use (``included``) and why the others may not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataFormatError
from ._table import EVIDENCE_COLUMNS, UNTESTABLE_KINDS, load_claims

__all__ = ["EFFECT_COLUMNS", "build_evidence", "mechanism_feature", "coupling_parts", "BULK_CELL_REASON",
           "STAGE_CONTEXT", "STAGE_CONTEXT_ROLE", "exclude_batch_aliased", "ALIASED_ROLE"]

#: Columns of the run's ``effects`` table.
#: ``analysis`` of the rows that hold a mean log2 difference (the fold change of "not down" claims).
DIFFERENCE = "difference"

EFFECT_COLUMNS = [
    "cohort", "disease_area", "scenario", "analysis", "contrast", "feature", "effect_kind", "estimate",
    "ci_low", "ci_high", "se", "pval", "qval", "n", "test", "design", "level", "note",
]

BULK_CELL_REASON = (
    "a mechanism inside one cell type cannot be tested across bulk samples: bulk expression mixes cell "
    "types, so a correlation across samples mostly measures how much of each cell type a sample holds "
    "(for MAGT1~KLRK1: lymphocyte content against hepatocyte/tumour signal); it needs per-cell data "
    "(run_analysis(cells=...))"
)


def mechanism_feature(mg_set: str, mechanism: str) -> str:
    """The coupling feature a mechanism claim is judged on: the Mg set against the union of the
    mechanism's gene sets (``MG_EFFLUX_EXCHANGE~MECH_INFLAMMATION``)."""
    return f"{mg_set}~MECH_{mechanism.upper()}"


#: Role of the evidence rows that show a "not down" claim's gene between disease stages.
STAGE_CONTEXT_ROLE = "stage context"
#: Contrasts shown beside a "not down" claim as disease-stage context (not voted), per area.
STAGE_CONTEXT = {"MASLD": ("condition:NASH|NAFL",)}


def coupling_parts(features: str) -> tuple[str, str, list[str]]:
    """``"MG_EFFLUX_EXCHANGE~oxidative_stress (HALLMARK_A, HALLMARK_B)"`` -> ``("MG_EFFLUX_EXCHANGE",
    "oxidative_stress", ["HALLMARK_A", "HALLMARK_B"])``: the Mg set, the mechanism key of
    :data:`mgtranscript.genesets.MECHANISMS` and the gene sets the claim lists (which must be
    the mechanism's sets: the union of these is what is scored).

    Raises
    ------
    DataFormatError
        An unknown mechanism, or listed sets that differ from the mechanism's.
    """
    from ..genesets import MECHANISMS

    mg_set, _, rest = str(features).partition("~")
    mech, _, sets = rest.partition("(")
    mech = mech.strip()
    listed = [x.strip() for x in sets.rstrip(") ").split(",") if x.strip()]
    if mech not in MECHANISMS:
        raise DataFormatError(f"coupling feature {features!r}: unknown mechanism {mech!r}; use one of "
                              f"{sorted(MECHANISMS)}.")
    if listed and listed != list(MECHANISMS[mech]):
        raise DataFormatError(f"coupling feature {features!r}: lists {listed}, but the {mech} mechanism is scored on "
                              f"{list(MECHANISMS[mech])}; list those (or none).")
    return mg_set.strip(), mech, list(MECHANISMS[mech])


def _area_ok(claim: pd.Series, area: str) -> bool:
    # "any": evidence the user supplied for any claim (per-cell data)
    return claim["disease"] == "any" or str(area).lower() == "any" or str(area).upper() == str(claim["disease"]).upper()


def _rows(claim: pd.Series, eff: pd.DataFrame, *, included, role: str, why: str) -> list[dict]:
    out: list[dict] = []
    if eff.empty:  # most claims match nothing in most runs: no row iterator to build
        return out
    for r in eff.itertuples(index=False):
        d = r._asdict()
        out.append({
            "claim_id": claim["claim_id"], "scenario": d["scenario"], "cohort": d["cohort"],
            "contrast": d["contrast"], "feature": d["feature"], "test": d["test"], "design": d["design"],
            "effect_kind": d["effect_kind"], "estimate": d["estimate"], "ci_low": d["ci_low"],
            "ci_high": d["ci_high"], "se": d["se"], "pval": d["pval"], "qval": d["qval"], "n": d["n"],
            "role": role, "included": included(d) if callable(included) else bool(included),
            "why": why(d) if callable(why) else why,
        })
    return out


def _finite(d: dict) -> bool:
    return bool(np.isfinite(d["estimate"]) and np.isfinite(d["pval"]))


#: ``role`` of an evidence row left out because its contrast is aliased with a dominating batch.
ALIASED_ROLE = "not used: batch-aliased contrast"


def exclude_batch_aliased(evidence: pd.DataFrame, design: pd.DataFrame | None) -> pd.DataFrame:
    """Evidence whose cohort and contrast the design audit found completely aliased with a
    technical factor that dominates the biology (a flagged ``batch_aliased`` row of
    ``tables/design.tsv``) does not vote, in any scenario: ``included = False``, role
    :data:`ALIASED_ROLE` and ``why`` = the audit's caveat, with its numbers."""
    if design is None or design.empty or evidence.empty or "check" not in design:
        return evidence
    d = design[(design["check"] == "batch_aliased") & design["flagged"].astype(str).str.lower().isin(("true", "1"))]
    if d.empty:
        return evidence
    ev = evidence.copy()
    for r in d.itertuples():  # the rows that would have voted (context rows keep their role)
        m = (ev["cohort"] == r.cohort) & (ev["contrast"] == r.contrast) & ev["included"].astype(str).str.lower().isin(
            ("true", "1"))
        ev.loc[m, "included"] = False
        ev.loc[m, "role"] = ALIASED_ROLE
        ev.loc[m, "why"] = f"{r.cohort}: {r.caveat}"
    return ev


def build_evidence(effects: pd.DataFrame | None, *, claims: pd.DataFrame | None = None,
                   cohorts: pd.DataFrame | None = None, design: pd.DataFrame | None = None) -> pd.DataFrame:
    """Evidence rows (:data:`EVIDENCE_COLUMNS`) for every claim from a run's ``effects`` table.

    Rules (the verdict uses ``included`` rows; at most one per claim, cohort and scenario):

    * group contrasts (``COLUMN:GROUP|REFERENCE``) and trends use the comparison of that
      contrast and feature in each cohort of the claim's disease area;
    * coupling claims (``SET~mechanism``) use the Mg set against the union of the mechanism's
      gene sets, correlated **within** each condition (and pair-aware in paired cohorts), never
      across pooled groups; single mechanism gene sets and the pooled-across-groups correlation
      are kept as context;
    * ``scope = cell`` claims use only per-cell evidence (``design`` starting ``cells``); bulk
      correlations are context, with the reason;
    * survival claims use the Cox model per SD of the feature in tumours, one sample per patient;
    * with ``design`` (the design audit), a contrast whose groups are aliased with a batch that
      dominates the biology does not vote (:func:`exclude_batch_aliased`).
    """
    claims = load_claims() if claims is None else claims
    out: list[dict] = []
    if effects is None or effects.empty:
        return pd.DataFrame(out, columns=EVIDENCE_COLUMNS)
    eff = effects.copy()
    for c in EFFECT_COLUMNS:
        if c not in eff.columns:
            eff[c] = np.nan if c in ("estimate", "ci_low", "ci_high", "se", "pval", "qval", "n") else ""
    eff = eff.fillna({"level": "", "design": "", "test": "", "note": "", "disease_area": ""})
    areas: dict[str, pd.DataFrame] = {}  # the effects of each disease area (claims share areas)
    for _, c in claims.iterrows():
        kind, contrast = c["feature_kind"], c["contrast"]
        if kind in UNTESTABLE_KINDS:
            continue
        if c["disease"] not in areas:
            areas[c["disease"]] = eff[[_area_ok(c, a) for a in eff["disease_area"]]]
        area = areas[c["disease"]]
        if kind in ("gene", "score", "balance") or contrast.startswith("trend:"):
            sel = area[(area["contrast"] == contrast) & (area["feature"] == c["features"])]
            sel, standardised = _fold_change_rows(c, sel)
            out += _rows(c, sel, included=_finite, role="primary",
                         why=lambda d: "" if _finite(d) else f"{d['cohort']}: {d['note'] or 'not computable'}")
            out += _rows(c, standardised, included=False, role="standardised (context)",
                         why="Hedges' g of the same contrast (context, not voted: the claim's margin is a fold change)")
            out += _context_missing_groups(c, area, contrast)
            out += _dose_response_and_stages(c, area, contrast)
        elif kind == "coupling":
            mg_set, mech, _sets = coupling_parts(c["features"])
            target = mechanism_feature(mg_set, mech)
            sel = area[(area["analysis"] == "coupling") & (area["feature"] == target)]
            voted = sel["design"].str.startswith(("within", "paired")) & (sel["level"] == "combined")
            out += _rows(c, sel[voted], included=_finite, role="primary", why="")
            pooled = sel[sel["design"] == "pooled"]
            out += _rows(c, pooled, included=False, role="pooled (shown beside, not voted)",
                         why="pooled across groups: mixes the group difference into the correlation (not voted)")
            groups = sel[sel["design"].str.startswith(("within", "paired")) & (sel["level"] != "combined")]
            for lvl, g in groups[groups["scenario"] == "primary"].groupby("level", sort=False):
                out += _rows(c, g, included=False, role=f"within {lvl} only",
                             why=f"within {lvl} only (not voted: the verdict uses the combined within-group estimate)")
            per_set = area[(area["analysis"] == "coupling") & area["feature"].str.startswith(mg_set + "~")
                           & ~area["feature"].str.contains("~MECH_", regex=False)
                           & area["feature"].str.upper().isin(
                               {f"{mg_set}~{s}".upper() for s in _mechanism_sets(mech)})
                           & area["design"].str.startswith(("within", "paired")) & (area["level"] == "combined")]
            out += _rows(c, per_set[per_set["scenario"] == "primary"], included=False, role="per gene set",
                         why="one gene set of the mechanism (the verdict uses their union; not voted)")
        elif kind == "correlation":
            sel = area[(area["analysis"] == "correlation") & (area["feature"] == c["features"])]
            if c["scope"] == "cell":
                cells = sel[sel["design"].str.startswith("cells")]
                out += _rows(c, cells[cells["level"] == "combined"], included=_finite, role="primary", why="")
                bulk = sel[~sel["design"].str.startswith("cells") & (sel["scenario"] == "primary")
                           & sel["level"].isin(("combined", "pooled"))]
                out += _rows(c, bulk, included=False, role="bulk (not voted)", why=BULK_CELL_REASON)
            else:
                voted = sel["design"].str.startswith(("within", "paired")) & (sel["level"] == "combined")
                out += _rows(c, sel[voted], included=_finite, role="primary", why="")
                out += _rows(c, sel[(sel["design"] == "pooled") & (sel["scenario"] == "primary")], included=False,
                             role="pooled (shown beside, not voted)",
                             why="pooled across groups: mixes the group difference into the correlation (not voted)")
        elif kind == "survival":
            sel = area[(area["analysis"] == "survival") & (area["feature"] == c["features"])]
            out += _rows(c, sel, included=_finite, role="primary", why="")
        if kind in ("gene", "score", "balance"):
            extra = area[(area["analysis"] == "context") & (area["feature"] == c["features"])
                         & (area["scenario"] == "primary")]
            out += _rows(c, extra, included=False, role="context",
                         why=lambda d: (d["note"] or d["test"]) + " (context, not voted)")
    ev = pd.DataFrame(out, columns=EVIDENCE_COLUMNS)
    ev.loc[ev["scenario"] != "primary", "role"] = "sensitivity"
    return exclude_batch_aliased(ev, design)


def _context_missing_groups(c: pd.Series, area: pd.DataFrame, contrast: str) -> list[dict]:
    """One context row per cohort of the claim's area that ran but lacks the contrast's groups."""
    if contrast.startswith("trend:") or ":" not in contrast:
        return []
    ran = area[(area["scenario"] == "primary") & (area["analysis"] != "context")]
    have = set(ran.loc[ran["contrast"] == contrast, "cohort"])
    rows = []
    for cohort in sorted(set(ran["cohort"]) - have):
        grp, ref = contrast.split(":", 1)[1].split("|", 1)
        rows.append({"claim_id": c["claim_id"], "scenario": "primary", "cohort": cohort, "contrast": contrast,
                     "feature": c["features"], "test": "", "design": "", "effect_kind": "", "estimate": np.nan,
                     "ci_low": np.nan, "ci_high": np.nan, "se": np.nan, "pval": np.nan, "qval": np.nan, "n": 0,
                     "role": "not applicable", "included": False,
                     "why": f"{cohort} has no {grp} vs {ref} samples"})
    return rows


def _fold_change_rows(c: pd.Series, sel: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to vote, standardised rows shown as context). A "not down" claim's margin is a fold
    change: where a cohort and scenario have the mean log2 difference, it replaces Hedges' g
    (shown beside); every other claim votes on the standardised rows only."""
    diff = sel["analysis"] == DIFFERENCE
    if c["expected_direction"] != "not down" or not diff.any():
        return sel[~diff], sel.iloc[0:0]
    have = set(zip(sel.loc[diff, "scenario"], sel.loc[diff, "cohort"]))
    replaced = ~diff & (sel["analysis"] == "compare") & pd.Series(
        [k in have for k in zip(sel["scenario"], sel["cohort"])], index=sel.index)
    return sel[~replaced], sel[replaced & (sel["scenario"] == "primary")]


def _dose_response_and_stages(c: pd.Series, area: pd.DataFrame, contrast: str) -> list[dict]:
    """Context rows of a group-contrast claim's feature: its gradient across ordered stages in the
    same cohorts (a dose-response may rate the certainty up) and, for "not down" claims, the
    disease-stage contrasts of :data:`STAGE_CONTEXT`."""
    from ._grading import DOSE_RESPONSE_ROLE

    if contrast.startswith("trend:") or ":" not in contrast:
        return []
    prim = area[(area["scenario"] == "primary") & (area["feature"] == c["features"])]
    have = set(prim.loc[prim["contrast"] == contrast, "cohort"])
    trend = prim[(prim["analysis"] == "trend") & prim["cohort"].isin(have)]
    out = _rows(c, trend, included=False, role=DOSE_RESPONSE_ROLE,
                why="gradient across ordered stages in the same cohort (context, not voted)")
    if c["expected_direction"] == "not down":
        stages = prim[(prim["analysis"] == "compare") & prim["contrast"].isin(STAGE_CONTEXT.get(c["disease"], ()))
                      & (prim["contrast"] != contrast)]
        out += _rows(c, stages, included=False, role=STAGE_CONTEXT_ROLE,
                     why="the same gene between disease stages (context, not voted)")
    return out


def _mechanism_sets(mech: str) -> list[str]:
    from ..genesets import MECHANISMS

    return list(MECHANISMS.get(mech, ()))

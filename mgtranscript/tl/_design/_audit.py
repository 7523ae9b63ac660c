"""Design audit: is a contrast confounded with how the samples were made?

A group difference can only be read as biology when the groups were collected, sequenced
and recorded alike. :func:`design_check` tests, for one contrast (``group`` vs
``reference``) or for all levels of ``groupby``, whether group membership is associated
with

* **library size** (total counts per sample), the **TMM normalisation factor** (edgeR) and
  the **share of reads in the top 20 genes** of each sample (library complexity);
* **genetic sex** inferred from XIST and chrY genes (RPS4Y1, DDX3Y, KDM5D, UTY, EIF1AY),
  the **recorded sex** (an ``obs`` column such as ``gender`` / ``sex``) and
  disagreements between the two;
* **age** (an ``obs`` column ``age``);
* **technical fields** of the series matrix or sample sheet (submission / update / run
  dates, instrument, platform, centre, library protocol, ...), and **sample-id series**
  derived from titles and descriptions: the numbers in ids such as ``869`` ... ``910``
  versus ``2683`` ... ``4010`` form separate ranges when samples come from different
  collections; a range that splits the groups is reported with Cramér's V.

With ``paired_by``, each pair is also checked: the sex of its members (a sample cannot gain
a Y chromosome; tumours, however, often lose chrY and some express XIST) and whether the
members share individual-specific expression ("identity genes": genes whose levels agree
between the members of the other declared pairs, e.g. deletion polymorphisms such as
GSTM1; learnt leaving the pair out). Flagged pairs and why go to ``uns[key]["pairs"]``.

Tests and the flag rule
-----------------------
Continuous variables: Mann-Whitney U (two groups) or Kruskal-Wallis (more); the effect is
the medians per side, and ``auc`` ``P(group > reference)`` for two groups (for several
levels: the split of the levels, ordered by median, with the largest ``|AUC - 0.5|``).
Categorical variables: Fisher's exact test (2 x 2) or a Monte-Carlo permutation
chi-square test (otherwise; 9,999 permutations, fixed seed), effect Cramér's V.

A row is **flagged** when the association is both significant and large:

* continuous: ``p < 0.01`` and ``|AUC - 0.5| >= 0.25`` (a randomly chosen sample of one
  side exceeds one of the other with probability >= 0.75 or <= 0.25); for **age**, a
  covariate the analysis can adjust for, already at ``|AUC - 0.5| >= 0.15``;
* categorical: ``p < 0.01`` and Cramér's ``V >= 0.3``, or **perfect separation** (no
  level of the variable holds samples of both sides; at least 2 samples per side);
* sex mismatch: at least one sample whose recorded sex contradicts XIST/chrY
  expression;
* ``library_outlier``: a library of at most 0.2 x the median library size of its group
  (:mod:`._risk`);
* ``batch_aliased``: the groups are completely aliased with a technical factor (recorded
  run / batch / date field, sample-id series, depth regime) that dominates the biology inside
  it (:mod:`._batch`: >= 20% of the expressed genes differ across the boundary and >= 10 x
  the share of the largest contrast inside a batch); the row carries the numbers either way;
* pairs: at least one flagged pair; ``pairing_declared``: the pairs are declared by sample
  order, not recorded as a patient id.

A flagged row carries a ``caveat`` in plain words, ready to quote in a verdict; all
caveats joined are in ``uns[key]["params"]["caveat"]``. Flags that lower the certainty of a verdict
(GRADE risk of bias) also carry a ``risk_of_bias`` reason (:func:`._risk.risk_of_bias`):
confounding by collection (library size, sample-id series, technical fields, a dominating
batch), an RNA-composition shift (TMM factor), pairing declared but not recorded, and a sex
or age imbalance (which an analysis that adjusts for it clears, see
:func:`mark_adjusted`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import InputDataError
from .._statistics._compare import _level_order
from .._store import finish, start, store
from ._association import COVARIATE_AUC_LARGE, _categorical_row, _continuous_row
from ._batch import aliased_factors, batch_row, batch_strength
from ._ids import _day, _id_rows
from ._pairs import _pair_table
from ._risk import outlier_row, pairing_row, risk_of_bias
from ._util import _dense, _labels, _Sides
from ._sex import _SEX, _recorded_sex, sex_table

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["design_check", "DESIGN_COLUMNS", "SAMPLE_COLUMNS", "AGE_COLUMN"]

#: Columns of the :func:`design_check` table, in order.
DESIGN_COLUMNS = ["check", "variable", "test", "statistic", "effect", "pval", "n", "flagged", "caveat", "risk_of_bias"]

#: Columns of ``uns[key]["samples"]``.
SAMPLE_COLUMNS = ["group", "lib_size", "norm_factor", "top_share", "chrY", "XIST", "inferred_sex",
                  "sex_detail", "recorded_sex"]


_LABEL_COLUMNS = {
    "condition", "disease", "disease_source", "disease_state", "disease_subtype", "diagnosis",
    "fibrosis_stage", "nas", "pair_id", "cohort", "accession", "lib_size", "norm_factor",
}  # fmt: skip
_TECH = re.compile(
    r"(date|instrument|platform|model|batch|lane|flow_?cell|center|centre|sequencer|chemistry|kit|"
    r"library|layout|selection|strategy|read_?length|avgspotlen|plate|operator|site|hospital|"
    r"extract|protocol|processing|rin$)",
    re.IGNORECASE,
)
_ID = re.compile(r"^(title|description|source_name(_ch\d)?|sample_?id|individual|patient(_id)?|donor(_id)?|"
                 r"subject(_id)?|biopsy(_id)?)$", re.IGNORECASE)
#: obs column names that hold the age (``age``, ``age_years``, ``age at diagnosis``, ``age_ch1``).
AGE_COLUMN = re.compile(r"^age([_ ]?(years|yrs|at[_ ].*))?([_ ]?ch\d)?$", re.IGNORECASE)
_KEY_TECH = re.compile(r"(instrument|platform|submission_date)", re.IGNORECASE)



def design_check(
    adata: AnnData,
    *,
    groupby: str,
    group: str | None = None,
    reference: str | None = None,
    paired_by: str | None = None,
    counts_layer: str | None = "counts",
    top_n: int = 20,
    labels_key: str | None = None,
    batch_strength_check: bool = True,
    key_added: str = "design_check",
    copy: bool = False,
) -> AnnData | None:
    """Audit a contrast for technical and demographic confounds (see the module docstring).

    Parameters
    ----------
    adata
        AnnData, samples x genes; raw counts in ``layers[counts_layer]`` for the library
        checks (else ``obs["lib_size"]`` when present; TMM and top-gene share need counts),
        log expression in ``X``; series-matrix / sample-sheet fields in ``obs``.
    groupby
        ``obs`` column with the groups (e.g. ``"condition"``).
    group, reference
        The contrast ``group`` vs ``reference``. Without ``group`` all levels of
        ``groupby`` are audited together (``reference`` then only orients the pair checks).
        ``reference`` defaults to ``uns["labels"]["reference"]`` for ``groupby="condition"``
        (catalog cohorts) or the first category.
    paired_by
        ``obs`` column of matched samples (e.g. ``"pair_id"``): adds the pair checks.
    counts_layer
        Layer with raw counts (``None``: skip count-based checks).
    top_n
        Number of top genes for the read-share check (scater's ``pct_counts_in_top_20``).
    labels_key
        ``obs`` column of the biological groups compared *inside* each batch when the
        contrast is aliased with a technical factor (default ``"condition"`` when present,
        else ``groupby``), e.g. NASH vs NAFL inside one series, obese vs healthy inside the
        other.
    batch_strength_check
        For a contrast completely aliased with a technical factor, measure how strongly the
        factor dominates the biology inside it (differential expression across the boundary
        vs inside each batch; composition scores): the ``batch_aliased`` row. Needs
        ``group`` and ``reference``.
    key_added
        ``uns[key_added]`` = ``{"params", "table", "samples", "pairs" (paired)}``; the flagged
        rows' caveats joined are ``params["caveat"]``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. Read the tables with
    :func:`mgtranscript.get.design` ``(adata, key_added)`` (``table=`` ``"samples"`` or
    ``"pairs"`` for the others). The main table has one row per check
    (:data:`DESIGN_COLUMNS`): ``check`` (``library_size``,
        ``norm_factor``, ``top_share``, ``sex_inferred``, ``sex_recorded``,
        ``sex_mismatch``, ``age``, ``technical``, ``sample_ids``, ``batch_aliased``,
        ``library_outlier``, ``pairs``, ``pairing_declared``),
        ``variable`` (the ``obs`` column or derived variable), ``test``, ``statistic``,
        ``effect`` (human-readable, e.g. "library size median 26.1 M (healthy) vs
        13.0 M (NASH)"), ``pval``, ``n``, ``flagged`` and ``caveat`` (plain words, empty
        unless flagged) and ``risk_of_bias`` (for flagged rows that lower the certainty of a
        verdict in GRADE: the domain and the reason, e.g. "sex imbalance left unadjusted: ...";
        empty for caveats only).

    Raises
    ------
    InputDataError
        Unknown columns or levels.
    """
    adata = start(adata, "design_check", key_added=key_added, copy=copy)
    lab = _labels(adata, groupby)
    levels_all = [lv for lv in dict.fromkeys(v for v in lab if v is not None)]
    levels_all = [lv for lv in _level_order(adata, groupby, levels_all) if lv != "unlabelled"]
    if group is not None:
        group = str(group)
        if group not in levels_all:
            raise InputDataError(f"group {group!r} is not a level of obs[{groupby!r}]; available: {levels_all}.")
        if reference is None:
            reference = _default_reference(adata, groupby, levels_all, group)
    if reference is not None:
        reference = str(reference)
        if reference not in levels_all:
            raise InputDataError(f"reference {reference!r} is not a level of obs[{groupby!r}]; available: {levels_all}.")
    if group is not None and group == reference:
        raise InputDataError("group and reference must differ.")
    if len(levels_all) < 2:
        raise InputDataError(f"obs[{groupby!r}] needs at least two levels to audit, got {levels_all}.")
    sides = _Sides(lab, group, reference, levels_all)
    rows: list[dict] = []
    skipped: list[str] = []

    # --- library size, TMM, top-gene share -------------------------------------------
    samples = pd.DataFrame(index=adata.obs_names)
    samples["group"] = lab
    C = None
    if counts_layer is not None and counts_layer in adata.layers:
        C = adata.layers[counts_layer]
        lib = _dense(C.sum(axis=1)).ravel()
    elif "lib_size" in adata.obs.columns:
        lib = adata.obs["lib_size"].to_numpy(dtype=float)
        skipped.append("norm_factor, top_share (no counts layer)")
    else:
        lib = None
        skipped.append("library_size, norm_factor, top_share (no counts layer, no obs['lib_size'])")
    if lib is not None:
        samples["lib_size"] = lib
        row = _continuous_row("library_size", "total counts", lib, sides, "M", "library size")
        if row["flagged"]:
            row["caveat"] = row["caveat"].replace("library size differs between groups", "library sizes differ")
        rows.append(row)
        rows.append(outlier_row(lib, sides, adata.obs_names))
    if C is not None:
        from ...pp import calc_norm_factors

        sub = np.flatnonzero(sides.mask)
        nf = np.full(adata.n_obs, np.nan)
        Cs = _dense(C[sub])
        nf[sub] = calc_norm_factors(Cs, method="TMM")
        samples["norm_factor"] = nf
        r = _continuous_row("norm_factor", "TMM factor", nf, sides, "", "TMM normalisation factor")
        if r["flagged"]:
            r["caveat"] = ("RNA composition differs between groups (" + r["caveat"].split(": ", 1)[-1].replace(
                "median", "TMM factor median") + "); results depend on the normalisation")
        rows.append(r)
        top = np.full(adata.n_obs, np.nan)
        k = min(top_n, Cs.shape[1])
        part = -np.partition(-Cs, k - 1, axis=1)[:, :k].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            top[sub] = part / Cs.sum(axis=1)
        samples["top_share"] = top
        r = _continuous_row("top_share", f"share of reads in top {k} genes", top, sides, "%",
                            f"share of reads in the top {k} genes")
        if r["flagged"]:
            r["caveat"] = (f"the top {k} genes take a different share of the reads (" + r["caveat"].split(": ", 1)[-1]
                           + "), as when a few very abundant transcripts (e.g. albumin) dominate one group")
        rows.append(r)

    # --- sex ------------------------------------------------------------------------
    sex = sex_table(adata, counts_layer=counts_layer)
    samples["chrY"] = sex["chrY"].to_numpy()
    samples["XIST"] = sex["XIST"].to_numpy()
    samples["inferred_sex"] = sex["inferred_sex"].to_numpy()
    samples["sex_detail"] = sex["sex_detail"].to_numpy()
    inferred = np.array([s if s in ("male", "female") else None for s in sex["inferred_sex"]], dtype=object)
    if any(v is not None for v in inferred):
        r = _categorical_row("sex_inferred", "XIST / chrY expression", inferred, sides, "genetic sex (XIST/chrY)")
        if r is not None:
            rows.append(r)
    else:
        skipped.append("sex_inferred (no chrY genes / XIST measured)")
    rec_col, recorded = _recorded_sex(adata.obs)
    # h5ad-writable: "" where the sex is not recorded (never None objects)
    samples["recorded_sex"] = (pd.Series(recorded, index=samples.index, dtype=object).fillna("").astype(str)
                               if recorded is not None else "")
    if recorded is not None:
        r = _categorical_row("sex_recorded", rec_col, recorded, sides, f"recorded sex ({rec_col})")
        if r is not None:
            rows.append(r)
        mism = [(adata.obs_names[i], recorded[i], sex["sex_detail"].iloc[i]) for i in np.flatnonzero(sides.mask)
                if recorded[i] is not None and inferred[i] is not None and recorded[i] != inferred[i]]
        n_cmp = int(sum(1 for i in np.flatnonzero(sides.mask) if recorded[i] is not None and inferred[i] is not None))
        txt = "; ".join(f"{s} (recorded {r}, {d})" for s, r, d in mism)
        n_f_y = sum(1 for _, r, _ in mism if r == "female")
        why = "possible sample mix-up or metadata error"
        if n_f_y < len(mism):
            why += " (a male tumour can lose chrY expression; a recorded female with chrY expression cannot be explained so)"
        rows.append({
            "check": "sex_mismatch", "variable": f"{rec_col} vs XIST/chrY", "test": "recorded vs inferred",
            "statistic": float(len(mism)), "pval": np.nan, "n": n_cmp,
            "effect": (f"{len(mism)} of {n_cmp} samples disagree" + (f": {txt}" if mism else "")),
            "flagged": bool(mism),
            "caveat": (f"recorded sex disagrees with XIST/chrY expression in {len(mism)} of {n_cmp} samples "
                       f"({', '.join(s for s, _, _ in mism)}): {why}") if mism else "",
        })  # fmt: skip

    # --- age --------------------------------------------------------------------------
    for c in adata.obs.columns:
        if AGE_COLUMN.match(str(c)):
            age = pd.to_numeric(adata.obs[c], errors="coerce").to_numpy(dtype=float)
            if np.isfinite(age).sum() >= 4:
                rows.append(_continuous_row("age", str(c), age, sides, "", "age", auc_large=COVARIATE_AUC_LARGE))
            break

    # --- technical fields and sample-id series -----------------------------------------
    exclude = {groupby, paired_by, *_LABEL_COLUMNS}
    n_side = int(sides.mask.sum())
    for c in adata.obs.columns:
        if c in exclude or _SEX.match(str(c)) or AGE_COLUMN.match(str(c)):
            continue
        s = adata.obs[c]
        if _ID.match(str(c)):
            labels = [adata.obs[lc].astype("object").to_numpy() for lc in _LABEL_COLUMNS if lc in adata.obs]
            rows.extend(_id_rows(str(c), s, sides, labels))
            continue
        if not _TECH.search(str(c)):
            continue
        vals = s.astype("object").map(lambda v: None if pd.isna(v) else _day(str(v))).to_numpy(dtype=object)
        present = [v for v, m in zip(vals, sides.mask) if m and v is not None]
        n_u = len(set(present))
        if n_u == 0:
            continue
        if n_u == 1:
            if _KEY_TECH.search(str(c)):
                rows.append({"check": "technical", "variable": str(c), "test": "", "statistic": np.nan,
                             "pval": np.nan, "n": len(present), "effect": f"all samples: {present[0]}",
                             "flagged": False, "caveat": ""})
            continue
        if n_u > max(2, n_side // 2):
            continue
        r = _categorical_row("technical", str(c), vals, sides, f"{c}")
        if r is not None:
            if r["flagged"]:
                r["caveat"] = f"groups differ in {c}: " + r["caveat"].split(": ", 1)[-1]
            rows.append(r)

    # --- batch aliasing: a technical factor that splits the groups completely --------------
    if batch_strength_check and sides.two:
        factors = aliased_factors(adata, sides, lib, tech=_TECH, ident=_ID, exclude=exclude)
        if factors:
            lk = labels_key or ("condition" if "condition" in adata.obs.columns else groupby)
            if lk not in adata.obs.columns:
                raise InputDataError(f"labels_key {lk!r} is not an obs column; available: {list(adata.obs.columns)}.")
            try:
                strength = batch_strength(adata, sides, factors[0]["batch"], groupby=groupby, labels_key=lk,
                                          counts_layer=counts_layer,
                                          order=lambda lv: _level_order(adata, lk, list(lv)))
            except InputDataError as exc:  # e.g. too few samples for a DE inside a batch
                logger.info("design_check: batch strength not measured (%s)", exc)
                strength = None
            rows.append(batch_row(factors, strength, sides))

    # --- pairs ------------------------------------------------------------------------
    pairs_tab = None
    if paired_by is not None:
        pairs = _labels(adata, paired_by)
        g2 = group if group is not None else None
        r2 = reference
        if g2 is None:
            others = [lv for lv in levels_all if lv != r2]
            if r2 is None or len(others) != 1:
                skipped.append("pairs (give group= and reference= for the pair checks)")
            else:
                g2 = others[0]
        if g2 is not None and r2 is not None:
            pairs_tab, summary = _pair_table(adata, lab, pairs, g2, r2, sex, counts_layer)
            n_flag = int(pairs_tab["flagged"].sum())
            ident = ""
            if "declared_similarity_median" in summary:
                ident = (f"; identity genes: median similarity of declared pairs "
                         f"{summary['declared_similarity_median']:.2f} vs "
                         f"{summary['random_similarity_median']:.2f} for random pairs")
            sex_c = int((pairs_tab["sex_status"] == "consistent").sum())
            flagged_txt = "; ".join(f"{r.pair} ({r.reference_sample} - {r.group_sample}): {r.reason}"
                                    for r in pairs_tab.itertuples() if r.flagged)
            rows.append({
                "check": "pairs", "variable": paired_by, "test": "sex agreement; leave-one-out identity genes",
                "statistic": float(n_flag), "pval": np.nan, "n": len(pairs_tab),
                "effect": (f"{len(pairs_tab)} complete pairs; sex consistent in {sex_c}{ident}; "
                           f"{n_flag} flagged" + (f": {flagged_txt}" if n_flag else "")),
                "flagged": bool(n_flag),
                "caveat": (f"{n_flag} of {len(pairs_tab)} declared pairs may not be from the same individual "
                           f"({', '.join(pairs_tab.loc[pairs_tab['flagged'], 'pair'])})") if n_flag else "",
            })  # fmt: skip
            info = adata.uns.get("labels", {})
            rule = str(info.get("pairing", "") or "") if isinstance(info, dict) else ""
            rows.append(pairing_row(adata, paired_by, rule, pairs_tab))

    table = pd.DataFrame(rows, columns=DESIGN_COLUMNS[:-1])
    table["flagged"] = table["flagged"].astype(bool)
    table["n"] = table["n"].astype(int)
    # the inferred-sex caveat repeats the recorded-sex one when the two agree everywhere
    chk = table.set_index("check")
    if {"sex_inferred", "sex_recorded", "sex_mismatch"} <= set(chk.index) and chk.loc["sex_recorded", "flagged"] \
            and not chk.loc["sex_mismatch", "flagged"]:
        table.loc[table["check"] == "sex_inferred", "caveat"] = ""
    table["risk_of_bias"] = [risk_of_bias(r.check, r.flagged, r.caveat) for r in table.itertuples()]
    caveat = "; ".join(dict.fromkeys(c for c in table.loc[table["flagged"], "caveat"] if c))
    params = {"groupby": groupby, "group": group or "", "reference": reference or "",
              "contrast": sides.describe(), "paired_by": paired_by or "", "counts_layer": counts_layer or "",
              "top_n": int(top_n), "skipped": skipped, "caveat": caveat,
              "rule": "flag: continuous p < 0.01 and |AUC - 0.5| >= 0.25 (age: >= 0.15); categorical p < 0.01 "
                      "and Cramér's V >= 0.3, or perfect separation; any sex mismatch; any flagged pair; a "
                      "library <= 0.2 x its group's median; pairs declared by sample order; a completely "
                      "aliased technical factor that dominates (>= 20% of expressed genes across the boundary "
                      "and >= 10 x the share inside a batch)"}  # fmt: skip
    tables = {"table": table, "samples": samples[[c for c in SAMPLE_COLUMNS if c in samples.columns]]}
    if pairs_tab is not None:
        tables["pairs"] = pairs_tab
    store(adata, key_added, "design_check", params, **tables)
    logger.info("design_check %s: %d checks, %d flagged", sides.describe(), len(table), int(table["flagged"].sum()))
    return finish(adata, copy)


def _default_reference(adata, groupby: str, levels: list[str], group: str) -> str:
    info = adata.uns.get("labels", {})
    ref = info.get("reference") if isinstance(info, dict) and groupby == "condition" else None
    if ref is not None and str(ref) in levels and str(ref) != group:
        return str(ref)
    others = [lv for lv in levels if lv != group]
    if len(others) == 1:
        return others[0]
    s = adata.obs[groupby]
    if isinstance(s.dtype, pd.CategoricalDtype):
        for c in s.cat.categories:
            if str(c) in others:
                return str(c)
    raise InputDataError(f"No reference given for group {group!r}; pass reference= (one of {others}).")

"""Everything below the claims, grouped by question.

Cohorts -> Mg scores -> genes -> pooled effects -> DE -> enrichment -> coupling -> trends ->
survival -> design audit -> sensitivity -> provenance: one function per section, each filling
the :class:`~mgtranscript.report._page.Section` it is given.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import replace
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript._words import group_label, set_label
from mgtranscript.report._common import (
    _add_figures,
    _cohort_words,
    _contrast_col,
    _feature_col,
    _groups_html,
    _n_groups_col,
    _perm_floor,
    _tech,
    _tsv,
)
from mgtranscript.report._result import design_words, mapping, params_of, table
from mgtranscript.report._format import (
    DASH,
    Cell,
    Col,
    abbreviate,
    as_float,
    col_bool,
    col_ci,
    col_genes,
    col_int,
    col_num,
    col_p,
    col_text,
    feature_words,
    fmt_bytes,
    fmt_est_ci,
    fmt_int,
    is_missing,
)
from mgtranscript.report._flags import cohort_flags, design_anchor
from mgtranscript.report._page import Section

#: Packages whose versions the provenance section records.
PACKAGES: tuple[str, ...] = ("mgtranscript", "numpy", "scipy", "pandas", "anndata", "scanpy", "gseapy",
                             "statsmodels", "matplotlib", "adjustText", "requests")


def _cohorts(sec: Section, res: Any) -> None:
    cohorts = table(res, "cohorts")
    if not cohorts.empty:
        status = cohorts.get("status", pd.Series("", index=cohorts.index)).astype(str)

        def groups(r):
            return Cell(html=_groups_html(str(r["accession"]), r, res), sort=as_float(r.get("n_samples")))

        def reason(r):
            short = r.get("reason_short")
            full = "" if is_missing(r.get("reason")) else str(r.get("reason"))
            if is_missing(short):
                short = abbreviate(full, 120)[0]
            return Cell(str(short or DASH), str(short).lower(), full if full and full != short else "",
                        "abbr" if full and full != short else "")

        base = [Col("cohort", lambda r: Cell(str(r["accession"]), str(r["accession"]).lower(),
                                             "" if is_missing(r.get("title")) else str(r.get("title")))),
                col_text("disease", "disease_area"), col_text("design", "design"),
                Col("data", lambda r: Cell(" · ".join(x for x in (_tech(r.get("technology")),
                                                                    "" if is_missing(r.get("data_source"))
                                                                    else str(r.get("data_source"))) if x)))]
        an = cohorts[status == "analysed"]
        if len(an):
            sec.table(an, columns=[*base, Col("samples per group", groups), col_int("n", "n_samples"),
                                   col_text("citation", "citation", limit=60)],
                      title="Cohorts analysed", tsv=_tsv("cohorts"), max_rows=None, collapsed=False, what="cohorts")
        na = cohorts[status != "analysed"]
        if len(na):
            sec.table(na, columns=[Col("cohort", lambda r: str(r["accession"])), col_text("disease", "disease_area"),
                                   col_text("status", "status"), Col("samples per group (labels only)", groups, optional=True),
                                   Col("why not analysed", reason, width="45%")],
                      title="Cohorts not analysed (their samples are not in any result above)", tsv=_tsv("cohorts"),
                      max_rows=None, collapsed=False, what="cohorts")
    cov = table(res, "coverage")
    if not cov.empty:
        sec.table(cov, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_int("genes in set", "n_genes"), col_int("measured", "n_matched"),
            col_int("via alias", "n_resolved_by_alias"), col_int("used", "final_size"),
            col_bool("kept", "kept"), col_genes("missing", "missing", optional=True),
            col_text("aliases resolved", "resolved", optional=True)],
            title="Gene-set coverage (genes of each set measured in each cohort)", per="cohort",
            tsv=_tsv("coverage"), max_rows=None, collapsed=True, what="sets")


def _is_gz(row: pd.Series) -> bool:
    """``hedges_g`` of this comparison is the paired g_z (``g_kind``; older tables: ``paired``)."""
    kind = row.get("g_kind")
    if not is_missing(kind):
        return str(kind) == "g_z"
    return str(row.get("paired")).lower() == "true"


def _g_col() -> Col:
    """``hedges_g`` named for what it is: Hedges' g (unpaired) or g_z (paired: over the SD of the differences)."""
    def get(row):
        v = as_float(row.get("hedges_g"))
        text = fmt_est_ci(v, row.get("g_ci_low"), row.get("g_ci_high"))
        if text != DASH and _is_gz(row):
            return Cell(f"g_z {text}", v, "paired: the mean within-pair difference over the SD of the differences "
                                          "(g_z, small-sample corrected)")
        return Cell(text, None if v != v else v)

    return Col("Hedges' g [95% CI]", get, num=True,
               tip="unpaired rows: Hedges' g; paired rows: g_z (standardised by the SD of the within-pair "
                   "differences)")


def _g_av_col() -> Col:
    """``g_av`` of a paired comparison (the effect the claims vote on), blank for unpaired rows."""
    def get(row):
        if not _is_gz(row):
            return Cell("", None)
        v = as_float(row.get("g_av"))
        return Cell(fmt_est_ci(v, row.get("g_av_ci_low"), row.get("g_av_ci_high")), None if v != v else v)

    return Col("g_av [95% CI]", get, num=True, optional=True,
               tip="paired rows: the mean difference over the average SD of the two groups (g_av), comparable "
                   "with an unpaired Hedges' g; the claims vote on it")


def _comparison_columns() -> list[Col]:
    return [_contrast_col(), _feature_col(), _n_groups_col(),
            Col("paired", lambda r: Cell("paired" if str(r.get("paired")).lower() == "true" else "", ""),
                optional=True),
            _g_col(), _g_av_col(),
            col_num("AUROC", "auroc"), col_p("p (t)", "t_pval"), col_p("p (U)", "u_pval"), col_p("q", "qval")]


def _comparisons(sec: Section, res: Any, kinds: tuple[str, ...], title: str) -> None:
    cmp = table(res, "comparisons")
    if cmp.empty:
        sec.text("No comparison was run.")
        return
    kind = cmp.get("kind", pd.Series("", index=cmp.index)).astype(str)
    sub = cmp[kind.isin(kinds)]
    if sub.empty:
        return
    sub = sub.assign(_q=pd.to_numeric(sub.get("qval"), errors="coerce")).sort_values(
        ["cohort", "contrast", "_q"], kind="stable")
    sec.table(sub, columns=_comparison_columns(), title=title, per="cohort", tsv=_tsv("comparisons"),
              max_rows=40, what="comparisons",
              note="Sorted by q within each contrast; click a header to re-sort.")


def _scores(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    units = params.get("score_units")
    if units:
        sec.text(f"Scores are **{units}**: they rank samples within a cohort; their absolute size is not "
                 "comparable between cohorts or sets.")
    _add_figures(sec, figures, "scores", cohort_flags(res))
    _comparisons(sec, res, ("score", "balance", "composition"), "Score comparisons between groups")


def _genes(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    if params.get("expression_units"):
        sec.text(f"Expression is **{params['expression_units']}**.")
    _add_figures(sec, figures, "genes", cohort_flags(res))
    _comparisons(sec, res, ("gene",), "Gene comparisons between groups")


def _meta(sec: Section, res: Any) -> None:
    meta = table(res, "meta")
    if "k" in meta.columns:
        meta = meta[pd.to_numeric(meta["k"], errors="coerce") >= 2]
    if meta.empty:
        sec.text("No contrast was measured in two or more cohorts, so nothing was pooled; single-cohort effects "
                 "are in the comparisons tables.")
        return
    sec.table(meta, columns=[
        _contrast_col(), _feature_col(), col_int("k", "k"), Col("cohorts", lambda r: _cohort_words(r.get("cohorts"))),
        col_ci("pooled g [95% CI]", "pooled", "ci_low", "ci_high"), col_num("I²", "I2"),
        col_num("τ²", "tau2", digits=3),
        col_p("p", "pval"), col_p("q", "qval"), col_int("n", "n_total")],
        title="Random-effects pooled effects", tsv=_tsv("meta"), max_rows=60, what="pooled effects",
        note="Only where at least two cohorts measured the same contrast (k ≥ 2).")


def _de(sec: Section, res: Any, figures) -> None:
    de = mapping(res, "de")
    params = params_of(res)
    if params.get("de"):
        sec.text(f"Method: {params['de']}.")
    _add_figures(sec, figures, "de", cohort_flags(res))
    frames = []
    tsvs = {}
    for acc, df in de.items():
        if not isinstance(df, pd.DataFrame) or df.empty:
            continue
        d = df.assign(cohort=str(acc), _p=pd.to_numeric(df.get("pval"), errors="coerce")).sort_values("_p")
        frames.append(d)
        tsvs[str(acc)] = f"tables/de_{acc}.tsv"
    if not frames:
        if not de:
            sec.text("No differential expression was run.")
        return
    allde = pd.concat(frames, ignore_index=True)
    sec.table(allde, columns=[
        Col("gene", lambda r: Cell(str(r.get("gene", "")), str(r.get("gene", "")).lower())),
        col_num("log2 FC", "log2fc"), col_num("t", "stat"), col_p("p", "pval"), col_p("q (BH)", "padj"),
        col_num("mean expression", "ave_expr"), _contrast_col()],
        title="Most significant genes per cohort", per="cohort", tsv=tsvs, max_rows=30, what="genes")


def _enrichment(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    floor = _perm_floor(params)
    _add_figures(sec, figures, "enrichment", cohort_flags(res))
    g = table(res, "gsea")
    if not g.empty:
        g = g.assign(_p=pd.to_numeric(g.get("pval"), errors="coerce")).sort_values(["cohort", "_p"], kind="stable")
        sec.table(g, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_text("mechanism", "mechanism", words=lambda v: str(v).replace("_", " "), optional=True),
            col_int("size", "size"), col_num("ES", "es"), col_num("NES", "nes"),
            col_p("p", "pval", floor=floor), col_p("FDR", "fdr"), col_genes("leading edge", "leading_edge", 5),
            _contrast_col()],
            title="GSEA prerank of the DE moderated t", per="cohort", tsv=_tsv("gsea"), max_rows=30, what="sets",
            note=(f"p from {params.get('permutations')} permutations: p = 0 is shown as < 1/(permutations + 1). "
                  if floor else "") + "FDR: the GSEA false discovery rate (the only multiple-testing column).")
    o = table(res, "ora")
    if not o.empty:
        def overlap(r):
            a, b = r.get("n_overlap"), r.get("set_size")
            return Cell(f"{fmt_int(a)} of {fmt_int(b)}", as_float(a))

        def odds(r):
            v = as_float(r.get("odds_ratio"))
            if np.isinf(v):
                return Cell("all overlapping genes in set", 1e308,
                            "every gene of the set measured here is differentially expressed: the odds ratio is "
                            "infinite")
            return Cell("—" if np.isnan(v) else f"{v:.2f}", None if np.isnan(v) else v)

        sec.table(o, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_int("DE genes", "n_de"), Col("set genes DE", overlap, num=True),
            Col("odds ratio", odds, num=True), col_p("p", "pval"), col_p("q", "qval"), col_genes("genes", "genes"),
            _contrast_col()],
            title="Over-representation of Mg sets among DE genes (q < 0.05)", per="cohort", tsv=_tsv("ora"),
            max_rows=30, what="sets")


def _coupling(sec: Section, res: Any, figures) -> None:
    sec.text("Correlations are judged **within groups** (or within pairs): across samples pooled from different "
             "groups a correlation mostly reflects the group difference. Pooled values are shown beside, labelled.")
    _add_figures(sec, figures, "coupling", cohort_flags(res))
    cp = table(res, "coupling")
    cols = [Col("Mg set", lambda r: Cell(set_label(r.get("mg_set")), str(r.get("mg_set")).lower(),
                                         str(r.get("mg_set")))),
            Col("mechanism set", lambda r: Cell(set_label(r.get("mechanism_set")), str(r.get("mechanism_set")).lower(),
                                                str(r.get("mechanism_set")))),
            col_text("mechanism", "mechanism", words=lambda v: str(v).replace("_", " "), optional=True),
            Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design")))),
            Col("level", lambda r: Cell(group_label(r.get("level")) if not is_missing(r.get("level")) else DASH)),
            col_ci("ρ [95% CI]", "estimate", "ci_low", "ci_high"), col_p("p", "pval"), col_p("q", "qval"),
            col_int("n", "n")]
    if not cp.empty:
        cp = cp.assign(_q=pd.to_numeric(cp.get("qval"), errors="coerce"),
                       _pool=(cp.get("design", pd.Series("", index=cp.index)).astype(str) == "pooled"),
                       _comb=(cp.get("level", pd.Series("combined", index=cp.index)).astype(str) != "combined"))
        cp = cp.sort_values(["cohort", "_pool", "_comb", "_q"], kind="stable")
        sec.table(cp, columns=cols, title="Mg score vs mechanism score correlations", per="cohort",
                  tsv=_tsv("coupling"), max_rows=30, what="correlations",
                  note="Within-group combined estimates first (sorted by q), then per-group and pooled ones.")
    corr = table(res, "correlations")
    if not corr.empty:
        sec.table(corr, columns=[
            Col("pair", lambda r: Cell(f"{r.get('feature_x')} ~ {r.get('feature_y')}")),
            Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design")))),
            Col("level", lambda r: Cell(group_label(r.get("level")) if not is_missing(r.get("level")) else DASH)),
            Col("adjusted for", _adjusted_for, optional=True),
            col_ci("ρ [95% CI]", "estimate", "ci_low", "ci_high"), col_p("p", "pval"), col_p("q", "qval"),
            col_int("n", "n"), col_text("note", "note", limit=80, optional=True)],
            title="Gene-gene correlations named by claims", per="cohort",
            tsv=_tsv("correlations"), max_rows=30, what="correlations")


def _adjusted_for(r) -> Cell:
    """Covariates of a correlation (``adjusted_for`` or ``covariates``), in words; "" when none."""
    v = r.get("adjusted_for")
    if is_missing(v):
        v = r.get("covariates")
    if is_missing(v):
        return Cell("", "")
    words = ", ".join(feature_words(x.strip()) for x in str(v).split(";") if x.strip())
    return Cell(words, words.lower())


def _trends(sec: Section, res: Any, figures) -> None:
    _add_figures(sec, figures, "trends", cohort_flags(res))
    tr = table(res, "trends")
    if tr.empty:
        sec.text("No cohort has ordered stages to test.")
        return
    tr = tr.assign(_q=pd.to_numeric(tr.get("qval"), errors="coerce")).sort_values(["cohort", "_q"], kind="stable")
    sec.table(tr, columns=[
        _feature_col(), col_text("ordered by", "by", words=lambda v: str(v).replace("_", " ")),
        col_num("Spearman ρ", "rho"), col_p("p", "pval"), col_p("q", "qval"), col_p("Jonckheere p", "jt_pval"),
        col_int("n", "n")], title="Ordered trends across stages", per="cohort", tsv=_tsv("trends"), max_rows=30,
        what="trends")


def _survival(sec: Section, res: Any, figures) -> None:
    _add_figures(sec, figures, "survival", cohort_flags(res))
    sv = table(res, "survival")
    if sv.empty:
        sec.text("No cohort with survival data was analysed.")
        return
    sec.table(sv, columns=[
        _feature_col(), col_int("n", "n"), col_int("events", "n_events"),
        col_text("cut", "cut"), col_p("log-rank p", "logrank_p"),
        col_ci("HR per SD [95% CI]", "hr_per_sd", "hr_ci_low", "hr_ci_high"), col_p("Cox p", "cox_p"),
        col_ci("adjusted HR per SD", "hr_adj_per_sd", "hr_adj_ci_low", "hr_adj_ci_high"),
        col_p("adjusted p", "cox_adj_p"), col_text("adjusted for", "adjusted_for", limit=50),
        col_p("PH test p", "ph_test_p", tip="proportional hazards of the Cox model (Schoenfeld residuals)"),
        replace(col_bool("PH violated", "ph_violated"), optional=True,
                tip="the PH test p is below its level: the hazard ratio is an average over follow-up"),
        replace(col_p("PH test p, adjusted model", "ph_adj_test_p"), optional=True),
        replace(col_bool("PH violated, adjusted model", "ph_adj_violated"), optional=True),
        _excluded_col()], title="Overall survival", per="cohort", tsv=_tsv("survival"),
        max_rows=30, what="features")


def _excluded_col() -> Col:
    """Patients of the group left out (no survival data) and why: ``12: 8 no follow-up; 4 ...``; 0 when none."""
    def get(row):
        n = as_float(row.get("n_excluded"))
        why = "" if is_missing(row.get("excluded")) else str(row.get("excluded"))
        if n != n:
            return Cell(why, None) if why else Cell("", None)
        if n == 0:
            return Cell("0", 0.0)
        return Cell(f"{fmt_int(n)}: {why}" if why else fmt_int(n), n)

    return Col("excluded", get, optional=True, tip="patients left out for lack of survival data, and why")


def _design(sec: Section, res: Any) -> None:
    d = table(res, "design")
    if d.empty:
        sec.text("No design audit was run.")
    else:
        flagged = d["flagged"].astype(bool) if "flagged" in d.columns else pd.Series(False, index=d.index)
        n_flag = int(flagged.sum())
        sec.text(f"Each contrast is checked for technical differences between its groups (library size, TMM "
                 f"factor, share of reads in the top genes, genetic vs recorded sex, age, series-matrix fields). "
                 f"**{n_flag} of {len(d)} checks flagged**; flagged ones become caveats on the verdicts that use "
                 "that contrast.")
        d = d.assign(_f=~flagged).sort_values(["cohort", "_f"], kind="stable")

        def flag(r):
            f = bool(r.get("flagged")) and str(r.get("flagged")).lower() != "false"
            return Cell(text="flagged" if f else "", html='<span class="st st-flag">flagged</span>' if f else "",
                        sort=0 if f else 1)

        sec.table(d, columns=[
            _contrast_col(), col_text("check", "check"), col_text("test", "test", limit=40),
            col_text("what differs", "effect", limit=90), col_p("p", "pval"), Col("flag", flag, optional=True),
            col_text("caveat", "caveat", limit=120, optional=True)], title="Design checks", per="cohort", tsv=_tsv("design"),
            max_rows=None, what="checks", collapsed=len(d) > 24, group_id=design_anchor)
    pairs = table(res, "pairs")
    if not pairs.empty:
        anchored = set(d["cohort"].astype(str)) if "cohort" in d.columns else set()
        for acc in pd.unique(pairs.get("cohort", pd.Series(dtype=str)).astype(str)):
            if acc not in anchored:
                sec.html(f'<span id="{design_anchor(acc)}"></span>')
        fl = pairs["flagged"].astype(bool) if "flagged" in pairs.columns else pd.Series(False, index=pairs.index)
        sec.text(f"Paired designs: **{int(fl.sum())} of {len(pairs)} pairs** look mismatched.")
        if fl.any():
            def members(r):
                a, b = r.get("group_sample"), r.get("reference_sample")
                if is_missing(a) and is_missing(b):
                    a = r.get("members")
                return Cell(" + ".join(str(x) for x in (a, b) if not is_missing(x)))

            def pair(r):
                v = r.get("pair") if not is_missing(r.get("pair")) else r.get("pair_id")
                return Cell(str(v), str(v).lower())

            def why(r):
                v = r.get("reason") if not is_missing(r.get("reason")) else r.get("why")
                shown, full = abbreviate(v, 140)
                return Cell(shown, shown.lower(), full if full != shown else "")

            sec.table(pairs[fl], columns=[
                Col("cohort", lambda r: str(r.get("cohort"))), Col("pair", pair),
                Col("samples (group + reference)", members), col_text("sex check", "sex_status", optional=True),
                Col("why", why, width="50%")],
                title="Pairs flagged", tsv=_tsv("pairs"), max_rows=None, what="pairs")


def _sensitivity(sec: Section, res: Any) -> None:
    s = table(res, "sensitivity")
    if s.empty:
        sec.text("No sensitivity analysis was run.")
        return
    agree = s["agrees"].astype(bool) if "agrees" in s.columns else pd.Series(False, index=s.index)
    sec.text(f"Each gene/score verdict re-derived under alternative choices (normalisation, scoring method, DE "
             f"method, pairing, control group): **{int(agree.sum())} of {len(s)} re-analyses agree** with the "
             "main analysis in direction and significance. Per claim in the evidence above.")
    from mgtranscript.report._evidence import sensitivity_columns

    sec.table(s, columns=sensitivity_columns(), title="All re-analyses", per="claim_id", tsv=_tsv("sensitivity"),
              max_rows=12, what="re-analyses", collapsed=True)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _provenance(sec: Section, res: Any) -> None:
    inputs = getattr(res, "inputs", None) or []
    df = pd.DataFrame(list(inputs)) if inputs else pd.DataFrame()
    if df.empty:
        sec.text("No input file was recorded.")
    else:
        for c in ("url", "sha256", "bytes", "source", "path"):
            if c not in df.columns:
                df[c] = np.nan
        n_hashed = int(df["sha256"].notna().sum())
        total = pd.to_numeric(df["bytes"], errors="coerce").sum()
        sec.text(f"**{len(df)} input files**, {n_hashed} with a sha256 ({fmt_bytes(total)} in all): public downloads "
                 "(mirror or cache), sample sheets, bundled gene sets and the claims table.")

        def where(r):
            url = "" if is_missing(r.get("url")) else str(r.get("url"))
            path = "" if is_missing(r.get("path")) else str(r.get("path"))
            return Cell(url or path, (url or path).lower(), path if path and path != url else "", "mono")

        def digest(r):
            h = "" if is_missing(r.get("sha256")) else str(r.get("sha256"))
            return Cell(h or "not hashed", h, "", "mono")

        def size(r):
            b = as_float(r.get("bytes"))
            return Cell(fmt_bytes(b), None if np.isnan(b) else b, "" if np.isnan(b) else f"{int(b):,} bytes")

        sec.table(df, columns=[col_text("source", "source"), Col("file (public URL or path)", where, width="44%"),
                               Col("bytes", size, num=True), Col("sha256", digest, width="34%")],
                  title="Inputs", tsv=_tsv("inputs"), max_rows=None, what="files", full_width=True)
    v = _versions()
    sec.table(pd.DataFrame({"software": list(v), "version": list(v.values())}), title="Software",
              max_rows=None, collapsed=False, what="packages")
    params = params_of(res)
    flat = {str(k): (val if isinstance(val, (str, int, float, bool)) or val is None else repr(val))
            for k, val in params.items() if k not in ("inputs", "seconds", "timings")}
    if flat:
        sec.table(pd.DataFrame({"parameter": list(flat), "value": [str(x) for x in flat.values()]}),
                  title="Parameters", max_rows=None, collapsed=False, what="parameters")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sec.text(f"Report generated {date}.")


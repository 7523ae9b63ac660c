"""The figures of each cohort: Mg scores, the Mg-gene heatmap, volcano, GSEA, coupling, trends, KM.

A mixin of :class:`mgtranscript.report._figures._Drawer`, which provides ``res``, ``features``,
``params``, ``cohort_params`` and ``draw``. Figures that depend on their cohort's results alone are
drawn with ``own=True`` (see :func:`mgtranscript.report.draw_cohort_figures`): they use that
cohort's rows and units only, never a value computed over the whole run.
"""

from __future__ import annotations

import pandas as pd

from mgtranscript import pl
from mgtranscript._words import feature_kind, feature_units, group_label, set_label
from mgtranscript.report._result import (
    design_words,
    gene_columns,
    mapping,
    mg_sets_in,
    stage_order,
    table,
    units_for,
)
from mgtranscript.report._format import (
    contrast_parts,
    contrast_words,
    fmt_est_ci,
    fmt_int,
    fmt_num,
    is_missing,
    p_eq,
)

#: The Mg set shown in GSEA and coupling figures when present (the review's efflux claim).
MAIN_SET = "MG_EFFLUX_EXCHANGE"


class _CohortFigures:
    """Per cohort: scores, heatmap, volcano, GSEA running sum, coupling, trends, KM curves."""

    # ---- per cohort --------------------------------------------------------------

    def cohorts(self) -> None:
        for acc, df in self.features.items():
            sets = mg_sets_in(df)
            if sets and "condition" in df.columns:
                order = stage_order(df["condition"])
                paired = "pair_id" if "pair_id" in df.columns and df["pair_id"].notna().any() else None
                units = units_for(sets, self.params)
                self.draw("scores", f"scores_{acc}",
                          f"**{acc}** — Mg gene-set scores by condition ({self.params.get('score_units', 'score')}; "
                          "Mg balance: mean z-score of influx minus efflux genes), each point a sample"
                          + ("; grey lines join pairs" if paired else "") + ".",
                          lambda save, svg, df=df, sets=sets, order=order, paired=paired, units=units, acc=acc:
                          pl.scores(
                              df, groupby="condition", order=order, sets=sets, paired_by=paired, units=units,
                              ncols=3, title=f"{acc}: Mg gene-set scores by condition", save=save, svg=svg),
                          cohort=acc, own=True, cost=0.25 * len(sets) + 0.3)
            genes = gene_columns(df)
            if genes and "condition" in df.columns:
                expr_units = self.cohort_params(acc).get("expression_units")
                self.draw("genes", f"heatmap_{acc}",
                          f"**{acc}** — Mg and key genes: mean per condition of each gene's z-score across samples "
                          f"(expression: {expr_units or 'log expression'}).",
                          lambda save, svg, df=df, genes=genes, acc=acc, expr_units=expr_units:
                          pl.heatmap(
                              df, genes, groupby="condition", order=stage_order(df["condition"]),
                              units=expr_units, title=f"{acc}: Mg genes by condition",
                              save=save, svg=svg),
                          cohort=acc, own=True, cost=1.0)
        for acc, de in mapping(self.res, "de").items():
            self.volcano(str(acc), de)
        self.gsea()
        self.coupling()
        self.trends()
        for acc, t in mapping(self.res, "km").items():
            if not isinstance(t, pd.DataFrame) or t.empty:
                continue
            feats = list(pd.unique(t["feature"].astype(str))) if "feature" in t.columns else [None]
            for f in feats:
                sub = t[t["feature"].astype(str) == f] if f is not None else t
                self._km("survival", f"km_{acc}" + (f"_{f}" if f else ""), str(acc), f, sub, own=True)

    def _contrast_of(self, acc: str, de: pd.DataFrame | None = None) -> str:
        dc = mapping(self.res, "de_contrast")
        if acc in dc:
            return str(dc[acc])
        if de is not None and "contrast" in de.columns and len(de):
            return str(de["contrast"].iloc[0])
        return ""

    def volcano(self, acc: str, de: pd.DataFrame) -> None:
        if not isinstance(de, pd.DataFrame) or de.empty:
            return
        contrast = self._contrast_of(acc, de)
        words = contrast_words(contrast) or "group vs reference"
        method = (str(de["method"].iloc[0]) if "method" in de.columns and len(de)
                  else str(self.cohort_params(acc).get("de", "")))
        feats = self.features.get(acc)
        highlight = gene_columns(feats) if feats is not None else []
        self.draw("de", f"volcano_{acc}",
                  f"**{acc}** — differential expression, {words} ({method}); Mg and key genes circled and labelled; "
                  "coloured: q < 0.05.",
                  lambda save, svg: pl.volcano(
                      de, highlight=highlight, x_label=f"log2 fold change, {words}",
                      title=f"{acc}: {words}", save=save, svg=svg),
                  cohort=acc, own=True, cost=2.0)

    def gsea(self) -> None:
        g = table(self.res, "gsea")
        rankings = mapping(self.res, "rankings")
        sets = mapping(self.res, "gene_sets")
        if g.empty or not rankings or not sets:
            return
        perm = self.params.get("permutations")
        floor = 1.0 / (int(perm) + 1) if perm else None
        for acc in pd.unique(g["cohort"].astype(str)):
            if acc not in rankings:
                continue
            rows = g[g["cohort"].astype(str) == acc]
            target = MAIN_SET if (rows["set"] == MAIN_SET).any() and MAIN_SET in sets else None
            if target is None:
                mg = rows[rows["set"].astype(str).str.startswith("MG_") & rows["set"].isin(list(sets))]
                if mg.empty:
                    continue
                target = str(mg.sort_values("pval")["set"].iloc[0])
            row = rows[rows["set"] == target].iloc[0]
            contrast = str(row.get("contrast", "") or self._contrast_of(acc))
            parts = contrast_parts(contrast)
            up = f"higher in {group_label(parts[1])}" if parts else None
            down = f"lower in {group_label(parts[1])}" if parts else None
            self.draw("enrichment", f"gsea_{acc}_{target}",
                      f"**{acc}** — GSEA running sum of {set_label(target)} on the DE moderated t "
                      f"({contrast_words(contrast)}); set genes ranked near the left are higher in "
                      f"{group_label(parts[1]) if parts else 'the group'}.",
                      lambda save, svg, acc=acc, target=target, row=row, up=up, down=down, contrast=contrast:
                      pl.gsea(
                          rankings[acc], list(sets[target]), result_row=row, metric_label="moderated t",
                          up_label=up, down_label=down, p_floor=floor,
                          title=f"{acc}: {set_label(target)}, {contrast_words(contrast)}", save=save, svg=svg),
                      cohort=acc, own=True, cost=0.5)

    def coupling(self) -> None:
        cp = table(self.res, "coupling")
        if cp.empty:
            return
        for acc in pd.unique(cp["cohort"].astype(str)):
            df = self.features.get(acc)
            if df is None:
                continue
            rows = cp[(cp["cohort"].astype(str) == acc) & (cp["design"].astype(str) != "pooled")
                      & (cp["level"].astype(str) == "combined")]
            if (rows["mg_set"] == MAIN_SET).any():
                rows = rows[rows["mg_set"] == MAIN_SET]
            rows = rows[rows["mechanism_set"].isin(df.columns) & rows["mg_set"].isin(df.columns)]
            if rows.empty:
                continue
            r = rows.assign(_q=pd.to_numeric(rows["qval"], errors="coerce").fillna(1)).sort_values(
                ["_q", "pval"]).iloc[0]
            x, y = str(r["mg_set"]), str(r["mechanism_set"])
            pooled = cp[(cp["cohort"].astype(str) == acc) & (cp["design"].astype(str) == "pooled")
                        & (cp["mg_set"] == x) & (cp["mechanism_set"] == y)]
            rho = fmt_est_ci(r["estimate"], r.get("ci_low"), r.get("ci_high"))
            stats = (f"{design_words(r['design'])}: ρ = {rho}, "
                     f"{p_eq('q', r.get('qval'))}, n = {fmt_int(r.get('n'))}")
            if len(pooled):
                stats += ("  ·  pooled over all samples (not used for verdicts): "
                          f"ρ = {fmt_num(pooled['estimate'].iloc[0])}")
            group = "condition" if "condition" in df.columns else None
            self.draw("coupling", f"coupling_{acc}",
                      f"**{acc}** — the Mg-mechanism coupling with the smallest within-group q: {set_label(y)} vs "
                      f"{set_label(x)}, coloured by condition, one least-squares line per group.",
                      lambda save, svg, df=df, x=x, y=y, stats=stats, group=group, acc=acc:
                      pl.scatter(
                          df, x, y, groupby=group, order=stage_order(df[group]) if group else None,
                          x_label=f"{set_label(x)}\n{feature_units(x, self.cohort_params(acc))}",
                          y_label=f"{set_label(y)}\n{feature_units(y, self.cohort_params(acc))}", stats_text=stats,
                          title=f"{acc}: {set_label(y)} vs {set_label(x)}", save=save, svg=svg),
                      cohort=acc, cost=0.4)

    def trends(self) -> None:
        tr = table(self.res, "trends")
        if tr.empty:
            return
        for (acc, by), rows in tr.groupby([tr["cohort"].astype(str), tr["by"].astype(str)], sort=False):
            df = self.features.get(acc)
            if df is None or by not in df.columns:
                continue
            rows = rows[rows["feature"].isin(df.columns)]
            if rows.empty:
                continue
            q = pd.to_numeric(rows.get("qval", rows["pval"]), errors="coerce")
            rows = rows.assign(_q=q.fillna(1)).sort_values(["_q", "pval"])
            top = rows[rows["_q"] < 0.05].head(6)
            if top.empty:
                top = rows.head(3)
            feats = list(top["feature"].astype(str))
            stats = {str(r["feature"]): f"Spearman ρ = {fmt_num(r['rho'], 2)}, {p_eq('q', r['_q'])}"
                     for _, r in top.iterrows()}
            order = stage_order(df[by]) if not pd.api.types.is_numeric_dtype(df[by]) else None
            self.draw("trends", f"trends_{acc}_{by}",
                      f"**{acc}** — features with the strongest ordered trend across {by.replace('_', ' ')} "
                      f"({len(top)} of {len(rows)} tested; q by Benjamini-Hochberg); the black line joins the medians.",
                      lambda save, svg, df=df, feats=feats, by=by, order=order, stats=stats, acc=acc:
                      pl.trend(
                          df, feats, by=by, order=order, units=units_for(feats, self.cohort_params(acc)),
                          stats_text=stats, title=f"{acc}: trends across {by.replace('_', ' ')}", save=save, svg=svg),
                      cohort=acc, cost=0.3 * len(feats) + 0.3)

    def _km(self, section: str, stem: str, acc: str, feat: str | None, t: pd.DataFrame, prefix: str = "",
            own: bool = False) -> None:
        sv = table(self.res, "survival")
        stats = None
        cut = ""
        if not sv.empty and feat is not None:
            r = sv[(sv["cohort"].astype(str) == acc) & (sv["feature"].astype(str) == feat)]
            if len(r):
                r = r.iloc[0]
                cut = f" (cut at the {r.get('cut', 'median')})" if not is_missing(r.get("cut")) else ""
                stats = (f"log-rank {p_eq('p', r.get('logrank_p'))}  ·  Cox HR per SD = "
                         f"{fmt_est_ci(r.get('hr_per_sd'), r.get('hr_ci_low'), r.get('hr_ci_high'))}, "
                         f"{p_eq('p', r.get('cox_p'))}")
                if not is_missing(r.get("hr_adj_per_sd")):
                    stats += (f"  ·  adjusted for {r.get('adjusted_for')}: "
                              f"{fmt_est_ci(r.get('hr_adj_per_sd'), r.get('hr_adj_ci_low'), r.get('hr_adj_ci_high'))}")
        what = f"{feat} expression" if feat and feature_kind(feat) == "gene" else set_label(feat or "score")
        self.draw(section, stem,
                  f"**{acc}** — overall survival by {what}, high vs low{cut}; numbers at risk below the curves.",
                  lambda save, svg: pl.km(
                      t, stats_text=stats, title=f"{prefix}{acc}: overall survival by {what}", save=save, svg=svg),
                  cohort=acc, own=own, cost=0.6)


"""Every figure of the report, drawn from an ``AnalysisResult`` (the pipeline draws none).

:func:`draw_figures` writes PNGs (and SVGs with ``svg=True``) into a folder and returns
``(section, png path, caption)`` for each, where ``section`` is the id of the report
section the figure belongs to (``claim-<claim_id>`` for the evidence of one claim,
``scores``, ``genes``, ``de``, ``enrichment``, ``coupling``, ``trends``, ``survival``).

Per testable claim: a forest plot of its estimates per cohort (a pooled diamond only
where at least two cohorts were pooled) and the feature itself by group (pairs joined),
or the scatter of a coupling, the stages of a trend, or the Kaplan-Meier curves of a
survival claim. Per cohort: Mg scores by condition, the Mg-gene heatmap, the volcano of
its DE, the GSEA running sum of the Mg efflux set, the strongest Mg-mechanism coupling
with within-group fits, ordered trends, and KM curves where survival was analysed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript import pl
from mgtranscript.errors import MgTranscriptError
from mgtranscript.pl._style import (
    GROUP_COLOURS,
    LABEL_COLUMNS,
    feature_kind,
    feature_units,
    group_label,
    set_label,
)
from mgtranscript.report.format import (
    contrast_parts,
    contrast_words,
    effect_words,
    feature_words,
    fmt_est_ci,
    fmt_num,
    is_missing,
    p_eq,
)

logger = logging.getLogger(__name__)

__all__ = ["draw_figures", "FigureEntry"]

FigureEntry = tuple[str, Path, str]

#: The Mg set shown in GSEA and coupling figures when present (the review's efflux claim).
MAIN_SET = "MG_EFFLUX_EXCHANGE"
_GROUP_ORDER = list(GROUP_COLOURS)
#: Forest-plot row labels for evidence roles other than "primary", and their order.
_ROLE_WORDS = {"adjusted": "adjusted", "pooled (shown beside, not voted)": "pooled over groups"}
_ROLE_ORDER = {"primary": 0, "adjusted": 1}


# --------------------------------------------------------------------------------------
# reading the result
# --------------------------------------------------------------------------------------


def table(res: Any, name: str) -> pd.DataFrame:
    """``res.<name>`` as a DataFrame (empty when absent or not a table)."""
    v = getattr(res, name, None)
    return v if isinstance(v, pd.DataFrame) else pd.DataFrame()


def mapping(res: Any, name: str) -> dict:
    v = getattr(res, name, None)
    return dict(v) if isinstance(v, dict) else {}


def params_of(res: Any) -> dict:
    return dict(getattr(res, "params", None) or {})


def stage_order(values) -> list:
    """Groups in the palette's stage order (healthy < obese < NAFL < NASH ...), unknown ones last."""
    present = [v for v in pd.unique(pd.Series(list(values)).dropna()) if str(v) not in ("nan", "unlabelled")]
    known = [g for g in _GROUP_ORDER if g in present]
    return known + sorted((g for g in present if g not in known), key=str)


def mg_sets_in(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith("MG_") and pd.api.types.is_numeric_dtype(df[c])]
    return cols + (["mg_balance"] if "mg_balance" in df.columns else [])


def gene_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in LABEL_COLUMNS and feature_kind(c) == "gene"
            and pd.api.types.is_numeric_dtype(df[c])]


def units_for(cols, params: dict) -> dict:
    return {c: feature_units(c, params) for c in cols}


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


def design_words(design: Any) -> str:
    d = "" if is_missing(design) else str(design)
    if d.startswith("within:"):
        return f"within {d.split(':', 1)[1].replace('_', ' ')}"
    if d.startswith("paired:"):
        return f"within pairs ({d.split(':', 1)[1]})"
    if d == "pooled":
        return "pooled over all samples (ignores groups)"
    return d.replace("_", " ")


# --------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------


class _Drawer:
    def __init__(self, res, figures_dir: Path, svg: bool, on_error: str):
        self.res = res
        self.dir = Path(figures_dir)
        self.svg = svg
        self.on_error = on_error
        self.out: list[FigureEntry] = []
        self.errors: list[tuple[str, str]] = []
        self.params = params_of(res)
        self.features = {str(k): v for k, v in mapping(res, "features").items() if isinstance(v, pd.DataFrame)}

    def draw(self, section: str, stem: str, caption: str, fn: Callable[..., Any]) -> None:
        path = self.dir / f"{safe_name(stem)}.png"
        try:
            fig = fn(save=self.dir / safe_name(stem), svg=self.svg)
        except (MgTranscriptError, ValueError, KeyError, IndexError, TypeError) as exc:
            if self.on_error == "raise":
                raise
            msg = f"{stem}: {type(exc).__name__}: {exc}"
            logger.warning("figure not drawn: %s", msg)
            self.errors.append((section, msg))
            return
        if fig is not None:
            fig.clear()
        self.out.append((section, path, caption))

    # ---- per claim ---------------------------------------------------------------

    def claims(self) -> None:
        claims = table(self.res, "claims")
        ev = table(self.res, "claims_evidence")
        if claims.empty:
            return
        for _, c in claims.iterrows():
            if str(c.get("verdict", "")) == "not testable":
                continue
            cid = str(c["claim_id"])
            rows = ev[ev["claim_id"].astype(str) == cid] if not ev.empty else ev
            if not rows.empty:
                self.claim_forest(c, rows)
            self.claim_feature(c, rows)

    def claim_forest(self, claim: pd.Series, rows: pd.DataFrame) -> None:
        cid = str(claim["claim_id"])
        rows = rows[~rows["role"].astype(str).str.startswith("sensitivity")].copy()
        est = pd.to_numeric(rows["estimate"], errors="coerce")
        rows = rows[np.isfinite(est) & (rows["effect_kind"].astype(str).str.strip() != "")]  # "not applicable" rows
        if rows.empty:
            return
        kinds = list(pd.unique(rows["effect_kind"].astype(str)))
        for kind in kinds:
            sub = rows[rows["effect_kind"].astype(str) == kind]
            pooled_mask = sub["role"].astype(str) == "pooled"
            per = sub[~pooled_mask].copy()
            cohorts = set(per.loc[per["role"].astype(str) == "primary", "cohort"].astype(str))
            pooled = sub[pooled_mask].copy() if len(cohorts) >= 2 else sub.iloc[0:0].copy()
            if per.empty:
                continue
            multi_feature = per["feature"].astype(str).nunique() > 1
            def label(r):
                role = _ROLE_WORDS.get(str(r["role"]), "")
                if not role and str(r["role"]) not in ("primary", "pooled"):
                    role = str(r["role"])
                return str(r["cohort"]) + (f", {role}" if role else "")

            def feature_header(f):
                f = str(f)
                return set_label(f.split("~", 1)[1]) if "~" in f else set_label(f)

            per["label"] = [label(r) for _, r in per.iterrows()]
            per["feature_words"] = per["feature"].map(feature_header)
            per["_o"] = per["role"].map(lambda r: _ROLE_ORDER.get(str(r), 2))
            per = per.sort_values(["feature_words", "_o", "cohort"] if multi_feature else ["_o", "cohort"],
                                  kind="stable")
            if len(pooled):
                pooled["label"] = [f"pooled over {len(cohorts)} cohorts" for _, r in pooled.iterrows()]
            hr = kind.lower().startswith(("hr", "hazard"))
            feats = feature_words(claim.get("features", ""))
            xlab = f"{effect_words(kind)}, {contrast_words(claim.get('contrast', ''))} (95% CI)"
            if kind in ("rho", "r", "spearman_rho", "pearson_r"):
                xlab = f"{effect_words(kind)}: {feats} (95% CI)"
            title = f"{claim['claim_id']}: {feats}" + (
                f", {contrast_words(claim.get('contrast'))}" if contrast_parts(claim.get("contrast")) else "")
            stem = f"claim_{cid}_forest" + (f"_{kind}" if len(kinds) > 1 else "")
            n_pool = len(pooled)
            hollow = (~per["included"].astype(bool)).any() if "included" in per.columns else False
            cap = (f"**{cid}** — {effect_words(kind)} per cohort with 95% CI"
                   + (f"; diamond: pooled over {len(cohorts)} cohorts" if n_pool else
                      "; no pooled estimate (fewer than two cohorts)")
                   + ("; hollow grey rows are shown beside the verdict but not counted" if hollow else "") + ".")

            def fn(save, svg, per=per, pooled=pooled, hr=hr, xlab=xlab, title=title, multi=multi_feature):
                return pl.effect_forest(per, pooled=pooled if len(pooled) else None, null=1.0 if hr else 0.0,
                                        log=hr, effect_label=xlab, title=title,
                                        group="feature_words" if multi else None, save=save, svg=svg)

            self.draw(f"claim-{cid}", stem, cap, fn)

    def claim_feature(self, claim: pd.Series, rows: pd.DataFrame) -> None:
        cid = str(claim["claim_id"])
        contrast = str(claim.get("contrast", "") or "")
        feat = str(claim.get("features", "") or "")
        parts = contrast_parts(contrast)
        primary = rows[rows["role"].astype(str) == "primary"] if not rows.empty else rows
        cohorts = [c for c in pd.unique(primary["cohort"].astype(str))] if not primary.empty else [
            c for c in str(claim.get("cohorts", "") or "").split(";") if c]
        cohorts = [c for c in cohorts if c in self.features]
        if parts and feat and "~" not in feat:
            self.claim_box(cid, feat, parts, cohorts, contrast)
        elif contrast.startswith("trend:"):
            self.claim_trend(cid, feat, contrast.split(":", 1)[1], cohorts, primary)
        elif "~" in feat or contrast in ("coupling", "correlation"):
            self.claim_scatter(cid, claim, primary)
        elif contrast == "survival":
            self.claim_km(cid, feat, cohorts)

    def claim_box(self, cid: str, feat: str, parts, cohorts: list[str], contrast: str) -> None:
        column, group, ref = parts
        frames = []
        paired = False
        colour_by = None
        for acc in cohorts:
            df = self.features[acc]
            if feat not in df.columns or column not in df.columns:
                continue
            sub = df[df[column].astype(str).isin([group, ref])]
            if sub.empty:
                continue
            keep = {column: sub[column].astype(str), acc: pd.to_numeric(sub[feat], errors="coerce")}
            if "condition" in sub.columns and column != "condition":
                keep["condition"] = sub["condition"].astype(str)
                colour_by = "condition"
            if "pair_id" in sub.columns and sub["pair_id"].notna().any():
                keep["pair_id"] = sub["pair_id"].astype(str).radd(acc + ":")
                paired = True
            frames.append(pd.DataFrame(keep).set_axis([f"{acc}:{i}" for i in sub.index]))
        if not frames:
            return
        data = pd.concat(frames)
        if colour_by and "condition" not in data:
            colour_by = None
        if colour_by:
            data["condition"] = data["condition"].fillna(data[column])
        if paired:
            data["pair_id"] = data.get("pair_id")
        units = feature_units(feat, self.params)
        title = f"{cid}: {feature_words(feat)}, {contrast_words(contrast)}"
        cap = (f"**{cid}** — {feature_words(feat)} by {column} (y axis: {units}), each point a sample"
               + ("; points coloured by condition" if colour_by else "")
               + ("; grey lines join the two samples of a pair" if paired else "") + ".")
        accs = [f.columns[1] for f in frames]

        def fn(save, svg):
            return pl.scores(data, groupby=column, order=[ref, group], sets=accs, units=units,
                             colour_by=colour_by, paired_by="pair_id" if paired else None, ncols=4,
                             title=title, save=save, svg=svg)

        self.draw(f"claim-{cid}", f"claim_{cid}_feature", cap, fn)

    def claim_trend(self, cid: str, feat: str, by: str, cohorts: list[str], primary: pd.DataFrame) -> None:
        frames = []
        for acc in cohorts:
            df = self.features[acc]
            if feat in df.columns and by in df.columns:
                frames.append(pd.DataFrame({by: df[by], acc: pd.to_numeric(df[feat], errors="coerce")})
                              .set_axis([f"{acc}:{i}" for i in df.index]))
        if not frames:
            return
        data = pd.concat(frames)
        accs = [f.columns[1] for f in frames]
        stats = {}
        for _, r in primary.iterrows():
            if str(r["cohort"]) in accs:
                stats[str(r["cohort"])] = (f"{effect_words(r.get('effect_kind'))} = {fmt_num(r['estimate'], 2)}, "
                                           f"{p_eq('q', r.get('qval'))}")
        order = stage_order(data[by]) if not pd.api.types.is_numeric_dtype(data[by]) else None

        def fn(save, svg):
            return pl.trend(data, accs, by=by, order=order, units=feature_units(feat, self.params),
                            stats_text=stats, titles={a: a for a in accs},
                            title=f"{cid}: {feature_words(feat)} across {by.replace('_', ' ')}",
                            save=save, svg=svg)

        self.draw(f"claim-{cid}", f"claim_{cid}_trend",
                  f"**{cid}** — {feature_words(feat)} by {by.replace('_', ' ')}, each point a sample; "
                  "the black line joins the stage medians.", fn)

    def claim_scatter(self, cid: str, claim: pd.Series, primary: pd.DataFrame) -> None:
        cand = primary[primary["feature"].astype(str).str.contains("~")] if not primary.empty else primary
        if cand.empty:
            f = str(claim.get("features", ""))
            if "~" not in f:
                return
            cand = pd.DataFrame([{"cohort": c, "feature": f, "pval": np.nan}
                                 for c in str(claim.get("cohorts", "")).split(";") if c])
        cand = cand[cand["cohort"].astype(str).isin(list(self.features))]
        if cand.empty:
            return
        cand = cand.assign(_p=pd.to_numeric(cand.get("pval"), errors="coerce").fillna(1.0)).sort_values("_p")
        for _, r in cand.iterrows():
            acc = str(r["cohort"])
            x, y = str(r["feature"]).split("~", 1)
            df = self.features[acc]
            if x in df.columns and y in df.columns:
                break
        else:
            return
        group = "condition" if "condition" in df.columns else None
        est = r.get("estimate")
        stats = (f"{r.get('test', 'correlation')} — "
                 f"{effect_words(r.get('effect_kind', 'rho'))} = "
                 f"{fmt_est_ci(est, r.get('ci_low'), r.get('ci_high'))}, {p_eq('q', r.get('qval'))}, n = {r.get('n')}"
                 if not is_missing(est) else None)
        others = len(cand) - 1
        cap = (f"**{cid}** — {set_label(y)} vs {set_label(x)} in {acc} (the cohort and set with the smallest p "
               f"among the tests counted), coloured by condition with one fit per group"
               + (f"; the other {others} tests are in the forest plot" if others > 0 else "") + ".")

        def fn(save, svg):
            return pl.scatter(df, x, y, groupby=group, order=stage_order(df[group]) if group else None,
                              x_label=f"{set_label(x)}\n{feature_units(x, self.params)}",
                              y_label=f"{set_label(y)}\n{feature_units(y, self.params)}",
                              stats_text=stats, title=f"{cid} in {acc}: {set_label(y)} vs {set_label(x)}",
                              save=save, svg=svg)

        self.draw(f"claim-{cid}", f"claim_{cid}_scatter", cap, fn)

    def claim_km(self, cid: str, feat: str, cohorts: list[str]) -> None:
        km = mapping(self.res, "km")
        for acc in cohorts or list(km):
            t = km.get(acc)
            if not isinstance(t, pd.DataFrame) or t.empty:
                continue
            if "feature" in t.columns:
                t = t[t["feature"].astype(str) == feat]
                if t.empty:
                    continue
            self._km(f"claim-{cid}", f"claim_{cid}_km_{acc}", acc, feat, t, prefix=f"{cid}: ")

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
                              ncols=3, title=f"{acc}: Mg gene-set scores by condition", save=save, svg=svg))
            genes = gene_columns(df)
            if genes and "condition" in df.columns:
                self.draw("genes", f"heatmap_{acc}",
                          f"**{acc}** — Mg and key genes: mean per condition of each gene's z-score across samples "
                          f"(expression: {self.params.get('expression_units', 'log expression')}).",
                          lambda save, svg, df=df, genes=genes, acc=acc:
                          pl.heatmap(
                              df, genes, groupby="condition", order=stage_order(df["condition"]),
                              units=self.params.get("expression_units"), title=f"{acc}: Mg genes by condition",
                              save=save, svg=svg))
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
                self._km("survival", f"km_{acc}" + (f"_{f}" if f else ""), str(acc), f, sub)

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
        method = str(de["method"].iloc[0]) if "method" in de.columns and len(de) else str(self.params.get("de", ""))
        feats = self.features.get(acc)
        highlight = gene_columns(feats) if feats is not None else []
        self.draw("de", f"volcano_{acc}",
                  f"**{acc}** — differential expression, {words} ({method}); Mg and key genes circled and labelled; "
                  "coloured: q < 0.05.",
                  lambda save, svg: pl.volcano(
                      de, highlight=highlight, x_label=f"log2 fold change, {words}",
                      title=f"{acc}: {words}", save=save, svg=svg))

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
                          title=f"{acc}: {set_label(target)}, {contrast_words(contrast)}", save=save, svg=svg))

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
                     f"{p_eq('q', r.get('qval'))}, n = {r.get('n')}")
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
                          x_label=f"{set_label(x)}\n{feature_units(x, self.params)}",
                          y_label=f"{set_label(y)}\n{feature_units(y, self.params)}", stats_text=stats,
                          title=f"{acc}: {set_label(y)} vs {set_label(x)}", save=save, svg=svg))

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
                          df, feats, by=by, order=order, units=units_for(feats, self.params), stats_text=stats,
                          title=f"{acc}: trends across {by.replace('_', ' ')}", save=save, svg=svg))

    def _km(self, section: str, stem: str, acc: str, feat: str | None, t: pd.DataFrame, prefix: str = "") -> None:
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
                      t, stats_text=stats, title=f"{prefix}{acc}: overall survival by {what}", save=save, svg=svg))


def draw_figures(res: Any, figures_dir: str | Path, *, svg: bool = False, on_error: str = "warn",
                 errors: list | None = None) -> list[FigureEntry]:
    """Draw every figure of the report from an ``AnalysisResult``.

    Parameters
    ----------
    res
        The result (tables per :doc:`result_schema`); absent tables are skipped.
    figures_dir
        Folder for the files (created): ``<name>.png`` and, with ``svg=True``, ``<name>.svg``.
    svg
        Also write SVGs (the report always embeds the PNGs).
    on_error
        ``"warn"`` (default): a figure that cannot be drawn is logged and skipped (the
        report says so); ``"raise"``: the error propagates.
    errors
        A list that receives ``(section, message)`` for every figure not drawn.

    Returns
    -------
    list of (section, Path, caption)
        ``section`` is the report section id (``claim-<id>``, ``scores``, ``genes``,
        ``de``, ``enrichment``, ``coupling``, ``trends``, ``survival``).
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    d = _Drawer(res, Path(figures_dir), svg, on_error)
    d.dir.mkdir(parents=True, exist_ok=True)
    d.claims()
    d.cohorts()
    if errors is not None:
        errors.extend(d.errors)
    return d.out

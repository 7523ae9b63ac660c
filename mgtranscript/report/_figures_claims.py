"""The figures of the evidence per claim: a forest plot of its estimates, and the feature by group.

The feature is shown as a box plot (pairs joined), the scatter of a coupling, the stages of a
trend or the Kaplan-Meier curves of a survival claim. A mixin of
:class:`mgtranscript.report._figures._Drawer`, which provides ``res``, ``features``, ``params``,
``draw`` and ``_km``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mgtranscript import pl
from mgtranscript._words import feature_units, group_label, set_label
from mgtranscript.report._result import design_words, mapping, stage_order, table
from mgtranscript.report._format import (
    contrast_parts,
    contrast_words,
    effect_words,
    feature_words,
    fmt_est_ci,
    fmt_int,
    fmt_num,
    is_missing,
    p_eq,
)

#: Forest-plot row labels for evidence roles other than "primary", and their order.
_ROLE_WORDS = {"adjusted": "adjusted", "pooled (shown beside, not voted)": "pooled over groups"}
_ROLE_ORDER = {"primary": 0, "adjusted": 1}


def role_label(r: pd.Series) -> str:
    """A forest row's label: the cohort, and the role when it is not the primary estimate
    (``within hcc_nontumour only`` -> ``within HCC non-tumour only``)."""
    role = str(r["role"])
    words = _ROLE_WORDS.get(role, "")
    if not words and role not in ("primary", "pooled"):
        m = re.match(r"^within (.+) only$", role)
        words = f"within {group_label(m.group(1))} only" if m else role
    return str(r["cohort"]) + (f", {words}" if words else "")


def n_short(r: pd.Series) -> str:
    """n of a forest row as text: ``"50 pairs"`` for a paired comparison, else the number."""
    v = pd.to_numeric(pd.Series([r.get("n")]), errors="coerce").iloc[0]
    if not np.isfinite(v):
        return ""
    return f"{int(v):,} pairs" if str(r.get("design") or "").startswith("paired") else f"{int(v):,}"


def merge_identical(per: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Drop forest rows that repeat another feature's rows exactly (a mechanism with one gene set: the
    union of its sets IS that set). Returns the rows kept and feature -> the words of the one it equals."""
    if per["feature"].astype(str).nunique() < 2:
        return per, {}
    key = per.assign(_e=pd.to_numeric(per["estimate"], errors="coerce").round(6),
                     _l=pd.to_numeric(per["ci_low"], errors="coerce").round(6),
                     _h=pd.to_numeric(per["ci_high"], errors="coerce").round(6))
    sig = {f: frozenset(zip(g["cohort"].astype(str), g["_e"], g["_l"], g["_h"]))
           for f, g in key.groupby(key["feature"].astype(str), sort=False)}
    feats = list(sig)
    same: dict[str, str] = {}
    drop: set[str] = set()
    for i, a in enumerate(feats):
        if a in drop:
            continue
        for b in feats[i + 1:]:
            if b not in drop and sig[b] and sig[b] <= sig[a]:
                drop.add(b)
                bw = set_label(b.split("~", 1)[1]) if "~" in b else set_label(b)
                same[a] = f"{same[a]}, {bw}" if a in same else bw
    return per[~per["feature"].astype(str).isin(drop)], same


class _ClaimFigures:
    """Per testable claim: forest plot and the feature itself (box, trend, scatter or KM)."""

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
            per, same = merge_identical(per)
            multi_feature = per["feature"].astype(str).nunique() > 1 or bool(same)  # a header says what merged

            def feature_header(f):
                f = str(f)
                words = set_label(f.split("~", 1)[1]) if "~" in f else set_label(f)
                return f"{words} = {same[f]}" if f in same else words

            per["label"] = [role_label(r) for _, r in per.iterrows()]
            per["n_txt"] = [n_short(r) for _, r in per.iterrows()]
            if len(pooled):
                pooled["n_txt"] = [n_short(r) for _, r in pooled.iterrows()]
            per["feature_words"] = per["feature"].map(feature_header)
            per["_o"] = per["role"].map(lambda r: _ROLE_ORDER.get(str(r), 2))
            counted = set(per.loc[per["role"].astype(str) == "primary", "feature_words"])
            per["_g"] = (~per["feature_words"].isin(counted)).astype(int)  # the feature voted on first
            per = per.sort_values(["_g", "feature_words", "_o", "cohort"] if multi_feature else ["_o", "cohort"],
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

            narrow = not multi_feature and per["label"].astype(str).str.len().max() <= 24

            def fn(save, svg, per=per, pooled=pooled, hr=hr, xlab=xlab, title=title, multi=multi_feature,
                   narrow=narrow):
                return pl.effect_forest(per, pooled=pooled if len(pooled) else None, null=1.0 if hr else 0.0,
                                        log=hr, effect_label=xlab, title=title, n="n_txt",
                                        width=6.3 if narrow else None,
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
        sym = {"spearman_rho": "ρ", "rho": "ρ", "pearson_r": "r", "r": "r"}.get(str(r.get("effect_kind", "rho")),
                                                                              "ρ")
        how = design_words(r.get("design")) if not is_missing(r.get("design")) else ""
        stats = (f"{'Spearman ' if sym == 'ρ' else 'Pearson '}{sym}{' ' + how if how else ''} = "
                 f"{fmt_est_ci(est, r.get('ci_low'), r.get('ci_high'))}, {p_eq('q', r.get('qval'))}, "
                 f"n = {fmt_int(r.get('n'))}" if not is_missing(est) else None)
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

"""The default analysis plan: ``mgtranscript run``.

For every catalog cohort it can obtain (downloading what is missing, or reading
``MGTRANSCRIPT_MIRROR``), the plan:

1. loads the cohort with harmonised labels (:func:`mgtranscript.datasets.load_cohort`);
2. scores the bundled Mg sub-sets and the review's mechanism sets per sample
   (ssGSEA by default) and the signed influx-minus-efflux balance;
3. compares every condition with the cohort's reference, and each disease with its
   controls (paired where the design is paired), for the scores and the Mg genes; tests
   ordered trends across stages; runs limma (log data) for the main contrast and GSEA
   prerank of its moderated t on the Mg and mechanism sets, ORA of the DE genes against the
   cohort's measured genes; correlates Mg scores with mechanism scores;
4. pools per-cohort effects by random-effects meta-analysis per contrast;
5. gives every claim in ``seeds/claims.tsv`` a verdict;
6. writes tables (TSV), plots (PNG + SVG) and one self-contained HTML report.

Cohorts that cannot be obtained are reported with the reason, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MgTranscriptError

logger = logging.getLogger(__name__)

__all__ = ["run_analysis", "analyse_cohort", "AnalysisResult", "find_sample_sheet", "DEFAULT_COHORTS"]

#: Cohorts the default plan tries, in order (all catalog GEO cohorts; TCGA needs the GDC).
DEFAULT_COHORTS = ("GSE126848", "GSE135251", "GSE77314", "GSE142530", "GSE28619", "TCGA-LIHC")

#: Single Mg genes compared gene by gene in every cohort.
KEY_GENES = ("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2",
             "PTP4A1", "PTP4A2", "PTP4A3", "ARL15", "KLRK1")


@dataclass
class AnalysisResult:
    """Every table the plan produces (tidy DataFrames) plus file paths."""

    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    sample_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)
    de: dict[str, pd.DataFrame] = field(default_factory=dict)
    gsea: pd.DataFrame = field(default_factory=pd.DataFrame)
    ora: pd.DataFrame = field(default_factory=pd.DataFrame)
    coupling: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta_weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[tuple[str, Path, str]] = field(default_factory=list)  # (section, png path, caption)
    inputs: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    out_dir: Path | None = None
    report: Path | None = None


def find_sample_sheet(accession: str, search: list[Path] | None = None) -> Path | None:
    """A user sample sheet for ``accession``: ``<dir>/<ACC>*.csv|tsv|txt``.

    Directories searched, in order: ``search``; ``$MGTRANSCRIPT_SAMPLES``; and, when
    ``MGTRANSCRIPT_MIRROR`` is a directory, a ``samples/`` folder beside it (the layout of
    a shared data folder holding ``mirror/`` and ``samples/``).
    """
    dirs: list[Path] = list(search or [])
    env = os.environ.get("MGTRANSCRIPT_SAMPLES")
    if env:
        dirs.append(Path(env))
    mirror = os.environ.get("MGTRANSCRIPT_MIRROR", "")
    if mirror and not mirror.startswith(("http://", "https://")):
        dirs.append(Path(mirror).expanduser().resolve().parent / "samples")
    for d in dirs:
        if d.is_file() and d.name.upper().startswith(accession.upper()):
            return d
        if d.is_dir():
            for ext in ("csv", "tsv", "txt"):
                hits = sorted(d.glob(f"{accession}*.{ext}"))
                if hits:
                    return hits[0]
    return None


def _label_counts(adata) -> dict[str, int]:
    if "condition" not in adata.obs:
        return {}
    return {str(k): int(v) for k, v in adata.obs["condition"].value_counts().items()}


def _contrasts(adata, accession: str) -> list[dict]:
    """Within-cohort contrasts from the catalog: condition vs reference, disease vs control."""
    from .datasets import cohort_info

    info = cohort_info(accession)
    obs = adata.obs
    out = []
    conds = [c for c in obs.get("condition", pd.Series(dtype=str)).astype(str).unique()
             if c not in ("unlabelled", "nan")]
    ref = info.get("reference") or info.get("reference_condition")
    paired = str(info.get("design", "")).startswith("paired") and "pair_id" in obs
    if ref and ref in conds:
        for c in conds:
            if c != ref:
                out.append({"groupby": "condition", "group": c, "reference": ref,
                            "paired_by": "pair_id" if paired else None})
    dis = obs.get("disease", pd.Series(dtype=str)).astype(str)
    if "control" in set(dis):
        for d in sorted(set(dis) - {"control", "unlabelled", "nan"}):
            out.append({"groupby": "disease", "group": d, "reference": "control", "paired_by": None})
    return out


def _stage_order(accession: str) -> list[str] | None:
    from .datasets import condition_order

    try:
        order = condition_order(accession)
    except Exception:  # noqa: BLE001 - a cohort without an order has no trend
        return None
    return list(order) if order else None


def analyse_cohort(adata, accession: str, *, method: str = "ssgsea", mechanisms=None,
                   permutations: int = 1000, seed: int = 0, figures_dir: Path | None = None,
                   result: AnalysisResult) -> None:
    """Run steps 2-3 of the plan on one labelled cohort, appending to ``result``."""
    from . import pl, tl
    from .genesets import load as load_sets

    mg = load_sets("magnesium")
    mg_key, mech_key = "mg_" + method, "mech_" + method
    tl.score(adata, mg, method=method, key_added=mg_key)
    tl.mg_balance(adata, key_added="mg_balance")
    cov = adata.uns[mg_key]["coverage"]
    cov = cov if isinstance(cov, pd.DataFrame) else pd.DataFrame(cov)
    cov = cov.reset_index().rename(columns={"index": "set"}).assign(cohort=accession)
    result.coverage = pd.concat([result.coverage, cov], ignore_index=True)
    if mechanisms is not None:
        tl.score(adata, mechanisms, method=method, key_added=mech_key)
    adata.obsm[mg_key].assign(mg_balance=adata.obs["mg_balance"]).to_csv(
        result.out_dir / "tables" / f"scores_{accession}.tsv", sep="\t") if result.out_dir else None

    genes = [g for g in KEY_GENES if g in adata.var_names]
    comps = []
    for k in _contrasts(adata, accession):
        tag = f"{k['groupby']}:{k['group']}|{k['reference']}"
        key = "cmp_" + tag
        df = tl.compare(adata, groupby=k["groupby"], reference=k["reference"], groups=[k["group"]],
                        keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"],
                        key_added=key, copy=False)
        table = adata.uns[key] if df is None else df
        table = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        comps.append(table.assign(cohort=accession, contrast=tag, paired=bool(k["paired_by"])))
    if comps:
        result.comparisons = pd.concat([result.comparisons, *comps], ignore_index=True)

    # ordered trends: conditions in stage order, and fibrosis stage when recorded
    order = _stage_order(accession)
    trend_specs = []
    if order and "condition" in adata.obs and sum(o in set(adata.obs["condition"]) for o in order) >= 3:
        trend_specs.append(("condition", order))
    if "fibrosis_stage" in adata.obs and adata.obs["fibrosis_stage"].astype(float).notna().sum() >= 6:
        trend_specs.append(("fibrosis_stage", None))
    for by, ordr in trend_specs:
        key = f"trend_{by}"
        df = tl.trend(adata, by=by, order=ordr, keys=[mg_key, "mg_balance"], genes=genes, key_added=key)
        table = adata.uns[key] if df is None else df
        table = pd.DataFrame(table).assign(cohort=accession)
        if "by" not in table:
            table["by"] = by
        result.trends = pd.concat([result.trends, table], ignore_index=True)

    # DE for the main contrast (first condition contrast, else first disease contrast)
    main = _main_contrast(adata, accession)
    if main is not None:
        # genes with too few reads to test (edgeR filterByExpr) are left out of DE, GSEA and ORA
        de_input = adata
        if "counts" in adata.layers:
            from . import pp

            keep = pp.expressed_genes(adata, group=main["groupby"])
            de_input = adata[:, keep].copy()
            result.params.setdefault("de_filter", "edgeR filterByExpr (defaults) on the contrast's groups")
        de = tl.de(de_input, groupby=main["groupby"], group=main["group"], reference=main["reference"],
                   method="limma", paired_by=main["paired_by"], key_added="de")
        de = de_input.uns["de"] if de is None else de
        de = pd.DataFrame(de)
        tag = f"{main['groupby']}:{main['group']}|{main['reference']}"
        result.de[accession] = de.assign(cohort=accession, contrast=tag)
        ranking = de.set_index("gene")["stat"].dropna()
        sets = dict(mg)
        if mechanisms is not None:
            sets.update(dict(mechanisms))
        g = tl.gsea_prerank(ranking, sets, permutations=permutations, seed=seed, min_size=2)
        result.gsea = pd.concat([result.gsea, g.assign(cohort=accession, contrast=tag)], ignore_index=True)
        sig = de.loc[de["padj"] < 0.05, "gene"].tolist()
        if sig:
            o = tl.ora(sig, mg, universe=list(de_input.var_names))
            result.ora = pd.concat([result.ora, o.assign(cohort=accession, contrast=tag,
                                                         n_de=len(sig))], ignore_index=True)
        if figures_dir is not None:
            stem = figures_dir / f"volcano_{accession}"
            pl.volcano(de, highlight=[x for x in genes], save=str(stem))
            result.figures.append(("comparisons", Path(f"{stem}.png"),
                                   f"{accession}: limma {tag}; Mg genes labelled"))
            top = g.sort_values("pval").iloc[0] if len(g) else None
            target = "MG_EFFLUX_EXCHANGE" if "MG_EFFLUX_EXCHANGE" in set(g.get("set", [])) else (
                top["set"] if top is not None else None)
            if target:
                stem = figures_dir / f"gsea_{accession}_{target}"
                row = g[g["set"] == target].iloc[0] if (g["set"] == target).any() else None
                pl.gsea(ranking, list(sets[target]), result_row=row, title=f"{accession} {target}", save=str(stem))
                result.figures.append(("enrichment", Path(f"{stem}.png"),
                                       f"{accession}: GSEA running sum of {target} on the limma t ({tag})"))

    if mechanisms is not None:
        key = "coupling"
        df = tl.coupling(adata, mg_key=mg_key, mechanism_key=mech_key, key_added=key)
        table = pd.DataFrame(adata.uns[key] if df is None else df).assign(cohort=accession)
        table = table.rename(columns={"r": "rho"})
        result.coupling = pd.concat([result.coupling, table], ignore_index=True)

    # gene-gene correlations named by claims (e.g. MAGT1 ~ KLRK1), also adjusted for cell
    # composition with a marker proxy (PTPRC: immune content), as the claims' cautions ask
    from .claims import load_claims

    rows = []
    for feat in load_claims().query("feature_kind == 'correlation'")["features"]:
        x, _, y = feat.partition("~")
        if x in adata.var_names and y in adata.var_names:
            for proxy in ("", *[g for g in COMPOSITION_PROXIES if g in adata.var_names and g not in (x, y)]):
                rho, p, n = _spearman(_gene(adata, x), _gene(adata, y), _gene(adata, proxy) if proxy else None)
                rows.append({"cohort": accession, "feature_x": x, "feature_y": y, "adjusted_for": proxy,
                             "rho": rho, "pval": p, "n": n})
    if rows:
        result.correlations = pd.concat([result.correlations, pd.DataFrame(rows)], ignore_index=True)

    if figures_dir is not None:
        order = _stage_order(accession)
        paired = "pair_id" if "pair_id" in adata.obs else None
        stem = figures_dir / f"scores_{accession}"
        pl.scores(adata, mg_key, groupby="condition", order=_present(order, adata), kind="box",
                  paired_by=paired, save=str(stem))
        result.figures.append(("comparisons", Path(f"{stem}.png"),
                               f"{accession}: Mg sub-set {method} scores by condition"))
        hm_genes = [g for g in mg.get("MG_LIVER_CORE", ()) if g in adata.var_names]
        hm_genes += [g for g in genes if g not in hm_genes]
        stem = figures_dir / f"heatmap_{accession}"
        pl.heatmap(adata, hm_genes, groupby="condition", save=str(stem))
        result.figures.append(("comparisons", Path(f"{stem}.png"),
                               f"{accession}: Mg genes across conditions (group means of z-scored log expression)"))
        if mechanisms is not None and "MG_EFFLUX_EXCHANGE" in adata.obsm[mg_key]:
            mech_cols = list(adata.obsm[mech_key].columns)
            target = next((s for s in mech_cols if "INFLAMMATORY" in s.upper()), mech_cols[0] if mech_cols else None)
            if target:
                stem = figures_dir / f"scatter_{accession}"
                pl.scatter(adata, mg_key, mech_key, x_set="MG_EFFLUX_EXCHANGE", y_set=target,
                           groupby="condition", save=str(stem))
                result.figures.append(("enrichment", Path(f"{stem}.png"),
                                       f"{accession}: Mg efflux score vs {target}"))


#: Marker genes used as cell-composition proxies for partial correlations (immune content).
COMPOSITION_PROXIES = ("PTPRC",)


def _gene(adata, gene: str) -> np.ndarray:
    return np.asarray(adata[:, gene].X, dtype=float).ravel()


def _spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None) -> tuple[float, float, int]:
    """Spearman rho and p of x and y; with ``z``, the partial rho given z (ranks residualised).

    The p-value of the partial coefficient uses a t distribution with n - 3 degrees of freedom.
    """
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y) & (np.isfinite(z) if z is not None else True)
    rx, ry = stats.rankdata(x[ok]), stats.rankdata(y[ok])
    n = int(ok.sum())
    if z is None:
        rho, p = stats.spearmanr(rx, ry)
        return float(rho), float(p), n
    design = np.column_stack([np.ones(n), stats.rankdata(z[ok])])
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    r = float(np.corrcoef(res_x, res_y)[0, 1])
    df = n - 3
    t = r * np.sqrt(df / max(1e-300, 1 - r * r))
    return r, float(2 * stats.t.sf(abs(t), df)), n


def _present(order, adata):
    if not order or "condition" not in adata.obs:
        return None
    have = set(adata.obs["condition"].astype(str))
    out = [o for o in order if o in have]
    out += sorted(have - set(out))
    return out


def _main_contrast(adata, accession: str) -> dict | None:
    ks = _contrasts(adata, accession)
    if not ks:
        return None
    # prefer the most advanced stage vs the reference (e.g. NASH vs healthy, tumour vs non-tumour)
    order = _stage_order(accession) or []
    cond = [k for k in ks if k["groupby"] == "condition"]
    if cond:
        cond.sort(key=lambda k: order.index(k["group"]) if k["group"] in order else -1)
        return cond[-1]
    return ks[0]


def _bh(p: pd.Series) -> pd.Series:
    from .tl._stats import bh

    return pd.Series(bh(p.to_numpy(dtype=float)), index=p.index)


def run_analysis(
    out: str | Path = "out",
    *,
    cohorts: list[str] | tuple[str, ...] | None = None,
    samples: dict[str, str | Path] | None = None,
    method: str = "ssgsea",
    permutations: int = 1000,
    seed: int = 0,
    plots: bool = True,
    report: bool = True,
    progress: bool | None = None,
) -> AnalysisResult:
    """Run the default analysis plan end to end and write tables, plots and the report.

    Parameters
    ----------
    out
        Output directory (created): ``report.html``, ``tables/*.tsv``,
        ``figures/*.png|svg``, ``provenance.json``.
    cohorts
        Accessions to try (default :data:`DEFAULT_COHORTS`).
    samples
        Accession -> user sample sheet; otherwise :func:`find_sample_sheet` looks for one.
    method
        Scoring method for the Mg and mechanism sets.
    permutations
        GSEA prerank permutations.
    seed
        Random seed (GSEA).
    plots, report
        Write figures / the HTML report.
    progress
        Show a progress bar over cohorts (default: on when stderr is a terminal).

    Returns
    -------
    AnalysisResult
    """
    from tqdm.auto import tqdm

    from . import datasets
    from .claims import evaluate_claims
    from .tl import meta_analysis
    from .tl.enrich import mechanism_sets

    t0 = time.monotonic()
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    figs = out / "figures"
    if plots:
        figs.mkdir(parents=True, exist_ok=True)
    res = AnalysisResult(out_dir=out)
    res.params = {"method": method, "permutations": permutations, "seed": seed,
                  "gene_sets": "magnesium (bundled)", "mechanisms": "MSigDB Hallmark 7.0 + Reactome 7.0",
                  "de": "limma moderated t (log expression)", "meta": "random effects, REML",
                  "alpha": 0.05}
    samples = dict(samples or {})
    cohorts = list(cohorts or DEFAULT_COHORTS)
    cat = datasets.catalog().set_index("accession")
    try:
        mechanisms = mechanism_sets()
    except MgTranscriptError as exc:
        logger.warning("mechanism gene sets unavailable (%s); mechanism analyses skipped", exc)
        mechanisms = None
    status_rows, count_rows = [], []
    show = progress if progress is not None else None
    for acc in tqdm(cohorts, desc="cohorts", disable=(show is False), leave=True):
        area = str(cat.loc[acc, "disease_area"]) if acc in cat.index else ""
        sheet = samples.get(acc) or find_sample_sheet(acc)
        row = {"accession": acc, "disease_area": area, "status": "", "reason": "", "n_samples": 0,
               "sample_sheet": str(sheet or "")}
        try:
            adata = datasets.load_cohort(acc, samples=sheet)
        except MgTranscriptError as exc:
            msg = str(exc).splitlines()[0]
            try:  # metadata may still be available (e.g. a series matrix without counts)
                meta_only = datasets.load_cohort(acc, samples=sheet, metadata_only=True)
                row.update(status="metadata only", reason=msg, n_samples=meta_only.n_obs)
                count_rows += [{"accession": acc, "condition": k, "n": v}
                               for k, v in _label_counts(meta_only).items()]
            except Exception as exc2:  # noqa: BLE001 - reported, never fatal
                row.update(status="unavailable", reason=msg if str(exc2) == str(exc) else msg)
            logger.warning("%s: %s", acc, msg)
            status_rows.append(row)
            continue
        res.inputs += [dict(f, cohort=acc) for f in _inputs_of(adata)]
        row["n_samples"] = adata.n_obs
        count_rows += [{"accession": acc, "condition": k, "n": v} for k, v in _label_counts(adata).items()]
        labelled = adata.obs.get("condition", pd.Series("unlabelled", index=adata.obs_names)).astype(str)
        if (labelled == "unlabelled").all():
            row.update(status="no labels", reason="no sample matched a catalog label rule; pass a sample sheet")
            status_rows.append(row)
            continue
        try:
            analyse_cohort(adata, acc, method=method, mechanisms=mechanisms, permutations=permutations,
                           seed=seed, figures_dir=figs if plots else None, result=res)
            row.update(status="analysed")
        except MgTranscriptError as exc:
            row.update(status="failed", reason=str(exc).splitlines()[0])
            logger.error("%s: analysis failed: %s", acc, exc)
        except Exception as exc:  # noqa: BLE001 - one cohort's bug must not sink the run
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
            logger.error("%s: analysis failed:\n%s", acc, traceback.format_exc())
        status_rows.append(row)
    for acc in cat.index:  # catalog cohorts not asked for still explain untestable claims
        if acc not in cohorts:
            status_rows.append({"accession": acc, "disease_area": str(cat.loc[acc, "disease_area"]),
                                "status": "not requested", "reason": "not in --cohorts", "n_samples": 0,
                                "sample_sheet": ""})
    res.cohorts = pd.DataFrame(status_rows)
    res.sample_counts = pd.DataFrame(count_rows, columns=["accession", "condition", "n"])

    # BH across all tests of the run
    if not res.comparisons.empty:
        res.comparisons["qval"] = _bh(res.comparisons["t_pval"])
    for name in ("trends", "coupling", "correlations"):
        df = getattr(res, name)
        if not df.empty and "pval" in df:
            df["qval"] = _bh(df["pval"])
    if not res.comparisons.empty:
        eff = res.comparisons.copy()
        m = meta_analysis(eff, by=("contrast", "feature"), cohort="cohort", method="REML",
                          return_weights=True)
        m, w = (m, pd.DataFrame()) if isinstance(m, pd.DataFrame) else m
        res.meta, res.meta_weights = m, w
        if plots:
            _forest(res, eff, m, figs)
    res.claims = evaluate_claims(comparisons=res.comparisons, trends=res.trends, coupling=res.coupling,
                                 correlations=res.correlations, meta=res.meta, cohorts=res.cohorts)
    _write_tables(res, out)
    res.params["seconds"] = round(time.monotonic() - t0, 1)
    _write_provenance(res, out)
    if report:
        res.report = _write_report(res, out)
    return res


#: Disease-level contrasts shown side by side in the forest plot, and their panel names.
FOREST_CONTRASTS = {
    "disease:MASLD|control": "MASLD",
    "disease:ALD|control": "ALD",
    "condition:hcc_tumour|hcc_nontumour": "HCC",
}
FOREST_FEATURES = ("MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "mg_balance", "CNNM4", "SLC41A1", "TRPM7", "MAGT1")


def _forest(res: AnalysisResult, eff: pd.DataFrame, pooled: pd.DataFrame, figs: Path) -> None:
    """Forest plot: MASLD vs ALD vs HCC side by side, per-cohort effects and the pooled one."""
    from . import pl

    per = eff[eff["contrast"].isin(FOREST_CONTRASTS) & eff["feature"].isin(FOREST_FEATURES)]
    if per.empty:
        return
    per = per.drop(columns=["group"]).assign(group=per["contrast"].map(FOREST_CONTRASTS))
    pool = pooled[pooled["contrast"].isin(FOREST_CONTRASTS) & pooled["feature"].isin(FOREST_FEATURES)]
    pool = pool.drop(columns=[c for c in ("group",) if c in pool]).assign(
        group=pool["contrast"].map(FOREST_CONTRASTS))
    stem = figs / "forest"
    pl.forest(per, pool, features=[f for f in FOREST_FEATURES if f in set(per["feature"])], save=str(stem))
    res.figures.append(("meta-analysis", Path(f"{stem}.png"),
                        "Hedges' g (95% CI) per cohort and random-effects pooled (REML), disease vs "
                        "reference: MASLD vs control, ALD vs control, HCC tumour vs matched non-tumour"))


def _inputs_of(adata) -> list[dict]:
    """Input files recorded by the loaders in ``uns`` (public URL + sha256)."""
    found = []

    def walk(x):
        if isinstance(x, dict):
            if "sha256" in x and ("url" in x or "path" in x):
                found.append({"url": str(x.get("url", x.get("path"))), "sha256": str(x["sha256"])})
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(dict(adata.uns))
    seen, out = set(), []
    for f in found:
        if f["url"] not in seen:
            seen.add(f["url"])
            out.append(f)
    return out


def _write_tables(res: AnalysisResult, out: Path) -> None:
    t = out / "tables"
    for name in ("cohorts", "sample_counts", "coverage", "comparisons", "trends", "gsea", "ora",
                 "coupling", "correlations", "meta", "claims"):
        df = getattr(res, name)
        df.to_csv(t / f"{name}.tsv", sep="\t", index=False)
    if not res.meta_weights.empty:
        res.meta_weights.to_csv(t / "meta_weights.tsv", sep="\t", index=False)
    for acc, df in res.de.items():
        df.to_csv(t / f"de_{acc}.tsv", sep="\t", index=False)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mgtranscript", "numpy", "scipy", "pandas", "anndata", "scanpy", "gseapy", "statsmodels",
                "matplotlib", "requests"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _write_provenance(res: AnalysisResult, out: Path) -> None:
    from .fetch import cache_entries

    # every file the run read from the cache (the loaders record theirs; gene sets etc. too)
    entries = {e["url"]: e["sha256"] for e in cache_entries() if e["url"]}
    inputs = {f["url"]: f["sha256"] for f in res.inputs}
    inputs.update(entries)
    prov = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cohorts": res.cohorts.to_dict("records"),
        "inputs": [{"url": u, "sha256": h} for u, h in sorted(inputs.items())],
        "versions": _versions(),
        "params": res.params,
        "mirror": os.environ.get("MGTRANSCRIPT_MIRROR", ""),
    }
    res.params["inputs"] = prov["inputs"]
    (out / "provenance.json").write_text(json.dumps(prov, indent=1, default=str))


def _cols(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return df[[c for c in cols if c in df.columns]] if not df.empty else df


def _write_report(res: AnalysisResult, out: Path) -> Path:
    """The HTML report: curated, readable views of the tables (full tables are in tables/)."""
    from .report import build_report

    figs: dict[str, list] = {}
    for section, path, caption in res.figures:
        if path.exists():
            figs.setdefault(section, []).append((path, caption))
    prov = json.loads((out / "provenance.json").read_text())
    cohorts = res.cohorts.copy()
    if not cohorts.empty:
        cohorts["reason"] = cohorts["reason"].fillna("").astype(str).map(
            lambda r: r if len(r) <= 400 else r[:399] + "…")
    comp = res.comparisons
    if not comp.empty:
        comp = comp.sort_values(["cohort", "contrast", "qval"])
    comp = _cols(comp, ["cohort", "contrast", "feature", "kind", "n_group", "n_ref", "diff", "hedges_g",
                        "g_ci_low", "g_ci_high", "auroc", "t_pval", "u_pval", "qval"]).reset_index(drop=True)
    main_rows = comp[comp["feature"].isin(["MG_EFFLUX_EXCHANGE", "MG_LIVER_CORE", "mg_balance", "CNNM4",
                                           "SLC41A1", "TRPM7", "MAGT1"])] if not comp.empty else comp
    cov = _cols(res.coverage, ["cohort", "set", "n_genes", "n_matched", "n_resolved_by_alias", "final_size",
                               "kept", "missing", "resolved"])
    gsea = res.gsea.sort_values("pval") if not res.gsea.empty else res.gsea
    gsea = _cols(gsea, ["cohort", "contrast", "set", "size", "es", "nes", "pval", "fdr", "qval",
                        "leading_edge"]).reset_index(drop=True)
    coup = res.coupling.sort_values("qval") if not res.coupling.empty else res.coupling
    coup = _cols(coup, ["cohort", "mg_set", "mechanism", "mechanism_set", "rho", "pval", "qval",
                        "n"]).reset_index(drop=True)
    meta = _cols(res.meta, ["contrast", "feature", "k", "pooled", "ci_low", "ci_high", "pval", "qval", "tau2",
                            "I2", "cohorts", "n_total"])
    claims = _cols(res.claims, ["claim_id", "disease", "features", "contrast", "expected_direction", "verdict",
                                "effect_kind", "effect", "ci_low", "ci_high", "qval", "cohorts", "n", "reason"])
    provenance = {
        "accessions": [str(a) for a in res.cohorts.get("accession", [])],
        "files": {f["url"]: f["sha256"] for f in prov.get("inputs", [])},
        "date": prov.get("date"),
        "versions": prov.get("versions", {}),
        "mirror": prov.get("mirror", ""),
    }
    rep = build_report(
        cohorts=cohorts, sample_counts=res.sample_counts, coverage=cov,
        comparisons={"Mg sub-set scores and key genes (all contrasts)": main_rows,
                     "Every comparison (see tables/comparisons.tsv)": comp},
        enrichment={"GSEA prerank of the limma t (Mg and mechanism sets)": gsea,
                    "ORA of DE genes (q < 0.05) in Mg sets; universe = measured genes": res.ora,
                    "Mg score vs mechanism score coupling (Spearman, BH q)": coup},
        meta=meta,
        claims=claims,
        provenance=provenance, figures=figs, params={k: v for k, v in res.params.items() if k != "inputs"},
        max_rows=80,
    )
    return rep.write(out / "report.html")

"""The default analysis plan: ``mgtranscript run``.

For every catalog cohort it can obtain (downloading what is missing, or reading the
mirror, ``settings.mirror``), the plan:

1. loads the cohort with harmonised labels (:func:`mgtranscript.datasets.load_cohort`);
2. scores the bundled Mg sub-sets, the review's mechanism sets (each set and their union per
   mechanism) and liver cell-type composition per sample (ssGSEA by default), and the signed
   influx-minus-efflux balance;
3. audits the design of each contrast (:func:`mgtranscript.tl.design_check`: depth, TMM
   factor, top-gene share, genetic sex, age, sequencing batches, pair checks);
4. compares every condition with the cohort's reference and each disease with its controls
   (paired on matched pairs where the design is paired), and the contrasts the claims name;
   tests ordered trends; runs voom (counts) or limma (arrays) for the main contrast, GSEA
   prerank of its moderated t and ORA of its DE genes; correlates Mg scores with mechanism
   scores **within** conditions (pair-aware), and gene pairs named by claims; fits survival
   models where follow-up is recorded;
5. re-derives each claim's estimates under alternative analyses (normalisation, scoring
   method, DE method, pairing, control definition, composition adjustment);
6. judges every claim in ``seeds/claims.tsv`` (:mod:`mgtranscript.claims`) and pools
   per-cohort effects by random effects only where k >= 2;
7. writes tables (TSV), figures (PNG; SVG on request) and one self-contained HTML report
   (:mod:`mgtranscript.report`) into ``out`` as one transaction: a failed run leaves the
   previous output as it was.

Cohorts that cannot be obtained are reported with the reason, never fatal.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._provenance import bundled_inputs, file_input, inputs_of, write_provenance
from .datasets import format_counts
from .errors import LabelsMissing, MgTranscriptError, UsageError
from .plan import KEY_GENES, analyse_cohort, cell_effects

logger = logging.getLogger(__name__)

__all__ = ["run_analysis", "analyse_cohort", "AnalysisResult", "find_sample_sheet", "check_arguments",
           "DEFAULT_COHORTS", "KEY_GENES"]

#: Cohorts the default plan tries, in order (all bundled catalog cohorts; TCGA needs the GDC). The array
#: cohorts GSE48452 ... GSE36376 are not in the offline mirror: there they are "unavailable" in a moment.
DEFAULT_COHORTS = ("GSE126848", "GSE167523", "GSE135251", "GSE77314", "GSE142530", "GSE28619", "GSE48452",
                   "GSE89632", "GSE14520", "GSE76427", "GSE36376", "TCGA-LIHC")



@dataclass
class AnalysisResult:
    """Every table the plan produces (tidy DataFrames), per-cohort data for figures, and paths.

    The fields and their columns are the contract between the pipeline and
    :mod:`mgtranscript.report`; ``tables/*.tsv`` hold the same tables.
    """

    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    sample_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    features: dict[str, pd.DataFrame] = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)
    de: dict[str, pd.DataFrame] = field(default_factory=dict)
    de_contrast: dict[str, str] = field(default_factory=dict)
    rankings: dict[str, pd.Series] = field(default_factory=dict)
    gene_sets: dict[str, list[str]] = field(default_factory=dict)
    gsea: pd.DataFrame = field(default_factory=pd.DataFrame)
    ora: pd.DataFrame = field(default_factory=pd.DataFrame)
    coupling: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    design: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    survival: pd.DataFrame = field(default_factory=pd.DataFrame)
    km: dict[str, pd.DataFrame] = field(default_factory=dict)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims_evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[tuple[str, Path, str]] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    out_dir: Path | None = None
    report: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def append(self, name: str, table: pd.DataFrame | list[dict]) -> None:
        """Append rows to one of the tidy tables."""
        df = pd.DataFrame(table) if isinstance(table, list) else table
        if df is None or len(df) == 0:
            return
        cur = getattr(self, name)
        setattr(self, name, df.reset_index(drop=True) if cur.empty else pd.concat([cur, df], ignore_index=True))


def find_sample_sheet(accession: str, search: list[Path] | None = None) -> Path | None:
    """A user sample sheet for ``accession``: ``<dir>/<ACC>*.csv|tsv|txt``.

    Directories searched, in order: ``search``; ``settings.samples_dir``
    (``MGTRANSCRIPT_SAMPLES``); and, when ``settings.mirror`` is a directory, a ``samples/``
    folder beside it (the layout of a shared data folder holding ``mirror/`` and ``samples/``).
    """
    from ._settings import settings

    dirs: list[Path] = list(search or [])
    if settings.samples_dir is not None:
        dirs.append(settings.samples_dir)
    mirror = settings.mirror
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


def check_arguments(*, cohorts=None, samples=None, method: str = "ssgsea", permutations: int = 1000,
                    catalog=None) -> list[str]:
    """Validate the arguments of :func:`run_analysis` before any work; returns the cohorts.

    Raises
    ------
    UsageError
        Unknown scoring method or cohort, a sample sheet that does not exist, cannot be read or
        names a cohort that is not analysed, a negative number of permutations, a user catalog
        that does not exist or breaks the schema (one line each, naming the argument and the fix).
    """
    from ._checks import check_catalog, check_cohorts, check_method, check_samples
    from .datasets import use_catalog

    check_method(method, option="method=")
    if not isinstance(permutations, (int, np.integer)) or isinstance(permutations, bool) or permutations < 0:
        raise UsageError(f"permutations= must be a non-negative integer, got {permutations!r}")
    if catalog is not None and not isinstance(catalog, dict):
        check_catalog(catalog, option="catalog=")
    with use_catalog(catalog) as entries:
        # without cohorts=: the default plan plus every cohort a user catalog adds
        default = list(DEFAULT_COHORTS) + [a for a, e in entries.items()
                                           if e.get("catalog_file", "bundled") != "bundled" and a not in DEFAULT_COHORTS]
        chosen = check_cohorts(list(cohorts), option="cohorts=") if cohorts else default
        check_samples({str(k).upper(): Path(v).expanduser() for k, v in (samples or {}).items()}, chosen,
                      option="samples=")
    return chosen


# --------------------------------------------------------------------------- the run


def _labels_disagree(adata) -> bool:
    return (adata.uns.get("labels", {}).get("check") or {}).get("status") == "labels disagree"


def _label_counts(adata) -> dict[str, int]:
    if "condition" not in adata.obs:
        return {}
    return {str(k): int(v) for k, v in adata.obs["condition"].value_counts().items() if v}


_KIND_WORDS = {"OfflineError": "not in the mirror (offline)", "AccessionNotFound": "not found on the server",
               "FetchError": "download failed", "DownloadCorrupt": "download corrupt"}


def _short(text, limit: int = 120) -> str:
    """One line for a reason: which files a loader could not obtain and why, compactly."""
    import re

    text = text if isinstance(text, str) else ""
    tried = re.findall(r"(https?://\S+?) \((\w+)\)", text)
    if tried:
        by_kind: dict[str, list[str]] = {}
        for url, kind in tried:
            name = url.rstrip("/").rsplit("file=", 1)[-1].rsplit("/", 1)[-1] + ("/" if url.endswith("/") else "")
            by_kind.setdefault(_KIND_WORDS.get(kind, kind), [])
            if name not in by_kind[_KIND_WORDS.get(kind, kind)]:
                by_kind[_KIND_WORDS.get(kind, kind)].append(name)
        first = text.split(":", 1)[0].strip() + ": " + "; ".join(f"{k}: {', '.join(v)}" for k, v in by_kind.items())
    else:
        first = text.splitlines()[0].split("; ")[0] if text else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


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
    svg: bool = False,
    progress: bool | None = None,
    alpha: float = 0.05,
    claims: pd.DataFrame | None = None,
    cells: dict | None = None,
    cell_type_key: str = "cell_type",
    donor_key: str | None = None,
    manifest: dict | None = None,
    catalog=None,
) -> AnalysisResult:
    """Run the default analysis plan end to end and write tables, figures and the report.

    Parameters
    ----------
    out
        Output directory: ``report.html``, ``tables/*.tsv``, ``figures/*.png`` (``*.svg`` with
        ``svg=True``), ``provenance.json``, ``manifest.json``. Written as one transaction: the
        run works in a temporary folder beside ``out`` and replaces ``out`` only when complete,
        so a failed or interrupted run leaves an earlier output as it was.
    cohorts
        Accessions to try (default :data:`DEFAULT_COHORTS` and the cohorts of ``catalog``).
    samples
        Accession -> user sample sheet; otherwise :func:`find_sample_sheet` looks for one.
    method
        Scoring method for the Mg, mechanism and composition sets (``ssgsea`` default).
    permutations
        GSEA prerank permutations.
    seed
        Random seed (GSEA).
    plots, report, svg
        Draw figures (PNG; also SVG with ``svg=True``) / write the HTML report.
    progress
        Show a progress bar over cohorts (default: ``settings.progress``).
    alpha
        Significance level of the claim verdicts.
    claims
        A claims table (default: the bundled ``seeds/claims.tsv``; see
        :func:`mgtranscript.claims.load_claims`).
    cells
        Per-cell data for claims about a mechanism inside one cell type (``scope = cell``,
        e.g. L6): name -> AnnData of cells with log-normalised ``X`` and cell types in
        ``obs[cell_type_key]``. Without it such claims are not testable (bulk samples mix
        cell types).
    cell_type_key
        The ``obs`` column of ``cells`` holding the cell types.
    donor_key
        The ``obs`` column of ``cells`` naming each cell's donor (default: the first of
        ``donor``, ``donor_id``, ``individual``, ``patient``). Correlations are computed inside
        each cell type and donor and combined with donors as the unit; without a donor column
        the evidence says the donors are unknown (cells counted as samples).
    manifest
        Extra fields for ``manifest.json`` (e.g. the command line that ran).
    catalog
        A user cohort catalog (TOML path or mapping, the schema of the bundled
        ``cohorts.toml``) merged over the bundled one: its cohorts can be named in ``cohorts``.
        A cohort whose labels disagree with its entry's expected counts gets the status
        ``labels disagree`` (both counts in the reason) and is not analysed.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    UsageError
        Bad arguments, before any work (see :func:`check_arguments`).
    MgTranscriptError
        No cohort could be analysed: nothing is written and ``out`` is left as it was.
    """
    from ._output import check_output_path, transactional_output

    t_start = time.monotonic()
    from .datasets import use_catalog

    cohorts = check_arguments(cohorts=cohorts, samples=samples, method=method, permutations=permutations,
                              catalog=catalog)
    for name, cdata in (cells or {}).items() if donor_key is not None else ():
        if donor_key not in cdata.obs.columns:
            raise UsageError(f"donor_key {donor_key!r} is not an obs column of cells {name!r} (columns: "
                             f"{', '.join(map(str, cdata.obs.columns[:15]))}); pass the column naming each cell's "
                             "donor, or none to look for donor, donor_id, individual, patient")
    out = Path(out)
    check_output_path(out)
    manifest = {"command": "mgtranscript.pipeline.run_analysis", **(manifest or {}), "method": method,
                "cohorts": cohorts, "permutations": permutations, "seed": seed, "alpha": alpha}
    if catalog is not None:
        manifest["catalog"] = str(catalog) if not isinstance(catalog, dict) else "catalog= (mapping)"
    with transactional_output(out, manifest=manifest) as tmp, use_catalog(catalog):
        res = _run(tmp, cohorts=cohorts, samples=samples, method=method, permutations=permutations, seed=seed,
                   plots=plots, report=report, svg=svg, progress=progress, alpha=alpha, claims=claims,
                   cells=cells, cell_type_key=cell_type_key, donor_key=donor_key,
                   catalog_file=None if catalog is None or isinstance(catalog, dict) else Path(catalog))
        analysed = int((res.cohorts["status"] == "analysed").sum()) if not res.cohorts.empty else 0
        if not analysed:  # a run without results must not replace an earlier output
            why = "; ".join(f"{r.accession}: {r.reason_short or r.status}" for r in res.cohorts.itertuples()
                            if r.status != "not requested")
            raise MgTranscriptError(f"no cohort could be analysed ({why}); nothing was written and {out} "
                                    "was left as it was")
    res.out_dir = out
    if res.report is not None:
        res.report = out / res.report.name
    res.figures = [(s, out / "figures" / p.name, c) for s, p, c in res.figures]
    res.timings["total"] = round(time.monotonic() - t_start, 1)
    logger.info("time: %s", " · ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    return res


def _run(out: Path, *, cohorts, samples, method, permutations, seed, plots, report, svg, progress,
         alpha, claims, cells=None, cell_type_key="cell_type", donor_key=None,
         catalog_file: Path | None = None) -> AnalysisResult:
    from tqdm.auto import tqdm

    from . import datasets
    from .claims import build_evidence, judge, load_claims
    from .fetch import progress_enabled as _progress_enabled
    from .genesets import mechanism_sets

    t0 = time.monotonic()
    (out / "tables").mkdir(parents=True, exist_ok=True)
    res = AnalysisResult(out_dir=out)
    res.params = {"method": method, "permutations": permutations, "seed": seed, "alpha": alpha,
                  "gene_sets": "magnesium (bundled)", "mechanisms": "MSigDB Hallmark 7.0 + Reactome 7.0",
                  "de": "voom + limma on TMM (counts; genes passing filterByExpr), limma (arrays)",
                  "meta": "random effects (REML) with Hartung-Knapp t intervals (k - 1 df), only where k >= 2",
                  "correlations": "Spearman within condition (Fisher z), pair-aware; pooled shown beside",
                  "score_units": {"ssgsea": "ssGSEA score (unnormalised)", "gsva": "GSVA score",
                                  "zscore": "GSVA-style z-score", "plage": "PLAGE score",
                                  "singscore": "singscore", "mean": "mean log2 expression"}[method],
                  "expression_units": "log2 CPM (TMM) for counts; log2 intensity for arrays",
                  "composition_units": "cell-type marker z-score (relative, not a proportion)"}
    samples = {k.upper(): v for k, v in (samples or {}).items()}
    claims = load_claims() if claims is None else claims
    cat = datasets.catalog().set_index("accession", drop=False)
    try:
        mechanisms = mechanism_sets()
    except MgTranscriptError as exc:
        logger.warning("mechanism gene sets unavailable (%s); mechanism analyses skipped", exc)
        mechanisms = None
    status_rows, count_rows = [], []
    show = _progress_enabled(progress)
    for acc in tqdm(cohorts, desc="cohorts", disable=not show, leave=True):
        c = cat.loc[acc]
        sheet = samples.get(acc) or find_sample_sheet(acc)
        row = {"accession": acc, "disease_area": c["disease_area"], "status": "", "reason": "", "reason_short": "",
               "n_samples": 0, "sample_sheet": str(sheet or ""), "title": c["title"], "citation": c["citation"],
               "design": c["design"], "data_source": c["data_source"], "technology": c["technology"], "groups": ""}
        try:
            adata = datasets.load_cohort(acc, samples=sheet)
        except LabelsMissing as exc:  # e.g. GSE77314 without its sample sheet: say what is missing
            row.update(status="no labels", reason=str(exc), reason_short=_short(str(exc)))
            logger.warning("%s", _short(str(exc), 300))
            status_rows.append(row)
            continue
        except MgTranscriptError as exc:
            msg = str(exc)
            try:  # metadata may still be available (e.g. a series matrix without counts)
                meta_only = datasets.load_cohort(acc, samples=sheet, metadata_only=True)
                row.update(status="metadata only", reason=msg, n_samples=meta_only.n_obs)
                counts = _label_counts(meta_only)
                count_rows += [{"accession": acc, "condition": k, "n": v, "analysed": False} for k, v in counts.items()]
                row["groups"] = " · ".join(f"{k} {v}" for k, v in counts.items())
                if _labels_disagree(meta_only):
                    check = meta_only.uns["labels"]["check"]
                    msg = f"{acc}: labels disagree: {check['reason']} (and {_short(msg, 200)})"
                    row.update(status="labels disagree", reason=msg)
            except Exception:  # noqa: BLE001 - reported, never fatal
                row.update(status="unavailable", reason=msg)
            row["reason_short"] = _short(msg)
            short = _short(msg, 300)
            logger.warning("%s", short if short.startswith(f"{acc}:") else f"{acc}: {short}")
            status_rows.append(row)
            continue
        res.inputs += [dict(f, cohort=acc) for f in inputs_of(adata)]
        if sheet:
            res.inputs.append(file_input(Path(sheet), source="sample sheet", cohort=acc))
        counts = _label_counts(adata)
        row.update(n_samples=adata.n_obs, groups=" · ".join(f"{k} {v}" for k, v in counts.items()))
        if set(counts) <= {"unlabelled"}:
            row.update(status="no labels", reason="no sample matched a catalog label rule; pass a sample sheet",
                       reason_short="no sample matched a label rule; pass a sample sheet")
            status_rows.append(row)
            continue
        if _labels_disagree(adata):  # a wrong rule mislabels quietly: such a cohort is not analysed
            check = adata.uns["labels"]["check"]
            msg = f"{acc}: labels disagree: {check['reason']}"
            row.update(status="labels disagree", reason=msg,
                       reason_short=_short(f"expected {format_counts(check['expected'])}; labelled "
                                           f"{format_counts(check['observed'])}", 120))
            count_rows += [{"accession": acc, "condition": k, "n": v, "analysed": False} for k, v in counts.items()]
            status_rows.append(row)  # load_cohort has warned with the full reason
            continue
        n_un = counts.get("unlabelled", 0)
        if n_un:  # counted and reported, never silently dropped
            row.update(reason=f"{n_un} of {adata.n_obs} samples match no label rule: kept as 'unlabelled', "
                              "counted in sample_counts.tsv and left out of the group comparisons",
                       reason_short=f"{n_un} samples unlabelled (counted, not compared)")
        count_rows += [{"accession": acc, "condition": k, "n": v, "analysed": True} for k, v in counts.items()]
        try:
            analyse_cohort(adata, acc, method=method, mechanisms=mechanisms, permutations=permutations, seed=seed,
                           result=res, claims=claims)
            row.update(status="analysed")
        except MgTranscriptError as exc:
            row.update(status="failed", reason=str(exc), reason_short=_short(str(exc)))
            logger.error("%s: analysis failed: %s", acc, exc)
        except Exception as exc:  # noqa: BLE001 - one cohort's bug must not sink the run
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}",
                       reason_short=_short(f"{type(exc).__name__}: {exc}"))
            logger.error("%s: analysis failed: %s: %s (details with -v)", acc, type(exc).__name__, exc)
            logger.debug("%s: analysis failed:\n%s", acc, traceback.format_exc())
        status_rows.append(row)
    for acc in cat.index:  # catalog cohorts not asked for still explain untestable claims
        if acc not in cohorts:
            c = cat.loc[acc]
            status_rows.append({"accession": acc, "disease_area": c["disease_area"], "status": "not requested",
                                "reason": "not in --cohorts", "reason_short": "not in --cohorts", "n_samples": 0,
                                "sample_sheet": "", "title": c["title"], "citation": c["citation"],
                                "design": c["design"], "data_source": c["data_source"],
                                "technology": c["technology"], "groups": ""})
    for name, cdata in (cells or {}).items():  # per-cell data for cell-level claims
        res.append("effects", pd.DataFrame(cell_effects({name: cdata}, claims, cell_type_key=cell_type_key,
                                                        donor_key=donor_key, result=res)))
        status_rows.append({"accession": name, "disease_area": "any", "status": "analysed", "reason": "",
                            "reason_short": "", "n_samples": int(cdata.n_obs), "sample_sheet": "",
                            "title": f"per-cell data ({cdata.n_obs} cells; cell types in obs[{cell_type_key!r}])",
                            "citation": "", "design": "per-cell", "data_source": "user AnnData of cells",
                            "technology": "single cell", "groups": ""})
    res.timings["cohorts"] = round(time.monotonic() - t0, 1)
    t_claims = time.monotonic()
    res.cohorts = pd.DataFrame(status_rows)
    res.sample_counts = pd.DataFrame(count_rows, columns=["accession", "condition", "n", "analysed"])
    _adjust(res)
    ev = build_evidence(res.effects, claims=claims, cohorts=res.cohorts, design=res.design)
    j = judge(ev, claims=claims, design=res.design, cohorts=res.cohorts, alpha=alpha)
    res.claims, res.claims_evidence, res.sensitivity = j.verdicts, j.evidence, j.sensitivity
    res.meta = _meta(res.effects)
    res.timings["claims"] = round(time.monotonic() - t_claims, 1)
    t_tables = time.monotonic()
    res.inputs += bundled_inputs()
    if catalog_file is not None:
        res.inputs.append(file_input(catalog_file, source="user catalog"))
    _write_tables(res, out)
    res.params["seconds"] = round(time.monotonic() - t0, 1)
    res.timings["tables"] = round(time.monotonic() - t_tables, 1)
    write_provenance(res, out)
    t_fig = time.monotonic()
    if report:
        from .report import write_report

        res.report = write_report(res, out, figures=plots, svg=svg, n_jobs=_n_jobs())
        res.timings["figures and report"] = round(time.monotonic() - t_fig, 1)
    elif plots:
        from .report import draw_figures

        res.figures = draw_figures(res, out / "figures", svg=svg, n_jobs=_n_jobs())
        res.timings["figures"] = round(time.monotonic() - t_fig, 1)
    return res


def _n_jobs() -> int:
    """Processes for the figures: the CPUs this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _adjust(res: AnalysisResult) -> None:
    """Benjamini-Hochberg q-values, each over all tests of its table in the run."""
    from ._stats import bh_adjust

    for name, p in (("comparisons", "t_pval"), ("trends", "pval"), ("coupling", "pval"), ("correlations", "pval"),
                    ("survival", "cox_p")):
        df = getattr(res, name)
        if not df.empty and p in df:
            df["qval"] = bh_adjust(df[p].to_numpy(float))
    eff = res.effects
    if eff.empty:
        return
    eff["qval"] = np.nan
    for (_, _), idx in eff.groupby(["scenario", "analysis"]).groups.items():
        eff.loc[idx, "qval"] = bh_adjust(eff.loc[idx, "pval"].to_numpy(float))


def _meta(effects: pd.DataFrame) -> pd.DataFrame:
    """Random-effects pools of primary per-cohort effects per contrast and feature, only where k >= 2,
    by the claims' own pooling rule (:func:`mgtranscript.claims.pool_effects`: REML,
    Hartung-Knapp t CI with k - 1 df, prediction interval for k >= 3)."""
    from .claims import pool_effects
    from ._stats import bh_adjust

    if effects.empty:
        return pd.DataFrame()
    prim = effects[(effects["scenario"] == "primary") & effects["analysis"].isin(("compare", "trend", "survival"))]
    rows = []
    for (contrast, feature, kind), g in prim.groupby(["contrast", "feature", "effect_kind"]):
        g = g[np.isfinite(g["estimate"].astype(float)) & np.isfinite(g["se"].astype(float))]
        if g["cohort"].nunique() < 2:
            continue
        r = pool_effects(kind, g["estimate"].to_numpy(float), g["se"].to_numpy(float))
        rows.append({"contrast": contrast, "feature": feature, "effect_kind": kind, "k": r["k"],
                     "pooled": r["pooled"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "pval": r["pval"],
                     "df": r["df"], "pi_low": r["pi_low"], "pi_high": r["pi_high"], "tau2": r["tau2"],
                     "I2": r["I2"], "Q_pval": r["Q_pval"], "test": "Hartung-Knapp (REML)",
                     "cohorts": ";".join(g["cohort"]), "n_total": int(g["n"].sum())})
    meta = pd.DataFrame(rows)
    if not meta.empty:
        meta["qval"] = bh_adjust(meta["pval"].to_numpy(float))
    return meta


_TABLES = ("cohorts", "sample_counts", "coverage", "comparisons", "trends", "gsea", "ora", "coupling",
           "correlations", "design", "pairs", "survival", "effects", "meta", "claims", "claims_evidence",
           "sensitivity")


def _write_tables(res: AnalysisResult, out: Path) -> None:
    t = out / "tables"
    for name in _TABLES:
        getattr(res, name).to_csv(t / f"{name}.tsv", sep="\t", index=False)
    for acc, df in res.de.items():
        df.to_csv(t / f"de_{acc}.tsv", sep="\t", index=False)
    for acc, df in res.features.items():
        df.to_csv(t / f"features_{acc}.tsv", sep="\t", index_label="sample")



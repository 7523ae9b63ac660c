"""The default analysis plan: ``mgtranscript run``.

For every catalog cohort it can obtain (downloading what is missing, or reading
``MGTRANSCRIPT_MIRROR``), the plan:

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

Cohorts that cannot be obtained are reported with the reason, never fatal. Cohorts are
independent: they run side by side (:mod:`._parallel`: worker processes, or a
``dask.distributed`` cluster), each returning its :class:`~._result.CohortResult`; the run merges
them in the order of the cohorts, judges the claims and hands the finished
:class:`~._result.AnalysisResult` to the writer (:mod:`._write`) and the report. A cohort whose
inputs, parameters and code are those of an earlier run is taken from the result cache
(:mod:`._cache`), and a cohort parsed before is not parsed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MgTranscriptError, UsageError
from ._checks import RunArguments, check_arguments
from ._figcache import FigureCache
from ._result import AnalysisResult, CohortResult, merge

logger = logging.getLogger(__name__)

__all__ = ["run_analysis"]


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
    jobs: int | None = None,
    client: Any = None,
    use_cache: bool | str = True,
    arguments: RunArguments | None = None,
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
        Show a progress bar over cohorts (default: on unless ``MGTRANSCRIPT_PROGRESS=0``).
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
    jobs
        Processes analysing cohorts side by side (default: the cores this process may use;
        1: one after another). The tables do not depend on it.
    client
        A ``dask.distributed`` client: every cohort becomes a task on its cluster (default: the
        client active in this process, if any). The tables do not depend on it.
    use_cache
        Reuse what earlier runs computed: cohorts parsed from the same files, and cohort results
        from the same inputs, parameters and code (``provenance.json`` says which cohorts came
        from where). ``False``: compute everything again (and keep nothing); ``"parsed"``: reuse
        parsed cohorts only.
    arguments
        Arguments already checked by :func:`check_arguments` (then ``cohorts``, ``samples``,
        ``method``, ``permutations``, ``jobs`` and ``catalog`` are taken from it, not checked again).

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
    from ..datasets import use_catalog
    from ._output import transactional_output

    t_start = time.monotonic()
    if arguments is None:
        arguments = check_arguments(cohorts=cohorts, samples=samples, method=method, permutations=permutations,
                                    catalog=catalog, jobs=jobs)
    if use_cache not in (True, False, "parsed"):
        raise UsageError(f"use_cache= must be True, False or 'parsed', got {use_cache!r}")
    for name, cdata in (cells or {}).items() if donor_key is not None else ():
        if donor_key not in cdata.obs.columns:
            raise UsageError(f"donor_key {donor_key!r} is not an obs column of cells {name!r} (columns: "
                             f"{', '.join(map(str, cdata.obs.columns[:15]))}); pass the column naming each cell's "
                             "donor, or none to look for donor, donor_id, individual, patient")
    a = arguments
    out = Path(out)
    manifest = {"command": "mgtranscript.pipeline.run_analysis", **(manifest or {}), "method": a.method,
                "cohorts": list(a.cohorts), "permutations": a.permutations, "seed": seed, "alpha": alpha}
    if a.catalog is not None:
        manifest["catalog"] = str(a.catalog) if not isinstance(a.catalog, dict) else "catalog= (mapping)"
    with transactional_output(out, manifest=manifest) as tmp, use_catalog(a.catalog):
        res = _run(tmp, cohorts=list(a.cohorts), samples={k: str(v) for k, v in a.samples.items()}, method=a.method,
                   permutations=a.permutations, seed=seed, plots=plots, report=report, svg=svg, progress=progress,
                   alpha=alpha, claims=claims, cells=cells, cell_type_key=cell_type_key, donor_key=donor_key,
                   catalog=a.catalog, jobs=a.jobs, client=client, use_cache=use_cache, out_dir=out)
        analysed = int((res.cohorts["status"] == "analysed").sum()) if not res.cohorts.empty else 0
        if not analysed:  # a run without results must not replace an earlier output
            why = "; ".join(f"{r.accession}: {r.reason_short or r.status}" for r in res.cohorts.itertuples()
                            if r.status != "not requested")
            raise MgTranscriptError(f"no cohort could be analysed ({why}); nothing was written and {out} "
                                    "was left as it was")
    res.timings["total"] = round(time.monotonic() - t_start, 1)
    logger.info("time: %s", " · ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    return res


#: What the run's parameters record (units and methods, for provenance and the report).
def _params(method: str, permutations: int, seed: int, alpha: float) -> dict:
    return {"method": method, "permutations": permutations, "seed": seed, "alpha": alpha,
            "gene_sets": "magnesium (bundled)", "mechanisms": "MSigDB Hallmark 7.0 + Reactome 7.0",
            "de": "voom + limma on TMM (counts; genes passing filterByExpr), limma (arrays)",
            "meta": "random effects (REML) with Hartung-Knapp t intervals (k - 1 df), only where k >= 2",
            "correlations": "Spearman within condition (Fisher z), pair-aware; pooled shown beside",
            "score_units": {"ssgsea": "ssGSEA score (unnormalised)", "gsva": "GSVA score",
                            "zscore": "GSVA-style z-score", "plage": "PLAGE score",
                            "singscore": "singscore", "mean": "mean log2 expression"}[method],
            "expression_units": "log2 CPM (TMM) for counts; log2 intensity for arrays",
            "composition_units": "cell-type marker z-score (relative, not a proportion)"}


def _run(out: Path, *, cohorts, samples, method, permutations, seed, plots, report, svg, progress, alpha, claims,
         cells=None, cell_type_key="cell_type", donor_key=None, catalog=None, jobs=None, client=None,
         use_cache: bool | str = True, out_dir: Path | None = None) -> AnalysisResult:
    """The work inside the output transaction: analyse, merge, judge, write into ``out``."""
    from .. import datasets
    from ..claims import load_claims
    from ..fetch import progress_enabled as _progress_enabled
    from ..genesets import mechanism_sets
    from ._cache import Cache
    from ._judge import judge_run
    from ._parallel import run_tasks
    from ._provenance import bundled_inputs, file_input
    from ._write import write_result

    t0 = time.monotonic()
    claims = load_claims() if claims is None else claims
    cat = datasets.catalog().set_index("accession", drop=False)
    try:
        mechanisms = mechanism_sets()
    except MgTranscriptError as exc:
        logger.warning("mechanism gene sets unavailable (%s); mechanism analyses skipped", exc)
        mechanisms = None
    cache = Cache(parsed=use_cache is not False, results=use_cache is True)
    bundled = bundled_inputs()
    tasks = _tasks(cohorts, samples, cat, method=method, permutations=permutations, seed=seed, claims=claims,
                   mechanisms=mechanisms, catalog=catalog, cache=cache, bundled=bundled)
    params = _params(method, permutations, seed, alpha)
    early = _EarlyFigures(out / "figures", svg=svg, params=params) if plots else None
    try:
        results: list[CohortResult | None] = [cache.get_result(t.accession, t.sheet, t.params) for t in tasks]
        for r in results:
            if r is not None:
                r.source = "result cache"  # not drawn early: a rerun's figures likely come from the figure cache
        todo = [t for t, r in zip(tasks, results) if r is None]
        computed = iter(run_tasks(todo, jobs=jobs, client=client, progress=_progress_enabled(progress),
                                  on_result=early.submit if early is not None else None))
        results = [r if r is not None else next(computed) for r in results]
        for t, cr in zip(tasks, results):
            cr.inputs = [dict(f, cohort=t.accession) for f in _resolve(cr.input_records)]
            if cr.loaded and t.sheet:
                cr.inputs.append(file_input(Path(t.sheet), source="sample sheet", cohort=t.accession))
        extra = [CohortResult(accession=acc, status=_status(acc, cat.loc[acc], "not requested", "not in --cohorts"))
                 for acc in cat.index if acc not in cohorts]  # catalog cohorts not asked for explain untestable claims
        extra += [_cells(name, cdata, claims, cell_type_key, donor_key) for name, cdata in (cells or {}).items()]
        t_merge = time.monotonic()
        res = merge(results + extra)
        res.out_dir = out_dir if out_dir is not None else out
        res.writing_in(out)
        res.params = params
        res.run["cohort_sources"] = {cr.accession: cr.source for cr in results if cr.status.get("status") == "analysed"}
        res.timings["cohorts"] = round(t_merge - t0, 1)
        t_claims = time.monotonic()
        judge_run(res, claims=claims, alpha=alpha)
        res.timings["claims"] = round(time.monotonic() - t_claims, 1)
        res.inputs += bundled
        if catalog is not None and not isinstance(catalog, dict):
            res.inputs.append(file_input(Path(catalog), source="user catalog"))
        res.params["timings"] = _phases(results)
        res.run["timings_by_cohort"] = {cr.accession: {k: round(v, 2) for k, v in cr.timings.items()}
                                        for cr in results if cr.timings}
        drawn = early.figures if early is not None else None
        figure_cache = FigureCache(enabled=use_cache is True)
        draw = (lambda r, folder: _draw(r, folder, plots=plots, report=report, svg=svg, drawn=drawn,
                                        figure_cache=figure_cache)) \
            if plots or report else None
        write_result(res, out, report=draw, started=t0)
    except BaseException:
        if early is not None:
            early.figures.finish()  # nothing keeps drawing into an output that is not kept
        raise
    return res


class _EarlyFigures:
    """Each analysed cohort's own figures (scores, heatmap, volcano, GSEA, KM: nothing from other
    cohorts) drawn in the background as soon as a worker returns its result, while the other cohorts
    are analysed (:class:`mgtranscript.report.CohortFigures`,
    one process at low priority); the report then draws only the rest."""

    def __init__(self, figures_dir: Path, *, svg: bool, params: dict) -> None:
        from ..report import CohortFigures

        self.figures = CohortFigures(figures_dir, svg=svg)
        self.params = params

    def submit(self, cr: CohortResult) -> None:
        if cr.status.get("status") != "analysed" or cr.features is None:
            return
        view = merge([cr])
        view.params = dict(self.params)
        self.figures.submit(view, cr.accession)


def _resolve(records: list[dict]) -> list[dict]:
    from ._provenance import resolve_inputs

    return resolve_inputs(records)


def _status(acc: str, entry, status: str, reason: str) -> dict:
    from ._tasks import status_row

    return status_row(acc, entry, status=status, reason=reason)


def _tasks(cohorts, samples, cat, *, method, permutations, seed, claims, mechanisms, catalog, cache, bundled):
    """One task per cohort: its catalog entry, sample sheet and the parameters its result depends on."""
    from ._cache import frame_hash
    from ._tasks import CohortTask, find_sample_sheet

    samples = {k.upper(): v for k, v in (samples or {}).items()}
    params = {"method": method, "permutations": permutations, "seed": seed, "claims": frame_hash(claims),
              "mechanisms": _sets_hash(mechanisms),
              "gene_sets": [f["sha256"] for f in bundled]}
    out = []
    for acc in cohorts:
        sheet = samples.get(acc) or find_sample_sheet(acc)
        out.append(CohortTask(accession=acc, entry=cat.loc[acc].to_dict(), sheet=str(sheet) if sheet else None,
                              method=method, permutations=permutations, seed=seed, claims=claims,
                              mechanisms=mechanisms, catalog=catalog, params=params,
                              cache={"parsed": cache.parsed, "results": cache.results}))
    return out


def _sets_hash(sets) -> str:
    """sha256 of gene sets (names and genes, in order); "" for none."""
    if sets is None:
        return ""
    doc = [[str(k), [str(g) for g in v]] for k, v in sets.items()]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _cells(name: str, cdata, claims, cell_type_key, donor_key) -> CohortResult:
    """Per-cell data for cell-level claims, as one more 'cohort' of the run."""
    from ._cells import cell_effects

    cr = CohortResult(accession=name)
    cr.append("effects", pd.DataFrame(cell_effects({name: cdata}, claims, cell_type_key=cell_type_key,
                                                   donor_key=donor_key, result=cr)))
    cr.status = {"accession": name, "disease_area": "any", "status": "analysed", "reason": "", "reason_short": "",
                 "n_samples": int(cdata.n_obs), "sample_sheet": "",
                 "title": f"per-cell data ({cdata.n_obs} cells; cell types in obs[{cell_type_key!r}])",
                 "citation": "", "design": "per-cell", "data_source": "user AnnData of cells",
                 "technology": "single cell", "groups": ""}
    return cr


def _phases(results: list[CohortResult]) -> dict[str, float]:
    """Seconds per phase of the cohorts' work, summed over the cohorts (work, not wall time)."""
    out: dict[str, float] = {}
    for cr in results:
        for k, v in cr.timings.items():
            if k != "cohort":
                out[f"cohort: {k}"] = out.get(f"cohort: {k}", 0.0) + v
    return {k: round(v, 2) for k, v in out.items()}


def _draw(res: AnalysisResult, out: Path, *, plots: bool, report: bool, svg: bool, drawn=None,
          figure_cache: FigureCache | None = None) -> None:
    """The report (and its figures) of the finished result, into the folder being written; the
    figures of an earlier run with the same result are copied, not drawn again (:mod:`._figcache`)."""
    from ._parallel import usable_cores

    t_fig = time.monotonic()
    n_jobs = max(1, min(usable_cores(), 8))
    key = figure_cache.key(res, out, svg=svg) if plots and figure_cache is not None and figure_cache.enabled \
        else None
    if key is not None and figure_cache.has(key):
        if drawn is not None:
            drawn.finish()  # nothing else writes into figures/ while an earlier set is copied in
        names = figure_cache.restore(key, out / "figures")
        if names is not None:
            drawn = [("", out / "figures" / n, "") for n in names if n.endswith(".png")]
            res.run["figures"] = "copied from an earlier run with the same result"
    if report:
        from ..report import write_report

        res.report = write_report(res, out, figures=plots, svg=svg, n_jobs=n_jobs, tables=False, drawn=drawn)
        res.timings["figures and report"] = round(time.monotonic() - t_fig, 1)
    elif plots:
        from ..report import draw_figures

        res.figures = draw_figures(res, out / "figures", svg=svg, n_jobs=n_jobs, drawn=drawn)
        res.timings["figures"] = round(time.monotonic() - t_fig, 1)
    if key is not None and "figures" not in res.run:
        figure_cache.store(key, out / "figures")

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

The per-claim figures are drawn in ``report/_figures_claims.py``, the per-cohort ones in
``report/_figures_cohorts.py`` (mixins of the drawer here); the readers of the result
(``table``, ``mapping``, ``stage_order``, ...) live in ``report/_result.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript import pl
from mgtranscript.errors import MgTranscriptError
from mgtranscript.report._figures_claims import _ClaimFigures
from mgtranscript.report._figures_cohorts import _CohortFigures
from mgtranscript.report._result import mapping, params_of, safe_name, table

logger = logging.getLogger(__name__)

__all__ = ["draw_figures", "FigureEntry"]

FigureEntry = tuple[str, Path, str]


# --------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------


class _Drawer(_ClaimFigures, _CohortFigures):
    def __init__(self, res, figures_dir: Path, svg: bool, on_error: str):
        self.res = res
        self.dir = Path(figures_dir)
        self.svg = svg
        self.on_error = on_error
        self.out: list[FigureEntry] = []
        self.errors: list[tuple[str, str]] = []
        self.jobs: list[tuple[str, str, str, Callable[..., Any]]] = []
        self.params = params_of(res)
        self.features = {str(k): v for k, v in mapping(res, "features").items() if isinstance(v, pd.DataFrame)}

    def draw(self, section: str, stem: str, caption: str, fn: Callable[..., Any]) -> None:
        self.jobs.append((section, stem, caption, fn))

    def overview(self) -> None:
        """The two pictures near the top: Mg genes and scores x every contrast; enrichment across them."""
        cmp = table(self.res, "comparisons")
        design, ev = table(self.res, "design"), table(self.res, "claims_evidence")
        if not cmp.empty and {"cohort", "contrast", "feature", "hedges_g"} <= set(cmp.columns):
            kind = cmp.get("kind", pd.Series("", index=cmp.index)).astype(str)
            sub = cmp[kind.isin(["gene", "score", "balance"]) | cmp["feature"].astype(str).str.startswith("MG_")]
            if not sub.empty:
                self.draw("overview", "overview_contrasts",
                          "**Every contrast of every cohort at a glance** — Hedges' g of each Mg gene-set score "
                          "(top) and Mg gene (bottom), group vs reference; a dot: q < 0.05 (Benjamini-Hochberg "
                          "over all comparisons of the run); ⚑ and a dashed frame: the contrast has design flags "
                          "(see the design audit).",
                          lambda save, svg, sub=sub: pl.contrast_heatmap(
                              sub, design=design, evidence=ev, save=save, svg=svg, show=False).figure)
        g = table(self.res, "gsea")
        if not g.empty and {"cohort", "contrast", "set", "nes"} <= set(g.columns):
            self.draw("overview", "overview_enrichment",
                      "**Enrichment across contrasts** — GSEA prerank of the DE moderated t for each cohort's main "
                      "contrast: colour the normalised enrichment score (red: higher in the disease group), "
                      "size the GSEA FDR; ⚑: the contrast has design flags.",
                      lambda save, svg: pl.enrichment_dotplot(
                          g, design=design, evidence=ev, save=save, svg=svg, show=False).figure)

    def run_one(self, i: int) -> str | None:
        """Draw job ``i``; the error message when it cannot be drawn (``on_error="warn"``)."""
        section, stem, caption, fn = self.jobs[i]
        try:
            fig = fn(save=self.dir / safe_name(stem), svg=self.svg)
        except (MgTranscriptError, ValueError, KeyError, IndexError, TypeError) as exc:
            if self.on_error == "raise":
                raise
            return f"{stem}: {type(exc).__name__}: {exc}"
        if fig is not None:
            fig.clear()
        return None

    def run(self, n_jobs: int) -> None:
        """Draw every job, in ``n_jobs`` forked processes when more than one (figures are
        independent; each process writes its own files), keeping the jobs' order."""
        msgs = _run_parallel(self, n_jobs) if n_jobs > 1 and len(self.jobs) > 2 else None
        if msgs is None:
            msgs = [self.run_one(i) for i in range(len(self.jobs))]
        for (section, stem, caption, _fn), msg in zip(self.jobs, msgs):
            if msg is None:
                self.out.append((section, self.dir / f"{safe_name(stem)}.png", caption))
            else:
                logger.warning("figure not drawn: %s", msg)
                self.errors.append((section, msg))


_ACTIVE: _Drawer | None = None


def _child(i: int) -> tuple[str | None, str | None]:
    try:
        return _ACTIVE.run_one(i), None
    except Exception as exc:  # noqa: BLE001 - handed back to the parent (on_error="raise")
        return None, f"{type(exc).__name__}: {exc}"


def _run_parallel(drawer: _Drawer, n_jobs: int) -> list[str | None] | None:
    """Run the drawer's jobs in forked workers; None where forking is not available. The workers
    get this process's settings explicitly (not through the environment)."""
    import multiprocessing as mp

    from .._settings import init_worker, settings

    global _ACTIVE
    if "fork" not in mp.get_all_start_methods():
        return None
    _ACTIVE = drawer
    try:
        with mp.get_context("fork").Pool(min(n_jobs, len(drawer.jobs)), initializer=init_worker,
                                         initargs=(settings.to_dict(),)) as pool:
            got = pool.map(_child, range(len(drawer.jobs)), chunksize=1)
    finally:
        _ACTIVE = None
    failed = [err for _, err in got if err is not None]
    if failed:
        raise MgTranscriptError(f"a figure could not be drawn: {failed[0]}")
    return [msg for msg, _ in got]


def draw_figures(res: Any, figures_dir: str | Path, *, svg: bool = False, on_error: str = "warn",
                 errors: list | None = None, n_jobs: int = 1) -> list[FigureEntry]:
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
    n_jobs
        Processes drawing figures at once (forked; 1 draws in this process). The files and
        the returned list do not depend on it.

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
    d.overview()
    d.claims()
    d.cohorts()
    d.run(n_jobs)
    if errors is not None:
        errors.extend(d.errors)
    return d.out

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

A cohort's own figures (scores, heatmap, volcano, GSEA running sum, KM curves: nothing in them
depends on another cohort) can be drawn as soon as that cohort is analysed, with
:func:`draw_cohort_figures`; hand what it returns to :func:`draw_figures` (or
:func:`mgtranscript.report.write_report`) as ``drawn=`` and they are not drawn again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript import pl
from mgtranscript.errors import MgTranscriptError
from mgtranscript.report._figures_claims import _ClaimFigures
from mgtranscript.report._figures_cohorts import _CohortFigures
from mgtranscript.report._result import mapping, params_of, safe_name, table

logger = logging.getLogger(__name__)

__all__ = ["draw_figures", "draw_cohort_figures", "CohortFigures", "FigureEntry"]

FigureEntry = tuple[str, Path, str]


@dataclass
class _Job:
    """One figure to draw: its report section, file stem, caption and drawing function; the cohort
    it shows and whether it depends on that cohort's results alone (``own``); a rough cost in
    seconds (the longest are started first when drawing in several processes)."""

    section: str
    stem: str
    caption: str
    fn: Callable[..., Any]
    cohort: str = ""
    own: bool = False
    cost: float = 0.3


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
        self.jobs: list[_Job] = []
        self.params = params_of(res)
        self.features = {str(k): v for k, v in mapping(res, "features").items() if isinstance(v, pd.DataFrame)}

    def draw(self, section: str, stem: str, caption: str, fn: Callable[..., Any], *, cohort: str = "",
             own: bool = False, cost: float = 0.3) -> None:
        self.jobs.append(_Job(section, stem, caption, fn, cohort, own, cost))

    def cohort_params(self, acc: str) -> dict:
        """The run's parameters with units narrowed to cohort ``acc``'s technology (its own figures
        then name the same units however many other cohorts, of whatever kind, the run has)."""
        return params_of(self.res, cohort=acc)

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
                              sub, design=design, evidence=ev, save=save, svg=svg, show=False).figure, cost=1.0)
        g = table(self.res, "gsea")
        if not g.empty and {"cohort", "contrast", "set", "nes"} <= set(g.columns):
            self.draw("overview", "overview_enrichment",
                      "**Enrichment across contrasts** — GSEA prerank of the DE moderated t for each cohort's main "
                      "contrast: colour the normalised enrichment score (red: higher in the disease group), "
                      "size the GSEA FDR; ⚑: the contrast has design flags.",
                      lambda save, svg: pl.enrichment_dotplot(
                          g, design=design, evidence=ev, save=save, svg=svg, show=False).figure, cost=1.0)

    def run_one(self, i: int) -> str | None:
        """Draw job ``i``; the error message when it cannot be drawn (``on_error="warn"``)."""
        job = self.jobs[i]
        try:
            fig = job.fn(save=self.dir / safe_name(job.stem), svg=self.svg)
        except (MgTranscriptError, ValueError, KeyError, IndexError, TypeError) as exc:
            if self.on_error == "raise":
                raise
            return f"{job.stem}: {type(exc).__name__}: {exc}"
        if fig is not None:
            fig.clear()
        return None

    def _name(self, i: int) -> str:
        return f"{safe_name(self.jobs[i].stem)}.png"

    def _draw(self, todo: list[int], n_jobs: int) -> dict[int, str | None]:
        msgs = _run_parallel(self, todo, n_jobs) if n_jobs > 1 and len(todo) > 2 else None
        return msgs if msgs is not None else {i: self.run_one(i) for i in todo}

    def run(self, n_jobs: int, drawn: Iterable[FigureEntry] = (), later: CohortFigures | None = None) -> None:
        """Draw every job not in ``drawn`` (figures already drawn into this folder), in ``n_jobs``
        forked processes when more than one (figures are independent; each process writes its own
        files; the longest jobs start first), keeping the jobs' order in :attr:`out`.

        ``later``: cohorts still being drawn in the background; the other figures are drawn
        meanwhile, then whatever the background did not draw."""
        done = {Path(p).name for _s, p, _c in drawn if (self.dir / Path(p).name).is_file()}
        todo = [i for i in range(len(self.jobs)) if self._name(i) not in done]
        if later is None:
            msgs = self._draw(todo, n_jobs)
        else:
            later.drop_queued()  # cohorts not started yet are drawn here, with the rest
            busy = later.names()
            msgs = self._draw([i for i in todo if self._name(i) not in busy], n_jobs)
            got = {Path(p).name for _s, p, _c in later.finish()}
            msgs.update(self._draw([i for i in todo if self._name(i) in busy and self._name(i) not in got], n_jobs))
        for i, job in enumerate(self.jobs):
            msg = msgs.get(i)
            if msg is None:
                self.out.append((job.section, self.dir / f"{safe_name(job.stem)}.png", job.caption))
            else:
                logger.warning("figure not drawn: %s", msg)
                self.errors.append((job.section, msg))


_ACTIVE: _Drawer | None = None


def _child(i: int) -> tuple[int, str | None, str | None]:
    try:
        return i, _ACTIVE.run_one(i), None
    except Exception as exc:  # noqa: BLE001 - handed back to the parent (on_error="raise")
        return i, None, f"{type(exc).__name__}: {exc}"


def _run_parallel(drawer: _Drawer, todo: list[int], n_jobs: int) -> dict[int, str | None] | None:
    """Run the drawer's jobs ``todo`` in forked workers, longest first; None where forking is not
    available. The workers get this process's settings explicitly (not through the environment)."""
    import multiprocessing as mp

    from .._settings import init_worker, settings

    global _ACTIVE
    if "fork" not in mp.get_all_start_methods():
        return None
    order = sorted(todo, key=lambda i: -drawer.jobs[i].cost)  # stable: equal costs keep their order
    _ACTIVE = drawer
    try:
        with mp.get_context("fork").Pool(min(n_jobs, len(order)), initializer=init_worker,
                                         initargs=(settings.to_dict(),)) as pool:
            got = list(pool.imap_unordered(_child, order, chunksize=1))
    finally:
        _ACTIVE = None
    failed = [err for _, _, err in got if err is not None]
    if failed:
        raise MgTranscriptError(f"a figure could not be drawn: {failed[0]}")
    return {i: msg for i, msg, _ in got}


def draw_figures(res: Any, figures_dir: str | Path, *, svg: bool = False, on_error: str = "warn",
                 errors: list | None = None, n_jobs: int = 1,
                 drawn: Iterable[FigureEntry] | CohortFigures | None = None) -> list[FigureEntry]:
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
    drawn
        Figures already drawn into ``figures_dir`` (what :func:`draw_cohort_figures` returned
        while the other cohorts were being analysed): not drawn again, listed in their place.
        Or the :class:`CohortFigures` drawing them in the background: the other figures are
        drawn meanwhile.

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
    if isinstance(drawn, CohortFigures):
        d.run(n_jobs, later=drawn)
    else:
        d.run(n_jobs, drawn or ())
    if errors is not None:
        errors.extend(d.errors)
    return d.out


def draw_cohort_figures(res: Any, accession: str, figures_dir: str | Path, *, svg: bool = False,
                        on_error: str = "warn", errors: list | None = None) -> list[FigureEntry]:
    """Draw the figures of ONE cohort that depend on its own results alone, as soon as it is analysed.

    These are its Mg scores by condition, Mg-gene heatmap, volcano, GSEA running sum and KM
    curves: the same files :func:`draw_figures` would draw for it. Its coupling and trend
    figures, the claims' figures and the overview wait for the whole run (they show q-values
    over every cohort). Pass the returned list (of every cohort) to :func:`draw_figures` or
    :func:`mgtranscript.report.write_report` as ``drawn=``.

    Parameters
    ----------
    res
        A result holding at least this cohort's tables, under the names of an ``AnalysisResult``:
        ``features``, ``de``, ``de_contrast``, ``rankings``, ``gene_sets``, ``km`` (mappings by
        accession), ``gsea`` and ``survival`` (its rows), ``params``, and ``cohorts`` with its row
        (``accession``, ``technology``: the heatmap names the expression units of that technology).
    accession
        The cohort.
    figures_dir, svg, on_error, errors
        As for :func:`draw_figures`.

    Returns
    -------
    list of (section, Path, caption)
        The figures drawn (in this process).

    Raises
    ------
    UsageError
        ``res.cohorts`` has no row for ``accession``.
    """
    from mgtranscript.errors import UsageError

    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    cohorts = table(res, "cohorts")
    if "accession" not in cohorts.columns or not (cohorts["accession"].astype(str) == str(accession)).any():
        raise UsageError(f"res.cohorts has no row for {accession!r}; add the cohort's row (accession, technology) "
                         "before drawing its figures")
    d = _Drawer(res, Path(figures_dir), svg, on_error)
    d.dir.mkdir(parents=True, exist_ok=True)
    d.cohorts()
    d.jobs = [job for job in d.jobs if job.own and job.cohort == str(accession)]
    d.run(1)
    if errors is not None:
        errors.extend(d.errors)
    return d.out


class _CohortView:
    """One cohort's slice of a result, as the drawer reads it (with the cohort's status row)."""

    def __init__(self, res: Any, accession: str, cohort_row: dict | None) -> None:
        for name in ("features", "de", "de_contrast", "rankings", "gene_sets", "km", "gsea", "survival", "params"):
            setattr(self, name, getattr(res, name, None))
        self.cohorts = pd.DataFrame([cohort_row]) if cohort_row is not None else table(res, "cohorts")


class CohortFigures:
    """Draw each cohort's own figures in a forked process while the run goes on.

    ``submit(res, acc, cohort_row)`` as soon as cohort ``acc`` is analysed (``res`` holds its
    tables); at the end hand the object to ``draw_figures(..., drawn=...)`` /
    ``write_report(..., drawn=...)``: the other figures are drawn while it finishes, then whatever it
    did not draw (:meth:`finish`; :meth:`wait` instead waits for every cohort). The drawing processes
    run at a lower priority (``nice`` 10): they take the CPU the analysis leaves idle, and one not
    done when the other figures are is stopped (the figures it had not finished are drawn with the
    rest). A cohort whose process failed is simply drawn again at the end. Where processes cannot be forked, nothing is
    drawn early.

    Parameters
    ----------
    figures_dir
        The run's figure folder (the one the report's figures go to).
    svg
        Also write SVGs.
    processes
        Drawing processes at once (further cohorts wait for a free one).
    """

    def __init__(self, figures_dir: str | Path, *, svg: bool = False, processes: int = 1) -> None:
        import multiprocessing as mp

        self.dir = Path(figures_dir)
        self.svg = svg
        self.processes = max(1, int(processes))
        self._ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        self._queue: list[tuple[Any, str, list[FigureEntry]]] = []
        self._running: list[tuple[Any, list[FigureEntry], dict]] = []  # process, its figures, their files before
        self._done: list[FigureEntry] = []

    def submit(self, res: Any, accession: str, cohort_row: dict | None = None) -> None:
        """Draw cohort ``accession``'s own figures (see :func:`draw_cohort_figures`) in the background.

        ``cohort_row``: its row of the cohorts table (``accession``, ``technology``) when ``res.cohorts``
        does not have it yet."""
        if self._ctx is None:
            return
        view = _CohortView(res, str(accession), cohort_row)
        d = _Drawer(view, self.dir, self.svg, "warn")
        d.cohorts()
        entries = [(j.section, self.dir / f"{safe_name(j.stem)}.png", j.caption) for j in d.jobs
                   if j.own and j.cohort == str(accession)]
        if entries:
            self._queue.append((view, str(accession), entries))
            self._start()

    def _reap(self) -> None:
        still = []
        for proc, entries, before in self._running:
            if proc.is_alive():
                still.append((proc, entries, before))
                continue
            proc.join()
            if proc.exitcode == 0:
                self._done += _written(entries, before)
            else:
                logger.info("drawing figures early failed (exit code %s); they are drawn at the end", proc.exitcode)
        self._running = still

    def _start(self) -> None:
        self._reap()
        while self._queue and len(self._running) < self.processes:
            view, acc, entries = self._queue.pop(0)
            self.dir.mkdir(parents=True, exist_ok=True)
            before = {e[1]: _stamp(e[1]) for e in entries}  # files already there (an earlier run's)
            proc = self._ctx.Process(target=_draw_early, args=(view, acc, self.dir, self.svg), daemon=True)
            proc.start()
            self._running.append((proc, entries, before))

    def drop_queued(self) -> None:
        """Forget the cohorts submitted but not started (whoever calls this draws them)."""
        self._queue.clear()

    def names(self) -> set[str]:
        """File names of the figures drawn, being drawn or waiting to be drawn here."""
        entries = [e for _v, _a, es in self._queue for e in es] + [e for _p, es, _b in self._running for e in es]
        return {Path(p).name for _s, p, _c in entries + self._done}

    def finish(self) -> list[FigureEntry]:
        """Stop now: the figures of the cohorts whose processes completed; a process still running
        (at low priority it may be starved on a busy machine) is stopped, the figures it finished kept
        (PNG only: an SVG is not written atomically) and the rest of its cohort left to the caller."""
        self._queue.clear()
        self._reap()
        for proc, entries, before in self._running:
            proc.terminate()
            proc.join()
            if not self.svg:  # a PNG is written whole (a temporary file, then renamed): the finished ones are kept
                self._done += _written(entries, before)
        if self._running:
            logger.info("%d cohorts' figures were not finished in the background", len(self._running))
            for tmp in self.dir.glob("*.tmp"):  # a palette PNG cut short (written as <name>.tmp, then renamed)
                tmp.unlink(missing_ok=True)
        self._running = []
        logger.info("%d figures drawn while the run went on", len(self._done))
        return list(self._done)

    def wait(self) -> list[FigureEntry]:
        """Wait for every cohort submitted; the figures drawn (section, path, caption)."""
        while self._queue or self._running:
            if self._running:
                self._running[0][0].join()
            self._start()
        self._reap()
        logger.info("%d figures drawn while the run went on", len(self._done))
        return list(self._done)


def _written(entries: list[FigureEntry], before: dict) -> list[FigureEntry]:
    """The entries whose PNG a drawing process wrote: there now, and not the file that was there before
    it started (an earlier run's)."""
    return [e for e in entries if _stamp(e[1]) not in (None, before[e[1]])]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one write of ``path`` from another (inode, size, mtime), or None when it is absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _draw_early(view: Any, accession: str, figures_dir: Path, svg: bool) -> None:
    import os

    try:  # idle cycles only: the analysis of the next cohort goes first
        os.nice(10)
    except (AttributeError, OSError):  # pragma: no cover - not POSIX
        pass
    draw_cohort_figures(view, accession, figures_dir, svg=svg, on_error="warn")

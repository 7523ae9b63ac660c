"""A cohort's own figures drawn as soon as it is analysed: the same files, not drawn twice."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from mgtranscript.errors import UsageError
from mgtranscript.report import draw_cohort_figures, draw_figures, write_report
from mgtranscript.report import CohortFigures


#: The module's tests draw most of the report's figures (slow) and share the drawings of its module
#: fixtures and of the session's synthetic report (``drawn_report``): with pytest-xdist they run in its worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("drawn_report")]

#: The cohorts drawn here: the paired HCC cohort, a MASLD cohort with GSEA and trends, TCGA with KM curves.
COHORTS = {"GSE77314", "GSE126848", "TCGA-LIHC"}


@pytest.fixture(scope="module")
def cohorts_only(synthetic_result):
    """The synthetic result of three cohorts (``COHORTS``) without claims: its figures are the overview
    and the per-cohort ones."""
    res = copy.deepcopy(_one_cohort(synthetic_result, COHORTS))
    res.claims = res.claims.iloc[0:0]
    res.claims_evidence = res.claims_evidence.iloc[0:0]
    return res


@pytest.fixture(scope="module")
def at_the_end(cohorts_only, drawn_report, tmp_path_factory):
    """Every figure drawn after the run (the reference): the cohorts' own figures (scores, heatmap,
    volcano, GSEA, KM) are those of the session's synthetic report, drawn in one go from the whole
    synthetic result (four cohorts and every claim; a cohort's own figures depend on its results
    alone, which the tests below check against them), the rest (overview, coupling, trends) drawn
    here by two processes (which gives the files of one:
    tests/report/test_report.py::test_figures_drawn_in_parallel_are_the_same_figures)."""
    import shutil

    from mgtranscript.report._figures import _Drawer

    _res, report_dir, _html = drawn_report
    folder = tmp_path_factory.mktemp("end")
    d = _Drawer(cohorts_only, folder, False, "raise")
    d.cohorts()
    own = [f"{j.stem}.png" for j in d.jobs if j.own]
    assert len(own) >= 4 * len(COHORTS)
    for name in own:
        shutil.copyfile(report_dir / "figures" / name, folder / name)
    return draw_figures(cohorts_only, folder, on_error="raise", n_jobs=2, drawn=[("", folder / n, "") for n in own])


def _one_cohort(res, acc: str | set[str]):
    """What a worker that analysed only ``acc`` holds: its tables, nothing of the other cohorts (a set
    of accessions: what a run of those cohorts alone holds of them)."""
    accs = {acc} if isinstance(acc, str) else set(acc)
    part = copy.copy(res)
    for name in ("features", "de", "de_contrast", "rankings", "km"):
        part.__dict__[name] = {k: v for k, v in getattr(res, name).items() if k in accs}
    for name in ("gsea", "survival", "cohorts", "coupling", "trends"):
        df = getattr(res, name)
        col = "accession" if name == "cohorts" else "cohort"
        part.__dict__[name] = df[df[col].astype(str).isin(accs)] if col in df.columns else df
    return part


def test_a_cohorts_figures_drawn_early_are_the_same_and_not_drawn_again(cohorts_only, at_the_end, tmp_path,
                                                                         monkeypatch):
    res, alone = cohorts_only, at_the_end
    early = []
    for acc in res.features:
        early += draw_cohort_figures(_one_cohort(res, acc), acc, tmp_path / "early", on_error="raise")
    names = {p.name for _, p, _ in early}
    # a cohort's own figures: scores, heatmap, volcano, GSEA and KM; coupling and trends wait for the run's q
    assert {"scores_GSE77314.png", "heatmap_GSE77314.png", "volcano_GSE77314.png"} <= names
    assert any(n.startswith("gsea_GSE126848") for n in names) and any(n.startswith("km_TCGA-LIHC") for n in names)
    assert not any(n.startswith(("coupling_", "trends_", "overview_", "claim_")) for n in names)
    drawn_again = []
    import mgtranscript.report._figures as figures_mod

    run_one = figures_mod._Drawer.run_one

    def spy(self, i):
        drawn_again.append(self.jobs[i].stem)
        return run_one(self, i)

    monkeypatch.setattr(figures_mod._Drawer, "run_one", spy)
    late = draw_figures(res, tmp_path / "early", on_error="raise", drawn=early, n_jobs=1)
    assert not {f"{s}.png" for s in drawn_again} & names  # not drawn twice
    assert [(s, p.name, c) for s, p, c in late] == [(s, p.name, c) for s, p, c in alone]
    for _, p, _ in alone:
        assert (tmp_path / "early" / p.name).read_bytes() == p.read_bytes(), p.name


def test_early_figures_name_the_units_of_their_own_cohort(cohorts_only, tmp_path):
    """Expression units given for counts and arrays are narrowed to the cohort's technology, so a
    cohort's heatmap does not depend on which other cohorts the run has (drawn from a run of an array
    and a count cohort, and from a run of the array cohort alone: the same file and caption; one
    cohort's figures are drawn as ``draw_figures`` draws them, see the test above)."""
    res = _one_cohort(cohorts_only, {"GSE126848", "GSE77314"})  # an array and a count cohort
    res.params = dict(res.params, expression_units="log2 CPM (TMM) for counts; log2 intensity for arrays")
    res.cohorts = res.cohorts.copy()
    res.cohorts.loc[res.cohorts["accession"] == "GSE126848", "technology"] = "array"
    got = {p.name: c for acc in ("GSE126848", "GSE77314")
           for _, p, c in draw_cohort_figures(res, acc, tmp_path / "both", on_error="raise")}
    assert "(expression: log2 intensity)" in got["heatmap_GSE126848.png"]
    assert "(expression: log2 CPM (TMM))" in got["heatmap_GSE77314.png"]
    one = draw_cohort_figures(_one_cohort(res, "GSE126848"), "GSE126848", tmp_path / "one", on_error="raise")
    assert (tmp_path / "one" / "heatmap_GSE126848.png").read_bytes() == \
        (tmp_path / "both" / "heatmap_GSE126848.png").read_bytes()
    assert [c for _, p, c in one if p.name == "heatmap_GSE126848.png"] == [got["heatmap_GSE126848.png"]]


def test_drawing_a_cohort_needs_its_row(cohorts_only, tmp_path):
    part = _one_cohort(cohorts_only, "GSE77314")
    part.cohorts = pd.DataFrame(columns=["accession", "technology"])
    with pytest.raises(UsageError, match="no row for 'GSE77314'"):
        draw_cohort_figures(part, "GSE77314", tmp_path)


def test_write_report_takes_the_early_figures(cohorts_only, tmp_path):
    res = copy.deepcopy(_one_cohort(cohorts_only, "GSE77314"))  # a run of one cohort
    early = draw_cohort_figures(res, "GSE77314", tmp_path / "out" / "figures")
    stamps = {p.name: p.stat().st_mtime_ns for _, p, _ in early}
    path = write_report(res, tmp_path / "out", drawn=early)
    html = path.read_text(encoding="utf-8")
    assert 'href="figures/volcano_GSE77314.png"' in html
    assert {p.name: p.stat().st_mtime_ns for _, p, _ in early} == stamps  # used as drawn
    assert {p.name for _, p, _ in early} < {p.name for _, p, _ in res.figures}


def test_the_rest_is_drawn_while_the_background_finishes(cohorts_only, at_the_end, tmp_path):
    """What the pipeline does: submit each cohort as soon as it is analysed (its row not yet in the
    cohorts table), then ``draw_figures(drawn=<CohortFigures>)``: cohorts not started in the background
    are drawn with the rest, the ones started are taken as drawn; the same list and the same files as
    drawing everything at the end."""
    res = cohorts_only
    rows = {r["accession"]: r for r in res.cohorts.to_dict("records")}
    during = copy.copy(res)
    during.cohorts = pd.DataFrame()
    bg = CohortFigures(tmp_path / "figures")  # one at a time, as the pipeline's: later cohorts wait in the queue
    for acc in res.features:
        bg.submit(during, acc, rows[acc])
    late = draw_figures(res, tmp_path / "figures", drawn=bg, n_jobs=2, on_error="raise")
    assert [(s, p.name, c) for s, p, c in late] == [(s, p.name, c) for s, p, c in at_the_end]
    # nothing is left running; what the background drew (it depends on the machine's load) is there
    assert all(p.is_file() for _, p, _ in bg.wait()) and not bg.names() - {p.name for _, p, _ in at_the_end}
    for _, p, _ in at_the_end:
        assert (tmp_path / "figures" / p.name).read_bytes() == p.read_bytes(), p.name
    assert not list((tmp_path / "figures").glob("*.tmp"))


def test_a_background_cohort_not_done_is_stopped_and_left_to_the_rest(cohorts_only, tmp_path, monkeypatch):
    """A drawing process still busy when the other figures are done (at low priority it may be starved
    on a busy machine) is stopped, not waited for; its cohort is drawn with the rest."""
    import time

    import mgtranscript.report._figures as figures_mod

    monkeypatch.setattr(figures_mod, "_draw_early", lambda *args: time.sleep(3600))
    bg = CohortFigures(tmp_path / "figures")
    bg.submit(cohorts_only, "GSE77314")
    assert "volcano_GSE77314.png" in bg.names()
    assert bg.finish() == [] and bg.names() == set()
    late = draw_figures(_one_cohort(cohorts_only, "GSE77314"), tmp_path / "figures", drawn=bg, on_error="raise")
    assert (tmp_path / "figures" / "volcano_GSE77314.png").is_file()
    assert any(p.name == "volcano_GSE77314.png" for _, p, _ in late)


def test_the_figures_a_stopped_background_finished_are_kept(cohorts_only, tmp_path, monkeypatch):
    """A background process stopped at the end keeps the PNGs it wrote whole (written to a temporary file,
    then renamed): only the others of its cohort are drawn with the rest. A file of an earlier run in the
    folder is not taken for one it drew."""
    import os
    import time

    import mgtranscript.report._figures as figures_mod

    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "heatmap_GSE77314.png").write_bytes(b"an earlier run's")
    old = time.time() - 3600
    os.utime(figures / "heatmap_GSE77314.png", (old, old))

    def one_then_stuck(view, acc, folder, svg):
        (folder / f"scores_{acc}.png").write_bytes(b"drawn in the background")
        time.sleep(3600)

    monkeypatch.setattr(figures_mod, "_draw_early", one_then_stuck)
    bg = CohortFigures(figures)
    bg.submit(cohorts_only, "GSE77314")
    deadline = time.monotonic() + 60
    while not (figures / "scores_GSE77314.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = bg.finish()
    assert [p.name for _, p, _ in kept] == ["scores_GSE77314.png"]
    late = draw_figures(_one_cohort(cohorts_only, "GSE77314"), figures, drawn=kept, on_error="raise")
    assert (figures / "scores_GSE77314.png").read_bytes() == b"drawn in the background"  # not drawn again
    assert (figures / "heatmap_GSE77314.png").read_bytes() != b"an earlier run's"  # drawn anew
    assert {"scores_GSE77314.png", "heatmap_GSE77314.png", "volcano_GSE77314.png"} <= {p.name for _, p, _ in late}


def test_a_background_cohort_done_lists_only_the_figures_it_wrote(cohorts_only, tmp_path, monkeypatch):
    """A drawing process that completes without writing one of its figures (a figure it could not
    draw is logged and skipped) does not count an earlier run's file of that name as drawn."""
    import os
    import time

    import mgtranscript.report._figures as figures_mod

    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "heatmap_GSE77314.png").write_bytes(b"an earlier run's")
    old = time.time() - 3600
    os.utime(figures / "heatmap_GSE77314.png", (old, old))
    monkeypatch.setattr(figures_mod, "_draw_early",
                        lambda view, acc, folder, svg: (folder / f"scores_{acc}.png").write_bytes(b"drawn"))
    bg = CohortFigures(figures)
    bg.submit(cohorts_only, "GSE77314")
    assert [p.name for _, p, _ in bg.wait()] == ["scores_GSE77314.png"]

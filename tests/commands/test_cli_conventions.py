"""Command-line conventions (issue 9): where output goes, how failures look, exit codes,
arguments checked before any work, outputs that a failed run leaves untouched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from mgtranscript import cli, settings
from mgtranscript.cli import main
from mgtranscript.errors import DataFormatError

from support.paths import REPO


def run_module(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """``python -m mgtranscript ARGS`` with this checkout first on the path and this test's settings
    (as the child's environment, which it reads once)."""
    full_env = {**os.environ, **settings.to_environ(),
                "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, "-m", "mgtranscript", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def command(monkeypatch):
    """Replace what ``mgtranscript datasets`` does with ``fn(args)`` (to provoke failures)."""
    from mgtranscript.commands import datasets

    def use(fn):
        monkeypatch.setattr(datasets, "run", fn)

    return use


# --------------------------------------------------------------------------- basics


@pytest.mark.slow
def test_python_dash_m_and_bare_command_prints_usage_to_stderr():
    r = run_module("--version")
    assert r.returncode == 0 and r.stdout.startswith("mgtranscript ")
    r = run_module()
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("usage: mgtranscript") and "a command is required" in r.stderr


def test_usage_errors_go_to_stderr_with_status_2(capsys):
    assert main(["run", "--bogus"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unrecognized arguments: --bogus" in err and "Traceback" not in err
    assert main(["score", "x.h5ad", "--method", "nope"]) == 2  # checked before the input file
    out, err = capsys.readouterr()
    assert out == "" and "'nope' is not a scoring method" in err and "ssgsea" in err and "Traceback" not in err


def test_help_is_quick_and_names_every_scoring_method():
    """``mgtranscript --help`` / ``COMMAND -h`` build the parser without loading an analysis library (a
    fraction of a second, not the seconds scanpy takes); the methods ``score -h`` names are tl.METHODS."""
    from mgtranscript import tl
    from mgtranscript.commands.score import METHOD_NAMES

    assert METHOD_NAMES == tuple(tl.METHODS)
    heavy = ("numpy", "pandas", "scipy", "anndata", "scanpy", "matplotlib", "gseapy")
    code = ("import sys; from mgtranscript.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert r.stdout.strip() == ""
    assert main(["score", "-h"]) == 0


@pytest.mark.parametrize("argv", [["-v", "datasets"], ["datasets", "-v"], ["-q", "datasets"],
                                  ["datasets", "-q"], ["-v", "datasets", "-vv"], ["datasets", "--quiet"]])
def test_verbosity_options_anywhere(argv, capsys):
    assert main(argv) == 0
    assert "GSE126848" in capsys.readouterr().out


def test_warnings_and_logs_go_to_stderr_one_line_without_source(command, capsys):
    def noisy(args):
        warnings.warn("the sample sheet matched 9 of 10 samples", UserWarning, stacklevel=2)
        warnings.warn("old option", FutureWarning, stacklevel=2)
        logging.getLogger("mgtranscript.datasets").info("loaded 10 samples")
        print("result")
        return 0

    command(noisy)
    assert main(["datasets"]) == 0
    out, err = capsys.readouterr()
    assert out == "result\n"
    assert err.splitlines() == ["warning: the sample sheet matched 9 of 10 samples",
                                "warning: FutureWarning: old option"]
    assert ".py" not in err  # no file name, line number or source line
    assert main(["datasets", "-v"]) == 0
    err = capsys.readouterr().err
    assert "loaded 10 samples" in err
    assert main(["datasets", "-q"]) == 0
    assert capsys.readouterr().err == ""  # -q: errors only


def test_cli_does_not_leak_handlers_or_warning_hooks(command, capsys):
    log = logging.getLogger("mgtranscript")
    handlers, level, hook = list(log.handlers), log.level, warnings.showwarning
    command(lambda args: 0)
    for _ in range(3):
        main(["datasets", "-v"])
    assert log.handlers == handlers and log.level == level and warnings.showwarning is hook


# --------------------------------------------------------------------------- failures


def test_an_error_is_one_line_with_status_1(command, capsys):
    def fail(args):
        raise DataFormatError("GSE1: the table is ragged at line 7; fix the file\nextra detail")

    command(fail)
    assert main(["datasets"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "mgtranscript datasets: error: GSE1: the table is ragged at line 7; fix the file"
    assert "Traceback" not in err and "extra detail" not in err and "-v for details" in err
    assert main(["datasets", "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "extra detail" in err


@pytest.mark.parametrize("exc, expected", [
    (EOFError("Compressed file ended before the end-of-stream marker was reached"), "cache verify --remove-bad"),
    (FileNotFoundError(2, "No such file or directory", "x.tsv"), "file not found: x.tsv"),
    (PermissionError(13, "Permission denied", "/root/x"), "permission denied: /root/x"),
    (MemoryError(), "out of memory"),
    (OSError(28, "No space left on device"), "No space left on device"),
    (TypeError("gdc() got an unexpected keyword argument 'platform'"), "internal error: TypeError"),
])
def test_no_traceback_unless_asked(command, capsys, exc, expected):
    def fail(args):
        raise exc

    command(fail)
    assert main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and expected in err
    assert len(err.strip().splitlines()) == 1
    settings.debug = True
    assert main(["datasets"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_is_status_130(command, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    command(interrupted)
    assert main(["datasets"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.slow
def test_closed_stdout_is_quiet(tmp_path):
    """``mgtranscript cache list | head -1``: no BrokenPipe traceback."""
    cache = tmp_path / "cache"
    d = cache / "example.org" / "files"
    d.mkdir(parents=True)
    for i in range(3000):  # far more than a pipe buffer of listing
        (d / f"file_{i:05d}.txt").write_text("x")
    env = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO), "MGTRANSCRIPT_CACHE": str(cache)}
    proc = subprocess.Popen([sys.executable, "-m", "mgtranscript", "cache", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert first.startswith(b"# cache:")
    assert "Traceback" not in err and "BrokenPipe" not in err and err.strip() == ""
    assert proc.returncode == 0


# --------------------------------------------------------------------------- checked before any work


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command starts real work (loading cohorts, the analysis plan)."""
    from mgtranscript import datasets, pipeline

    def forbidden(*a, **k):
        pytest.fail("work started before the arguments were checked")

    monkeypatch.setattr(pipeline, "run_analysis", forbidden)
    monkeypatch.setattr(datasets, "load_cohort", forbidden)
    monkeypatch.setattr(datasets, "geo", forbidden)


@pytest.mark.parametrize("argv, expected", [
    (["fetch", "GSE126848", "--out", "{tmp}/missing/x.h5ad"], "does not exist; create it first"),
    (["fetch", "GSE126848", "--out", "{tmp}"], "is a folder"),
    (["fetch", "GSE126848", "--out", "{tmp}/x.h5ad", "--samples", "{tmp}/nope.csv"], "no such sample sheet"),
    (["claims", "--out", "{tmp}/missing/claims.tsv"], "does not exist"),
    (["claims", "--from", "{tmp}/nothing"], "no tables/ folder"),
    (["claims", "--claims", "{tmp}/nope.tsv"], "no such claims TSV"),
    (["run", "--out", "{tmp}/f.txt"], "is a file, not a folder"),
    (["run", "--out", "{tmp}/missing/out"], "does not exist"),
    (["run", "--out", "{tmp}/out", "--method", "ssGSEA"], "did you mean 'ssgsea'"),
    (["run", "--out", "{tmp}/out", "--cohorts", "GSE9"], "not a cohort of the catalog"),
    (["run", "--out", "{tmp}/out", "--cohorts", "GSE126848", "--samples", "GSE77314={tmp}/f.txt"],
     "not among the cohorts analysed"),
    (["run", "--out", "{tmp}/out", "--samples", "GSE9={tmp}/f.txt"], "GSE9 is not among the cohorts"),
    (["run", "--out", "{tmp}/out", "--samples", "GSE77314={tmp}/nope.csv"], "no such sample sheet"),
    (["run", "--out", "{tmp}/out", "--samples", "GSE77314"], "expects ACCESSION=SHEET"),
    (["run", "--out", "{tmp}/out", "--permutations", "0"], "positive"),
    (["score", "{tmp}/nope.h5ad"], "no such .h5ad file"),
    (["score", "{tmp}/f.txt", "--out", "{tmp}/missing/s.tsv"], "does not exist"),
    (["genesets", "--export", "{tmp}/missing/x.gmt"], "does not exist"),
    (["genesets", "--coverage", "{tmp}/nope.h5ad"], "no such .h5ad file"),
])
def test_arguments_are_checked_before_any_work(argv, expected, tmp_path, capsys, no_work):
    (tmp_path / "f.txt").write_text("x\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert expected in err, err
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "error:" in ln]) == 1


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file", None])
def test_unreadable_h5ad_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "x.h5ad"
    if content is None:  # a real file cut short
        import anndata as ad
        import numpy as np

        ad.AnnData(np.ones((5, 4))).write_h5ad(path)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.write_bytes(content)
    for argv in (["score", str(path)], ["genesets", "--coverage", str(path)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("is empty" in err or "not a readable .h5ad" in err)
        assert len(err.strip().splitlines()) == 1


def test_cache_clear_asks_unless_yes(cache, capsys, monkeypatch):
    f = cache / "example.org" / "a.txt"
    f.parent.mkdir(parents=True)
    f.write_text("x")
    assert main(["cache", "clear"]) == 2  # no terminal to ask on: refuse
    assert "pass --yes" in capsys.readouterr().err and f.exists()

    class Tty:
        def __init__(self, answer):
            self.answer = answer

        def isatty(self):
            return True

        def readline(self):
            return self.answer + "\n"

    monkeypatch.setattr(sys, "stdin", Tty("n"))
    assert main(["cache", "clear"]) == 1
    assert "remove 1 cached files" in capsys.readouterr().err and f.exists()
    monkeypatch.setattr(sys, "stdin", Tty("y"))
    assert main(["cache", "clear"]) == 0 and not f.exists()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("x")
    monkeypatch.setattr(sys, "stdin", Tty(""))
    assert main(["cache", "clear", "--yes"]) == 0 and not f.exists()


# --------------------------------------------------------------------------- run: transactional


def _result(work: Path, status: str = "analysed"):
    from mgtranscript.pipeline import AnalysisResult

    res = AnalysisResult(out_dir=work)
    res.cohorts = pd.DataFrame([{"accession": "GSE126848", "status": status, "reason": "", "reason_short": "",
                                 "n_samples": 57}])
    res.claims = pd.DataFrame({"verdict": ["supported", "not testable"]})
    res.params = {"seconds": 0.1}
    return res


def _fake_run(calls: list, *, fail: BaseException | None = None, status: str = "analysed"):
    def _run(out, **kwargs):  # the work inside run_analysis's output transaction (pipeline._runner._run)
        calls.append((Path(out), kwargs))
        out = Path(out)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "report.html").write_text("<html>new</html>")
        (out / "tables" / "claims.tsv").write_text("not testable 28\n")
        (out / "tables" / "comparisons.tsv").write_text("\n")  # the 1-byte files of the issue
        if fail is not None:
            raise fail
        return _result(out, status)

    return _run


@pytest.fixture
def previous_output(tmp_path, monkeypatch) -> Path:
    """A good output folder written by an earlier (faked) run."""
    from mgtranscript import pipeline

    calls: list = []
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run(calls))
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--no-plots"]) == 0
    (out / "figures").mkdir()
    (out / "figures" / "old_figure.png").write_bytes(b"\x89PNG old")  # as an earlier run left it
    (out / "report.html").write_text("<html>good</html>")
    return out


@pytest.mark.parametrize("fail, code", [(RuntimeError("boom in cohort 3"), 1), (KeyboardInterrupt(), 130),
                                        (DataFormatError("GSE1: bad table"), 1)])
def test_a_failed_run_leaves_the_previous_output_byte_for_byte(previous_output, monkeypatch, capsys, fail, code):
    from mgtranscript import pipeline

    before = snapshot(previous_output)
    calls: list = []
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run(calls, fail=fail))
    assert main(["run", "--out", str(previous_output), "--no-plots"]) == code
    assert calls and calls[0][0] != previous_output  # the run wrote elsewhere
    assert snapshot(previous_output) == before
    assert sorted(os.listdir(previous_output.parent)) == ["out"]  # no temporary leftovers
    assert "Traceback" not in capsys.readouterr().err


def test_a_bad_method_leaves_the_previous_output_and_does_no_work(previous_output, no_work, capsys):
    before = snapshot(previous_output)
    assert main(["run", "--out", str(previous_output), "--method", "ssGSEA"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'ssgsea'" in err
    assert snapshot(previous_output) == before


def test_a_run_that_analysed_nothing_does_not_replace_the_output(previous_output, monkeypatch, capsys):
    from mgtranscript import pipeline

    before = snapshot(previous_output)
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run([], status="unavailable"))
    assert main(["run", "--out", str(previous_output)]) == 1
    assert "left as it was" in capsys.readouterr().err
    assert snapshot(previous_output) == before


def test_a_completed_run_replaces_the_output_whole_with_a_manifest(previous_output, monkeypatch, capsys):
    from mgtranscript import pipeline
    from mgtranscript.pipeline import read_manifest

    calls: list = []
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run(calls))
    assert main(["run", "--out", str(previous_output), "--method", "zscore", "--no-plots"]) == 0
    files = snapshot(previous_output)
    assert "figures/old_figure.png" not in files  # nothing stale survives
    assert files["report.html"] == b"<html>new</html>"
    manifest = read_manifest(previous_output)
    assert {f["path"] for f in manifest["files"]} == {"report.html", "tables/claims.tsv", "tables/comparisons.tsv"}
    assert manifest["method"] == "zscore"
    assert calls[0][1]["method"] == "zscore"
    assert f"wrote {previous_output}/report.html" in capsys.readouterr().out


def test_samples_are_passed_on_checked(tmp_path, monkeypatch, shared_dir):
    from mgtranscript import pipeline

    calls: list = []
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run(calls))
    sheet = shared_dir / "samples" / "GSE77314_SraRunTable.csv"
    assert main(["run", "--out", str(tmp_path / "o"), "--cohorts", "gse77314",
                 "--samples", f"gse77314={sheet}"]) == 0
    kwargs = calls[0][1]
    assert kwargs["cohorts"] == ["GSE77314"] and kwargs["samples"] == {"GSE77314": str(sheet)}


@pytest.mark.parametrize("argv, values", [(["--no-progress"], {}), ([], {"progress": False}), (["-q"], {})])
def test_progress_off_reaches_the_pipeline(tmp_path, monkeypatch, argv, values):
    from mgtranscript import pipeline

    calls: list = []
    monkeypatch.setattr(pipeline._runner, "_run", _fake_run(calls))
    settings.progress = True  # bars on (tests run with them off)
    settings.update(**values)
    assert main(["run", "--out", str(tmp_path / "o"), *argv]) == 0
    assert calls[0][1]["progress"] is False
    assert settings.progress is ("progress" not in values)  # -q turned the bars off for that command only


def test_claims_output_is_written_whole(tmp_path, previous_output, capsys):
    out = tmp_path / "claims.tsv"
    out.write_text("previous verdicts\n")
    (previous_output / "tables" / "cohorts.tsv").write_text("accession\tstatus\n")
    assert main(["claims", "--from", str(previous_output), "--out", str(out)]) == 0
    assert out.read_text().startswith("claim_id")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_cli_module_has_no_root_logging(command):
    command(lambda args: 0)
    root = list(logging.getLogger().handlers)
    main(["datasets"])
    assert logging.getLogger().handlers == root
    assert cli.COMMANDS["run"] == "run"


# --------------------------------------------------------------------------- the first hour of a new user


def _walk(parser, path=("mgtranscript",)):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        else:
            yield path, action


def test_every_option_of_every_command_has_help():
    import argparse

    missing = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
               for path, a in _walk(cli.build_parser()) if not a.help or a.help == argparse.SUPPRESS]
    assert missing == []
    seen = {(path[-1], o) for path, a in _walk(cli.build_parser()) for o in a.option_strings}
    assert {("run", "--seed"), ("claims", "--cohorts"), ("run", "--no-progress")} <= seen  # the walk reaches them


@pytest.mark.parametrize("argv, suggestion", [(["fecth", "GSE1"], "fetch"), (["cache", "lst"], "list"),
                                              (["fetch", "GSE1", "--source", "matrx"], "matrix")])
def test_a_mistyped_word_gets_did_you_mean(argv, suggestion, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"did you mean '{suggestion}'?" in err and "Traceback" not in err
    assert cli.did_you_mean("invalid choice: 'zzzzzz' (choose from 'run', 'fetch')") == ""


def test_a_repeated_warning_is_shown_once_and_gseapy_speaks_like_us(command, capsys):
    """The same warning twice (GSVA's "genes constant", once per family of sets of one cohort) is shown once;
    gseapy's own timestamped console lines become our one-line warnings."""
    import numpy as np

    from mgtranscript.commands._common import gseapy_logs_as_ours

    def noisy(args):
        log = logging.getLogger("mgtranscript.tl._score.gsva")
        for _ in range(2):
            log.warning("1471 gene(s) have constant expression across samples and are discarded for GSVA.")
        log.warning("3577 gene(s) have constant expression across samples and are discarded for GSVA.")
        ranking = pd.Series(np.repeat(np.arange(60.0), 2), index=[f"G{i}" for i in range(120)])  # ties
        with gseapy_logs_as_ours():
            from mgtranscript import tl

            tl.gsea_prerank(ranking, {"S": [f"G{i}" for i in range(0, 120, 7)]}, permutations=20)
        return 0

    command(noisy)
    assert main(["datasets"]) == 0
    err = capsys.readouterr().err
    assert err.count("1471 gene(s) have constant") == 1 and err.count("3577 gene(s) have constant") == 1
    assert "warning: gseapy: Duplicated values found in preranked stats" in err
    assert "[WARNING]" not in err


def test_run_prints_the_time_of_the_whole_run_and_phases_at_v(tmp_path, monkeypatch, capsys):
    """The printed time covers everything `run` did (here a faked analysis that takes its time);
    -v adds one line with the time of each phase."""
    import time

    from mgtranscript import pipeline

    def slow(out, **kwargs):
        res = _fake_run([])(out, **kwargs)
        res.timings.update({"cohorts": 0.2, "claims": 0.0, "tables": 0.0, "figures and report": 0.1})
        res.cohorts = pd.concat([res.cohorts, pd.DataFrame([{
            "accession": "GSE142530", "status": "unavailable", "n_samples": 0,
            "reason": "GSE142530: not in the mirror (offline): GSE142530_series_matrix.txt.gz",
            "reason_short": "GSE142530: not in the mirror (offline): GSE142530_series_matrix.txt.gz"}])])
        time.sleep(0.3)
        return res

    monkeypatch.setattr(pipeline._runner, "_run", slow)
    assert main(["-v", "run", "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    secs = float(out.rsplit(" in ", 1)[1].split(" s")[0])
    assert secs >= 0.3  # not the analysis' own "seconds" parameter (0.1)
    phases = [ln for ln in err.splitlines() if ln.startswith("time: ")]
    assert len(phases) == 1 and "cohorts 0.2 s" in phases[0] and "figures and report 0.1 s" in phases[0]
    assert "total" in phases[0]
    line = next(ln for ln in out.splitlines() if "GSE142530" in ln)
    assert line.count("GSE142530") == 2 and "n=0    not in the mirror (offline)" in line  # the id once, then the file

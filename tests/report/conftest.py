"""Fixtures of the report tests: the synthetic result built once, its report drawn once per session."""

from __future__ import annotations

import copy

import pytest

from mgtranscript.report import write_report

from support.report_fixture import make_result


@pytest.fixture(scope="session")
def synthetic_result():
    """The synthetic result (support.report_fixture.make_result), built once: never change it, take
    a deep copy (``result``)."""
    return make_result()


@pytest.fixture
def result(synthetic_result):
    """A private deep copy of the synthetic result, for a test that changes it."""
    return copy.deepcopy(synthetic_result)


@pytest.fixture(scope="session")
def drawn_report(tmp_path_factory, synthetic_result):
    """``(result, out dir, report html text)``: the synthetic run's report with every figure, drawn
    once per session by two processes (``n_jobs=2``; the figures of one process, see
    test_figures_drawn_in_parallel_are_the_same_figures); ``result.figures`` lists them. Tests only read it."""
    out = tmp_path_factory.mktemp("report") / "out"
    res = copy.deepcopy(synthetic_result)
    res.out_dir = out
    path = write_report(res, out, n_jobs=2)
    return res, out, path.read_text(encoding="utf-8")

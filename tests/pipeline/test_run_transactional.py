"""``pipeline.run_analysis`` (the Python API, not only the CLI) writes its output folder
transactionally: a run that fails mid-way leaves the previous output byte for byte, and a
completed run leaves no stale file of an earlier one.

The pipeline's inner work is replaced (cohorts unavailable, no mechanism sets) so the test
runs in a second; the failure is a full disk on the second table written.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from mgtranscript import settings
from mgtranscript.pipeline import transactional_output
from mgtranscript.errors import FetchError, MgTranscriptError

def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def quick_plan(monkeypatch, tmp_path):
    """Every cohort unavailable and no mechanism sets: the plan only writes its tables and report."""
    from mgtranscript import datasets
    from mgtranscript import genesets

    def unavailable(acc, **kwargs):
        raise FetchError(f"{acc}: not available in this test")

    def no_sets():
        raise MgTranscriptError("no mechanism sets in this test")

    monkeypatch.setattr(datasets, "load_cohort", unavailable)
    monkeypatch.setattr(genesets, "mechanism_sets", no_sets)
    settings.cache_dir = tmp_path / "cache"
    out = tmp_path / "out"
    with transactional_output(out) as work:  # a good earlier output
        (work / "tables").mkdir()
        (work / "figures").mkdir()
        (work / "report.html").write_text("<html>good</html>")
        (work / "tables" / "claims.tsv").write_text("claim_id\tverdict\nC1\tsupported\n")
        (work / "figures" / "stale.png").write_bytes(b"\x89PNG from an earlier run")
    return out


def test_run_analysis_failing_mid_write_leaves_previous_output(quick_plan, monkeypatch):
    from mgtranscript.pipeline import run_analysis

    before = snapshot(quick_plan)
    real = pd.DataFrame.to_csv
    calls = []

    def disk_full_on_second_table(self, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("path_or_buf"))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full_on_second_table)
    with pytest.raises(OSError, match="No space"):
        run_analysis(quick_plan, cohorts=["GSE126848"], plots=False, report=False, progress=False)
    assert len(calls) == 2
    assert snapshot(quick_plan) == before
    assert [n for n in os.listdir(quick_plan.parent) if n.startswith(".out")] == []  # no leftovers


def test_run_analysis_without_any_analysed_cohort_fails_and_leaves_previous_output(quick_plan):
    """A run that analyses nothing must not replace a good earlier output (the successful
    replacement, stale files included, is checked on a real run in tests/pipeline/test_pipeline.py)."""
    from mgtranscript.pipeline import run_analysis

    before = snapshot(quick_plan)
    with pytest.raises(MgTranscriptError, match="no cohort could be analysed.*left as it was"):
        run_analysis(quick_plan, cohorts=["GSE126848"], plots=False, report=False, progress=False)
    assert snapshot(quick_plan) == before
    assert [n for n in os.listdir(quick_plan.parent) if n.startswith(".out")] == []

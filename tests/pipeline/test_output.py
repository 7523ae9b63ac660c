"""Transactional outputs (mgtranscript.pipeline._output): a failed or interrupted run leaves the
previous output byte for byte; a completed one replaces it whole, with a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgtranscript.pipeline import _output
from mgtranscript.pipeline import (
    MANIFEST,
    atomic_file,
    check_output_file,
    check_output_path,
    read_manifest,
    transactional_output,
)
from mgtranscript.errors import OutputPathError


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (the "byte for byte" the tests compare)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def siblings(folder: Path) -> list[str]:
    """Anything beside ``folder`` other than ``folder`` itself (temporary leftovers)."""
    return sorted(n for n in os.listdir(folder.parent) if n != folder.name)


def write_run(work: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)


@pytest.fixture
def previous(tmp_path) -> Path:
    """A completed earlier output in tmp_path/run/out."""
    (tmp_path / "run").mkdir()
    out = tmp_path / "run" / "out"
    with transactional_output(out) as work:
        write_run(work, {"report.html": "<html>old</html>", "tables/claims.tsv": "claim\tverdict\nC1\tsupported\n",
                         "figures/old_only.png": "png-bytes"})
    return out


def test_a_new_output_has_every_file_and_a_manifest(tmp_path):
    out = tmp_path / "out"
    with transactional_output(out, manifest={"command": "test"}) as work:
        assert work.parent == tmp_path and work != out and not out.exists()
        write_run(work, {"report.html": "hello", "tables/a.tsv": "x\n1\n"})
    assert snapshot(out).keys() == {"report.html", "tables/a.tsv", MANIFEST}
    m = read_manifest(out)
    assert m["command"] == "test" and m["format"].startswith("mgtranscript-output/")
    listed = {f["path"]: f for f in m["files"]}
    assert set(listed) == {"report.html", "tables/a.tsv"}
    for rel, f in listed.items():
        data = (out / rel).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert siblings(out) == []


def test_a_completed_run_replaces_the_old_output_whole(previous):
    with transactional_output(previous) as work:
        write_run(work, {"report.html": "<html>new</html>", "tables/claims.tsv": "new\n"})
    files = snapshot(previous)
    assert files["report.html"] == b"<html>new</html>"
    assert "figures/old_only.png" not in files  # no stale file from the earlier run survives
    assert {f["path"] for f in read_manifest(previous)["files"]} == {"report.html", "tables/claims.tsv"}
    assert siblings(previous) == []


@pytest.mark.parametrize("exc", [RuntimeError("mid-run failure"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_run_leaves_the_old_output_byte_for_byte(previous, exc):
    before = snapshot(previous)
    stat_before = {p: (previous / p).stat().st_mtime_ns for p in before}
    with pytest.raises(type(exc)):
        with transactional_output(previous) as work:
            write_run(work, {"report.html": "half", "tables/claims.tsv": "x"})
            (work / "tables" / "empty.tsv").write_text("\n")
            raise exc
    assert snapshot(previous) == before
    assert {p: (previous / p).stat().st_mtime_ns for p in before} == stat_before  # not even touched
    assert siblings(previous) == []  # the temporary folder is gone


def test_failure_while_swapping_in_leaves_the_old_output(previous, monkeypatch):
    before = snapshot(previous)
    monkeypatch.setattr(_output, "_exchange", lambda a, b: False)  # the two-rename path
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old set aside; bringing the new one in fails
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(_output.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with transactional_output(previous) as work:
            write_run(work, {"report.html": "new"})
    monkeypatch.setattr(_output.os, "rename", real_rename)
    assert snapshot(previous) == before
    assert siblings(previous) == []


def test_failure_writing_the_manifest_leaves_the_old_output(previous, monkeypatch):
    before = snapshot(previous)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_output, "write_manifest", boom)
    with pytest.raises(OSError, match="No space"):
        with transactional_output(previous) as work:
            write_run(work, {"report.html": "new"})
    assert snapshot(previous) == before and siblings(previous) == []


def test_two_rename_fallback_replaces_the_output(previous, monkeypatch):
    monkeypatch.setattr(_output, "_exchange", lambda a, b: False)
    with transactional_output(previous) as work:
        write_run(work, {"only.txt": "new"})
    assert set(snapshot(previous)) == {"only.txt", MANIFEST} and siblings(previous) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_run_are_cleaned_and_a_cut_swap_is_restored(previous):
    before = snapshot(previous)
    pid = _dead_pid()
    stale = previous.parent / f".out.tmp-{pid}-dead"
    stale.mkdir()
    (stale / "report.html").write_text("half-written by a killed run")
    with transactional_output(previous) as work:
        write_run(work, {"report.html": "new"})
    assert not stale.exists() and siblings(previous) == []

    # killed between "set the old output aside" and "bring the new one in"
    aside = previous.parent / f".out.old-{pid}-dead"
    os.rename(previous, aside)
    with pytest.raises(RuntimeError):
        with transactional_output(previous):
            assert previous.is_dir()  # restored on entry
            raise RuntimeError
    assert snapshot(previous)["report.html"] == b"new" and siblings(previous) == []
    del before


def test_symlinked_output_folder_is_replaced_through_the_link(previous, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(previous)
    with transactional_output(link) as work:
        write_run(work, {"report.html": "via link"})
    assert link.is_symlink() and (link / "report.html").read_text() == "via link"


def test_output_folder_keeps_its_permissions(previous):
    os.chmod(previous, 0o750)
    with transactional_output(previous) as work:
        write_run(work, {"a": "b"})
    assert (previous.stat().st_mode & 0o777) == 0o750


# --------------------------------------------------------------------------- checks


def test_check_output_path_accepts_new_empty_and_earlier_outputs(tmp_path, previous):
    assert check_output_path(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_output_path(tmp_path / "empty")
    check_output_path(previous)
    legacy = tmp_path / "legacy"  # a run of an older version: provenance.json, no manifest
    legacy.mkdir()
    (legacy / "provenance.json").write_text("{}")
    check_output_path(legacy)


@pytest.mark.parametrize("case, expected", [
    ("file", "is a file"),
    ("missing_parent", "does not exist; create it first"),
    ("parent_is_file", "is not a folder"),
    ("foreign_folder", "other files in it"),
    ("root", "give a folder"),
])
def test_check_output_path_fails_fast_in_one_line(tmp_path, case, expected):
    paths = {
        "file": tmp_path / "f.txt",
        "missing_parent": tmp_path / "no" / "such" / "out",
        "parent_is_file": tmp_path / "f.txt" / "out",
        "foreign_folder": tmp_path / "mine",
        "root": Path("/"),
    }
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    with pytest.raises(OutputPathError, match=expected) as err:
        check_output_path(paths[case])
    assert "\n" not in str(err.value)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_a_foreign_folder_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(OutputPathError):
        with transactional_output(mine):
            pytest.fail("the block must not run")
    assert snapshot(mine) == {"thesis.docx": b"precious"}
    assert siblings(mine) == []


def test_unwritable_parent_is_reported(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(_output.os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))
    with pytest.raises(OutputPathError, match="permission denied"):
        check_output_path(tmp_path / "out")
    with pytest.raises(OutputPathError, match="permission denied"):
        check_output_file(tmp_path / "x.tsv")


def test_check_output_file(tmp_path):
    assert check_output_file(tmp_path / "x.h5ad") == tmp_path / "x.h5ad"
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.h5ad")


def test_atomic_file_replaces_or_leaves_the_file(tmp_path):
    target = tmp_path / "claims.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".tsv"
            tmp.write_text("half")
            raise RuntimeError
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["claims.tsv"]
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["claims.tsv"]
    with atomic_file(tmp_path / "scores.h5ad") as tmp:
        assert tmp.name.endswith(".h5ad")
        tmp.write_bytes(b"x")
    assert (tmp_path / "scores.h5ad").read_bytes() == b"x"


def test_manifest_is_valid_json_listing_nested_files(tmp_path):
    out = tmp_path / "o"
    with transactional_output(out) as work:
        write_run(work, {"a/b/c.txt": "deep"})
    m = json.loads((out / MANIFEST).read_text())
    assert [f["path"] for f in m["files"]] == ["a/b/c.txt"]

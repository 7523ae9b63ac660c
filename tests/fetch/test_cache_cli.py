"""``mgtranscript cache list|verify|clear|dir`` on a real cache filled from the mirror."""

from __future__ import annotations

import gzip

import pytest

from mgtranscript import settings
from mgtranscript.cli import main
from mgtranscript.fetch import Decompress, cache_entries, fetch, partial_path
from mgtranscript.fetch import _urls as urls
from mgtranscript.fetch import mirror_relpath

from support.fetch_helpers import COUNTS_URL, HALLMARK_URL


MATRIX_URL = urls.geo_series_matrix_url("GSE126848")


@pytest.fixture
def filled(mirror_dir, cache):
    settings.mirror = mirror_dir
    paths = {u: fetch(u) for u in (MATRIX_URL, HALLMARK_URL)}
    return paths


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(["cache", *argv])
    return code, capsys.readouterr().out


def test_cache_dir(cache, capsys):
    code, out = _run(capsys, "dir")
    assert code == 0 and out.strip() == str(cache)


def test_cache_list_shows_files_with_provenance(filled, manifest, capsys):
    code, out = _run(capsys, "list")
    assert code == 0
    assert "(2 files" in out
    for url in (MATRIX_URL, HALLMARK_URL):
        rel = mirror_relpath(url)
        line = next(ln for ln in out.splitlines() if ln.startswith(rel + "\t"))
        path, size, sha, fetched, listed_url = line.split("\t")
        assert int(size) == int(manifest[rel]["bytes"])
        assert sha == manifest[rel]["sha256"] and listed_url == url and fetched


def test_cache_list_hides_partial_and_temp_files(filled, cache, capsys):
    part = partial_path(COUNTS_URL)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\x1f\x8b half")
    (cache / mirror_relpath(MATRIX_URL)).with_name(".x.txt.tmp").write_bytes(b"tmp")
    code, out = _run(capsys, "list")
    assert "(2 files" in out and ".part" not in out and ".tmp" not in out
    assert len(cache_entries()) == 2


def test_cache_verify_detects_and_removes_corruption(filled, cache, capsys):
    code, out = _run(capsys, "verify")
    assert code == 0 and "2 files checked, 0 failed" in out
    bad = filled[MATRIX_URL]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # damaged after download (disk, user)
    code, out = _run(capsys, "verify")
    assert code == 1
    assert f"BAD\t{mirror_relpath(MATRIX_URL)}" in out and "1 failed" in out
    assert bad.exists()  # verify alone does not delete
    code, out = _run(capsys, "verify", "--remove-bad")
    assert code == 1 and "(removed)" in out
    assert not bad.exists()
    code, out = _run(capsys, "verify")
    assert code == 0 and "1 files checked, 0 failed" in out
    # the next fetch downloads it again
    assert gzip.decompress(fetch(MATRIX_URL).read_bytes())


def test_cache_verify_catches_same_size_tampering(filled, capsys):
    path = filled[HALLMARK_URL]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out = _run(capsys, "verify")
    assert code == 1 and "sha256" in out


def test_cache_clear_pattern_and_all(filled, cache, capsys):
    Decompress()(filled[MATRIX_URL])  # a derived file is a cache file too
    assert len(cache_entries()) == 3
    code, out = _run(capsys, "clear", "--pattern", "msigdb", "--yes")
    assert code == 0 and "removed 1 files" in out
    assert {r["path"] for r in cache_entries()} == {
        mirror_relpath(MATRIX_URL), mirror_relpath(MATRIX_URL)[: -len(".gz")]
    }
    part = partial_path(COUNTS_URL)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"half")
    code, out = _run(capsys, "clear", "--yes")
    assert code == 0 and "removed 2 files" in out
    assert cache_entries() == [] and not part.exists()
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_decompressed_file_is_tracked_and_verified(filled, cache, capsys):
    from support.fetch_helpers import assert_cache_clean

    plain = Decompress()(filled[MATRIX_URL])
    assert plain.read_bytes() == gzip.decompress(filled[MATRIX_URL].read_bytes())
    assert Decompress()(filled[MATRIX_URL]) == plain  # reused, not redone
    assert_cache_clean(cache)
    code, out = _run(capsys, "list")
    line = next(ln for ln in out.splitlines() if ln.startswith(mirror_relpath(MATRIX_URL)[:-3] + "\t"))
    assert line.endswith(f"(derived from {mirror_relpath(MATRIX_URL)})")  # provenance
    plain.write_bytes(plain.read_bytes()[:-10])
    code, out = _run(capsys, "verify")
    assert code == 1 and "BAD" in out

"""A cache that heals: a cached file that no longer matches its record or fails to decode is
evicted and fetched again once; offline, one line names the file and the fix."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os

import pytest

from mgtranscript import settings
from mgtranscript._settings import init_worker
from mgtranscript.cli import main
from mgtranscript.errors import DataFormatError, DownloadCorrupt, OfflineError
from mgtranscript.fetch import _cache as fcache
from mgtranscript.fetch import fetch, fetch_read, integrity_problem, read_meta, sha256sum
from mgtranscript.fetch import _urls as urls
from mgtranscript.fetch import mirror_relpath

from support.fetch_helpers import assert_cache_clean, COUNTS_URL, HALLMARK_URL


MATRIX_URL = urls.geo_series_matrix_url("GSE126848")


def _hits(server, url) -> int:
    return server.hits["/" + mirror_relpath(url)]


def _truncate(path, keep=0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _gunzip_all(path):
    with gzip.open(path, "rb") as fh:
        return fh.read()


def test_truncated_cached_file_is_fetched_again(fault_server, cache, manifest):
    path = fetch(COUNTS_URL)
    _truncate(path)
    assert "recorded" in integrity_problem(path)
    again = fetch(COUNTS_URL)
    assert _hits(fault_server, COUNTS_URL) == 2
    assert sha256sum(again) == manifest[mirror_relpath(COUNTS_URL)]["sha256"]
    assert_cache_clean(cache)


def test_same_size_change_is_caught_by_sha256_when_the_file_was_touched(fault_server, cache, manifest):
    path = fetch(HALLMARK_URL)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime
    assert "sha256" in integrity_problem(path)
    fetch(HALLMARK_URL)
    assert _hits(fault_server, HALLMARK_URL) == 2
    assert_cache_clean(cache)


def test_touched_but_intact_file_is_kept_and_hashed_once(fault_server, cache, monkeypatch):
    path = fetch(HALLMARK_URL)
    os.utime(path, ns=(1, 1))
    hashed = []
    real = fcache.sha256sum
    monkeypatch.setattr(fcache, "sha256sum", lambda p: hashed.append(p) or real(p))
    fetch(HALLMARK_URL)
    fetch(HALLMARK_URL)
    assert _hits(fault_server, HALLMARK_URL) == 1
    assert len(hashed) == 1  # the new mtime was recorded: no hash on the next hit
    assert read_meta(path)["mtime_ns"] == 1


def test_decode_failure_without_metadata_is_healed_by_fetch_read(fault_server, cache):
    path = fetch(COUNTS_URL)
    _truncate(path)
    fcache._meta_path(path).unlink()  # an old cache entry: no record to compare with
    data = fetch_read(COUNTS_URL, _gunzip_all)  # EOFError on the first read -> evicted, fetched again
    assert len(data) > 1_000_000
    assert _hits(fault_server, COUNTS_URL) == 2
    assert_cache_clean(cache)


def test_format_error_on_an_intact_file_is_not_refetched(fault_server, cache):
    def reader(path):
        raise DataFormatError("not the layout expected")

    with pytest.raises(DataFormatError):
        fetch_read(HALLMARK_URL, reader)
    assert _hits(fault_server, HALLMARK_URL) == 1


def test_a_source_that_stays_unreadable_is_reported(fault_server, cache):
    def reader(path):
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    with pytest.raises(DownloadCorrupt, match="fetched again but still cannot be read"):
        fetch_read(HALLMARK_URL, reader)
    assert _hits(fault_server, HALLMARK_URL) == 2  # once more, not in a loop


def test_offline_a_damaged_file_is_named_with_the_fix(fault_server, cache, caplog):
    path = fetch(COUNTS_URL)
    _truncate(path)
    settings.offline = True
    with pytest.raises(OfflineError) as err:
        fetch(COUNTS_URL)
    msg = str(err.value)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [msg]  # logged once too
    assert "\n" not in msg
    assert mirror_relpath(COUNTS_URL) in msg and "damaged" in msg and "MGTRANSCRIPT_OFFLINE" in msg
    assert not path.exists()  # evicted: the next online run fetches it
    assert _hits(fault_server, COUNTS_URL) == 1
    settings.offline = False
    fetch(COUNTS_URL)
    assert_cache_clean(cache)


def test_offline_decode_failure_names_the_file(fault_server, cache):
    path = fetch(COUNTS_URL)
    _truncate(path)
    fcache._meta_path(path).unlink()
    settings.offline = True
    with pytest.raises(OfflineError, match=r"damaged \(gzip stream is truncated .*unset MGTRANSCRIPT_OFFLINE"):
        fetch_read(COUNTS_URL, _gunzip_all)
    assert not path.exists()


def test_cli_fetch_heals_a_truncated_cached_file(mirror_dir, cache, tmp_path, capsys):
    """The issue's failure: a truncated cached file crashed `fetch` with an EOFError traceback."""
    settings.mirror = mirror_dir
    out = tmp_path / "x.h5ad"
    assert main(["fetch", "GSE126848", "--out", str(out), "--no-harmonise"]) == 0
    counts = cache / mirror_relpath(urls.geo_suppl_url("GSE126848", "GSE126848_Gene_counts_raw.txt.gz"))
    matrix = cache / mirror_relpath(MATRIX_URL)
    for p in (counts, matrix):
        _truncate(p)
    fcache._meta_path(matrix).unlink()  # one of them without a record: healed when it fails to decode
    capsys.readouterr()
    assert main(["fetch", "GSE126848", "--out", str(out), "--no-harmonise"]) == 0
    out_text, err = capsys.readouterr()
    assert "57 samples" in out_text and "Traceback" not in err
    assert "fetching it again" in err
    assert_cache_clean(cache)
    # offline, the damaged file is named with the fix in one warning line, then the error
    _truncate(counts)
    settings.update(offline=True, mirror=None)
    assert main(["fetch", "GSE126848", "--out", str(out), "--no-harmonise"]) == 1
    err = capsys.readouterr().err
    damaged = [ln for ln in err.splitlines() if "was damaged" in ln]
    assert len(damaged) == 1 and counts.name in damaged[0] and "unset MGTRANSCRIPT_OFFLINE" in damaged[0]
    assert "Traceback" not in err


def test_lock_files_do_not_pile_up(fault_server, cache):
    for url in (COUNTS_URL, HALLMARK_URL, MATRIX_URL):
        fetch(url)
    partial = cache / fcache.PARTIAL
    assert not partial.exists() or list(partial.rglob("*")) == []


def test_cache_commands_remove_stale_lock_files(cache, capsys):
    stale = cache / fcache.PARTIAL / "ftp.ncbi.nlm.nih.gov" / "gene" / "x.gz.lock"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    part = cache / fcache.PARTIAL / "ftp.ncbi.nlm.nih.gov" / "gene" / "y.gz.part"
    part.write_bytes(b"half")
    assert main(["cache", "list"]) == 0
    assert not stale.exists()
    assert part.exists()  # unfinished downloads stay for resuming
    assert "1 unfinished download" in capsys.readouterr().out


def _fetch_in_child(url):
    from mgtranscript.fetch import fetch as child_fetch

    return str(child_fetch(url))


def test_processes_fetching_the_same_file_download_it_once(fault_server, cache, manifest):
    ctx = multiprocessing.get_context("spawn")  # the workers get this test's settings explicitly
    with ctx.Pool(3, initializer=init_worker, initargs=(settings.to_dict(),)) as pool:
        paths = pool.map(_fetch_in_child, [COUNTS_URL] * 3)
    assert len(set(paths)) == 1
    assert _hits(fault_server, COUNTS_URL) == 1
    assert sha256sum(paths[0]) == manifest[mirror_relpath(COUNTS_URL)]["sha256"]
    partial = cache / fcache.PARTIAL
    assert not partial.exists() or list(partial.rglob("*")) == []
    assert_cache_clean(cache)


def test_meta_records_modification_time(fault_server, cache):
    path = fetch(HALLMARK_URL)
    meta = json.loads(fcache._meta_path(path).read_text())
    assert meta["mtime_ns"] == path.stat().st_mtime_ns and meta["bytes"] == path.stat().st_size

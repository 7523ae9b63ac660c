"""Faults injected by a local server over the real mirror; each test asserts the outcome.

After every fault the cache must hold only complete, verified files.
"""

from __future__ import annotations

import pytest

from mgtranscript import settings
from mgtranscript.errors import (
    AccessionNotFound,
    DownloadCorrupt,
    FetchError,
    HostNotAllowed,
    OfflineError,
)
from mgtranscript.fetch import cache_entries, fetch, partial_path, read_meta, sha256sum
from mgtranscript.fetch import _http as http
from mgtranscript.fetch import _urls as urls
from mgtranscript.fetch import mirror_relpath

from support.fetch_helpers import assert_cache_clean, COUNTS_URL, HALLMARK_URL


REL = mirror_relpath(COUNTS_URL)
PATH = "/" + REL


def _requests(server, path=PATH):
    return [headers for method, p, headers in server.log if p.split("?")[0] == path]


def _fetch_ok(manifest, url=COUNTS_URL, **kw):
    out = fetch(url, **kw)
    assert sha256sum(out) == manifest[mirror_relpath(url)]["sha256"]
    return out


def test_503_then_success(fault_server, cache, manifest):
    fault_server.faults[PATH] = ["503", "ok"]
    out = _fetch_ok(manifest)
    assert fault_server.hits[PATH] == 2
    assert read_meta(out)["url"] == COUNTS_URL
    assert_cache_clean(cache)


def test_persistent_500_gives_up_and_caches_nothing(fault_server, cache):
    settings.retries = 3
    fault_server.faults[PATH] = ["500"]
    with pytest.raises(FetchError, match="giving up after 3 tries") as err:
        fetch(COUNTS_URL)
    assert err.value.url == COUNTS_URL
    assert fault_server.hits[PATH] == 3
    assert cache_entries() == []
    assert_cache_clean(cache)


def test_dropped_connection_resumes_with_range(fault_server, cache, manifest):
    fault_server.faults[PATH] = ["drop:300000", "ok"]
    _fetch_ok(manifest)
    reqs = _requests(fault_server)
    assert len(reqs) == 2
    assert "Range" not in reqs[0]
    assert reqs[1]["Range"] == "bytes=300000-"  # only the rest was asked for
    assert not partial_path(COUNTS_URL).exists()
    assert_cache_clean(cache)


def test_server_ignoring_range_restarts_cleanly(fault_server, cache, manifest):
    fault_server.faults[PATH] = ["drop:300000", "norange"]
    _fetch_ok(manifest)  # a 200 answer to the Range request must not be appended
    reqs = _requests(fault_server)
    assert len(reqs) == 2 and reqs[1]["Range"] == "bytes=300000-"
    assert_cache_clean(cache)


def test_truncated_gzip_is_downloaded_again(fault_server, cache, manifest):
    fault_server.faults[PATH] = ["truncate:500000", "ok"]
    _fetch_ok(manifest)
    reqs = _requests(fault_server)
    assert len(reqs) == 2
    assert "Range" not in reqs[1]  # a clean restart, not an append to the bad bytes
    assert_cache_clean(cache)


def test_truncated_gzip_that_stays_truncated_raises_and_caches_nothing(fault_server, cache):
    settings.verify_retries = 3
    fault_server.faults[PATH] = ["truncate:500000"]
    with pytest.raises(DownloadCorrupt, match="gzip stream is truncated") as err:
        fetch(COUNTS_URL)
    assert "gave up after 3 downloads" in str(err.value)
    assert fault_server.hits[PATH] == 3  # bounded
    assert cache_entries() == []
    assert not (cache / REL).exists()
    assert not partial_path(COUNTS_URL).exists()
    assert_cache_clean(cache)


def test_sha256_mismatch_retried_then_ok(fault_server, cache, manifest):
    rel = mirror_relpath(HALLMARK_URL)
    fault_server.faults["/" + rel] = ["truncate:1000", "ok"]
    known = "sha256:" + manifest[rel]["sha256"]
    _fetch_ok(manifest, HALLMARK_URL, known_hash=known)
    assert fault_server.hits["/" + rel] == 2
    assert_cache_clean(cache)


def test_sha256_mismatch_persistent_raises_and_caches_nothing(fault_server, cache):
    rel = mirror_relpath(HALLMARK_URL)
    with pytest.raises(DownloadCorrupt, match="sha256 .* does not match"):
        fetch(HALLMARK_URL, known_hash="sha256:" + "0" * 64)
    assert fault_server.hits["/" + rel] == 3
    assert cache_entries() == []
    assert_cache_clean(cache)


def test_cached_file_with_other_hash_is_refetched(fault_server, cache, manifest):
    rel = mirror_relpath(HALLMARK_URL)
    fetch(HALLMARK_URL)
    fetch(HALLMARK_URL)
    assert fault_server.hits["/" + rel] == 1  # second call served from the cache
    fetch(HALLMARK_URL, known_hash="sha256:" + manifest[rel]["sha256"])
    assert fault_server.hits["/" + rel] == 1  # matching hash: still cached
    with pytest.raises(DownloadCorrupt):
        fetch(HALLMARK_URL, known_hash="md5:" + "0" * 32)
    assert fault_server.hits["/" + rel] == 4


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The delays the retry logic decides (recorded instead of slept)."""
    got: list[float] = []
    monkeypatch.setattr(http, "_sleep", got.append)
    return got


def test_429_honours_retry_after(fault_server, cache, manifest, waits):
    rel = mirror_relpath(HALLMARK_URL)
    fault_server.faults["/" + rel] = ["429:1", "ok"]
    _fetch_ok(manifest, HALLMARK_URL)
    assert fault_server.hits["/" + rel] == 2
    assert waits == [1.0]  # waited as told (backoff alone would be 0.01 s)
    assert_cache_clean(cache)


def test_429_wait_is_bounded(fault_server, cache, manifest, waits):
    settings.max_wait = 0.5
    rel = mirror_relpath(HALLMARK_URL)
    fault_server.faults["/" + rel] = ["429:3600", "ok"]
    _fetch_ok(manifest, HALLMARK_URL)
    assert waits == [0.5]  # Retry-After: 3600 capped by settings.max_wait


def test_backoff_doubles_between_tries(fault_server, cache, manifest, waits):
    settings.backoff = 0.25
    fault_server.faults[PATH] = ["503", "500", "503", "ok"]
    _fetch_ok(manifest)
    assert waits == [0.25, 0.5, 1.0]


def test_404_is_final(fault_server, cache, waits):
    url = urls.geo_series_matrix_url("GSE999999999")
    with pytest.raises(AccessionNotFound, match="GSE999999999") as err:
        fetch(url)
    assert err.value.url == url
    assert len(fault_server.log) == 1  # exactly one request: no retry storm
    assert waits == []
    assert_cache_clean(cache)


def test_unknown_host_refused_unless_explicit(fault_server, cache, manifest):
    with pytest.raises(HostNotAllowed, match="explicit"):
        fetch("https://example.org/data/file.txt.gz")
    with pytest.raises(HostNotAllowed):
        fetch("file:///etc/passwd", explicit=True)
    assert fault_server.log == []  # nothing was contacted
    settings.mirror = None
    direct = f"{fault_server.url}/{REL}"  # host 127.0.0.1, unknown to mgtranscript
    with pytest.raises(HostNotAllowed):
        fetch(direct)
    out = fetch(direct, explicit=True)
    assert sha256sum(out) == manifest[REL]["sha256"]
    assert_cache_clean(cache)


def test_offline_names_missing_file_and_public_url(fault_server, cache, manifest):
    settings.offline = True
    with pytest.raises(OfflineError) as err:
        fetch(COUNTS_URL)
    msg = str(err.value)
    assert REL in msg and COUNTS_URL in msg and "MGTRANSCRIPT_OFFLINE" in msg
    assert fault_server.log == []
    settings.offline = False
    fetch(COUNTS_URL)
    settings.offline = True
    _fetch_ok(manifest)  # cached files are served offline
    assert len(fault_server.log) == 1


def test_partial_file_left_behind_is_resumed(fault_server, cache, manifest, mirror_dir):
    payload = (mirror_dir / REL).read_bytes()
    part = partial_path(COUNTS_URL)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(payload[:400000])
    assert cache_entries() == []  # an unfinished download is never a cached file
    _fetch_ok(manifest)
    reqs = _requests(fault_server)
    assert [r.get("Range") for r in reqs] == ["bytes=400000-"]
    assert not part.exists()
    assert_cache_clean(cache)


def test_stale_partial_from_other_version_is_discarded(fault_server, cache, manifest):
    part = partial_path(COUNTS_URL)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\x1f\x8b" + b"garbage from an older version" * 1000)
    _fetch_ok(manifest)  # resumed bytes fail the gzip check -> clean re-download
    reqs = _requests(fault_server)
    assert "Range" in reqs[0] and "Range" not in reqs[-1]
    assert_cache_clean(cache)


class FakeClock:
    """A clock that moves only when told; ``sleep`` records the delay and does not move it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_ncbi_rate_limit_is_decided_by_the_host_contacted(fault_server, cache, monkeypatch):
    """NCBI hosts go through the NCBI limiter (3/s, 10/s with a key); a mirror does not."""
    url = f"{fault_server.url}/{mirror_relpath(urls.geo_series_matrix_url('GSE126848'))}"
    granted: list[float] = []
    clock = FakeClock()

    def limiter():
        lim = http.RateLimiter(10.0 if settings.ncbi_api_key else 3.0, clock=clock,
                               sleep=clock.sleep)
        real_wait = lim.wait
        lim.wait = lambda: granted.append(real_wait()) or granted[-1]
        return lim

    settings.ncbi_api_key = None
    assert http.ncbi_limiter().interval == pytest.approx(1 / 3)
    settings.ncbi_api_key = "not-a-real-key"
    assert http.ncbi_limiter().interval == pytest.approx(1 / 10)
    settings.ncbi_api_key = None

    lim = limiter()
    monkeypatch.setattr(http, "ncbi_limiter", lambda: lim)
    for _ in range(3):
        http.request("GET", url).close()
    assert granted == []  # 127.0.0.1 (a mirror) is not NCBI: never throttled

    monkeypatch.setattr(http, "NCBI_HOSTS", frozenset({"127.0.0.1"}))  # pretend it is NCBI
    n = 7
    for _ in range(n):
        http.request("GET", url).close()
    assert granted == pytest.approx([i / 3 for i in range(n)])  # one slot every 1/3 s
    assert clock.slept == pytest.approx([i / 3 for i in range(1, n)])

    settings.ncbi_api_key = "not-a-real-key"
    granted.clear()
    lim = limiter()
    for _ in range(n):
        http.request("GET", url).close()
    assert granted == pytest.approx([i / 10 for i in range(n)])
    assert all("api_key" not in p for _m, p, _h in fault_server.log)  # only eutils gets the key


def test_rate_limiter_grants_distinct_slots_to_threads():
    import threading

    clock = FakeClock()
    limiter = http.RateLimiter(50.0, clock=clock, sleep=clock.sleep)
    slots: list[float] = []
    guard = threading.Lock()

    def worker():
        for _ in range(5):
            slot = limiter.wait()
            with guard:
                slots.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(slots) == pytest.approx([i * 0.02 for i in range(20)])  # every slot once, 1/50 s apart
    assert sorted(clock.slept) == pytest.approx([i * 0.02 for i in range(1, 20)])  # each waits for its own


def test_rate_limiter_does_not_bank_idle_time():
    clock = FakeClock()
    limiter = http.RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    assert limiter.wait() == 0.0
    clock.now = 10.0  # idle for a while: no burst of saved-up requests afterwards
    assert [limiter.reserve() for _ in range(3)] == [10.0, 10.5, 11.0]
    assert clock.slept == []


def test_mirror_as_directory(mirror_dir, cache, manifest):
    settings.mirror = mirror_dir
    out = _fetch_ok(manifest)
    assert read_meta(out)["source"] == str(mirror_dir)
    settings.offline = True  # a directory is not the network
    _fetch_ok(manifest, HALLMARK_URL)
    with pytest.raises(OfflineError, match="GSE999999999"):
        fetch(urls.geo_series_matrix_url("GSE999999999"))
    assert_cache_clean(cache)

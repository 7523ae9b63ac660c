"""A download killed mid-way leaves only a ``.part``; the next call resumes it with Range."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mgtranscript import settings
from mgtranscript.cli import main
from mgtranscript.fetch import cache_entries, fetch, partial_path, sha256sum
from mgtranscript.fetch import mirror_relpath

from support.fetch_helpers import assert_cache_clean, COUNTS_URL, StallServer


REL = mirror_relpath(COUNTS_URL)


def test_killed_process_partial_is_hidden_then_resumed(mirror_dir, manifest, cache, capsys):
    payload = (mirror_dir / REL).read_bytes()
    with StallServer(payload, stall_after=300_000) as server:
        settings.mirror = server.url  # this test's settings, handed to the child as its environment
        env = dict(os.environ, **settings.to_environ())
        code = f"from mgtranscript.fetch import fetch; fetch({COUNTS_URL!r})"
        proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        try:
            part = partial_path(COUNTS_URL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if part.exists() and part.stat().st_size >= 200_000:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the child never wrote its partial download")
            time.sleep(0.2)  # let it write what it has
        finally:
            proc.kill()
            proc.wait(10)
        have = part.stat().st_size
        assert 0 < have < len(payload)

        # the half-written file is not a cached file, for the API and for `cache list`
        assert cache_entries() == []
        assert main(["cache", "list"]) == 0
        out = capsys.readouterr().out
        assert REL not in out and ".part" not in out
        assert "1 unfinished download" in out

        path = fetch(COUNTS_URL)  # the killed process's lock is gone with it
        assert sha256sum(path) == manifest[REL]["sha256"]
        assert server.log[-1][1].get("Range") == f"bytes={have}-"
        assert len(server.log) == 2
    assert not part.exists()
    assert_cache_clean(cache)


def test_a_lock_held_elsewhere_times_out_with_a_clear_error(cache):
    """A download lock held by another process does not hang the caller for ever."""
    import fcntl

    from mgtranscript.errors import FetchError
    from mgtranscript.fetch import _cache as fcache
    from mgtranscript.fetch import _urls as urls

    rel = urls.mirror_relpath(urls.gene_info_url())
    lock = fcache.cache_dir() / fcache.PARTIAL / (rel + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    settings.lock_timeout = 0.3
    with open(lock, "a") as other:  # another open file description: conflicts like another process
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(FetchError, match="delete that lock file"):
            fetch(urls.gene_info_url())

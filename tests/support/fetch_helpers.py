"""Test helpers for the download layer: cache hygiene checks and a server that stalls."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mgtranscript.fetch import cache_entries, read_meta, sha256sum, verify_cache

from mgtranscript.fetch import _urls as urls

#: A real 1.4 MB gzip from the mirror: big enough to cut mid-body.
COUNTS_URL = urls.geo_suppl_url("GSE126848", "GSE126848_Gene_counts_raw.txt.gz")
#: A small plain-text file (no gzip check: only a hash can catch a truncation).
HALLMARK_URL = urls.msigdb_url("h.all", "7.0")


def assert_cache_clean(cache: Path) -> None:
    """The cache holds only complete, verified files with provenance; nothing stray.

    Every file outside ``.partial/`` and ``.meta/`` must be listed by
    :func:`cache_entries`, carry metadata whose sha256 matches its bytes, and pass
    :func:`verify_cache`.
    """
    assert verify_cache() == []
    listed = {row["path"] for row in cache_entries()}
    if not cache.exists():
        return
    for p in cache.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(cache).as_posix()
        if rel.startswith((".partial/", ".meta/")):
            continue
        assert rel in listed, f"stray file in cache: {rel}"
        meta = read_meta(p)
        assert meta.get("sha256") == sha256sum(p), f"{rel}: provenance sha256 does not match"


class StallServer:
    """Serves one file at any path; the first GET sends ``stall_after`` bytes, then hangs.

    Later requests are served normally and honour ``Range``. ``log`` records
    ``(path, headers)`` of every request. ``release()`` ends the stall.
    """

    def __init__(self, payload: bytes, stall_after: int) -> None:
        self.payload, self.stall_after = payload, stall_after
        self.log: list[tuple[str, dict]] = []
        self._released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                first = not server.log
                server.log.append((self.path, dict(self.headers)))
                data, start = server.payload, 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if first:
                    self.wfile.write(body[: server.stall_after])
                    self.wfile.flush()
                    server._released.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> "StallServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

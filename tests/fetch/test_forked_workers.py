"""Forked worker processes (the run analyses cohorts in them) open their own HTTP connections.

The parent's pooled keep-alive connection, inherited by two forked processes, is one socket read by
both: one process gets the other's response (a cohort loaded from another cohort's file) or waits
for a response the other took. Found when the session's real run (tests/conftest.py) came before a
run of synthetic cohorts served by another server: one cohort got the other's series matrix.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mgtranscript.fetch import request


class _EchoServer:
    """HTTP/1.1 keep-alive server answering each path with its own name, a little slowly."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                time.sleep(0.02)  # two processes' requests overlap
                body = self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _fetch_many(args: tuple[str, str]) -> list[str]:
    url, name = args
    return [request("GET", f"{url}/{name}{i}").text for i in range(8)]


def test_forked_processes_do_not_share_the_parents_pooled_connection():
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with _EchoServer() as server:
        assert request("GET", f"{server.url}/parent").text == "/parent"  # the parent keeps a connection
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map_async(_fetch_many, [(server.url, "a"), (server.url, "b")]).get(timeout=30)
        assert got == [[f"/a{i}" for i in range(8)], [f"/b{i}" for i in range(8)]]
        assert request("GET", f"{server.url}/parent-again").text == "/parent-again"  # the parent's still works

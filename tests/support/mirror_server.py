"""A local HTTP server over ``../shared/mirror`` with injectable faults (test helper).

Serves ``/HOST/PATH`` from a root directory, honours ``Range``, lists directories as
HTML index pages (like the NCBI FTP-over-HTTPS listing), and can be told to fail in
specific ways for specific paths: ``server.faults["/host/path"] = ["503", "ok"]``.

Fault actions, consumed one per request (the last one repeats if ``sticky``):
``ok``, ``503``, ``500``, ``404``, ``429:<seconds>`` (Retry-After), ``drop:<bytes>``
(send headers with the full Content-Length, then close after <bytes> of body),
``truncate:<bytes>`` (send only the first <bytes> with a matching Content-Length),
``norange`` (ignore Range, send the full body with 200).
"""

from __future__ import annotations

import html
import os
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class MirrorServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults: dict[str, list[str]] = {}
        self.log: list[tuple[str, str, dict]] = []
        self.hits: dict[str, int] = defaultdict(int)
        self.post_handlers: dict[str, object] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _next_fault(self, path: str) -> str:
                queue = server.faults.get(path)
                if not queue:
                    return "ok"
                return queue.pop(0) if len(queue) > 1 else queue[0]

            def do_POST(self):  # noqa: N802
                path = unquote(urlsplit(self.path).path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append(("POST", self.path, dict(self.headers)))
                server.hits[path] += 1
                handler = server.post_handlers.get(path)
                if handler is None:
                    self.send_error(404)
                    return
                status, ctype, payload = handler(body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802
                path = unquote(urlsplit(self.path).path)
                server.log.append(("GET", self.path, dict(self.headers)))
                server.hits[path] += 1
                fault = self._next_fault(path)
                if fault in ("503", "500", "404"):
                    self.send_response(int(fault))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault.startswith("429"):
                    secs = fault.split(":", 1)[1] if ":" in fault else "1"
                    self.send_response(429)
                    self.send_header("Retry-After", secs)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                local = (server.root / path.lstrip("/")).resolve()
                if server.root.resolve() not in local.parents and local != server.root.resolve():
                    self.send_error(403)
                    return
                if local.is_dir():
                    names = sorted(os.listdir(local))
                    links = "".join(
                        f'<a href="{html.escape(n)}{"/" if (local / n).is_dir() else ""}">{html.escape(n)}</a><br>\n'
                        for n in names
                    )
                    body = f"<html><body><pre>\n{links}</pre></body></html>".encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if not local.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = local.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng and fault != "norange" and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0] or 0)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                if fault.startswith("truncate:"):
                    body = body[: int(fault.split(":")[1])]
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault.startswith("drop:"):
                    n = int(fault.split(":")[1])
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "MirrorServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

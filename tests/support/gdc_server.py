"""A fake GDC API on 127.0.0.1 that answers like today's GDC (test helper).

Shapes follow the verbatim GDC answers in ``../shared/reference/gdc/`` (read by
``tests/datasets/test_gdc.py`` to check this server against them) as amended by the
field removals listed there (Data Dictionary 3.4.4 / 4.0.3; API 8.3.0 / 8.5.0). The
project it serves (today's record layout) is built by ``tests/support/gdc_project.py``.

* ``POST /files`` and ``POST /cases``: ``{"data": {"hits": [...], "pagination": {"count",
  "total", "size", "from", "sort", "page", "pages"}}, "warnings": {}}``; every hit has
  ``id``; ``fields`` (dotted paths) select what a hit holds, ``expand`` adds whole groups.
  ``filters`` (``and`` of ``in``) on ``cases.project.project_id``, ``files.data_type``,
  ``files.analysis.workflow_type``, ``submitter_id``, ``project.project_id``.
  ``sort`` (``"field:asc"``/``":desc"``) orders hits; without it each call returns a
  different order when ``shuffle_unsorted`` (the GDC does not promise a stable order).
  A field name the API does not know (e.g. the removed ``cases.samples.sample_type_id``
  or ``demographic.gender``) is ignored with an entry in ``warnings``; with
  ``strict_fields`` it is refused with HTTP 400 (the GDC does not document which it does).
* Expand groups of ``/cases``: ``demographic``, ``diagnoses``, ``exposures``,
  ``follow_ups``, ``follow_ups.other_clinical_attributes`` (there is no top-level
  ``other_clinical_attributes`` group: asking for it answers 400).
* ``GET /status``: ``{"commit", "data_release", "status", "tag", "version"}``.
* ``POST /data`` ``{"ids": [...]}``: one id -> the file; several -> a tar.gz of
  ``<file_id>/<file_name>`` plus ``MANIFEST.txt``. ``GET /data/<file_id>`` -> the file.
* STAR-counts files as the GDC writes them: ``# gene-model: GENCODE v36``, the header,
  the four ``N_`` rows with empty name/type/tpm/fpkm cells, then gene rows (including a
  ``_PAR_Y`` copy).

Fault knobs (attributes): ``fail_batches`` (the next n multi-file ``POST /data`` fail,
``fail_mode`` ``"truncate"``/``"500"``/``"drop"``), ``busy_batches`` (the next n
multi-file ``POST /data`` answer ``busy_status`` 429/503 with ``Retry-After:
retry_after``), ``max_batch_ids`` (larger batches always fail with 500), ``corrupt``
(file ids served damaged), ``extra_members`` (added to every tar),
``shuffle_unsorted``, ``ignore_sort`` (a broken server that shuffles even when asked to
sort), ``reject_nested_expand`` (400 on dotted expand groups), ``drop_risk_factors``
(cases without any risk-factor field), ``strict_fields``, ``api_warnings`` (added to
every search answer's ``warnings``), ``no_status`` (``/status`` answers 404).
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from .gdc_project import PROJECT, WORKFLOW, build, copy_project

__all__ = ["GDCServer", "PROJECT", "WORKFLOW", "STATUS", "REMOVED_FIELDS"]

#: What ``GET /status`` answers.
STATUS = {"commit": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", "data_release": "Data Release 45.0 - June 29, 2026",
          "status": "OK", "tag": "8.5.0", "version": 1}
#: Fields the GDC removed (see ../shared/reference/gdc/SOURCES.md): unknown to this server.
REMOVED_FIELDS = ("cases.samples.sample_type_id", "demographic.gender", "diagnoses.vital_status",
                  "diagnoses.days_to_death", "follow_ups.risk_factor", "follow_ups.risk_factors",
                  "follow_ups.comorbidity", "follow_ups.comorbidities")
CASE_EXPAND = ("demographic", "diagnoses", "exposures", "follow_ups",
               "follow_ups.other_clinical_attributes", "samples", "project")
_BUILT: dict[tuple, dict] = {}


class GDCServer:
    """The fake GDC. ``log`` holds (method, path, parsed JSON body or None)."""

    def __init__(self, seed: int = 20240610, *, n_tumour: int = 60, n_paired: int = 12,
                 duplicate_aliquot: bool = False, strict_fields: bool = False) -> None:
        self.seed = seed
        self.log: list[tuple[str, str, object]] = []
        self.fail_batches = 0
        self.fail_mode = "truncate"
        self.busy_batches = 0
        self.busy_status = 429
        self.retry_after: str | None = "2"
        self.max_batch_ids: int | None = None
        self.corrupt: set[str] = set()
        self.extra_members: list[tuple[str, bytes]] = []
        self.shuffle_unsorted = True
        self.ignore_sort = False
        self.reject_nested_expand = False
        self.drop_risk_factors = False
        self.strict_fields = strict_fields
        self.api_warnings: dict = {}
        self.no_status = False
        self._calls = 0
        self._lock = threading.Lock()
        key = (seed, n_tumour, n_paired, duplicate_aliquot)
        if key not in _BUILT:  # the project is built once per process, then copied
            _BUILT[key] = build(seed, n_tumour, n_paired, duplicate_aliquot)
        for k, v in copy_project(_BUILT[key]).items():
            setattr(self, k, v)
        self.httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ expected values

    def file_for(self, barcode: str) -> dict:
        return next(f for f in self.files.values() if f["barcode"] == barcode)

    @property
    def barcodes(self) -> list[str]:
        return sorted(f["barcode"] for f in self.files.values())

    def known_fields(self, endpoint: str) -> set[str]:
        """Every dotted field path a hit of ``endpoint`` can hold (what a strict server accepts)."""
        if endpoint == "files":
            records = [self._file_record(f) for f in self.files.values()]
        else:
            records = self.cases
        out: set[str] = set()
        for r in records:
            out |= _paths(r)
        return out - set(REMOVED_FIELDS)

    # ------------------------------------------------------------------ serving

    def start(self) -> GDCServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _send(self, status: int, payload: bytes, ctype: str = "application/json",
                      length: int | None = None, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload) if length is None else length))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status: int, obj, headers: dict | None = None) -> None:
                self._send(status, json.dumps(obj).encode(), headers=headers)

            def do_GET(self):
                fake.log.append(("GET", self.path, None))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts == ["status"] and not fake.no_status:
                    return self._json(200, STATUS)
                if len(parts) == 2 and parts[0] == "data" and parts[1] in fake.files:
                    return self._send(200, fake._bytes(parts[1]), "text/tab-separated-values")
                self._json(404, {"message": f"{self.path} not found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    return self._json(400, {"message": "body is not JSON"})
                fake.log.append(("POST", self.path, body))
                path = self.path.split("?")[0].rstrip("/")
                if path in ("/files", "/cases"):
                    name = path[1:]
                    fields = [x for x in str(body.get("fields") or "").split(",") if x]
                    unknown = sorted(set(fields) - fake.known_fields(name))
                    if unknown and fake.strict_fields:
                        return self._json(400, {"message": f"Unrecognized fields: {unknown}"})
                    fields = [f for f in fields if f not in unknown]
                    warns = dict(fake.api_warnings)
                    if unknown:
                        warns["fields"] = f"unrecognized values ignored: {unknown}"
                    if name == "files":
                        return self._json(200, fake._page("files", fake._file_hits(body, fields), body, warns))
                    expand = [e for e in str(body.get("expand") or "").split(",") if e]
                    bad = [e for e in expand if e not in CASE_EXPAND]
                    if bad or (fake.reject_nested_expand and any("." in e for e in expand)):
                        return self._json(400, {"message": f"invalid expand: {bad or expand}"})
                    return self._json(200, fake._page("cases", fake._case_hits(body, expand, fields), body, warns))
                if path == "/data":
                    return fake._data(self, body)
                self._json(404, {"message": "unknown endpoint"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.httpd.server_address[:2]

    def requests(self, method: str, path: str) -> list:
        return [b for m, p, b in self.log if m == method and p.split("?")[0].rstrip("/") == path]

    # ------------------------------------------------------------------ endpoints

    def _bytes(self, fid: str) -> bytes:
        data = self.files[fid]["data"]
        return data.replace(b"protein_coding", b"protein-coding", 1) if fid in self.corrupt else data

    @staticmethod
    def _conditions(body: dict) -> dict[str, list]:
        f = body.get("filters") or {}
        items = f.get("content") if f.get("op") == "and" else [f]
        return {c["content"]["field"]: list(c["content"]["value"]) for c in items or []
                if isinstance(c, dict) and c.get("op") == "in"}

    def _file_record(self, f: dict) -> dict:
        """A ``/files`` hit in today's layout: no ``sample_type_id``; the aliquot under the sample."""
        p = self.patients[f["patient"]]
        return {
            "id": f["file_id"], "file_id": f["file_id"], "file_name": f["file_name"],
            "md5sum": f["md5sum"], "file_size": len(f["data"]), "data_format": "TSV",
            "data_type": "Gene Expression Quantification", "access": "open", "state": "released",
            "cases": [{"case_id": p["case_id"], "submitter_id": p["patient_id"],
                       "project": {"project_id": PROJECT},
                       "samples": [{"sample_id": f["sample_id"], "submitter_id": f["barcode"],
                                    "sample_type": f["sample_type"], "tissue_type": f["tissue_type"],
                                    "tumor_descriptor": "Not Reported",
                                    "portions": [{"analytes": [{"aliquots": [
                                        {"aliquot_id": f["aliquot_id"], "submitter_id": f["aliquot"]}]}]}]}]}],
        }

    def _file_hits(self, body: dict, fields: list[str]) -> list[dict]:
        cond = self._conditions(body)
        ok = (cond.get("cases.project.project_id") == [PROJECT]
              and cond.get("files.data_type", ["Gene Expression Quantification"]) == ["Gene Expression Quantification"]
              and cond.get("files.analysis.workflow_type", [WORKFLOW]) == [WORKFLOW])
        hits = [self._file_record(f) for f in self.files.values()] if ok else []
        return [_project(h, fields) if fields else h for h in hits]

    def _case_hits(self, body: dict, expand: list[str], fields: list[str]) -> list[dict]:
        cond = self._conditions(body)
        want = set(cond.get("submitter_id", [c["submitter_id"] for c in self.cases]))
        if cond.get("project.project_id", [PROJECT]) != [PROJECT]:
            want = set()
        out = []
        for case in self.cases:
            if case["submitter_id"] not in want:
                continue
            full = copy.deepcopy(case)
            if self.drop_risk_factors:
                for fu in full.get("follow_ups", []):
                    fu.pop("other_clinical_attributes", None)
            hit = {"id": full["id"]}
            top = [f for f in fields if "." not in f]
            if not fields and not expand:
                top = [k for k, v in full.items() if not isinstance(v, (dict, list))]
            for f in top:
                if f in full and not isinstance(full[f], (dict, list)):
                    hit[f] = full[f]
            for group in expand:
                if "." in group:
                    continue
                if group in full:
                    hit[group] = copy.deepcopy(full[group])
                    if group == "follow_ups" and "follow_ups.other_clinical_attributes" not in expand:
                        for fu in hit[group]:
                            fu.pop("other_clinical_attributes", None)
            nested = [f for f in fields if "." in f]
            if nested:
                _merge(hit, _project(full, nested))
            out.append(hit)
        return out

    def _page(self, name: str, hits: list[dict], body: dict, warns: dict) -> dict:
        sort = str(body.get("sort") or "")
        with self._lock:
            self._calls += 1
            call = self._calls
        if sort and not self.ignore_sort:
            field, _, direction = sort.partition(":")
            hits = sorted(hits, key=lambda h: str(_get(h, field) or h.get("id")),
                          reverse=direction.strip().lower() == "desc")
        elif self.shuffle_unsorted or self.ignore_sort:
            order = np.random.default_rng(call).permutation(len(hits))
            hits = [hits[i] for i in order]
        size, start = int(body.get("size", 10)), int(body.get("from", 0))
        page = hits[start:start + size]
        return {"data": {"hits": page, "pagination": {
            "count": len(page), "total": len(hits), "size": size, "from": start, "sort": sort,
            "page": start // size + 1 if size else 1, "pages": -(-len(hits) // size) if size else 1}},
            "warnings": warns}

    def _tar(self, ids: list[str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            members = [(f"{fid}/{self.files[fid]['file_name']}", self._bytes(fid)) for fid in ids]
            members.append(("MANIFEST.txt", ("id\tfilename\tmd5\n" + "\n".join(
                f"{fid}\t{self.files[fid]['file_name']}\t{self.files[fid]['md5sum']}" for fid in ids)).encode()))
            for name, data in members + self.extra_members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _data(self, handler, body: dict) -> None:
        ids = [i for i in body.get("ids") or [] if isinstance(i, str)]
        unknown = [i for i in ids if i not in self.files]
        if not ids or unknown:
            return handler._json(404 if unknown else 400, {"message": f"unknown ids {unknown[:3]}"})
        if len(ids) == 1:
            return handler._send(200, self._bytes(ids[0]), "text/tab-separated-values")
        with self._lock:
            busy = self.busy_batches > 0
            if busy:
                self.busy_batches -= 1
        if busy:
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return handler._json(self.busy_status, {"message": "too many requests"}, headers=headers)
        if self.max_batch_ids is not None and len(ids) > self.max_batch_ids:
            return handler._json(500, {"message": "archive too large"})
        payload = self._tar(ids)
        with self._lock:
            fail = self.fail_batches > 0
            if fail:
                self.fail_batches -= 1
        if fail and self.fail_mode == "500":
            return handler._json(500, {"message": "internal error"})
        if fail and self.fail_mode == "truncate":
            return handler._send(200, payload[: len(payload) // 2], "application/x-tar")
        if fail and self.fail_mode == "drop":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/x-tar")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return None
        return handler._send(200, payload, "application/x-tar")


def _paths(obj, prefix: str = "") -> set[str]:
    """Dotted paths of every key (leaves and groups) in a record; lists mapped element-wise."""
    out: set[str] = set()
    items = obj if isinstance(obj, list) else [obj]
    for it in items:
        if not isinstance(it, dict):
            continue
        for k, v in it.items():
            path = f"{prefix}{k}"
            out.add(path)
            if isinstance(v, (dict, list)):
                out |= _paths(v, path + ".")
    return out


def _get(obj, dotted: str):
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[0] if obj else None
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _project(obj: dict, fields: list[str]) -> dict:
    """Keep only the dotted ``fields`` of a record (lists mapped element-wise); ``id`` always."""
    out: dict = {"id": obj["id"]} if "id" in obj else {}
    for f in fields:
        head, _, rest = f.partition(".")
        if head not in obj or obj[head] is None:
            continue
        v = obj[head]
        if not rest:
            out[head] = copy.deepcopy(v)
        elif isinstance(v, dict):
            out[head] = _merge(out.get(head, {}), _project(v, [rest]))
        elif isinstance(v, list):
            cur = out.get(head) or [{} for _ in v]
            out[head] = [_merge(c, _project(x, [rest])) if isinstance(x, dict) else c for c, x in zip(cur, v)]
    return out


def _merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if k in a and isinstance(a[k], dict) and isinstance(v, dict):
            _merge(a[k], v)
        elif k in a and isinstance(a[k], list) and isinstance(v, list) and len(a[k]) == len(v):
            a[k] = [_merge(x, y) if isinstance(x, dict) and isinstance(y, dict) else y for x, y in zip(a[k], v)]
        else:
            a[k] = v
    return a

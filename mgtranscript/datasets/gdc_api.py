"""GDC API access for :mod:`mgtranscript.datasets.gdc`: queries, paging, downloads.

See :mod:`mgtranscript.datasets.gdc` for what is asked and why (stable ``sort`` and a
``pagination.total`` check for paged listings; ``/data`` batches halved recursively on
failure down to single-file GETs, verified files kept).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import (
    AccessionNotFound,
    DataFormatError,
    DownloadCorrupt,
    FetchError,
    OfflineError,
)
from ..fetch import (
    cache_dir,
    fetch,
    is_offline,
    mirror_base,
    remove,
    safe_extract_tar,
    store,
    urls,
)
from .gdc_clinical import CLINICAL_EXPAND, CLINICAL_FIELDS

logger = logging.getLogger(__name__)

__all__ = [
    "GDC_URL_ENV",
    "MAX_BATCH_BYTES",
    "PAGE_SIZE",
    "download_files",
    "fetch_clinical",
    "query_files",
    "sample_type_code",
]

GDC_URL_ENV = "MGTRANSCRIPT_GDC_URL"
#: Records per page of a files/cases query.
PAGE_SIZE = 500
#: Upper bound of the summed ``file_size`` of one ``POST /data`` batch (TCGAbiolinks
#: caps its batches near 1 GB as well).
MAX_BATCH_BYTES = 1_000_000_000
_CACHE_HOST = "api.gdc.cancer.gov"
_FILE_FIELDS = ["file_id", "file_name", "md5sum", "file_size", "cases.case_id",
                "cases.submitter_id", "cases.samples.submitter_id", "cases.samples.sample_type",
                "cases.samples.sample_type_id"]
_SORT = {"files": "file_id:asc", "cases": "submitter_id:asc"}
_KEY = {"files": "file_id", "cases": "submitter_id"}
#: GDC sample type code -> harmonised condition; other codes stay "unlabelled".
CONDITION_BY_CODE = {"01": "hcc_tumour", "11": "hcc_nontumour", "02": "hcc_recurrent"}
UNLABELLED = "unlabelled"


def _endpoint(name: str) -> tuple[str, bool]:
    """(URL, explicit) of a GDC endpoint, honouring ``MGTRANSCRIPT_GDC_URL``."""
    base = os.environ.get(GDC_URL_ENV, "").strip()
    if base:
        return base.rstrip("/") + "/" + name, True
    return urls.gdc_endpoint(name), False


def _post_json(name: str, body: dict, *, refresh: bool = False, what: str = "this GDC query") -> dict:
    """POST a JSON query to a GDC endpoint; the answer is cached by the body's hash."""
    url, explicit = _endpoint(name)
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    rel = f"{_CACHE_HOST}/{name}/query-{key}.json"
    if mirror_base() and not explicit and (refresh or not (cache_dir() / rel).is_file()):
        # a mirror laid out by URL cannot answer API queries (POST); with a mirror set the
        # public hosts are not contacted, so say so at once instead of retrying
        raise OfflineError(
            f"{what} needs the GDC API ({_CACHE_HOST}), which a mirror cannot serve; set "
            f"{GDC_URL_ENV} or unset MGTRANSCRIPT_MIRROR.\n"
            f"MGTRANSCRIPT_MIRROR={mirror_base()} is set and {url} (this query) is not cached. "
            f"Unset MGTRANSCRIPT_MIRROR to query the GDC, or set {GDC_URL_ENV} to a GDC API "
            "you can reach.",
            url=url,
        )
    for attempt in range(2):
        path = fetch(url, method="POST", json_body=body, relpath=rel, explicit=explicit,
                     force=refresh or attempt > 0, progress=False)
        try:
            out = json.loads(path.read_text())
            if isinstance(out, dict) and isinstance(out.get("data"), dict):
                return out
        except (ValueError, UnicodeDecodeError):
            pass
        remove(rel)
    raise DataFormatError(
        f"{url} answered with something that is not a GDC JSON response; retry later or "
        f"check {GDC_URL_ENV}."
    )


def _filters(*pairs: tuple[str, list]) -> dict:
    return {"op": "and", "content": [
        {"op": "in", "content": {"field": field, "value": list(values)}} for field, values in pairs
    ]}


def _hit_key(name: str, hit: dict) -> str | None:
    value = hit.get(_KEY[name]) or (hit.get("id") if name == "files" else None)
    return str(value) if value else None


def _paginate(name: str, body: dict, *, refresh: bool, what: str = "this GDC query") -> list[dict]:
    """All hits of a query, paged with a stable sort; checked against ``pagination.total``."""
    body = {**body, "sort": _SORT[name]}
    for attempt in range(2):
        hits: list[dict] = []
        offset, total, pages = 0, 0, 0
        while True:
            page = _post_json(name, {**body, "size": PAGE_SIZE, "from": offset},
                              refresh=refresh or attempt > 0, what=what)
            data = page["data"]
            new = [h for h in data.get("hits") or [] if isinstance(h, dict)]
            hits.extend(new)
            pagination = data.get("pagination") or {}
            total = int(pagination.get("total", len(hits)))
            offset += len(new)
            pages += 1
            if not new or offset >= total or pages > total // max(1, PAGE_SIZE) + 2:
                break
        unique: dict[str, dict] = {}
        for h in hits:
            k = _hit_key(name, h)
            if k is not None:
                unique.setdefault(k, h)
        if len(unique) == total:
            if len(hits) != total:
                logger.warning("GDC %s: %d hits for %d records; duplicates dropped", name, len(hits), total)
            return list(unique.values())
        logger.warning("GDC %s: %d distinct records over the pages but pagination.total = %d; "
                       "asking again", name, len(unique), total)
    url, _ = _endpoint(name)
    raise DataFormatError(
        f"{url}: the paged answer holds {len(unique)} distinct {_KEY[name]}s but the GDC reports "
        f"pagination.total = {total} (after one retry, sorted by {_SORT[name]}). The listing changed "
        "while it was read or the server ignores 'sort'; retry later."
    )


def sample_type_code(barcode: str) -> str | None:
    """``TCGA-2V-A95S-01A`` -> ``"01"`` (the two digits of the sample field)."""
    m = re.match(r"^TCGA-\w{2}-\w{4}-(\d{2})", str(barcode))
    return m.group(1) if m else None


def query_files(project: str = "TCGA-LIHC", *, workflow: str = "STAR - Counts",
                refresh: bool = False) -> pd.DataFrame:
    """The project's expression files: one row per file (file_id, file_name, md5sum, ...).

    Columns: ``file_id, file_name, md5sum, file_size, case_id`` (GDC case UUID),
    ``case_submitter_id`` (patient barcode), ``barcode`` (sample submitter id),
    ``sample_type`` (GDC's label) and ``sample_type_id`` (two-digit code; from the
    barcode when the GDC gives none).

    Raises
    ------
    AccessionNotFound
        The GDC has no such files (unknown project or workflow).
    DataFormatError
        The paged listing does not add up to ``pagination.total``.
    """
    body = {
        "filters": _filters(("cases.project.project_id", [project]),
                            ("files.data_type", ["Gene Expression Quantification"]),
                            ("files.analysis.workflow_type", [workflow])),
        "fields": ",".join(_FILE_FIELDS),
        "format": "JSON",
    }
    hits = _paginate("files", body, refresh=refresh, what=project)
    rows = []
    for h in hits:
        case = (h.get("cases") or [{}])[0]
        sample = (case.get("samples") or [{}])[0]
        barcode = sample.get("submitter_id")
        code = sample.get("sample_type_id")
        code = str(code).zfill(2) if code not in (None, "") else (
            sample_type_code(barcode) if isinstance(barcode, str) else None)
        rows.append({
            "file_id": h.get("file_id") or h.get("id"), "file_name": h.get("file_name"),
            "md5sum": h.get("md5sum"), "file_size": h.get("file_size"),
            "case_id": case.get("case_id"), "case_submitter_id": case.get("submitter_id"),
            "barcode": barcode, "sample_type": sample.get("sample_type"), "sample_type_id": code,
        })
    df = pd.DataFrame(rows, columns=["file_id", "file_name", "md5sum", "file_size", "case_id",
                                     "case_submitter_id", "barcode", "sample_type", "sample_type_id"])
    if df.empty:
        url, _ = _endpoint("files")
        raise AccessionNotFound(
            f"the GDC has no '{workflow}' gene expression files for project {project!r}. Check "
            "the project id (e.g. TCGA-LIHC) and the workflow (e.g. 'STAR - Counts').", url=url
        )
    bad = df["file_id"].isna() | df["file_name"].isna()
    if bad.any():
        raise DataFormatError(f"GDC files query returned {int(bad.sum())} hits without file_id/file_name.")
    if df["file_name"].str.contains(r"[/\\]|^\.\.?$", regex=True).any():
        raise DataFormatError("GDC files query returned file names with path separators; refusing them.")
    return df.sort_values(["barcode", "file_id"], na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------- download


def _rel(row) -> str:
    return f"{_CACHE_HOST}/data/{row.file_id}/{row.file_name}"


def _md5(row) -> str | None:
    return f"md5:{row.md5sum}" if isinstance(row.md5sum, str) and row.md5sum else None


def _batches(rows: list, batch_size: int, max_bytes: int) -> list[list]:
    out: list[list] = []
    cur: list = []
    size = 0
    for r in rows:
        fs = int(r.file_size) if isinstance(r.file_size, (int, float, np.integer)) and r.file_size == r.file_size else 0
        if cur and (len(cur) >= batch_size or size + fs > max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += fs
    if cur:
        out.append(cur)
    return out


class _Downloader:
    """Batches with recursive halving on failure; single files through :func:`fetch`."""

    def __init__(self, data_url: str, explicit: bool, n_total: int) -> None:
        self.data_url, self.explicit = data_url, explicit
        self.out: dict[str, Path] = {}
        self.failed: dict[str, str] = {}
        self.n_split = 0
        self.bar = None
        if os.environ.get("MGTRANSCRIPT_PROGRESS", "1") != "0" and n_total > 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n_total, desc="GDC files", unit="file", leave=False, delay=0.5)

    def _done(self, r, path: Path) -> None:
        self.out[r.file_id] = path
        self.failed.pop(r.file_id, None)
        if self.bar is not None:
            self.bar.update(1)

    def single(self, r) -> None:
        try:
            if self.explicit:
                path = self._get_explicit(r)
            else:
                path = fetch(f"{self.data_url}/{r.file_id}", relpath=_rel(r), known_hash=_md5(r),
                             progress=False)
        except (DownloadCorrupt, AccessionNotFound) as exc:
            self.failed[r.file_id] = str(exc).splitlines()[0]
            return
        self._done(r, path)

    def _get_explicit(self, r) -> Path:
        """GET from the server named by MGTRANSCRIPT_GDC_URL itself (never a file mirror)."""
        from ..fetch import http

        url = f"{self.data_url}/{r.file_id}"
        attempts = max(1, int(os.environ.get("MGTRANSCRIPT_VERIFY_RETRIES", "3")))
        partial = cache_dir() / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
                part = Path(tmp) / r.file_name
                http.download_to(url, part, public_url=url)
                try:
                    return store(part, _rel(r), url=url, known_hash=_md5(r))
                except DownloadCorrupt as exc:
                    if attempt >= attempts:
                        raise DownloadCorrupt(f"{exc} (gave up after {attempts} downloads)", url=url) from exc
                    logger.warning("%s; downloading it again (%d/%d)", str(exc).splitlines()[0],
                                   attempt, attempts - 1)

    def batch(self, rows: list) -> None:
        if len(rows) == 1:
            self.single(rows[0])
            return
        try:
            self._post(rows)
        except DownloadCorrupt as exc:  # cut-off or corrupt archive
            logger.warning("GDC /data batch of %d files failed (%s); asking in halves",
                           len(rows), str(exc).splitlines()[0])
        except FetchError as exc:
            if isinstance(exc, OfflineError):
                raise
            logger.warning("GDC /data batch of %d files failed (%s); asking in halves",
                           len(rows), str(exc).splitlines()[0])
        rest = [r for r in rows if r.file_id not in self.out]
        if not rest:
            return
        if len(rest) < len(rows):  # some verified: ask again for the others only
            self.batch(rest)
            return
        self.n_split += 1
        half = (len(rest) + 1) // 2
        self.batch(rest[:half])
        self.batch(rest[half:])

    def _post(self, rows: list) -> None:
        from ..fetch import http
        from ..fetch.cache import verify_file

        ids = [r.file_id for r in rows]
        partial = cache_dir() / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
            arc = Path(tmp) / "batch.tar.gz"
            # one try: a failed batch is split, not sent again as is
            http.download_to(self.data_url, arc, public_url=self.data_url,
                             policy=http.RetryPolicy(attempts=1), method="POST",
                             data=json.dumps({"ids": ids}),
                             headers={"Content-Type": "application/json"})
            verify_file(arc, name=f"{self.data_url} (batch of {len(ids)})", filename=arc.name)
            root = Path(tmp) / "x"
            safe_extract_tar(arc, root)
            for r in rows:
                member = root / r.file_id / r.file_name
                if not member.is_file():
                    self.failed[r.file_id] = f"not in the archive the GDC sent ({r.file_name})"
                    continue
                try:
                    self._done(r, store(member, _rel(r), url=f"{self.data_url}/{r.file_id}",
                                        known_hash=_md5(r)))
                except DownloadCorrupt as exc:
                    self.failed[r.file_id] = str(exc).splitlines()[0]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def download_files(files: pd.DataFrame, *, batch_size: int,
              max_batch_bytes: int | None = None) -> tuple[dict[str, Path], dict]:
    """Cache every file (verified md5); return (file_id -> cached path, report)."""
    root = cache_dir()
    data_url, explicit = _endpoint("data")
    rows = list(files.itertuples(index=False))
    cached = {r.file_id: root / _rel(r) for r in rows if (root / _rel(r)).is_file()}
    todo = [r for r in rows if r.file_id not in cached]
    report = {"n_cached": len(cached), "n_downloaded": 0, "n_batches": 0, "n_splits": 0}
    if not todo:
        return cached, report
    if is_offline():
        fetch(f"{data_url}/{todo[0].file_id}", relpath=_rel(todo[0]))  # raises OfflineError
    logger.info("GDC: downloading %d files in batches of up to %d", len(todo), batch_size)
    dl = _Downloader(data_url, explicit, len(todo))
    try:
        groups = _batches(todo, batch_size, max_batch_bytes or MAX_BATCH_BYTES)
        for group in groups:
            dl.batch(group)
    finally:
        dl.close()
    report.update(n_downloaded=len(dl.out), n_batches=len(groups), n_splits=dl.n_split)
    missing = [r.file_id for r in todo if r.file_id not in dl.out]
    if missing:
        why = "; ".join(f"{k}: {v}" for k, v in list(dl.failed.items())[:3])
        raise DownloadCorrupt(
            f"{len(missing)} GDC file(s) could not be obtained intact ({missing[:5]}); {why}. "
            f"The {len(dl.out) + len(cached)} intact files are cached; call again to retry the rest.",
            url=data_url,
        )
    return {**cached, **dl.out}, report


# --------------------------------------------------------------------------- clinical


def _refused(exc: FetchError) -> bool:
    """A 4xx answer (the request itself refused), as opposed to a network failure."""
    return bool(re.search(r"HTTP 4\d\d", str(exc))) and not isinstance(exc, AccessionNotFound)


def fetch_clinical(case_ids: list[str], *, project: str | None = None,
                   refresh: bool = False) -> list[dict]:
    """GDC ``cases`` records for these case submitter ids (patient barcodes).

    Asks for ``expand=`` :data:`~mgtranscript.datasets.gdc_clinical.CLINICAL_EXPAND`; a
    server that refuses it (HTTP 4xx) is asked for
    :data:`~mgtranscript.datasets.gdc_clinical.CLINICAL_FIELDS` by name instead.
    """
    pairs: list[tuple[str, list]] = [("submitter_id", sorted(set(case_ids)))]
    if project:
        pairs.insert(0, ("project.project_id", [project]))
    what = f"{project or 'GDC'} clinical data"
    body = {"filters": _filters(*pairs), "format": "JSON"}
    try:
        return _paginate("cases", {**body, "fields": "submitter_id,case_id", "expand": CLINICAL_EXPAND},
                         refresh=refresh, what=what)
    except FetchError as exc:
        if not _refused(exc):
            raise
        logger.warning("GDC /cases refused expand=%s (%s); asking for the fields by name",
                       CLINICAL_EXPAND, str(exc).splitlines()[0])
        return _paginate("cases", {**body, "fields": ",".join(CLINICAL_FIELDS)}, refresh=refresh,
                         what=what)



"""GDC ``/data`` downloads for :mod:`mgtranscript.datasets.gdc`: batches, halving, waits.

``POST {GDC}/data`` with ``{"ids": [...]}`` answers a tar.gz of
``<file_id>/<file_name>`` members (plus ``MANIFEST.txt``) for batches of at most
``batch_size`` files and :data:`MAX_BATCH_BYTES` bytes; ``GET {GDC}/data/<file_id>``
one file. Each file is verified against the query's ``md5sum`` and cached as soon as
it verifies. A batch the server is too busy for (HTTP 429 or 503) is waited out and
sent again as is, honouring ``Retry-After`` (at most ``settings.retries`` tries,
each wait capped at ``settings.max_wait``); splitting it would only multiply the
requests of a rate-limited client. A batch that fails otherwise (server error, cut-off
or corrupt archive, missing or damaged members) is asked for in two halves,
recursively, down to single-file GETs; files already verified are kept.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import requests
import urllib3

from .._settings import settings
from ..errors import AccessionNotFound, DownloadCorrupt, FetchError, OfflineError
from ..fetch import cache_dir, fetch, gdc_endpoint, is_offline, safe_extract_tar, store

logger = logging.getLogger(__name__)

__all__ = ["MAX_BATCH_BYTES", "GDCBusy", "download_files"]

#: Upper bound of the summed ``file_size`` of one ``POST /data`` batch (TCGAbiolinks
#: caps its batches near 1 GB as well).
MAX_BATCH_BYTES = 1_000_000_000
_CACHE_HOST = "api.gdc.cancer.gov"


class GDCBusy(FetchError):
    """The GDC kept answering 429/503 to a ``/data`` batch (rate limit / overload)."""


def _data_endpoint() -> tuple[str, bool]:
    base = settings.gdc_url
    if base:
        return base.rstrip("/") + "/data", True
    return gdc_endpoint("data"), False


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
        self.waits: list[float] = []
        self.bar = None
        if settings.progress and n_total > 1:
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
        """GET from the server named by ``settings.gdc_url`` itself (never a file mirror)."""
        from ..fetch import download_to

        url = f"{self.data_url}/{r.file_id}"
        attempts = settings.verify_retries
        partial = cache_dir() / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
                part = Path(tmp) / r.file_name
                download_to(url, part, public_url=url)
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
            if isinstance(exc, (OfflineError, GDCBusy)):
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
        from ..fetch import verify_file

        ids = [r.file_id for r in rows]
        partial = cache_dir() / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
            arc = Path(tmp) / "batch.tar.gz"
            self._post_archive(ids, arc)
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

    def _post_archive(self, ids: list[str], arc: Path) -> None:
        """``POST /data`` for ``ids`` into ``arc``: 429/503 waited out (``Retry-After``) and
        the same batch sent again; any other failure raised at once (the caller splits)."""
        from ..fetch import RetryPolicy, pause, request, retry_after

        policy = RetryPolicy()
        body = json.dumps({"ids": ids})
        for attempt in range(policy.attempts):
            resp = request("POST", self.data_url, public_url=self.data_url,
                           policy=RetryPolicy(attempts=1), stream=True, ok_status=(200, 429, 503),
                           data=body, headers={"Content-Type": "application/json",
                                               "Accept-Encoding": "identity"})
            try:
                if resp.status_code in (429, 503):
                    wait = retry_after(resp)
                    status = f"HTTP {resp.status_code} {resp.reason}"
                    if attempt + 1 >= policy.attempts:
                        raise GDCBusy(
                            f"{self.data_url}: the GDC kept answering {status} to a batch of {len(ids)} "
                            f"files ({policy.attempts} tries, waiting as asked). The {len(self.out)} files "
                            "obtained so far are cached; call again later (MGTRANSCRIPT_RETRIES and "
                            "MGTRANSCRIPT_MAX_WAIT allow more patience).", url=self.data_url)
                    delay = min(policy.max_delay, wait if wait is not None else policy.delay(attempt))
                    self.waits.append(float(delay))
                    logger.warning("GDC /data: %s for a batch of %d files; waiting %.1fs (%s) and "
                                   "sending the same batch again (%d/%d)", status, len(ids), delay,
                                   "Retry-After" if wait is not None else "backoff", attempt + 1,
                                   policy.attempts - 1)
                    pause(delay)
                    continue
                length = resp.headers.get("Content-Length")
                got = 0
                try:
                    with open(arc, "wb") as fh:
                        for chunk in resp.raw.stream(1 << 16, decode_content=False):
                            fh.write(chunk)
                            got += len(chunk)
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    raise FetchError(f"{self.data_url}: transfer interrupted ({exc})", url=self.data_url) from exc
                if length and length.isdigit() and got < int(length):
                    raise FetchError(f"{self.data_url}: connection closed after {got} of {length} bytes",
                                     url=self.data_url)
                return
            finally:
                resp.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def download_files(files: pd.DataFrame, *, batch_size: int,
              max_batch_bytes: int | None = None) -> tuple[dict[str, Path], dict]:
    """Cache every file (verified md5); return (file_id -> cached path, report)."""
    root = cache_dir()
    data_url, explicit = _data_endpoint()
    rows = list(files.itertuples(index=False))
    cached = {r.file_id: root / _rel(r) for r in rows if (root / _rel(r)).is_file()}
    todo = [r for r in rows if r.file_id not in cached]
    report = {"n_cached": len(cached), "n_downloaded": 0, "n_batches": 0, "n_splits": 0, "n_waits": 0,
              "seconds_waited": 0.0}
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
    report.update(n_downloaded=len(dl.out), n_batches=len(groups), n_splits=dl.n_split,
                  n_waits=len(dl.waits), seconds_waited=round(sum(dl.waits), 3))
    missing = [r.file_id for r in todo if r.file_id not in dl.out]
    if missing:
        why = "; ".join(f"{k}: {v}" for k, v in list(dl.failed.items())[:3])
        raise DownloadCorrupt(
            f"{len(missing)} GDC file(s) could not be obtained intact ({missing[:5]}); {why}. "
            f"The {len(dl.out) + len(cached)} intact files are cached; call again to retry the rest.",
            url=data_url,
        )
    return {**cached, **dl.out}, report

"""Downloads into the cache: :func:`fetch`, :func:`fetch_read`, :func:`store`, :func:`list_remote_dir`.

A file is fetched from a directory mirror, an HTTP mirror or its public host, written
to ``CACHE/.partial/HOST/PATH.part``, verified (downloaded again a bounded number of
times when it fails), and only then moved into place with its provenance recorded
(see :mod:`.cache` for the layout and the environment variables).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .._settings import settings
from ..errors import DownloadCorrupt, HostNotAllowed, OfflineError
from . import _http as http
from ._cache import (
    _PART_SUFFIX,
    PARTIAL,
    _check_rel,
    _evict,
    _hash_ok,
    _mirror_dir,
    _verify_attempts,
    _write_meta,
    cache_dir,
    integrity_problem,
    is_offline,
    mirror_base,
    sha256sum,
    verify_file,
)
from ._locks import _locked, _prune_empty_dirs
from ._urls import KNOWN_HOSTS, https_from_ftp, mirror_relpath

logger = logging.getLogger(__name__)

__all__ = ["fetch", "fetch_read", "store", "list_remote_dir", "progress_enabled"]


def _check_url(url: str, explicit: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HostNotAllowed(f"{url}: only http(s) and ftp URLs can be fetched.", url=url)
    host = parts.hostname or ""
    if not explicit and host not in KNOWN_HOSTS:
        raise HostNotAllowed(
            f"{url}: host {host!r} is not one mgtranscript contacts on its own "
            f"({', '.join(sorted(KNOWN_HOSTS))}). Pass the URL explicitly (explicit=True, or "
            "as a command-line argument) if you trust it.",
            url=url,
        )


# --------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar that appears only for downloads lasting more than half a second."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled, self.bar, self.last = name, enabled, None, 0

    def __call__(self, got: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=got, unit="B", unit_scale=True,
                            desc=self.name, leave=False, delay=0.5)
            self.last = got
            return
        self.bar.update(got - self.last)
        self.last = got

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_enabled(progress: bool | None) -> bool:
    """Whether to show progress bars: ``progress`` when given, else ``MGTRANSCRIPT_PROGRESS != 0``."""
    if progress is not None:
        return progress
    return settings.progress


# --------------------------------------------------------------------------- fetch


def _commit(part: Path, dest: Path, *, url: str, source: str, seconds: float,
            extra: dict | None = None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = sha256sum(part)
    os.replace(part, dest)
    _prune_empty_dirs(part.parent, cache_dir() / PARTIAL)
    st = dest.stat()
    meta = {"url": url, "sha256": digest, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 3), "source": source, **(extra or {})}
    _write_meta(dest, meta)
    logger.info("cached %s (%d bytes)", dest, meta["bytes"])


def fetch(
    url: str,
    *,
    known_hash: str | None = None,
    processor: Callable[[Path], Path] | None = None,
    explicit: bool = False,
    progress: bool | None = None,
    force: bool = False,
    method: str = "GET",
    data: bytes | str | None = None,
    json_body: dict | list | None = None,
    relpath: str | None = None,
) -> Path:
    """Return the local path of ``url``, downloading it into the cache if needed.

    Parameters
    ----------
    url
        Public URL (``ftp://`` links are fetched over https).
    known_hash
        ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare hex digest; verified before the
        file is cached (a cached file that does not match is downloaded again).
    processor
        Called with the cached path, returns the path to hand back (e.g. :class:`Decompress`).
    explicit
        The user passed this URL; allow hosts outside :data:`~mgtranscript.fetch.urls.KNOWN_HOSTS`.
    progress
        Show a progress bar (default: ``settings.progress``).
    force
        Download again even if cached.
    method, data, json_body
        For POST endpoints (GDC). POST requests are sent to ``url`` itself (an HTTP
        mirror cannot answer them); a directory mirror holding ``relpath`` is used.
    relpath
        Cache path ``HOST/PATH`` to use instead of the one derived from ``url``
        (needed for POST requests, whose URL does not name the content).

    Returns
    -------
    The path of the cached (or processed) file.

    Raises
    ------
    OfflineError
        ``settings.offline`` is True and the file is not available locally.
    AccessionNotFound
        The server answered 404/410 (not retried).
    DownloadCorrupt
        Verification failed ``settings.verify_retries`` times; nothing was cached.
    FetchError
        The server kept failing.
    HostNotAllowed
        Unknown host and ``explicit`` is False.
    """
    url = https_from_ftp(url)
    _check_url(url, explicit)
    method = method.upper()
    rel = _check_rel(relpath) if relpath else mirror_relpath(url)
    root = cache_dir()
    dest = root / rel
    damaged = None
    if not force and dest.is_file():
        damaged = integrity_problem(dest)
        if damaged is None and _hash_ok(dest, known_hash):
            return processor(dest) if processor else dest
    mdir = _mirror_dir()
    local = mdir / rel if mdir is not None else None
    if is_offline() and not (local is not None and local.is_file()):
        if damaged:
            with _locked(rel):
                _evict(dest)
            msg = _damaged_offline_message(rel, damaged, url)
            logger.warning("%s", msg)  # shown even when the caller goes on to another source
            raise OfflineError(msg, url=url)
        raise OfflineError(
            f"MGTRANSCRIPT_OFFLINE=1 and {rel} is not in the cache ({root})"
            + (f" nor in the mirror {mdir}" if mdir is not None else "")
            + f". Its public URL is {url}; unset MGTRANSCRIPT_OFFLINE to download it, or "
            "place the file at that path in the cache or in a directory mirror "
            "(MGTRANSCRIPT_MIRROR).",
            url=url,
        )
    with _locked(rel):
        if not force and dest.is_file():  # another process may have got it meanwhile
            damaged = integrity_problem(dest)
            if damaged is None and _hash_ok(dest, known_hash):
                return processor(dest) if processor else dest
            if damaged:
                logger.warning("cached %s is damaged (%s); fetching it again", rel, damaged)
                _evict(dest)
        part = root / PARTIAL / (rel + _PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        if local is not None and (method == "GET" or local.is_file()):
            _from_mirror_dir(local, part, url=url, rel=rel, known_hash=known_hash, dest=dest)
            _commit(part, dest, url=url, source=str(mdir), seconds=time.monotonic() - t0)
        else:
            src_url = url
            base = mirror_base()
            if base and method == "GET":  # http(s) mirror
                src_url = base.rstrip("/") + "/" + rel
            _download_verified(src_url, part, url=url, dest=dest, known_hash=known_hash,
                               method=method, data=data, json_body=json_body, progress=progress)
            _commit(part, dest, url=url, source=base if (base and method == "GET") else "public",
                    seconds=time.monotonic() - t0)
    return processor(dest) if processor else dest


def _damaged_offline_message(rel: str, why: str, url: str) -> str:
    return (f"cached file {rel} was damaged ({why}) and has been removed; it cannot be fetched "
            f"again because MGTRANSCRIPT_OFFLINE=1. Fix: unset MGTRANSCRIPT_OFFLINE (or point "
            f"MGTRANSCRIPT_MIRROR at a folder holding it) and run again; public URL {url}")


#: Exceptions that mean "the bytes are damaged", wherever they appear in an error's chain.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def _decode_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _DECODE_ERRORS):
            return True
        e = e.__cause__ or e.__context__
    return False


def fetch_read(url: str, reader: Callable[[Path], object], **fetch_kwargs) -> object:
    """``reader(fetch(url, ...))``, healing a cached file that cannot be read.

    When ``reader`` fails because the bytes are damaged (EOF, bad gzip, undecodable
    text), or fails in another way while the file no longer matches its recorded size
    or sha256, the cached copy is evicted and fetched again once, and ``reader`` runs
    on the new copy. A format error on an intact file is raised as is (fetching the
    same bytes again would not help).

    Parameters
    ----------
    url
        As for :func:`fetch`.
    reader
        Parses the local file (e.g. :func:`~mgtranscript.datasets._seriesmatrix.parse_series_matrix`).
    **fetch_kwargs
        Passed to :func:`fetch` (``progress``, ``known_hash``, ``processor`` ...).

    Raises
    ------
    OfflineError
        The damaged file was evicted but cannot be fetched again offline (one line
        naming the file and the fix).
    DownloadCorrupt
        The fresh copy cannot be read either.
    """
    path = fetch(url, **fetch_kwargs)
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - re-raised below unless the bytes are damaged
        try:
            damaged = integrity_problem(path, deep=True)
        except OSError:
            damaged = None
        if damaged is None and _decode_failure(exc):
            damaged = f"{type(exc).__name__}: {exc}"
        if damaged is None:
            raise
        first = exc
    url = https_from_ftp(url)
    rel = fetch_kwargs.get("relpath") or mirror_relpath(url)
    root = cache_dir()
    dest = root / rel
    logger.warning("cached %s cannot be read (%s); fetching it again", rel, damaged)
    with _locked(rel):
        _evict(dest)
        if Path(path) != dest and Path(path).is_file():
            _evict(Path(path))
    if is_offline() and not (_mirror_dir() is not None and (_mirror_dir() / rel).is_file()):
        msg = _damaged_offline_message(rel, damaged, url)
        logger.warning("%s", msg)
        raise OfflineError(msg, url=url) from first
    path = fetch(url, **fetch_kwargs)
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001
        if not _decode_failure(exc):
            raise
        raise DownloadCorrupt(
            f"{url}: fetched again but still cannot be read ({type(exc).__name__}: {exc}); the "
            "source itself may be damaged. Check the file at its public URL or in MGTRANSCRIPT_MIRROR.",
            url=url,
        ) from exc


def _from_mirror_dir(local: Path, part: Path, *, url: str, rel: str, known_hash: str | None,
                     dest: Path) -> None:
    if not local.is_file():
        raise OfflineError(
            f"{rel} is not in the mirror {local.parent} (public URL: {url}). Add it to the "
            "mirror, or unset MGTRANSCRIPT_MIRROR to download it from the public host.",
            url=url,
        )
    shutil.copyfile(local, part)
    try:
        verify_file(part, known_hash=known_hash, name=str(local), filename=dest.name)
    except DownloadCorrupt:
        part.unlink(missing_ok=True)
        raise


def _download_verified(src_url: str, part: Path, *, url: str, dest: Path, known_hash: str | None,
                       method: str, data, json_body, progress: bool | None) -> None:
    """Download into ``part`` until it verifies; give up after a bounded number of tries."""
    attempts = _verify_attempts()
    body = json.dumps(json_body) if json_body is not None else data
    headers = {"Content-Type": "application/json"} if json_body is not None else None
    for attempt in range(attempts):
        if method != "GET":
            part.unlink(missing_ok=True)  # only GET is resumable
        bar = _Progress(dest.name, progress_enabled(progress))
        try:
            http.download_to(src_url, part, public_url=url, progress=bar, method=method,
                              data=body, headers=headers)
        finally:
            bar.close()
        try:
            verify_file(part, known_hash=known_hash, name=url, filename=dest.name)
            return
        except DownloadCorrupt as exc:
            part.unlink(missing_ok=True)
            if attempt + 1 == attempts:
                raise DownloadCorrupt(
                    f"{exc} (gave up after {attempts} downloads; nothing was cached)", url=url
                ) from exc
            logger.warning("%s; downloading it again (%d/%d)", exc, attempt + 1, attempts - 1)


def store(src: Path, relpath: str, *, url: str, known_hash: str | None = None,
          move: bool = True) -> Path:
    """Put a file obtained otherwise (e.g. extracted from an archive) into the cache.

    The file is verified (gzip integrity by name, ``known_hash``), then moved (or
    copied) into place atomically with its provenance recorded.

    Returns
    -------
    The cached path ``CACHE/relpath``.

    Raises
    ------
    DownloadCorrupt
        The file fails verification; it is not cached.
    """
    rel = _check_rel(relpath)
    dest = cache_dir() / rel
    verify_file(Path(src), known_hash=known_hash, name=url, filename=dest.name)
    with _locked(rel):
        part = cache_dir() / PARTIAL / (rel + _PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(src), part)
        else:
            shutil.copyfile(src, part)
        _commit(part, dest, url=url, source="archive", seconds=0.0)
    return dest


def list_remote_dir(url: str, *, explicit: bool = False) -> list[str]:
    """Names of the files in a remote directory (an HTTP index page, or a mirror folder).

    Listings are never cached: they change when series are updated.
    """
    url = https_from_ftp(url)
    if not url.endswith("/"):
        url += "/"
    _check_url(url, explicit)
    rel = mirror_relpath(url).rstrip("/")
    mdir = _mirror_dir()
    if mdir is not None:
        local = mdir / rel
        if not local.is_dir():
            raise OfflineError(
                f"{rel} is not in the mirror {mdir} (public URL: {url}). Add it, or unset "
                "MGTRANSCRIPT_MIRROR.", url=url
            )
        return sorted(p.name for p in local.iterdir() if p.is_file())
    if is_offline():
        local = cache_dir() / rel
        if local.is_dir():
            return sorted(p.name for p in local.iterdir() if p.is_file())
        raise OfflineError(
            f"MGTRANSCRIPT_OFFLINE=1: cannot list {url}; nothing of it is cached. Unset "
            "MGTRANSCRIPT_OFFLINE or use a directory mirror.", url=url
        )
    base = mirror_base()
    src_url = base.rstrip("/") + "/" + rel + "/" if base else url
    resp = http.request("GET", src_url, public_url=url)
    names = re.findall(r'href="([^"?]+)"', resp.text)
    out = []
    for n in names:
        n = n.rsplit("/", 1)[-1] if n.startswith(("http", "/")) else n
        if n and "/" not in n and n not in out and not n.startswith("."):
            out.append(n)
    return out

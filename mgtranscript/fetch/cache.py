"""Cache directory, atomic downloads, verification and processors (pooch-style).

Files are cached at ``CACHE/HOST/PATH`` (the layout of ``../shared/mirror``).
A download is written to ``CACHE/.partial/HOST/PATH.part`` and moved into place
with :func:`os.replace` only once it is complete and verified (gzip integrity,
sha256/md5 when known), so a half-written file is never visible in the cache. A
``.part`` left behind by a killed process is resumed with HTTP ``Range`` by the
next call. Provenance (public URL, sha256, size, modification time, fetch time,
source) is kept in ``CACHE/.meta/HOST/PATH.json``.

The cache heals itself: a cached file whose size differs from the one recorded, or
whose content changed since it was cached (modification time moved and sha256 no
longer matches), is evicted and fetched again. :func:`fetch_read` does the same for
a file that fails to decode (truncated gzip, EOF, undecodable bytes): it is evicted
and fetched once more. When that is impossible (offline) the error names the file
and the fix in one line. Environment variables:

``MGTRANSCRIPT_CACHE``
    The cache directory (default: the platform's user cache dir).
``MGTRANSCRIPT_MIRROR``
    A directory, or an ``http(s)://`` base URL, laid out like ``HOST/PATH``; used
    instead of the public hosts for GET requests. A directory mirror is also used
    when offline (it is not the network).
``MGTRANSCRIPT_OFFLINE=1``
    Never touch the network; a file that is neither cached nor in a directory
    mirror raises :class:`~mgtranscript.errors.OfflineError` naming it and its
    public URL.
``MGTRANSCRIPT_PROGRESS=0``
    No progress bars.
``MGTRANSCRIPT_RETRIES``, ``MGTRANSCRIPT_BACKOFF``, ``MGTRANSCRIPT_MAX_WAIT``
    Tries per request (5), base backoff in seconds (1.0), longest single wait (60 s).
``MGTRANSCRIPT_VERIFY_RETRIES``
    How many times a download that fails verification (truncated gzip, hash
    mismatch) is fetched again from scratch before :class:`DownloadCorrupt` (3).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import platformdirs

from ..errors import (
    DownloadCorrupt,
    FetchError,
    HostNotAllowed,
    MgTranscriptError,
    OfflineError,
    UnsafeArchiveError,
)
from . import http
from .urls import KNOWN_HOSTS, https_from_ftp, mirror_relpath

try:  # POSIX: lock across processes; elsewhere only across threads
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)

__all__ = [
    "cache_dir",
    "fetch",
    "store",
    "remove",
    "partial_path",
    "list_remote_dir",
    "verify_file",
    "sha256sum",
    "safe_extract_tar",
    "safe_extract_zip",
    "cache_entries",
    "verify_cache",
    "clear_cache",
    "is_offline",
    "mirror_base",
    "read_meta",
    "Decompress",
    "fetch_read",
    "integrity_problem",
    "clean_partial",
]

#: Folders of the cache that hold bookkeeping, never cached files.
PARTIAL, META = ".partial", ".meta"
_PART_SUFFIX, _META_SUFFIX, _LOCK_SUFFIX = ".part", ".json", ".lock"


def cache_dir() -> Path:
    """The cache directory: ``$MGTRANSCRIPT_CACHE`` or the platform user cache dir."""
    env = os.environ.get("MGTRANSCRIPT_CACHE")
    path = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("mgtranscript"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_offline() -> bool:
    """Whether ``MGTRANSCRIPT_OFFLINE`` forbids network access."""
    return os.environ.get("MGTRANSCRIPT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def mirror_base() -> str | None:
    """``$MGTRANSCRIPT_MIRROR`` (a directory or an http(s) base URL), or None."""
    value = os.environ.get("MGTRANSCRIPT_MIRROR", "").strip()
    return value or None


def _mirror_dir() -> Path | None:
    base = mirror_base()
    if base and not base.startswith(("http://", "https://")):
        return Path(base).expanduser()
    return None


def _verify_attempts() -> int:
    return max(1, int(os.environ.get("MGTRANSCRIPT_VERIFY_RETRIES", "3")))


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file."""
    return _digest(path, "sha256")


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_hash(known_hash: str) -> tuple[str, str]:
    """``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare hex digest -> (algo, hex)."""
    algo, _, digest = known_hash.strip().rpartition(":")
    algo = algo.lower() or {32: "md5", 64: "sha256"}.get(len(digest), "")
    if algo not in ("sha256", "md5") or not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise MgTranscriptError(
            f"known_hash {known_hash!r} is not understood; give 'sha256:<hex>' or 'md5:<hex>'."
        )
    return algo, digest.lower()


def verify_file(
    path: Path, *, known_hash: str | None = None, name: str | None = None, filename: str | None = None
) -> None:
    """Check that ``path`` is complete: gzip stream intact (``.gz``), hash if known.

    ``filename`` is the name the file will have in the cache (``path`` may be a
    ``.part`` file); it decides which format checks apply.

    Raises
    ------
    DownloadCorrupt
        With the reason (truncated gzip, CRC error, hash mismatch).
    """
    name = name or str(path)
    if known_hash:
        algo, digest = _parse_hash(known_hash)
        got = _digest(path, algo)
        if got != digest:
            raise DownloadCorrupt(
                f"{name}: {algo} {got} does not match the expected {digest}; the download "
                "is corrupt or the file changed upstream. It was not cached; retry, or "
                "check that the expected hash is current.",
                url=name,
            )
    filename = filename or path.name
    if filename.endswith((".gz", ".tgz")):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            raise DownloadCorrupt(
                f"{name}: not a gzip file (starts with {magic!r}); the server may have sent an "
                "error page. It was not cached; retry or check the URL.",
                url=name,
            )
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (EOFError, OSError, zlib.error) as exc:
            raise DownloadCorrupt(
                f"{name}: gzip stream is truncated or corrupt ({exc}). It was not cached; "
                "retry the download.",
                url=name,
            ) from exc


@dataclass
class Decompress:
    """Processor: gunzip a ``.gz`` file next to it (atomically) and return the plain path."""

    def __call__(self, path: Path) -> Path:
        if not path.name.endswith(".gz"):
            return path
        out = path.with_name(path.name[: -len(".gz")])
        if out.exists() and out.stat().st_mtime >= path.stat().st_mtime and not _size_problem(out):
            return out
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with gzip.open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:  # inside the cache: record provenance so `cache verify` can check it too
            src_meta = read_meta(path)
            rel = path.resolve().relative_to(cache_dir().resolve()).as_posix()
            st = out.stat()
            _write_meta(out, {"url": "", "derived_from": rel, "source_url": src_meta.get("url", ""),
                              "sha256": sha256sum(out), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                              "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        except ValueError:
            pass  # a file outside the cache
        return out


# --------------------------------------------------------------------------- archives


def _check_member_path(name: str, target: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    dest = (target / pure).resolve()
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in pure.parts or not (
        dest == target or target in dest.parents
    ):
        raise UnsafeArchiveError(
            f"archive member {name!r} would be written outside {target}; refusing to "
            "extract this archive (it may be malicious). Nothing was extracted."
        )
    return dest


def _write_member(src, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with src, os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_extract_tar(archive: Path | tarfile.TarFile, target: Path) -> list[Path]:
    """Extract a tar(.gz) into ``target``, refusing members that escape it.

    Every member is checked before anything is written: links, devices, absolute
    paths and ``..`` components are refused with
    :class:`~mgtranscript.errors.UnsafeArchiveError`, and nothing is extracted then.

    Returns
    -------
    The extracted files (not directories).
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        tf = archive if isinstance(archive, tarfile.TarFile) else tarfile.open(archive, "r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DownloadCorrupt(f"{archive}: not a readable tar archive ({exc}).", url=str(archive)) from exc
    try:
        members = tf.getmembers()
        for m in members:
            _check_member_path(m.name, target)
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(
                    f"archive member {m.name!r} is a link or special file; refusing to extract "
                    "this archive. Nothing was extracted."
                )
        out = []
        for m in members:
            dest = target / m.name
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            src = tf.extractfile(m)
            if src is not None:
                _write_member(src, dest)
                out.append(dest)
        return out
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DownloadCorrupt(f"{archive}: tar archive is truncated or corrupt ({exc}).",
                              url=str(archive)) from exc
    finally:
        if not isinstance(archive, tarfile.TarFile):
            tf.close()


def safe_extract_zip(archive: Path, target: Path) -> list[Path]:
    """Extract a zip into ``target``, refusing members that escape it or are symlinks.

    Raises
    ------
    UnsafeArchiveError
        Before writing anything, if a member is absolute, has ``..``, or is a symlink.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_member_path(info.filename, target)
            mode = info.external_attr >> 16
            if mode and (mode & 0o170000) not in (0, 0o100000, 0o040000):
                raise UnsafeArchiveError(
                    f"zip member {info.filename!r} is a link or special file; refusing to "
                    "extract this archive. Nothing was extracted."
                )
        out = []
        for info in infos:
            dest = target / info.filename
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            _write_member(zf.open(info), dest)
            out.append(dest)
        return out


# --------------------------------------------------------------------------- paths, locks


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


def _check_rel(rel: str) -> str:
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or pure.parts[0].startswith("."):
        raise MgTranscriptError(f"{rel!r} is not a valid cache path (relative, no '..', no dot-folder).")
    return pure.as_posix()


def partial_path(url: str | None = None, *, relpath: str | None = None) -> Path:
    """Where the unfinished download of ``url`` (or cache path ``relpath``) is kept."""
    rel = _check_rel(relpath) if relpath else mirror_relpath(https_from_ftp(url or ""))
    return cache_dir() / PARTIAL / (rel + _PART_SUFFIX)


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _flock_with_timeout(fh, lock_path: Path, rel: str) -> None:
    """Take the cross-process lock, giving up after ``MGTRANSCRIPT_LOCK_TIMEOUT`` s (600)."""
    timeout = float(os.environ.get("MGTRANSCRIPT_LOCK_TIMEOUT", "600"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise FetchError(
                    f"another process has been downloading {rel} for over {timeout:.0f} s (lock "
                    f"{lock_path}). Wait for it, or, if no other mgtranscript process is running, "
                    "delete that lock file and retry."
                ) from None
            time.sleep(0.1)


def _prune_empty_dirs(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents up to (not including) ``stop`` while they are empty."""
    d = start
    while d != stop and stop in d.parents:
        try:
            d.rmdir()
        except OSError:  # not empty (or already gone / in use): stop here
            return
        d = d.parent


def _open_lock(lock_path: Path):
    while True:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return open(lock_path, "a")
        except FileNotFoundError:  # its folder was pruned meanwhile: make it again
            continue


@contextlib.contextmanager
def _locked(rel: str) -> Iterator[None]:
    """Hold a lock on cache path ``rel`` (threads of this process, and other processes).

    The lock file ``.partial/HOST/PATH.lock`` is deleted by its holder on release, so
    lock files do not pile up. A process that was waiting on the deleted file notices
    (its inode is no longer the one at the path) and locks the new file instead.
    """
    with _thread_locks_guard:
        tlock = _thread_locks.setdefault(rel, threading.Lock())
    with tlock:
        partial_root = cache_dir() / PARTIAL
        lock_path = partial_root / (rel + _LOCK_SUFFIX)
        while True:
            fh = _open_lock(lock_path)
            if fcntl is None:
                break
            try:
                _flock_with_timeout(fh, lock_path, rel)
            except BaseException:
                fh.close()
                raise
            try:
                same = os.fstat(fh.fileno()).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()  # the previous holder deleted the file we waited on: lock the new one
        try:
            yield
        finally:
            try:
                lock_path.unlink(missing_ok=True)
                _prune_empty_dirs(lock_path.parent, partial_root)
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()


# --------------------------------------------------------------------------- metadata


def _meta_path(dest: Path) -> Path:
    root = cache_dir().resolve()
    rel = Path(dest).resolve().relative_to(root).as_posix()
    return root / META / (rel + _META_SUFFIX)


def _write_meta(dest: Path, meta: dict) -> None:
    path = _meta_path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


def read_meta(dest: Path) -> dict:
    """Provenance of a cached file: public URL, sha256, size, fetch time, source."""
    try:
        return json.loads(_meta_path(dest).read_text())
    except (OSError, ValueError):
        return {}


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


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("MGTRANSCRIPT_PROGRESS", "1") != "0"


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


def _size_problem(dest: Path) -> str | None:
    meta = read_meta(dest)
    size = dest.stat().st_size
    if meta.get("bytes") is not None and meta["bytes"] != size:
        return f"{size} bytes on disk, {meta['bytes']} recorded when it was cached"
    return None


def integrity_problem(dest: Path, *, deep: bool = False) -> str | None:
    """Why the cached file ``dest`` no longer matches its recorded metadata, or None.

    Cheap by default: the size is compared with the one recorded, and the sha256 is
    recomputed only when the file's modification time moved since it was cached.
    ``deep=True`` always recomputes the sha256 and re-checks a gzip stream (as
    ``mgtranscript cache verify`` does).
    """
    if not dest.is_file():
        return "missing"
    problem = _size_problem(dest)
    if problem:
        return problem
    meta = read_meta(dest)
    recorded = meta.get("sha256")
    if recorded and (deep or meta.get("mtime_ns") not in (None, dest.stat().st_mtime_ns)):
        got = sha256sum(dest)
        if got != recorded:
            return f"sha256 {got[:12]}... differs from the {recorded[:12]}... recorded when it was cached"
        if not deep:  # touched but intact: remember the new time, skip the hash next time
            _write_meta(dest, dict(meta, mtime_ns=dest.stat().st_mtime_ns))
    if deep:
        try:
            verify_file(dest, name=str(dest))
        except DownloadCorrupt as exc:
            return str(exc).removeprefix(f"{dest}: ").split(". ")[0]
    return None


def _hash_ok(dest: Path, known_hash: str | None) -> bool:
    if not known_hash:
        return True
    algo, digest = _parse_hash(known_hash)
    meta = read_meta(dest)
    if algo == "sha256" and meta.get("sha256") and meta.get("bytes") == dest.stat().st_size:
        return meta["sha256"] == digest
    return _digest(dest, algo) == digest


def _evict(dest: Path) -> None:
    """Delete a cached file, its metadata and files derived from it (no lock taken)."""
    root = cache_dir().resolve()
    rel = Path(dest).resolve().relative_to(root).as_posix()
    for path in [Path(dest), *(root / r["path"] for r in _derived_from(rel))]:
        meta = _meta_path(path)
        path.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)


def _derived_from(rel: str) -> list[dict]:
    out = []
    meta_dir = cache_dir() / META
    plain = rel[: -len(".gz")] if rel.endswith(".gz") else None
    if plain and (meta_dir / (plain + _META_SUFFIX)).is_file():
        m = read_meta(cache_dir() / plain)
        if m.get("derived_from") == rel:
            out.append({"path": plain})
    return out


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
        Show a progress bar (default: on unless ``MGTRANSCRIPT_PROGRESS=0``).
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
        ``MGTRANSCRIPT_OFFLINE=1`` and the file is not available locally.
    AccessionNotFound
        The server answered 404/410 (not retried).
    DownloadCorrupt
        Verification failed ``MGTRANSCRIPT_VERIFY_RETRIES`` times; nothing was cached.
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
        Parses the local file (e.g. :func:`~mgtranscript.datasets.seriesmatrix.parse_series_matrix`).
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
        bar = _Progress(dest.name, _progress_enabled(progress))
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


def remove(relpath: str) -> bool:
    """Remove one cached file and its metadata. Returns whether it existed."""
    rel = _check_rel(relpath)
    dest = cache_dir() / rel
    with _locked(rel):
        existed = dest.is_file()
        meta = _meta_path(dest) if existed else cache_dir() / META / (rel + _META_SUFFIX)
        dest.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    return existed


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


# --------------------------------------------------------------------------- inventory


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def cache_entries() -> list[dict]:
    """Every cached file with its size and recorded provenance.

    Each row: ``path`` (``HOST/PATH``), ``bytes``, ``url`` (the public URL whose
    content it is; empty for derived files), ``sha256``, ``fetched``, ``derived_from``
    (for files made from another cached file, e.g. by :class:`Decompress`).

    Bookkeeping (``.partial/`` with unfinished downloads and locks, ``.meta/``) and
    temporary files are never listed.
    """
    root = cache_dir()
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        dirnames.sort()
        for fname in sorted(filenames):
            if _is_temp(fname):
                continue
            path = Path(dirpath) / fname
            if Path(dirpath) == root:
                continue  # nothing is cached at top level (HOST/PATH layout)
            meta = read_meta(path)
            rows.append({"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size,
                         "url": meta.get("url", ""), "sha256": meta.get("sha256", ""),
                         "fetched": meta.get("fetched", ""),
                         "derived_from": meta.get("derived_from", "")})
    return rows


def verify_cache(*, remove_bad: bool = False) -> list[tuple[str, str]]:
    """Re-verify every cached file (gzip integrity, recorded size and sha256).

    Returns
    -------
    ``(path, reason)`` of each file that failed (removed when ``remove_bad``).
    """
    root = cache_dir()
    bad = []
    for row in cache_entries():
        path = root / row["path"]
        meta = read_meta(path)
        try:
            if meta.get("bytes") is not None and meta["bytes"] != row["bytes"]:
                raise DownloadCorrupt(
                    f"{row['path']}: {row['bytes']} bytes, but {meta['bytes']} were downloaded",
                    url=row["url"],
                )
            verify_file(path, known_hash=row["sha256"] or None, name=row["path"])
        except DownloadCorrupt as exc:
            bad.append((row["path"], str(exc)))
            if remove_bad:
                remove(row["path"])
    return bad


def clean_partial() -> int:
    """Remove lock files nobody holds (left by older versions or killed processes) and empty
    folders from ``.partial/``; unfinished downloads (``.part``) stay for resuming.

    Returns
    -------
    The number of lock files removed.
    """
    root = cache_dir() / PARTIAL
    if not root.is_dir():
        return 0
    n = 0
    for lock in sorted(root.rglob("*" + _LOCK_SUFFIX)):
        try:
            fh = open(lock, "a")
        except OSError:
            continue
        with fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a download in progress
            try:
                if os.fstat(fh.fileno()).st_ino == os.stat(lock).st_ino:
                    lock.unlink()
                    n += 1
            except FileNotFoundError:
                pass
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        d = Path(dirpath)
        if d != root:
            with contextlib.suppress(OSError):
                d.rmdir()
    return n


def clear_cache(pattern: str | None = None) -> int:
    """Remove cached files (all, or those whose path contains ``pattern``).

    Clearing everything also drops unfinished downloads (``.partial/``).

    Returns
    -------
    The number of cached files removed.
    """
    root = cache_dir()
    n = 0
    for row in cache_entries():
        if pattern and pattern not in row["path"]:
            continue
        remove(row["path"])
        n += 1
    if not pattern:
        shutil.rmtree(root / PARTIAL, ignore_errors=True)
        shutil.rmtree(root / META, ignore_errors=True)
    # drop folders left empty
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        p = Path(dirpath)
        if p != root and not any(p.iterdir()):
            p.rmdir()
    return n

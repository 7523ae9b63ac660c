"""The cache: where it is, how it is laid out, and whether what it holds is intact (pooch-style).

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
and the fix in one line. The settings used here (:data:`mgtranscript.settings`; the
environment variable giving each default in brackets):

``cache_dir`` (``MGTRANSCRIPT_CACHE``)
    The cache directory (default: the platform's user cache dir).
``mirror`` (``MGTRANSCRIPT_MIRROR``)
    A directory, or an ``http(s)://`` base URL, laid out like ``HOST/PATH``; used
    instead of the public hosts for GET requests. A directory mirror is also used
    when offline (it is not the network).
``offline`` (``MGTRANSCRIPT_OFFLINE=1``)
    Never touch the network; a file that is neither cached nor in a directory
    mirror raises :class:`~mgtranscript.errors.OfflineError` naming it and its
    public URL.
``progress`` (``MGTRANSCRIPT_PROGRESS=0`` turns it off)
    Progress bars.
``retries``, ``backoff``, ``max_wait`` (``MGTRANSCRIPT_RETRIES``, ``MGTRANSCRIPT_BACKOFF``, ``MGTRANSCRIPT_MAX_WAIT``)
    Tries per request (5), base backoff in seconds (1.0), longest single wait (60 s).
``verify_retries`` (``MGTRANSCRIPT_VERIFY_RETRIES``)
    How many times a download that fails verification (truncated gzip, hash
    mismatch) is fetched again from scratch before :class:`DownloadCorrupt` (3).

This module reads the settings above and holds the cache layout, hashing and verification
(:func:`verify_file`), provenance metadata (:func:`read_meta`), integrity checks
(:func:`integrity_problem`), eviction and the :class:`Decompress` processor. The
rest of the download layer lives next to it:

:mod:`._download`
    :func:`fetch`, :func:`fetch_read`, :func:`store`, :func:`list_remote_dir`:
    verified, resumable downloads from the public hosts or a mirror.
:mod:`._inventory`
    :func:`cache_entries`, :func:`remove`, :func:`verify_cache`, :func:`clear_cache`.
:mod:`._locks`
    Per-file locks across threads and processes; :func:`clean_partial`.
:mod:`._archives`
    :func:`safe_extract_tar`, :func:`safe_extract_zip`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .._settings import settings
from ..errors import DownloadCorrupt, MgTranscriptError
from ._urls import https_from_ftp, mirror_relpath

__all__ = [
    "cache_dir",
    "partial_path",
    "verify_file",
    "sha256sum",
    "is_offline",
    "mirror_base",
    "read_meta",
    "Decompress",
    "integrity_problem",
]

#: Folders of the cache that hold bookkeeping, never cached files.
PARTIAL, META = ".partial", ".meta"
_PART_SUFFIX, _META_SUFFIX, _LOCK_SUFFIX = ".part", ".json", ".lock"


def cache_dir() -> Path:
    """The cache directory, created if missing: ``settings.cache_dir`` (``MGTRANSCRIPT_CACHE``;
    default the platform user cache dir)."""
    path = settings.cache_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_offline() -> bool:
    """Whether ``settings.offline`` (``MGTRANSCRIPT_OFFLINE``) forbids network access."""
    return settings.offline


def mirror_base() -> str | None:
    """``settings.mirror`` (``MGTRANSCRIPT_MIRROR``: a directory or an http(s) base URL), or None."""
    return settings.mirror


def _mirror_dir() -> Path | None:
    base = mirror_base()
    if base and not base.startswith(("http://", "https://")):
        return Path(base).expanduser()
    return None


def _verify_attempts() -> int:
    return settings.verify_retries


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file."""
    return _digest(path, "sha256")


def complete_inputs(inputs: list[dict]) -> list[dict]:
    """Input records (dicts with ``path``) with ``sha256`` and ``bytes`` filled from the file at
    ``path`` where missing (new dicts; records without a readable file are kept as they are)."""
    out = []
    for f in inputs:
        f = dict(f)
        p = Path(str(f.get("path") or ""))
        if str(f.get("path") or "") and p.is_file():
            if not f.get("sha256"):
                f["sha256"] = sha256sum(p)
            if f.get("bytes") in (None, "") or (isinstance(f.get("bytes"), float) and f["bytes"] != f["bytes"]):
                f["bytes"] = p.stat().st_size
        out.append(f)
    return out


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



# --------------------------------------------------------------------------- paths


def _check_rel(rel: str) -> str:
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or pure.parts[0].startswith("."):
        raise MgTranscriptError(f"{rel!r} is not a valid cache path (relative, no '..', no dot-folder).")
    return pure.as_posix()


def partial_path(url: str | None = None, *, relpath: str | None = None) -> Path:
    """Where the unfinished download of ``url`` (or cache path ``relpath``) is kept."""
    rel = _check_rel(relpath) if relpath else mirror_relpath(https_from_ftp(url or ""))
    return cache_dir() / PARTIAL / (rel + _PART_SUFFIX)


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



# --------------------------------------------------------------------------- integrity


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


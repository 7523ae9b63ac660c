"""Cache directory, atomic downloads, verification and processors (pooch-style).

Files are cached at ``CACHE/HOST/PATH`` (the layout of ``../shared/mirror``).
A download is written to ``CACHE/.partial/`` and moved into place with
:func:`os.replace` only once it is complete and verified, so a half-written file is
never visible in the cache. Environment variables:

``MGTRANSCRIPT_CACHE``
    The cache directory (default: the platform's user cache dir).
``MGTRANSCRIPT_MIRROR``
    A directory, or an ``http(s)://`` base URL, laid out like ``HOST/PATH``; used
    instead of the public hosts.
``MGTRANSCRIPT_OFFLINE=1``
    Never touch the network; a file that is not cached raises
    :class:`~mgtranscript.errors.OfflineError` naming it and its public URL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from ..errors import (
    DownloadCorrupt,
    FetchError,
    HostNotAllowed,
    OfflineError,
    UnsafeArchiveError,
)
from . import http
from .urls import KNOWN_HOSTS, https_from_ftp, mirror_relpath

logger = logging.getLogger(__name__)

__all__ = [
    "cache_dir",
    "fetch",
    "list_remote_dir",
    "verify_file",
    "sha256sum",
    "safe_extract_tar",
    "cache_entries",
    "verify_cache",
    "clear_cache",
    "is_offline",
    "mirror_base",
    "Decompress",
]

_META_SUFFIX = ".mgmeta.json"


def cache_dir() -> Path:
    """The cache directory: ``$MGTRANSCRIPT_CACHE`` or the platform user cache dir."""
    env = os.environ.get("MGTRANSCRIPT_CACHE")
    path = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("mgtranscript"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_offline() -> bool:
    return os.environ.get("MGTRANSCRIPT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def mirror_base() -> str | None:
    value = os.environ.get("MGTRANSCRIPT_MIRROR", "").strip()
    return value or None


def sha256sum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(
    path: Path, *, known_hash: str | None = None, name: str | None = None, filename: str | None = None
) -> None:
    """Check that ``path`` is complete: gzip stream intact (``.gz``), sha256 if known.

    ``filename`` is the name the file will have in the cache (``path`` may be a
    ``.part`` file); it decides which format checks apply.

    Raises
    ------
    DownloadCorrupt
        With the reason (truncated gzip, CRC error, hash mismatch).
    """
    name = name or str(path)
    if known_hash:
        algo, _, digest = known_hash.rpartition(":")
        if algo not in ("", "sha256"):
            raise ValueError(f"only sha256 hashes are supported, got {known_hash!r}")
        got = sha256sum(path)
        if got.lower() != digest.lower():
            raise DownloadCorrupt(
                f"{name}: sha256 {got} does not match the expected {digest}; the download "
                "is corrupt or the file changed upstream. It was not cached; retry.",
                url=name,
            )
    filename = filename or path.name
    if filename.endswith((".gz", ".tgz")):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            raise DownloadCorrupt(
                f"{name}: not a gzip file (got {magic!r}); the server may have sent an error "
                "page. It was not cached; retry or check the URL.",
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
        if out.exists() and out.stat().st_mtime >= path.stat().st_mtime:
            return out
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
        return out


def safe_extract_tar(archive: Path | tarfile.TarFile, target: Path) -> list[Path]:
    """Extract a tar(.gz) into ``target``, refusing members that escape it.

    Links, devices and absolute or ``..`` paths are refused with
    :class:`~mgtranscript.errors.UnsafeArchiveError`; nothing is extracted then.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    tf = archive if isinstance(archive, tarfile.TarFile) else tarfile.open(archive, "r:*")
    try:
        members = tf.getmembers()
        for m in members:
            dest = (target / m.name).resolve()
            if os.path.isabs(m.name) or not (dest == target or target in dest.parents):
                raise UnsafeArchiveError(
                    f"archive member {m.name!r} would be written outside {target}; refusing to "
                    "extract this archive (it may be malicious)."
                )
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(
                    f"archive member {m.name!r} is a link or special file; refusing to extract."
                )
        out = []
        for m in members:
            dest = target / m.name
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            if src is None:
                continue
            tmp = dest.with_name(dest.name + ".tmp")
            with src, open(tmp, "wb") as fh:
                shutil.copyfileobj(src, fh, 1 << 20)
            os.replace(tmp, dest)
            out.append(dest)
        return out
    finally:
        if not isinstance(archive, tarfile.TarFile):
            tf.close()


def _check_host(url: str, explicit: bool) -> None:
    host = urlsplit(url).hostname or ""
    if not explicit and host not in KNOWN_HOSTS:
        raise HostNotAllowed(
            f"{url}: host {host!r} is not one mgtranscript contacts on its own "
            f"({', '.join(sorted(KNOWN_HOSTS))}). Pass the URL explicitly (explicit=True, or "
            "as a command-line argument) if you trust it.",
            url=url,
        )


def _source(url: str, rel: str) -> tuple[str, Path | None]:
    """Where to get ``url`` from: (http url, None) or (None-ish, local mirror path)."""
    base = mirror_base()
    if not base:
        return url, None
    if base.startswith(("http://", "https://")):
        return base.rstrip("/") + "/" + rel, None
    return "", Path(base).expanduser() / rel


class _Progress:
    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled, self.bar = name, enabled, None

    def __call__(self, got: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=self.name, leave=False)
        self.bar.n = got
        self.bar.refresh() if got == total else None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("MGTRANSCRIPT_PROGRESS", "1") != "0"


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
    json_body: dict | None = None,
    relpath: str | None = None,
) -> Path:
    """Return the local path of ``url``, downloading it into the cache if needed.

    Parameters
    ----------
    url
        Public URL (``ftp://`` links are fetched over https).
    known_hash
        ``"sha256:<hex>"`` or a bare hex digest; verified before the file is cached.
    processor
        Called with the cached path, returns the path to hand back (e.g. :class:`Decompress`).
    explicit
        The user passed this URL; allow hosts outside :data:`~mgtranscript.fetch.urls.KNOWN_HOSTS`.
    progress
        Show a progress bar (default: on unless ``MGTRANSCRIPT_PROGRESS=0``).
    force
        Download again even if cached.
    method, data, json_body
        For POST endpoints (GDC); the body is sent as is.
    relpath
        Override the cache path (for POST requests, whose URL does not name the content).

    Raises
    ------
    OfflineError, AccessionNotFound, DownloadCorrupt, FetchError, HostNotAllowed
    """
    url = https_from_ftp(url)
    _check_host(url, explicit)
    rel = relpath or mirror_relpath(url)
    root = cache_dir()
    dest = root / rel
    if dest.exists() and not force:
        return processor(dest) if processor else dest
    if is_offline():
        raise OfflineError(
            f"MGTRANSCRIPT_OFFLINE=1 and {rel} is not in the cache ({root}). Its public URL is "
            f"{url}; download it there, or unset MGTRANSCRIPT_OFFLINE, or point "
            "MGTRANSCRIPT_MIRROR at a mirror that holds it.",
            url=url,
        )
    partial_dir = root / ".partial"
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = partial_dir / (rel.replace("/", "__") + ".part")
    src_url, local = _source(url, rel)
    t0 = time.monotonic()
    if local is not None:
        if not local.exists():
            raise OfflineError(
                f"{rel} is not in the mirror {mirror_base()} (public URL: {url}). Add it to the "
                "mirror, or unset MGTRANSCRIPT_MIRROR to download from the public host.",
                url=url,
            )
        shutil.copyfile(local, part)
    else:
        bar = _Progress(Path(rel).name, _progress_enabled(progress))
        body = json.dumps(json_body) if json_body is not None else data
        headers = {"Content-Type": "application/json"} if json_body is not None else None
        try:
            if method == "GET":
                http.download_to(src_url, part, public_url=url, progress=bar)
            else:
                if part.exists():
                    part.unlink()  # POST bodies are not resumable
                _post_to(src_url, part, url, body, headers, bar)
        finally:
            bar.close()
    try:
        verify_file(part, known_hash=known_hash, name=url, filename=dest.name)
    except DownloadCorrupt:
        part.unlink(missing_ok=True)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)
    meta = {"url": url, "sha256": sha256sum(dest), "bytes": dest.stat().st_size,
            "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - t0, 3), "source": mirror_base() or "public"}
    _write_meta(dest, meta)
    logger.info("cached %s (%d bytes)", rel, meta["bytes"])
    return processor(dest) if processor else dest


def _post_to(src_url: str, part: Path, public: str, body, headers, bar) -> None:
    resp = http.request("POST", src_url, public_url=public, data=body, headers=headers, stream=True)
    try:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        with open(part, "wb") as fh:
            for chunk in resp.iter_content(chunk_size=1 << 16):
                fh.write(chunk)
                got += len(chunk)
                bar(got, total)
        if total is not None and got < total:
            part.unlink(missing_ok=True)
            raise DownloadCorrupt(f"{public}: response truncated ({got} of {total} bytes)", url=public)
    finally:
        resp.close()


def _meta_dir() -> Path:
    d = cache_dir() / ".meta"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _meta_path(dest: Path) -> Path:
    rel = dest.resolve().relative_to(cache_dir().resolve()).as_posix()
    return _meta_dir() / (rel.replace("/", "__") + _META_SUFFIX)


def _write_meta(dest: Path, meta: dict) -> None:
    path = _meta_path(dest)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


def read_meta(dest: Path) -> dict:
    """Provenance of a cached file: public URL, sha256, size, fetch time, source."""
    try:
        return json.loads(_meta_path(dest).read_text())
    except (OSError, ValueError):
        return {}


def list_remote_dir(url: str, *, explicit: bool = False) -> list[str]:
    """Names of the files in a remote directory (an HTTP index page, or a mirror folder).

    Listings are never cached: they change when series are updated.
    """
    import re

    url = https_from_ftp(url)
    if not url.endswith("/"):
        url += "/"
    _check_host(url, explicit)
    rel = mirror_relpath(url)
    if is_offline():
        local = cache_dir() / rel
        if local.is_dir():
            return sorted(p.name for p in local.iterdir() if p.is_file())
        raise OfflineError(
            f"MGTRANSCRIPT_OFFLINE=1: cannot list {url}; nothing of it is cached.", url=url
        )
    src_url, local = _source(url, rel)
    if local is not None:
        if not local.is_dir():
            raise OfflineError(
                f"{rel} is not in the mirror {mirror_base()} (public URL: {url}).", url=url
            )
        return sorted(p.name for p in local.iterdir() if p.is_file())
    resp = http.request("GET", src_url, public_url=url)
    names = re.findall(r'href="([^"?/][^"]*?)"', resp.text)
    out = []
    for n in names:
        n = n.rsplit("/", 1)[-1] if n.startswith(("http", "/")) else n
        if n and not n.endswith("/") and n not in out:
            out.append(n)
    return out


def cache_entries() -> list[dict]:
    """Every cached file with its size and recorded provenance."""
    root = cache_dir()
    rows = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith((".partial/", ".meta/")) or ".tmp" in path.name:
            continue
        meta = read_meta(path)
        rows.append({"path": rel, "bytes": path.stat().st_size, "url": meta.get("url", ""),
                     "sha256": meta.get("sha256", ""), "fetched": meta.get("fetched", "")})
    return rows


def verify_cache(*, remove_bad: bool = False) -> list[tuple[str, str]]:
    """Re-verify every cached file (gzip integrity, recorded sha256). Returns the failures."""
    root = cache_dir()
    bad = []
    for row in cache_entries():
        path = root / row["path"]
        try:
            verify_file(path, known_hash=row["sha256"] or None, name=row["path"])
        except DownloadCorrupt as exc:
            bad.append((row["path"], str(exc)))
            if remove_bad:
                path.unlink(missing_ok=True)
    return bad


def clear_cache(pattern: str | None = None) -> int:
    """Remove cached files (all, or those whose path contains ``pattern``). Returns the count."""
    root = cache_dir()
    n = 0
    for row in cache_entries():
        if pattern and pattern not in row["path"]:
            continue
        path = root / row["path"]
        path.unlink(missing_ok=True)
        try:
            _meta_path(path).unlink(missing_ok=True)
        except ValueError:
            pass
        n += 1
    if not pattern:
        shutil.rmtree(root / ".partial", ignore_errors=True)
    return n


__all__.append("read_meta")

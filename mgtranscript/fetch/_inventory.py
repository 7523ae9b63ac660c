"""What the cache holds, and its upkeep: list, verify, remove and clear cached files
(the back end of ``mgtranscript cache``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import DownloadCorrupt
from ._cache import (
    _META_SUFFIX,
    META,
    PARTIAL,
    _check_rel,
    _meta_path,
    cache_dir,
    read_meta,
    verify_file,
)
from ._locks import _locked

__all__ = ["cache_entries", "remove", "verify_cache", "clear_cache"]


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


def clear_cache(pattern: str | None = None) -> int:
    """Remove cached files (all, or those whose path contains ``pattern``).

    Clearing everything also drops unfinished downloads (``.partial/``) and every other
    bookkeeping folder at the top of the cache, such as the parsed cohorts and cohort results
    that runs keep there (``.pipeline/``).

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
        for d in (root.iterdir() if root.is_dir() else ()):  # derived data (e.g. .pipeline/)
            if d.name.startswith(".") and d.is_dir() and not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
    # drop folders left empty
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        p = Path(dirpath)
        if p != root and not any(p.iterdir()):
            p.rmdir()
    return n

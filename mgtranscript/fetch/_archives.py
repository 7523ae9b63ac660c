"""Safe extraction of tar and zip archives: members that would escape the target
folder, links and special files are refused before anything is written."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import DownloadCorrupt, UnsafeArchiveError

__all__ = ["safe_extract_tar", "safe_extract_zip"]


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

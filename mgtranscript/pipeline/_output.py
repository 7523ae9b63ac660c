"""Outputs that are replaced only when complete.

:func:`transactional_output`
    A run writes its output folder into a temporary sibling (``.<name>.tmp-<pid>-<random>``)
    and swaps it in when the run completes. A failed or interrupted run (any exception,
    ``KeyboardInterrupt`` included) leaves the previous folder byte for byte; a completed
    one replaces it as a whole, so no stale file of an earlier run survives. The new
    folder holds ``manifest.json``: every file produced, with its size and sha256.
:func:`atomic_file`
    The same for one output file (``.h5ad``, ``.tsv``): written beside it, then renamed.
:func:`check_output_path`, :func:`check_output_file`
    Fail fast, before any work, with a one-line :class:`~mgtranscript.errors.OutputPathError`
    when an output cannot be written (a file where a folder is expected or the reverse,
    a missing parent folder, no permission, a folder that is not an mgtranscript output).

Only an empty folder or an earlier mgtranscript output (with ``manifest.json``, or the
``provenance.json`` older runs wrote) is ever replaced: pointing ``--out`` at a folder
holding other files is refused, so a typo cannot delete a user's data.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputPathError

__all__ = ["MANIFEST", "transactional_output", "atomic_file", "check_output_path", "check_output_file",
           "write_manifest", "read_manifest"]

#: Name of the manifest written into every completed output folder.
MANIFEST = "manifest.json"
#: Files that mark a folder written by an mgtranscript run of a version without manifests.
_LEGACY_MARKERS = ("provenance.json",)
_FORMAT = "mgtranscript-output/1"


# --------------------------------------------------------------------------- checks


def _writable_dir(d: Path) -> bool:
    return os.access(d, os.W_OK | os.X_OK)


def _check_parent(path: Path, option: str) -> None:
    parent = path.parent
    if not parent.exists():
        raise OutputPathError(
            f"{option} {path}: its folder {parent} does not exist; create it first "
            f"(mkdir -p {parent}) or choose another path"
        )
    if not parent.is_dir():
        raise OutputPathError(f"{option} {path}: {parent} is not a folder; choose another path")
    if not _writable_dir(parent):
        raise OutputPathError(
            f"{option} {path}: cannot write in {parent} (permission denied); choose a folder you can write to"
        )


def is_output_folder(path: Path) -> bool:
    """Whether ``path`` is empty or was written by an mgtranscript run (so it may be replaced)."""
    path = Path(path)
    try:
        names = set(os.listdir(path))
    except FileNotFoundError:
        return True
    return not names or MANIFEST in names or any(m in names for m in _LEGACY_MARKERS)


def check_output_path(out: str | os.PathLike, *, option: str = "--out") -> Path:
    """Check that ``out`` can become an output *folder*; return it as a :class:`Path`.

    Raises
    ------
    OutputPathError
        ``out`` is a file; its parent folder is missing or not writable; it is a folder
        that cannot be replaced (not writable, or holding files that are not an earlier
        mgtranscript output). The message is one line naming the path and the fix.
    """
    out = Path(out).expanduser()
    if not str(out).strip() or out.resolve() == Path(out.resolve().anchor):
        raise OutputPathError(f"{option} {str(out)!r}: give a folder to write the results into")
    target = out.resolve() if out.is_symlink() else out
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{option} {out} is a file, not a folder; give a folder path (it is created)")
    _check_parent(target.absolute(), option)
    if target.is_dir():
        if not _writable_dir(target):
            raise OutputPathError(f"{option} {out}: the folder is not writable (permission denied)")
        if not is_output_folder(target):
            raise OutputPathError(
                f"{option} {out} is a folder with other files in it (no {MANIFEST}); mgtranscript replaces "
                "its output folder as a whole, so give a new or empty folder"
            )
    return out


def check_output_file(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """Check that ``path`` can be written as an output *file*; return it as a :class:`Path`.

    Raises
    ------
    OutputPathError
        ``path`` is a folder; its folder is missing or not writable; the file exists and
        is read-only. One line naming the path and the fix.
    """
    path = Path(path).expanduser()
    if not str(path).strip():
        raise OutputPathError(f"{option}: give a file path")
    if path.is_dir():
        raise OutputPathError(f"{option} {path} is a folder; give a file path (e.g. {path / 'out'}...)")
    _check_parent(path.absolute(), option)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{option} {path}: the file is read-only (permission denied)")
    return path


# --------------------------------------------------------------------------- manifest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | os.PathLike, extra: dict | None = None) -> dict:
    """Write ``folder/manifest.json`` listing every file under ``folder`` (path, bytes, sha256)."""
    from .. import __version__

    folder = Path(folder)
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.relative_to(folder).as_posix() != MANIFEST:
            files.append({"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size,
                          "sha256": _sha256(p)})
    manifest = {"format": _FORMAT, "mgtranscript": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {}),
                "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of an output folder (``{}`` when it has none)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- swapping


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sibling(out: Path, kind: str, suffix: str = "") -> str:
    return f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _clean_stale(out: Path) -> None:
    """Remove what killed runs left beside ``out``; restore ``out`` if a swap was cut short."""
    prefix_tmp, prefix_old = f".{out.name}.tmp-", f".{out.name}.old-"
    try:
        names = os.listdir(out.parent)
    except OSError:
        return
    for name in sorted(names):
        for prefix in (prefix_tmp, prefix_old):
            if not name.startswith(prefix):
                continue
            pid_text = name[len(prefix):].split("-", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            path = out.parent / name
            if prefix == prefix_old and not out.exists() and path.is_dir():
                os.rename(path, out)  # the old output was set aside and the new one never arrived
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(new: Path, out: Path) -> None:
    """Make ``new`` the folder at ``out``; the previous ``out`` (if any) is deleted afterwards."""
    if not out.exists():
        os.rename(new, out)
        return
    if _exchange(new, out):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous output
        return
    aside = out.parent / _sibling(out, "old")
    os.rename(out, aside)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _default_mode(out: Path) -> int:
    if out.is_dir():
        return stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


@contextlib.contextmanager
def transactional_output(out: str | os.PathLike, *, manifest: dict | None = None,
                         option: str = "--out") -> Iterator[Path]:
    """Write an output folder completely, or not at all.

    Yields a fresh empty folder beside ``out`` (same file system). When the block
    completes, ``manifest.json`` is written into it and it replaces ``out`` in one
    rename (an atomic exchange where the platform has one). When the block raises
    (``KeyboardInterrupt`` included) the temporary folder is deleted and ``out`` is left
    exactly as it was. Leftovers of killed runs beside ``out`` are cleaned up on entry.

    Parameters
    ----------
    out
        The output folder. Checked first with :func:`check_output_path`.
    manifest
        Extra fields for ``manifest.json`` (e.g. the command and its parameters).
    option
        How the output is named in errors (``--out``).

    Examples
    --------
    >>> with transactional_output("out") as work:     # doctest: +SKIP
    ...     (work / "tables").mkdir()
    ...     table.to_csv(work / "tables" / "claims.tsv", sep="\\t")

    Raises
    ------
    OutputPathError
        Before anything is written, when ``out`` cannot be an output folder.
    """
    out = check_output_path(out, option=option)
    if out.is_symlink():
        out = out.resolve()
    out = out.absolute()
    _clean_stale(out)
    work = out.parent / _sibling(out, "tmp")
    work.mkdir(mode=0o700)
    try:
        yield work
        os.chmod(work, _default_mode(out))
        write_manifest(work, manifest)
        if out.exists() and not is_output_folder(out):  # filled with other files meanwhile
            raise OutputPathError(
                f"{option} {out} received other files during the run; the results were not written there"
            )
        _swap_in(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, option: str = "--out") -> Iterator[Path]:
    """Write one output file completely, or not at all.

    Yields a temporary path beside ``path`` with the same suffix (so writers that look
    at the extension behave); on success it is renamed onto ``path``, on any exception
    it is deleted and ``path`` is left as it was.
    """
    path = check_output_file(path, option=option)
    _clean_stale(path.absolute())
    tmp = path.parent / _sibling(path, "tmp", "".join(path.suffixes[-2:]) if path.suffixes else "")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputPathError(f"{option} {path}: nothing was written")
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise

"""Per-file locks on cache paths, across the threads of this process and other processes.

A lock is the file ``CACHE/.partial/HOST/PATH.lock``, held with ``fcntl.flock`` (POSIX;
elsewhere locks hold only across threads) and deleted by its holder on release.
:func:`clean_partial` removes lock files nobody holds.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .._settings import settings
from ..errors import FetchError
from ._cache import _LOCK_SUFFIX, PARTIAL, cache_dir

try:  # POSIX: lock across processes; elsewhere only across threads
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["clean_partial"]


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _flock_with_timeout(fh, lock_path: Path, rel: str) -> None:
    """Take the cross-process lock, giving up after ``settings.lock_timeout`` s (600)."""
    timeout = settings.lock_timeout
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

"""``mgtranscript cache``: list, verify or clear the download cache.

``mgtranscript cache list``                 every cached file with size, sha256, time, URL
``mgtranscript cache verify [--remove-bad]`` re-check gzip integrity, size and sha256
``mgtranscript cache clear [--pattern TEXT] [--yes]`` remove cached files (and unfinished
                                             downloads); asks first unless --yes
``mgtranscript cache dir``                  print the cache directory
"""

from __future__ import annotations

import argparse
import sys

NAME = "cache"
HELP = "list, verify or clear the download cache ($MGTRANSCRIPT_CACHE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "verify", "clear", "dir"], nargs="?", default="list",
                   help="what to do (default: list)")
    p.add_argument("--pattern", help="with clear: only files whose path contains this text")
    p.add_argument("--remove-bad", action="store_true", help="with verify: delete files that fail")
    p.add_argument("--yes", "-y", action="store_true", help="with clear: do not ask for confirmation")


def _confirm(question: str) -> bool:
    """Ask on the terminal; without one (a script, CI) refuse rather than guess."""
    from ..errors import UsageError

    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: pass --yes to confirm (no terminal to ask on)")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _unfinished(root) -> int:
    partial = root / ".partial"
    return sum(1 for p in partial.rglob("*.part")) if partial.is_dir() else 0


def run(args: argparse.Namespace) -> int:
    from .. import fetch

    root = fetch.cache_dir()
    if args.action != "dir":
        fetch.clean_partial()  # lock files nobody holds, empty folders
    if args.action == "dir":
        print(root)
        return 0
    if args.action == "list":
        rows = fetch.cache_entries()
        print(f"# cache: {root}  ({len(rows)} files, "
              f"{sum(r['bytes'] for r in rows) / 1e6:.1f} MB)")
        n_part = _unfinished(root)
        if n_part:
            print(f"# {n_part} unfinished download(s) kept for resuming; not listed")
        print("path\tbytes\tsha256\tfetched\turl")
        for r in rows:
            url = r["url"] or (f"(derived from {r['derived_from']})" if r.get("derived_from") else "")
            print(f"{r['path']}\t{r['bytes']}\t{r['sha256']}\t{r['fetched']}\t{url}")
        return 0
    if args.action == "verify":
        n = len(fetch.cache_entries())
        bad = fetch.verify_cache(remove_bad=args.remove_bad)
        for path, why in bad:
            print(f"BAD\t{path}\t{why}")
        note = " (removed)" if bad and args.remove_bad else ""
        print(f"{n} files checked, {len(bad)} failed verification{note}")
        return 1 if bad else 0
    rows = [r for r in fetch.cache_entries() if not args.pattern or args.pattern in r["path"]]
    n_part = _unfinished(root) if not args.pattern else 0
    if not rows and not n_part:
        print(f"nothing to remove from {root}")
        return 0
    what = f"{len(rows)} cached files ({sum(r['bytes'] for r in rows) / 1e6:.1f} MB)"
    if n_part:
        what += f" and {n_part} unfinished download(s)"
    if not args.yes and not _confirm(f"remove {what} from {root}?"):
        print("nothing removed", file=sys.stderr)
        return 1
    n = fetch.clear_cache(args.pattern)
    print(f"removed {n} files from {root}")
    return 0

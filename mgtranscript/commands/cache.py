"""``mgtranscript cache``: list, verify or clear the download cache.

``mgtranscript cache list``                 every cached file with size, sha256, time, URL
``mgtranscript cache verify [--remove-bad]`` re-check gzip integrity, size and sha256
``mgtranscript cache clear [--pattern TEXT]`` remove cached files (and unfinished downloads)
``mgtranscript cache dir``                  print the cache directory
"""

from __future__ import annotations

import argparse

NAME = "cache"
HELP = "list, verify or clear the download cache ($MGTRANSCRIPT_CACHE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "verify", "clear", "dir"], nargs="?", default="list",
                   help="what to do (default: list)")
    p.add_argument("--pattern", help="with clear: only files whose path contains this text")
    p.add_argument("--remove-bad", action="store_true", help="with verify: delete files that fail")


def _unfinished(root) -> int:
    partial = root / ".partial"
    return sum(1 for p in partial.rglob("*.part")) if partial.is_dir() else 0


def run(args: argparse.Namespace) -> int:
    from ..fetch import cache

    root = cache.cache_dir()
    if args.action == "dir":
        print(root)
        return 0
    if args.action == "list":
        rows = cache.cache_entries()
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
        n = len(cache.cache_entries())
        bad = cache.verify_cache(remove_bad=args.remove_bad)
        for path, why in bad:
            print(f"BAD\t{path}\t{why}")
        note = " (removed)" if bad and args.remove_bad else ""
        print(f"{n} files checked, {len(bad)} failed verification{note}")
        return 1 if bad else 0
    n = cache.clear_cache(args.pattern)
    print(f"removed {n} files from {root}")
    return 0

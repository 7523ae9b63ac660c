"""``mgtranscript cache``: list, verify or clear the download cache."""

from __future__ import annotations

import argparse

NAME = "cache"
HELP = "list, verify or clear the download cache ($MGTRANSCRIPT_CACHE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "verify", "clear", "dir"], nargs="?", default="list")
    p.add_argument("--pattern", help="with clear: only files whose path contains this text")
    p.add_argument("--remove-bad", action="store_true", help="with verify: delete files that fail")


def run(args: argparse.Namespace) -> int:
    from ..fetch import cache

    if args.action == "dir":
        print(cache.cache_dir())
        return 0
    if args.action == "list":
        rows = cache.cache_entries()
        print(f"# cache: {cache.cache_dir()}  ({len(rows)} files, "
              f"{sum(r['bytes'] for r in rows) / 1e6:.1f} MB)")
        print("path\tbytes\tsha256\tfetched\turl")
        for r in rows:
            print(f"{r['path']}\t{r['bytes']}\t{r['sha256']}\t{r['fetched']}\t{r['url']}")
        return 0
    if args.action == "verify":
        bad = cache.verify_cache(remove_bad=args.remove_bad)
        n = len(cache.cache_entries())
        for path, why in bad:
            print(f"BAD\t{path}\t{why}")
        print(f"{n} files checked, {len(bad)} failed verification")
        return 1 if bad else 0
    n = cache.clear_cache(args.pattern)
    print(f"removed {n} files from {cache.cache_dir()}")
    return 0

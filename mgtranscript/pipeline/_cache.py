"""What a run keeps between runs, beside the downloads: parsed cohorts and per-cohort results.

Both live in the download cache, under ``.pipeline/`` (``parsed/`` and ``results/``), one
:mod:`._codec` file per entry (no pickle), written atomically. An entry's name is a sha256 of
everything its content depends on:

* parsed cohort (:func:`mgtranscript.datasets.load_cohort`): the accession, its catalog entry,
  the sample sheet (path and sha256), the package version and a hash of the package's own
  files (a code change invalidates), the versions of the libraries it runs on;
* cohort result (:func:`~mgtranscript.pipeline.analyse_cohort` and the cohort's status): the
  same, plus the parameters of the run (method, permutations, seed), the claims table, the
  mechanism and bundled gene sets.

The input files are part of the key too: every entry records the files its cohort was read from
(url and sha256, as the loaders record them in ``uns``, the gene-id table included), and an
entry is used only when each of those files is in the cache with the same sha256. A miss, a
damaged entry or an input that changed means the work is done again (and the entry replaced).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import _codec

logger = logging.getLogger(__name__)

__all__ = ["Cache", "package_hash", "frame_hash", "files_of"]

#: Folder of the download cache holding the run's own entries.
FOLDER = ".pipeline"
#: Entries kept per cohort and kind (older ones are removed when a new one is written).
KEEP = 4


@functools.lru_cache(maxsize=1)
def package_hash() -> str:
    """sha256 over the package's own files (code, catalog, bundled gene sets and claims)."""
    import mgtranscript

    from .._resources import resource_dir

    h = hashlib.sha256()
    roots = [Path(mgtranscript.__file__).resolve().parent]
    roots += [d for d in (resource_dir("gene_sets"), resource_dir("seeds")) if d is not None]
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith((".pyc", ".tmp")):
                h.update(p.relative_to(root).as_posix().encode() + b"\0")
                h.update(p.read_bytes())
    return h.hexdigest()


def frame_hash(df: pd.DataFrame | None) -> str:
    """sha256 of a table's content (its TSV text)."""
    if df is None:
        return ""
    return hashlib.sha256(df.to_csv(sep="\t", index=True).encode()).hexdigest()


def _sha256(path: Path) -> str:
    from ..fetch import sha256sum

    return sha256sum(path)


@functools.lru_cache(maxsize=1)
def _versions_json() -> str:
    from ._provenance import versions

    return json.dumps(versions(), sort_keys=True)


def files_of(adata) -> list[dict]:
    """The input files of a freshly loaded cohort (see :func:`_uns_files`)."""
    return _uns_files(adata.uns)


def _uns_files(uns: Any) -> list[dict]:
    """Every file a loader recorded in ``uns`` with its sha256: ``url`` / ``relpath`` / ``path``, or
    the ``source`` URL of the gene-id table (``uns["gene_ids"]``)."""
    from ._provenance import recorded_inputs

    class _Holder:  # recorded_inputs reads adata.uns
        def __init__(self, u):
            self.uns = u

    files = [{"url": f["url"], "sha256": f["sha256"], **({"relpath": f["relpath"]} if "relpath" in f else {})}
             for f in recorded_inputs(_Holder(uns))]
    seen = {(f["url"], f["sha256"]) for f in files}

    def walk(x):
        if isinstance(x, dict):
            src = x.get("source")
            if x.get("sha256") and isinstance(src, str) and src.startswith(("http://", "https://")) \
                    and (src, str(x["sha256"])) not in seen:
                seen.add((src, str(x["sha256"])))
                files.append({"url": src, "sha256": str(x["sha256"])})
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(dict(uns))
    return files


def _files_unchanged(files: list[dict]) -> bool:
    """Each recorded file is in the cache (or at its local path) with its recorded sha256."""
    from ._provenance import cache_inputs

    for rec, path in cache_inputs(files):
        if path is None and Path(str(rec.get("url", ""))).is_file():
            path = Path(rec["url"])
        if path is None or _sha256(path) != rec["sha256"]:
            return False
    return True


class Cache:
    """Parsed cohorts and cohort results of the runs (see the module docstring).

    Parameters
    ----------
    parsed, results
        Read and write parsed cohorts / cohort results (``False``: neither read nor written).
    root
        Folder of the entries (default: ``<download cache>/.pipeline``).
    """

    def __init__(self, *, parsed: bool = True, results: bool = True, root: str | Path | None = None) -> None:
        self.parsed, self.results = parsed, results
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        if self._root is None:
            from ..fetch import cache_dir

            self._root = cache_dir() / FOLDER
        return self._root

    # ------------------------------------------------------------------------ keys
    @staticmethod
    def _base(accession: str, sheet: str | None) -> dict:
        from .. import __version__
        from ..datasets import cohort_info

        entry = {k: v for k, v in cohort_info(accession).items() if k != "catalog_file"}
        return {"accession": accession, "catalog": entry, "sample_sheet": str(sheet or ""),
                "sample_sheet_sha256": _sha256(Path(sheet)) if sheet else "", "version": __version__,
                "package": package_hash(), "libraries": _versions_json()}

    @staticmethod
    def _digest(parts: dict) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def parsed_key(self, accession: str, sheet: str | None) -> str:
        return self._digest({"kind": "parsed", **self._base(accession, sheet)})

    def result_key(self, accession: str, sheet: str | None, params: dict) -> str:
        return self._digest({"kind": "result", **self._base(accession, sheet), "params": params})

    def _path(self, kind: str, accession: str, key: str) -> Path:
        return self.root / kind / f"{accession}-{key[:32]}.npz"

    # ------------------------------------------------------------------------ entries
    def _get(self, kind: str, accession: str, key: str) -> Any | None:
        path = self._path(kind, accession, key)
        if not path.is_file():
            return None
        try:
            entry = _codec.load(path)
            if entry.get("key") != key or not _files_unchanged(entry["files"]):
                logger.info("%s: %s cache entry outdated (an input changed)", accession, kind)
                return None
            return entry["value"]
        except Exception as exc:  # noqa: BLE001 - a damaged entry is a miss, and is replaced
            logger.info("%s: %s cache entry unreadable (%s); computing again", accession, kind, exc)
            return None

    def _put(self, kind: str, accession: str, key: str, value: Any, files: list[dict]) -> bool:
        if not files or not _files_unchanged(files):  # inputs we cannot check again: not cached
            return False
        path = self._path(kind, accession, key)
        try:
            _codec.dump({"key": key, "files": files, "value": value}, path)
        except _codec.Uncacheable as exc:
            logger.info("%s: not cached (%s)", accession, exc)
            return False
        except OSError as exc:
            logger.info("%s: %s cache not writable (%s)", accession, kind, exc)
            return False
        self._prune(kind, accession, keep=path)
        return True

    def _prune(self, kind: str, accession: str, keep: Path) -> None:
        others = sorted((p for p in (self.root / kind).glob(f"{accession}-*.npz") if p != keep),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for p in others[KEEP - 1:]:
            try:
                os.unlink(p)
            except OSError:
                pass

    # ------------------------------------------------------------------------ parsed cohorts
    def get_parsed(self, accession: str, sheet: str | None):
        """The cohort as parsed by an earlier run, or None."""
        if not self.parsed:
            return None
        return self._get("parsed", accession, self.parsed_key(accession, sheet))

    def put_parsed(self, accession: str, sheet: str | None, adata) -> bool:
        """Keep a freshly loaded cohort (before any analysis touched it)."""
        if not self.parsed:
            return False
        return self._put("parsed", accession, self.parsed_key(accession, sheet), adata, files_of(adata))

    # ------------------------------------------------------------------------ cohort results
    def get_result(self, accession: str, sheet: str | None, params: dict):
        """The cohort's result of an earlier run with the same inputs, parameters and code, or None."""
        if not self.results:
            return None
        from ._result import CohortResult

        d = self._get("results", accession, self.result_key(accession, sheet, params))
        return CohortResult(**d) if isinstance(d, dict) else None

    def put_result(self, accession: str, sheet: str | None, params: dict, cr, files: list[dict]) -> bool:
        """Keep an analysed cohort's result (status, tables, per-cohort data; not its timings)."""
        if not self.results:
            return False
        value = {k: getattr(cr, k) for k in ("accession", "status", "sample_counts", "input_records", "tables", "de",
                                             "de_contrast", "ranking", "features", "km", "gene_sets", "loaded")}
        return self._put("results", accession, self.result_key(accession, sheet, params), value, files)

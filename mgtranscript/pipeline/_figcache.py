"""The figures of a finished run, kept for the next run with the same result.

A run's figures are a function of its result alone: the tables it has just written
(``tables/*.tsv``: every estimate, the inputs with their sha256), the per-cohort data the
figures read beside them (scores, DE tables, GSEA rankings, Kaplan-Meier steps, gene sets),
the run's parameters, the package's own files and the libraries' versions (matplotlib
included). The sha256 of all of these names a folder under ``<cache>/.pipeline/figures/``
holding the PNG (and SVG) files the run drew. A rerun whose result hashes the same copies
them instead of drawing them again (the report still builds every caption and section from
the result); anything else draws. Written atomically (a temporary folder, then renamed);
the last :data:`KEEP` sets are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from ._cache import FOLDER, _versions_json, package_hash

logger = logging.getLogger(__name__)

__all__ = ["FigureCache"]

#: Figure sets kept (older ones are removed when a new one is written).
KEEP = 4
#: Parameters that change from run to run without changing a figure.
_VOLATILE = ("seconds", "timings")


def _hash_value(h: Any, value: Any) -> None:
    if isinstance(value, (pd.DataFrame, pd.Series)):
        h.update(repr(list(value.columns) if isinstance(value, pd.DataFrame) else [value.name]).encode())
        try:
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        except TypeError:  # cells pandas cannot hash (lists, dicts): their text
            h.update(value.to_csv(sep="\t").encode())
    else:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())


class FigureCache:
    """Figures of earlier runs, by the hash of the result they show (see the module docstring).

    Parameters
    ----------
    enabled
        Read and write figure sets (``False``: draw everything, keep nothing).
    root
        Folder of the sets (default: ``<download cache>/.pipeline/figures``).
    """

    def __init__(self, *, enabled: bool = True, root: str | Path | None = None) -> None:
        self.enabled = enabled
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        if self._root is None:
            from ..fetch import cache_dir

            self._root = cache_dir() / FOLDER / "figures"
        return self._root

    def key(self, res: Any, out: Path, *, svg: bool) -> str:
        """sha256 of everything the figures of ``res`` depend on; its tables already in ``out/tables``."""
        h = hashlib.sha256()
        h.update(package_hash().encode())
        h.update(_versions_json().encode())
        h.update(b"svg" if svg else b"png")
        params = {k: v for k, v in dict(getattr(res, "params", {}) or {}).items() if k not in _VOLATILE}
        _hash_value(h, params)
        for p in sorted((Path(out) / "tables").glob("*.tsv")):
            h.update(p.name.encode() + b"\0")
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        for name in ("features", "de", "de_contrast", "rankings", "km", "gene_sets"):
            data = getattr(res, name, None) or {}
            for k in sorted(data, key=str):
                h.update(f"{name}:{k}\0".encode())
                _hash_value(h, data[k])
        return h.hexdigest()

    def has(self, key: str) -> bool:
        """Whether an earlier run kept the figure set ``key``."""
        return self.enabled and (self.root / key[:40]).is_dir()

    def restore(self, key: str, figures_dir: Path) -> list[str] | None:
        """Copy the figure set ``key`` into ``figures_dir``; its file names, or None without one."""
        if not self.has(key):
            return None
        src = self.root / key[:40]
        try:
            names = sorted(p.name for p in src.iterdir() if p.suffix in (".png", ".svg"))
            figures_dir.mkdir(parents=True, exist_ok=True)
            for n in names:
                shutil.copyfile(src / n, figures_dir / n)
        except OSError as exc:
            logger.info("figures of an earlier run not reused (%s); drawing them", exc)
            return None
        os.utime(src)  # recently used: kept longest
        logger.info("%d figures from an earlier run with the same result", len(names))
        return names

    def store(self, key: str, figures_dir: Path) -> None:
        """Keep the figures in ``figures_dir`` as the set ``key`` (atomically; the oldest sets pruned)."""
        if not self.enabled or not figures_dir.is_dir():
            return
        dest = self.root / key[:40]
        tmp = self.root / f".{key[:40]}.tmp-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for p in figures_dir.iterdir():
                if p.is_file() and p.suffix in (".png", ".svg"):
                    shutil.copyfile(p, tmp / p.name)
            if dest.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.rename(tmp, dest)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            logger.info("figures not kept for the next run (%s)", exc)
            return
        sets = sorted((d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                      key=lambda d: d.stat().st_mtime, reverse=True)
        for old in sets[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)

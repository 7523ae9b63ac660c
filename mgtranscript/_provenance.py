"""Provenance of a run: every input hashed (cache/mirror files, sample sheets, bundled gene sets
and claims), software versions and parameters, written to ``provenance.json``."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import AnalysisResult

__all__ = ["file_input", "bundled_inputs", "inputs_of", "versions", "write_provenance"]


def file_input(path: Path, *, source: str, cohort: str = "", url: str = "") -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"url": url or str(path.resolve()), "sha256": h.hexdigest(), "bytes": path.stat().st_size,
            "source": source, "path": str(path), "cohort": cohort}


def bundled_inputs() -> list[dict]:
    from ._resources import resource_dir
    from .genesets import gene_sets_dir

    files = [(p, "bundled gene sets") for p in sorted(gene_sets_dir().glob("*")) if p.suffix in (".gmt", ".tsv")]
    seeds = resource_dir("seeds")
    if seeds is not None:
        files.append((seeds / "claims.tsv", "bundled claims table"))
    return [file_input(p, source=s) for p, s in files if p.is_file()]


def inputs_of(adata) -> list[dict]:
    """Input files recorded by the loaders in ``uns`` (public URL + sha256), with their size."""
    from .fetch import cache_dir
    from .fetch.urls import mirror_relpath

    found = []

    def walk(x):
        if isinstance(x, dict):
            if "sha256" in x and ("url" in x or "path" in x):
                found.append({"url": str(x.get("url", x.get("path"))), "sha256": str(x["sha256"])})
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(dict(adata.uns))
    seen, out = set(), []
    for f in found:
        if f["url"] in seen:
            continue
        seen.add(f["url"])
        try:
            p = cache_dir() / mirror_relpath(f["url"])
            f["bytes"] = p.stat().st_size if p.is_file() else None
            f["path"] = str(p)
        except Exception:  # noqa: BLE001 - a URL the cache does not hold (e.g. an API query)
            f["bytes"], f["path"] = None, ""
        f["source"] = "mirror" if os.environ.get("MGTRANSCRIPT_MIRROR") else "download (cache)"
        out.append(f)
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mgtranscript", "numpy", "scipy", "pandas", "anndata", "scanpy", "gseapy", "statsmodels",
                "lifelines", "matplotlib", "requests"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def write_provenance(res: AnalysisResult, out: Path) -> None:
    from .fetch import cache_entries

    used = {f["url"] for f in res.inputs}
    extra = [{"url": e["url"], "sha256": e["sha256"], "bytes": e.get("bytes"), "source": "download (cache)",
              "path": e.get("path", "")} for e in cache_entries() if e.get("url") and e["url"] not in used
             and "gsea-msigdb" in e["url"]]  # gene-set collections are read through the cache
    res.inputs += extra
    prov = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cohorts": res.cohorts.to_dict("records"),
        "inputs": res.inputs,
        "versions": versions(),
        "params": res.params,
        "mirror": os.environ.get("MGTRANSCRIPT_MIRROR", ""),
    }
    (out / "provenance.json").write_text(json.dumps(prov, indent=1, default=str))

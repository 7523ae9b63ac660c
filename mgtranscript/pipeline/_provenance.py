"""Provenance of a run: every input hashed (cache/mirror files, sample sheets, bundled gene sets
and claims), software versions and parameters, written to ``provenance.json``."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .._settings import settings

__all__ = ["file_input", "bundled_inputs", "inputs_of", "recorded_inputs", "resolve_inputs", "versions",
           "write_provenance", "cache_inputs"]


def file_input(path: Path, *, source: str, cohort: str = "", url: str = "") -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"url": url or str(path.resolve()), "sha256": h.hexdigest(), "bytes": path.stat().st_size,
            "source": source, "path": str(path), "cohort": cohort}


def bundled_inputs() -> list[dict]:
    from .._resources import resource_dir
    from ..genesets import gene_sets_dir

    files = [(p, "bundled gene sets") for p in sorted(gene_sets_dir().glob("*")) if p.suffix in (".gmt", ".tsv")]
    seeds = resource_dir("seeds")
    if seeds is not None:
        files.append((seeds / "claims.tsv", "bundled claims table"))
    return [file_input(p, source=s) for p, s in files if p.is_file()]


#: Keys of a recorded input kept besides url and sha256 (the GDC's query and data release).
_EXTRA_KEYS = ("query", "data_release", "tag", "md5sum", "file_id")


def inputs_of(adata) -> list[dict]:
    """Input files recorded by the loaders in ``uns`` (public URL + sha256), with their size.

    Found in any dict of ``uns`` holding ``sha256`` and ``url`` (or ``path``) and in any
    DataFrame of ``uns`` with ``url`` and ``sha256`` columns (e.g. the GDC file manifest).
    ``relpath`` (the cache path, for API answers whose URL names no file), ``query`` (the
    API query answered), ``data_release`` and ``tag`` (the GDC release and API version)
    are kept. (:func:`recorded_inputs` then :func:`resolve_inputs`.)
    """
    return resolve_inputs(recorded_inputs(adata))


def recorded_inputs(adata) -> list[dict]:
    """What the loaders recorded in ``uns`` about their input files (``url``, ``sha256``,
    ``relpath`` and the keys of :data:`_EXTRA_KEYS`), once per file; nothing about where
    they are on this machine (see :func:`resolve_inputs`)."""
    found = []

    def take(x):
        if x.get("relpath") and not x.get("sha256"):  # an API answer that was not read (e.g. no /status)
            return
        f = {"url": str(x.get("url", x.get("path"))), "sha256": str(x["sha256"])}
        if x.get("relpath"):
            f["relpath"] = str(x["relpath"])
        f.update({k: str(x[k]) for k in _EXTRA_KEYS if k in x and str(x[k]) not in ("", "nan", "None")})
        found.append(f)

    def walk(x):
        if isinstance(x, dict):
            if "sha256" in x and ("url" in x or "path" in x):
                take(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, pd.DataFrame) and {"url", "sha256"} <= set(x.columns):
            for rec in x.to_dict("records"):
                if rec["sha256"]:  # a file listed but not read (e.g. metadata only) is no input
                    take(rec)

    walk(dict(adata.uns))
    seen, out = set(), []
    for f in found:
        key = (f["url"], f["sha256"])
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def cache_inputs(records: list[dict]) -> list[tuple[dict, Path | None]]:
    """Each recorded input with the cache file holding it (None when the cache has none)."""
    from ..fetch import cache_dir, mirror_relpath

    out = []
    for f in records:
        try:
            p = cache_dir() / (f.get("relpath") or mirror_relpath(f["url"]))
            out.append((f, p if p.is_file() else None))
        except Exception:  # noqa: BLE001 - a URL the cache does not hold (e.g. an API query)
            out.append((f, None))
    return out


def resolve_inputs(records: list[dict]) -> list[dict]:
    """Recorded inputs (:func:`recorded_inputs`) with their size, cache path and source on
    this machine (``mirror``, ``download (cache)`` or ``GDC API (cache)``)."""
    out = []
    for rec, p in cache_inputs(records):
        f = dict(rec)
        f.pop("relpath", None)
        f["bytes"] = p.stat().st_size if p is not None else None
        f["path"] = str(p) if p is not None else ""
        if f["url"].startswith("https://api.gdc.cancer.gov/"):
            f["source"] = "GDC API (cache)"  # never a file mirror
        else:
            f["source"] = "mirror" if settings.mirror else "download (cache)"
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


def read_through_cache(inputs: list[dict]) -> list[dict]:
    """Inputs read through the cache that no loader records (the MSigDB gene-set collections),
    as rows of the provenance."""
    from ..fetch import cache_entries

    used = {f["url"] for f in inputs}
    return [{"url": e["url"], "sha256": e["sha256"], "bytes": e.get("bytes"), "source": "download (cache)",
             "path": e.get("path", "")} for e in cache_entries() if e.get("url") and e["url"] not in used
            and "gsea-msigdb" in e["url"]]


def write_provenance(res: Any, out: Path) -> None:
    """``out/provenance.json``: date, cohorts, inputs, data releases, versions, parameters."""
    prov = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cohorts": res.cohorts.to_dict("records"),
        "inputs": res.inputs,
        "data_releases": {str(f.get("cohort", "")): f["data_release"] for f in res.inputs if f.get("data_release")},
        "versions": versions(),
        "params": res.params,
        "mirror": settings.mirror or "",
        **({"run": res.run} if getattr(res, "run", None) else {}),
    }
    (out / "provenance.json").write_text(json.dumps(prov, indent=1, default=str))

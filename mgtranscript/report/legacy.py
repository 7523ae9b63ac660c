"""Legacy keyword API of the report (``build_report(cohorts=..., claims=...)``).

Kept only so that the pipeline's current ``_write_report`` keeps working until it calls
:func:`mgtranscript.report.write_report` (which renders an ``AnalysisResult`` answers
first). New code: use :func:`mgtranscript.report.write_report`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.report.page import Report, Section

__all__ = ["build_report", "sha256sum", "package_versions", "LEGACY_SECTION_IDS", "PACKAGES"]

#: Section ids of :func:`build_report`, in order.
LEGACY_SECTION_IDS: tuple[str, ...] = (
    "cohorts", "samples", "coverage", "comparisons", "enrichment", "meta-analysis", "claims", "provenance",
)
SECTION_IDS = LEGACY_SECTION_IDS

PACKAGES: tuple[str, ...] = ("mgtranscript", "scanpy", "anndata", "gseapy", "numpy", "pandas", "scipy")


def sha256sum(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` when absent)."""
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


# --------------------------------------------------------------------------------------
# standard report
# --------------------------------------------------------------------------------------

_TITLES = {
    "cohorts": "Cohorts",
    "samples": "Samples per group",
    "coverage": "Gene-set coverage",
    "comparisons": "Group comparisons",
    "enrichment": "Enrichment",
    "meta-analysis": "Meta-analysis",
    "claims": "Claims from the literature, tested",
    "provenance": "Provenance",
}

_INTROS = {
    "cohorts": "Public cohorts analysed, by accession.",
    "samples": "Samples per cohort and group after filtering.",
    "coverage": "How many genes of each set were measured (after alias resolution); small sets are kept.",
    "comparisons": "Score differences between groups within each cohort.",
    "enrichment": "GSEA prerank / over-representation of Mg sets and mechanism coupling.",
    "meta-analysis": "Random-effects pooling of per-cohort effects, by disease group.",
    "claims": "Each testable claim with the evidence found in these data.",
    "provenance": "What was run, on which files, with which software.",
}


def _fill(sec: Section, obj: Any, *, max_rows: int = 50) -> None:
    """Put a DataFrame / mapping of DataFrames / text / list into a section."""
    if obj is None:
        sec.text("Not run.")
    elif isinstance(obj, str):
        sec.text(obj)
    elif isinstance(obj, (pd.DataFrame, pd.Series)):
        if len(obj) == 0:
            sec.text("No rows.")
        else:
            sec.table(obj, max_rows=max_rows)
    elif isinstance(obj, Mapping):
        if not obj:
            sec.text("Not run.")
        scalars = {}
        for name, value in obj.items():
            if isinstance(value, (pd.DataFrame, pd.Series)):
                sec.text(f"# {name}")
                if len(value) == 0:
                    sec.text("No rows.")
                else:
                    sec.table(value, max_rows=max_rows)
            elif isinstance(value, str) and "\n" in value:
                sec.text(f"# {name}")
                sec.text(value)
            else:
                scalars[str(name)] = value
        if scalars:
            sec.table(scalars, max_rows=max_rows)
    elif isinstance(obj, Sequence):
        sec.table(pd.DataFrame(list(obj)), max_rows=max_rows)
    else:
        raise InputDataError(f"cannot put a {type(obj).__name__} in section {sec.id!r}; pass a DataFrame or text.")


def _figures_for(figures: Any, sid: str) -> list[tuple[Any, str]]:
    if not figures:
        return []
    items = figures.get(sid, []) if isinstance(figures, Mapping) else []
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[1], str):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, tuple) and len(it) == 2:
            out.append((it[0], str(it[1])))
        else:
            out.append((it, ""))
    return out


def _provenance_tables(provenance: Any, params: Any) -> list[tuple[str, pd.DataFrame | str]]:
    prov = dict(provenance or {}) if isinstance(provenance, Mapping) else {}
    blocks: list[tuple[str, pd.DataFrame | str]] = []
    acc = prov.get("accessions")
    if acc:
        blocks.append(("Accessions", pd.DataFrame({"accession": [str(a) for a in acc]})))
    files = prov.get("files")
    if files:
        rows = []
        if isinstance(files, Mapping):  # path -> sha256 (or None to compute)
            items = list(files.items())
        else:
            items = [(f, None) for f in files]
        for f, digest in items:
            p = Path(f)
            if digest is None:
                digest = sha256sum(p) if p.is_file() else "missing"
            size = p.stat().st_size if p.is_file() else None
            rows.append({"file": str(f), "sha256": digest, "bytes": size})
        blocks.append(("Input files (sha256)", pd.DataFrame(rows)))
    versions = package_versions()
    versions.update({str(k): str(v) for k, v in dict(prov.get("versions") or {}).items()})
    blocks.append(("Software", pd.DataFrame({"package": list(versions), "version": list(versions.values())})))
    flat = {}
    for k, v in dict(params or {}).items():
        flat[str(k)] = v if isinstance(v, (str, int, float, bool)) or v is None else repr(v)
    if flat:
        blocks.append(("Parameters", pd.DataFrame({"parameter": list(flat), "value": [str(v) for v in flat.values()]})))
    extra = {k: v for k, v in prov.items() if k not in {"accessions", "files", "versions", "date"}}
    if extra:
        blocks.append(("Other", pd.DataFrame({"key": list(extra), "value": [str(v) for v in extra.values()]})))
    date = prov.get("date") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    blocks.append(("Date", f"Report generated {date}."))
    return blocks


def build_report(
    *,
    cohorts: Any = None,
    sample_counts: Any = None,
    coverage: Any = None,
    comparisons: Any = None,
    enrichment: Any = None,
    meta: Any = None,
    claims: Any = None,
    provenance: Mapping | None = None,
    figures: Mapping[str, Sequence] | None = None,
    params: Mapping | None = None,
    title: str = "Magnesium homeostasis in liver disease: transcriptomic evidence",
    subtitle: str | None = None,
    max_rows: int = 50,
) -> Report:
    """The standard report of an analysis run, sections in :data:`SECTION_IDS` order.

    Parameters
    ----------
    cohorts, sample_counts, coverage, comparisons, enrichment, meta, claims
        Content of the sections ``cohorts``, ``samples``, ``coverage``, ``comparisons``,
        ``enrichment``, ``meta-analysis`` and ``claims``: a DataFrame, a mapping
        ``{subheading: DataFrame}``, Markdown text, or ``None`` ("Not run.").
    provenance
        Mapping with ``accessions`` (list), ``files`` (list of paths -- sha256 computed
        here -- or mapping path -> sha256), optional ``versions`` (extra package versions),
        ``date`` and any other key (shown as is). Versions of mgtranscript, scanpy,
        anndata, gseapy, numpy, pandas and scipy are always recorded.
    figures
        Mapping section id -> list of ``(Figure or image path, caption)``.
    params
        Run parameters, shown in the provenance section.
    title, subtitle
        Page title.
    max_rows
        Rows shown per table.

    Returns
    -------
    Report
        Call ``.write(path)``.
    """
    if figures:
        unknown = [k for k in figures if k not in SECTION_IDS]
        if unknown:
            raise InputDataError(f"figures for unknown sections {unknown}; valid ids: {list(SECTION_IDS)}.")
    rep = Report(title, subtitle=subtitle)
    content = {
        "cohorts": cohorts, "samples": sample_counts, "coverage": coverage, "comparisons": comparisons,
        "enrichment": enrichment, "meta-analysis": meta, "claims": claims,
    }
    for sid in SECTION_IDS:
        sec = rep.section(sid, _TITLES[sid], intro=_INTROS[sid])
        if sid == "provenance":
            for heading, block in _provenance_tables(provenance, params):
                sec.text(f"# {heading}")
                if isinstance(block, str):
                    sec.text(block)
                else:
                    sec.table(block, max_rows=None, collapsed=False)
        else:
            _fill(sec, content[sid], max_rows=max_rows)
        for fig, caption in _figures_for(figures, sid):
            sec.figure(fig, caption=caption or sid)
    return rep

"""Self-contained HTML report (one file: inline CSS, figures embedded as data URIs, no JS).

Build one by hand::

    rep = Report("Mg homeostasis in MASLD", subtitle="GSE126848")
    sec = rep.section("comparisons", "Comparisons", intro="NASH vs healthy.")
    sec.text("Scores by **ssGSEA**; q-values by Benjamini-Hochberg.")
    sec.table(stats_df, max_rows=30)
    sec.figure(fig, caption="MG_LIVER_CORE by group")
    rep.write("report.html")

or with the standard sections of a run, :func:`build_report`.

Every piece of text is HTML-escaped. :meth:`Section.text` understands a small Markdown
subset (paragraphs, ``-``/``*`` bullet lists, ``# headings``, ``**bold**``, ``*italic*``,
```code```, ``[label](https://...)`` links); raw, trusted HTML goes through
:meth:`Section.html`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["Report", "Section", "build_report", "sha256sum", "package_versions", "SECTION_IDS"]

#: Section ids of :func:`build_report`, in order.
SECTION_IDS: tuple[str, ...] = (
    "cohorts", "samples", "coverage", "comparisons", "enrichment", "meta-analysis", "claims", "provenance",
)

PACKAGES: tuple[str, ...] = ("mgtranscript", "scanpy", "anndata", "gseapy", "numpy", "pandas", "scipy")

_BULLET = re.compile(r"^\s*[-*]\s+")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")

_CSS = """
:root { --fg:#1c2833; --muted:#5d6d7e; --line:#d5d8dc; --accent:#1f618d; --bg:#ffffff; --zebra:#f6f8f9; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:24px 40px 12px; border-bottom:3px solid var(--accent); }
header h1 { margin:0 0 4px; font-size:26px; }
header p.subtitle { margin:0; color:var(--muted); }
nav { padding:8px 40px; border-bottom:1px solid var(--line); font-size:13px; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; }
main { padding:0 40px 40px; max-width:1200px; }
section { margin-top:28px; }
section h2 { font-size:20px; border-bottom:1px solid var(--line); padding-bottom:4px; }
p.intro { color:var(--muted); }
table { border-collapse:collapse; font-size:12.5px; margin:8px 0 4px; }
th, td { border:1px solid var(--line); padding:3px 7px; text-align:left; vertical-align:top; }
th { background:#eaf2f8; }
tr:nth-child(even) td { background:var(--zebra); }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.tablewrap { overflow-x:auto; }
p.note { font-size:12px; color:var(--muted); margin:0 0 10px; }
figure { margin:14px 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); }
figcaption { font-size:13px; color:var(--muted); }
code { background:#f2f3f4; padding:0 3px; border-radius:3px; }
footer { padding:12px 40px; font-size:12px; color:var(--muted); border-top:1px solid var(--line); }
"""


# --------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------


def _inline_md(text: str) -> str:
    """Escape, then apply inline Markdown (code, bold, italic, http(s) links)."""
    out = html.escape(text, quote=True)
    codes: list[str] = []

    def _keep(m: re.Match) -> str:
        codes.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = re.sub(r"`([^`]+)`", _keep, out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], out)


def markdown_to_html(text: str) -> str:
    """A small, safe Markdown subset to HTML (all input escaped first)."""
    blocks = re.split(r"\n\s*\n", str(text).strip())
    parts = []
    for block in blocks:
        lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if all(_BULLET.match(ln) for ln in lines):
            items = "".join("<li>" + _inline_md(_BULLET.sub("", ln)) + "</li>" for ln in lines)
            parts.append(f"<ul>{items}</ul>")
            continue
        m = re.match(r"^(#{1,4})\s+(.*)$", lines[0])
        if m and len(lines) == 1:
            level = min(len(m.group(1)) + 2, 6)  # "#" inside a section is an h3, "##" an h4
            parts.append(f"<h{level}>{_inline_md(m.group(2))}</h{level}>")
            continue
        parts.append("<p>" + "<br>".join(_inline_md(ln) for ln in lines) + "</p>")
    return "\n".join(parts)


def _fmt_cell(v: Any, floatfmt: str) -> tuple[str, bool]:
    """(escaped text, is_number)."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "", False
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), False
    if isinstance(v, (int, np.integer)):
        return f"{int(v):d}", True
    if isinstance(v, (float, np.floating)):
        return html.escape(floatfmt.format(float(v))), True
    return html.escape(str(v)), False


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
# builder
# --------------------------------------------------------------------------------------


@dataclass
class Section:
    """One ``<section id=...>`` of a :class:`Report`; methods return ``self`` for chaining."""

    id: str
    title: str
    intro: str | None = None
    _parts: list[str] = field(default_factory=list, repr=False)
    _n_figures: int = field(default=0, repr=False)

    def text(self, md: str) -> Section:
        """Add text (small Markdown subset, everything escaped)."""
        self._parts.append(markdown_to_html(md))
        return self

    def html(self, raw: str) -> Section:
        """Add raw HTML verbatim. Only for trusted, self-contained markup (no external links)."""
        self._parts.append(str(raw))
        return self

    def table(
        self,
        df: pd.DataFrame | pd.Series | Mapping,
        *,
        max_rows: int = 50,
        floatfmt: str = "{:.3g}",
        index: bool | None = None,
        caption: str | None = None,
    ) -> Section:
        """Add a table (first ``max_rows`` rows; a note says how many were left out).

        ``floatfmt`` is a :meth:`str.format` pattern for floats. ``index`` defaults to
        showing the index unless it is a plain ``RangeIndex``.
        """
        if isinstance(df, Mapping) and not isinstance(df, pd.DataFrame):
            df = pd.DataFrame({"key": list(df.keys()), "value": [str(v) for v in df.values()]})
            index = False if index is None else index
        if isinstance(df, pd.Series):
            df = df.to_frame()
        if not isinstance(df, pd.DataFrame):
            raise InputDataError(f"table() needs a DataFrame, Series or mapping, got {type(df).__name__}.")
        if index is None:
            index = not isinstance(df.index, pd.RangeIndex)
        shown = df.iloc[:max_rows] if max_rows is not None else df
        cols = [str(c) for c in shown.columns]
        head = ([html.escape(str(shown.index.name or ""))] if index else []) + [html.escape(c) for c in cols]
        rows = []
        for idx, row in zip(shown.index, shown.itertuples(index=False, name=None)):
            cells = []
            if index:
                cells.append(f"<th>{html.escape(str(idx))}</th>")
            for v in row:
                txt, num = _fmt_cell(v, floatfmt)
                cells.append(f'<td class="num">{txt}</td>' if num else f"<td>{txt}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        out = (
            f'<div class="tablewrap"><table>{cap}<thead><tr>'
            + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
        )
        if len(df) > len(shown):
            out += f'<p class="note">Showing {len(shown)} of {len(df)} rows.</p>'
        self._parts.append(out)
        return self

    def figure(self, fig_or_path: Any, *, caption: str, dpi: int = 110, fmt: str = "png") -> Section:
        """Embed a matplotlib Figure or an image file (PNG/JPEG/SVG) as a data URI.

        Figures are rendered as PNG (``fmt="png"``) or SVG (``fmt="svg"``). Everything
        is embedded: the HTML file stays self-contained.
        """
        if hasattr(fig_or_path, "savefig"):
            if fmt not in {"png", "svg"}:
                raise InputDataError(f"fmt must be 'png' or 'svg', got {fmt!r}.")
            buf = io.BytesIO()
            fig_or_path.savefig(buf, format=fmt, dpi=dpi)
            data, mime = buf.getvalue(), "image/png" if fmt == "png" else "image/svg+xml"
        else:
            path = Path(fig_or_path)
            if not path.is_file():
                raise InputDataError(f"figure file {path} does not exist; pass a Figure or an existing image.")
            mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                    ".svg": "image/svg+xml"}.get(path.suffix.lower())
            if mime is None:
                raise InputDataError(f"cannot embed {path.name}: use a .png, .jpg or .svg image.")
            data = path.read_bytes()
        self._n_figures += 1
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        alt = html.escape(caption, quote=True)
        self._parts.append(
            f'<figure id="{html.escape(self.id)}-fig{self._n_figures}"><img src="{uri}" alt="{alt}">'
            f"<figcaption>{_inline_md(caption)}</figcaption></figure>"
        )
        return self

    def render(self) -> str:
        intro = f'<p class="intro">{_inline_md(self.intro)}</p>' if self.intro else ""
        body = "\n".join(self._parts)
        return (
            f'<section id="{html.escape(self.id, quote=True)}">\n<h2>{html.escape(self.title)}</h2>\n'
            f"{intro}\n{body}\n</section>"
        )


class Report:
    """A self-contained HTML report built section by section.

    Parameters
    ----------
    title
        Page title and top heading.
    subtitle
        Optional line under the title.
    """

    def __init__(self, title: str, *, subtitle: str | None = None) -> None:
        self.title = str(title)
        self.subtitle = subtitle
        self.sections: list[Section] = []

    def section(self, id: str, title: str, *, intro: str | None = None) -> Section:  # noqa: A002
        """Add (and return) a section; ``id`` becomes the HTML anchor and must be unique."""
        if not _ID_RE.match(str(id)):
            raise InputDataError(f"section id {id!r} must start with a letter and use letters, digits, -_.: only.")
        if any(s.id == id for s in self.sections):
            raise InputDataError(f"section id {id!r} already exists in this report.")
        sec = Section(str(id), str(title), intro)
        self.sections.append(sec)
        return sec

    def __getitem__(self, id: str) -> Section:  # noqa: A002
        for s in self.sections:
            if s.id == id:
                return s
        raise KeyError(id)

    def to_html(self) -> str:
        """The whole document as a string."""
        nav = "".join(f'<a href="#{html.escape(s.id, quote=True)}">{html.escape(s.title)}</a>' for s in self.sections)
        sub = f'<p class="subtitle">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        try:
            version = metadata.version("mgtranscript")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = "unknown"
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{html.escape(self.title)}</h1>{sub}</header>\n<nav>{nav}</nav>\n<main>\n"
            + "\n".join(s.render() for s in self.sections)
            + f"\n</main>\n<footer>Generated by mgtranscript {html.escape(version)} on {now}.</footer>\n"
            "</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the HTML file (parents created) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        logger.info("report written to %s", path)
        return path


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
                    sec.table(block, max_rows=None, index=False)
        else:
            _fill(sec, content[sid], max_rows=max_rows)
        for fig, caption in _figures_for(figures, sid):
            sec.figure(fig, caption=caption or sid)
    return rep

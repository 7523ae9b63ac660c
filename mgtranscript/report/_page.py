"""Page primitives: :class:`Report` and :class:`Section` (the CSS and inline JS are in ``report/_assets.py``).

The page is ONE self-contained HTML file: CSS and JS inline, images as data URIs, no
external request. Links to ``tables/*.tsv`` and ``figures/*.png`` point at files written
beside the report.

Tables are curated views (:class:`mgtranscript.report._format.Col`) or plain DataFrames;
long ones are collapsed in a ``<details>`` that says how many rows there are and links
the full TSV; truncation is per group (e.g. per cohort) and always said; every table
sorts by clicking a header. No column grows wider than the window: cells wrap anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import logging
import math
import os
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError
from mgtranscript.report._assets import CSS, JS
from mgtranscript.report._format import (
    DASH,
    Cell,
    Col,
    abbreviate,
    blank,
    fmt_int,
    fmt_num,
    fmt_p,
    is_missing,
)

logger = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*[-*]\s+")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")

#: Figures are drawn at 150 dpi and shown at 100 CSS px per inch: crisp on high-density
#: screens, text at its point size at 100% zoom.
DISPLAY_SCALE = 100 / 150


# --------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------


def esc(text: Any) -> str:
    """HTML-escape anything (None -> "")."""
    return "" if text is None else html.escape(str(text), quote=True)


def inline_md(text: str) -> str:
    """Escape, then apply inline Markdown (code, bold, italic, http(s) links)."""
    out = html.escape(str(text), quote=True)
    codes: list[str] = []

    def _keep(m: re.Match) -> str:
        codes.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = re.sub(r"`([^`]+)`", _keep, out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+|#[A-Za-z][\w.:-]*|tables/[\w.-]+|figures/[\w.-]+)\)",
                 r'<a href="\2">\1</a>', out)
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
            items = "".join("<li>" + inline_md(_BULLET.sub("", ln)) + "</li>" for ln in lines)
            parts.append(f"<ul>{items}</ul>")
            continue
        m = re.match(r"^(#{1,4})\s+(.*)$", lines[0])
        if m and len(lines) == 1:
            level = min(len(m.group(1)) + 2, 6)  # "#" inside a section is an h3, "##" an h4
            parts.append(f"<h{level}>{inline_md(m.group(2))}</h{level}>")
            continue
        parts.append("<p>" + "<br>".join(inline_md(ln) for ln in lines) + "</p>")
    return "\n".join(parts)


def slug(text: Any) -> str:
    """An HTML id from any text (letters, digits, -_. kept)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")
    return s if s and s[0].isalpha() else f"x-{s}"


def badge(verdict: Any) -> str:
    """A colour badge WITH the verdict's text."""
    v = "" if is_missing(verdict) else str(verdict)
    return f'<span class="badge v-{slug(v.lower() or "none")}">{esc(v or "no verdict")}</span>'


_CERT_DOTS = {"high": 4, "moderate": 3, "low": 2, "very low": 1}


def certainty_html(c: Any) -> str:
    """``●●○○ low`` with the words always present."""
    c = "" if is_missing(c) else str(c).strip().lower()
    if c not in _CERT_DOTS:
        return '<div class="cert">certainty: —</div>'
    k = _CERT_DOTS[c]
    return f'<div class="cert" title="GRADE-style certainty">certainty <b>{"●" * k}{"○" * (4 - k)}</b> {esc(c)}</div>'


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


_P_COLS = re.compile(r"^(p|q|pval|qval|padj|fdr|fwer|.*_pval|.*_qval|.*_p|p_value|q_value)$", re.I)


def _auto_col(name: str, series: pd.Series) -> Col:
    """A column view for a plain DataFrame column (p-values for people, numbers rounded, text abbreviated)."""
    header = str(name)
    if _P_COLS.match(header):
        def get(row, c=name):
            v = row.get(c)
            f = float(v) if not is_missing(v) and isinstance(v, (int, float, np.number)) else math.nan
            return Cell(fmt_p(f), None if math.isnan(f) else f, "" if math.isnan(f) else f"{f:.3g}")
        return Col(header, get, num=True)
    if pd.api.types.is_bool_dtype(series):
        return Col(header, lambda row, c=name: Cell("yes" if bool(row.get(c)) else "no"))
    if pd.api.types.is_integer_dtype(series):
        return Col(header, lambda row, c=name: Cell(fmt_int(row.get(c)), row.get(c)), num=True)
    if pd.api.types.is_float_dtype(series):
        def getf(row, c=name):
            v = row.get(c)
            if is_missing(v):
                return Cell(DASH, None)
            f = float(v)
            if math.isinf(f):
                return Cell("∞" if f > 0 else "−∞", f)
            if f == int(f) and abs(f) < 1e9:
                return Cell(fmt_int(f), f)
            return Cell(fmt_num(f, 3) if abs(f) < 1000 else fmt_int(f), f)
        return Col(header, getf, num=True)

    def gets(row, c=name):
        v = row.get(c)
        if is_missing(v):
            return Cell("", "")
        shown, full = abbreviate(v, 80)
        return Cell(shown, str(v).lower(), full if full != shown else "", "abbr" if full != shown else "")
    return Col(header, gets)


def _cell(col: Col, row: pd.Series) -> Cell:
    c = col.get(row)
    return c if isinstance(c, Cell) else Cell(str(c) if c is not None else "", None)


def _cell_html(col: Col, c: Cell) -> str:
    cls = " ".join(x for x in ("num" if col.num else "", c.cls) if x)
    attrs = f' class="{cls}"' if cls else ""
    if c.sort is not None and not (isinstance(c.sort, float) and math.isnan(c.sort)):
        sv = c.sort
        if isinstance(sv, (bool, np.bool_)):
            sv = int(sv)
        if isinstance(sv, (float, np.floating)) and math.isinf(sv):
            sv = "1e308" if sv > 0 else "-1e308"
        attrs += f' data-v="{esc(sv)}"'
    else:
        attrs += ' data-v=""'
    if c.title:
        attrs += f' title="{esc(c.title)}"'
    if not c.html and any(len(tok) > 28 for tok in str(c.text).split()):
        attrs = attrs.replace('class="', 'class="brk ', 1) if 'class="' in attrs else attrs + ' class="brk"'
    body = c.html if c.html else esc(c.text)
    if c.href and not c.html:
        body = f'<a href="{esc(c.href)}">{body}</a>'
    return f"<td{attrs}>{body}</td>"


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ses"):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def table_html(df: pd.DataFrame, columns: Sequence[Col] | None = None, *, css: str = "data sortable",
               full_width: bool = False) -> str:
    """A ``<table>`` of ``df`` through ``columns`` (auto-formatted columns when None). No index column."""
    if columns is None:
        columns = [replace(_auto_col(c, df[c]), optional=True) for c in df.columns]
    cls = css + (" full" if full_width else "")
    colgroup = ""
    cells = [[_cell(c, row) for c in columns] for _, row in df.iterrows()]
    keep = [j for j, c in enumerate(columns)
            if not (c.optional and all(blank(r[j].text) and not r[j].html for r in cells))]
    columns = [columns[j] for j in keep]
    if any(c.width for c in columns):
        colgroup = "<colgroup>" + "".join(
            f'<col style="width:{esc(c.width)}">' if c.width else "<col>" for c in columns) + "</colgroup>"
    head = "".join(f'<th title="{esc(c.tip)}">{esc(c.header)}</th>' if c.tip else f"<th>{esc(c.header)}</th>"
                   for c in columns)
    rows = ["<tr>" + "".join(_cell_html(columns[i], r[j]) for i, j in enumerate(keep)) + "</tr>" for r in cells]
    return (f'<div class="tablewrap"><table class="{cls}">{colgroup}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def image_uri(fig_or_path: Any, *, dpi: int = 150) -> tuple[str, int | None, Path | None]:
    """(data URI, display width in CSS px or None, file path or None) of a Figure or image file."""
    path = None
    if hasattr(fig_or_path, "savefig"):
        buf = io.BytesIO()
        fig_or_path.savefig(buf, format="png", dpi=dpi)
        data, mime = buf.getvalue(), "image/png"
    else:
        path = Path(fig_or_path)
        if not path.is_file():
            raise InputDataError(f"figure file {path} does not exist; pass a Figure or an existing image.")
        mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".svg": "image/svg+xml"}.get(path.suffix.lower())
        if mime is None:
            raise InputDataError(f"cannot embed {path.name}: use a .png, .jpg or .svg image.")
        data = path.read_bytes()
    size = _png_size(data) if mime == "image/png" else None
    width = int(round(size[0] * DISPLAY_SCALE)) if size else None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", width, path


# --------------------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------------------


@dataclass
class Section:
    """One ``<section id=...>`` of a :class:`Report`; methods return ``self`` for chaining."""

    id: str
    title: str
    intro: str | None = None
    nav: bool | str = True
    _parts: list[str] = field(default_factory=list, repr=False)
    _n_figures: int = field(default=0, repr=False)
    _fig_row: list[str] | None = field(default=None, repr=False)

    def text(self, md: str) -> Section:
        """Add text (small Markdown subset, everything escaped)."""
        self._flush()
        self._parts.append(markdown_to_html(md))
        return self

    def html(self, raw: str) -> Section:
        """Add raw HTML verbatim. Only for trusted, self-contained markup (no external resources)."""
        self._flush()
        self._parts.append(str(raw))
        return self

    def table(
        self,
        df: pd.DataFrame | pd.Series | Mapping,
        *,
        columns: Sequence[Col] | None = None,
        title: str | None = None,
        tsv: str | Mapping[str, str] | None = None,
        per: str | None = None,
        max_rows: int | None = 50,
        collapsed: bool | None = None,
        what: str = "rows",
        note: str | None = None,
        index: bool = False,
        full_width: bool = False,
        floatfmt: str | None = None,
        group_id: Callable[[str], str] | None = None,
    ) -> Section:
        """Add a table.

        Parameters
        ----------
        df
            A DataFrame (or Series / mapping, shown as key-value rows).
        columns
            Curated column views; default: every column, formatted by its type.
        title
            Heading of the table (with its row count and the TSV link).
        tsv
            Path of the full table relative to the report (``"tables/coupling.tsv"``), or a
            mapping group -> path when each group has its own file.
        per
            Group column (e.g. ``"cohort"``): one sub-table per group, truncation per group
            ("showing 30 of 412 rows for GSE126848"); the column itself is not repeated.
        max_rows
            Rows shown per table (per group with ``per``); None shows all.
        collapsed
            Put the table in a closed ``<details>`` (default: when more than 12 rows).
        what
            Word for the rows in notes ("rows", "genes", "tests").
        note
            A line shown above the table.
        index
            Show the DataFrame's index as a first column (default: never).
        full_width
            Stretch the table to the page width (fixed layout).
        floatfmt
            Ignored (kept for compatibility: numbers are formatted by their meaning).
        group_id
            With ``per``: the HTML id of each group's heading, from the group (a link target).
        """
        self._flush()
        if isinstance(df, Mapping) and not isinstance(df, pd.DataFrame):
            df = pd.DataFrame({"key": [str(k) for k in df.keys()], "value": [str(v) for v in df.values()]})
        if isinstance(df, pd.Series):
            df = df.to_frame()
        if not isinstance(df, pd.DataFrame):
            raise InputDataError(f"table() needs a DataFrame, Series or mapping, got {type(df).__name__}.")
        if index:
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
        total = len(df)
        if total == 0:
            self._parts.append(f'<p class="note">{esc(title + ": ") if title else ""}no {esc(what)}.</p>')
            return self
        groups: list[tuple[str | None, pd.DataFrame]]
        if per is not None and per in df.columns:
            groups = [(str(g), sub) for g, sub in df.groupby(per, sort=False, dropna=False)]
            if columns is None:
                columns = [_auto_col(c, df[c]) for c in df.columns if c != per]
        else:
            groups = [(None, df)]
        shown_total = sum(min(len(s), max_rows) if max_rows else len(s) for _, s in groups)
        if collapsed is None:
            collapsed = shown_total > 12
        tsv_single = tsv if isinstance(tsv, str) else None
        link = f' · full table: <a href="{esc(tsv_single)}">{esc(tsv_single)}</a>' if tsv_single else ""
        count = f"{total:,} {_singular(what) if total == 1 else what}"
        if per is not None and len(groups) > 1:
            noun = {"cohort": "cohorts", "claim_id": "claims"}.get(per, per.replace("_", " ") + "s")
            count += f" in {len(groups)} {noun}"
        head = ((f'<span class="title">{esc(title)}</span> ' if title else "")
                + f'<span class="count">— {count}{link}</span>')
        body = [f'<p class="note">{inline_md(note)}</p>'] if note else []
        for g, sub in groups:
            shown = sub.iloc[:max_rows] if max_rows else sub
            g_tsv = tsv.get(g) if isinstance(tsv, Mapping) and g is not None else tsv_single
            g_link = f' — full table: <a href="{esc(g_tsv)}">{esc(g_tsv)}</a>' if g_tsv else ""
            if g is not None:
                if len(shown) < len(sub):
                    msg = f"<b>{esc(g)}</b>: showing {len(shown):,} of {len(sub):,} {esc(what)}{g_link}"
                else:
                    msg = (f"<b>{esc(g)}</b>: {len(sub):,} {esc(_singular(what) if len(sub) == 1 else what)}"
                           + (g_link if isinstance(tsv, Mapping) else ""))
                gid = f' id="{esc(group_id(g))}"' if group_id else ""
                body.append(f'<p class="note grp"{gid}>{msg}</p>')
            elif len(shown) < len(sub):
                body.append(f'<p class="note">Showing {len(shown):,} of {len(sub):,} {esc(what)}{g_link}</p>')
            body.append(table_html(shown, columns, full_width=full_width))
        inner = "\n".join(body)
        if collapsed:
            self._parts.append(f'<details class="tbl"><summary>{head}</summary>\n{inner}\n</details>')
        else:
            self._parts.append(f'<div class="tbl"><div class="tbl-head">{head}</div>\n{inner}\n</div>')
        return self

    def figure(self, fig_or_path: Any, *, caption: str, dpi: int = 150, link: str | None = None,
               fmt: str = "png") -> Section:
        """Embed a matplotlib Figure or an image file (PNG/JPEG/SVG) as a data URI.

        Consecutive figures are laid out side by side when they fit. ``link`` (e.g.
        ``"figures/volcano_GSE126848.png"``) adds a link to the file beside the report.
        """
        if fmt not in {"png", "svg"}:
            raise InputDataError(f"fmt must be 'png' or 'svg', got {fmt!r}.")
        uri, width, _path = image_uri(fig_or_path, dpi=dpi)
        self._n_figures += 1
        alt = esc(re.sub(r"[*`]", "", caption))
        w = f' width="{width}"' if width else ""
        files = f' <a href="{esc(link)}">{esc(link.rsplit("/", 1)[-1])}</a>' if link else ""
        if self._fig_row is None:
            self._fig_row = []
        self._fig_row.append(
            f'<figure id="{esc(self.id)}-fig{self._n_figures}"><img src="{uri}" alt="{alt}"{w}>'
            f'<figcaption style="max-width:{width or 800}px">{inline_md(caption)}{files}</figcaption></figure>'
        )
        return self

    def _flush(self) -> None:
        if self._fig_row:
            self._parts.append('<div class="figs">' + "".join(self._fig_row) + "</div>")
        self._fig_row = None

    def render(self) -> str:
        self._flush()
        intro = f'<p class="intro">{inline_md(self.intro)}</p>' if self.intro else ""
        body = "\n".join(self._parts)
        return (
            f'<section id="{esc(self.id)}">\n<h2>{esc(self.title)}</h2>\n'
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

    def section(self, id: str, title: str, *, intro: str | None = None, nav: bool | str = True) -> Section:  # noqa: A002
        """Add (and return) a section; ``id`` becomes the HTML anchor and must be unique.

        ``nav``: show in the navigation bar (a string: under that shorter label).
        """
        if not _ID_RE.match(str(id)):
            raise InputDataError(f"section id {id!r} must start with a letter and use letters, digits, -_.: only.")
        if any(s.id == id for s in self.sections):
            raise InputDataError(f"section id {id!r} already exists in this report.")
        sec = Section(str(id), str(title), intro, nav)
        self.sections.append(sec)
        return sec

    def __getitem__(self, id: str) -> Section:  # noqa: A002
        for s in self.sections:
            if s.id == id:
                return s
        raise KeyError(id)

    def to_html(self) -> str:
        """The whole document as a string."""
        nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.nav if isinstance(s.nav, str) else s.title)}</a>'
                      for s in self.sections if s.nav)
        sub = f'<p class="subtitle">{inline_md(self.subtitle)}</p>' if self.subtitle else ""
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        try:
            version = metadata.version("mgtranscript")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = "unknown"
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(self.title)}</h1>{sub}</header>\n<nav>{nav}</nav>\n<main>\n"
            + "\n".join(s.render() for s in self.sections)
            + f"\n</main>\n<footer>Generated by mgtranscript {esc(version)} on {now}. One self-contained "
            "file: figures are embedded; full tables are in <code>tables/</code> beside it.</footer>\n"
            f"<script>{JS}</script>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the HTML file atomically (parents created) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.to_html(), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        logger.info("report written to %s", path)
        return path

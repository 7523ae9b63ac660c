"""Walk every table of a rendered report and say what a reader would find wrong in it.

A column is *blank* when none of its cells says anything (every cell empty, "—", "None",
"nan"); an *integer printed as a float* is a cell (or an "n = ..." in the text) like
``100.0``. Standard library only: :class:`html.parser.HTMLParser`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLANK = {"", "—", "none", "nan", "-", "null"}
FLOAT_INT = re.compile(r"^[−-]?\d{1,3}(,\d{3})*\.0$|^[−-]?\d+\.0$")
N_FLOAT = re.compile(r"\bn\s*=\s*\d+\.0\b")


class _Tables(HTMLParser):
    """Collects (title, header, rows) of every <table>; the title is the nearest heading or table title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.stack: list[dict] = []
        self.cell: list[str] | None = None
        self.context = ""
        self._ctx: list[str] | None = None
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "table":
            self.stack.append({"title": self.context, "head": [], "rows": [], "cls": a.get("class", "")})
        elif tag == "tr" and self.stack:
            self.stack[-1]["rows"].append([])
        elif tag in ("td", "th") and self.stack:
            self.cell = []
            self._is_th = tag == "th"
        elif tag in ("h2", "h3", "h4") or (tag == "span" and a.get("class") == "title"):
            self._ctx = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag in ("td", "th") and self.stack and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            row = self.stack[-1]["rows"][-1] if self.stack[-1]["rows"] else None
            if row is not None:
                row.append((text, self._is_th))
            self.cell = None
        elif tag == "table" and self.stack:
            t = self.stack.pop()
            rows = [r for r in t["rows"] if r]
            head = [c for c, is_th in rows[0]] if rows and all(is_th for _, is_th in rows[0]) else []
            body = [[c for c, _ in r] for r in (rows[1:] if head else rows)]
            self.tables.append({"title": t["title"], "head": head, "rows": body, "cls": t["cls"]})
        elif tag in ("h2", "h3", "h4", "span") and self._ctx is not None:
            self.context = " ".join("".join(self._ctx).split())
            self._ctx = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self._ctx is not None:
            self._ctx.append(data)


def tables(html: str) -> list[dict]:
    """Every table of the page: ``{"title", "head", "rows", "cls"}`` (cells as visible text)."""
    p = _Tables()
    p.feed(html)
    return p.tables


def lint(html: str) -> list[str]:
    """What is wrong with the page's tables (empty when nothing is)."""
    problems = []
    p = _Tables()
    p.feed(html)
    for i, t in enumerate(p.tables):
        rows = t["rows"]
        if not rows:
            continue
        width = max(len(r) for r in rows)
        head = t["head"] + [f"column {j + 1}" for j in range(len(t["head"]), width)]
        where = f"table {i + 1} ({t['title'][:60]!r})"
        for j in range(width):
            col = [r[j] if j < len(r) else "" for r in rows]
            if all(c.strip().lower() in BLANK for c in col):
                problems.append(f"{where}: column {head[j]!r} is blank in all {len(col)} rows")
            floats = [c for c in col if FLOAT_INT.match(c.strip())]
            if floats:
                problems.append(f"{where}: column {head[j]!r} prints integers as floats ({floats[0]})")
    text = " ".join(" ".join(p.text).split())
    for m in N_FLOAT.finditer(text):
        problems.append(f"text: an integer n printed as a float: {text[max(0, m.start() - 40):m.end()]!r}")
    return problems

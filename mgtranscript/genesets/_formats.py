"""GMT and GMX files."""

from __future__ import annotations

import csv
import gzip
import io
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..errors import GeneSetError
from ._sets import GeneSets

__all__ = ["read_gmt", "read_gmx"]


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _check_file(path: Path, kind: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise GeneSetError(f"{kind} file {path} does not exist; check the path.")
    return path


def _parse_gmt(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    sets: dict[str, tuple[str, ...]] = {}
    desc: dict[str, str] = {}
    first_line: dict[str, int] = {}
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                name = fields[0].strip()
                if not name:
                    raise GeneSetError(
                        f"{path}: line {lineno} has no set name in its first field; GMT lines are "
                        "NAME<tab>DESCRIPTION<tab>GENE1<tab>GENE2..."
                    )
                genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
                if not genes:
                    hint = (" (its fields are not tab-separated: GMT needs tabs)"
                            if len(fields) == 1 and " " in line.strip() else "")
                    raise GeneSetError(
                        f"{path}: line {lineno} (set {name!r}) has no genes{hint}; GMT lines are "
                        "NAME<tab>DESCRIPTION<tab>GENE1<tab>GENE2... Remove the line or add its genes."
                    )
                if name in sets:
                    raise GeneSetError(
                        f"{path}: set name {name!r} is duplicated (lines {first_line[name]} and "
                        f"{lineno}); set names must be unique. Rename or merge them."
                    )
                sets[name] = genes
                desc[name] = fields[1].strip() if len(fields) > 1 else ""
                first_line[name] = lineno
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise GeneSetError(f"could not read GMT file {path}: {exc}. Is it a text GMT file?") from exc
    if not sets:
        raise GeneSetError(f"GMT file {path} is empty; it holds no gene sets.")
    return sets, desc


@lru_cache(maxsize=16)
def _read_gmt_cached(path: str, mtime_ns: int, size: int) -> GeneSets:
    p = Path(path)
    sets, desc = _parse_gmt(p)
    meta = pd.DataFrame({"description": pd.Series(desc)})
    return GeneSets._trusted(sets, meta, source=f"file:{p.name}", version=None, spec=str(p))


def read_gmt(path: str | os.PathLike) -> GeneSets:
    """Read a GMT file (``NAME<tab>DESCRIPTION<tab>GENE...`` per line; ``.gz`` allowed).

    Blank lines are skipped; genes are stripped and de-duplicated within a set.

    Raises
    ------
    GeneSetError
        Missing or empty file, a line with no genes (the message names the line
        number), or a duplicated set name.
    """
    p = _check_file(Path(path), "GMT").resolve()
    st = p.stat()
    return _read_gmt_cached(str(p), st.st_mtime_ns, st.st_size)._clone()


def read_gmx(path: str | os.PathLike) -> GeneSets:
    """Read a GMX file: one set per tab-separated column (name, description, genes...).

    Raises
    ------
    GeneSetError
        Missing or empty file, a column with no genes, or a duplicated set name.
    """
    p = _check_file(Path(path), "GMX")
    with _open_text(p) as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise GeneSetError(f"GMX file {p} is empty; it holds no gene sets.")
    names = [c.strip() for c in rows[0]]
    descs = rows[1] if len(rows) > 1 else []
    sets: dict[str, tuple[str, ...]] = {}
    desc: dict[str, str] = {}
    for j, name in enumerate(names):
        if not name:
            continue
        genes = tuple(dict.fromkeys(
            r[j].strip() for r in rows[2:] if j < len(r) and r[j].strip()))
        if not genes:
            raise GeneSetError(f"{p}: column {j + 1} (set {name!r}) has no genes; add genes or remove it.")
        if name in sets:
            raise GeneSetError(f"{p}: set name {name!r} is duplicated; set names must be unique.")
        sets[name] = genes
        desc[name] = descs[j].strip() if j < len(descs) else ""
    if not sets:
        raise GeneSetError(f"GMX file {p} has no named columns.")
    return GeneSets._trusted(sets, pd.DataFrame({"description": pd.Series(desc)}),
                             source=f"file:{p.name}", version=None, spec=str(p))


def _read_file(path: Path) -> GeneSets:
    suffixes = [s.lower() for s in path.suffixes]
    if ".gmx" in suffixes:
        return read_gmx(path)
    return read_gmt(path)



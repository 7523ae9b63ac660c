"""Parsers for GEO series matrix files and SOFT family files.

Both parsers return a :class:`GeoRecord`: the series fields, one metadata row per
sample (``obs``: every ``!Sample_*`` field and every ``characteristics_ch*``
``"key: value"`` pair) and, when present, the value table (``ID_REF`` x GSM).
:func:`read_series_matrix` turns a series matrix file into an AnnData directly.

Column naming rules for ``obs`` (documented contract)
----------------------------------------------------
- ``!Sample_title`` -> ``title``; field names are lower-cased snake_case
  (``!Sample_contact_zip/postal_code`` -> ``contact_zip_postal_code``).
- A field that occurs several times (``!Sample_data_processing`` x 5) becomes
  ``data_processing_1``, ``data_processing_2``, ...; a field that occurs once keeps
  its plain name.
- ``!Sample_characteristics_ch1 "fibrosis stage: 2"`` -> column ``fibrosis_stage``
  (value ``"2"``); channel-2 characteristics get a ``_ch2`` suffix. A key seen twice
  for one sample has its values joined with ``"; "``. Characteristics without a
  ``key:`` go to ``characteristics_ch1_1``, ``_2``... A key that clashes with a
  sample field name gets a ``_characteristic`` suffix.
- Characteristic columns whose non-empty values are all numbers (without leading
  zeros) are converted to numbers (``nas_score``, ``fibrosis_stage``), as are
  ``data_row_count``/``channel_count``; other fields (title, description) stay text.
  Empty values are NaN.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import DataFormatError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = [
    "GeoRecord",
    "parse_series_matrix",
    "parse_soft",
    "read_series_matrix",
    "snake_case",
    "samples_to_obs",
]

_NUMERIC_FIELDS = {"channel_count", "data_row_count", "taxid_ch1", "taxid_ch2"}
_NA_VALUES = ["", "null", "NULL", "Null", "NA", "NaN", "nan", "N/A", "n/a", "-"]


@dataclass
class GeoRecord:
    """One parsed GEO series (or one platform of a multi-platform series).

    Attributes
    ----------
    accession
        ``GSE...`` accession (from ``!Series_geo_accession``; may be empty).
    series
        ``!Series_*`` fields (snake_case name -> str, or list of str when repeated).
    obs
        One row per sample, indexed by GSM id.
    table
        Values, rows = ``ID_REF``, columns = GSM ids; ``None`` when the file has no values.
    platforms
        Platform table(s) found in a SOFT file (GPL id -> DataFrame), else empty.
    """

    accession: str
    series: dict
    obs: pd.DataFrame
    table: pd.DataFrame | None
    platforms: dict = field(default_factory=dict)
    path: str = ""

    @property
    def platform_ids(self) -> list[str]:
        if "platform_id" in self.obs:
            return sorted(set(self.obs["platform_id"].dropna().astype(str)))
        p = self.series.get("platform_id", [])
        return [p] if isinstance(p, str) else list(p)


def snake_case(text: str) -> str:
    """``"Fibrosis Stage"`` -> ``"fibrosis_stage"``; ``"zip/postal code"`` -> ``"zip_postal_code"``."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text).strip()).strip("_").lower()
    if not s:
        return "unnamed"
    if s[0].isdigit():
        s = "x" + s
    return s


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _open_text_lines(path: Path):
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    return opener(path, "rb")


# --------------------------------------------------------------------------- obs building


def samples_to_obs(samples: list[tuple[str, list[tuple[str, str]]]]) -> pd.DataFrame:
    """Build ``obs`` from ``[(gsm, [(field, value), ...]), ...]`` with the module's naming rules.

    ``field`` is the part after ``!Sample_`` (e.g. ``characteristics_ch1``).
    """
    gsms = [g for g, _ in samples]
    # how often each plain field occurs per sample (max over samples)
    max_count: dict[str, int] = defaultdict(int)
    for _, pairs in samples:
        counts: dict[str, int] = defaultdict(int)
        for f, _v in pairs:
            if not f.startswith("characteristics_"):
                counts[snake_case(f)] += 1
        for k, n in counts.items():
            max_count[k] = max(max_count[k], n)
    plain_names = {k for k in max_count}
    columns: dict[str, dict[str, str]] = {}
    order: list[str] = []
    char_cols: set[str] = set()

    def put(col: str, gsm: str, value: str, join: bool) -> None:
        if col not in columns:
            columns[col] = {}
            order.append(col)
        cell = columns[col]
        if gsm in cell and join:
            if value and value not in cell[gsm].split("; "):
                cell[gsm] = f"{cell[gsm]}; {value}" if cell[gsm] else value
        else:
            cell[gsm] = value

    for gsm, pairs in samples:
        seen: dict[str, int] = defaultdict(int)
        nokey: dict[str, int] = defaultdict(int)
        for f, v in pairs:
            if f.startswith("characteristics_"):
                chan = f[len("characteristics_"):]
                v = v.strip()
                if not v:
                    continue
                if ":" in v:
                    key, _, val = v.partition(":")
                    col = snake_case(key)
                    if chan != "ch1":
                        col = f"{col}_{snake_case(chan)}"
                    if col in plain_names:
                        col = f"{col}_characteristic"
                    put(col, gsm, val.strip(), join=True)
                    char_cols.add(col)
                else:
                    nokey[chan] += 1
                    put(f"characteristics_{snake_case(chan)}_{nokey[chan]}", gsm, v, join=False)
                continue
            name = snake_case(f)
            seen[name] += 1
            col = name if max_count[name] == 1 else f"{name}_{seen[name]}"
            put(col, gsm, v, join=False)
    obs = pd.DataFrame({c: pd.Series(columns[c], dtype=object) for c in order}, index=pd.Index(gsms))
    obs = obs.reindex(gsms)
    obs.index.name = None
    for c in obs.columns:
        # characteristics and count fields become numbers when they all are; ids stay text
        if c in char_cols or c in _NUMERIC_FIELDS:
            obs[c] = _maybe_numeric(obs[c])
        else:
            obs[c] = obs[c].replace("", np.nan)
    return obs


def _maybe_numeric(col: pd.Series) -> pd.Series:
    s = col.where(col.notna(), None)
    text = s.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return col.replace("", np.nan) if col.dtype == object else col
    num = pd.to_numeric(text, errors="coerce")
    if num.notna().all() and not text.str.match(r"^0\d").any():  # keep zero-padded ids as text
        out = pd.to_numeric(s.replace("", np.nan), errors="coerce")
        if (out.dropna() == out.dropna().round()).all() and out.notna().all():
            return out.astype(np.int64)
        return out.astype(float)
    return col.replace("", np.nan)


# --------------------------------------------------------------------------- series matrix


def parse_series_matrix(path: str | Path) -> GeoRecord:
    """Parse a GEO series matrix (``.txt`` or ``.txt.gz``).

    Raises
    ------
    DataFormatError
        Missing ``!series_matrix_table_end`` (truncated file), ragged table rows,
        non-numeric values (the first bad cell is named), duplicated sample ids.
    """
    path = Path(path)
    name = path.name
    series: dict[str, list[str]] = defaultdict(list)
    sample_rows: list[tuple[str, list[str], int]] = []
    table_start = None
    lineno = 0
    with _open_text_lines(path) as fh:
        for raw in fh:
            lineno += 1
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("!series_matrix_table_begin"):
                table_start = lineno
                rest = fh.read()
                break
            if line.startswith("!Series_"):
                key, _, value = line.partition("\t")
                vals = [_unquote(v) for v in value.split("\t")] if value else [""]
                series[snake_case(key[len("!Series_"):])].append("\t".join(vals))
            elif line.startswith("!Sample_"):
                key, _, value = line.partition("\t")
                sample_rows.append((key[len("!Sample_"):], [_unquote(v) for v in value.split("\t")], lineno))
    if table_start is None:
        raise DataFormatError(
            f"{name}: no '!series_matrix_table_begin' line; this is not a complete GEO series "
            "matrix. Delete it from the cache (mgtranscript cache clear --pattern "
            f"{name}) and fetch it again."
        )
    # samples
    acc_rows = [r for r in sample_rows if r[0] == "geo_accession"]
    if not acc_rows:
        raise DataFormatError(f"{name}: no '!Sample_geo_accession' line; cannot name the samples.")
    gsms = acc_rows[0][1]
    n = len(gsms)
    dup = sorted({g for g in gsms if gsms.count(g) > 1})
    if dup:
        raise DataFormatError(
            f"{name} line {acc_rows[0][2]}: duplicated sample ids {dup[:5]}; the file is corrupt "
            "or hand-edited. Fetch the original from GEO."
        )
    for key, vals, ln in sample_rows:
        if len(vals) != n:
            raise DataFormatError(
                f"{name} line {ln}: '!Sample_{key}' has {len(vals)} values for {n} samples; "
                "the file is malformed. Fetch the original from GEO."
            )
    per_sample = [(g, [(k, vals[i]) for k, vals, _ in sample_rows]) for i, g in enumerate(gsms)]
    obs = samples_to_obs(per_sample)
    table = _parse_matrix_table(rest, name, table_start, gsms)
    ser = {k: (v[0] if len(v) == 1 else list(v)) for k, v in series.items()}
    if "sample_id" in ser and isinstance(ser["sample_id"], (str, list)):
        ids = ser["sample_id"] if isinstance(ser["sample_id"], list) else [ser["sample_id"]]
        ser["sample_id"] = " ".join(ids)
    acc = ser.get("geo_accession", "")
    acc = acc if isinstance(acc, str) else acc[0]
    return GeoRecord(accession=acc, series=ser, obs=obs, table=table, path=str(path))


def _parse_matrix_table(rest: bytes, name: str, table_start: int, gsms: list[str]) -> pd.DataFrame | None:
    end = rest.rfind(b"!series_matrix_table_end")
    if end < 0:
        raise DataFormatError(
            f"{name}: no '!series_matrix_table_end' line after the table that starts on line "
            f"{table_start}; the file is truncated. Delete it from the cache (mgtranscript cache "
            f"clear --pattern {name}) and fetch it again."
        )
    body = rest[:end]
    lines = body.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return None
    header_ln = table_start + 1
    header = [_unquote(c) for c in lines[0].decode("utf-8", errors="replace").rstrip("\r").split("\t")]
    cols = header[1:]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise DataFormatError(
            f"{name} line {header_ln}: duplicated sample ids in the table header {dup[:5]}; "
            "fetch the original file from GEO."
        )
    if len(lines) == 1:
        return None
    ntab = len(header) - 1
    for i, ln in enumerate(lines):
        k = ln.count(b"\t")
        if k != ntab:
            raise DataFormatError(
                f"{name} line {header_ln + i}: {k + 1} fields where the table header (line "
                f"{header_ln}) has {ntab + 1}; ragged row. The file is corrupt: delete it from "
                "the cache and fetch it again."
            )
    df = pd.read_csv(
        io.BytesIO(b"\n".join(lines)), sep="\t", header=0, index_col=0, names=header,
        dtype={header[0]: str}, na_values=_NA_VALUES, keep_default_na=False,
        quotechar='"', engine="c", low_memory=False,
    )
    df.index = df.index.astype(str)
    df.index.name = "ID_REF"
    _check_numeric(df, name, header_ln)
    return df.astype(np.float64, copy=False)


def _check_numeric(df: pd.DataFrame, name: str, header_ln: int) -> None:
    """Raise DataFormatError naming the first non-numeric cell (row order, then column order)."""
    first = None
    for j, col in enumerate(df.columns):
        if df[col].dtype.kind in "biuf":
            continue
        conv = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(conv.isna().to_numpy() & df[col].notna().to_numpy())
        if bad.size and (first is None or bad[0] < first[0]):
            first = (int(bad[0]), col)
    if first is not None:
        i, col = first
        raise DataFormatError(
            f"{name} line {header_ln + 1 + i}: non-numeric value {df[col].iloc[i]!r} in column "
            f"{col!r}, row {df.index[i]!r}; expression tables must hold numbers (missing values "
            "may be empty or 'null'). Fix or remove that cell."
        )


# --------------------------------------------------------------------------- SOFT family


def parse_soft(path: str | Path) -> GeoRecord:
    """Parse a GEO SOFT family file (``GSExxx_family.soft.gz``).

    ``^SAMPLE`` blocks give ``obs`` (same naming rules as the series matrix) and their
    ``ID_REF VALUE`` tables the value table; ``^PLATFORM`` tables are kept in
    ``record.platforms`` for probe annotation.
    """
    path = Path(path)
    name = path.name
    series: dict[str, list[str]] = defaultdict(list)
    samples: list[tuple[str, list[tuple[str, str]]]] = []
    values: dict[str, pd.Series] = {}
    platforms: dict[str, pd.DataFrame] = {}
    entity, ent_id = None, None
    pairs: list[tuple[str, str]] = []
    with _open_text_lines(path) as fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                continue
            if line.startswith("^"):
                key, _, val = line[1:].partition("=")
                entity, ent_id = key.strip().upper(), val.strip()
                if entity == "SAMPLE":
                    if any(g == ent_id for g, _ in samples):
                        raise DataFormatError(f"{name} line {lineno}: sample {ent_id} appears twice.")
                    pairs = []
                    samples.append((ent_id, pairs))
                continue
            low = line.lower()
            if low.startswith(("!sample_table_begin", "!platform_table_begin")):
                kind = "sample" if low.startswith("!sample") else "platform"
                start = lineno
                buf = []
                for raw2 in fh:
                    lineno += 1
                    if raw2.lower().startswith(f"!{kind}_table_end".encode()):
                        break
                    buf.append(raw2)
                else:
                    raise DataFormatError(
                        f"{name}: the {kind} table of {ent_id} starting on line {start} has no "
                        f"'!{kind}_table_end'; the file is truncated. Fetch it again."
                    )
                df = _parse_soft_table(buf, name, start, ent_id)
                if kind == "platform":
                    platforms[ent_id] = df
                elif df is not None and not df.empty:
                    values[ent_id] = _sample_values(df, name, start, ent_id)
                continue
            if not line.startswith("!"):
                continue
            key, _, val = line[1:].partition("=")
            key, val = key.strip(), val.strip()
            if entity == "SERIES" and key.startswith("Series_"):
                series[snake_case(key[len("Series_"):])].append(val)
            elif entity == "SAMPLE" and key.startswith("Sample_"):
                pairs.append((key[len("Sample_"):], val))
    if not samples:
        raise DataFormatError(f"{name}: no ^SAMPLE block; this is not a GEO SOFT family file.")
    obs = samples_to_obs(samples)
    table = None
    if values:
        table = pd.DataFrame(values)
        table = table.reindex(columns=[g for g, _ in samples if g in values])
        table.index.name = "ID_REF"
    ser = {k: (v[0] if len(v) == 1 else list(v)) for k, v in series.items()}
    acc = ser.get("geo_accession", "")
    acc = acc if isinstance(acc, str) else acc[0]
    return GeoRecord(accession=acc, series=ser, obs=obs, table=table, platforms=platforms, path=str(path))


def _parse_soft_table(buf: list[bytes], name: str, start: int, ent: str) -> pd.DataFrame | None:
    if not buf:
        return None
    header = buf[0].decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
    ntab = len(header) - 1
    for i, ln in enumerate(buf):
        k = ln.rstrip(b"\r\n").count(b"\t")
        if k != ntab:
            raise DataFormatError(
                f"{name} line {start + 1 + i}: ragged row in the table of {ent} "
                f"({k + 1} fields, header has {ntab + 1}). The file is corrupt: fetch it again."
            )
    return pd.read_csv(
        io.BytesIO(b"".join(buf)), sep="\t", dtype=str, na_values=_NA_VALUES,
        keep_default_na=False, quotechar='"',
    )


def _sample_values(df: pd.DataFrame, name: str, start: int, gsm: str) -> pd.Series:
    cols = {c.upper(): c for c in df.columns}
    if "ID_REF" not in cols or "VALUE" not in cols:
        raise DataFormatError(
            f"{name} line {start + 1}: the table of {gsm} has no ID_REF/VALUE columns "
            f"(has {list(df.columns)[:6]})."
        )
    ids = df[cols["ID_REF"]].astype(str)
    vals = pd.to_numeric(df[cols["VALUE"]], errors="coerce")
    bad = np.flatnonzero(vals.isna().to_numpy() & df[cols["VALUE"]].notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            f"{name} line {start + 2 + i}: non-numeric VALUE {df[cols['VALUE']].iloc[i]!r} for "
            f"{ids.iloc[i]!r} in sample {gsm}; fix or remove that cell."
        )
    if ids.duplicated().any():
        raise DataFormatError(
            f"{name}: sample {gsm} lists ID_REF {ids[ids.duplicated()].iloc[0]!r} twice."
        )
    return pd.Series(vals.to_numpy(dtype=float), index=ids.to_numpy(), name=gsm)


# --------------------------------------------------------------------------- AnnData


def read_series_matrix(path: str | Path) -> AnnData:
    """Read a series matrix file into an AnnData (samples x ``ID_REF``), no id mapping.

    ``obs`` holds every ``!Sample_*`` field and characteristic (see the module docs),
    ``uns["geo"]["series"]`` the ``!Series_*`` fields. ``X`` holds the values as they
    are in the file (no log transform; see :func:`mgtranscript.pp.ensure_log`).
    Use :func:`mgtranscript.datasets.geo` to fetch, map probes to genes and normalise.
    """
    import anndata as ad

    rec = parse_series_matrix(path)
    obs = rec.obs.copy()
    if rec.table is None:
        X = np.zeros((obs.shape[0], 0))
        var = pd.DataFrame(index=pd.Index([], dtype=str))
    else:
        X = rec.table.reindex(columns=obs.index).to_numpy().T
        var = pd.DataFrame(index=rec.table.index.astype(str))
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.uns["geo"] = {"accession": rec.accession, "series": rec.series, "file": Path(path).name}
    return adata

"""User sample sheets (CSV/TSV or DataFrame, e.g. an SRA Run Selector ``SraRunTable.csv``).

Joining rule (documented contract)
----------------------------------
- The join key is ``samples_key`` if given, else the sheet column whose values
  match the most samples, trying each column against the GSM ids (``obs_names``),
  then ``obs["title"]``, then ``obs["description"]``, then SRA/run ids found in
  ``obs`` (``relation_*`` SRX links). Values are compared trimmed, case-insensitive,
  with leading zeros of all-digit ids ignored ("0869" == "869").
- Several rows per sample (one per sequencing run) are collapsed to one row per
  sample; columns whose values differ between the runs are joined with ``";"``.
  Repeated rows are only accepted as runs: if the sheet has no run column
  (``Run``/``run_accession``) with a distinct value per row, duplicated sample ids
  raise :class:`~mgtranscript.errors.InputDataError`.
- Sheet columns become ``obs`` columns under their snake_case names; a name that
  already exists in ``obs`` gets the prefix ``sheet_``.
- The report goes to ``adata.uns["geo"]["sample_sheet"]``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ._seriesmatrix import snake_case

logger = logging.getLogger(__name__)

__all__ = ["read_sample_sheet", "join_sample_sheet", "normalise_id", "match_key"]

_RUN_COLUMNS = ("run", "run_accession", "runs", "srr")


def normalise_id(value) -> str:
    """Comparison form of a sample id: trimmed, lower-case, leading zeros of digit ids dropped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    s = str(value).strip().lower()
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    if s.isdigit():
        s = s.lstrip("0") or "0"
    return s


def read_sample_sheet(sheet: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a sample sheet (CSV, TSV or TXT; gzip ok) as text columns.

    The separator is taken from the extension (``.csv`` comma, ``.tsv``/``.txt`` tab)
    or sniffed from the header line.

    Raises
    ------
    InputDataError
        If the file does not exist, is empty, or has duplicated column names.
    """
    if isinstance(sheet, pd.DataFrame):
        df = sheet.copy()
    else:
        path = Path(sheet).expanduser()
        if not path.is_file():
            raise InputDataError(f"sample sheet {path} does not exist; pass a CSV/TSV path or a DataFrame.")
        name = path.name.lower().removesuffix(".gz")
        if name.endswith(".csv"):
            sep = ","
        elif name.endswith((".tsv", ".tab")):
            sep = "\t"
        else:
            import gzip

            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt", errors="replace") as fh:
                first = fh.readline()
            sep = "\t" if first.count("\t") >= first.count(",") else ","
        try:
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputDataError(f"cannot read sample sheet {path}: {exc}. Save it as CSV or TSV.") from exc
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputDataError("the sample sheet is empty.")
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        raise InputDataError(f"the sample sheet has duplicated column names: {cols}.")
    df.columns = cols
    return df


def _candidates(obs: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """(rule name, Series of obs-name per normalised id) for each id family in obs."""
    out = [("gsm", pd.Series(obs.index.astype(str), index=obs.index.astype(str)))]
    for col in ("title", "description", "source_name_ch1"):
        if col in obs:
            out.append((col, obs[col]))
    for col in obs.columns:
        if str(col).startswith("relation"):
            srx = obs[col].astype(str).str.extract(r"(SR[XRS]\d+)", expand=False)
            if srx.notna().any():
                out.append((f"{col} (SRA)", srx))
    return out


def _lookup(values: pd.Series) -> dict[str, str]:
    """normalised id -> obs name, ambiguous ids (shared by several samples) removed."""
    norm = values.map(normalise_id)
    norm = norm[norm != ""]
    counts = norm.value_counts()
    ok = norm[norm.map(counts) == 1]
    return dict(zip(ok.to_numpy(), ok.index.astype(str)))


def match_key(
    values: pd.Series | list, obs: pd.DataFrame
) -> tuple[dict[str, str], str]:
    """Match ``values`` to samples in ``obs``; return ({value: obs_name}, rule).

    Tries GSM ids, then titles, descriptions and SRA ids (see the module docs) and
    keeps the family matching the most values (ties: that order).
    """
    vals = pd.Series(list(values)).astype(str)
    best: tuple[dict[str, str], str] = ({}, "none")
    for rule, ids in _candidates(obs):
        lut = _lookup(ids)
        m = {v: lut[normalise_id(v)] for v in vals if normalise_id(v) in lut}
        if len(m) > len(best[0]):
            best = (m, rule)
    return best


def _collapse(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per ``key``; distinct non-missing values of each column joined with ';'."""
    cols = [c for c in df.columns if c != key]
    acc: dict[str, dict[str, dict]] = {}
    for rec in df.to_dict("records"):
        row = acc.setdefault(rec[key], {c: {} for c in cols})
        for c in cols:
            v = rec[c]
            if not (v is None or (isinstance(v, float) and np.isnan(v))):
                row[c][str(v)] = None
    out = {k: {c: (";".join(vals) if vals else np.nan) for c, vals in row.items()}
           for k, row in acc.items()}
    res = pd.DataFrame.from_dict(out, orient="index", columns=cols)
    res.index.name = key
    return res


def join_sample_sheet(
    adata,
    sheet: str | Path | pd.DataFrame,
    *,
    samples_key: str | None = None,
    copy: bool = False,
):
    """Join a sample sheet onto ``adata.obs`` (one row per sample; see the module docs).

    Parameters
    ----------
    adata
        AnnData whose ``obs_names`` are GSM ids (as returned by ``geo``).
    sheet
        Path to a CSV/TSV file, or a DataFrame.
    samples_key
        Sheet column holding the sample ids (auto-detected when ``None``).
    copy
        Return a modified copy instead of changing ``adata`` in place.

    Raises
    ------
    InputDataError
        Unknown ``samples_key``, no column matching any sample, or duplicated ids
        that are not distinct runs.
    """
    adata = adata.copy() if copy else adata
    df = read_sample_sheet(sheet)
    obs = adata.obs
    if samples_key is not None:
        if samples_key not in df.columns:
            raise InputDataError(
                f"samples_key={samples_key!r} is not a column of the sample sheet; columns: "
                f"{list(df.columns)}."
            )
        keys = [samples_key]
    else:
        keys = list(df.columns)
    best = (None, {}, "none")
    for col in keys:
        m, rule = match_key(df[col].dropna().unique(), obs)
        if len(m) > len(best[1]):
            best = (col, m, rule)
    col, mapping, rule = best
    if not mapping:
        raise InputDataError(
            f"no column of the sample sheet matches the samples (tried {keys[:8]} against GSM "
            f"ids {obs.index[:3].tolist()}, titles and descriptions); pass samples_key= naming "
            "the column that holds GSM ids, titles or descriptions."
        )
    df = df[df[col].notna()].copy()
    df["_gsm"] = df[col].astype(str).map(mapping)
    unmatched_rows = df.loc[df["_gsm"].isna(), col].astype(str).tolist()
    df = df[df["_gsm"].notna()]
    dup = df["_gsm"].duplicated(keep=False)
    n_runs = int(len(df))
    if dup.any():
        runcol = next((c for c in df.columns if snake_case(c) in _RUN_COLUMNS), None)
        if runcol is None or df.loc[dup, runcol].duplicated().any() or df.loc[dup, runcol].isna().any():
            ids = sorted(set(df.loc[dup, col].astype(str)))[:5]
            raise InputDataError(
                f"the sample sheet lists samples {ids} more than once and has no run column "
                "(Run/run_accession) telling the rows apart; remove the duplicated rows."
            )
    collapsed = _collapse(df.drop(columns=[col]), "_gsm")
    collapsed[col] = df.groupby("_gsm", sort=False)[col].first()
    renamed = {}
    for c in collapsed.columns:
        new = snake_case(c)
        if new in obs.columns or new in renamed.values():
            new = f"sheet_{new}"
        renamed[c] = new
    collapsed = collapsed.rename(columns=renamed)
    joined = collapsed.reindex(obs.index.astype(str))
    for c in joined.columns:
        adata.obs[c] = joined[c].to_numpy()
    missing = obs.index[joined.isna().all(axis=1).to_numpy()].tolist()
    if missing:
        msg = (f"{len(missing)} of {adata.n_obs} samples have no row in the sample sheet: "
               f"{missing[:5]}")
        warnings.warn(msg, UserWarning, stacklevel=2)
    if unmatched_rows:
        logger.info("%d sample-sheet rows match no sample, e.g. %s", len(unmatched_rows), unmatched_rows[:3])
    report = {
        "key": col, "matched_on": rule, "n_rows": int(n_runs + len(unmatched_rows)),
        "n_samples_matched": int(adata.n_obs - len(missing)),
        "n_rows_unmatched": int(len(unmatched_rows)),
        "runs_collapsed": int(n_runs - collapsed.shape[0]),
        "columns": [str(c) for c in collapsed.columns],
    }
    adata.uns.setdefault("geo", {})["sample_sheet"] = report
    logger.info("sample sheet joined on %r (%s): %d samples", col, rule, report["n_samples_matched"])
    return adata if copy else None


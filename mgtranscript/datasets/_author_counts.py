"""Author-supplied count tables: read them as the catalog describes, match columns to samples.

:func:`read_author_counts` reads a table whose layout the catalog declares
(``[cohorts.X.counts]``: separator, header rows, id columns, dropped columns) and
:func:`match_author_columns` maps its columns to GSM samples by a declared rule
(``exact``, ``integer`` or ``trailing_number`` on an ``obs`` column).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFormatError, InputDataError
from ._catalog import _MATCH_METHODS, LabelWarning, cohort_info
from ._labels import _find_column, _values

logger = logging.getLogger(__name__)

__all__ = ["AuthorCounts", "read_author_counts", "match_author_columns"]


@dataclass
class AuthorCounts:
    """An author count table read by :func:`read_author_counts`.

    Attributes
    ----------
    counts
        Genes x samples (index: gene ids from the first id column; columns: sample
        names from the catalog's ``sample_name_row``).
    genes
        The id columns (gene id, symbol, ...) indexed like ``counts``.
    header
        All header rows, one row each (index ``row1``, ``row2`` ...), columns like ``counts``.
    dropped
        Sample columns removed by ``drop_columns``.
    """

    counts: pd.DataFrame
    genes: pd.DataFrame
    header: pd.DataFrame
    dropped: list[str] = field(default_factory=list)


def _counts_rules(rules: dict | str | None) -> dict:
    if rules is None:
        return {}
    if isinstance(rules, str):
        info = cohort_info(rules)
        if "counts" not in info:
            raise InputDataError(f"the catalog has no [counts] rules for {rules}.")
        return info["counts"]
    return dict(rules)


def read_author_counts(path: str | Path, rules: dict | str | None = None) -> AuthorCounts:
    """Read an author-supplied count table as the catalog describes it.

    Parameters
    ----------
    path
        The table (``.gz`` is read transparently).
    rules
        A ``[cohorts.X.counts]`` mapping, or an accession whose catalog entry has one.
        Keys: ``sep`` (default ``","`` for ``.csv`` files, else tab), ``header_rows``
        (1), ``sample_name_row`` (1-based header row holding the sample names; 1),
        ``id_columns`` (leading annotation columns, the first being the gene id; 1),
        ``drop_columns`` (sample columns to drop when any header row names them so).

    Returns
    -------
    :class:`AuthorCounts`.

    Raises
    ------
    DataFormatError
        If the header is shorter than announced, counts are not numeric or negative,
        or sample names repeat.
    """
    path = Path(path)
    r = _counts_rules(rules)
    name = path.name.lower()
    sep = r.get("sep") or ("," if ".csv" in name else "\t")
    n_head = int(r.get("header_rows", 1))
    name_row = int(r.get("sample_name_row", 1))
    n_id = int(r.get("id_columns", 1))
    drop = {str(d).strip() for d in r.get("drop_columns", [])}
    if not 1 <= name_row <= n_head:
        raise InputDataError(f"sample_name_row={name_row} must lie within header_rows={n_head}.")
    try:
        head = pd.read_csv(path, sep=sep, header=None, nrows=n_head, dtype=str, keep_default_na=False)
        body = pd.read_csv(path, sep=sep, header=None, skiprows=n_head, dtype=str, keep_default_na=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"could not read the count table {path}: {exc}") from exc
    if len(head) < n_head or body.empty:
        raise DataFormatError(f"{path} has fewer than {n_head} header rows or no data rows.")
    ncol = body.shape[1]
    if head.shape[1] == ncol - 1:  # R-style header without a cell for the row names
        head.insert(0, "_pad", "")
    if head.shape[1] != ncol or ncol <= n_id:
        raise DataFormatError(
            f"{path}: header has {head.shape[1]} columns but data rows have {ncol}; check sep={sep!r} "
            f"and header_rows={n_head}."
        )
    head.columns = range(ncol)
    body.columns = range(ncol)
    sample_cols = list(range(n_id, ncol))
    dropped_cols = [c for c in sample_cols if drop and any(str(v).strip() in drop for v in head[c])]
    sample_cols = [c for c in sample_cols if c not in dropped_cols]
    names = [str(v).strip() for v in head.loc[name_row - 1, sample_cols]]
    if len(set(names)) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()][0]
        raise DataFormatError(f"{path}: sample name {dup!r} appears twice in header row {name_row}.")
    gene_ids = body[0].str.strip()
    values = body[sample_cols].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        bad = np.argwhere(values.isna().to_numpy())[0]
        raise DataFormatError(
            f"{path}: non-numeric count {body.iat[bad[0], sample_cols[bad[1]]]!r} at data row "
            f"{bad[0] + 1}, column {names[bad[1]]!r}; check header_rows/id_columns in the catalog."
        )
    arr = values.to_numpy()
    if (arr < 0).any():
        raise DataFormatError(f"{path}: negative counts found; this is not a raw count table.")
    if np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    counts = pd.DataFrame(arr, index=pd.Index(gene_ids, name="gene_id"), columns=names)
    id_names = [str(head.iat[0, c]).strip() or f"id{c}" for c in range(n_id)]
    genes = body[list(range(n_id))].copy()
    genes.columns = id_names
    genes.index = counts.index
    header = head[sample_cols].copy()
    header.columns = names
    header.index = [f"row{i + 1}" for i in range(n_head)]
    dropped = [" / ".join(str(v) for v in head[c]) for c in dropped_cols]
    if dropped:
        logger.info("%s: dropped columns %s (drop_columns rule)", path.name, dropped)
    return AuthorCounts(counts=counts, genes=genes, header=header, dropped=dropped)


def _trailing_number(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype("string").str.extract(r"(\d+)\s*$", expand=False), errors="coerce")


def _first_token(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.split(r"[_\s]", n=1, regex=True).str[0].str.casefold()


def match_author_columns(
    columns: Iterable[str], obs: pd.DataFrame, rules: dict | str | None = None, *, warn: bool = True
) -> pd.Series:
    """Map count-table sample names to sample ids (``obs_names``) by a catalog rule.

    Parameters
    ----------
    columns
        Sample names from the count table (:attr:`AuthorCounts.counts` columns).
    obs
        Sample metadata (index: GSM ids).
    rules
        ``[counts]`` mapping or accession. ``match``: ``"exact"`` (string equality),
        ``"integer"`` (both sides read as integers: ``0869`` == ``869``) or
        ``"trailing_number"`` (the trailing integers agree: ``Control_Lille 389`` ==
        ``Control_389``; when a number repeats among samples the first word must agree
        too). ``match_column``: the obs column to compare with (default ``obs_names``).

    Returns
    -------
    Series indexed by ``columns`` with the matched obs name (NA where none).

    Raises
    ------
    DataFormatError
        If a name matches several samples, or two names match the same sample.
    """
    r = _counts_rules(rules)
    method = r.get("match", "exact")
    if method not in _MATCH_METHODS:
        raise InputDataError(f"match must be one of {_MATCH_METHODS}, got {method!r}.")
    mcol = r.get("match_column", "obs_names")
    col = _find_column(obs, mcol)
    if col is None:
        raise InputDataError(
            f"obs has no column {mcol!r} to match count-table columns on (have {list(obs.columns)[:12]})."
        )
    left = pd.Series(list(columns), index=list(columns), dtype="object").astype(str)
    right = _values(obs, col).astype("object")
    if method == "exact":
        lk, rk = left.str.strip(), right
    elif method == "integer":
        lk = pd.to_numeric(left.str.extract(r"^\s*(\d+)\s*$", expand=False), errors="coerce")
        rk = pd.to_numeric(right.astype("string").str.extract(r"^\s*(\d+)\s*$", expand=False), errors="coerce")
    else:
        lk, rk = _trailing_number(left), _trailing_number(right)
        if rk.dropna().duplicated().any() or lk.dropna().duplicated().any():
            lk = _first_token(left) + ":" + lk.astype("string")
            rk = _first_token(right) + ":" + rk.astype("string")
    rk = pd.Series(rk.to_numpy(), index=obs.index).dropna()
    if rk.duplicated().any():
        dup = rk[rk.duplicated(keep=False)]
        raise DataFormatError(
            f"several samples share the match key {dup.iloc[0]!r} ({list(dup.index[:3])}); "
            f"match={method!r} on {col!r} cannot tell them apart."
        )
    lookup = pd.Series(rk.index, index=rk.to_numpy())
    out = pd.Series(pd.Series(lk.to_numpy(), index=left.index).map(lookup), index=left.index, dtype="object")
    taken = out.dropna()
    if taken.duplicated().any():
        d = taken[taken.duplicated(keep=False)]
        raise DataFormatError(f"count-table columns {list(d.index)} all match sample {d.iloc[0]}.")
    n_miss = int(out.isna().sum())
    if n_miss:
        msg = (
            f"{n_miss} of {len(out)} count-table columns match no sample by {method!r} on "
            f"{col!r} (e.g. {out.index[out.isna()][0]!r})."
        )
        if warn:
            warnings.warn(msg, LabelWarning, stacklevel=2)
        logger.warning(msg)
    return out

"""The liver cohort catalog (``mgtranscript/data/cohorts.toml``) and its label rules.

The catalog is a readable data file, one table per cohort: where its expression
data come from, its design (paired or not, reference condition, stage order) and
ordered **label rules** mapping raw sample metadata onto harmonised labels:

``obs["disease"]``
    ``control``, ``MASLD``, ``ALD`` or ``HCC``.
``obs["condition"]``
    ``healthy``, ``obese``, ``NAFL``, ``NASH``, ``normal`` (ALD control),
    ``alcoholic_hepatitis``, ``alcohol_cirrhosis``, ``hcc_tumour``, ``hcc_nontumour``, ``hcc_recurrent``.
``obs["fibrosis_stage"]``, ``obs["nas"]``
    Floats, NaN where the series has no such field.
``obs["cohort"]``, ``obs["pair_id"]`` (paired designs), ``obs["subgroup"]``.

Samples no rule covers get ``"unlabelled"`` and a :class:`LabelWarning` naming how
many and an example. The rule syntax is documented at the top of ``cohorts.toml``.

Label application (:func:`label_obs`, :func:`apply_labels`) lives in
:mod:`mgtranscript.datasets.labels`; both stay importable from here. Author count tables whose layout a catalog entry declares (``[cohorts.X.counts]``)
are read by :mod:`mgtranscript.datasets.author_counts`, beside the GEO loaders.
"""

from __future__ import annotations

import copy as _copy
import functools
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import pandas as pd

from ..errors import DataFormatError, InputDataError

logger = logging.getLogger(__name__)

__all__ = [
    "DISEASES",
    "CONDITIONS",
    "UNLABELLED",
    "LabelWarning",
    "catalog",
    "cohort_info",
    "condition_order",
    "load_catalog",
]

#: Harmonised disease labels (in display order).
DISEASES: tuple[str, ...] = ("control", "MASLD", "ALD", "HCC")
#: Harmonised condition labels (in display order).
CONDITIONS: tuple[str, ...] = (
    "healthy",
    "obese",
    "NAFL",
    "NASH",
    "normal",
    "alcoholic_hepatitis",
    "alcohol_cirrhosis",
    "hcc_nontumour",
    "hcc_tumour",
    "hcc_recurrent",
)
UNLABELLED = "unlabelled"

#: Columns apply_labels() writes; a pre-existing column of that name is kept as "<name>_source".
OUTPUT_COLUMNS = ("cohort", "disease", "condition", "subgroup", "fibrosis_stage", "nas", "pair_id")

_REQUIRED_KEYS = (
    "accession", "title", "disease_area", "platform", "technology", "data_source",
    "n_samples", "citation", "pmid", "design", "reference", "condition_order", "labels",
)
_PAIRING_METHODS = ("gsm_offset", "order", "regex", "column")
_MATCH_METHODS = ("exact", "integer", "trailing_number")


class LabelWarning(UserWarning):
    """Some samples matched no label rule, or a numeric field was out of range."""


# ---------------------------------------------------------------------- catalog


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _validate(cohorts: dict[str, dict], source: str) -> None:
    for acc, c in cohorts.items():
        where = f"{source}: cohort {acc}"
        missing = [k for k in _REQUIRED_KEYS if k not in c]
        if missing:
            raise DataFormatError(f"{where} lacks {missing}; add them to the catalog.")
        if c["accession"] != acc:
            raise DataFormatError(f"{where}: accession field {c['accession']!r} differs from the table name.")
        if c["design"] not in ("paired", "unpaired"):
            raise DataFormatError(f"{where}: design must be 'paired' or 'unpaired', not {c['design']!r}.")
        if c["design"] == "paired" and "pairing" not in c:
            raise DataFormatError(f"{where}: a paired design needs a [pairing] rule.")
        if c["reference"] not in c["condition_order"]:
            raise DataFormatError(f"{where}: reference {c['reference']!r} is not in condition_order.")
        for i, rule in enumerate(c["labels"]):
            rw = f"{where}, label rule {i + 1}"
            if not rule.get("columns"):
                raise DataFormatError(f"{rw}: needs 'columns'.")
            if ("equals" in rule) == ("regex" in rule):
                raise DataFormatError(f"{rw}: give exactly one of 'equals' or 'regex'.")
            if "regex" in rule:
                try:
                    re.compile(rule["regex"])
                except re.error as exc:
                    raise DataFormatError(f"{rw}: bad regex {rule['regex']!r}: {exc}") from exc
            if rule.get("disease") not in DISEASES:
                raise DataFormatError(f"{rw}: disease must be one of {DISEASES}, not {rule.get('disease')!r}.")
            if rule.get("condition") not in CONDITIONS:
                raise DataFormatError(
                    f"{rw}: condition must be one of {CONDITIONS}, not {rule.get('condition')!r}."
                )
            if rule["condition"] not in c["condition_order"]:
                raise DataFormatError(f"{rw}: condition {rule['condition']!r} missing from condition_order.")
        pairing = c.get("pairing")
        if pairing is not None and pairing.get("method") not in _PAIRING_METHODS:
            raise DataFormatError(f"{where}: pairing method must be one of {_PAIRING_METHODS}.")
        counts = c.get("counts")
        if counts is not None and counts.get("match", "exact") not in _MATCH_METHODS:
            raise DataFormatError(f"{where}: counts.match must be one of {_MATCH_METHODS}.")


def load_catalog(path: str | Path | None = None) -> dict[str, dict]:
    """Parse and validate a catalog TOML file (default: the packaged ``cohorts.toml``).

    Raises
    ------
    DataFormatError
        If the file is not valid TOML or a cohort entry breaks the schema.
    """
    if path is None:
        return _copy.deepcopy(_packaged())
    return _parse(Path(path).read_bytes(), str(path))


def _parse(raw: bytes, source: str) -> dict[str, dict]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source} is not valid TOML: {exc}") from exc
    cohorts = data.get("cohorts")
    if not isinstance(cohorts, dict) or not cohorts:
        raise DataFormatError(f"{source} has no [cohorts.<ACCESSION>] tables.")
    _validate(cohorts, source)
    return cohorts


@functools.lru_cache(maxsize=1)
def _packaged() -> dict[str, dict]:
    res = resources.files("mgtranscript").joinpath("data/cohorts.toml")
    return _parse(res.read_bytes(), "mgtranscript/data/cohorts.toml")


def catalog() -> pd.DataFrame:
    """The liver cohorts mgtranscript knows, one row per cohort.

    Returns
    -------
    DataFrame indexed by accession with columns ``title``, ``disease_area``,
    ``technology``, ``platform``, ``source``, ``data_source``, ``expression_file``,
    ``n_samples``, ``design``, ``reference``, ``conditions``, ``citation``, ``pmid``.
    """
    rows = []
    for acc, c in _packaged().items():
        rows.append(
            {
                "accession": acc,
                "title": c["title"],
                "disease_area": c["disease_area"],
                "technology": c["technology"],
                "platform": c["platform"],
                "source": c.get("source", "GEO"),
                "data_source": c["data_source"],
                "expression_file": c.get("expression_file", ""),
                "n_samples": int(c["n_samples"]),
                "design": c["design"],
                "reference": c["reference"],
                "conditions": " < ".join(c["condition_order"]),
                "citation": c["citation"],
                "pmid": str(c["pmid"]),
            }
        )
    return pd.DataFrame(rows).set_index("accession", drop=False)


def _resolve(accession: str) -> str:
    cohorts = _packaged()
    acc = str(accession).strip()
    if acc in cohorts:
        return acc
    for k in cohorts:
        if k.upper() == acc.upper():
            return k
    raise InputDataError(
        f"{accession!r} is not in the cohort catalog (known: {', '.join(cohorts)}). "
        "Add a [cohorts.<ACCESSION>] table to mgtranscript/data/cohorts.toml, or pass the "
        "labels yourself."
    )


def cohort_info(accession: str) -> dict[str, Any]:
    """Everything the catalog says about one cohort (a deep copy; safe to modify).

    Raises
    ------
    InputDataError
        If the accession is not in the catalog.
    """
    return _copy.deepcopy(_packaged()[_resolve(accession)])


def condition_order(accession: str) -> list[str]:
    """The cohort's conditions from reference to most severe (e.g. healthy < obese < NAFL < NASH)."""
    return list(_packaged()[_resolve(accession)]["condition_order"])


_MOVED = ("AuthorCounts", "read_author_counts", "match_author_columns")
#: moved to :mod:`mgtranscript.datasets.labels`
_LABELS = ("label_obs", "apply_labels", "_find_column", "_values")
__all__ += [name for name in _LABELS if not name.startswith("_")]


def __getattr__(name: str) -> Any:
    # the author-count reader moved to datasets.author_counts; keep the old import path
    if name in _MOVED:
        from . import author_counts

        return getattr(author_counts, name)
    if name in _LABELS:
        from . import labels

        return getattr(labels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

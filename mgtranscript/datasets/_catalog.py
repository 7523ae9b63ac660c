"""The liver cohort catalog (``mgtranscript/data/cohorts.toml``) and its label rules.

The catalog is a readable data file, one table per cohort: where its expression
data come from, its design (paired or not, reference condition, stage order) and
ordered **label rules** mapping raw sample metadata onto harmonised labels:

``obs["disease"]``
    ``control``, ``MASLD``, ``ALD``, ``HCC`` or ``DILI``.
``obs["condition"]``
    ``healthy``, ``obese``, ``NAFL``, ``NASH``, ``normal`` (ALD control),
    ``alcoholic_hepatitis``, ``alcohol_cirrhosis``, ``hcc_tumour``, ``hcc_nontumour``, ``hcc_recurrent``,
    ``dili``.
``obs["fibrosis_stage"]``, ``obs["nas"]``
    Floats, NaN where the series has no such field.
``obs["cohort"]``, ``obs["pair_id"]`` (paired designs), ``obs["subgroup"]``.

Samples no rule covers get ``"unlabelled"`` and a :class:`LabelWarning` naming how
many and an example. The rule syntax is documented at the top of ``cohorts.toml``.

Every entry records the group counts its source reports (``[cohorts.X.expected]``, with the
source cited); labels that disagree with them are reported (``uns["labels"]["check"]``) and the
analysis plan does not analyse the cohort. A user catalog (``--catalog FILE`` on the command
line, ``catalog=`` in Python, :func:`use_catalog`) in the same schema is merged over the
bundled one; ``_catalog_schema`` checks it.

Label application (:func:`~mgtranscript.datasets.label_obs`, :func:`~mgtranscript.datasets.apply_labels`)
lives in ``_labels``. Author count tables whose layout a catalog entry declares (``[cohorts.X.counts]``)
are read by ``_author_counts``, beside the GEO loaders.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy as _copy
import functools
import logging
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Union

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import pandas as pd

from ..errors import CatalogError, InputDataError
from . import _catalog_schema as catalog_schema

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
    "use_catalog",
    "CatalogLike",
]

#: Harmonised disease labels (in display order).
DISEASES: tuple[str, ...] = ("control", "MASLD", "ALD", "HCC", "DILI")
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
    "dili",
)
UNLABELLED = catalog_schema.UNLABELLED

#: Columns apply_labels() writes; a pre-existing column of that name is kept as "<name>_source".
OUTPUT_COLUMNS = ("cohort", "disease", "condition", "subgroup", "fibrosis_stage", "nas", "pair_id")

_PAIRING_METHODS = catalog_schema.PAIRING_METHODS
_MATCH_METHODS = catalog_schema.MATCH_METHODS
_BUNDLED = "mgtranscript/data/cohorts.toml"

#: a user catalog: a TOML path, or a parsed ``{accession: entry}`` mapping (``{"cohorts": ...}`` too)
CatalogLike = Union[str, Path, Mapping]

# the catalog in force: the bundled one, or the bundled one with a user catalog merged over it
_ACTIVE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("mgtranscript_catalog", default=None)


class LabelWarning(UserWarning):
    """Some samples matched no label rule, labels disagree with the expected counts, or a
    numeric field was out of range."""


# ---------------------------------------------------------------------- catalog


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _validate(cohorts: dict[str, dict], source: str) -> None:
    catalog_schema.validate(cohorts, source, diseases=DISEASES, conditions=CONDITIONS)


def load_catalog(path: str | Path | None = None) -> dict[str, dict]:
    """Parse and validate a catalog TOML file (default: the packaged ``cohorts.toml``).

    Parameters
    ----------
    path
        A catalog file in the schema of the bundled ``cohorts.toml`` (documented at its top).

    Returns
    -------
    ``{accession: entry}`` (a fresh copy).

    Raises
    ------
    CatalogError
        The file is not valid TOML or an entry breaks the schema (unknown key, bad rule,
        expected counts that do not add up); the message names the file, cohort and key.
    InputDataError
        The file does not exist.
    """
    if path is None:
        return _copy.deepcopy(_packaged())
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputDataError(f"catalog file {p} does not exist; give a TOML file laid out like the bundled "
                             "cohorts.toml (`mgtranscript datasets --show ACC` prints an entry).")
    return _parse(p.read_bytes(), str(p))


def _parse(raw: bytes, source: str) -> dict[str, dict]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source} is not valid TOML: {exc}") from exc
    extra = [k for k in data if k != "cohorts"]
    if extra:
        raise CatalogError(f"{source}: unknown top-level key(s) {extra}; every cohort goes under "
                           "[cohorts.<ACCESSION>].")
    cohorts = data.get("cohorts")
    if not isinstance(cohorts, dict) or not cohorts:
        raise CatalogError(f"{source} has no [cohorts.<ACCESSION>] tables.")
    _validate(cohorts, source)
    return cohorts


@functools.lru_cache(maxsize=1)
def _packaged() -> dict[str, dict]:
    res = resources.files("mgtranscript").joinpath("data/cohorts.toml")
    cohorts = _parse(res.read_bytes(), _BUNDLED)
    for c in cohorts.values():
        c["catalog_file"] = "bundled"
    return cohorts


def merge_catalog(user: CatalogLike | None) -> dict[str, dict]:
    """The bundled catalog with ``user`` merged over it (a user entry replaces a bundled
    entry of the same accession as a whole). Validated; returns a fresh dict."""
    merged = _copy.deepcopy(_packaged())
    if user is None:
        return merged
    if isinstance(user, Mapping):
        source = "catalog="
        entries = _copy.deepcopy(dict(user["cohorts"] if "cohorts" in user else user))
        _validate(entries, source)
    else:
        source = str(Path(user).expanduser())
        entries = load_catalog(user)
    for acc, entry in entries.items():
        if acc in merged:
            logger.info("catalog %s replaces the bundled entry of %s", source, acc)
        entry["catalog_file"] = source
        merged[acc] = entry
    return merged


@contextlib.contextmanager
def use_catalog(catalog: CatalogLike | None) -> Iterator[dict[str, dict]]:
    """Within the block, every catalog look-up (labels, counts layout, design, ``catalog()``)
    sees the bundled catalog with ``catalog`` merged over it. ``None``: no change.

    Examples
    --------
    >>> with use_catalog("my_cohorts.toml"):          # doctest: +SKIP
    ...     adata = load_cohort("GSE48452")
    """
    if catalog is None:
        yield _cohorts()
        return
    token = _ACTIVE.set(merge_catalog(catalog))
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


def _cohorts() -> dict[str, dict]:
    """The catalog in force (bundled, or merged with a user catalog by :func:`use_catalog`)."""
    active = _ACTIVE.get()
    return active if active is not None else _packaged()


def catalog(catalog: CatalogLike | None = None) -> pd.DataFrame:
    """The liver cohorts mgtranscript knows, one row per cohort.

    Parameters
    ----------
    catalog
        A user catalog (TOML path or parsed mapping) merged over the bundled one.

    Returns
    -------
    DataFrame indexed by accession with columns ``title``, ``disease_area``,
    ``technology``, ``platform``, ``source``, ``data_source``, ``expression_file``,
    ``n_samples``, ``design``, ``reference``, ``conditions``, ``expected``,
    ``citation``, ``pmid``, ``catalog_file`` (``bundled`` or the user file).
    """
    with use_catalog(catalog) as cohorts:
        rows = []
        for acc, c in cohorts.items():
            exp = c.get("expected", {})
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
                    "expected": ", ".join(f"{k} {v}" for k, v in exp.items()
                                          if k not in catalog_schema.EXPECTED_META_KEYS),
                    "citation": c["citation"],
                    "pmid": str(c["pmid"]),
                    "catalog_file": c.get("catalog_file", "bundled"),
                }
            )
    return pd.DataFrame(rows).set_index("accession", drop=False)


def _resolve(accession: str) -> str:
    cohorts = _cohorts()
    acc = str(accession).strip()
    if acc in cohorts:
        return acc
    for k in cohorts:
        if k.upper() == acc.upper():
            return k
    raise InputDataError(
        f"{accession!r} is not in the cohort catalog (known: {', '.join(cohorts)}). "
        "Add a [cohorts.<ACCESSION>] table to a catalog file and pass it with --catalog FILE "
        "(catalog= in Python); `mgtranscript datasets --draft ACC` proposes one."
    )


def cohort_info(accession: str, *, catalog: CatalogLike | None = None) -> dict[str, Any]:
    """Everything the catalog says about one cohort (a deep copy; safe to modify).

    Raises
    ------
    InputDataError
        If the accession is not in the catalog.
    """
    with use_catalog(catalog):
        return _copy.deepcopy(_cohorts()[_resolve(accession)])


def condition_order(accession: str, *, catalog: CatalogLike | None = None) -> list[str]:
    """The cohort's conditions from reference to most severe (e.g. healthy < obese < NAFL < NASH)."""
    with use_catalog(catalog):
        return list(_cohorts()[_resolve(accession)]["condition_order"])


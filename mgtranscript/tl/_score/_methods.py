"""The scoring methods' own options, read from their signatures: :func:`method_options`,
:func:`check_options` (names and value types) and the documented table :func:`score_methods`.

A method's options are the keyword-only parameters of its ``<method>_matrix`` function (see
``_runner``); their descriptions are that function's numpydoc ``Parameters`` entries. Nothing
here is kept by hand: a new option of a method appears in the table and is accepted by
:func:`mgtranscript.tl.score` as soon as the method's function takes it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InputDataError, MgTranscriptError
from ._runner import INTERNAL_OPTIONS, METHODS, get_method

__all__ = ["method_options", "check_options", "score_methods"]

#: Columns of :func:`score_methods`.
SCORE_METHODS_COLUMNS = ["method", "option", "default", "type", "description"]


def _options(method: str) -> list[inspect.Parameter]:
    _mod, func = get_method(method)
    return [p for p in inspect.signature(func).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in INTERNAL_OPTIONS]


def method_options(method: str) -> dict[str, Any]:
    """The options of a scoring method and their defaults.

    Parameters
    ----------
    method
        A name of :data:`METHODS` (e.g. ``"ssgsea"``).

    Returns
    -------
    dict
        Option name -> default, in the order of the method's signature (empty for a method
        without options). :func:`score_methods` gives the same with descriptions.
    """
    return {p.name: p.default for p in _options(method)}


def _annotation(p: inspect.Parameter) -> str:
    ann = p.annotation
    if ann is inspect.Parameter.empty:
        return ""
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


#: annotation word -> test of a value
_TYPE_TESTS = {
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)),
    "float": lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)),
    "str": lambda v: isinstance(v, str),
    "None": lambda v: v is None,
}


def _type_ok(annotation: str, value: Any) -> bool:
    words = [w.strip() for w in annotation.split("|")]
    if not words or any(w not in _TYPE_TESTS for w in words):
        return True  # an annotation this check does not read: the method checks the value itself
    return any(_TYPE_TESTS[w](value) for w in words)


def check_options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check options against the method's signature: known names, values of the annotated type.

    Parameters
    ----------
    method
        A name of :data:`METHODS`.
    options
        Option name -> value, as given to :func:`mgtranscript.tl.score`.

    Returns
    -------
    dict
        The options as a plain dict.

    Raises
    ------
    MgTranscriptError
        An option the method does not take (the message lists its options with their defaults);
        an :class:`~mgtranscript.errors.InputDataError` for a value of the wrong type.
    """
    params = {p.name: p for p in _options(method)}
    unknown = [k for k in options if k not in params]
    if unknown:
        listing = ", ".join(f"{k}={p.default!r}" for k, p in params.items()) or "(none)"
        others = [m for m in METHODS if m != method and any(k in method_options(m) for k in unknown)]
        hint = f" ({', '.join(map(repr, unknown))} belongs to method {' / '.join(others)})" if others else ""
        raise MgTranscriptError(
            f"method {method!r} does not take option(s) {', '.join(map(repr, unknown))}; "
            f"its options are: {listing}{hint}. See mgtranscript.tl.score_methods()"
        )
    for name, value in options.items():
        ann = _annotation(params[name])
        if not _type_ok(ann, value):
            raise InputDataError(
                f"{method}: option {name} must be {ann.replace(' | ', ' or ')}, got {value!r} "
                f"({type(value).__name__}); default {params[name].default!r}"
            )
    return dict(options)


def _described(func: Any) -> dict[str, str]:
    """Parameter name -> its description in the function's numpydoc ``Parameters`` section."""
    doc = inspect.getdoc(func) or ""
    m = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    out: dict[str, str] = {}
    name = None
    for line in (m.group(1) if m else "").splitlines():
        if line and not line[0].isspace():
            name = line.split(":")[0].strip()
            out[name] = ""
        elif name is not None and line.strip():
            out[name] = f"{out[name]} {line.strip()}".strip()
    return out


def score_methods() -> pd.DataFrame:
    """The scoring methods of :func:`mgtranscript.tl.score` and their options.

    Read from the methods themselves: an option is a keyword-only parameter of the method's
    ``<method>_matrix`` function, described in that function's docstring. Pass options to
    :func:`mgtranscript.tl.score` as keywords, e.g. ``score(adata, method="gsva",
    kcdf="poisson")``.

    Returns
    -------
    pandas.DataFrame
        One row per method and option (a method without options has one row with an empty
        ``option``): ``method``, ``option``, ``default`` (the value used when the option is
        not given), ``type`` (the annotation, e.g. ``"float"`` or ``"int | None"``),
        ``description`` (one line of plain words).

    Examples
    --------
    >>> import mgtranscript as mg
    >>> table = mg.tl.score_methods()
    >>> table.loc[table["method"] == "plage", ["option", "default"]].values.tolist()
    [['orient', True]]
    """
    rows = []
    for method in METHODS:
        _mod, func = get_method(method)
        desc = _described(func)
        opts = _options(method)
        for p in opts:
            rows.append({"method": method, "option": p.name, "default": p.default, "type": _annotation(p),
                         "description": desc.get(p.name, "")})
        if not opts:
            rows.append({"method": method, "option": "", "default": None, "type": "",
                         "description": "no options"})
    return pd.DataFrame(rows, columns=SCORE_METHODS_COLUMNS)

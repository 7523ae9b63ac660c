"""Write one catalog entry as TOML (the standard library reads TOML but does not write it).

The output is the layout of the bundled ``cohorts.toml``: scalar keys, then ``[counts]``,
``[expected]``, ``[[labels]]`` rules, ``[numeric.<field>]`` and ``[pairing]`` tables.
"""

from __future__ import annotations

import json

__all__ = ["entry_to_toml"]

_ORDER = ("accession", "title", "disease_area", "source", "platform", "technology", "data_source",
          "expression_file", "gene_id_type", "n_samples", "citation", "pmid", "unverified", "confidence",
          "design", "reference", "condition_order", "subgroup_order", "fibrosis_order", "sample_sheet", "notes")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v), ensure_ascii=False)  # JSON string escapes are TOML basic-string escapes


def _key(k) -> str:
    k = str(k)
    return k if k and all(c.isalnum() or c in "_-" for c in k) else json.dumps(k)


def _table(header: str, d: dict) -> list[str]:
    return [f"[{header}]"] + [f"{_key(k)} = {_value(v)}" for k, v in d.items()] + [""]


def entry_to_toml(accession: str, entry: dict) -> str:
    """TOML text of ``[cohorts.<accession>]`` and its sub-tables."""
    base = f"cohorts.{_key(accession)}"
    lines = [f"[{base}]"]
    keys = [k for k in _ORDER if k in entry] + [k for k in entry if k not in _ORDER and not isinstance(entry[k], (dict, list))
                                                 and k != "catalog_file"]
    lines += [f"{_key(k)} = {_value(entry[k])}" for k in keys]
    lines.append("")
    for sub in ("load", "counts", "expected", "pairing"):
        if sub in entry:
            lines += _table(f"{base}.{sub}", entry[sub])
    for rule in entry.get("labels", []):
        lines += [f"[[{base}.labels]]"] + [f"{_key(k)} = {_value(v)}" for k, v in rule.items()] + [""]
    for name, spec in (entry.get("numeric") or {}).items():
        lines += _table(f"{base}.numeric.{_key(name)}", spec)
    return "\n".join(lines)

"""The schema of a cohort catalog (``cohorts.toml`` or a user's ``--catalog FILE``).

:func:`validate` checks every table of every cohort before anything is loaded and raises
:class:`~mgtranscript.errors.CatalogError` with one line naming the file, the cohort, the
key and the fix: unknown keys (with a "did you mean"), missing required keys, bad rule
syntax, labels outside the vocabulary, and expected counts that do not add up to
``n_samples``. Checks that need the samples (a rule that matches no sample, two rules that
give one sample different labels, labels that disagree with the expected counts) run when
a cohort is labelled (:mod:`mgtranscript.datasets._label_checks`).
"""

from __future__ import annotations

import difflib
import re

from ..errors import CatalogError

__all__ = ["validate", "ENTRY_KEYS", "RULE_KEYS", "EXPECTED_META_KEYS", "UNLABELLED"]

#: the label of samples no rule covers
UNLABELLED = "unlabelled"

#: every key a cohort table may hold (required ones in REQUIRED_KEYS)
ENTRY_KEYS = frozenset({
    "accession", "title", "disease_area", "source", "platform", "technology", "data_source",
    "expression_file", "gene_id_type", "n_samples", "citation", "pmid", "unverified", "design",
    "reference", "condition_order", "subgroup_order", "fibrosis_order", "notes", "sample_sheet",
    "confidence", "load", "counts", "labels", "numeric", "pairing", "expected", "plan_order",
})
REQUIRED_KEYS = (
    "accession", "title", "disease_area", "platform", "technology", "data_source",
    "n_samples", "citation", "pmid", "design", "reference", "condition_order", "labels", "expected",
)
RULE_KEYS = frozenset({"columns", "equals", "regex", "disease", "condition", "subgroup", "optional"})
NUMERIC_KEYS = frozenset({"columns", "min", "max", "regex"})
PAIRING_KEYS = frozenset({"method", "start", "n_pairs", "prefix", "rule", "groups", "columns", "column",
                          "regex"})
COUNTS_KEYS = frozenset({"sep", "header_rows", "sample_name_row", "id_columns", "gene_id_type",
                         "drop_columns", "match", "match_column"})
LOAD_KEYS = frozenset({"platform", "source"})
#: keys of [expected] that are not group counts
EXPECTED_META_KEYS = frozenset({"source", "by", "enforce", "note"})
PAIRING_METHODS = ("gsm_offset", "order", "regex", "column")
MATCH_METHODS = ("exact", "integer", "trailing_number")
DISEASE_AREAS = ("MASLD", "ALD", "HCC", "DILI")


def _unknown(keys, allowed, where: str, what: str) -> None:
    for k in keys:
        if k not in allowed:
            hit = difflib.get_close_matches(str(k), sorted(allowed), n=1)
            hint = f"did you mean {hit[0]!r}? " if hit else ""
            raise CatalogError(f"{where}: unknown {what} key {k!r}; {hint}allowed: {', '.join(sorted(allowed))}.")


def _check_expected(c: dict, where: str, conditions, subgroups) -> None:
    exp = c["expected"]
    if not isinstance(exp, dict):
        raise CatalogError(f"{where}: [expected] must be a table of group counts with a 'source'.")
    by = exp.get("by", "condition")
    if by not in ("condition", "subgroup"):
        raise CatalogError(f"{where}: expected.by must be 'condition' or 'subgroup', not {by!r}.")
    if not str(exp.get("source", "")).strip():
        raise CatalogError(f"{where}: [expected] needs a 'source' naming where the counts come from "
                           "(GEO summary, publication table).")
    if "enforce" in exp and not isinstance(exp["enforce"], bool):
        raise CatalogError(f"{where}: expected.enforce must be true or false.")
    groups = {k: v for k, v in exp.items() if k not in EXPECTED_META_KEYS}
    if not groups:
        raise CatalogError(f"{where}: [expected] lists no group counts (e.g. healthy = 14).")
    allowed = (list(subgroups) if by == "subgroup" else list(conditions)) + ["unlabelled"]
    for k, v in groups.items():
        if k not in allowed:
            hit = difflib.get_close_matches(str(k), allowed, n=1)
            raise CatalogError(f"{where}: expected count for {k!r}, which is not a {by} of the cohort"
                               f"{f' (did you mean {hit[0]!r}?)' if hit else ''}; {by}s: {', '.join(allowed)}.")
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise CatalogError(f"{where}: expected count {k} = {v!r} is not a non-negative whole number.")
    total = sum(groups.values())
    if total != int(c["n_samples"]):
        raise CatalogError(f"{where}: expected counts add up to {total}, not n_samples = {c['n_samples']} "
                           f"({', '.join(f'{k} {v}' for k, v in groups.items())}); fix the counts or n_samples.")


def validate(cohorts: dict[str, dict], source: str, *, diseases, conditions) -> None:
    """Check a parsed catalog (``{accession: entry}``) against the schema.

    Raises
    ------
    CatalogError
        The first problem found, naming ``source``, the cohort and the key.
    """
    for acc, c in cohorts.items():
        where = f"{source}: cohort {acc}"
        if not isinstance(c, dict):
            raise CatalogError(f"{where} is not a table; write it as [cohorts.{acc}].")
        _unknown(c, ENTRY_KEYS, where, "cohort")
        missing = [k for k in REQUIRED_KEYS if k not in c]
        if missing:
            raise CatalogError(f"{where} lacks {missing}; add them (see the top of the bundled cohorts.toml).")
        if c["accession"] != acc:
            raise CatalogError(f"{where}: accession field {c['accession']!r} differs from the table name.")
        if not isinstance(c["n_samples"], int) or c["n_samples"] < 1:
            raise CatalogError(f"{where}: n_samples must be a positive whole number, not {c['n_samples']!r}.")
        if "plan_order" in c and (not isinstance(c["plan_order"], int) or isinstance(c["plan_order"], bool)
                                  or c["plan_order"] < 1):
            raise CatalogError(f"{where}: plan_order must be a positive whole number (the cohort's place in the "
                               f"default plan), not {c['plan_order']!r}.")
        if c["disease_area"] not in DISEASE_AREAS:
            raise CatalogError(f"{where}: disease_area must be one of {DISEASE_AREAS}, not {c['disease_area']!r}.")
        if c["design"] not in ("paired", "unpaired"):
            raise CatalogError(f"{where}: design must be 'paired' or 'unpaired', not {c['design']!r}.")
        if c["design"] == "paired" and "pairing" not in c:
            raise CatalogError(f"{where}: a paired design needs a [pairing] rule.")
        if c["reference"] not in c["condition_order"]:
            raise CatalogError(f"{where}: reference {c['reference']!r} is not in condition_order.")
        for k in c["condition_order"]:
            if k not in conditions:
                raise CatalogError(f"{where}: condition_order names {k!r}, not a condition of the vocabulary "
                                   f"({', '.join(conditions)}).")
        if not isinstance(c["labels"], list) or not c["labels"]:
            raise CatalogError(f"{where}: needs at least one [[cohorts.{acc}.labels]] rule.")
        for i, rule in enumerate(c["labels"]):
            rw = f"{where}, label rule {i + 1}"
            _unknown(rule, RULE_KEYS, rw, "label rule")
            if not rule.get("columns") or not isinstance(rule["columns"], list):
                raise CatalogError(f"{rw}: needs 'columns', a list of sample-table columns.")
            if ("equals" in rule) == ("regex" in rule):
                raise CatalogError(f"{rw}: give exactly one of 'equals' or 'regex'.")
            if "regex" in rule:
                try:
                    re.compile(rule["regex"])
                except re.error as exc:
                    raise CatalogError(f"{rw}: bad regex {rule['regex']!r}: {exc}") from exc
            if rule.get("disease") not in diseases:
                raise CatalogError(f"{rw}: disease must be one of {tuple(diseases)}, not {rule.get('disease')!r}.")
            if rule.get("condition") not in conditions:
                raise CatalogError(f"{rw}: condition must be one of {tuple(conditions)}, not "
                                   f"{rule.get('condition')!r}.")
            if rule["condition"] not in c["condition_order"]:
                raise CatalogError(f"{rw}: condition {rule['condition']!r} missing from condition_order.")
            if "optional" in rule and not isinstance(rule["optional"], bool):
                raise CatalogError(f"{rw}: optional must be true or false.")
        for fname, spec in (c.get("numeric") or {}).items():
            _unknown(spec, NUMERIC_KEYS, f"{where}, numeric.{fname}", "numeric")
        pairing = c.get("pairing")
        if pairing is not None:
            _unknown(pairing, PAIRING_KEYS, f"{where}, pairing", "pairing")
            if pairing.get("method") not in PAIRING_METHODS:
                raise CatalogError(f"{where}: pairing method must be one of {PAIRING_METHODS}.")
        counts = c.get("counts")
        if counts is not None:
            _unknown(counts, COUNTS_KEYS, f"{where}, counts", "counts")
            if counts.get("match", "exact") not in MATCH_METHODS:
                raise CatalogError(f"{where}: counts.match must be one of {MATCH_METHODS}.")
        if "load" in c:
            _unknown(c["load"], LOAD_KEYS, f"{where}, load", "load")
        subgroups = list(c.get("subgroup_order", [])) + sorted({r["subgroup"] for r in c["labels"] if "subgroup" in r})
        _check_expected(c, where, c["condition_order"], subgroups)

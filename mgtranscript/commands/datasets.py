"""``mgtranscript datasets``: the liver cohort catalog (table, TSV, or one cohort's rules)."""

from __future__ import annotations

import argparse
import sys

NAME = "datasets"
HELP = "list the liver cohorts mgtranscript knows (--show ACC for one cohort's details and label rules)"

_TABLE_COLUMNS = ["accession", "disease_area", "technology", "platform", "data_source", "n_samples", "design",
                  "reference", "pmid"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tsv", action="store_true", help="tab-separated output with every catalog column")
    g.add_argument("--show", metavar="ACC", help="details, design and label rules of one cohort")
    p.add_argument("--area", choices=["MASLD", "ALD", "HCC"], help="only cohorts of this disease area")


def _format_rule(rule: dict) -> str:
    test = f"== {rule['equals']!r}" if "equals" in rule else f"~ /{rule['regex']}/"
    cols = " | ".join(rule["columns"])
    extra = f", subgroup={rule['subgroup']}" if "subgroup" in rule else ""
    return f"{cols} {test}  ->  disease={rule['disease']}, condition={rule['condition']}{extra}"


def _show(acc: str) -> int:
    from ..datasets.catalog import cohort_info

    info = cohort_info(acc)
    out = sys.stdout
    out.write(f"{info['accession']}: {info['title']}\n")
    keys = ["disease_area", "source", "platform", "technology", "data_source", "expression_file", "gene_id_type",
            "n_samples", "design", "reference", "citation", "pmid", "sample_sheet", "unverified"]
    for k in keys:
        if k in info:
            v = info[k]
            out.write(f"  {k:16s} {', '.join(map(str, v)) if isinstance(v, list) else v}\n")
    out.write(f"  {'conditions':16s} {' < '.join(info['condition_order'])}\n")
    if "subgroup_order" in info:
        out.write(f"  {'subgroups':16s} {' < '.join(info['subgroup_order'])}\n")
    out.write("label rules (first match wins):\n")
    for i, rule in enumerate(info["labels"], 1):
        out.write(f"  {i:2d}. {_format_rule(rule)}\n")
    for fname, spec in info.get("numeric", {}).items():
        rng = f"[{spec.get('min', '-inf')}, {spec.get('max', 'inf')}]"
        out.write(f"  numeric {fname}: from {' | '.join(spec.get('columns', [fname]))} in {rng}\n")
    if "pairing" in info:
        pr = info["pairing"]
        out.write(f"pairing: {pr['method']}: {pr.get('rule', '')}\n")
    if "counts" in info:
        c = info["counts"]
        out.write("author counts: " + ", ".join(f"{k}={v!r}" for k, v in c.items()) + "\n")
    if info.get("notes"):
        out.write("notes:\n")
        for line in str(info["notes"]).strip().splitlines():
            out.write(f"  {line}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # e.g. `mgtranscript datasets --tsv | head`
        return 0


def _run(args: argparse.Namespace) -> int:
    from ..datasets.catalog import catalog

    if args.show:
        return _show(args.show)
    df = catalog()
    if args.area:
        df = df[df["disease_area"] == args.area]
    if args.tsv:
        df.to_csv(sys.stdout, sep="\t", index=False)
        return 0
    table = df[_TABLE_COLUMNS].astype(str)
    widths = {c: max(len(c), table[c].str.len().max() if len(table) else 0) for c in _TABLE_COLUMNS}
    sys.stdout.write("  ".join(c.ljust(widths[c]) for c in _TABLE_COLUMNS).rstrip() + "\n")
    for _, row in table.iterrows():
        sys.stdout.write("  ".join(row[c].ljust(widths[c]) for c in _TABLE_COLUMNS).rstrip() + "\n")
    sys.stdout.write(f"# {len(table)} cohorts; `mgtranscript datasets --show ACC` for rules, --tsv for all columns\n")
    return 0

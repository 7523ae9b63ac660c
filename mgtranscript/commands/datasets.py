"""``mgtranscript datasets``: the liver cohort catalog (table, TSV, or one cohort's rules), and
``--draft ACC``: a catalog entry proposed from a series' own metadata (or a sample table)."""

from __future__ import annotations

import argparse
import sys

NAME = "datasets"
HELP = ("list the liver cohorts mgtranscript knows (--show ACC for one cohort's details and label rules; "
        "--draft ACC proposes a catalog entry from a series' metadata)")

_TABLE_COLUMNS = ["accession", "disease_area", "technology", "platform", "data_source", "n_samples", "design",
                  "reference", "pmid"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tsv", action="store_true", help="tab-separated output with every catalog column")
    g.add_argument("--show", metavar="ACC", help="details, design and label rules of one cohort")
    p.add_argument("--draft", metavar="ACC",
                   help="propose a catalog entry (TOML) from a GEO series' own sample metadata, or from a sample "
                        "table file (SRA Run Selector export, GEOquery/GEOparse pData export; CSV or TSV); with "
                        "--tsv, one line per sample with the catalog's label columns")
    p.add_argument("--area", choices=["MASLD", "ALD", "HCC", "DILI"], help="only cohorts of this disease area")
    from ._common import add_catalog_option

    add_catalog_option(p)


def _format_rule(rule: dict) -> str:
    test = f"== {rule['equals']!r}" if "equals" in rule else f"~ /{rule['regex']}/"
    cols = " | ".join(rule["columns"])
    extra = f", subgroup={rule['subgroup']}" if "subgroup" in rule else ""
    extra += " (optional)" if rule.get("optional") else ""
    return f"{cols} {test}  ->  disease={rule['disease']}, condition={rule['condition']}{extra}"


def _show(acc: str) -> int:
    from ..datasets import cohort_info

    info = cohort_info(acc)
    exp = info.get("expected", {})
    out = sys.stdout
    out.write(f"{info['accession']}: {info['title']}\n")
    keys = ["disease_area", "source", "platform", "technology", "data_source", "expression_file", "gene_id_type",
            "n_samples", "design", "reference", "citation", "pmid", "sample_sheet", "unverified"]
    for k in keys:
        if k in info:
            v = info[k]
            out.write(f"  {k:16s} {', '.join(map(str, v)) if isinstance(v, list) else v}\n")
    out.write(f"  {'conditions':16s} {' < '.join(info['condition_order'])}\n")
    if exp:
        from ..datasets import EXPECTED_META_KEYS

        counts = ", ".join(f"{k} {v}" for k, v in exp.items() if k not in EXPECTED_META_KEYS)
        out.write(f"  {'expected':16s} {counts} (by {exp.get('by', 'condition')}; source: {exp.get('source', '')})"
                  f"{'' if exp.get('enforce', True) else ' [not enforced]'}\n")
    if info.get("confidence"):
        out.write(f"  {'confidence':16s} {info['confidence']}\n")
    out.write(f"  {'catalog':16s} {info.get('catalog_file', 'bundled')}\n")
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


def _draft(args: argparse.Namespace) -> int:
    from ..datasets import LABEL_COLUMNS, infer_labels

    draft = infer_labels(args.draft)
    if not draft.liver:
        sys.stdout.write(draft.summary() + "\n")
        return 0
    if args.tsv:
        cols = [c for c in LABEL_COLUMNS if c in draft.labels]
        draft.labels[cols].to_csv(sys.stdout, sep="\t", index=False)
        return 0
    sys.stdout.write(draft.to_toml())
    sys.stdout.write(f"# {draft.accession}: " + ", ".join(f"{k} {v}" for k, v in draft.counts.items())
                     + "; save as my.toml and use --catalog my.toml (--tsv for one line per sample)\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ._common import catalog_context

    with catalog_context(args):
        return _run_with_catalog(args)


def _run_with_catalog(args: argparse.Namespace) -> int:
    from ..datasets import catalog

    if args.draft:
        if args.show:
            from ..errors import UsageError

            raise UsageError("--draft and --show do not go together; give one of them")
        return _draft(args)
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
    user = int((df["catalog_file"] != "bundled").sum())
    sys.stdout.write(f"# {len(table)} cohorts{f' ({user} from {args.catalog})' if user else ''}; `mgtranscript "
                     "datasets --show ACC` for rules, --tsv for all columns, --draft ACC to propose an entry\n")
    return 0

"""``mgtranscript score``: score gene sets in an .h5ad file, write a samples x sets TSV."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

NAME = "score"
HELP = "score gene sets (default: the Mg liver sets) per sample of an .h5ad file"


#: The scoring methods named in ``--help`` (the registry is :data:`mgtranscript.tl.METHODS`; a test keeps
#: the two equal): building the parser imports no analysis library, the name is checked when the command runs.
METHOD_NAMES = ("ssgsea", "gsva", "zscore", "plage", "singscore", "mean")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="AnnData .h5ad file, samples x genes (gene symbols as var_names)")
    p.add_argument("--gene-sets", default="magnesium",
                   help="'magnesium' (default), 'magnesium:MG_LIVER_CORE', a GMT path or an MSigDB "
                        "collection ('hallmark', 'reactome', 'c5.bp', ...)")
    p.add_argument("--method", default="ssgsea",
                   help=f"scoring method: {', '.join(METHOD_NAMES)} (default ssgsea)")
    p.add_argument("--out", "-o", help="output TSV (samples x sets); default: stdout")
    p.add_argument("--layer", help="use this layer instead of X")
    p.add_argument("--min-size", type=int, default=1, help="drop sets with fewer genes in the data (default 1)")
    p.add_argument("--max-size", type=int, help="drop sets with more genes in the data")
    p.add_argument("--key-added", help="key for obsm/uns (default mg_<method>); with --write-h5ad")
    p.add_argument("--option", action="append", default=[], metavar="K=V",
                   help="a method option, e.g. --option alpha=0.5 --option ties=gsva (repeatable)")
    p.add_argument("--backed", action="store_true",
                   help="read the file backed (on disk) and score in sample chunks (sample-independent methods)")
    p.add_argument("--chunk-size", type=int, help="samples per chunk")
    p.add_argument("--write-h5ad", metavar="PATH", help="also write the scored AnnData here")
    p.add_argument("--coverage-out", metavar="PATH", help="also write the coverage table as TSV")


def _convert(text: str, default: Any, key: str) -> Any:
    from ..errors import UsageError  # a bad --option is a usage error (exit 2)

    low = text.strip().lower()
    if isinstance(default, bool):
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"--option {key}={text}: expected true or false")
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--option {key}={text}: expected an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"--option {key}={text}: expected a number") from None
    if default is None or default is inspect.Parameter.empty:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def parse_options(method: str, items: list[str]) -> dict[str, Any]:
    """``["alpha=0.5", "ties=gsva"]`` -> typed options for ``method``."""
    from ..errors import UsageError  # a bad --option is a usage error (exit 2)
    from ..tl import method_options

    defaults = method_options(method)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--option {item!r}: write it as KEY=VALUE, e.g. --option alpha=0.5")
        out[key] = _convert(value, defaults.get(key), key) if key in defaults else value
    return out


def run(args: argparse.Namespace) -> int:
    from .. import get
    from ..pipeline import atomic_file, check_input_file, check_method, check_output_file
    from ..tl import score
    from ._common import read_h5ad

    # every argument first: method, input, outputs, options
    check_method(args.method)
    check_input_file(args.input, "input", ".h5ad file")
    outs = {opt: check_output_file(path, option=opt) for opt, path in
            (("--out", args.out), ("--write-h5ad", args.write_h5ad), ("--coverage-out", args.coverage_out))
            if path}
    options = parse_options(args.method, args.option)
    adata = read_h5ad(args.input, backed=args.backed)
    key = args.key_added or f"mg_{args.method}"
    score(adata, args.gene_sets, method=args.method, layer=args.layer, key_added=key,
          min_size=args.min_size, max_size=args.max_size, chunk_size=args.chunk_size, **options)
    table = get.scores(adata, key)
    cov = get.coverage(adata, key)
    if "--out" in outs:
        with atomic_file(outs["--out"]) as tmp:
            table.to_csv(tmp, sep="\t", index_label="sample", float_format="%.10g")
    else:
        table.to_csv(sys.stdout, sep="\t", index_label="sample", float_format="%.10g")
    if "--coverage-out" in outs:
        with atomic_file(outs["--coverage-out"]) as tmp:
            cov.to_csv(tmp, sep="\t", index_label="set")
    if "--write-h5ad" in outs:
        if getattr(adata, "isbacked", False):
            adata = adata.to_memory()
        with atomic_file(outs["--write-h5ad"]) as tmp:
            adata.write_h5ad(tmp)
    report = sys.stderr if not args.out else sys.stdout
    cols = [c for c in ("n_genes", "n_matched", "n_resolved_by_alias", "n_missing", "final_size", "kept", "reason")
            if c in cov.columns]
    print(f"# {args.method} scores for {table.shape[1]} set(s) x {table.shape[0]} sample(s)"
          + (f" -> {args.out}" if args.out else ""), file=report)
    print("# gene-set coverage:", file=report)
    print(cov[cols].to_string(), file=report)
    return 0

"""``mgtranscript genesets``: list gene sets, show their coverage in a dataset, export a GMT."""

from __future__ import annotations

import argparse

NAME = "genesets"
HELP = "list gene sets (bundled Mg sets, a GMT, an MSigDB collection), their coverage in an .h5ad, or export a GMT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default="magnesium",
                   help="'magnesium' (default), 'magnesium:all', 'magnesium:MG_LIVER_CORE', a GMT path, "
                        "or an MSigDB collection ('hallmark', 'reactome', 'c5.bp', ...)")
    p.add_argument("--coverage", metavar="H5AD",
                   help="report how many genes of each set an AnnData file measures (after alias resolution)")
    p.add_argument("--genes", action="store_true", help="print each set's genes")
    p.add_argument("--export", metavar="GMT", help="write the sets as a GMT file")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .. import genesets
    from ..pipeline import atomic_file, check_input_file, check_output_file
    from ._common import read_h5ad

    export = check_output_file(args.export, option="--export") if args.export else None
    if args.coverage:
        check_input_file(args.coverage, "--coverage", ".h5ad file")
    sets = genesets.load(args.spec)
    if export is not None:
        with atomic_file(export, option="--export") as tmp:
            sets.to_gmt(tmp)
        print(f"wrote {len(sets)} set(s) to {export}")
    if args.coverage:
        adata = read_h5ad(args.coverage, option="--coverage", backed=True)
        _, cov = genesets.match(sets, list(adata.var_names))
        cols = [c for c in ("n_genes", "n_matched", "n_resolved_by_alias", "final_size", "kept", "missing",
                            "resolved") if c in cov.columns]
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 60):
            print(cov[cols].to_string())
        return 0
    meta = sets.meta
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 70):
        cols = [c for c in ("n_genes", "direction", "source", "description") if c in meta.columns]
        print(meta[cols].to_string())
    if args.genes:
        for name, genes in sets.items():
            print(f"{name}\t{' '.join(genes)}")
    print(f"# {len(sets)} set(s) from {args.spec!r}")
    return 0

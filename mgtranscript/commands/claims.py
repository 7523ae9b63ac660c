"""``mgtranscript claims``: a verdict for every claim of the review."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "claims"
HELP = "evaluate every claim in seeds/claims.tsv on the cohorts available (transcript level)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="use the tables of an earlier `mgtranscript run --out DIR` instead of re-running")
    p.add_argument("--out", default="claims.tsv", help="verdict table to write (TSV)")
    p.add_argument("--cohorts", nargs="+", metavar="ACC")
    p.add_argument("--samples", action="append", metavar="ACC=SHEET")
    p.add_argument("--claims", help="a claims TSV (default: the project's seeds/claims.tsv)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..claims import evaluate_claims, load_claims
    from .run import parse_samples

    claims = load_claims(args.claims) if args.claims else None
    if args.from_dir:
        t = Path(args.from_dir) / "tables"

        def read(name):
            p = t / f"{name}.tsv"
            return pd.read_csv(p, sep="\t") if p.exists() and p.stat().st_size > 1 else pd.DataFrame()

        verdicts = evaluate_claims(comparisons=read("comparisons"), trends=read("trends"),
                                   coupling=read("coupling"), correlations=read("correlations"),
                                   meta=read("meta"), cohorts=read("cohorts"), claims=claims)
    else:
        import tempfile

        from ..pipeline import run_analysis

        with tempfile.TemporaryDirectory() as tmp:
            res = run_analysis(tmp, cohorts=args.cohorts, samples=parse_samples(args.samples),
                               plots=False, report=False)
        verdicts = evaluate_claims(comparisons=res.comparisons, trends=res.trends, coupling=res.coupling,
                                   correlations=res.correlations, meta=res.meta, cohorts=res.cohorts,
                                   claims=claims)
    verdicts.to_csv(args.out, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(verdicts[["claim_id", "verdict", "effect_kind", "effect", "qval", "cohorts", "reason"]]
              .to_string(index=False))
    print(f"\nwrote {args.out} ({len(verdicts)} claims; verdicts concern transcript levels only)")
    return 0

"""``mgtranscript run``: the default analysis plan end to end."""

from __future__ import annotations

import argparse
import sys

NAME = "run"
HELP = "run the default analysis over the catalog's cohorts and write report, tables and plots"


def parse_samples(values: list[str] | None) -> dict[str, str]:
    """``ACC=PATH`` pairs (repeatable)."""
    out = {}
    for v in values or []:
        acc, sep, path = v.partition("=")
        if not sep:
            raise SystemExit(f"--samples expects ACCESSION=PATH, got {v!r}")
        out[acc.strip().upper()] = path
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="out", help="output directory (default: out/)")
    p.add_argument("--cohorts", nargs="+", metavar="ACC",
                   help="cohorts to analyse (default: every catalog cohort)")
    p.add_argument("--samples", action="append", metavar="ACC=SHEET",
                   help="a user sample sheet for a cohort (repeatable); otherwise sheets named "
                        "<ACC>*.csv are looked up in $MGTRANSCRIPT_SAMPLES and beside a directory mirror")
    p.add_argument("--method", default="ssgsea", help="scoring method (default: ssgsea)")
    p.add_argument("--permutations", type=int, default=1000, help="GSEA prerank permutations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true", help="skip figures")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..pipeline import run_analysis

    res = run_analysis(args.out, cohorts=args.cohorts, samples=parse_samples(args.samples),
                       method=args.method, permutations=args.permutations, seed=args.seed,
                       plots=not args.no_plots, progress=not args.no_progress)
    from ..claims import _short

    print("cohorts:")
    for r in res.cohorts.itertuples():
        why = _short(r.reason, 110) if isinstance(r.reason, str) and r.reason else ""
        print(f"  {r.accession:<10} {r.status:<14} n={r.n_samples:<4} {why}")
    if not res.claims.empty:
        counts = res.claims["verdict"].value_counts().to_dict()
        print("claims: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"wrote {res.out_dir}/report.html, tables/, figures/ in {res.params.get('seconds')} s")
    analysed = (res.cohorts["status"] == "analysed").sum() if not res.cohorts.empty else 0
    if not analysed:
        print("no cohort could be analysed", file=sys.stderr)
        return 1
    return 0

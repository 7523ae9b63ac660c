"""``mgtranscript claims``: a verdict for every claim of the review.

Every argument is checked before any work; the verdict table is written to a temporary
file beside ``--out`` and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (
    add_catalog_option,
    catalog_context,
    gseapy_logs_as_ours,
    parse_samples,
)

NAME = "claims"
HELP = "evaluate every claim in seeds/claims.tsv on the cohorts available (transcript level)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="use the tables of an earlier `mgtranscript run --out DIR` instead of re-running")
    p.add_argument("--out", default="claims.tsv", help="verdict table to write (TSV)")
    p.add_argument("--cohorts", nargs="+", metavar="ACC",
                   help="cohorts to analyse (default: every catalog cohort; `mgtranscript datasets` lists them)")
    p.add_argument("--samples", action="append", metavar="ACC=SHEET",
                   help="a user sample sheet for a cohort (repeatable); otherwise sheets named <ACC>*.csv are "
                        "looked up in $MGTRANSCRIPT_SAMPLES and beside a directory mirror")
    p.add_argument("--claims", help="a claims TSV (default: the bundled claims of the review)")
    add_catalog_option(p)


def validate(args: argparse.Namespace) -> dict:
    """Check every argument before any work (one-line :class:`UsageError` otherwise)."""
    from ..pipeline import check_cohorts, check_input_file, check_output_file, check_samples
    from ..errors import UsageError

    out = check_output_file(args.out)
    claims = check_input_file(args.claims, "--claims", "claims TSV") if args.claims else None
    from_dir = None
    if args.from_dir:
        from_dir = Path(args.from_dir).expanduser()
        if not (from_dir / "tables").is_dir():
            raise UsageError(f"--from {from_dir}: no tables/ folder there; give the --out folder of an "
                             "earlier `mgtranscript run`")
        if args.cohorts or args.samples or getattr(args, "catalog", None):
            raise UsageError("--from reuses an earlier run's tables; --cohorts/--samples/--catalog apply only "
                             "without --from")
    with catalog_context(args):
        cohorts = check_cohorts(args.cohorts)
        samples = check_samples(parse_samples(args.samples), cohorts)
    return {"out": out, "claims": claims, "from_dir": from_dir, "cohorts": cohorts,
            "samples": {k: str(v) for k, v in samples.items()}, "catalog": getattr(args, "catalog", None)}


def run(args: argparse.Namespace) -> int:
    checked = validate(args)
    import pandas as pd

    from ..pipeline import atomic_file
    from ..claims import evaluate_claims, load_claims
    from ..errors import UsageError

    claims = load_claims(checked["claims"]) if checked["claims"] else None
    if checked["from_dir"]:
        t = checked["from_dir"] / "tables"

        def read(name):
            p = t / f"{name}.tsv"
            return pd.read_csv(p, sep="\t", keep_default_na=True) if p.exists() and p.stat().st_size > 1 \
                else pd.DataFrame()

        effects = read("effects")
        if effects.empty and read("comparisons").shape[0]:
            raise UsageError(f"--from {checked['from_dir']}: no tables/effects.tsv (written by an older "
                             "mgtranscript); run `mgtranscript run` again")
        verdicts = evaluate_claims(effects, design=read("design"), cohorts=read("cohorts"), claims=claims)
    else:
        import tempfile

        from ..pipeline import run_analysis

        with tempfile.TemporaryDirectory() as tmp, gseapy_logs_as_ours():
            res = run_analysis(Path(tmp) / "run", cohorts=checked["cohorts"], samples=checked["samples"],
                               plots=False, report=False, claims=claims, catalog=checked["catalog"])
        verdicts = res.claims
    with atomic_file(checked["out"]) as tmp_out:
        verdicts.to_csv(tmp_out, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(verdicts[["claim_id", "verdict", "certainty", "effect_kind", "effect", "qval", "cohorts"]]
              .to_string(index=False))
    print(f"\nwrote {checked['out']} ({len(verdicts)} claims; verdicts concern transcript levels only)")
    return 0

"""``mgtranscript run``: the default analysis plan end to end.

Every argument (method, output folder, cohorts, sample sheets) is checked before any
cohort is loaded. The results are written into a temporary folder beside ``--out`` and
swapped in only when the run completes (:func:`mgtranscript.pipeline.transactional_output`):
a failed or interrupted run leaves the previous output byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from ..errors import UsageError
from ._common import (
    add_catalog_option,
    gseapy_logs_as_ours,
    parse_samples,
    progress_flag,
    read_h5ad,
)

NAME = "run"
HELP = "run the default analysis over the catalog's cohorts and write report, tables and plots"

__all__ = ["parse_samples", "add_arguments", "run", "validate"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="out",
                   help="output folder (default: out/); replaced as a whole when the run completes")
    p.add_argument("--cohorts", nargs="+", metavar="ACC",
                   help="cohorts to analyse (default: every catalog cohort)")
    p.add_argument("--samples", action="append", metavar="ACC=SHEET",
                   help="a user sample sheet for a cohort (repeatable); otherwise sheets named "
                        "<ACC>*.csv are looked up in $MGTRANSCRIPT_SAMPLES and beside a directory mirror")
    p.add_argument("--method", default="ssgsea", help="scoring method (default: ssgsea)")
    p.add_argument("--permutations", type=_positive, default=1000, help="GSEA prerank permutations")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the GSEA permutations (default: 0; the same seed gives the same run)")
    p.add_argument("--no-plots", action="store_true", help="skip figures")
    p.add_argument("--svg", action="store_true", help="also write every figure as SVG (PNG always)")
    p.add_argument("--cells", action="append", metavar="NAME=H5AD",
                   help="per-cell data (an .h5ad of cells, log-normalised X) for claims about a mechanism inside "
                        "one cell type (repeatable); without it those claims are not testable on bulk samples")
    p.add_argument("--cell-type-key", default="cell_type", metavar="COLUMN",
                   help="obs column of --cells holding the cell types (default: cell_type)")
    p.add_argument("--donor-key", default=None, metavar="COLUMN",
                   help="obs column of --cells naming each cell's donor; correlations are combined with donors as "
                        "the unit (default: the first of donor, donor_id, individual, patient; none: donors unknown)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (also: -q, or MGTRANSCRIPT_PROGRESS=0)")
    p.add_argument("--jobs", type=_positive, default=None, metavar="N",
                   help="cohorts analysed side by side in N processes (default: the usable cores; 1: one after "
                        "another)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a dask.distributed scheduler (e.g. tcp://host:8786): every cohort runs as a task on its "
                        "cluster (needs the dask extra: pip install 'mgtranscript[dask]')")
    p.add_argument("--no-cache", action="store_true",
                   help="compute every cohort again: neither reuse nor keep parsed cohorts and results of earlier "
                        "runs (downloads stay cached)")
    add_catalog_option(p)


def validate(args: argparse.Namespace) -> dict:
    """Check every argument before any work; return the keyword arguments of the run.

    Raises
    ------
    UsageError
        One line naming the argument and the fix (exit status 2).
    """
    from ..pipeline import CLI_NAMES, check_arguments, check_input_file, check_output_path

    out = check_output_path(args.out)
    arguments = check_arguments(cohorts=args.cohorts, samples=parse_samples(args.samples), method=args.method,
                                permutations=args.permutations, catalog=getattr(args, "catalog", None),
                                jobs=getattr(args, "jobs", None), names=CLI_NAMES)
    if getattr(args, "scheduler", None):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError("--scheduler needs dask.distributed; install it with pip install "
                             "'mgtranscript[dask]', or leave --scheduler out to use processes here") from None
    cells = {}
    for spec in args.cells or []:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"--cells expects NAME=H5AD (e.g. --cells liver_sc=cells.h5ad), got {spec!r}")
        cells[name.strip()] = check_input_file(path.strip(), f"--cells {name.strip()}=", ".h5ad file")
    return {"out": out, "arguments": arguments, "samples": {k: str(v) for k, v in arguments.samples.items()},
            "cells": cells}


def run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    checked = validate(args)
    from ..pipeline import run_analysis

    out: Path = checked["out"]
    cells = {name: read_h5ad(path, option=f"--cells {name}=") for name, path in checked["cells"].items()}
    with gseapy_logs_as_ours(), _dask_client(getattr(args, "scheduler", None)) as client:
        res = run_analysis(out, arguments=checked["arguments"], cells=cells or None, cell_type_key=args.cell_type_key,
                           donor_key=args.donor_key, seed=args.seed, plots=not args.no_plots, svg=args.svg,
                           progress=progress_flag(args.no_progress), use_cache=not args.no_cache, client=client,
                           manifest={"command": "mgtranscript run", "samples": checked["samples"]})
    print("cohorts:")
    for r in res.cohorts.itertuples():
        why = _short(r.reason_short or r.reason, 110) if isinstance(r.reason, str) and r.reason else ""
        why = why[len(r.accession) + 2:] if why.startswith(f"{r.accession}: ") else why  # said once
        print(f"  {r.accession:<10} {r.status:<14} n={r.n_samples:<4} {why}")
    if not res.claims.empty:
        counts = res.claims["verdict"].value_counts().to_dict()
        print("claims: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    total = time.monotonic() - t_start
    print(f"wrote {out}/report.html, tables/, figures/, manifest.json in {total:.1f} s")
    return 0


@contextlib.contextmanager
def _dask_client(address: str | None):
    """A client of the dask.distributed scheduler at ``address`` for the run (None without one)."""
    if not address:
        yield None
        return
    import distributed

    try:
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect to a dask scheduler there ({exc}); start one "
                         "(dask scheduler) or check the address") from None
    try:
        yield client
    finally:
        client.close()


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"

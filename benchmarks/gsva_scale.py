#!/usr/bin/env python
"""GSVA as the cohort grows: 20,000 genes x 400 ... 3,200 samples.

    python3 benchmarks/gsva_scale.py                         # 400, 800, 1600, 3200 samples
    python3 benchmarks/gsva_scale.py --samples 800,1600      # a subset
    python3 benchmarks/gsva_scale.py --scheduler tcp://host:8786   # an existing dask cluster

GSVA's kernel step compares every pair of samples within every gene, ``O(genes x
samples**2)``, so doubling the cohort should cost ~4x. From 2,000 samples on,
``gsva_matrix`` runs that step as dask tasks over gene blocks on the active dask
scheduler (``use_dask=None``). This script times, per cohort size, in a fresh child
process each:

``numba``
    ``gsva_matrix(X, sets, use_dask=False)``: the kernel on numba's threads (all CPUs);
``dask``
    ``gsva_matrix(X, sets, use_dask=True)`` with a ``dask.distributed`` client: a
    ``LocalCluster`` of one single-threaded worker process per CPU (default), or the
    cluster at ``--scheduler``; this is what a user with a cluster gets;
``gseapy`` (``--gseapy``, up to ``--gseapy-max`` samples)
    ``gseapy.gsva`` for reference.

Reported: wall time of the call, the growth exponent between consecutive sizes
(``log(t2 / t1) / log(S2 / S1)``; 2 = quadratic), peak resident memory of the child over
the call (dask workers' memory is in their own processes and not included), and whether
the two paths gave identical scores. Data: synthetic log-expression, 50 sets of 10-200
genes, fixed seed. JSON goes to ``benchmarks/results/gsva-scale-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# measure the checkout this script belongs to, not whatever mgtranscript is installed
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(spec: dict) -> dict:
    from run import gene_names, make_data, sample_names

    X, sets = make_data(spec["genes"], spec["samples"], spec["sets"], spec["seed"])
    mode = spec["mode"]
    client = cluster = None
    if mode == "dask":
        import distributed

        if spec.get("scheduler"):
            client = distributed.Client(spec["scheduler"])
        else:
            cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            client = distributed.Client(cluster)
    from mgtranscript.tl._score.gsva import gsva_matrix

    # compile (and, for dask, start the workers' imports) outside the timing
    gsva_matrix(X[:40, :300].copy(), {"a": np.arange(20)}, use_dask=(mode == "dask"), chunk_genes=50)
    if mode == "gseapy":
        import gseapy
        import pandas as pd

        names = gene_names(X.shape[1])
        df = pd.DataFrame(X.T, index=names, columns=sample_names(X.shape[0]))
        gmt = {k: [names[i] for i in v] for k, v in sets.items()}

        def call():
            res = gseapy.gsva(data=df, gene_sets=gmt, outdir=None, min_size=1, max_size=100000,
                              kcdf="Gaussian", threads=os.cpu_count() or 1, verbose=False)
            piv = res.res2d.pivot(index="Name", columns="Term", values="ES").astype(float)
            return piv.loc[list(df.columns), list(sets)].to_numpy()
    else:
        def call():
            return gsva_matrix(X, sets, use_dask=(mode == "dask"))
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    t0 = time.perf_counter()
    es = call()
    secs = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()
    np.save(spec["save"], es)
    return {"seconds": secs, "rss_rise_kib": peak - before, "rss_peak_kib": peak}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--samples", default="400,800,1600,3200", help="comma-separated cohort sizes")
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--sets", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="numba,dask", help="numba, dask (comma-separated)")
    ap.add_argument("--scheduler", help="address of an existing dask scheduler for the dask mode")
    ap.add_argument("--gseapy", action="store_true", help="also time gseapy.gsva (up to --gseapy-max samples)")
    ap.add_argument("--gseapy-max", type=int, default=800)
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        print(json.dumps(child(json.loads(args._child))))
        return 0

    sizes = [int(s) for s in args.samples.split(",")]
    modes = [m for m in args.modes.split(",") if m in ("numba", "dask")]
    if args.gseapy:
        modes.append("gseapy")
    print(f"# GSVA scaling: {args.genes:,} genes, {args.sets} sets; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}; modes {', '.join(modes)}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mggsva-") as tmpd:
        for S in sizes:
            outs = {}
            for mode in modes:
                if mode == "gseapy" and S > args.gseapy_max:
                    continue
                save = Path(tmpd) / f"{mode}_{S}.npy"
                spec = {"genes": args.genes, "samples": S, "sets": args.sets, "seed": args.seed, "mode": mode,
                        "scheduler": args.scheduler, "save": str(save)}
                p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(spec)],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    print(f"  {S} {mode}: failed: {p.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                r.update({"samples": S, "mode": mode, "load": os.getloadavg()[0]})
                outs[mode] = np.load(save)
                rows.append(r)
                print(f"  {S:5d} samples  {mode:6}  {r['seconds']:8.1f} s   peak RSS rise "
                      f"{r['rss_rise_kib'] / 2**20:5.2f} GiB   (load {r['load']:.2f})", flush=True)
            if "numba" in outs and "dask" in outs:
                same = bool(np.array_equal(outs["numba"], outs["dask"]))
                print(f"  {S:5d} samples  numba and dask scores identical: {same}", flush=True)
                rows.append({"samples": S, "identical_numba_dask": same})

    print()
    print(f"{'samples':>8} {'mode':>7} {'seconds':>9} {'growth exp.':>12} {'x gseapy':>9}")
    timed = [r for r in rows if "seconds" in r]
    for mode in modes:
        prev = None
        for r in [r for r in timed if r["mode"] == mode]:
            exp = (np.log(r["seconds"] / prev["seconds"]) / np.log(r["samples"] / prev["samples"])) if prev else None
            g = next((x for x in timed if x["mode"] == "gseapy" and x["samples"] == r["samples"]), None)
            speed = g["seconds"] / r["seconds"] if g and mode != "gseapy" else None
            print(f"{r['samples']:8d} {mode:>7} {r['seconds']:9.1f} {exp if exp else float('nan'):12.2f} "
                  f"{speed if speed else float('nan'):8.1f}x")
            prev = r
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"gsva-scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"genes": args.genes, "sets": args.sets, "cpus": os.cpu_count(), "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

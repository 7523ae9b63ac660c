#!/usr/bin/env python
"""Speed, memory and agreement of mgtranscript's ssGSEA and GSVA against gseapy and R.

    python benchmarks/run.py            # 20,000 genes x 424 samples x 50 sets (TCGA-LIHC size)
    python benchmarks/run.py --quick    # 5,000 genes x 100 samples x 20 sets, no R (--with-r)

Synthetic log-normal expression (fixed seed) and 50 random sets of 10-200 genes. Every
measurement runs in its own child process (clean peak RSS, nothing cached between tools),
on the same machine, in one run:

* ours: ``mgtranscript.tl.<method>.<method>_matrix`` (a method whose module is missing
  is skipped), best of ``--repeat`` runs after a warm-up (numba compilation excluded);
* gseapy 1.3.x ``ssgsea`` / ``gsva`` with the same sets (min_size=1) and threads;
* the ranking floor: NumPy ranking the whole matrix once (double argsort, one core);
* R GSVA 1.46 ``gsva(method = "gsva" | "ssgsea")`` if ``Rscript`` with GSVA is found
  (timed inside R around the call, so R's start-up and file reading are excluded).

Peak memory is reported two ways relative to the input matrix (samples x genes float64):
``tracemalloc`` peak of Python/NumPy allocations during the call, and the rise of the
child's maximum resident set size over its size just before the call. Scores are
compared across tools (max |difference|). A table is printed and JSON written to
``benchmarks/results/run-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
R_SCRIPT = HERE / "r_gsva.R"
METHODS = ("ssgsea", "gsva")


# --------------------------------------------------------------------------- data
def make_data(n_genes: int, n_samples: int, n_sets: int, seed: int = 0):
    """Samples x genes log-normal matrix (built in place: no temporaries) and sets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_genes))
    X *= rng.uniform(0.3, 1.5, n_genes)
    X += rng.normal(2.0, 1.0, n_genes)
    np.exp(X, out=X)
    sizes = rng.integers(10, 201, n_sets)
    sets = {f"SET{i:02d}_{k}": np.sort(rng.choice(n_genes, int(k), replace=False)) for i, k in enumerate(sizes)}
    return X, sets


def gene_names(n: int) -> list[str]:
    return [f"G{i:05d}" for i in range(n)]


# --------------------------------------------------------------------------- workers
def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _measure(fn, repeat: int) -> dict:
    rss0 = _rss_kb()
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    times = [time.perf_counter() - t0]
    peak_py = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "seconds": min(times),
        "seconds_all": times,
        "tracemalloc_peak_bytes": peak_py,
        "rss_rise_bytes": max(0, rss_peak - rss0) * 1024,
        "_out": out,
    }


def worker(spec: dict) -> dict:
    X, sets = make_data(spec["genes"], spec["samples"], spec["sets"], spec["seed"])
    kind, method, repeat = spec["kind"], spec.get("method"), spec["repeat"]
    res: dict = {"kind": kind, "method": method}
    if kind == "floor":
        m = _measure(lambda: np.argsort(np.argsort(X, axis=1), axis=1), repeat)
        m["_out"] = None
    elif kind == "ours":
        try:
            mod = importlib.import_module(f"mgtranscript.tl.score.{method}")
        except ImportError as exc:
            return {**res, "skipped": f"mgtranscript.tl.{method} not importable: {exc}"}
        func = getattr(mod, f"{method}_matrix")
        func(X[:20, :500].copy(), {"w": np.arange(10)})  # warm-up: JIT compilation
        m = _measure(lambda: func(X, sets), repeat)
    elif kind == "gseapy":
        import gseapy
        import pandas as pd

        names = gene_names(X.shape[1])
        df = pd.DataFrame(X.T, index=names, columns=[f"S{j:04d}" for j in range(X.shape[0])])
        gmt = {k: [names[i] for i in v] for k, v in sets.items()}
        threads = os.cpu_count() or 1
        if method == "ssgsea":
            def run():
                return gseapy.ssgsea(data=df, gene_sets=gmt, outdir=None, min_size=1, max_size=100000,
                                     threads=threads, no_plot=True, verbose=False)
        else:
            def run():
                return gseapy.gsva(data=df, gene_sets=gmt, outdir=None, min_size=1, max_size=100000,
                                   kcdf="Gaussian", threads=threads, verbose=False)
        m = _measure(run, repeat)
        r2d = m["_out"].res2d
        col = "ES"
        piv = r2d.pivot(index="Name", columns="Term", values=col).astype(float)
        m["_out"] = piv.loc[df.columns, list(sets)].to_numpy()
        res["threads"] = threads
    else:  # pragma: no cover
        raise ValueError(kind)
    out = m.pop("_out")
    if out is not None and spec.get("save"):
        np.save(spec["save"], np.asarray(out, dtype=np.float64))
    res.update(m)
    res["input_bytes"] = X.nbytes
    return res


def run_child(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": spec["kind"], "method": spec.get("method"), "skipped": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"kind": spec["kind"], "method": spec.get("method"), "skipped": "failed: " + " | ".join(tail)}
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_r(args, tmp: Path, timeout: float) -> dict:
    """R GSVA 1.46 timings (inside R) and score files; {} entries skipped if R is absent."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript not found"}
    chk = subprocess.run([rscript, "-e", "cat(as.character(packageVersion('GSVA')))"],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        return {"skipped": "R package GSVA not installed (apt-get install r-bioc-gsva)"}
    X, sets = make_data(args.genes, args.samples, args.sets, args.seed)
    X.tofile(tmp / "X.bin")  # samples x genes C order == genes x samples column-major for R
    with open(tmp / "sets.tsv", "w") as fh:
        for k, v in sets.items():
            fh.write(k + "\t" + ",".join(str(i + 1) for i in v) + "\n")
    cmd = [rscript, str(R_SCRIPT), str(tmp), str(args.genes), str(args.samples), ",".join(args.methods)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        return {"skipped": "R failed: " + p.stderr.strip()[-300:]}
    out = {"version": chk.stdout.strip()}
    for line in p.stdout.splitlines():
        if line.startswith("TIME"):
            _, method, secs = line.split()
            out[method] = float(secs)
    return out


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--quick", action="store_true", help="5,000 genes x 100 samples x 20 sets, no R")
    ap.add_argument("--genes", type=int)
    ap.add_argument("--samples", type=int)
    ap.add_argument("--sets", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="ssgsea,gsva")
    ap.add_argument("--repeat", type=int, default=3, help="runs of our methods (best is reported)")
    ap.add_argument("--no-gseapy", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--with-r", action="store_true", help="run R GSVA also with --quick")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return 0
    big = (20000, 424, 50)
    small = (5000, 100, 20)
    g, s, k = small if args.quick else big
    args.genes, args.samples, args.sets = args.genes or g, args.samples or s, args.sets or k
    args.methods = [m for m in args.methods.split(",") if m in METHODS]
    if args.quick and not args.with_r:
        args.no_r = True
    base = {"genes": args.genes, "samples": args.samples, "sets": args.sets, "seed": args.seed}
    input_bytes = args.genes * args.samples * 8
    print(f"# {args.genes} genes x {args.samples} samples x {args.sets} sets (10-200 genes), "
          f"input {input_bytes / 2**20:.1f} MiB, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")

    with tempfile.TemporaryDirectory(prefix="mgbench-") as tmpd:
        tmp = Path(tmpd)
        results: dict = {"config": {**base, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                                    "machine": platform.platform()}, "runs": []}
        floor = run_child({**base, "kind": "floor", "repeat": 3}, args.timeout)
        results["floor"] = floor
        print(f"ranking floor (double argsort, 1 core): {floor.get('seconds', float('nan')):.3f} s")
        rows = []
        for method in args.methods:
            ours = run_child({**base, "kind": "ours", "method": method, "repeat": args.repeat,
                              "save": str(tmp / f"ours_{method}.npy")}, args.timeout)
            theirs = ({"skipped": "--no-gseapy"} if args.no_gseapy else
                      run_child({**base, "kind": "gseapy", "method": method, "repeat": 1,
                                 "save": str(tmp / f"gseapy_{method}.npy")}, args.timeout))
            rows.append((method, ours, theirs))
            results["runs"] += [ours, {**theirs, "kind": "gseapy", "method": method}]
        rres = {"skipped": "--no-r"} if args.no_r else run_r(args, tmp, args.timeout)
        results["R"] = rres

        # agreement of scores
        agree = {}
        for method in args.methods:
            a = tmp / f"ours_{method}.npy"
            if not a.exists():
                continue
            A = np.load(a)
            for other, f in (("gseapy", tmp / f"gseapy_{method}.npy"), ("R", tmp / f"r_{method}.bin")):
                if f.exists():
                    B = np.load(f) if f.suffix == ".npy" else np.fromfile(f).reshape(A.shape)
                    agree[f"{method}: ours vs {other}"] = float(np.nanmax(np.abs(A - B)))
        results["max_abs_difference"] = agree

    # table
    print()
    hdr = f"{'method':8} {'ours s':>8} {'gseapy s':>9} {'speed-up':>9} {'R s':>8} {'/floor':>7} {'py peak':>8} {'RSS rise':>9}"
    print(hdr)
    print("-" * len(hdr))
    fl = floor.get("seconds")
    for method, ours, theirs in rows:
        if "skipped" in ours:
            print(f"{method:8} skipped: {ours['skipped']}")
            continue
        t = ours["seconds"]
        tg = theirs.get("seconds")
        tr = rres.get(method) if isinstance(rres, dict) else None
        print(f"{method:8} {t:8.2f} {tg if tg else float('nan'):9.2f} "
              f"{(tg / t) if tg else float('nan'):8.1f}x {tr if tr else float('nan'):8.2f} "
              f"{(t / fl) if fl else float('nan'):6.2f}x "
              f"{ours['tracemalloc_peak_bytes'] / input_bytes:7.2f}x {ours['rss_rise_bytes'] / input_bytes:8.2f}x")
        if "skipped" in theirs:
            print(f"         gseapy skipped: {theirs['skipped']}")
    if "skipped" in rres:
        print(f"R GSVA skipped: {rres['skipped']}")
    for k, v in agree.items():
        print(f"max |diff| {k}: {v:.3g}")
    print("targets: ssgsea >= 15x gseapy and <= 2x floor; gsva >= 5x gseapy; peak memory <= 3x input")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

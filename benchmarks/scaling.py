#!/usr/bin/env python
"""The per-cohort analysis as cohorts and samples grow: 1, 2, 4 cohorts x 50, 100, 200
samples of synthetic RNA-seq counts, each cohort through ``mgtranscript.pipeline.analyse_cohort``
(the steps ``mgtranscript run`` applies to every cohort: scoring with the alternatives,
design audits, comparisons, voom/limma DE, GSEA prerank and ORA, trends, couplings,
correlations).

    python3 benchmarks/scaling.py                      # 1,2,4 cohorts x 50,100,200 samples
    python3 benchmarks/scaling.py --quick              # 1,2 cohorts x 24,48 samples, 10,000 genes, 100 permutations
    python3 benchmarks/scaling.py --design paired      # HCC-like tumour / non-tumour pairs (paired voom)
    python3 benchmarks/scaling.py --jobs 2             # cohorts spread over 2 worker processes
    python3 benchmarks/scaling.py --cohorts 1,8 --samples 100,400 --repeat 3

(Not ``scale.py``, which is about scoring 100,000 samples out of core.)

Cohorts: built by this script, never read from disk: negative-binomial counts (gene means
log-normal, dispersion 0.2, library sizes 0.5-1.5x, 10% of genes shifted with disease
stage), gene symbols from the bundled gene sets and MSigDB Hallmark + Reactome (so every
set the plan scores is found) padded with filler names to ``--genes`` (default 20,000);
``X`` = log2-CPM (TMM) from ``mg.pp.log2_cpm`` as the loaders produce. ``--design
unpaired`` (default) labels them like GSE126848 (healthy, obese, NAFL, NASH in turn) and
analyses them under that catalog accession; ``--design paired`` like GSE77314 (tumour and
non-tumour of the same patient, ``pair_id``). Each cohort has its own seed.

Timing: ``--jobs`` long-lived worker processes (default 1), warmed up on a small cohort
(imports, numba compilation, gene sets). For a configuration (k cohorts x S samples) each
cohort is built in a worker first (untimed), then the parent starts all k analyses at
once (cohort i on worker i mod jobs; a worker analyses its cohorts one after the other)
and takes the wall time until the last one finishes. Reported per configuration: that
wall time, the CPU seconds of all analyses (``getrusage`` in the workers), the median
wall time of one cohort's analysis, and the largest peak-RSS rise of one analysis
(``/proc/self/clear_refs`` reset before it). With ``--jobs`` > 1 each worker is pinned to
its own share of the CPUs and its thread pools capped to that share. Configurations run
in a rotated order each repeat (``--repeat``, medians). Printed: the table, the growth
exponent of one cohort's time in samples (``log(t2/t1)/log(S2/S1)``) and of the total in
cohorts (1 = linear), the host and the load. JSON goes to
``benchmarks/results/scaling-<timestamp>.json``.

Gene sets come through the download layer: set ``MGTRANSCRIPT_MIRROR`` (default
``$MGTRANSCRIPT_SHARED/mirror`` or ``../shared/mirror`` when present) or have network
access; without MSigDB the mechanism analyses are skipped and the script says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # measure this checkout
sys.path.insert(0, str(HERE))
from _common import (RESULTS, ROOT, child_env, cpu_seconds, fmt_t, git_describe, host_lines, load,  # noqa: E402
                     machine, median, reset_peak, status_kib, threading_report)

#: design -> (catalog accession the cohort is analysed as, conditions in turn, disease of each)
DESIGNS = {
    "unpaired": ("GSE126848", ("healthy", "obese", "NAFL", "NASH"), ("control", "control", "MASLD", "MASLD")),
    "paired": ("GSE77314", ("hcc_nontumour", "hcc_tumour"), ("HCC", "HCC")),
}


# --------------------------------------------------------------------------- worker
class Worker:
    """In a worker process: the gene universe, the sets and claims (loaded once), cohorts."""

    def __init__(self, spec: dict):
        import logging
        import warnings

        warnings.simplefilter("ignore")  # the plan's warnings (e.g. constant genes) are not the point here
        logging.disable(logging.WARNING)
        from mgtranscript import genesets
        from mgtranscript.claims import load_claims
        from mgtranscript.errors import MgTranscriptError
        from mgtranscript.genesets import gene_sets_dir, mechanism_sets
        from mgtranscript.pipeline import KEY_GENES

        self.spec = spec
        self.claims = load_claims()
        self.note = ""
        try:
            self.mechanisms = mechanism_sets()
        except MgTranscriptError as exc:
            self.mechanisms, self.note = None, f"mechanism sets unavailable ({exc}); mechanism analyses skipped"
        genes: set[str] = set(KEY_GENES)
        for gmt in sorted(gene_sets_dir().glob("*.gmt")):
            for line in gmt.read_text().splitlines():
                genes.update(g for g in line.split("\t")[2:] if g)
        for coll in ("h.all", "c2.cp.reactome"):
            try:
                for v in genesets.msigdb(coll, version="7.0").values():
                    genes.update(v)
            except MgTranscriptError:
                pass
        genes = sorted(genes)[: spec["genes"]]
        self.genes = genes + [f"SYN{i:05d}" for i in range(spec["genes"] - len(genes))]
        self.cohorts: dict[str, object] = {}
        self.build("warm", 24, 1)
        self.analyse("warm", permutations=20)  # warm-up: imports, numba compilation, caches

    def build(self, name: str, n_samples: int, seed: int) -> None:
        import anndata
        import numpy as np
        import pandas as pd

        import mgtranscript as mg

        acc, conds, dis = DESIGNS[self.spec["design"]]
        rng = np.random.default_rng(seed)
        n_genes = len(self.genes)
        if self.spec["design"] == "paired":
            n_pairs = max(3, n_samples // 2)
            idx = np.repeat(np.arange(n_pairs), 2)
            cond_i = np.tile([0, 1], n_pairs)
            obs = pd.DataFrame({"pair_id": [f"P{i:04d}" for i in idx]})
        else:
            cond_i = np.arange(n_samples) % len(conds)
            obs = pd.DataFrame(index=range(n_samples))
        n = len(cond_i)
        obs.index = [f"C{seed}_S{j:04d}" for j in range(n)]
        obs["condition"] = [conds[i] for i in cond_i]
        obs["disease"] = [dis[i] for i in cond_i]
        obs["cohort"] = acc
        obs["fibrosis_stage"] = np.where(cond_i >= 2, rng.integers(0, 5, n), np.nan) if len(conds) > 2 else np.nan
        obs["nas"] = np.nan
        log_mu = rng.normal(3.0, 2.0, n_genes)  # log mean count per gene
        effect = np.where(rng.random(n_genes) < 0.1, rng.normal(0, 0.5, n_genes), 0.0)
        stage = cond_i / max(1, len(conds) - 1)
        patient = 0.0
        if self.spec["design"] == "paired":  # a patient's own expression, shared by the two samples of a pair
            patient = np.repeat(rng.normal(0, 0.3, (n // 2, n_genes)), 2, axis=0)
        mu = np.exp(log_mu[None, :] + stage[:, None] * effect[None, :] + patient) * rng.uniform(0.5, 1.5, (n, 1))
        phi = 0.2
        counts = rng.negative_binomial(1.0 / phi, 1.0 / (1.0 + mu * phi)).astype(np.float64)
        adata = anndata.AnnData(X=counts.copy(), obs=obs, var=pd.DataFrame(index=self.genes))
        adata.layers["counts"] = counts
        mg.pp.log2_cpm(adata, layer="counts")
        self.cohorts[name] = adata

    def analyse(self, name: str, permutations: int | None = None) -> dict:
        from mgtranscript.pipeline import analyse_cohort

        adata = self.cohorts.pop(name)
        acc = DESIGNS[self.spec["design"]][0]
        before = status_kib("VmRSS")
        reset_peak()
        c0, t0 = cpu_seconds(), time.perf_counter()
        res = analyse_cohort(adata, acc, method="ssgsea", mechanisms=self.mechanisms,
                             permutations=permutations or self.spec["permutations"], seed=0, claims=self.claims)
        out = {"seconds": time.perf_counter() - t0, "cpu": cpu_seconds() - c0,
               "rss_rise_kib": max(0, status_kib("VmHWM") - before), "n_samples": adata.n_obs,
               "n_effects": int(len(res.effects))}
        return out


def serve(spec: dict) -> int:
    reply = sys.stdout
    sys.stdout = sys.stderr

    def answer(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    try:
        w = Worker(spec)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        answer({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    answer({"ready": True, "note": w.note, "threading": threading_report(), "genes": len(w.genes)})
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "quit":
                break
            if cmd["op"] == "build":
                for name, s, seed in cmd["cohorts"]:
                    w.build(name, s, seed)
                answer({"built": len(cmd["cohorts"])})
            elif cmd["op"] == "analyse":
                answer({"name": cmd["name"], **w.analyse(cmd["name"])})
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            answer({"error": f"{type(exc).__name__}: {exc}"})
    return 0


# --------------------------------------------------------------------------- parent
class Proc:
    def __init__(self, spec: dict, cpus: set[int] | None, threads: int | None, timeout: float):
        env = child_env(threads, pythonpath=ROOT)
        if "MGTRANSCRIPT_MIRROR" not in env:
            mirror = _default_mirror()
            if mirror:
                env["MGTRANSCRIPT_MIRROR"] = mirror
        self.timeout = timeout
        self.p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_serve", json.dumps(spec)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
                                  preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)

    def send(self, obj: dict) -> None:
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def read(self) -> dict:
        ready, _, _ = select.select([self.p.stdout], [], [], self.timeout)
        if not ready:
            self.p.kill()
            raise RuntimeError(f"worker timed out after {self.timeout:.0f} s")
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("worker exited (see the messages above)")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(out["error"])
        return out

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.send({"op": "quit"})
                self.p.wait(timeout=30)
            except Exception:  # noqa: BLE001
                self.p.kill()


def _default_mirror() -> str | None:
    shared = os.environ.get("MGTRANSCRIPT_SHARED")
    common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    for cand in (shared and Path(shared) / "mirror", ROOT.parent / "shared" / "mirror",
                 common and Path(common).parent.parent / "shared" / "mirror"):
        if cand and Path(cand).is_dir():
            return str(cand)
    return None


def cpu_shares(jobs: int) -> list[set[int] | None]:
    """Disjoint CPU sets, one per worker (``None``: one worker, unpinned)."""
    cpus = sorted(os.sched_getaffinity(0))
    if jobs <= 1:
        return [None]
    if jobs > len(cpus):
        return [{cpus[i % len(cpus)]} for i in range(jobs)]
    per = len(cpus) // jobs
    return [set(cpus[i * per:(i + 1) * per]) for i in range(jobs)]


def run_config(workers: list[Proc], k: int, s: int, rep: int, seed0: int) -> dict:
    """Build k cohorts of s samples (untimed), then analyse them all at once; timings."""
    names = [f"c{k}x{s}r{rep}i{i}" for i in range(k)]
    plan: dict[int, list] = {}
    for i, name in enumerate(names):
        plan.setdefault(i % len(workers), []).append([name, s, seed0 + 1000 * rep + 10 * i + s])
    for w, cohorts in plan.items():
        workers[w].send({"op": "build", "cohorts": cohorts})
    for w in plan:
        workers[w].read()
    t0 = time.perf_counter()
    for w, cohorts in plan.items():  # each worker analyses its cohorts in turn; workers run at once
        for name, _, _ in cohorts:
            workers[w].send({"op": "analyse", "name": name})
    per = [workers[w].read() for w, cohorts in plan.items() for _ in cohorts]
    wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": sum(r["cpu"] for r in per), "per_cohort": [r["seconds"] for r in per],
            "rss_rise_kib": max(r["rss_rise_kib"] for r in per), "n_samples": per[0]["n_samples"],
            "n_effects": [r["n_effects"] for r in per], "load": load()}


def _exponent(t1: float, t2: float, x1: float, x2: float) -> float:
    return math.log(t2 / t1) / math.log(x2 / x1) if t1 > 0 and t2 > 0 and x1 != x2 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--quick", action="store_true", help="1,2 cohorts x 24,48 samples, 10,000 genes, 100 permutations")
    ap.add_argument("--cohorts", help="comma-separated cohort counts (default 1,2,4)")
    ap.add_argument("--samples", help="comma-separated samples per cohort (default 50,100,200)")
    ap.add_argument("--genes", type=int, help="genes per cohort (default 20,000)")
    ap.add_argument("--design", choices=tuple(DESIGNS), default="unpaired")
    ap.add_argument("--permutations", type=int, help="GSEA prerank permutations (default 1,000, as `mgtranscript run`)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes the cohorts are spread over (default 1)")
    ap.add_argument("--repeat", type=int, default=1, help="repeats of every configuration (medians; default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for one reply of a worker")
    ap.add_argument("--_serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._serve:
        return serve(json.loads(args._serve))
    if args.jobs < 1 or args.repeat < 1:
        ap.error("--jobs and --repeat must be >= 1")

    ks = [int(x) for x in (args.cohorts or ("1,2" if args.quick else "1,2,4")).split(",")]
    ss = [int(x) for x in (args.samples or ("24,48" if args.quick else "50,100,200")).split(",")]
    spec = {"genes": args.genes or (10000 if args.quick else 20000), "design": args.design,
            "permutations": args.permutations or (100 if args.quick else 1000)}
    info = {"machine": machine(), "load_start": load(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv[1:], "mgtranscript": f"{ROOT} @ {git_describe(ROOT)}", "spec": spec, "jobs": args.jobs}
    print(f"# scaling of the per-cohort analysis (mgtranscript.pipeline.analyse_cohort), {info['mgtranscript']}; "
          f"{args.design} design as {DESIGNS[args.design][0]}, {spec['genes']:,} genes, {spec['permutations']} "
          f"permutations; {args.jobs} worker process(es); cohorts {ks} x samples {ss}; {args.repeat} repeat(s)")
    for line in host_lines(info):
        print(line)
    shares = cpu_shares(args.jobs)
    threads = None if args.jobs == 1 else (len(shares[0]) if shares[0] else 1)
    t0 = time.perf_counter()
    workers = [Proc(spec, cpus, threads, args.timeout) for cpus in shares]
    try:
        ready = [w.read() for w in workers]
        print(f"# {len(workers)} worker(s) ready in {time.perf_counter() - t0:.1f} s (warm-up untimed); "
              f"{ready[0]['genes']:,} genes" + (f"; {ready[0]['note']}" if ready[0]["note"] else ""), flush=True)
        configs = [(k, s) for s in ss for k in ks]
        results: dict = {f"{k}x{s}": [] for k, s in configs}
        for rep in range(args.repeat):
            order = configs[rep % len(configs):] + configs[:rep % len(configs)]
            for k, s in order:
                r = run_config(workers, k, s, rep, args.seed)
                results[f"{k}x{s}"].append(r)
                print(f"  {k} cohort(s) x {s} samples: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, one cohort "
                      f"{median(r['per_cohort']):.1f} s (load {r['load'][0]:.2f})", flush=True)
    finally:
        for w in workers:
            w.close()
    info["load_end"] = load()

    lines = ["", f"{'cohorts':>7} {'samples':>7} {'wall s, median [min-max]':>26} {'CPU s':>8} "
                 f"{'one cohort s':>12} {'s per cohort':>12} {'RSS rise MiB':>12}"]
    med = {}
    for k, s in configs:
        rs = results[f"{k}x{s}"]
        w = [r["wall"] for r in rs]
        one = median([x for r in rs for x in r["per_cohort"]])
        med[(k, s)] = (median(w), one)
        lines.append(f"{k:7d} {rs[0]['n_samples']:7d} {fmt_t(w):>26} {median([r['cpu'] for r in rs]):8.1f} "
                     f"{one:12.2f} {median(w) / k:12.2f} {max(r['rss_rise_kib'] for r in rs) / 1024:12.0f}")
    lines.append("")
    for a, b in zip(ss, ss[1:]):
        e = _exponent(med[(ks[0], a)][1], med[(ks[0], b)][1], a, b)
        lines.append(f"one cohort's analysis, {a} -> {b} samples: time ~ S^{e:.2f}")
    for s in ss:
        if len(ks) > 1:
            e = _exponent(med[(ks[0], s)][0], med[(ks[-1], s)][0], ks[0], ks[-1])
            lines.append(f"{s} samples, {ks[0]} -> {ks[-1]} cohorts: wall ~ k^{e:.2f} "
                         f"({args.jobs} worker(s); 1 = one after another)")
    lines.append("load average (1, 5, 15 min): start " + ", ".join(f"{x:.2f}" for x in info["load_start"])
                 + "; end " + ", ".join(f"{x:.2f}" for x in info["load_end"]))
    for line in lines:
        print(line)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scaling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"info": info, "workers": ready, "results": results, "log": lines}, indent=2,
                               default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

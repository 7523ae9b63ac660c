#!/usr/bin/env python
"""Speed, memory and agreement of mgtranscript's scoring methods against gseapy, R GSVA
1.46, decoupler and the sorting floor, measured side by side in one run.

    python3 benchmarks/run.py             # 20,000 genes x 424 samples x 50 sets, then ssGSEA at 1,000 sets
    python3 benchmarks/run.py --quick     # 5,000 x 100 x 20 (a minute; R included if installed)

Data: synthetic log-expression (fixed seed): genes with their own mean and spread, sets of
10-200 random genes (the same sets for every tool).

How it is measured (see benchmarks/README.md):

* **Timing.** Every tool runs in its own long-lived child process (data made once there,
  one warm-up call on a small problem first: module imports, numba compilation, R's
  package loading are not timed). The parent then asks every (tool, method) for one timed
  call per round, round after round (``--repeat``, default 5), the order rotated each
  round, so slow phases of a busy machine hit all tools alike. Only the call is timed
  (``time.perf_counter`` around it in Python, ``system.time`` in R). Reported: median
  [min-max] over the rounds; every tool is timed the same number of times.
* **Memory** in a separate run: one fresh child per (tool, method), warm-up, then one call
  with the kernel's peak-RSS counter reset just before it (``/proc/self/clear_refs``);
  reported is the peak resident size during the call minus the resident size before it.
  No tracing is active during timed calls (``--tracemalloc`` adds the tracemalloc peak of
  Python allocations, in yet another run, for the Python tools).
* **Floor**: one ``np.sort(X, axis=1)`` of the samples x genes matrix (NumPy, one core),
  timed like a tool; ``argsort(argsort(X))`` is printed for reference.
* **Agreement**: the scores of the memory run are compared across tools (max |difference|).

Peers: gseapy (ssgsea, gsva; threads = all CPUs), R GSVA 1.46 via ``Rscript`` if installed
(ssgsea, gsva, zscore, plage; ``parallel.sz = 1``, its fastest setting here: BiocParallel's
start-up made ``parallel.sz = 2`` ~25 s slower per call), decoupler if installed (gsva;
its ``zscore`` is a different statistic, see the README). ``ours`` is
``mgtranscript.tl.score.<method>.<method>_matrix`` on a samples x genes array with
default options (all CPUs); ``ssgsea@1t`` is ours on one thread.

A table is printed and JSON written to ``benchmarks/results/run-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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
R_SCRIPT = HERE / "r_gsva.R"

OURS = ("ssgsea", "gsva", "zscore", "plage", "singscore")
PEERS = {
    "gseapy": ("ssgsea", "gsva"),
    "R": ("ssgsea", "gsva", "zscore", "plage"),
    "decoupler": ("gsva",),
}
#: R GSVA 1.46's parallel.sz. 1 is its fastest setting here: with 2, BiocParallel's
#: start-up added ~25 s per call at 5,000 x 100 on the 2-core benchmark machine
R_WORKERS = 1
#: targets of issue 11, checked at the end
TARGETS = "ssgsea <= 1.5x floor (50 sets), <= 2x floor (1,000 sets); gsva >= 8x gseapy"


# --------------------------------------------------------------------------- data
def make_data(n_genes: int, n_samples: int, n_sets: int, seed: int = 0):
    """Samples x genes log-expression (built in place) and ``n_sets`` sets of 10-200 genes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_genes))
    X *= rng.uniform(0.3, 1.5, n_genes)
    X += rng.normal(6.0, 2.0, n_genes)
    sizes = rng.integers(10, 201, n_sets)
    sets = {f"SET{i:04d}_{k}": np.sort(rng.choice(n_genes, int(k), replace=False)) for i, k in enumerate(sizes)}
    return X, sets


def gene_names(n: int) -> list[str]:
    return [f"G{i:05d}" for i in range(n)]


def sample_names(n: int) -> list[str]:
    return [f"S{j:04d}" for j in range(n)]


# --------------------------------------------------------------------------- memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:  # pragma: no cover - not Linux
        return False


# --------------------------------------------------------------------------- Python tools
class PyTool:
    """A Python tool: ``prepare()`` once, then ``call(method)`` returns samples x sets."""

    def __init__(self, tool: str, genes: int, samples: int, sets: int, seed: int):
        self.tool = tool
        self.X, self.sets = make_data(genes, samples, sets, seed)
        self.prepare()

    def prepare(self) -> None:
        t = self.tool
        if t in ("ours", "floor"):
            import mgtranscript.tl.score  # noqa: F401  (import outside the timing)
        if t == "ours":
            from mgtranscript.tl.score import gsva, plage, singscore, ssgsea, zscore

            self.funcs = {"ssgsea": ssgsea.ssgsea_matrix, "gsva": gsva.gsva_matrix,
                          "zscore": zscore.zscore_matrix, "plage": plage.plage_matrix,
                          "singscore": singscore.singscore_matrix}
            Xs = self.X[:24, :600].copy()
            small = {"a": np.arange(0, 600, 7), "b": np.arange(30)}
            for m, f in self.funcs.items():  # warm-up: numba compilation / cache load
                f(Xs, small)
            ssgsea.ssgsea_matrix(Xs, small, n_jobs=1)
        elif t in ("gseapy", "decoupler"):
            import pandas as pd

            names = gene_names(self.X.shape[1])
            snames = sample_names(self.X.shape[0])
            self.gmt = {k: [names[i] for i in v] for k, v in self.sets.items()}
            if t == "gseapy":
                import gseapy

                self.mod = gseapy
                self.df = pd.DataFrame(self.X.T, index=names, columns=snames)  # genes x samples
                small = pd.DataFrame(self.X[:12, :400].T, index=names[:400], columns=snames[:12])
                gs = {"a": names[:40], "b": names[100:130]}
                gseapy.ssgsea(data=small, gene_sets=gs, outdir=None, min_size=1, no_plot=True, verbose=False)
                gseapy.gsva(data=small, gene_sets=gs, outdir=None, min_size=1, verbose=False)
            else:
                import decoupler

                self.mod = decoupler
                self.df = pd.DataFrame(self.X, index=snames, columns=names)  # samples x genes
                self.net = pd.DataFrame([(k, g) for k, v in self.gmt.items() for g in v], columns=["source", "target"])
                small = self.df.iloc[:12, :400]
                decoupler.mt.gsva(small, self.net[self.net["target"].isin(small.columns)], tmin=1)

    def call(self, method: str):
        t = self.tool
        if t == "floor":
            if method == "sort":
                np.sort(self.X, axis=1)
            else:
                np.argsort(np.argsort(self.X, axis=1), axis=1)
            return None
        if t == "ours":
            if method == "ssgsea@1t":
                return self.funcs["ssgsea"](self.X, self.sets, n_jobs=1)
            return self.funcs[method](self.X, self.sets)
        threads = os.cpu_count() or 1
        if t == "gseapy":
            kw = dict(data=self.df, gene_sets=self.gmt, outdir=None, min_size=1, max_size=100000,
                      threads=threads, verbose=False)
            if method == "ssgsea":
                res = self.mod.ssgsea(no_plot=True, sample_norm_method="rank", weight=0.25, **kw)
            else:
                res = self.mod.gsva(kcdf="Gaussian", **kw)
            piv = res.res2d.pivot(index="Name", columns="Term", values="ES").astype(float)
            return piv.loc[list(self.df.columns), list(self.sets)].to_numpy()
        if t == "decoupler":
            es = self.mod.mt.gsva(self.df, self.net, tmin=1)
            es = es[0] if isinstance(es, tuple) else es
            return es.loc[list(self.df.index), list(self.sets)].to_numpy(dtype=float)
        raise ValueError(t)


def serve(spec: dict) -> int:
    """Child process: answer JSON commands on stdin (one per line) with JSON lines."""
    reply = sys.stdout
    sys.stdout = sys.stderr  # whatever a tool prints must not mix with the replies

    def answer(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    tool = PyTool(spec["tool"], spec["genes"], spec["samples"], spec["sets"], spec["seed"])
    answer({"ready": True})
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        out: dict = {"op": op}
        try:
            if op == "time":
                t0 = time.perf_counter()
                tool.call(cmd["method"])
                out["seconds"] = time.perf_counter() - t0
            elif op == "mem":
                import gc

                gc.collect()
                before = _status_kib("VmRSS")
                _reset_peak()
                t0 = time.perf_counter()
                es = tool.call(cmd["method"])
                out["seconds"] = time.perf_counter() - t0
                peak = _status_kib("VmHWM")
                out["rss_rise_kib"] = peak - before
                out["rss_peak_kib"] = peak
                if es is not None and cmd.get("save"):
                    np.save(cmd["save"], np.asarray(es, dtype=np.float64))
            elif op == "tracemalloc":
                import tracemalloc

                tracemalloc.start()
                tool.call(cmd["method"])
                out["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        except Exception as exc:  # report, keep serving
            out["error"] = f"{type(exc).__name__}: {exc}"
        answer(out)
    return 0


# --------------------------------------------------------------------------- children
class Child:
    """A tool's long-lived child process (Python server or R server)."""

    def __init__(self, tool: str, base: dict, tmp: Path, timeout: float, r_workers: int | None = None):
        self.tool = tool
        self.timeout = timeout
        if tool == "R":
            cmd = [shutil.which("Rscript"), str(R_SCRIPT), "serve", str(tmp), str(base["genes"]),
                   str(base["samples"]), str(r_workers or R_WORKERS)]
        else:
            spec = {**base, "tool": tool}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--_serve", json.dumps(spec)]
        self.err_path = tmp / f"{tool}-{time.monotonic_ns()}.stderr"
        self.err = open(self.err_path, "w")  # a file, not a pipe: a chatty child never blocks
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                  text=True, bufsize=1)
        if tool != "R":
            ready = self._read()
            if not ready or "ready" not in ready:
                raise RuntimeError(f"{tool}: child failed to start: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        try:
            self.p.kill()
            self.err.flush()
            err = self.err_path.read_text(errors="replace")
        except Exception:  # pragma: no cover
            err = ""
        return " | ".join(err.strip().splitlines()[-3:])

    def _read(self) -> dict | None:
        import select

        ready, _, _ = select.select([self.p.stdout], [], [], self.timeout)
        if not ready:
            self.p.kill()
            return {"error": f"timed out after {self.timeout:.0f} s"}
        line = self.p.stdout.readline()
        if not line:
            return {"error": "child exited: " + self.stderr_tail()}
        if self.tool == "R":
            parts = line.split() or ["?"]
            if parts[0] not in ("TIME", "MEM", "SAVED", "ERROR"):
                return self._read()  # something R printed by itself
            if parts[0] == "TIME":
                return {"seconds": float(parts[2])}
            if parts[0] == "MEM":
                return {"rss_rise_kib": float(parts[2]), "rss_peak_kib": float(parts[3]), "seconds": float(parts[4])}
            if parts[0] == "SAVED":
                return {}
            return {"error": line.strip()}
        return json.loads(line)

    def ask(self, op: str, method: str, **kw) -> dict:
        if self.p.poll() is not None:
            return {"error": "child not running"}
        if self.tool == "R":
            self.p.stdin.write(f"{op} {method}\n")
        else:
            self.p.stdin.write(json.dumps({"op": op, "method": method, **kw}) + "\n")
        self.p.stdin.flush()
        return self._read() or {}

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n" if self.tool == "R" else json.dumps({"op": "quit"}) + "\n")
                self.p.stdin.flush()
                self.p.wait(timeout=30)
            except Exception:
                self.p.kill()
        self.err.close()


# --------------------------------------------------------------------------- availability
def available(tool: str, args) -> str | None:
    """None if the tool can run, else why not."""
    if tool == "gseapy":
        if args.no_gseapy:
            return "--no-gseapy"
        try:
            import gseapy  # noqa: F401
        except ImportError:
            return "gseapy not installed"
    if tool == "decoupler":
        if args.no_decoupler:
            return "--no-decoupler"
        try:
            import decoupler  # noqa: F401
        except ImportError:
            return "not installed (pip install decoupler)"
    if tool == "R":
        if args.no_r:
            return "--no-r"
        rscript = shutil.which("Rscript")
        if rscript is None:
            return "Rscript not found"
        chk = subprocess.run([rscript, "-e", "cat(as.character(packageVersion('GSVA')))"],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            return "R package GSVA not installed (apt-get install r-bioc-gsva)"
    return None


def versions() -> dict:
    import mgtranscript

    out = {"mgtranscript": str(Path(mgtranscript.__file__).parent.parent)}
    git = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if git.returncode == 0:
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        out["mgtranscript"] += f" @ {git.stdout.strip()}{' (modified)' if dirty else ''}"
    out.update({"python": sys.version.split()[0], "numpy": np.__version__})
    for mod in ("numba", "gseapy", "decoupler"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            pass
    rscript = shutil.which("Rscript")
    if rscript:
        p = subprocess.run([rscript, "-e", "cat(R.version$major, R.version$minor, as.character(packageVersion('GSVA')))"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            r = p.stdout.split()
            out["R"] = f"{r[0]}.{r[1]}"
            out["GSVA"] = r[2]
    return out


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "platform": platform.platform()}


# --------------------------------------------------------------------------- a case
def run_case(name: str, base: dict, jobs: list[tuple[str, str]], args, tmp: Path, log) -> dict:
    """Time every (tool, method) of ``jobs`` interleaved, then measure memory separately."""
    case_dir = tmp / name
    case_dir.mkdir()
    tools = sorted({t for t, _ in jobs})
    if "R" in tools:
        X, sets = make_data(base["genes"], base["samples"], base["sets"], base["seed"])
        X.tofile(case_dir / "X.bin")  # samples x genes C order == genes x samples column-major
        with open(case_dir / "sets.tsv", "w") as fh:
            for k, v in sets.items():
                fh.write(k + "\t" + ",".join(str(i + 1) for i in v) + "\n")
        del X
    res: dict = {"config": base, "times": {}, "memory": {}, "skipped": {}, "agreement": {}}

    log(f"\n## {name}: {base['genes']:,} genes x {base['samples']:,} samples x {base['sets']:,} sets; "
        f"{args.repeat} timed rounds, interleaved")
    children: dict[str, Child] = {}
    for t in tools:
        try:
            children[t] = Child(t, base, case_dir, args.timeout)
        except Exception as exc:
            res["skipped"][t] = str(exc)
            log(f"  {t}: could not start ({exc})")
    live = [(t, m) for t, m in jobs if t in children]
    times: dict = {f"{t}:{m}": [] for t, m in live}
    for rnd in range(args.repeat):
        k = rnd % max(1, len(live))
        order = live[k:] + live[:k]  # rotate the order each round
        for t, m in order:
            key = f"{t}:{m}"
            if key in res["skipped"]:
                continue
            r = children[t].ask("time", m)
            if "error" in r:
                res["skipped"][key] = r["error"]
                log(f"  {key}: {r['error']} (not timed again)")
                continue
            times[key].append(r["seconds"])
        load = os.getloadavg()[0]
        log(f"  round {rnd + 1}/{args.repeat} done (load {load:.2f})")
        res.setdefault("load", []).append(load)
    for c in children.values():
        c.close()
    res["times"] = {k: v for k, v in times.items() if v}

    # memory: a fresh child per (tool, method), one call, scores saved for the agreement
    for t, m in jobs:
        key = f"{t}:{m}"
        if t == "floor" and m != "sort":
            continue
        if t in res["skipped"]:
            continue
        try:
            # R: one process (parallel.sz = 1): forked BiocParallel workers would not be
            # counted in the main process's resident memory
            c = Child(t, base, case_dir, args.timeout, r_workers=1)
        except Exception as exc:
            res["skipped"].setdefault(key, str(exc))
            continue
        save = case_dir / f"{t}_{m}.npy"
        r = c.ask("mem", m, save=str(save)) if t != "R" else c.ask("mem", m)
        if args.tracemalloc and t not in ("R", "floor") and "error" not in r:
            r2 = c.ask("tracemalloc", m)
            r["tracemalloc_peak_bytes"] = r2.get("tracemalloc_peak_bytes")
        c.close()
        if "error" in r:
            res["skipped"].setdefault(key, r["error"])
            continue
        res["memory"][key] = r
        if t == "R":
            rb = case_dir / f"r_{m}.bin"
            if rb.exists():
                np.save(save, np.fromfile(rb).reshape(base["samples"], base["sets"]))
    # agreement with ours
    for t, m in jobs:
        if t in ("ours", "floor"):
            continue
        a, b = case_dir / f"ours_{m}.npy", case_dir / f"{t}_{m}.npy"
        if a.exists() and b.exists():
            A, B = np.load(a), np.load(b)
            if m == "plage":  # a singular vector's sign is arbitrary: align per set
                B = B * np.where(np.sign((A * B).sum(axis=0)) < 0, -1.0, 1.0)
            res["agreement"][f"{m}: ours vs {t}"] = float(np.nanmax(np.abs(A - B)))
    return res


def summary(v: list[float]) -> dict:
    return {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": len(v)}


def fmt_t(v: list[float] | None) -> str:
    if not v:
        return "-"
    s = summary(v)
    digits = 3 if s["median"] < 10 else 1
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def report(res: dict, input_bytes: int, log) -> dict:
    """Print a case's table; returns the ratios."""
    T = res["times"]
    med = {k: float(np.median(v)) for k, v in T.items()}
    floor = med.get("floor:sort")
    log(f"\nfloor: np.sort(X, axis=1), one core: {fmt_t(T.get('floor:sort'))} s"
        + (f";  argsort(argsort(X)) for reference: {fmt_t(T.get('floor:argsort2'))} s" if "floor:argsort2" in T else ""))
    methods = [m for m in list(OURS) + ["ssgsea@1t"] if f"ours:{m}" in T or any(k.endswith(":" + m) for k in T)]
    hdr = (f"{'method':10} {'ours s':>22} {'gseapy s':>22} {'R GSVA s':>22} {'decoupler s':>22} "
           f"{'ours/floor':>10} {'gseapy/ours':>11} {'R/ours':>7} {'dc/ours':>7}")
    log(hdr)
    log("-" * len(hdr))
    ratios: dict = {}
    for m in methods:
        o = med.get(f"ours:{m}")
        row = f"{m:10} {fmt_t(T.get(f'ours:{m}')):>22}"
        for t in ("gseapy", "R", "decoupler"):
            row += f" {fmt_t(T.get(f'{t}:{m}')):>22}"
        rf = o / floor if o and floor else None
        row += f" {rf:9.2f}x" if rf else f" {'-':>10}"
        for t, w in (("gseapy", 11), ("R", 7), ("decoupler", 7)):
            p = med.get(f"{t}:{m}")
            r = p / o if p and o else None
            row += f" {r:{w - 1}.1f}x" if r else f" {'-':>{w}}"
            if r:
                ratios[f"{m}: {t}/ours"] = r
        if rf:
            ratios[f"{m}: ours/floor"] = rf
        log(row)
    if res["memory"]:
        log(f"\nmemory (separate run): peak RSS rise during one call, MiB (x input {input_bytes / 2**20:.1f} MiB)")
        for key, r in res["memory"].items():
            extra = ""
            if r.get("tracemalloc_peak_bytes"):
                extra = f"; tracemalloc peak {r['tracemalloc_peak_bytes'] / 2**20:.1f} MiB"
            log(f"  {key:22} {r['rss_rise_kib'] / 1024:8.1f} MiB ({r['rss_rise_kib'] * 1024 / input_bytes:5.2f}x){extra}")
    for k, v in res["agreement"].items():
        log(f"max |diff| {k}: {v:.3g}")
    for k, v in res["skipped"].items():
        log(f"skipped {k}: {v}")
    return ratios


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--quick", action="store_true", help="5,000 genes x 100 samples x 20 sets; no 1,000-set case")
    ap.add_argument("--genes", type=int)
    ap.add_argument("--samples", type=int)
    ap.add_argument("--sets", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(OURS), help="comma-separated subset of " + ",".join(OURS))
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per (tool, method) (default 5)")
    ap.add_argument("--no-gseapy", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-decoupler", action="store_true")
    ap.add_argument("--decoupler-large", action="store_true",
                    help="also run decoupler's GSVA at full size (its ranking is O(genes^2) per sample: minutes per call)")
    ap.add_argument("--no-1000", action="store_true", help="skip the 1,000-set ssGSEA case")
    ap.add_argument("--peers-1000", action="store_true", help="time gseapy and R in the 1,000-set case too")
    ap.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc peaks (Python tools)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per call before a tool is dropped")
    ap.add_argument("--_serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._serve:
        return serve(json.loads(args._serve))

    g, s, k = (5000, 100, 20) if args.quick else (20000, 424, 50)
    base = {"genes": args.genes or g, "samples": args.samples or s, "sets": args.sets or k, "seed": args.seed}
    methods = [m for m in args.methods.split(",") if m in OURS]
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        lines.append(msg)

    info = {"machine": machine(), "versions": versions(), "load_start": os.getloadavg()[0],
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    log(f"# mgtranscript benchmarks {info['started']}; {info['machine']['cpus']} CPUs ({info['machine']['cpu']}); "
        f"load average {info['load_start']:.2f}")
    log("# " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    skip = {t: available(t, args) for t in PEERS}
    for t, why in skip.items():
        if why:
            log(f"# {t}: not run ({why})")
    big = base["genes"] * base["samples"] >= 4_000_000
    if big and not args.decoupler_large and not skip["decoupler"]:
        skip["decoupler"] = "skipped at this size (O(genes^2) ranking: minutes per call); --decoupler-large runs it"
        log(f"# decoupler: {skip['decoupler']}")

    jobs = [("floor", "sort"), ("floor", "argsort2")]
    jobs += [("ours", m) for m in methods]
    if "ssgsea" in methods:
        jobs.append(("ours", "ssgsea@1t"))
    for t, ms in PEERS.items():
        if not skip[t]:
            jobs += [(t, m) for m in ms if m in methods]

    results: dict = {"info": info, "cases": {}}
    input_bytes = base["genes"] * base["samples"] * 8
    with tempfile.TemporaryDirectory(prefix="mgbench-") as tmpd:
        tmp = Path(tmpd)
        res = run_case("main", base, jobs, args, tmp, log)
        results["cases"]["main"] = res
        ratios = report(res, input_bytes, log)
        if not args.quick and not args.no_1000 and "ssgsea" in methods:
            b2 = {**base, "sets": 1000}
            jobs2 = [("floor", "sort"), ("ours", "ssgsea"), ("ours", "ssgsea@1t")]
            if args.peers_1000:
                jobs2 += [(t, "ssgsea") for t in ("gseapy", "R") if not skip[t]]
            res2 = run_case("sets1000", b2, jobs2, args, tmp, log)
            results["cases"]["sets1000"] = res2
            ratios2 = report(res2, input_bytes, log)
            ratios.update({k.replace("ssgsea", "ssgsea@1000"): v for k, v in ratios2.items()})
    info["load_end"] = os.getloadavg()[0]
    results["ratios"] = ratios

    log(f"\ntargets: {TARGETS}")
    checks = [("ssgsea: ours/floor", 1.5, "<="), ("ssgsea@1000: ours/floor", 2.0, "<="), ("gsva: gseapy/ours", 8.0, ">=")]
    for key, lim, op in checks:
        v = ratios.get(key)
        if v is None:
            log(f"  {key}: not measured")
            continue
        ok = v <= lim if op == "<=" else v >= lim
        log(f"  {key} = {v:.2f} ({op} {lim}): {'met' if ok else 'NOT met'}")
    log(f"load average at the end: {info['load_end']:.2f} (start {info['load_start']:.2f})")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results["log"] = lines
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

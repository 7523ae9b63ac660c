#!/usr/bin/env python
"""Speed, memory and agreement of mgtranscript's scoring methods against gseapy, R GSVA
1.46, decoupler and the sorting floor, measured like for like in one run.

    python3 benchmarks/run.py             # 20,000 genes x 424 samples x 50 sets, then ssGSEA at 1,000 sets
    python3 benchmarks/run.py --quick     # 5,000 x 100 x 20 (a few minutes; R included if installed)
    python3 benchmarks/run.py --summarize benchmarks/results/run-A.json benchmarks/results/run-B.json

Data: synthetic log-expression (fixed seed): genes with their own mean and spread, sets of
10-200 random genes (the same genes and sets for every tool).

How it is measured (see benchmarks/README.md):

* **Same API level.** Ours is called as a user calls it, ``mg.tl.score(adata, sets,
  method=...)`` on an AnnData (samples x genes, gene names, sets as name -> gene names),
  like ``gseapy.ssgsea(data=df, gene_sets=sets, ...)``, ``gsva(X, sets, method=...)`` in
  R and ``decoupler.mt.gsva(df, net)``. Building each tool's input container and reading
  its result back happen outside the timed region, for every tool.
* **One thread against one thread** (the headline). Each tool's child process starts with
  every thread pool capped at one (``OMP/OPENBLAS/MKL/NUMBA/RAYON_NUM_THREADS=1`` in its
  environment, so before any import; ``threadpoolctl`` limits too), pinned to one CPU
  (``sched_setaffinity``, inherited by R); gseapy gets ``threads=1``, R GSVA
  ``parallel.sz=1``. Each child records what its pools report (``threading`` in the JSON).
  A second case times ours (and with ``--peers-all`` gseapy) on all CPUs, unpinned.
* **The floor in the same child as ours, alternating.** ``np.sort(X, axis=1)`` of the
  samples x genes matrix is timed inside ours' child right next to every timed call of
  ours, floor first in odd rounds and ours first in even ones; ``ours/floor`` is the median
  over rounds of the per-round ratio. ``argsort(argsort(X))`` is timed for reference.
* **Wall and CPU seconds** for every call: ``time.perf_counter`` and ``getrusage`` (self +
  children, all threads) around the call in Python, ``system.time`` (elapsed;
  user + system, self + children) in R.
* **Rounds.** Every tool runs in its own long-lived child (imports, numba compilation, R's
  package loading in an untimed warm-up); every (tool, method) is timed once per round,
  ``--repeat`` rounds (default 5) with the order rotated each round. Reported: median
  [min-max]; the load average after each round is recorded.
* **Memory** in a separate run: a fresh child per (tool, method), one call with the
  kernel's peak-RSS counter reset just before it (``/proc/self/clear_refs``); reported is
  the peak resident size during the call minus the size before it. ``--tracemalloc`` adds
  the tracemalloc peak (Python tools) in yet another run.
* **Agreement**: the scores of the memory run compared across tools (max |difference|).

The host's CPU model, AVX2 / AVX-512 flags, NumPy's SIMD targets and the load average
(start, each round, end) are printed and stored. JSON goes to
``benchmarks/results/run-<timestamp>.json``. ``--summarize`` prints, for several such files,
each ratio's median over the runs and the runs it came from (the README quotes these).
"""

from __future__ import annotations

import argparse
import json
import os
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
sys.path.insert(0, str(HERE))
from _common import (RESULTS, ROOT, child_env, cpu_seconds, default_cpu, fmt_s, fmt_t, fmt_x,  # noqa: E402
                     git_describe, host_lines, load, machine, median, pin_to, reset_peak, status_kib,
                     threading_report)

R_SCRIPT = HERE / "r_gsva.R"

OURS = ("ssgsea", "gsva", "zscore", "plage", "singscore")
PEERS = {
    "gseapy": ("ssgsea", "gsva"),
    "R": ("ssgsea", "gsva", "zscore", "plage"),
    "decoupler": ("gsva",),
}
PEER_LABEL = {"gseapy": "gseapy", "R": "R GSVA", "decoupler": "decoupler"}
#: R GSVA 1.46's parallel.sz: one process (the one-thread comparison; it was also its
#: fastest setting on the 2-core machine: BiocParallel's start-up added ~25 s per call at 2)
R_WORKERS = 1
#: targets of issue 11, checked at the end (one thread against one thread)
TARGETS = "ssgsea <= 1.5x floor (50 sets), <= 2x floor (1,000 sets); gsva >= 8x gseapy (one thread each)"


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


# --------------------------------------------------------------------------- Python tools
class PyTool:
    """A Python tool in its child: ``call(method)`` is the timed public-API call,
    ``scores(method, raw)`` reads its result (untimed); ``floor(kind)`` the sorting floor."""

    def __init__(self, spec: dict):
        self.tool, self.threads = spec["tool"], spec["threads"]
        if self.threads == 1:
            try:
                from threadpoolctl import threadpool_limits

                self._limits = threadpool_limits(1)  # kept alive: the limit lasts as long as the object
            except ImportError:  # the environment variables already cap the pools
                pass
        self.X, self.sets = make_data(spec["genes"], spec["samples"], spec["sets"], spec["seed"])
        self.names = gene_names(self.X.shape[1])
        self.snames = sample_names(self.X.shape[0])
        self.gmt = {k: [self.names[i] for i in v] for k, v in self.sets.items()}
        self.prepare()

    def prepare(self) -> None:
        import pandas as pd

        t = self.tool
        if t == "ours":
            import anndata

            import mgtranscript as mg

            self.mg = mg
            self.adata = anndata.AnnData(X=self.X, obs=pd.DataFrame(index=self.snames),
                                         var=pd.DataFrame(index=self.names))
            small = anndata.AnnData(X=self.X[:24, :600].copy(), obs=pd.DataFrame(index=self.snames[:24]),
                                    var=pd.DataFrame(index=self.names[:600]))
            gs = {"a": self.names[:600:7], "b": self.names[:30]}
            for m in OURS:  # warm-up: imports, numba compilation / cache load
                mg.tl.score(small, gs, method=m, key_added="warm", progress=False)
            np.sort(self.X[:24], axis=1)
        elif t == "gseapy":
            import gseapy

            self.mod = gseapy
            self.df = pd.DataFrame(self.X.T, index=self.names, columns=self.snames)  # genes x samples
            small = pd.DataFrame(self.X[:12, :400].T, index=self.names[:400], columns=self.snames[:12])
            gs = {"a": self.names[:40], "b": self.names[100:130]}
            gseapy.ssgsea(data=small, gene_sets=gs, outdir=None, min_size=1, no_plot=True, verbose=False,
                          threads=self._gseapy_threads())
            gseapy.gsva(data=small, gene_sets=gs, outdir=None, min_size=1, verbose=False,
                        threads=self._gseapy_threads())
        elif t == "decoupler":
            import decoupler

            self.mod = decoupler
            self.df = pd.DataFrame(self.X, index=self.snames, columns=self.names)  # samples x genes
            self.net = pd.DataFrame([(k, g) for k, v in self.gmt.items() for g in v], columns=["source", "target"])
            small = self.df.iloc[:12, :400]
            decoupler.mt.gsva(small, self.net[self.net["target"].isin(small.columns)], tmin=1)
        else:
            raise ValueError(f"unknown tool {t!r}")

    def _gseapy_threads(self) -> int:
        return 1 if self.threads == 1 else (os.cpu_count() or 1)

    def floor(self, kind: str = "sort") -> None:
        if kind == "sort":
            np.sort(self.X, axis=1)
        else:
            np.argsort(np.argsort(self.X, axis=1), axis=1)

    def call(self, method: str):
        t = self.tool
        if t == "ours":
            return self.mg.tl.score(self.adata, self.gmt, method=method, key_added="bench", progress=False)
        if t == "gseapy":
            kw = dict(data=self.df, gene_sets=self.gmt, outdir=None, min_size=1, max_size=100000,
                      threads=self._gseapy_threads(), verbose=False)
            if method == "ssgsea":
                return self.mod.ssgsea(no_plot=True, sample_norm_method="rank", weight=0.25, **kw)
            return self.mod.gsva(kcdf="Gaussian", **kw)
        if t == "decoupler":
            return self.mod.mt.gsva(self.df, self.net, tmin=1)
        raise ValueError(t)

    def scores(self, method: str, raw) -> np.ndarray:
        """Samples x sets, rows and columns in the benchmark's order."""
        t = self.tool
        if t == "ours":
            return self.adata.obsm["bench"].loc[self.snames, list(self.sets)].to_numpy(dtype=float)
        if t == "gseapy":
            piv = raw.res2d.pivot(index="Name", columns="Term", values="ES").astype(float)
            return piv.loc[self.snames, list(self.sets)].to_numpy()
        es = raw[0] if isinstance(raw, tuple) else raw
        return es.loc[self.snames, list(self.sets)].to_numpy(dtype=float)


def _timed(fn, *args):
    c0, t0 = cpu_seconds(), time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, cpu_seconds() - c0


def serve(spec: dict) -> int:
    """Child process: answer JSON commands on stdin (one per line) with JSON lines."""
    reply = sys.stdout
    sys.stdout = sys.stderr  # whatever a tool prints must not mix with the replies

    def answer(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    tool = PyTool(spec)
    answer({"ready": True, "threading": threading_report()})
    for line in sys.stdin:
        cmd = json.loads(line)
        op, method = cmd["op"], cmd.get("method", "")
        if op == "quit":
            break
        out: dict = {"op": op}
        try:
            if op == "time" and method in ("sort", "argsort2"):
                _, out["seconds"], out["cpu"] = _timed(tool.floor, method)
            elif op == "time":
                if cmd.get("floor") and cmd.get("floor_first"):
                    _, out["floor_seconds"], out["floor_cpu"] = _timed(tool.floor, "sort")
                _, out["seconds"], out["cpu"] = _timed(tool.call, method)
                if cmd.get("floor") and not cmd.get("floor_first"):
                    _, out["floor_seconds"], out["floor_cpu"] = _timed(tool.floor, "sort")
            elif op == "mem":
                import gc

                gc.collect()
                before = status_kib("VmRSS")
                reset_peak()
                raw, out["seconds"], out["cpu"] = _timed(tool.call, method)
                peak = status_kib("VmHWM")
                out["rss_rise_kib"], out["rss_peak_kib"] = peak - before, peak
                if cmd.get("save"):
                    np.save(cmd["save"], np.asarray(tool.scores(method, raw), dtype=np.float64))
            elif op == "tracemalloc":
                import tracemalloc

                tracemalloc.start()
                tool.call(method)
                out["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        except Exception as exc:  # report, keep serving
            out["error"] = f"{type(exc).__name__}: {exc}"
        answer(out)
    return 0


# --------------------------------------------------------------------------- children
class Child:
    """A tool's long-lived child process (Python server or R server)."""

    def __init__(self, tool: str, base: dict, tmp: Path, timeout: float, threads: int | None, cpu: int | None):
        self.tool, self.timeout, self.threading = tool, timeout, {}
        if tool == "R":
            cmd = [shutil.which("Rscript"), str(R_SCRIPT), "serve", str(tmp), str(base["genes"]),
                   str(base["samples"]), str(R_WORKERS)]
        else:
            spec = {**base, "tool": tool, "threads": threads}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--_serve", json.dumps(spec)]
        self.err_path = tmp / f"{tool}-{time.monotonic_ns()}.stderr"
        self.err = open(self.err_path, "w")  # a file, not a pipe: a chatty child never blocks
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  bufsize=1, env=child_env(threads, pythonpath=ROOT),
                                  preexec_fn=pin_to(cpu if threads == 1 else None))
        if tool != "R":
            ready = self._read()
            if not ready or "ready" not in ready:
                raise RuntimeError(f"{tool}: child failed to start: {(ready or {}).get('error') or self.stderr_tail()}")
            self.threading = ready.get("threading", {})
        else:
            self.threading = {"affinity": 1 if threads == 1 else None, "parallel.sz": R_WORKERS,
                              "env": "thread pools capped at 1" if threads == 1 else "unset"}

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
                return {"seconds": float(parts[2]), "cpu": float(parts[3]) if len(parts) > 3 else None}
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
    from importlib.metadata import version

    out = {"mgtranscript": f"{ROOT} @ {git_describe(ROOT)}", "python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("numba", "anndata", "gseapy", "decoupler"):
        try:
            out[mod] = version(mod)
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


# --------------------------------------------------------------------------- a case
def _child_of(tool: str) -> str:
    return "ours" if tool == "floor" else tool  # the floor runs inside ours' child


def run_case(name: str, title: str, base: dict, jobs: list[tuple[str, str]], args, tmp: Path, log, *,
             threads: int | None) -> dict:
    """Time every (tool, method) of ``jobs`` interleaved, then measure memory separately."""
    case_dir = tmp / name
    case_dir.mkdir()
    cpu = args.cpu if threads == 1 else None
    tools = sorted({_child_of(t) for t, _ in jobs})
    if "R" in tools:
        X, sets = make_data(base["genes"], base["samples"], base["sets"], base["seed"])
        X.tofile(case_dir / "X.bin")  # samples x genes C order == genes x samples column-major
        with open(case_dir / "sets.tsv", "w") as fh:
            for k, v in sets.items():
                fh.write(k + "\t" + ",".join(str(i + 1) for i in v) + "\n")
        del X
    res: dict = {"config": base, "title": title, "threads": threads, "pinned_cpu": cpu, "times": {}, "cpu": {},
                 "floor_pairs": {}, "memory": {}, "skipped": {}, "agreement": {}, "threading": {}, "load": []}
    log(f"\n## {name}: {title}\n   {base['genes']:,} genes x {base['samples']:,} samples x {base['sets']:,} sets; "
        f"{args.repeat} timed rounds, interleaved, order rotated")
    children: dict[str, Child] = {}
    for t in tools:
        try:
            children[t] = Child(t, base, case_dir, args.timeout, threads, cpu)
            res["threading"][t] = children[t].threading
        except Exception as exc:
            res["skipped"][t] = str(exc)
            log(f"  {t}: could not start ({exc})")
    live = [(t, m) for t, m in jobs if _child_of(t) in children]
    times: dict = {f"{t}:{m}": [] for t, m in live}
    cpus: dict = {f"{t}:{m}": [] for t, m in live}
    for rnd in range(args.repeat):
        k = rnd % max(1, len(live))
        for t, m in live[k:] + live[:k]:  # rotate the order each round
            key = f"{t}:{m}"
            if key in res["skipped"]:
                continue
            pair = t == "ours" and threads == 1  # ours/floor: one thread against one-thread np.sort
            r = children[_child_of(t)].ask("time", m, floor=pair, floor_first=rnd % 2 == 0)
            if "error" in r:
                res["skipped"][key] = r["error"]
                log(f"  {key}: {r['error']} (not timed again)")
                continue
            times[key].append(r["seconds"])
            cpus[key].append(r.get("cpu"))
            if pair and "floor_seconds" in r:
                res["floor_pairs"].setdefault(m, []).append([r["floor_seconds"], r["seconds"], r["floor_cpu"]])
        res["load"].append(load())
        log(f"  round {rnd + 1}/{args.repeat} done (load {res['load'][-1][0]:.2f})")
    for c in children.values():
        c.close()
    res["times"] = {k: v for k, v in times.items() if v}
    res["cpu"] = {k: v for k, v in cpus.items() if v and None not in v}

    if args.no_memory:
        return res
    # memory: a fresh child per (tool, method), one call, scores saved for the agreement
    for t, m in jobs:
        key = f"{t}:{m}"
        if t == "floor" or t in res["skipped"] or key in res["skipped"]:
            continue
        try:
            c = Child(t, base, case_dir, args.timeout, threads, cpu)
        except Exception as exc:
            res["skipped"].setdefault(key, str(exc))
            continue
        save = case_dir / f"{t}_{m}.npy"
        r = c.ask("mem", m, save=str(save)) if t != "R" else c.ask("mem", m)
        if args.tracemalloc and t != "R" and "error" not in r:
            r["tracemalloc_peak_bytes"] = c.ask("tracemalloc", m).get("tracemalloc_peak_bytes")
        c.close()
        if "error" in r:
            res["skipped"].setdefault(key, r["error"])
            continue
        res["memory"][key] = r
        if t == "R":
            rb = case_dir / f"r_{m}.bin"
            if rb.exists():
                np.save(save, np.fromfile(rb).reshape(base["samples"], base["sets"]))
    for t, m in jobs:  # agreement with ours
        if t in ("ours", "floor"):
            continue
        a, b = case_dir / f"ours_{m}.npy", case_dir / f"{t}_{m}.npy"
        if a.exists() and b.exists():
            A, B = np.load(a), np.load(b)
            if m == "plage":  # a singular vector's sign is arbitrary: align per set
                B = B * np.where(np.sign((A * B).sum(axis=0)) < 0, -1.0, 1.0)
            res["agreement"][f"{m}: ours vs {t}"] = float(np.nanmax(np.abs(A - B)))
    return res


# --------------------------------------------------------------------------- reporting
def ratios_of(res: dict, prefix: str = "") -> dict:
    """The case's like-for-like ratios (all from this case's medians):
    ``<m>: ours/floor`` (median of per-round paired ratios), ``<m>: <peer>/ours`` (wall) and
    ``<m>: <peer>/ours CPU`` (CPU seconds)."""
    T, C = res["times"], res["cpu"]
    out: dict = {}
    for m, pairs in res["floor_pairs"].items():
        out[f"{prefix}{m}: ours/floor"] = median([o / f for f, o, _ in pairs])
    for key in T:
        t, m = key.split(":", 1)
        o = T.get(f"ours:{m}")
        if t in PEERS and o:
            out[f"{prefix}{m}: {t}/ours"] = median(T[key]) / median(o)
            if key in C and f"ours:{m}" in C and median(C[f"ours:{m}"]) > 0:
                out[f"{prefix}{m}: {t}/ours CPU"] = median(C[key]) / median(C[f"ours:{m}"])
    return out


def report(res: dict, input_bytes: int, log, prefix: str = "") -> dict:
    """Print a case: the like-for-like ratios first, then times, memory, agreement."""
    T, C, R = res["times"], res["cpu"], ratios_of(res, prefix)
    methods = [m for m in OURS if f"ours:{m}" in T or any(k.endswith(":" + m) for k in T)]
    peers = [t for t in PEERS if any(k.startswith(t + ":") for k in T)]
    log(f"\nratios ({res['title']}; medians of this run; in brackets: per CPU second)")
    floor = bool(res["floor_pairs"])
    log(f"  {'method':10}" + (f" {'ours/floor':>10}" if floor else "")
        + "".join(f" {PEER_LABEL[t] + '/ours':>24}" for t in peers))
    for m in methods:
        row = f"  {m:10}" + (f" {fmt_x(R.get(f'{prefix}{m}: ours/floor')):>10}" if floor else "")
        for t in peers:
            w, c = R.get(f"{prefix}{m}: {t}/ours"), R.get(f"{prefix}{m}: {t}/ours CPU")
            row += f" {(fmt_x(w, 1) + ' [' + fmt_x(c, 1) + ']') if w else '-':>24}"
        log(row)
    log(f"\n  {'tool:method':20} {'wall s, median [min-max]':>28} {'CPU s':>8} {'CPU/wall':>8}")
    for key in sorted(T, key=lambda k: (k.split(':')[0] != 'ours', k)):
        c = median(C[key]) if key in C else None
        cw = c / median(T[key]) if c is not None and median(T[key]) > 0 else None
        log(f"  {key:20} {fmt_t(T[key]):>28} {fmt_s(c):>8} {fmt_x(cw):>8}")
        if key.startswith("ours:") and key[5:] in res["floor_pairs"]:
            fp = res["floor_pairs"][key[5:]]
            log(f"  {'  floor beside it':20} {fmt_t([f for f, _, _ in fp]):>28} {fmt_s(median([c for _, _, c in fp])):>8}")
    if res["memory"]:
        log(f"\n  memory (separate run): peak RSS rise during one call, MiB (x input {input_bytes / 2**20:.1f} MiB)")
        for key, r in res["memory"].items():
            extra = f"; tracemalloc peak {r['tracemalloc_peak_bytes'] / 2**20:.1f} MiB" if r.get("tracemalloc_peak_bytes") else ""
            log(f"  {key:22} {r['rss_rise_kib'] / 1024:8.1f} MiB ({r['rss_rise_kib'] * 1024 / input_bytes:5.2f}x){extra}")
    for k, v in res["agreement"].items():
        log(f"  max |diff| {k}: {v:.3g}")
    for k, v in res["skipped"].items():
        log(f"  skipped {k}: {v}")
    log("  load after each round: " + ", ".join(f"{x[0]:.2f}" for x in res["load"]))
    if res["threads"] == 1:
        share = [median(C[k]) / median(T[k]) for k in C if k in T and median(T[k]) > 0]
        if share and median(share) < 0.9:
            log(f"  WARNING: the one-thread calls got {median(share):.0%} of their CPU (median CPU/wall): the "
                "pinned CPU was shared with other work, so wall times are inflated; rerun on a quiet machine "
                "(or --cpu another CPU) and meanwhile read the per-CPU-second ratios")
    return R


def summarize(paths: list[str]) -> int:
    """Each ratio's median over several runs' JSON, with the runs named."""
    runs = []
    for p in paths:
        d = json.loads(Path(p).read_text())
        runs.append((Path(p).name, d))
    keys: list[str] = []
    for _, d in runs:
        keys += [k for k in d.get("ratios", {}) if k not in keys]
    print(f"# medians over {len(runs)} run(s): " + ", ".join(n for n, _ in runs))
    sizes = {json.dumps(d.get("cases", {}).get("main", {}).get("config")) for _, d in runs}
    if len(sizes) > 1:
        print(f"# WARNING: these runs measured different sizes ({'; '.join(sorted(sizes))}): their medians mix them")
    for n, d in runs:
        info = d.get("info", {})
        m = info.get("machine", {})
        print(f"#   {n}: {info.get('started', '?')}, {m.get('cpus', '?')} CPUs {m.get('cpu', '')}, "
              f"AVX2 {m.get('avx2')}, AVX-512 {m.get('avx512')}, load {info.get('load_start')} -> {info.get('load_end')}, "
              f"{info.get('versions', {}).get('mgtranscript', '')}")
    print("\n| ratio | median | per run |\n|---|---|---|")
    for k in keys:
        vals = [d["ratios"].get(k) for _, d in runs]
        got = [v for v in vals if v is not None]
        print(f"| {k} | {median(got):.2f}x | {' · '.join('-' if v is None else f'{v:.2f}' for v in vals)} |")
    return 0


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
    ap.add_argument("--cpu", type=int, default=default_cpu(), help="the CPU one-thread children are pinned to "
                    "(default: the last usable one)")
    ap.add_argument("--no-gseapy", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-decoupler", action="store_true")
    ap.add_argument("--decoupler-large", action="store_true",
                    help="also run decoupler's GSVA at full size (its ranking is O(genes^2) per sample: minutes per call)")
    ap.add_argument("--no-1000", action="store_true", help="skip the 1,000-set ssGSEA case")
    ap.add_argument("--peers-1000", action="store_true", help="time gseapy and R in the 1,000-set case too")
    ap.add_argument("--no-all-cpus", action="store_true", help="skip the all-CPUs case (ours unpinned)")
    ap.add_argument("--peers-all", action="store_true", help="time gseapy (threads = all CPUs) in the all-CPUs case too")
    ap.add_argument("--no-memory", action="store_true", help="skip the separate memory run (and the agreement)")
    ap.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc peaks (Python tools)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per call before a tool is dropped")
    ap.add_argument("--summarize", nargs="+", metavar="JSON", help="print each ratio's median over these runs and exit")
    ap.add_argument("--_serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._serve:
        return serve(json.loads(args._serve))
    if args.summarize:
        return summarize(args.summarize)

    g, s, k = (5000, 100, 20) if args.quick else (20000, 424, 50)
    base = {"genes": args.genes or g, "samples": args.samples or s, "sets": args.sets or k, "seed": args.seed}
    methods = [m for m in args.methods.split(",") if m in OURS]
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        lines.append(msg)

    info = {"machine": machine(), "versions": versions(), "load_start": load(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:]}
    log(f"# mgtranscript benchmarks {info['started']}")
    for line in host_lines(info):
        log(line)
    log("# " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    skip = {t: available(t, args) for t in PEERS}
    for t, why in skip.items():
        if why:
            log(f"# {t}: not run ({why})")
    if base["genes"] * base["samples"] >= 4_000_000 and not args.decoupler_large and not skip["decoupler"]:
        skip["decoupler"] = "skipped at this size (O(genes^2) ranking: minutes per call); --decoupler-large runs it"
        log(f"# decoupler: {skip['decoupler']}")

    one = f"one thread per tool (pinned to CPU {args.cpu}; BLAS/OpenMP/numba/rayon pools capped at 1)"
    jobs = [("ours", m) for m in methods] + [("floor", "argsort2")]
    for t, ms in PEERS.items():
        if not skip[t]:
            jobs += [(t, m) for m in ms if m in methods]
    results: dict = {"info": info, "cases": {}}
    input_bytes = base["genes"] * base["samples"] * 8
    with tempfile.TemporaryDirectory(prefix="mgbench-") as tmpd:
        tmp = Path(tmpd)
        res = run_case("main", one, base, jobs, args, tmp, log, threads=1)
        results["cases"]["main"] = res
        ratios = report(res, input_bytes, log)
        if not args.quick and not args.no_1000 and "ssgsea" in methods:
            b2 = {**base, "sets": 1000}
            jobs2 = [("ours", "ssgsea")]
            if args.peers_1000:
                jobs2 += [(t, "ssgsea") for t in ("gseapy", "R") if not skip[t]]
            res2 = run_case("sets1000", one, b2, jobs2, args, tmp, log, threads=1)
            results["cases"]["sets1000"] = res2
            ratios.update(report(res2, input_bytes, log, prefix="1000 sets "))
        if not args.no_all_cpus:
            jobs3 = [("ours", m) for m in methods]
            if args.peers_all and not skip["gseapy"]:
                jobs3 += [("gseapy", m) for m in PEERS["gseapy"] if m in methods]
            res3 = run_case("allcpus", f"all {os.cpu_count()} CPUs, unpinned (gseapy threads = all CPUs)", base,
                            jobs3, args, tmp, log, threads=None)
            results["cases"]["allcpus"] = res3
            ratios.update(report(res3, input_bytes, log, prefix="all CPUs "))
            speed = {m: median(res["times"][f"ours:{m}"]) / median(res3["times"][f"ours:{m}"])
                     for m in methods if f"ours:{m}" in res["times"] and f"ours:{m}" in res3["times"]}
            if speed:
                log("  ours, one thread / all CPUs (wall): " + ", ".join(f"{m} {v:.2f}x" for m, v in speed.items()))
    info["load_end"] = load()
    results["ratios"] = ratios

    log(f"\ntargets: {TARGETS}")
    for key, lim, op in (("ssgsea: ours/floor", 1.5, "<="), ("1000 sets ssgsea: ours/floor", 2.0, "<="),
                         ("gsva: gseapy/ours", 8.0, ">=")):
        v = ratios.get(key)
        if v is None:
            log(f"  {key}: not measured")
            continue
        ok = v <= lim if op == "<=" else v >= lim
        log(f"  {key} = {v:.2f} ({op} {lim}): {'met' if ok else 'NOT met'}")
    log("load average (1, 5, 15 min): start " + ", ".join(f"{x:.2f}" for x in info["load_start"])
        + "; end " + ", ".join(f"{x:.2f}" for x in info["load_end"]))

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results["log"] = lines
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

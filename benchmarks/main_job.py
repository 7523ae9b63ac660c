#!/usr/bin/env python
"""The main job, side by side: warm ``mgtranscript run`` of this checkout against the code of
an earlier commit (default ``1aa5bfb``, the previous release), on the offline mirror.

    python3 benchmarks/main_job.py                    # this checkout vs 1aa5bfb, medians of 3
    python3 benchmarks/main_job.py -n 5 --ref v0.1.0  # another ref, 5 timed rounds
    python3 benchmarks/main_job.py -n 1 --memory      # one round, plus a peak-memory run per side
    python3 benchmarks/main_job.py --run-args "--no-plots" --head-args "--jobs 2"

What it does:

1. **The old code without committing it**: ``git archive <ref>`` unpacked into a temporary
   folder; each side runs as ``python -m mgtranscript run --out DIR`` in its own process
   with ``PYTHONPATH`` set to its code (this checkout as it is on disk, uncommitted
   changes included, or the unpacked ref). Before timing, each side is checked to import
   ``mgtranscript`` from where it should.
2. **Warm caches**: each side gets its own cache folder (``MGTRANSCRIPT_CACHE``; temporary,
   or under ``--cache-dir`` to keep it between invocations) and runs once untimed, so the
   timed runs read the mirror's files (and whatever a side caches itself) from a warm cache.
   ``MGTRANSCRIPT_MIRROR`` is the mirror (``--mirror``; default ``$MGTRANSCRIPT_MIRROR``,
   ``$MGTRANSCRIPT_SHARED/mirror`` or ``../shared/mirror`` beside this checkout or beside
   the main checkout of a git worktree).
3. **Interleaved rounds**: ``-n`` rounds (default 3), each runs both sides; the order
   alternates (A B, B A, A B, ...; ``--order abab`` keeps A first). Per run: wall seconds,
   CPU seconds (user + system of the run and of every process it started and waited for,
   from ``wait4``), the largest resident size of any one of those processes (``ru_maxrss``)
   and the load average before and after. Reported: medians [min-max] and the ratio
   this checkout / ref of the medians (the issue's target: wall <= 0.5x).
   ``--memory`` adds one more run per side, separately, sampling the memory of the whole
   process tree (workers included) every 0.2 s: the sum of the processes' proportional set
   sizes (PSS), so pages forked workers share with their parent count once.
4. **Same results**: the last run's ``tables/*.tsv`` of both sides are compared byte for
   byte after replacing each side's own paths (cache, output, code folders) by
   placeholders; a file that still differs is compared again without timing columns
   (``seconds``, ``elapsed``, ...) and reported with the columns that differ and the
   largest numeric difference. Each side's first and last runs are compared too
   (determinism).
5. **Phases**: when a run's ``provenance.json`` reports timings (a ``timings`` /
   ``phases`` / ``phase_seconds`` mapping in ``params`` or at the top level), their medians are
   printed side by side; ``params.seconds`` (analysis before the report) is always shown
   when present. Absent keys are tolerated.

The host (CPU, AVX2 / AVX-512) and the load are printed; JSON goes to
``benchmarks/results/main-job-<timestamp>.json``. Run it on a quiet machine: other work
on the same cores moves both sides, but not necessarily equally.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (RESULTS, ROOT, child_env, fmt_t, git_describe, host_lines, load, machine,  # noqa: E402
                     median, tree_rss_kib)

DEFAULT_REF = "1aa5bfb"
#: table columns that hold timings, never results (left out when a table is compared again)
TIMING_COLUMNS = re.compile(r"(^|_)(seconds|secs|elapsed|duration|runtime|wall|cpu_s|timestamp|started|finished)$", re.I)
#: keys of provenance.json that may hold a per-phase breakdown
PHASE_KEYS = ("timings", "phases", "phase_seconds", "timing")


# --------------------------------------------------------------------------- sides
def find_mirror(arg: str | None) -> Path:
    common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    main_checkout = Path(common).parent if common else ROOT  # a worktree's main checkout
    for cand in (arg, os.environ.get("MGTRANSCRIPT_MIRROR"),
                 os.environ.get("MGTRANSCRIPT_SHARED") and str(Path(os.environ["MGTRANSCRIPT_SHARED"]) / "mirror"),
                 str(ROOT.parent / "shared" / "mirror"), str(main_checkout.parent / "shared" / "mirror")):
        if cand and Path(cand).is_dir():
            return Path(cand).resolve()
    sys.exit("main_job.py: no mirror found; pass --mirror DIR or set MGTRANSCRIPT_MIRROR "
             "(the offline mirror of the public files, e.g. ../shared/mirror)")


def unpack_ref(ref: str, dest: Path) -> str:
    """``git archive <ref>`` of this repository into ``dest``; returns the full commit id."""
    p = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"main_job.py: {ref!r} is not a commit of {ROOT} ({p.stderr.strip()}); pass --ref COMMIT")
    sha = p.stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout)
    archive.stdout.close()
    if archive.wait() != 0 or tar.returncode != 0:
        sys.exit(f"main_job.py: could not unpack {ref} into {dest}")
    return sha


class Side:
    """One of the two codes being compared."""

    def __init__(self, label: str, code: Path, cache: Path, mirror: Path, run_args: list[str]):
        self.label, self.code, self.cache, self.run_args = label, code, cache, run_args
        cache.mkdir(parents=True, exist_ok=True)
        self.env = child_env(None, pythonpath=code)
        self.env.update({"MGTRANSCRIPT_MIRROR": str(mirror), "MGTRANSCRIPT_CACHE": str(cache)})
        self.runs: list[dict] = []

    def check_import(self) -> str:
        p = subprocess.run([sys.executable, "-c", "import mgtranscript; print(mgtranscript.__file__)"],
                           capture_output=True, text=True, env=self.env, cwd=str(self.code))
        where = Path(p.stdout.strip() or "?").resolve()
        if p.returncode != 0 or self.code.resolve() not in where.parents:
            sys.exit(f"main_job.py: side {self.label} imports mgtranscript from {where}, not from {self.code} "
                     f"({p.stderr.strip()[-300:]}); is an installed copy shadowing PYTHONPATH?")
        return str(where)

    def run(self, out: Path, log_path: Path, *, sample_memory: bool = False) -> dict:
        """One ``mgtranscript run``: wall and CPU seconds, largest RSS, load, phases."""
        cmd = [sys.executable, "-m", "mgtranscript", "run", "--out", str(out), *self.run_args]
        load0 = load()
        with open(log_path, "w") as log:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=str(out.parent))
            peak = [0]
            stop = threading.Event()
            if sample_memory:
                def sample() -> None:
                    while not stop.is_set():
                        peak[0] = max(peak[0], tree_rss_kib(p.pid))
                        stop.wait(0.2)

                th = threading.Thread(target=sample, daemon=True)
                th.start()
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            stop.set()
            p.returncode = os.waitstatus_to_exitcode(status)
        rec = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss, "load_before": load0,
               "load_after": load(), "returncode": p.returncode, "out": str(out), "log": str(log_path)}
        if sample_memory:
            rec["tree_peak_rss_kib"] = peak[0]
        if p.returncode != 0:
            tail = "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-15:])
            sys.exit(f"main_job.py: {self.label}: `{shlex.join(cmd)}` failed (exit {p.returncode}):\n{tail}")
        rec.update(phases(out / "provenance.json"))
        return rec


# --------------------------------------------------------------------------- provenance phases
def _flatten(d, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}/" if isinstance(v, (dict, list)) else f"{prefix}{k}"))
    elif isinstance(d, list):  # [{"phase": ..., "seconds": ...}, ...] or a list of numbers
        for i, v in enumerate(d):
            if isinstance(v, dict):
                name = next((str(v[k]) for k in ("phase", "name", "step", "cohort") if k in v), str(i))
                num = {k: x for k, x in v.items() if isinstance(x, (int, float)) and not isinstance(x, bool)}
                if len(num) == 1:
                    out[f"{prefix}{name}"] = float(next(iter(num.values())))
                else:
                    out.update(_flatten({k: x for k, x in v.items() if k not in ("phase", "name", "step")},
                                        f"{prefix}{name}/"))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix.rstrip("/")] = float(d)
    return out


def phases(prov: Path) -> dict:
    """``seconds`` (params) and any per-phase timings a run's provenance.json reports."""
    try:
        p = json.loads(prov.read_text())
    except (OSError, ValueError):
        return {"phases": {}}
    params = p.get("params", {}) if isinstance(p.get("params"), dict) else {}
    found: dict[str, float] = {}
    for src in (params, p):
        for key in PHASE_KEYS:
            if key in src:
                found.update(_flatten(src[key]))
    out = {"phases": found}
    if isinstance(params.get("seconds"), (int, float)):
        out["analysis_seconds"] = float(params["seconds"])
    return out


# --------------------------------------------------------------------------- tables
def _normalised(path: Path, side: Side, out: Path) -> bytes:
    text = path.read_bytes()
    for old, new in ((side.cache, "<cache>"), (out, "<out>"), (side.code, "<code>")):
        for form in {str(old), str(old.resolve())}:
            text = text.replace(form.encode(), new.encode())
    return text


def _frame_diff(a: bytes, b: bytes) -> dict:
    """Where two TSV tables differ, timing columns left out."""
    import io

    import numpy as np
    import pandas as pd

    try:
        A = pd.read_csv(io.BytesIO(a), sep="\t", dtype=str, keep_default_na=False)
        B = pd.read_csv(io.BytesIO(b), sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - not a table: bytes differ, nothing more to say
        return {"identical": False, "why": f"not readable as TSV ({exc})"}
    timing = [c for c in set(A.columns) | set(B.columns) if TIMING_COLUMNS.search(str(c))]
    A, B = A.drop(columns=[c for c in timing if c in A]), B.drop(columns=[c for c in timing if c in B])
    info: dict = {"timing_columns_ignored": sorted(timing)}
    if list(A.columns) != list(B.columns):
        info.update(identical=False, only_head=[c for c in A.columns if c not in B.columns],
                    only_ref=[c for c in B.columns if c not in A.columns])
        if set(A.columns) != set(B.columns):
            return info
        B = B[list(A.columns)]
        info["why"] = "same columns in another order"
    if A.shape != B.shape:
        info.update(identical=False, why=f"{A.shape[0]} rows vs {B.shape[0]}")
        return info
    neq = A.to_numpy() != B.to_numpy()
    if not neq.any():
        info.setdefault("identical", True)
        return info
    real = neq.copy()  # cells whose values differ, not only their text (e.g. 0.10 vs 0.1)
    diffs = []
    for j, c in enumerate(A.columns):
        if not neq[:, j].any():
            continue
        x, y = pd.to_numeric(A[c], errors="coerce").to_numpy(), pd.to_numeric(B[c], errors="coerce").to_numpy()
        same = (x == y) | (np.isnan(x) & np.isnan(y) & (A[c].to_numpy() != "") & (B[c].to_numpy() != ""))
        real[:, j] &= ~same
        both = ~np.isnan(x) & ~np.isnan(y) & neq[:, j]
        if both.any():
            diffs.append(float(np.max(np.abs(x[both] - y[both]))))
    if not real.any():
        info.update(identical=True, format_only=[c for c, bad in zip(A.columns, neq.any(axis=0)) if bad])
        return info
    cols = [c for c, bad in zip(A.columns, real.any(axis=0)) if bad]
    info.update(identical=False, differing_cells=int(real.sum()), differing_columns=cols)
    if diffs:
        info["max_abs_numeric_diff"] = max(diffs)
    return info


def compare_tables(a: tuple[Side, Path], b: tuple[Side, Path]) -> dict:
    """``tables/*.tsv`` of two runs: identical, or which files differ and how."""
    (sa, oa), (sb, ob) = a, b
    fa = {p.name: p for p in sorted((oa / "tables").glob("*.tsv"))}
    fb = {p.name: p for p in sorted((ob / "tables").glob("*.tsv"))}
    res: dict = {"files": len(set(fa) | set(fb)), "only_first": sorted(set(fa) - set(fb)),
                 "only_second": sorted(set(fb) - set(fa)), "differing": {}, "identical_after_dropping_timing": [],
                 "same_values_other_text": {}}
    for name in sorted(set(fa) & set(fb)):
        x, y = _normalised(fa[name], sa, oa), _normalised(fb[name], sb, ob)
        if x == y:
            continue
        d = _frame_diff(x, y)
        if d.get("format_only"):
            res["same_values_other_text"][name] = d["format_only"]
        elif d.get("identical"):
            res["identical_after_dropping_timing"].append(name)
        else:
            res["differing"][name] = d
    res["identical"] = not (res["only_first"] or res["only_second"] or res["differing"])
    return res


def describe_comparison(c: dict, first: str, second: str) -> list[str]:
    notes = []
    if c["identical_after_dropping_timing"]:
        notes.append(f"  identical after dropping timing columns: {', '.join(c['identical_after_dropping_timing'])}")
    for name, cols in c["same_values_other_text"].items():
        notes.append(f"  {name}: same values, written differently (number formatting) in {', '.join(cols[:8])}")
    if c["identical"]:
        return [f"identical: all {c['files']} tables/*.tsv"] + notes
    lines = [f"DIFFERENT: {len(c['differing']) + len(c['only_first']) + len(c['only_second'])} of {c['files']} "
             "tables differ"] + notes
    if c["only_first"]:
        lines.append(f"  only in {first}: {', '.join(c['only_first'])}")
    if c["only_second"]:
        lines.append(f"  only in {second}: {', '.join(c['only_second'])}")
    for name, d in c["differing"].items():
        bits = [d.get("why", "")]
        if d.get("differing_columns"):
            bits.append(f"{d['differing_cells']} cells in {', '.join(d['differing_columns'][:8])}"
                        + (" ..." if len(d["differing_columns"]) > 8 else ""))
        if "max_abs_numeric_diff" in d:
            bits.append(f"max |numeric diff| {d['max_abs_numeric_diff']:.3g}")
        if d.get("only_head") or d.get("only_ref"):
            bits.append(f"columns only in {first}: {d.get('only_head')}, only in {second}: {d.get('only_ref')}")
        lines.append(f"  {name}: " + "; ".join(b for b in bits if b))
    return lines


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--ref", default=DEFAULT_REF, help=f"the commit to compare with (default {DEFAULT_REF})")
    ap.add_argument("-n", "--rounds", type=int, default=3, help="timed rounds, each runs both sides (default 3)")
    ap.add_argument("--order", choices=("alternate", "abab"), default="alternate",
                    help="alternate: A B, B A, ... (default); abab: this checkout first in every round")
    ap.add_argument("--mirror", help="the offline mirror (default $MGTRANSCRIPT_MIRROR, $MGTRANSCRIPT_SHARED/mirror, "
                    "../shared/mirror)")
    ap.add_argument("--cache-dir", help="keep each side's warm cache here (<dir>/head, <dir>/ref-<sha>) between "
                    "invocations (default: temporary)")
    ap.add_argument("--run-args", default="", help="extra arguments of `mgtranscript run` for both sides")
    ap.add_argument("--head-args", default="", help="extra arguments for this checkout only (e.g. new options)")
    ap.add_argument("--memory", action="store_true", help="one more run per side sampling the process tree's RSS")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, logs, the ref's code)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("-n must be >= 1")

    mirror = find_mirror(args.mirror)
    info = {"machine": machine(), "load_start": load(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv[1:], "mirror": str(mirror)}
    tmp = Path(tempfile.mkdtemp(prefix="mgmain-"))
    try:
        sha = unpack_ref(args.ref, tmp / "ref")
        caches = Path(args.cache_dir).resolve() if args.cache_dir else tmp / "cache"
        head_label = f"HEAD {git_describe(ROOT)}"
        ref_label = f"{args.ref} ({sha[:7]})"
        head = Side(head_label, ROOT, caches / "head", mirror, shlex.split(args.run_args) + shlex.split(args.head_args))
        ref = Side(ref_label, tmp / "ref", caches / f"ref-{sha[:12]}", mirror, shlex.split(args.run_args))
        info["code"] = {head.label: head.check_import(), ref.label: ref.check_import()}
        print(f"# main job: warm `mgtranscript run` on {mirror}: {head.label} ({ROOT}) vs {ref.label} "
              f"(git archive in {tmp / 'ref'}); {args.rounds} timed round(s), order {args.order}")
        for line in host_lines(info):
            print(line)
        outs = tmp / "out"
        outs.mkdir()
        for side, tag in ((head, "head"), (ref, "ref")):  # warm-up: caches, numba, page cache
            print(f"warm-up: {side.label} ...", flush=True)
            r = side.run(outs / f"{tag}-warm", tmp / f"{tag}-warm.log")
            print(f"  {r['wall']:.1f} s (untimed)")
        for i in range(args.rounds):
            pair = [(head, "head"), (ref, "ref")]
            if args.order == "alternate" and i % 2:
                pair.reverse()
            for side, tag in pair:
                r = side.run(outs / f"{tag}-{i + 1}", tmp / f"{tag}-{i + 1}.log")
                side.runs.append(r)
                print(f"round {i + 1}/{args.rounds}: {side.label}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                      f"largest RSS {r['maxrss_kib'] / 1024:.0f} MiB, load {r['load_before'][0]:.2f} -> "
                      f"{r['load_after'][0]:.2f}", flush=True)
        mem = {}
        if args.memory:
            for side, tag in ((head, "head"), (ref, "ref")):
                r = side.run(outs / f"{tag}-mem", tmp / f"{tag}-mem.log", sample_memory=True)
                mem[side.label] = r
                print(f"memory run: {side.label}: peak memory of the process tree {r['tree_peak_rss_kib'] / 1024:.0f} MiB "
                      f"(sum of PSS, sampled every 0.2 s), largest single process {r['maxrss_kib'] / 1024:.0f} MiB")
        info["load_end"] = load()

        # ------------------------------------------------------------- summary
        lines: list[str] = ["", f"{'side':24} {'wall s, median [min-max]':>26} {'CPU s, median':>14} "
                                f"{'largest RSS MiB':>16} {'load before->after':>20}"]
        summ: dict = {}
        for side in (head, ref):
            w, c = [r["wall"] for r in side.runs], [r["cpu"] for r in side.runs]
            rss = max(r["maxrss_kib"] for r in side.runs) / 1024
            lb = median([r["load_before"][0] for r in side.runs])
            la = median([r["load_after"][0] for r in side.runs])
            summ[side.label] = {"wall": w, "cpu": c, "wall_median": median(w), "cpu_median": median(c),
                                "largest_rss_mib": rss}
            lines.append(f"{side.label:24} {fmt_t(w):>26} {median(c):14.1f} {rss:16.0f} {lb:9.2f} -> {la:<8.2f}")
        rw = summ[head.label]["wall_median"] / summ[ref.label]["wall_median"]
        rc = summ[head.label]["cpu_median"] / summ[ref.label]["cpu_median"]
        lines.append(f"ratio {head.label} / {ref.label}: wall {rw:.2f}x (target <= 0.5x: "
                     f"{'met' if rw <= 0.5 else 'not met'}), CPU {rc:.2f}x; medians of {args.rounds}")
        # phases
        keys: list[str] = []
        for side in (head, ref):
            for r in side.runs:
                keys += [k for k in r["phases"] if k not in keys]
        ph = {side.label: {k: median([r["phases"][k] for r in side.runs if k in r["phases"]] or [float("nan")])
                           for k in keys} for side in (head, ref)}
        an = {side.label: median([r["analysis_seconds"] for r in side.runs if "analysis_seconds" in r] or [float("nan")])
              for side in (head, ref)}
        lines.append("")
        lines.append("phases (provenance.json, median s): "
                     + ("none reported" if not keys else f"{len(keys)} reported"))
        lines.append(f"  {'analysis before the report (params.seconds)':44} " + "  ".join(
            f"{s}: {v:.1f}" if v == v else f"{s}: -" for s, v in an.items()))
        for k in keys:
            lines.append(f"  {k:44} " + "  ".join(f"{s}: {ph[s][k]:.2f}" if ph[s][k] == ph[s][k] else f"{s}: -"
                                                   for s in (head.label, ref.label)))
        # tables
        last = (head, Path(head.runs[-1]["out"])), (ref, Path(ref.runs[-1]["out"]))
        cmp = compare_tables(*last)
        lines.append("")
        lines.append(f"tables/*.tsv, {head.label} vs {ref.label} (last runs): "
                     + "\n".join(describe_comparison(cmp, head.label, ref.label)))
        det = {}
        for side in (head, ref):
            if len(side.runs) > 1:
                det[side.label] = compare_tables((side, Path(side.runs[0]["out"])), (side, Path(side.runs[-1]["out"])))
                lines.append(f"tables/*.tsv, {side.label}, first vs last run: "
                             + "\n".join(describe_comparison(det[side.label], "first", "last")))
        lines.append("load average (1, 5, 15 min): start " + ", ".join(f"{x:.2f}" for x in info["load_start"])
                     + "; end " + ", ".join(f"{x:.2f}" for x in info["load_end"]))
        for line in lines:
            print(line)

        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"main-job-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({"info": info, "ref": {"arg": args.ref, "sha": sha}, "head": str(ROOT),
                                    "runs": {s.label: s.runs for s in (head, ref)}, "summary": summ,
                                    "ratio_wall": rw, "ratio_cpu": rc, "phases": ph, "analysis_seconds": an,
                                    "memory_runs": mem, "tables": cmp, "determinism": det, "log": lines},
                                   indent=2, default=str))
        print(f"wrote {path}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers of the benchmark scripts: the host (CPU model, AVX2 / AVX-512 flags,
NumPy's SIMD targets, load), thread pinning of child processes, CPU seconds and peak
memory of a call or of a child process, and number formatting.

Not part of the package and not a test; imported by ``run.py``, ``main_job.py`` and
``scaling.py`` (they put this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

#: environment variables that cap the threads of BLAS / OpenMP / numba / Rust (rayon) pools;
#: set to 1 in a child's environment before it starts, so before any import
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS",
              "POLARS_MAX_THREADS")

#: the /proc/cpuinfo flags worth recording (vector units change sorting and kernel speed)
_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd",
          "avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq", "avx512_fp16")


# --------------------------------------------------------------------------- host
def cpu_info() -> dict:
    """CPU model and the vector-extension flags of the first processor in /proc/cpuinfo."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    return {"cpu": model or platform.processor() or platform.machine(), "flags": [f for f in _FLAGS if f in flags],
            "avx2": "avx2" in flags, "avx512": "avx512f" in flags}


def numpy_simd() -> dict:
    """NumPy's compiled baseline and the dispatch targets this host runs (np.sort uses them)."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
        except ImportError:  # pragma: no cover
            return {}
    return {"baseline": list(__cpu_baseline__),
            "dispatch_used": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]}


def affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def machine() -> dict:
    """What the numbers depend on: CPUs, model, AVX2 / AVX-512, NumPy SIMD, OS, memory."""
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover
        pass
    return {"cpus": os.cpu_count(), "cpus_usable": affinity(), **cpu_info(), "numpy_simd": numpy_simd(),
            "platform": platform.platform(), "memory_bytes": mem}


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def host_lines(info: dict) -> list[str]:
    """Printable description of :func:`machine` plus the load."""
    m = info["machine"]
    simd = m.get("numpy_simd") or {}
    lines = [f"# host: {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['cpu']}; "
             f"AVX2 {'yes' if m['avx2'] else 'no'}, AVX-512 {'yes' if m['avx512'] else 'no'} "
             f"(flags: {' '.join(m['flags']) or 'none'}); "
             f"NumPy SIMD baseline {','.join(simd.get('baseline', [])) or '?'}, "
             f"dispatch on this host {','.join(simd.get('dispatch_used', [])) or 'none'}"]
    if "load_start" in info:
        lines.append("# load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.2f}" for x in info["load_start"]))
    return lines


def git_describe(path: Path = ROOT, ref: str = "HEAD") -> str:
    """``<short sha>`` of ``ref`` in the repository at ``path``, `` (modified)`` for a dirty HEAD."""
    p = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", ref], capture_output=True, text=True)
    if p.returncode != 0:
        return "?"
    out = p.stdout.strip()
    if ref == "HEAD":
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        out += " (modified)" if dirty else ""
    return out


# --------------------------------------------------------------------------- threads
def child_env(threads: int | None, base: dict | None = None, pythonpath: Path | str | None = None) -> dict:
    """A child's environment: with ``threads == 1`` every pool capped at one thread
    (:data:`THREAD_ENV`); ``pythonpath`` first on ``PYTHONPATH``; progress bars off."""
    env = dict(os.environ if base is None else base)
    if threads == 1:
        env.update({k: "1" for k in THREAD_ENV})
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                                  if p and p != str(pythonpath)])
    env["MGTRANSCRIPT_PROGRESS"] = "0"
    return env


def pin_to(cpu: int | None):
    """A ``preexec_fn`` for ``subprocess.Popen`` that pins the child (and whatever it starts,
    R included) to one CPU; ``None``: no pinning."""
    if cpu is None:
        return None

    def pin() -> None:  # pragma: no cover - runs in the child
        os.sched_setaffinity(0, {cpu})

    return pin


def default_cpu() -> int:
    """The CPU one-thread children are pinned to: the last one this process may use."""
    try:
        return max(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return 0


def threading_report() -> dict:
    """In a child: how many threads each pool may use (recorded with the results)."""
    out: dict = {"affinity": affinity()}
    try:
        from threadpoolctl import threadpool_info

        out["threadpools"] = {f"{i.get('internal_api')}:{os.path.basename(i.get('filepath', ''))}": i.get("num_threads")
                              for i in threadpool_info()}
    except ImportError:  # pragma: no cover
        pass
    if "numba" in sys.modules:
        try:
            out["numba_threads"] = sys.modules["numba"].get_num_threads()
        except Exception:  # noqa: BLE001 - numba not initialised
            pass
    return out


# --------------------------------------------------------------------------- CPU time, memory
def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all its threads, and its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(fn, *args, **kw):
    """``(result, wall seconds, CPU seconds)`` of one call."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, cpu_seconds() - c0


def status_kib(field: str, pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def reset_peak() -> bool:
    """Reset this process's peak-RSS counter (VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:  # pragma: no cover - not Linux
        return False


def _pss_kib(pid: int) -> int:
    """Proportional set size of one process (KiB): its resident pages, each page shared with
    other processes (e.g. forked workers) counted in proportion; VmRSS where unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return status_kib("VmRSS", pid)


def tree_rss_kib(pid: int) -> int:
    """Memory of a process and all its descendants (KiB), from /proc: the sum of their
    proportional set sizes, so pages that forked workers share are not counted twice."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _pss_kib(p)
        todo += children.get(p, [])
    return total


# --------------------------------------------------------------------------- numbers
def median(v) -> float:
    s = sorted(v)
    n = len(s)
    return float("nan") if not n else (s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2]))


def summary(v) -> dict:
    return {"median": median(v), "min": float(min(v)), "max": float(max(v)), "n": len(v)}


def fmt_s(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_t(v) -> str:
    """``median [min-max]`` of a list of seconds."""
    if not v:
        return "-"
    s = summary(v)
    d = 3 if s["median"] < 10 else 1
    return f"{s['median']:.{d}f} [{s['min']:.{d}f}-{s['max']:.{d}f}]"


def fmt_x(r: float | None, digits: int = 2) -> str:
    return "-" if r is None or r != r else f"{r:.{digits}f}x"

#!/usr/bin/env python
"""Out-of-core scoring: N samples x 20,000 genes read from disk through dask.

    python benchmarks/scale.py                    # N = 100,000 samples (8 GB float32 on disk)
    python benchmarks/scale.py --samples 20000    # smaller

A float32 matrix (synthetic log-normal, fixed seed) is written once as zarr (or HDF5 with
``--format h5``) under ``benchmarks/results/scale-data/`` (git-ignored; reused by later
runs; ``--clean`` deletes it afterwards). A child process then builds an AnnData whose
``X`` is a dask array over that file and runs ``mgtranscript.tl.score(adata, sets,
method="ssgsea")`` (50 sets of 10-200 genes). If ``tl.score`` cannot take a dask-backed
AnnData, the benchmark falls back to ``dask.array.map_blocks`` over
``mgtranscript.tl._score.ssgsea.ssgsea_matrix`` and says so (``--fallback`` forces it).

Reported: wall time, throughput (samples/s), peak resident memory of the scoring process
(maximum RSS, target < 3 GB) and its rise over the RSS before scoring. A table is
printed and JSON written to ``benchmarks/results/scale-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# measure the checkout this script belongs to, not whatever mgtranscript is installed
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results"


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_sets(n_genes: int, n_sets: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed + 1)
    sizes = rng.integers(10, 201, n_sets)
    return {f"SET{i:02d}_{k}": [f"G{j:05d}" for j in np.sort(rng.choice(n_genes, int(k), replace=False))]
            for i, k in enumerate(sizes)}


def write_data(path: Path, fmt: str, n_samples: int, n_genes: int, seed: int, block: int = 2000) -> float:
    """Write the float32 matrix block by block (bounded memory); returns seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.3, 1.5, n_genes).astype(np.float32)
    loc = rng.normal(2.0, 1.0, n_genes).astype(np.float32)
    if fmt == "zarr":
        import zarr

        arr = zarr.create_array(store=str(path), shape=(n_samples, n_genes), chunks=(block, n_genes),
                                dtype="float32", compressors=None, overwrite=True)
    else:
        import h5py

        fh = h5py.File(path, "w")
        arr = fh.create_dataset("X", shape=(n_samples, n_genes), dtype="float32", chunks=(min(block, n_samples), n_genes))
    for s0 in range(0, n_samples, block):
        s1 = min(s0 + block, n_samples)
        x = rng.standard_normal((s1 - s0, n_genes), dtype=np.float32)
        x *= scale
        x += loc
        np.exp(x, out=x)
        arr[s0:s1] = x
    if fmt == "h5":
        fh.close()
    (path.parent / (path.name + ".done")).write_text(json.dumps({"samples": n_samples, "genes": n_genes, "seed": seed}))
    return time.perf_counter() - t0


def child(spec: dict) -> dict:
    import anndata as ad
    import dask.array as da
    import pandas as pd

    path = Path(spec["path"])
    if spec["format"] == "zarr":
        X = da.from_zarr(str(path))
    else:
        import h5py

        fh = h5py.File(path, "r")
        X = da.from_array(fh["X"], chunks=(2000, -1))
    n_samples, n_genes = X.shape
    sets = make_sets(n_genes, spec["sets"], spec["seed"])
    obs = pd.DataFrame(index=[f"S{i:07d}" for i in range(n_samples)])
    var = pd.DataFrame(index=[f"G{j:05d}" for j in range(n_genes)])
    adata = ad.AnnData(X=X, obs=obs, var=var)
    rss0 = _rss_kb()
    path_used = "mgtranscript.tl.score on a dask-backed AnnData"
    t0 = time.perf_counter()
    scores = None
    if not spec["fallback"]:
        try:
            import mgtranscript as mg

            mg.tl.score(adata, sets, method="ssgsea", chunk_size=spec["chunk_size"], progress=False)
            scores = adata.obsm["mg_ssgsea"].to_numpy()
        except Exception as exc:  # noqa: BLE001 - report, then fall back
            path_used = f"fallback map_blocks (tl.score failed: {type(exc).__name__}: {str(exc)[:200]})"
            t0 = time.perf_counter()
    if scores is None:
        from mgtranscript.tl._score.ssgsea import ssgsea_matrix

        if path_used.startswith("mgtranscript"):
            path_used = "fallback map_blocks over ssgsea_matrix (--fallback)"
        pos = {g: i for i, g in enumerate(var.index)}
        idx = {k: np.array([pos[g] for g in v]) for k, v in sets.items()}
        step = spec["chunk_size"] or 1000
        Xc = X.rechunk({0: step, 1: -1})
        out = Xc.map_blocks(lambda b: ssgsea_matrix(np.asarray(b, dtype=np.float64), idx),
                            dtype=np.float64, chunks=(Xc.chunks[0], (len(idx),)))
        scores = out.compute()
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "samples": int(n_samples), "genes": int(n_genes), "sets": len(sets), "seconds": secs,
        "samples_per_s": n_samples / secs, "peak_rss_bytes": peak, "rss_before_bytes": rss0 * 1024,
        "path": path_used, "finite_fraction": float(np.isfinite(scores).mean()),
        "score_shape": list(scores.shape),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--sets", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=("zarr", "h5"), default="zarr")
    ap.add_argument("--chunk-size", type=int, default=None, help="samples per dask task (default: the runner's)")
    ap.add_argument("--dir", type=Path, default=RESULTS / "scale-data")
    ap.add_argument("--fallback", action="store_true", help="skip tl.score; map_blocks over ssgsea_matrix")
    ap.add_argument("--clean", action="store_true", help="delete the data file afterwards")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        print(json.dumps(child(json.loads(args._child))))
        return 0

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"X_{args.samples}x{args.genes}_s{args.seed}.{args.format}"
    done = args.dir / (path.name + ".done")
    gb = args.samples * args.genes * 4 / 1e9
    if done.exists() and path.exists():
        print(f"# reusing {path} ({gb:.2f} GB float32)")
        write_s = None
    else:
        print(f"# writing {path} ({gb:.2f} GB float32) ...", flush=True)
        write_s = write_data(path, args.format, args.samples, args.genes, args.seed)
        print(f"#   written in {write_s:.1f} s")
    spec = {"path": str(path), "format": args.format, "sets": args.sets, "seed": args.seed,
            "chunk_size": args.chunk_size, "fallback": args.fallback}
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(spec)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr[-2000:], file=sys.stderr)
        return 1
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res.update({"format": args.format, "data_bytes": args.samples * args.genes * 4, "write_seconds": write_s,
                "cpus": os.cpu_count()})
    print()
    print(f"{'samples':>9} {'genes':>6} {'seconds':>8} {'samples/s':>10} {'peak RSS GB':>12} {'rise GB':>8}")
    print(f"{res['samples']:9d} {res['genes']:6d} {res['seconds']:8.1f} {res['samples_per_s']:10.0f} "
          f"{res['peak_rss_bytes'] / 1e9:12.2f} {(res['peak_rss_bytes'] - res['rss_before_bytes']) / 1e9:8.2f}")
    print(f"path: {res['path']}; scores {res['score_shape']}, finite {res['finite_fraction']:.3f}")
    print("target: peak RSS < 3 GB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
    if args.clean:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        done.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

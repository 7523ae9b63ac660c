#!/usr/bin/env python
"""GSVA parity with R GSVA 1.46 on a real RNA-seq cohort (ties, zeros, low counts).

    python benchmarks/gsva_real_parity.py [--counts PATH] [--sets 40]

Default input: GSE126848 author raw counts (57 liver biopsies), read at run time from
``$MGTRANSCRIPT_SHARED/mirror`` (default ``../shared/mirror``) or fetched through
``mgtranscript.fetch`` when no mirror is present. Genes with any count are kept. Random
sets of 10-200 genes are scored with ``kcdf="poisson"`` on the counts and
``kcdf="gaussian"`` on log2(CPM + 1), by mgtranscript and by R (``benchmarks/r_gsva.R``);
the script prints the largest absolute difference and how many scores differ by more
than 1e-6. Needs ``Rscript`` with GSVA 1.46.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
# measure the checkout this script belongs to, not whatever mgtranscript is installed
sys.path.insert(0, str(HERE.parent))
URL = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz"


def counts_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    shared = Path(os.environ.get("MGTRANSCRIPT_SHARED", HERE.parents[1] / "shared"))
    local = shared / "mirror" / URL.split("://", 1)[1]
    if local.is_file():
        return local
    from mgtranscript.fetch import fetch

    return fetch(URL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--counts", help="genes x samples count table (tsv, first column ids)")
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found; nothing to compare", file=sys.stderr)
        return 1
    from mgtranscript.tl._score.gsva import gsva_matrix

    df = pd.read_csv(counts_path(args.counts), sep="\t", index_col=0)
    df = df.loc[df.sum(axis=1) > 0]
    counts = df.to_numpy(dtype=np.float64)  # genes x samples
    n_genes, n_samples = counts.shape
    rng = np.random.default_rng(args.seed)
    sets = {f"S{i:02d}": np.sort(rng.choice(n_genes, int(k), replace=False))
            for i, k in enumerate(rng.integers(10, 201, args.sets))}
    logcpm = np.log2(counts / counts.sum(axis=0) * 1e6 + 1.0)
    print(f"# {n_genes} genes x {n_samples} samples, {len(sets)} sets")
    with tempfile.TemporaryDirectory(prefix="mgparity-") as tmpd:
        tmp = Path(tmpd)
        with open(tmp / "sets.tsv", "w") as fh:
            for k, v in sets.items():
                fh.write(k + "\t" + ",".join(str(i + 1) for i in v) + "\n")
        for kcdf, mat in (("Poisson", counts), ("Gaussian", logcpm)):
            np.asfortranarray(mat).T.tofile(tmp / "X.bin")  # column-major genes x samples
            p = subprocess.run([rscript, str(HERE / "r_gsva.R"), str(tmp), str(n_genes), str(n_samples),
                                "gsva", kcdf], capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stderr[-1000:], file=sys.stderr)
                return 1
            r_secs = float(p.stdout.split()[2])
            ref = np.fromfile(tmp / "r_gsva.bin").reshape(n_samples, len(sets))
            t0 = time.perf_counter()
            ours = gsva_matrix(np.ascontiguousarray(mat.T), sets, kcdf=kcdf.lower())
            secs = time.perf_counter() - t0
            diff = np.abs(ours - ref)
            print(f"{kcdf:8}: max |ours - R| = {diff.max():.3g}; scores off by > 1e-6: "
                  f"{int((diff > 1e-6).sum())} of {diff.size}; ours {secs:.2f} s, R {r_secs:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

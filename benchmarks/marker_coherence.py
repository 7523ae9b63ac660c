#!/usr/bin/env python
"""How well each liver cell-type marker tracks the rest of its set in bulk liver: the numbers
of gene_sets/README.md ("Coherence in bulk liver").

    MGTRANSCRIPT_MIRROR=../shared/mirror python3 benchmarks/marker_coherence.py [--samples DIR]

For every marker of the bundled sets (version 2) and of the sets of version 1, inside each
condition stratum of GSE126848 (healthy, obese, NAFL, NASH), GSE167523 (NAFL, NASH) and
GSE77314 (non-tumour, tumour): the Spearman correlation of the marker with the mean of the
other markers of its set (standardised inside the stratum), by
:func:`mgtranscript.tl.marker_coherence`. Prints one markdown table per version: median
correlation over the strata, the lowest, and in how many strata it is below 0.3.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import pandas as pd

import mgtranscript as mg

V1 = {
    "hepatocyte": "ALB APOA1 APOA2 APOC3 APOH TTR TF SERPINA1 HP FGB CYP3A4 CYP2E1",
    "cholangiocyte": "KRT7 KRT19 EPCAM SOX9 ANXA4 TACSTD2 CFTR MMP7 DEFB1",
    "stellate_fibroblast": "DCN LUM COL1A1 COL1A2 COL3A1 PDGFRB PDGFRA RGS5 ACTA2",
    "sinusoidal_endothelial": "CLEC4G CLEC4M STAB2 FCN2 FCN3 CLEC1B CRHBP OIT3 CALCRL",
    "kupffer_macrophage": "CD68 MARCO VSIG4 CD163 CD5L C1QA C1QB C1QC CSF1R MS4A7",
    "t_nk": "CD3D CD3E CD3G CD2 CD7 CD8A NKG7 GNLY KLRB1 KLRD1 KLRF1 GZMK",
    "b_plasma": "MS4A1 CD79A CD79B CD19 BANK1 IGKC IGHM IGHG1 IGLC2 JCHAIN MZB1 TNFRSF17",
}
COHORTS = ("GSE126848", "GSE167523", "GSE77314")
LOW = 0.3


def _load(acc: str, samples: Path | None):
    sheet = None
    if acc == "GSE77314":
        d = samples or Path(os.environ.get("MGTRANSCRIPT_SAMPLES", "../shared/samples"))
        sheet = d / "GSE77314_SraRunTable.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mg.datasets.load_cohort(acc, samples=sheet)


def table(sets, data) -> pd.DataFrame:
    rows = []
    for acc, a in data.items():
        mg.tl.marker_coherence(a, gene_sets=sets, within="condition")
        rows.append(mg.get.marker_coherence(a).assign(stratum=lambda d, acc=acc: acc + ":" + d["level"]))
    t = pd.concat(rows)
    g = t.groupby(["cell_type", "gene"], sort=False)["rho"]
    out = pd.DataFrame({"median": g.median(), "lowest": g.min(), "strata": g.count(),
                        f"below {LOW}": g.apply(lambda r: int((r < LOW).sum()))})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=Path, help="folder with GSE77314_SraRunTable.csv (default ../shared/samples)")
    args = p.parse_args()
    data = {acc: _load(acc, args.samples) for acc in COHORTS}
    for name, sets in (("version 2 (bundled)", "liver_celltypes"),
                       ("version 1", {k: v.split() for k, v in V1.items()})):
        t = table(sets, data)
        print(f"\n### {name}\n")
        print("| set | marker | median rho | lowest | strata | below 0.3 |")
        print("|---|---|---|---|---|---|")
        for (ct, gene), r in t.iterrows():
            print(f"| {ct} | {gene} | {r['median']:.2f} | {r['lowest']:.2f} | {int(r['strata'])} | "
                  f"{int(r[f'below {LOW}'])} |")


if __name__ == "__main__":
    main()

"""Small synthetic GEO series in the public file layouts, written by the tests into a folder laid
out like the mirror (``HOST/PATH``) and served over HTTP by :class:`mirror_server.MirrorServer`.

Nothing here is copied into the repository: the few real support files a run needs (NCBI
gene_info, MSigDB Hallmark/Reactome) are copied from ``../shared/mirror`` at test time.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np

SERIES = "ftp.ncbi.nlm.nih.gov/geo/series"
GENE_INFO = "ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz"
MSIGDB = "data.broadinstitute.org/gsea-msigdb/msigdb/release/7.0"

#: Mg transporter genes and housekeeping / liver genes a synthetic array carries
GENES = ["CNNM1", "CNNM2", "CNNM3", "CNNM4", "TRPM6", "TRPM7", "SLC41A1", "SLC41A2", "SLC41A3", "MAGT1",
         "MMGT1", "MRS2", "NIPA1", "NIPA2", "NIPAL1", "ARL15", "PTP4A1", "TUSC3", "CLDN16", "CLDN19", "FXYD2",
         "GAPDH", "ACTB", "ALB", "APOA1", "CYP2E1", "KLRK1", "COL1A1", "TGFB1", "IL6", "TNF", "CXCL8", "XIST",
         "RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY"]


def series_dir(acc: str) -> str:
    from mgtranscript.fetch import _urls as urls

    return urls.geo_matrix_dir_url(acc).split("://", 1)[1].rsplit("/matrix", 1)[0]


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)


def series_matrix(acc: str, platform: str, gsms: list[str], *, titles: list[str],
                  characteristics: list[list[str]], sources: list[str] | None = None,
                  descriptions: list[str] | None = None, table: list[tuple[str, np.ndarray]] | None = None,
                  rnaseq: bool = False) -> str:
    """A series matrix as GEO writes it: one ``!Sample_characteristics_ch1`` line per position,
    each cell ``"key: value"`` (``characteristics`` = one list of cells per line)."""
    q = lambda xs: "\t".join(f'"{x}"' for x in xs)  # noqa: E731
    n = len(gsms)
    lines = [f'!Series_title\t"synthetic {acc}"', f'!Series_geo_accession\t"{acc}"',
             f'!Series_platform_id\t"{platform}"', "",
             f"!Sample_title\t{q(titles)}", f"!Sample_geo_accession\t{q(gsms)}",
             f"!Sample_type\t{q(['SRA' if rnaseq else 'RNA'] * n)}",
             f"!Sample_source_name_ch1\t{q(sources or ['liver'] * n)}",
             f"!Sample_organism_ch1\t{q(['Homo sapiens'] * n)}"]
    for cells in characteristics:
        lines.append(f"!Sample_characteristics_ch1\t{q(cells)}")
    lines.append(f"!Sample_description\t{q(descriptions or [''] * n)}")
    lines.append(f"!Sample_platform_id\t{q([platform] * n)}")
    if rnaseq:
        lines.append(f"!Sample_library_strategy\t{q(['RNA-Seq'] * n)}")
    lines.append(f"!Sample_data_row_count\t{q([str(len(table or []))] * n)}")
    lines.append("!series_matrix_table_begin")
    lines.append('"ID_REF"\t' + q(gsms))
    for probe, values in (table or []):
        lines.append(f'"{probe}"\t' + "\t".join(f"{v:.4f}" for v in values))
    lines.append("!series_matrix_table_end")
    return "\n".join(lines) + "\n"


def platform_annot(root: Path, platform: str, probes: list[tuple[str, str]]) -> None:
    """``geo/platforms/GPLnnn/GPLx/annot/GPLx.annot.gz`` with an ID and a Gene symbol column."""
    annot = ["^Annotation", f"!Annotation_platform = {platform}", "!platform_table_begin",
             "ID\tGene title\tGene symbol\tGene ID"]
    annot += [f"{p}\tx\t{s}\t1" for p, s in probes]
    annot += ["!platform_table_end"]
    from mgtranscript.fetch import _urls as urls

    write_gz(root / urls.gpl_annot_url(platform).split("://", 1)[1], "\n".join(annot) + "\n")


def array_series(root: Path, acc: str, platform: str, gsms: list[str], *, titles: list[str],
                 characteristics: list[list[str]], groups: list[str], seed: int = 0,
                 matrix_name: str | None = None, shift: dict | None = None) -> None:
    """An array series with log2 values for :data:`GENES` (one probe each, probe ids ``<n>_at``);
    ``shift`` adds a group effect to genes ({gene: {group: delta}})."""
    rng = np.random.default_rng(seed)
    table = []
    for i, g in enumerate(GENES):
        v = rng.normal(8.0 + (i % 5) * 0.3, 0.5, len(gsms))
        for grp, delta in (shift or {}).get(g, {}).items():
            v = v + np.array([delta if x == grp else 0.0 for x in groups])
        table.append((f"{i + 1}_at", v))
    text = series_matrix(acc, platform, gsms, titles=titles, characteristics=characteristics, table=table)
    write_gz(root / series_dir(acc) / "matrix" / (matrix_name or f"{acc}_series_matrix.txt.gz"), text)
    platform_annot(root, platform, [(f"{i + 1}_at", g) for i, g in enumerate(GENES)])


def support_files(root: Path, mirror_dir: Path, *, msigdb: bool = False) -> None:
    """Copy the real gene_info (and the MSigDB Hallmark / Reactome GMTs) into the synthetic root."""
    files = [GENE_INFO] + ([f"{MSIGDB}/h.all.v7.0.symbols.gmt", f"{MSIGDB}/c2.cp.reactome.v7.0.symbols.gmt"]
                           if msigdb else [])
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror_dir / rel, root / rel)


def gsms(start: int, n: int) -> list[str]:
    return [f"GSM{start + i}" for i in range(n)]

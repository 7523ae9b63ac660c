"""Sample table and records of :func:`mgtranscript.datasets.gdc` (helpers).

Duplicate aliquots, sample names, barcode/``sample_type`` disagreements, the clinical
columns copied onto samples, and the h5ad-writable records of the queries and files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._gdc_api import SAMPLE_TYPE_CODES
from ._gdc_clinical import CLINICAL_COLUMNS, ETIOLOGY_FLAGS

__all__ = ["add_clinical", "code_mismatches", "duplicates", "manifest", "obs_names", "query_uns"]


def duplicates(files: pd.DataFrame) -> list[dict]:
    """Samples with more than one file (aliquot): barcode, aliquots, file ids."""
    out = []
    for barcode, grp in files[files["barcode"].notna()].groupby("barcode", sort=True):
        if len(grp) > 1:
            out.append({"barcode": str(barcode), "aliquots": [str(a) for a in grp["aliquot_barcode"]],
                        "file_ids": [str(f) for f in grp["file_id"]]})
    return out


def obs_names(files: pd.DataFrame, dups: list[dict]) -> pd.Index:
    """Sample barcode; the aliquot barcode for samples with several files; else the file id."""
    dup = {d["barcode"] for d in dups}
    names = pd.Series([a if b in dup and isinstance(a, str) and a else (b if isinstance(b, str) and b else f)
                       for b, a, f in zip(files["barcode"], files["aliquot_barcode"], files["file_id"])])
    same = names.duplicated(keep=False)  # no aliquot barcode to tell them apart: add the file id
    names[same] = [f"{n}|{f}" for n, f in zip(names[same], files["file_id"][same])]
    return pd.Index(names.to_numpy(dtype=str))


def code_mismatches(files: pd.DataFrame) -> list[str]:
    """Samples whose barcode code disagrees with the GDC's ``sample_type`` text."""
    out = []
    for b, t, c in zip(files["barcode"], files["sample_type"], files["sample_type_code"]):
        want = SAMPLE_TYPE_CODES.get(str(t).strip().lower()) if isinstance(t, str) else None
        if want is not None and c is not None and want != c:
            out.append(f"{b} ({t})")
    return out


def add_clinical(obs: pd.DataFrame, table: pd.DataFrame) -> None:
    """Copy the per-patient clinical columns onto the samples (by ``patient_id``)."""
    if len(table) and "case_id" in table:
        # the UUID from /files wins; /cases fills gaps
        table = table.rename(columns={"case_id": "_case_uuid"})
    for col in CLINICAL_COLUMNS:
        if col == "case_id":
            continue
        values = table[col].reindex(obs["patient_id"].to_numpy()) if col in table else pd.Series(
            [None] * len(obs))
        obs[col] = values.array if col in (*ETIOLOGY_FLAGS, "os_event") else values.to_numpy()
    if "_case_uuid" in table:
        fill = table["_case_uuid"].reindex(obs["patient_id"].to_numpy()).to_numpy()
        obs["case_id"] = [a if a else b for a, b in zip(obs["case_id"], fill)]
    obs["etiology"] = obs["etiology"].fillna("unknown")


def query_uns(q: dict) -> dict:
    """One recorded query, h5ad-writable (the answers as parallel lists)."""
    return {"endpoint": q["endpoint"], "url": q["url"], "query": q["query"], "n_hits": q["n_hits"],
            "warnings": list(q["warnings"]),
            "answers": {a["relpath"].rsplit("/", 1)[-1]: {"url": a["url"], "relpath": a["relpath"],
                                                           "sha256": a["sha256"], "fetched": a["fetched"],
                                                           "query": q["query"]} for a in q["answers"]}}


def manifest(files: pd.DataFrame, paths: dict) -> pd.DataFrame:
    """file_id, file_name, aliquot, md5sum, file_size, url (public), sha256 and relpath of the cached file."""
    from ..fetch import gdc_endpoint, read_meta

    sha = [read_meta(paths[f]).get("sha256", "") if f in paths else "" for f in files["file_id"]]
    return pd.DataFrame({
        "file_id": files["file_id"].astype(str).to_numpy(), "file_name": files["file_name"].astype(str).to_numpy(),
        "aliquot_barcode": files["aliquot_barcode"].fillna("").astype(str).to_numpy(),
        "md5sum": files["md5sum"].fillna("").astype(str).to_numpy(),
        "file_size": pd.to_numeric(files["file_size"], errors="coerce").fillna(-1).astype(np.int64).to_numpy(),
        "url": [f"{gdc_endpoint('data')}/{f}" for f in files["file_id"]], "sha256": sha,
        "relpath": [f"api.gdc.cancer.gov/data/{f}/{n}" for f, n in zip(files["file_id"], files["file_name"])],
    })

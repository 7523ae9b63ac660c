"""Batch aliasing: is a contrast completely aliased with a technical factor, and does the
factor dominate the biology inside it?

When every sample of one side of a contrast comes from one sample-id series (or run, batch,
sequencing date, depth regime) and every sample of the other side from another, the group
difference and the batch difference are the same number: no model can separate them. What
can be measured is how strong the boundary is **against the biology inside each batch**:

* the share of expressed genes (edgeR ``filterByExpr`` on the samples of both batches) that
  differ across the boundary (voom + limma on counts with TMM factors, limma on log
  expression; BH-adjusted p < 0.05), against the share that differ between the biological groups *inside* each batch
  (every pair of levels of ``labels_key`` with at least 3 samples each, e.g. NASH vs NAFL in
  one series and obese vs healthy in the other);
* composition marker scores (``obs["composition_*"]``) that jump at the boundary (|Hedges' g|
  >= :data:`JUMP_G`) and barely move inside the batches (at least :data:`JUMP_RATIO` times
  the largest |g| within a batch).

The factor **dominates** when the boundary moves at least :data:`DOMINANT_SHARE` of the
expressed genes and at least :data:`DOMINANT_RATIO` times the share of the largest contrast
inside a batch. Then no estimate of the contrast can be read as biology: the
``batch_aliased`` row is flagged, its caveat carries the numbers, and the claims leave the
contrast out of their votes. Otherwise the row is written unflagged with the numbers (the
aliasing itself is flagged by the ``sample_ids`` / ``technical`` / ``library_size`` rows, a
risk of bias); when each batch holds a single group there is no biology inside to weigh
against and the strength cannot be judged.
"""

from __future__ import annotations

import logging
import threading
from itertools import combinations

import numpy as np
import pandas as pd

from ..._stats import hedges_g
from ._ids import _day, _id_ranges, _last_number
from ._util import _auc, _dense, _fmt_num, _Sides

logger = logging.getLogger(__name__)

#: Smallest share of expressed genes that must differ across the boundary for the factor to dominate.
DOMINANT_SHARE = 0.20
#: ... and how many times the share of the largest contrast inside a batch it must reach.
DOMINANT_RATIO = 10.0
#: |Hedges' g| of a composition score at the boundary that counts as a jump ...
JUMP_G = 1.5
#: ... when it is at least this many times the largest |g| of that score inside a batch.
JUMP_RATIO = 3.0
#: Depth regime: library sizes separate the sides this completely (AUC <= 0.1 or >= 0.9) ...
DEPTH_AUC = 0.1
#: ... with medians at least this far apart (ratio).
DEPTH_RATIO = 1.5
#: Most contrasts computed inside one batch.
MAX_WITHIN = 6
FDR = 0.05
MIN_GROUP = 3


def _categorical_alias(vals: np.ndarray, sides: _Sides) -> tuple[set, set] | None:
    """The categories of each side when they do not overlap (perfect separation on the
    contrast samples, values for >= 90% of them, >= 2 samples per side); else None."""
    m = sides.mask
    have = np.array([v is not None for v in vals])
    if (have & m).sum() < 0.9 * m.sum():
        return None
    g = {vals[i] for i in np.flatnonzero(m & have & (sides.lab == sides.group))}
    r = {vals[i] for i in np.flatnonzero(m & have & (sides.lab == sides.reference))}
    n_g = int((m & have & (sides.lab == sides.group)).sum())
    n_r = int((m & have & (sides.lab == sides.reference)).sum())
    if not g or not r or g & r or n_g < 2 or n_r < 2:
        return None
    return g, r


def aliased_factors(adata, sides: _Sides, lib: np.ndarray | None, *, tech, ident, exclude) -> list[dict]:
    """Technical factors completely aliased with the two sides of ``sides``.

    Each: ``{"kind", "name", "batch"}`` where ``batch`` labels every sample of the cohort
    ``"group"`` / ``"reference"`` (the batch of that side) or None; recorded fields first,
    then sample-id series, then the depth regime.
    """
    out: list[dict] = []
    obs = adata.obs
    for kind in ("recorded", "ids"):
        for c in obs.columns:
            if c in exclude:
                continue
            s = obs[c].astype("object").map(lambda v: None if pd.isna(v) else str(v))
            if kind == "recorded":
                if ident.match(str(c)) or not tech.search(str(c)):
                    continue
                vals = s.map(lambda v: None if v is None else _day(v)).to_numpy(dtype=object)
                n_u = len({v for v in vals if v is not None})
                if n_u < 2 or n_u > max(2, adata.n_obs // 2):
                    continue
                name = f"{c}"
            else:
                if not ident.match(str(c)):
                    continue
                nums = np.array([_last_number(v) for v in s.to_numpy(dtype=object)], dtype=float)
                if np.isfinite(nums).mean() < 0.8:
                    continue
                res = _id_ranges(nums)
                if res is None:
                    continue
                vals = res[0]
                name = f"sample-id series ({c})"
            alias = _categorical_alias(vals, sides)
            if alias is None:
                continue
            g, r = alias
            batch = np.array(["group" if v in g else "reference" if v in r else None for v in vals], dtype=object)
            out.append({"kind": kind, "name": name, "batch": batch,
                        "levels": (", ".join(sorted(map(str, g))), ", ".join(sorted(map(str, r))))})
    if lib is not None and sides.two:
        lg = lib[sides.mask & (sides.lab == sides.group)]
        lr = lib[sides.mask & (sides.lab == sides.reference)]
        lg, lr = lg[np.isfinite(lg)], lr[np.isfinite(lr)]
        if lg.size >= 2 and lr.size >= 2:
            auc = _auc(lg, lr)
            mg, mr = float(np.median(lg)), float(np.median(lr))
            ratio = max(mg, mr) / max(min(mg, mr), 1.0)
            if (auc <= DEPTH_AUC or auc >= 1 - DEPTH_AUC) and ratio >= DEPTH_RATIO:
                cut = float(np.sqrt(mg * mr))
                hi = "group" if mg > mr else "reference"
                lo = "reference" if hi == "group" else "group"
                batch = np.array([None if not np.isfinite(v) else hi if v >= cut else lo for v in lib], dtype=object)
                out.append({"kind": "depth", "name": "depth regime (library size)", "batch": batch,
                            "levels": (f"median {_fmt_num(mg, 'M')}", f"median {_fmt_num(mr, 'M')}")})
    return out


#: DE counts of the sample subsets seen last: the contrasts of one cohort that share a batch
#: boundary compare the same groups inside each batch (same samples, same data), so each count
#: is computed once per cohort. Keyed by a hash of everything the count depends on.
_DE_COUNTS: dict[bytes, int] = {}
_DE_LOCK = threading.Lock()


def _de_key(sub, col: str, grp: str, ref: str, use_counts: bool, counts_layer: str | None) -> bytes:
    import hashlib

    mat = sub.layers[counts_layer] if use_counts and counts_layer in sub.layers else sub.X
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((col, grp, ref, use_counts, counts_layer, sub.shape)).encode())
    h.update(np.ascontiguousarray(np.asarray(mat, dtype=np.float64)).data)
    h.update("\0".join(map(str, sub.var_names)).encode())
    h.update("\0".join(map(str, sub.obs[col].astype(str))).encode())
    for c in ("lib_size", "norm_factor"):  # voom's effective library sizes
        if c in sub.obs:
            h.update(np.ascontiguousarray(sub.obs[c].to_numpy(dtype=np.float64)).data)
    return h.digest()


def _de_count(sub, col: str, grp: str, ref: str, use_counts: bool, counts_layer: str | None) -> int:
    from .._de._core import de_table

    key = _de_key(sub, col, grp, ref, use_counts, counts_layer)
    with _DE_LOCK:
        hit = _DE_COUNTS.get(key)
    if hit is not None:
        return hit
    method = "voom" if use_counts else "limma"
    kw = {"layer": counts_layer} if use_counts else {}
    tab, _params = de_table(sub, groupby=col, group=grp, reference=ref, method=method, **kw)
    n = int((pd.to_numeric(tab["padj"], errors="coerce") < FDR).sum())
    with _DE_LOCK:
        _DE_COUNTS[key] = n
        while len(_DE_COUNTS) > 32:
            _DE_COUNTS.pop(next(iter(_DE_COUNTS)))
    return n


def batch_strength(adata, sides: _Sides, batch: np.ndarray, *, groupby: str, labels_key: str,
                   counts_layer: str | None, order) -> dict:
    """Boundary vs within-batch DE shares and composition jumps (see the module docstring)."""
    import anndata as ad

    from ...pp import expressed_genes

    inb = np.array([b is not None for b in batch])
    lab = adata.obs[labels_key].astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
    use_counts = counts_layer is not None and counts_layer in adata.layers
    idx = np.flatnonzero(inb)
    X = adata.layers[counts_layer] if use_counts else adata.X
    M = _dense(X[idx])
    obs = pd.DataFrame({"_side": sides.lab[idx], "_lab": lab[idx], "_batch": batch[idx]},
                       index=adata.obs_names[idx].astype(str))
    if use_counts:  # effective library sizes with TMM factors of all genes, as edgeR's voom on a DGEList
        from ...pp import calc_norm_factors

        obs["lib_size"] = M.sum(axis=1)
        obs["norm_factor"] = calc_norm_factors(M, method="TMM")
    sub = ad.AnnData(M, obs=obs, var=pd.DataFrame(index=adata.var_names.astype(str)))
    if use_counts:
        sub.layers[counts_layer] = M
        keep = expressed_genes(sub, group=obs["_lab"].fillna("unlabelled").to_numpy(), layer=counts_layer)
    else:
        keep = np.isfinite(M).all(axis=0) & (np.ptp(M, axis=0) > 0)
    sub = sub[:, keep].copy()
    n_genes = int(keep.sum())
    res = {"n_genes": n_genes, "method": "voom + limma" if use_counts else "limma", "within": [], "jumps": []}
    contrast = np.isin(obs["_side"].to_numpy(dtype=object), [sides.group, sides.reference])
    res["n_boundary"] = _de_count(sub[contrast].copy(), "_side", sides.group, sides.reference, use_counts,
                                  counts_layer)
    within_pairs = []
    for b in ("group", "reference"):
        in_b = (obs["_batch"] == b).to_numpy()
        counts = pd.Series(obs.loc[in_b, "_lab"]).dropna()
        counts = counts[counts != "unlabelled"].value_counts()
        levels = order([lv for lv in counts.index if counts[lv] >= MIN_GROUP])
        for ref, grp in list(combinations(levels, 2))[:MAX_WITHIN]:
            m = in_b & obs["_lab"].isin([grp, ref]).to_numpy()
            n = _de_count(sub[m].copy(), "_lab", grp, ref, use_counts, counts_layer)
            res["within"].append({"batch": b, "contrast": f"{grp} vs {ref}", "n_de": n})
            within_pairs.append((grp, ref, m))
    comp = [c for c in adata.obs.columns if str(c).startswith("composition_")]
    for c in comp:
        v = pd.to_numeric(adata.obs[c], errors="coerce").to_numpy(dtype=float)[idx]
        gb = hedges_g(v[contrast & (obs["_side"] == sides.group).to_numpy()],
                      v[contrast & (obs["_side"] == sides.reference).to_numpy()])[0]
        gw = [hedges_g(v[m & (obs["_lab"] == grp).to_numpy()], v[m & (obs["_lab"] == ref).to_numpy()])[0]
              for grp, ref, m in within_pairs]
        gw = [abs(x) for x in gw if np.isfinite(x)]
        if np.isfinite(gb) and gw and abs(gb) >= JUMP_G and abs(gb) >= JUMP_RATIO * max(gw):
            res["jumps"].append({"score": str(c)[len("composition_"):], "g_boundary": float(gb),
                                 "g_within_max": float(max(gw))})
    return res


def batch_row(factors: list[dict], strength: dict | None, sides: _Sides) -> dict:
    """The ``batch_aliased`` row of the design table."""
    f = factors[0]
    names = " and ".join(dict.fromkeys(x["name"] for x in factors))
    base = {"check": "batch_aliased", "variable": "; ".join(dict.fromkeys(x["name"] for x in factors)) + " (aliased)",
            "n": 0, "pval": np.nan}
    where = f"{sides.group} ({f['levels'][0]}) vs {sides.reference} ({f['levels'][1]})"
    if strength is None:
        return {**base, "test": "", "statistic": np.nan, "flagged": False, "caveat": "",
                "effect": f"groups completely aliased with {names}: {where}; strength not measured"}
    n = max(strength["n_genes"], 1)
    share_b = strength["n_boundary"] / n
    within = strength["within"]
    w_txt = "; ".join(f"{w['contrast']} {w['n_de']} ({100 * w['n_de'] / n:.1f}%)" for w in within)
    jump_txt = ", ".join(f"{j['score']} g {j['g_boundary']:+.1f} (within a batch at most {j['g_within_max']:.1f})"
                         for j in strength["jumps"])
    nums = (f"{strength['n_boundary']:,} of {strength['n_genes']:,} expressed genes ({100 * share_b:.0f}%) differ "
            f"across the boundary ({strength['method']}, adj. p < {FDR:g})")
    nums += (f" vs {w_txt} inside a batch" if within else "; no two groups inside one batch to compare with")
    if jump_txt:
        nums += f"; composition scores that jump only at the boundary: {jump_txt}"
    share_w = max((w["n_de"] / n for w in within), default=np.nan)
    dominates = bool(within) and share_b >= DOMINANT_SHARE and share_b >= DOMINANT_RATIO * max(share_w, 1.0 / n)
    ratio = share_b / max(share_w, 1.0 / n) if within else np.nan
    effect = f"groups completely aliased with {names}: {where}; {nums}"
    caveat = ""
    if dominates:
        caveat = (f"the groups are completely aliased with {names} ({where}), and the batch dominates the biology: "
                  f"{nums}; this contrast cannot be read as disease biology and does not vote")
    return {**base, "test": f"DE share across the boundary vs inside batches ({strength['method']})",
            "statistic": float(ratio), "n": int(strength["n_genes"]), "effect": effect, "flagged": dominates,
            "caveat": caveat}

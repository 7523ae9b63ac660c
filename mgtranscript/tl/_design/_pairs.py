"""Pair checks of the design audit (``paired_by``): do the members of each declared pair
agree in genetic sex, and do they share individual-specific expression (leave-one-pair-out
identity genes)?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._util import _dense
from ._sex import Y_GENES

#: Columns of ``uns[key]["pairs"]``.
PAIR_COLUMNS = [
    "pair", "group_sample", "reference_sample", "sex_group", "sex_reference", "sex_status",
    "identity_similarity", "identity_rank", "identity_pval", "best_match", "flagged", "reason",
]  # fmt: skip


def _pair_table(adata, lab, pairs, group, reference, sex: pd.DataFrame, counts_layer, k_genes=100) -> tuple[pd.DataFrame, dict]:
    """One row per pair with one ``group`` and one ``reference`` member (see design_check)."""
    idx_g, idx_r, names = [], [], []
    by_pair: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        if p is not None and lab[i] in (group, reference):
            by_pair.setdefault(p, []).append(i)
    for p, members in by_pair.items():
        g = [i for i in members if lab[i] == group]
        r = [i for i in members if lab[i] == reference]
        if len(g) == 1 and len(r) == 1:
            idx_g.append(g[0])
            idx_r.append(r[0])
            names.append(p)
    n = len(names)
    obs_names = np.asarray(adata.obs_names)
    rows = []
    summary: dict = {"n_pairs": n}
    sim = None
    if n >= 8:
        sim = _identity(adata, np.array(idx_g), np.array(idx_r), sex, counts_layer, k_genes)
        summary.update(sim["summary"])
    for k, p in enumerate(names):
        sg = sex["inferred_sex"].iloc[idx_g[k]]
        sr = sex["inferred_sex"].iloc[idx_r[k]]
        dg = sex["sex_detail"].iloc[idx_g[k]]
        dr = sex["sex_detail"].iloc[idx_r[k]]
        yg, yr = sex["chrY_state"].iloc[idx_g[k]], sex["chrY_state"].iloc[idx_r[k]]
        xg, xr = sex["XIST_state"].iloc[idx_g[k]], sex["XIST_state"].iloc[idx_r[k]]
        y_rank = {"present": 2, "partial": 1, "absent": 0}
        if sr == "female" and yg in ("present", "partial"):
            status = "conflict"  # the reference (e.g. normal tissue) is female, its partner has chrY
        elif sr == "male" and y_rank.get(yg, 9) < y_rank.get(yr, -1) and xg == "high" and xr != "high":
            status = "suspect"  # chrY lost *and* XIST gained: what a female partner would look like
        elif sr == "male" and y_rank.get(yg, 9) < y_rank.get(yr, -1):
            status = "chrY reduced"  # loss of chrY in the group sample (common in tumours)
        elif sg == sr and "undetermined" not in (sg, sr):
            status = "consistent"
        else:
            status = "uncertain"
        row = {"pair": p, "group_sample": obs_names[idx_g[k]], "reference_sample": obs_names[idx_r[k]],
               "sex_group": f"{sg} ({dg})", "sex_reference": f"{sr} ({dr})", "sex_status": status,
               "identity_similarity": np.nan, "identity_rank": np.nan, "identity_pval": np.nan,
               "best_match": ""}  # fmt: skip
        if sim is not None:
            row.update(identity_similarity=sim["s"][k], identity_rank=int(sim["rank"][k]),
                       identity_pval=sim["p"][k], best_match=names[int(sim["best"][k])])
        reasons = []
        ip = row["identity_pval"]
        if status == "conflict":
            reasons.append(f"{reference} sample is female (no chrY, XIST) but its {group} partner expresses chrY "
                           "genes: a sample cannot gain a Y chromosome")
        if status == "suspect":
            txt = (f"{reference} sample is male (chrY expressed, XIST low) but its {group} partner has "
                   f"{'little' if yg == 'partial' else 'no'} chrY expression and expresses XIST")
            if np.isfinite(ip) and ip > 0.05:
                reasons.append(txt + "; identity genes do not support the pairing either "
                               f"(p = {ip:.2f}) -- loss of chrY happens in tumours, a swap looks the same")
            elif not np.isfinite(ip):
                reasons.append(txt + " (loss of chrY happens in tumours; a sample swap looks the same)")
        if np.isfinite(ip) and ip > 0.5 and status != "conflict":
            reasons.append(f"identity genes do not support the pairing (declared partner ranks "
                           f"{row['identity_rank']} of {n}, similarity {row['identity_similarity']:.2f}; "
                           f"best match {row['best_match']})")
        row["flagged"] = bool(reasons)
        row["reason"] = "; ".join(dict.fromkeys(reasons))
        rows.append(row)
    return pd.DataFrame(rows, columns=PAIR_COLUMNS), summary


def _identity(adata, ig, ir, sex, counts_layer, k_genes) -> dict:
    """Leave-one-pair-out identity genes and the similarity of every (reference, group) combination."""
    X = _dense(adata.X)
    if counts_layer is not None and counts_layer in adata.layers:
        C = _dense(adata.layers[counts_layer])
        cpm = C / np.maximum(C.sum(axis=1, keepdims=True), 1) * 1e6
        expressed = (cpm[np.r_[ig, ir]] >= 1).mean(axis=0) >= 0.5
    else:
        expressed = np.ones(X.shape[1], dtype=bool)
    expressed &= np.isfinite(X[np.r_[ig, ir]]).all(axis=0)
    # leave sex-linked genes out: identity must be independent of the sex check
    both = np.r_[ig, ir]
    for col in ("chrY", "XIST"):
        s = sex[col].to_numpy()[both]
        if np.isfinite(s).all() and np.ptp(s) > 0:
            Xc = X[both][:, expressed]
            r = _col_corr(Xc, s)
            keep = np.abs(r) < 0.6
            expressed[np.flatnonzero(expressed)[~keep]] = False
    for g in (*Y_GENES, "XIST", "TSIX"):
        if g in adata.var_names:
            expressed[adata.var_names.get_loc(g)] = False
    A, B = X[ir][:, expressed], X[ig][:, expressed]
    A = (A - A.mean(0)) / np.where(A.std(0) > 0, A.std(0), np.nan)
    B = (B - B.mean(0)) / np.where(B.std(0) > 0, B.std(0), np.nan)
    good = np.isfinite(A).all(0) & np.isfinite(B).all(0)
    A, B = A[:, good], B[:, good]
    n = A.shape[0]
    # exact leave-one-out Pearson r per gene across pairs
    sa, sb, saa, sbb, sab = A.sum(0), B.sum(0), (A * A).sum(0), (B * B).sum(0), (A * B).sum(0)
    s_mat = np.full((n, n), np.nan)
    sims, ranks, ps, best = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    min_r = []
    for i in range(n):
        m = n - 1
        ea, eb = (sa - A[i]) / m, (sb - B[i]) / m
        cov = (sab - A[i] * B[i]) / m - ea * eb
        va = (saa - A[i] ** 2) / m - ea**2
        vb = (sbb - B[i] ** 2) / m - eb**2
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cov / np.sqrt(va * vb)
        r = np.where(np.isfinite(r), r, -np.inf)
        top = np.argsort(-r)[:k_genes]
        min_r.append(float(r[top].min()))
        At = _row_standardise(A[:, top])
        Bt = _row_standardise(B[:, top])
        row = Bt @ At[i]  # normal i vs every tumour (Pearson r across the identity genes)
        col = At @ Bt[i]  # tumour i vs every normal
        s = row[i]
        null = np.r_[np.delete(row, i), np.delete(col, i)]
        sims[i] = s
        ranks[i] = 1 + int((row > s).sum())
        ps[i] = (1 + int((null >= s).sum())) / (1 + null.size)
        best[i] = int(np.argmax(row))
        s_mat[i] = row
    off = s_mat[~np.eye(n, dtype=bool)]
    summary = {
        "identity_genes": int(k_genes), "identity_min_gene_r": float(np.median(min_r)),
        "declared_similarity_median": float(np.median(sims)), "random_similarity_median": float(np.nanmedian(off)),
        "n_genes_considered": int(A.shape[1]),
    }  # fmt: skip
    return {"s": sims, "rank": ranks, "p": ps, "best": best, "summary": summary}


def _row_standardise(M: np.ndarray) -> np.ndarray:
    """Rows centred and scaled so that the dot product of two rows is their Pearson r."""
    Mc = M - M.mean(axis=1, keepdims=True)
    norm = np.sqrt((Mc * Mc).sum(axis=1, keepdims=True))
    return Mc / np.where(norm > 0, norm, np.nan)


def _col_corr(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    Mc = M - M.mean(0)
    vc = v - v.mean()
    den = np.sqrt((Mc * Mc).sum(0) * (vc @ vc))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (Mc * vc[:, None]).sum(0) / den
    return np.where(np.isfinite(r), r, 0.0)

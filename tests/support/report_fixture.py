"""A realistic synthetic ``AnalysisResult`` for report tests (schema: notes/result_schema.md).

Four analysed cohorts (two MASLD, two HCC: one paired, one with survival), four that
were not (metadata only, unavailable with URL-laden reasons, failed), the project's 28
claims with their long statements, and every table of the schema, with numbers computed
from simulated per-sample features (so figures and tables agree). Deterministic.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .paths import REPO

MG_SETS = ("MG_LIVER_CORE", "MG_PM_INFLUX", "MG_EFFLUX_EXCHANGE", "MG_ER_GOLGI", "MG_MITOCHONDRIAL",
           "MG_CNNM_REGULATORS", "MG_INFLUX_ALL", "MG_EFFLUX_ALL")
MECH_SETS = {
    "HALLMARK_INFLAMMATORY_RESPONSE": "inflammation",
    "HALLMARK_TNFA_SIGNALING_VIA_NFKB": "inflammation",
    "HALLMARK_REACTIVE_OXYGEN_SPECIES_PATHWAY": "oxidative_stress",
    "HALLMARK_OXIDATIVE_PHOSPHORYLATION": "mitochondria",
    "HALLMARK_FATTY_ACID_METABOLISM": "mitochondria",
    "HALLMARK_PI3K_AKT_MTOR_SIGNALING": "insulin_resistance",
    "REACTOME_SIGNALING_BY_INSULIN_RECEPTOR": "insulin_resistance",
    "HALLMARK_UNFOLDED_PROTEIN_RESPONSE": "er_stress",
    "HALLMARK_DNA_REPAIR": "dna_repair",
    "CYTOLYTIC": "antitumour_immunity",
    "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION": "fibrosis",
    "HALLMARK_TGF_BETA_SIGNALING": "fibrosis",
}
CELL_TYPES = ("hepatocyte", "cholangiocyte", "stellate_fibroblast", "sinusoidal_endothelial",
              "kupffer_macrophage", "t_nk", "b_plasma")
GENES = ("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2", "PTP4A1", "PTP4A2",
         "PTP4A3", "ARL15", "KLRK1")

PARAMS = {
    "method": "ssgsea", "permutations": 1000, "seed": 0,
    "de": "voom on TMM-normalised counts + limma (arrays: limma on log expression)",
    "meta": "random effects (REML), only where k >= 2", "alpha": 0.05,
    "score_units": "ssGSEA score (unnormalised)", "expression_units": "log2 CPM (TMM)",
    "composition_units": "mean z-score of cell-type markers", "seconds": 412.7,
    "gene_sets": "magnesium (bundled) 1.0.0", "mechanisms": "MSigDB Hallmark 7.0 + Reactome 7.0",
}

_COHORTS = [
    dict(accession="GSE126848", disease_area="MASLD", design="unpaired", technology="rnaseq",
         data_source="author supplementary counts",
         title="Gene expression in NAFLD/NASH livers vs healthy and obese controls (liver biopsies)",
         citation="Suppli et al. 2019, Am J Physiol Gastrointest Liver Physiol 316:G462",
         groups={"healthy": 14, "obese": 12, "NAFL": 15, "NASH": 16}, ref="healthy"),
    dict(accession="GSE167523", disease_area="MASLD", design="unpaired", technology="rnaseq",
         data_source="author supplementary counts",
         title="Hepatic transcriptome of 98 biopsy-proven NAFLD patients (NAFL vs NASH)",
         citation="Subudhi et al. 2022, Hepatology Communications",
         groups={"NAFL": 51, "NASH": 47}, ref="NAFL"),
    dict(accession="GSE77314", disease_area="HCC", design="paired", technology="rnaseq",
         data_source="NCBI-generated counts",
         title="RNA-seq of 50 hepatocellular carcinomas and matched adjacent non-tumour liver",
         citation="Liu et al. 2016, Oncotarget",
         groups={"hcc_nontumour": 50, "hcc_tumour": 50}, ref="hcc_nontumour"),
    dict(accession="TCGA-LIHC", disease_area="HCC", design="unpaired", technology="rnaseq",
         data_source="GDC STAR counts",
         title="The Cancer Genome Atlas liver hepatocellular carcinoma (primary tumours, solid tissue normal)",
         citation="Cancer Genome Atlas Research Network 2017, Cell 169:1327",
         groups={"hcc_nontumour": 50, "hcc_tumour": 371}, ref="hcc_nontumour"),
]

_LONG_URL_REASON = (
    "{acc}: no expression data could be loaded; the series matrix has no values and these files could "
    "not be obtained: https://www.ncbi.nlm.nih.gov/geo/download/?type=rnaseq_counts&acc={acc}&format=file&"
    "file={acc}_raw_counts_GRCh38.p13_NCBI.tsv.gz (OfflineError); https://ftp.ncbi.nlm.nih.gov/geo/series/"
    "{stub}nnn/{acc}/suppl/ (OfflineError); supplementary archive https://ftp.ncbi.nlm.nih.gov/geo/series/"
    "{stub}nnn/{acc}/suppl/{acc}_RAW.tar (OfflineError). Download one of them (or point "
    "MGTRANSCRIPT_MIRROR at a copy), or use metadata_only=True for the sample metadata alone."
)

_NOT_ANALYSED = [
    dict(accession="GSE135251", disease_area="MASLD", status="metadata only", n_samples=216,
         reason_short="counts not in the mirror; series matrix has labels only (216 samples)",
         groups={"control": 10, "NAFL": 51, "NASH": 155}),
    dict(accession="GSE142530", disease_area="ALD", status="unavailable", n_samples=0,
         reason_short="no expression file obtainable offline (NCBI counts, author counts)", groups={}),
    dict(accession="GSE28619", disease_area="ALD", status="unavailable", n_samples=0,
         reason_short="series matrix and CEL archive not obtainable offline", groups={}),
    dict(accession="GSE94397", disease_area="ALD", status="failed", n_samples=0,
         reason_short="sample sheet matched no sample: column 'geo_accession' holds run ids",
         groups={}),
]


def _bh(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


def _spearman_matrix(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rho and two-sided p of every column of ``a`` with every column of ``b``."""
    ra, rb = a.rank().to_numpy(float), b.rank().to_numpy(float)
    ra = (ra - ra.mean(0)) / ra.std(0)
    rb = (rb - rb.mean(0)) / rb.std(0)
    n = len(ra)
    r = np.clip(ra.T @ rb / n, -1, 1)
    t = r * np.sqrt((n - 2) / np.maximum(1e-12, 1 - r * r))
    return r, 2 * stats.t.sf(np.abs(t), n - 2)


def _hedges(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    na, nb = len(a), len(b)
    sp = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    d = (a.mean() - b.mean()) / sp
    j = 1 - 3 / (4 * (na + nb) - 9)
    g = d * j
    se = np.sqrt((na + nb) / (na * nb) + g * g / (2 * (na + nb)))
    return g, g - 1.96 * se, g + 1.96 * se


def _g_z(d: np.ndarray) -> tuple[float, float, float]:
    """The paired standardised mean change (mean over the SD of the differences, small-sample corrected)."""
    n = len(d)
    g = (1 - 3 / (4 * (n - 1) - 1)) * d.mean() / d.std(ddof=1)
    se = np.sqrt(1 / n + g * g / (2 * n))
    return g, g - 1.96 * se, g + 1.96 * se


def _features(info: dict, rng: np.random.Generator) -> pd.DataFrame:
    acc = info["accession"]
    conds = [c for c, n in info["groups"].items() for _ in range(n)]
    n = len(conds)
    ids = [f"{'TCGA-' if acc.startswith('TCGA') else 'GSM'}{abs(hash(acc)) % 9000 + 1000}{i:04d}" for i in range(n)]
    cond = np.array(conds, dtype=object)
    disease = {"healthy": "control", "obese": "control", "NAFL": "MASLD", "NASH": "MASLD",
               "hcc_nontumour": "control", "hcc_tumour": "HCC"}
    df = pd.DataFrame({"condition": cond, "disease": [disease[c] for c in cond]}, index=ids)
    stage = {"healthy": 0, "obese": 1, "NAFL": 2, "NASH": 3, "hcc_nontumour": 0, "hcc_tumour": 1}
    s = np.array([stage[c] for c in cond], float)
    if acc == "GSE77314":
        df["pair_id"] = [f"P{i % 50 + 1:02d}" for i in range(n)]
        patient = rng.normal(0, 1, 50)[np.arange(n) % 50]
    else:
        patient = np.zeros(n)
    if acc == "GSE167523":
        fib = np.clip(np.round(rng.normal(1.0 + 1.4 * (cond == "NASH"), 0.9)), 0, 4)
        df["fibrosis_stage"] = fib
        s = s + 0.6 * fib
    base = 4500 if acc.startswith("GSE1") else 13000
    for i, name in enumerate(MG_SETS):
        eff = -120 * s if name in ("MG_EFFLUX_EXCHANGE", "MG_EFFLUX_ALL") else (-40 * s if i % 2 else 25 * s)
        df[name] = base + 200 * i + eff + 90 * patient + rng.normal(0, 140, n)
    z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    df["mg_balance"] = z(df["MG_PM_INFLUX"].to_numpy()) - z(df["MG_EFFLUX_EXCHANGE"].to_numpy())
    for j, name in enumerate(MECH_SETS):
        # group means differ (drives pooled correlations); within groups weakly coupled
        within = 0.25 * (df["MG_EFFLUX_EXCHANGE"] - df.groupby("condition")["MG_EFFLUX_EXCHANGE"].transform("mean"))
        shift = 300 * s if j % 3 == 0 else -150 * s
        df[name] = base - 500 + 80 * j + shift + (within if j % 2 else -within) + rng.normal(0, 180, n)
    for ct in CELL_TYPES:
        df[f"composition_{ct}"] = rng.normal(0.4 * s if ct in ("t_nk", "stellate_fibroblast") else -0.2 * s, 1.0)
    for k, g in enumerate(GENES):
        mu = 5.5 + 0.3 * k
        if g == "CNNM4":
            mu = mu - 0.5 * (s >= 2) + 0.2 * (cond == "hcc_tumour")
        if g == "PTP4A3":
            mu = mu + 2.5 * (cond == "hcc_tumour")
        if g == "TRPM7":
            mu = mu + 0.25 * s
        if g == "KLRK1":
            mu = mu - 2.5 + 0.8 * df["composition_t_nk"].to_numpy()
        df[g] = mu + 0.5 * patient + rng.normal(0, 0.45, n)
    if acc == "TCGA-LIHC":
        risk = 0.5 * (df["SLC41A3"] - df["SLC41A3"].mean())
        t = rng.exponential(1500 * np.exp(-risk))
        c = rng.uniform(300, 3600, n)
        df["os_days"] = np.round(np.minimum(t, c))
        df["os_event"] = (t <= c).astype(int)
        df["etiology"] = rng.choice(["HBV", "HCV", "alcohol", "MASLD", "other"], n)
        df.loc[df["condition"] == "hcc_nontumour", ["os_days", "os_event", "etiology"]] = np.nan
    return df


def _numeric(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ("condition", "disease", "pair_id", "fibrosis_stage", "etiology",
                                               "os_days", "os_event")]


def _compare(acc: str, df: pd.DataFrame, column: str, group: str, ref: str, paired: bool) -> list[dict]:
    rows = []
    a_m, b_m = (df[column] == group).to_numpy(), (df[column] == ref).to_numpy()
    if paired:
        order_a = df.loc[a_m].sort_values("pair_id").index
        order_b = df.loc[b_m].sort_values("pair_id").index
    for f in _numeric(df):
        if paired:
            a, b = df.loc[order_a, f].to_numpy(float), df.loc[order_b, f].to_numpy(float)
            t_p = stats.ttest_rel(a, b).pvalue
            u_p = stats.wilcoxon(a, b).pvalue
        else:
            a, b = df.loc[a_m, f].to_numpy(float), df.loc[b_m, f].to_numpy(float)
            t_p = stats.ttest_ind(a, b, equal_var=False).pvalue
            u_p = stats.mannwhitneyu(a, b).pvalue
        g, lo, hi = _hedges(a, b)  # g_av for a paired comparison (average-SD standardised)
        gz, zlo, zhi = _g_z(a - b) if paired else (g, lo, hi)
        auroc = stats.mannwhitneyu(a, b).statistic / (len(a) * len(b))
        kind = "gene" if f in GENES else ("composition" if f.startswith("composition_") else "score")
        rows.append(dict(cohort=acc, contrast=f"{column}:{group}|{ref}", feature=f, kind=kind,
                         n_group=len(a), n_ref=len(b), paired=paired, diff=a.mean() - b.mean(), hedges_g=gz,
                         g_ci_low=zlo, g_ci_high=zhi, g_kind="g_z" if paired else "g", g_av=g, g_av_ci_low=lo,
                         g_av_ci_high=hi, auroc=auroc, t_pval=t_p, u_pval=u_p))
    return rows


def _de(acc: str, contrast: str, rng: np.random.Generator, n_genes: int = 6000) -> pd.DataFrame:
    genes = list(GENES) + [f"GENE{i:05d}" for i in range(n_genes - len(GENES))]
    lfc = rng.normal(0, 0.35, n_genes)
    lfc[:len(GENES)] = rng.normal(0, 0.6, len(GENES))
    big = rng.choice(n_genes, 300, replace=False)
    lfc[big] += rng.choice([-1, 1], 300) * rng.uniform(1, 4, 300)
    se = rng.uniform(0.1, 0.35, n_genes)
    t = lfc / se
    p = 2 * stats.t.sf(np.abs(t), 40)
    p[5] = 1e-300  # a p-value below every floor
    return pd.DataFrame({"gene": genes, "log2fc": lfc, "stat": t, "pval": p, "padj": _bh(p),
                         "ave_expr": rng.uniform(-2, 12, n_genes), "cohort": acc, "contrast": contrast,
                         "method": "voom + limma"})


def _claims_base() -> pd.DataFrame:
    return pd.read_csv(REPO / "seeds" / "claims.tsv", sep="\t", dtype=str, keep_default_na=False)


def make_result(*, out_dir: Path | None = None):
    """The synthetic AnalysisResult (an instance of the pipeline's class, fields set per the schema)."""
    from mgtranscript.pipeline import AnalysisResult

    rng = np.random.default_rng(20260219)
    res = AnalysisResult()
    features, comps, trends, de, de_contrast, rankings = {}, [], [], {}, {}, {}
    gsea_rows, ora_rows, coup_rows, corr_rows, design_rows = [], [], [], [], []
    for info in _COHORTS:
        acc = info["accession"]
        df = _features(info, rng)
        features[acc] = df
        ref = info["ref"]
        paired = info["design"] == "paired"
        for g in info["groups"]:
            if g != ref:
                comps += _compare(acc, df, "condition", g, ref, paired)
        if acc == "GSE126848":
            comps += _compare(acc, df, "disease", "MASLD", "control", False)
        main = f"condition:{list(info['groups'])[-1]}|{ref}"
        de[acc] = _de(acc, main, rng)
        de_contrast[acc] = main
        rankings[acc] = de[acc].set_index("gene")["stat"]
        # trends
        if acc == "GSE126848":
            order = {"healthy": 0, "obese": 1, "NAFL": 2, "NASH": 3}
            by, x = "condition", df["condition"].map(order)
        elif acc == "GSE167523":
            by, x = "fibrosis_stage", df["fibrosis_stage"]
        else:
            by, x = None, None
        if by:
            for f in _numeric(df):
                r, p = stats.spearmanr(x, df[f])
                trends.append(dict(cohort=acc, by=by, feature=f, rho=r, pval=p, n=len(df),
                                   jt_pval=min(1.0, p * 1.3)))
        # GSEA / ORA
        for s in (*MG_SETS, *MECH_SETS):
            nes = rng.normal(0, 1.6)
            p = 0.0 if abs(nes) > 2.4 else float(2 * stats.norm.sf(abs(nes)))
            le = ";".join(rng.choice(de[acc]["gene"].iloc[:400], size=int(rng.integers(5, 60)), replace=False))
            gsea_rows.append(dict(cohort=acc, contrast=main, set=s, mechanism=MECH_SETS.get(s, "magnesium"),
                                  size=int(rng.integers(4, 200)), es=nes / 3, nes=nes, pval=p,
                                  fdr=min(1.0, max(p, 0.001) * 4), leading_edge=le))
        for s in MG_SETS[:4]:
            n_overlap = int(rng.integers(1, 5))
            set_size = n_overlap if s == "MG_EFFLUX_EXCHANGE" else n_overlap + int(rng.integers(1, 6))
            orr = np.inf if set_size == n_overlap else float(rng.uniform(0.5, 4))
            ora_rows.append(dict(cohort=acc, contrast=main, set=s, n_de=1840, n_overlap=n_overlap,
                                 set_size=set_size, odds_ratio=orr, pval=float(rng.uniform(0.001, 0.6)),
                                 genes=";".join(GENES[:n_overlap])))
        # coupling: within condition (paired for GSE77314), per level, and pooled
        design = "paired:pair_id" if paired else "within:condition"
        mech = list(MECH_SETS)
        resid = df[[*MG_SETS, *mech]] - df.groupby("condition")[[*MG_SETS, *mech]].transform("mean")
        levels = ["combined", *info["groups"]] if not paired else ["combined"]
        mats = {}
        for lv in levels:
            sub = resid if lv == "combined" else df[df["condition"] == lv]
            mats[lv] = (*_spearman_matrix(sub[list(MG_SETS)], sub[mech]), len(sub))
        mats["pooled"] = (*_spearman_matrix(df[list(MG_SETS)], df[mech]), len(df))
        for i, m in enumerate(MG_SETS):
            for j, ms in enumerate(mech):
                for lv, (r_, p_, nn) in mats.items():
                    r, p = float(r_[i, j]), float(p_[i, j])
                    zz = np.arctanh(np.clip(r, -0.999, 0.999))
                    se = 1 / np.sqrt(max(nn - 3, 1))
                    coup_rows.append(dict(cohort=acc, mg_set=m, mechanism=MECH_SETS[ms], mechanism_set=ms,
                                          design="pooled" if lv == "pooled" else design,
                                          level="combined" if lv == "pooled" else lv, estimate=r,
                                          ci_low=np.tanh(zz - 1.96 * se), ci_high=np.tanh(zz + 1.96 * se),
                                          pval=p, n=nn))
        for adj in ("", "composition_t_nk"):
            r, p = stats.spearmanr(df["MAGT1"], df["KLRK1"])
            corr_rows.append(dict(cohort=acc, feature_x="MAGT1", feature_y="KLRK1", design=design, level="combined",
                                  adjusted_for=adj, estimate=r - (0.05 if adj else 0), ci_low=r - 0.25,
                                  ci_high=r + 0.2, pval=p, n=len(df)))
        # design audit
        for check, var, test, eff, p, flag, cav in [
            ("library_size", "total counts", "Mann-Whitney U", "library size median 26.1 M vs 13.4 M", 2e-9,
             acc == "GSE126848", "library sizes differ: median 26.1 M (healthy) vs 13.4 M (NASH)"),
            ("norm_factor", "TMM factor", "Mann-Whitney U", "TMM normalisation factor median 0.98 vs 1.03", 0.21,
             False, ""),
            ("top_share", "share of reads in top 20 genes", "Mann-Whitney U",
             "31% vs 33% of reads in the top 20 genes", 0.08, False, ""),
            ("sex_inferred", "XIST / chrY expression", "Fisher exact",
             "female 7/14 vs 9/16; recorded sex agrees in 30/30", 0.71, False, ""),
            ("technical", "submission_date", "Fisher exact", "2019-02 (healthy, obese) vs 2019-03 (NAFL, NASH)",
             1e-12, acc == "GSE126848", "healthy/obese and NAFL/NASH submitted as separate series"),
        ]:
            design_rows.append(dict(cohort=acc, contrast=main, check=check, variable=var, test=test,
                                    statistic=float(rng.uniform(0, 50)), effect=eff, pval=p, flagged=flag,
                                    caveat=cav))
    res.features = features
    res.comparisons = pd.DataFrame(comps)
    res.comparisons["qval"] = _bh(res.comparisons["t_pval"].to_numpy())
    res.trends = pd.DataFrame(trends)
    res.trends["qval"] = _bh(res.trends["pval"].to_numpy())
    res.de, res.de_contrast, res.rankings = de, de_contrast, rankings
    universe = list(de["GSE126848"]["gene"])
    res.gene_sets = {s: list(rng.choice(universe, size=int(rng.integers(4, 14)), replace=False))
                     for s in MG_SETS}
    res.gene_sets.update({s: list(rng.choice(universe, size=int(rng.integers(40, 200)), replace=False))
                          for s in MECH_SETS})
    res.gsea = pd.DataFrame(gsea_rows)
    res.ora = pd.DataFrame(ora_rows)
    res.ora["qval"] = _bh(res.ora["pval"].to_numpy())
    res.coupling = pd.DataFrame(coup_rows)
    res.coupling["qval"] = _bh(res.coupling["pval"].to_numpy())
    res.correlations = pd.DataFrame(corr_rows)
    res.correlations["qval"] = _bh(res.correlations["pval"].to_numpy())
    res.design = pd.DataFrame(design_rows)
    pairs = []
    for i in range(1, 51):
        bad = i in (20, 45)
        pairs.append(dict(pair=f"GSE77314_P{i:02d}", group_sample=f"GSM20491{6 + i:02d}",
                          reference_sample=f"GSM20490{56 + i:02d}", sex_group="male (chrY expressed)",
                          sex_reference="male (chrY expressed)" if i != 45 else "undetermined (low chrY; XIST expressed)",
                          sex_status="suspect" if i == 45 else "agree", identity_similarity=0.6 if not bad else -0.2,
                          identity_rank=1 if not bad else 38, identity_pval=0.01 if not bad else 0.76,
                          best_match=f"GSE77314_P{i:02d}" if not bad else "GSE77314_P18", flagged=bad,
                          reason=("identity genes do not support the pairing (declared partner ranks 38th of 50)"
                                  if i == 20 else "hcc_nontumour sample is male (chrY expressed, XIST low), its "
                                  "hcc_tumour partner is not" if i == 45 else ""),
                          cohort="GSE77314"))
    res.pairs = pd.DataFrame(pairs)
    # meta-analysis: only k >= 2
    meta_rows = []
    cmp = res.comparisons
    for contrast, cohorts in (("condition:NASH|NAFL", ("GSE126848", "GSE167523")),
                              ("condition:hcc_tumour|hcc_nontumour", ("GSE77314", "TCGA-LIHC"))):
        if contrast == "condition:NASH|NAFL":
            extra = pd.DataFrame(_compare("GSE126848", features["GSE126848"], "condition", "NASH", "NAFL", False))
            extra["qval"] = np.nan
            cmp = pd.concat([cmp, extra], ignore_index=True)
        for f in ("MG_EFFLUX_EXCHANGE", "MG_LIVER_CORE", "mg_balance", "CNNM4", "TRPM7", "SLC41A1", "PTP4A3"):
            sub = cmp[(cmp["contrast"] == contrast) & (cmp["feature"] == f) & cmp["cohort"].isin(cohorts)]
            if len(sub) < 2:
                continue
            se = (sub["g_av_ci_high"] - sub["g_av_ci_low"]) / 3.92  # paired cohorts pool on g_av
            w = 1 / se**2
            pooled = float((w * sub["g_av"]).sum() / w.sum())
            pse = float(np.sqrt(1 / w.sum()))
            meta_rows.append(dict(contrast=contrast, feature=f, k=len(sub), pooled=pooled,
                                  ci_low=pooled - 1.96 * pse, ci_high=pooled + 1.96 * pse,
                                  pval=float(2 * stats.norm.sf(abs(pooled / pse))), tau2=0.01, I2=0.18,
                                  cohorts=";".join(sub["cohort"]), n_total=int((sub["n_group"] + sub["n_ref"]).sum())))
    res.comparisons = cmp
    res.meta = pd.DataFrame(meta_rows)
    res.meta["qval"] = _bh(res.meta["pval"].to_numpy())
    # survival (TCGA)
    tc = features["TCGA-LIHC"].dropna(subset=["os_days"])
    surv, km = [], []
    for f in ("SLC41A3", "CNNM4", "TRPM7", "MG_EFFLUX_EXCHANGE"):
        cut = float(tc[f].median())
        hi = tc[f] > cut
        hr = float(np.exp(rng.normal(0.25 if f == "SLC41A3" else 0.0, 0.05)))
        surv.append(dict(cohort="TCGA-LIHC", feature=f, n=len(tc), n_events=int(tc["os_event"].sum()),
                         cut="median", cut_value=cut, logrank_p=0.002 if f == "SLC41A3" else 0.4,
                         hr_per_sd=hr, hr_ci_low=hr / 1.2, hr_ci_high=hr * 1.2, cox_p=0.001 if f == "SLC41A3" else 0.5,
                         adjusted_for="age; sex; stage; etiology", hr_adj_per_sd=hr * 0.95, hr_adj_ci_low=hr / 1.3,
                         hr_adj_ci_high=hr * 1.15, cox_adj_p=0.01 if f == "SLC41A3" else 0.6,
                         median_os_high=900.0, median_os_low=1700.0, ph_test_p=0.02 if f == "TRPM7" else 0.4,
                         ph_violated=f == "TRPM7", ph_adj_test_p=0.03 if f == "TRPM7" else 0.5,
                         ph_adj_violated=f == "TRPM7", n_excluded=2,
                         excluded="2 without follow-up (days to last contact missing)"))
        if f == "SLC41A3":
            for grp, m in (("high", hi), ("low", ~hi)):
                d = tc[m].sort_values("os_days")
                at_risk = len(d)
                s = 1.0
                for t, e in zip(d["os_days"], d["os_event"]):
                    if e:
                        s *= 1 - 1 / at_risk
                    km.append(dict(group=grp, time=t, survival=s, at_risk=at_risk))
                    at_risk -= 1
    res.survival = pd.DataFrame(surv)
    res.km = {"TCGA-LIHC": pd.DataFrame(km)}
    # cohorts, sample counts, coverage
    rows, counts = [], []
    for info in _COHORTS:
        acc = info["accession"]
        rows.append(dict(accession=acc, disease_area=info["disease_area"], status="analysed", reason="",
                         reason_short="", n_samples=sum(info["groups"].values()), sample_sheet=(
                             "../shared/samples/GSE77314_SraRunTable.csv" if acc == "GSE77314" else ""),
                         title=info["title"], citation=info["citation"], design=info["design"],
                         data_source=info["data_source"], technology=info["technology"],
                         groups=" · ".join(f"{k} {v}" for k, v in info["groups"].items())))
        counts += [dict(accession=acc, condition=k, n=v, analysed=True) for k, v in info["groups"].items()]
    for info in _NOT_ANALYSED:
        acc = info["accession"]
        reason = _LONG_URL_REASON.format(acc=acc, stub=acc[:-3]) if info["status"] != "failed" else (
            "DataFormatError: GSE94397_SraRunTable.csv: column 'geo_accession' holds SRR run ids, not GSM "
            "sample ids; pass a sheet whose first column lists GSM ids or name the id column with --id-column.")
        rows.append(dict(accession=acc, disease_area=info["disease_area"], status=info["status"], reason=reason,
                         reason_short=info["reason_short"], n_samples=info["n_samples"], sample_sheet="",
                         title="", citation="", design="", data_source="series matrix" if info["n_samples"] else "",
                         technology="rnaseq", groups=" · ".join(f"{k} {v}" for k, v in info["groups"].items())))
        counts += [dict(accession=acc, condition=k, n=v, analysed=False) for k, v in info["groups"].items()]
    res.cohorts = pd.DataFrame(rows)
    res.sample_counts = pd.DataFrame(counts)
    cov = []
    for info in _COHORTS:
        for s in MG_SETS:
            n_genes = len(res.gene_sets[s])
            miss = ["TRPM6"] if s == "MG_PM_INFLUX" else []
            cov.append(dict(cohort=info["accession"], set=s, n_genes=n_genes, n_matched=n_genes - len(miss),
                            n_resolved_by_alias=1 if s == "MG_ER_GOLGI" else 0, final_size=n_genes - len(miss),
                            kept=True, missing=";".join(miss), resolved="MMGT1<-EMC5" if s == "MG_ER_GOLGI" else ""))
    res.coverage = pd.DataFrame(cov)
    res.claims, res.claims_evidence, res.sensitivity = _claims(res, rng)
    res.inputs = _inputs()
    res.params = dict(PARAMS)
    res.figures = []
    res.out_dir = out_dir
    return res


#: The caveat the claims module puts on every verdict.
TRANSCRIPT = "transcript levels only; mRNA is a weak proxy for Mg flux"

_NOT_TESTABLE = {
    "R1-ALD": "no ALD cohort with expression available (GSE142530, GSE28619: unavailable offline)",
    "R1-DILI": "no drug-induced liver injury cohort in the catalog",
    "L2": "no drug-induced liver injury cohort in the catalog",
    "L3": "no ALD cohort with expression available (GSE142530, GSE28619: unavailable offline)",
    "L6": "cell-level claim (MAGT1 controls NKG2D inside NK/CD8 T cells): bulk correlations measure "
          "lymphocyte content, not the mechanism; needs per-cell data",
    "L11": "about serum magnesium, not transcripts",
    "L12": "about serum magnesium, not transcripts",
}


def _claims(res, rng) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    base = _claims_base()
    cmp = res.comparisons
    rows, ev, sens = [], [], []
    for _, c in base.iterrows():
        cid = c["claim_id"]
        feat, contrast = c["features"], c["contrast"]
        row = dict(claim_id=cid, statement=c["statement"], citation=c["citation"], source=c.get("source", ""),
                   review_statement=c.get("review_statement", ""), scope="cell" if cid == "L6" else "tissue", disease=c["disease"], features=feat,
                   contrast=contrast, expected_direction=c["expected_direction"], verdict="not testable",
                   certainty="", certainty_reasons="", effect_kind="", effect=np.nan, ci_low=np.nan, ci_high=np.nan, pval=np.nan,
                   qval=np.nan, n_cohorts=0, cohorts="", robustness="", caveats="", reason="")
        if cid in _NOT_TESTABLE:
            row["reason"] = _NOT_TESTABLE[cid]
            row["caveats"] = TRANSCRIPT
            rows.append(row)
            continue
        ev_rows = []
        if contrast.startswith(("disease:", "condition:")):
            contrast_rows = cmp[(cmp["contrast"] == contrast) & (cmp["feature"] == feat)]
            for _, r in contrast_rows.iterrows():
                grp, ref = contrast.split(":", 1)[1].split("|")
                test = (f"Hedges' g_av (average-SD standardised, comparable with an unpaired g; g_z "
                        f"{r['hedges_g']:+.2f} [{r['g_ci_low']:+.2f}, {r['g_ci_high']:+.2f}] beside), paired t"
                        if r["paired"] else "Hedges' g, Welch t")
                ev_rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast=contrast, feature=feat, test=test,
                                    design=f"{'paired' if r['paired'] else 'unpaired'}: {grp} vs {ref}",
                                    effect_kind="hedges_g", estimate=r["g_av"], ci_low=r["g_av_ci_low"],
                                    ci_high=r["g_av_ci_high"], pval=r["t_pval"], qval=r["qval"],
                                    n=int(r["n_group"] if r["paired"] else r["n_group"] + r["n_ref"]),
                                    role="primary", included=True, why=""))
            m = res.meta[(res.meta["contrast"] == contrast) & (res.meta["feature"] == feat)]
            for _, r in m.iterrows():
                ev_rows.append(dict(claim_id=cid, cohort="pooled", contrast=contrast, feature=feat,
                                    test="random effects (REML)", design="meta-analysis", effect_kind="hedges_g",
                                    estimate=r["pooled"], ci_low=r["ci_low"], ci_high=r["ci_high"], pval=r["pval"],
                                    qval=r["qval"], n=int(r["n_total"]), role="pooled", included=True,
                                    why=f"k = {int(r['k'])} cohorts"))
            if ev_rows and feat in GENES:
                first = ev_rows[0]
                ev_rows.append(dict(first, test="Hedges' g adjusted for composition", role="adjusted",
                                    estimate=first["estimate"] * 0.8, ci_low=first["ci_low"] * 0.8,
                                    ci_high=first["ci_high"] * 0.8, included=False,
                                    why="shown beside: adjusted for T/NK and Kupffer content"))
        elif contrast == "coupling":
            mech = feat.split("~")[1]
            cp = res.coupling[(res.coupling["mg_set"] == "MG_EFFLUX_EXCHANGE") & (res.coupling["mechanism"] == mech)
                              & (res.coupling["level"] == "combined")]
            for _, r in cp.iterrows():
                pooled = r["design"] == "pooled"
                ev_rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast="coupling",
                                    feature=f"MG_EFFLUX_EXCHANGE~{r['mechanism_set']}",
                                    test="Spearman, pooled over groups" if pooled else (
                                        "repeated-measures correlation" if r["design"].startswith("paired")
                                        else "Spearman within condition (Fisher z)"),
                                    design=r["design"], effect_kind="rho", estimate=r["estimate"], ci_low=r["ci_low"],
                                    ci_high=r["ci_high"], pval=r["pval"], qval=r["qval"], n=int(r["n"]),
                                    role="pooled (shown beside, not voted)" if pooled else "primary",
                                    included=not pooled,
                                    why="pooled across groups mixes group differences in" if pooled else ""))
        elif contrast.startswith("trend:"):
            tr = res.trends[(res.trends["feature"] == feat) & (res.trends["by"] == contrast.split(":")[1])]
            for _, r in tr.iterrows():
                ev_rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast=contrast, feature=feat,
                                    test="Spearman vs stage; Jonckheere-Terpstra", design="ordered", effect_kind="rho",
                                    estimate=r["rho"], ci_low=r["rho"] - 0.2, ci_high=r["rho"] + 0.2, pval=r["pval"],
                                    qval=r["qval"], n=int(r["n"]), role="primary", included=True, why=""))
        elif contrast == "survival":
            sv = res.survival[res.survival["feature"] == feat]
            for _, r in sv.iterrows():
                ev_rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast="survival", feature=feat,
                                    test="Cox PH per SD", design="unpaired", effect_kind="hr_per_sd",
                                    estimate=r["hr_per_sd"], ci_low=r["hr_ci_low"], ci_high=r["hr_ci_high"],
                                    pval=r["cox_p"], qval=r["cox_p"] * 2, n=int(r["n"]), role="primary",
                                    included=True, why=""))
                ev_rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast="survival", feature=feat,
                                    test="Cox PH per SD, adjusted", design="unpaired", effect_kind="hr_per_sd",
                                    estimate=r["hr_adj_per_sd"], ci_low=r["hr_adj_ci_low"],
                                    ci_high=r["hr_adj_ci_high"], pval=r["cox_adj_p"], qval=r["cox_adj_p"] * 2,
                                    n=int(r["n"]), role="adjusted", included=False,
                                    why="adjusted for " + r["adjusted_for"]))
        if not ev_rows:
            row["reason"] = "no cohort carries this contrast"
            row["caveats"] = TRANSCRIPT
            rows.append(row)
            continue
        for r in ev_rows:
            r.setdefault("scenario", "primary")
            r["used"] = bool(r["included"]) and r["role"] in ("primary", "pooled")  # part of the vote
            r.setdefault("q_family", "run")
            lo, hi = r["ci_low"], r["ci_high"]
            r.setdefault("se", (hi - lo) / 3.92 if np.isfinite(lo) and np.isfinite(hi) else np.nan)
        ev += ev_rows
        voted = [r for r in ev_rows if r["included"]]
        best = next((r for r in voted if r["role"] == "pooled"), voted[0])
        best["q_family"] = "claims"  # the verdict's q: over the voted p of all testable claims
        up = best["estimate"] > (1 if best["effect_kind"] == "hr_per_sd" else 0)
        expected_up = c["expected_direction"] in ("up", "positive", "poor prognosis")
        sig = best["qval"] < 0.05
        verdict = ("supported" if up == expected_up else "contradicted") if sig else "inconclusive"
        cohorts = sorted({r["cohort"] for r in voted if r["cohort"] != "pooled"})
        caveats = []
        if "GSE126848" in cohorts and contrast.startswith("disease:MASLD"):
            caveats.append("groups sequenced in different series, library sizes 26 M vs 13 M (GSE126848)")
        if contrast == "coupling":
            caveats.append("bulk tissue: correlations partly reflect cell composition")
        if best["effect_kind"] != "hr_per_sd" and len(cohorts) == 1:
            caveats.append("single cohort")
        certainty = ("moderate" if len(cohorts) >= 2 else "low") if verdict != "inconclusive" else "very low"
        if caveats and certainty == "moderate":
            certainty = "low"
        steps = [f"{'two cohorts' if len(cohorts) >= 2 else 'one cohort'}: starts "
                 f"{'moderate' if len(cohorts) >= 2 else 'low'}"] + [f"risk of bias: {cv}" for cv in caveats[:1]]
        row.update(verdict=verdict, certainty=certainty, certainty_reasons="; ".join(steps),
                   effect_kind=best["effect_kind"], effect=best["estimate"],
                   ci_low=best["ci_low"], ci_high=best["ci_high"], pval=best["pval"], qval=best["qval"],
                   n_cohorts=len(cohorts), cohorts=";".join(cohorts), caveats=" | ".join([*caveats, TRANSCRIPT]),
                   robustness=f"{int(rng.integers(4, 8))}/7 alternatives agree; dissent: RLE normalisation",
                   reason=("pooled over " if best["role"] == "pooled" else "single cohort: ")
                   + f"{', '.join(cohorts)}; " + ("significant " if sig else "not significant ")
                   + f"(q = {best['qval']:.2g})" + ("" if not sig else " in the expected direction"
                                                    if verdict == "supported" else " in the opposite direction"))
        rows.append(row)
        # the same test under an alternative scoring: an evidence row of a sensitivity scenario
        first = voted[0]
        ev.append(dict(first, scenario="scoring: gsva", role="sensitivity", estimate=first["estimate"] * 0.9,
                       qval=min(1.0, first["qval"] * 1.5), used=False))
        for alt in ("normalisation: RLE", "normalisation: upper quartile", "scoring: gsva", "scoring: zscore",
                    "DE: limma-trend", "unpaired", "controls: reference condition only", "adjusted: composition"):
            est = best["estimate"] * rng.uniform(0.6, 1.2) * (-1 if alt == "normalisation: RLE" else 1)
            half = abs(best["ci_high"] - best["ci_low"]) / 2 if np.isfinite(best["ci_low"]) else 0.3
            q = float(rng.uniform(0, 0.3))
            alt_sig = q < 0.05
            alt_up = est > (1 if best["effect_kind"] == "hr_per_sd" else 0)
            alt_verdict = ("supported" if alt_up == expected_up else "contradicted") if alt_sig else "inconclusive"
            sens.append(dict(claim_id=cid, alternative=alt, verdict=alt_verdict, effect_kind=best["effect_kind"],
                             effect=est, ci_low=est - half, ci_high=est + half, pval=q / 2, qval=q,
                             n_cohorts=len(cohorts),
                             cohorts=(f"pooled ({len(cohorts)} cohorts);" if len(cohorts) > 1 else "")
                             + ";".join(cohorts),
                             rederived=";".join(cohorts), agrees=alt_verdict == verdict,
                             counted=alt != "adjusted: composition",
                             note=("the scenario does not apply to an unpaired design" if alt == "unpaired"
                                   and "GSE77314" not in cohorts else
                                   f"{'significant' if alt_sig else 'not significant'} (q={q:.2g})")))
    return pd.DataFrame(rows), pd.DataFrame(ev), pd.DataFrame(sens)


def _inputs() -> list[dict]:
    files = [
        ("https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/matrix/GSE126848_series_matrix.txt.gz",
         "mirror", 81_234),
        ("https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz",
         "mirror", 1_912_554),
        ("https://ftp.ncbi.nlm.nih.gov/geo/series/GSE167nnn/GSE167523/suppl/GSE167523_Raw_gene_counts_matrix.txt.gz",
         "cache", 5_120_332),
        (("https://www.ncbi.nlm.nih.gov/geo/download/?type=rnaseq_counts&acc=GSE77314&format=file&"
          "file=GSE77314_raw_counts_GRCh38.p13_NCBI.tsv.gz"), "mirror", 4_400_812),
        ("https://ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz", "cache", 14_092_111),
        ("https://data.broadinstitute.org/gsea-msigdb/msigdb/release/7.0/h.all.v7.0.symbols.gmt", "cache", 35_004),
        ("samples/GSE77314_SraRunTable.csv", "sample sheet", 40_950),
        ("mgtranscript/gene_sets/magnesium.gmt", "bundled", 2_431),
        ("mgtranscript/seeds/claims.tsv", "bundled", 11_872),
    ]
    return [dict(url=u, sha256=hashlib.sha256(u.encode()).hexdigest(), bytes=b, source=s,
                 path=f"/home/user/.cache/mgtranscript/{Path(u.split('?')[0]).name}") for u, s, b in files]

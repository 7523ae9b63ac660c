#!/usr/bin/env Rscript
# Independent R computation of the numbers behind the gene-level claim verdicts, straight from
# the public files in the offline mirror (no mgtranscript code involved): GEO series matrices,
# author / NCBI count tables and the GSE77314 SRA Run Selector sheet.
#
#   Rscript tests/r/make_reference_verdicts.R [path/to/shared]     (default: ../shared)
#
# Writes tests/data/verdicts/reference.tsv; tests/pipeline/test_pipeline.py compares the verdict table
# of `mgtranscript run` with it (R is never needed by the tests).
#
# Method, as the pipeline's (but implemented with edgeR and metafor):
#   log2-CPM: edgeR calcNormFactors(TMM) + cpm(log = TRUE, prior.count = 2) on every gene row;
#   unpaired contrasts: Hedges' g by metafor::escalc("SMD") (exact small-sample correction),
#     Welch t-test p; paired contrasts: g_av, the mean within-pair difference over the average
#     SD sqrt((sd1^2 + sd2^2) / 2), J = 1 - 3 / (4 (n - 1) - 1), variance by the delta method
#     J^2 (sd(d)^2 / (n s_av^2) + d_av^2 (1 + r^2) / (4 (n - 1))) (metafor 3.8 has no
#     average-SD measure), paired t-test p; the change-score g_z of metafor::escalc("SMCC")
#     is written beside (column g_z);
#   GSE126848 MASLD vs control (sex) and GSE167523 NASH vs NAFL (sex, age), the contrasts whose
#     groups differ in a covariate the design audit flags: the regression-adjusted
#     standardised difference, lm(y ~ group + sex + age) coefficient over the unadjusted pooled
#     SD (times Hedges' J), p of the coefficient; its se on the normal scale is
#     qt(0.975, df) * se / qnorm(0.975) (the evidence table derives se from the t-based CI);
#   two cohorts: metafor::rma(method = "REML", test = "knha") of the per-cohort g (Hartung-Knapp
#     t interval and p with k - 1 df, as the verdicts pool);
#   L10 ("MRS2 not more than 1.15-fold lower"): the mean log2 difference, in GSE126848 (MASLD vs
#     control) adjusted for sex: the lm coefficient, its standard error, t CI and p.
# Differences by design: mgtranscript harmonises gene ids to current symbols before TMM (rows
# of retired or duplicated ids are merged or dropped), and uses Hedges' approximate
# correction J = 1 - 3 / (4 df - 1); both move g by ~1e-3, which the test allows.
suppressPackageStartupMessages({library(edgeR); library(metafor)})

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args)) args[1] else file.path("..", "shared")
mirror <- file.path(shared, "mirror")
out_dir <- file.path("tests", "data", "verdicts")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

series_field <- function(path, field, prefix = NULL) {
  lines <- readLines(gzfile(path))
  hit <- grep(paste0("^!", field, "\t"), lines, value = TRUE)
  vals <- lapply(hit, function(l) gsub('"', "", strsplit(l, "\t")[[1]][-1]))
  if (!is.null(prefix)) {
    vals <- Filter(function(v) all(startsWith(v, prefix)), vals)
    vals <- lapply(vals, function(v) sub(prefix, "", v, fixed = TRUE))
  }
  vals[[1]]
}

logcpm <- function(counts) {
  y <- DGEList(counts)
  y <- calcNormFactors(y, method = "TMM")
  cpm(y, log = TRUE, prior.count = 2)
}

unpaired <- function(x, y) {
  es <- escalc("SMD", m1i = mean(x), sd1i = sd(x), n1i = length(x), m2i = mean(y), sd2i = sd(y),
               n2i = length(y))
  c(estimate = es$yi[1], se = sqrt(es$vi[1]), pval = t.test(x, y)$p.value, n = length(x) + length(y))
}

paired <- function(x, y) {
  d <- x - y
  n <- length(d)
  es <- escalc("SMCC", m1i = mean(x), m2i = mean(y), sd1i = sd(x), sd2i = sd(y), ni = n, ri = cor(x, y))
  s_av <- sqrt((var(x) + var(y)) / 2)
  J <- 1 - 3 / (4 * (n - 1) - 1)
  d_av <- mean(d) / s_av
  r <- cor(x, y)
  v <- J^2 * (var(d) / (n * s_av^2) + d_av^2 * (1 + r^2) / (4 * (n - 1)))
  c(estimate = J * d_av, se = sqrt(v), pval = t.test(x, y, paired = TRUE)$p.value, n = n, g_z = es$yi[1])
}

adjusted <- function(v, grp, covs) {
  n1 <- sum(grp); n2 <- sum(!grp)
  s <- sqrt(((n1 - 1) * var(v[grp]) + (n2 - 1) * var(v[!grp])) / (n1 + n2 - 2))
  J <- 1 - 3 / (4 * (n1 + n2 - 2) - 1)
  fit <- lm(v ~ grp + ., data = covs)
  co <- summary(fit)$coefficients["grpTRUE", ]
  se <- J * co[["Std. Error"]] / s
  c(estimate = J * co[["Estimate"]] / s, se = qt(0.975, fit$df.residual) * se / qnorm(0.975),
    pval = co[["Pr(>|t|)"]], n = n1 + n2)
}

adjusted_difference <- function(v, grp, covs) {
  fit <- lm(v ~ grp + ., data = covs)
  co <- summary(fit)$coefficients["grpTRUE", ]
  c(estimate = co[["Estimate"]], se = co[["Std. Error"]], pval = co[["Pr(>|t|)"]], n = length(v),
    crit = qt(0.975, fit$df.residual))
}

rows <- list()
log2_difference <- function(x, y) {
  se <- sqrt(var(x) / length(x) + var(y) / length(y))
  c(estimate = mean(x) - mean(y), se = se, pval = t.test(x, y)$p.value, n = length(x) + length(y),
    crit = qt(0.975, length(x) + length(y) - 2))
}

add <- function(claim, cohort, contrast, feature, r) {
  crit <- if ("crit" %in% names(r)) r[["crit"]] else qnorm(0.975)
  rows[[length(rows) + 1]] <<- data.frame(
    claim_id = claim, cohort = cohort, contrast = contrast, feature = feature, estimate = r[["estimate"]],
    ci_low = r[["estimate"]] - crit * r[["se"]], ci_high = r[["estimate"]] + crit * r[["se"]],
    se = r[["se"]], pval = r[["pval"]], n = r[["n"]], g_z = if ("g_z" %in% names(r)) r[["g_z"]] else NA)
}

# ---- GSE126848: author counts (Ensembl ids, zero-padded !Sample_description columns)
d <- file.path(mirror, "ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/GSE126848")
m126 <- file.path(d, "matrix/GSE126848_series_matrix.txt.gz")
desc <- as.integer(series_field(m126, "Sample_description"))
dis <- series_field(m126, "Sample_characteristics_ch1", "disease: ")
cond <- c(healthy = "healthy", obese = "obese", NAFLD = "NAFL", NASH = "NASH")[dis]
tab <- read.delim(gzfile(file.path(d, "suppl/GSE126848_Gene_counts_raw.txt.gz")), row.names = 1, check.names = FALSE)
tab <- as.matrix(tab[, match(desc, as.integer(colnames(tab)))])
x126 <- logcpm(tab)
ens <- c(CNNM4 = "ENSG00000158158", MRS2 = "ENSG00000124532")
masld <- cond %in% c("NAFL", "NASH")
sex126 <- factor(series_field(m126, "Sample_characteristics_ch1", "gender: "), levels = c("Female", "Male"))
covs126 <- data.frame(sex = sex126)  # MASLD 10/31 women, controls 0/26: the audit flags it, the plan adjusts
v <- x126[ens[["CNNM4"]], ]
add("R3-MASLD", "GSE126848", "disease:MASLD|control", "CNNM4", adjusted(v, masld, covs126))
v <- x126[ens[["MRS2"]], ]
add("L10", "GSE126848", "disease:MASLD|control", "MRS2", adjusted_difference(v, masld, covs126))
v <- x126[ens[["CNNM4"]], ]
add("L1", "GSE126848", "condition:NASH|healthy", "CNNM4", unpaired(v[cond == "NASH"], v[cond == "healthy"]))
prog <- list(GSE126848 = unpaired(v[cond == "NASH"], v[cond == "NAFL"]))

# ---- GSE167523: author counts (symbols x NAFLD01..NAFLD98 = !Sample_description)
d <- file.path(mirror, "ftp.ncbi.nlm.nih.gov/geo/series/GSE167nnn/GSE167523")
m167 <- file.path(d, "matrix/GSE167523_series_matrix.txt.gz")
desc <- series_field(m167, "Sample_description")
sub <- series_field(m167, "Sample_characteristics_ch1", "disease subtype: ")
tab <- read.delim(gzfile(file.path(d, "suppl/GSE167523_Raw_gene_counts_matrix.txt.gz")), check.names = FALSE)
tab <- rowsum(as.matrix(tab[, -1]), tab[[1]])  # two symbols occur twice: summed, as mgtranscript does
tab <- tab[, desc]
age <- as.numeric(series_field(m167, "Sample_characteristics_ch1", "age: "))
sex <- factor(series_field(m167, "Sample_characteristics_ch1", "gender: "), levels = c("F", "M"))
v <- logcpm(tab)["CNNM4", ]
prog$GSE167523 <- adjusted(v, sub == "NASH", data.frame(sex = sex, age = age))
for (co in names(prog)) add("L1-PROG", co, "condition:NASH|NAFL", "CNNM4", prog[[co]])
fit <- rma(yi = sapply(prog, `[[`, "estimate"), sei = sapply(prog, `[[`, "se"), method = "REML", test = "knha")
add("L1-PROG", "pooled", "condition:NASH|NAFL", "CNNM4",
    c(estimate = fit$b[1], se = fit$se, pval = fit$pval, n = sum(sapply(prog, `[[`, "n")),
      crit = qt(0.975, fit$k - 1)))

# ---- GSE77314: NCBI-generated counts (GeneID rows), labels from the SRA Run Selector sheet,
# pairs declared by the catalog: normal GSM2049057+k with tumour GSM2049107+k
tab <- read.delim(gzfile(file.path(mirror, "www.ncbi.nlm.nih.gov/geo/download/GSE77314",
                                   "GSE77314_raw_counts_GRCh38.p13_NCBI.tsv.gz")), row.names = 1, check.names = FALSE)
x77 <- logcpm(as.matrix(tab))
sheet <- read.csv(file.path(shared, "samples", "GSE77314_SraRunTable.csv"), check.names = FALSE)
normal <- sprintf("GSM%d", 2049057:2049106)
tumour <- sprintf("GSM%d", 2049107:2049156)
stopifnot(all(sheet$diagnosis[match(normal, sheet[["Sample Name"]])] == "Normal"))
geneid <- c(CNNM4 = "26504", TRPM7 = "54822", SLC41A1 = "254428", PTP4A3 = "11156")
claim <- c(CNNM4 = "R3-HCC", TRPM7 = "L5", SLC41A1 = "L7", PTP4A3 = "L9")
for (g in names(geneid)) {
  v <- x77[geneid[[g]], ]
  add(claim[[g]], "GSE77314", "condition:hcc_tumour|hcc_nontumour", g, paired(v[tumour], v[normal]))
}

ref <- do.call(rbind, rows)
num <- sapply(ref, is.numeric)
ref[num] <- lapply(ref[num], function(x) sprintf("%.10g", x))
write.table(ref, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(paste("R", getRversion()), paste("edgeR", packageVersion("edgeR")),
             paste("metafor", packageVersion("metafor"))), file.path(out_dir, "VERSIONS.txt"))
print(ref)

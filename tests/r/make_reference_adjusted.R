#!/usr/bin/env Rscript
# Independent R computation of the covariate-adjusted estimates of GSE167523 NASH vs NAFL
# (NASH 26/47 female vs NAFL 8/51; median age 62 vs 50), straight from the mirror files
# (series matrix: disease subtype, age, gender; author raw counts), no mgtranscript code:
#
#   Rscript tests/r/make_reference_adjusted.R [path/to/shared]     (default: ../shared)
#
# Writes tests/data/adjusted/reference.tsv; tests/pipeline/test_adjusted_rparity.py compares
# mgtranscript.tl.compare(covariates=...) and tl.de(covariates=...) with it.
#
#   adjusted standardised difference (lm): on edgeR TMM log2-CPM (prior.count = 2, all genes),
#     fit <- lm(y ~ group + covariates); adj_g = J * beta / s_pooled with the unadjusted pooled SD
#     s_pooled and J = 1 - 3 / (4 (n - 2) - 1); se = J * se(beta) / s_pooled; CI
#     adj_g +/- qt(0.975, df.residual) * se; p = the t-test of beta;
#   voom / limma: filterByExpr(counts, group) on the count matrix, DGEList with TMM factors of all
#     genes (keep.lib.sizes = TRUE), voom(design = ~ group + covariates), lmFit, eBayes, the
#     group coefficient (logFC, P.Value, adj.P.Val over the kept genes).
# Covariates: none, sex, sex + age.
suppressPackageStartupMessages({library(edgeR); library(limma)})

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args)) args[1] else file.path("..", "shared")
mirror <- file.path(shared, "mirror")
out_dir <- file.path("tests", "data", "adjusted")
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

d <- file.path(mirror, "ftp.ncbi.nlm.nih.gov/geo/series/GSE167nnn/GSE167523")
m167 <- file.path(d, "matrix/GSE167523_series_matrix.txt.gz")
desc <- series_field(m167, "Sample_description")
gsm <- series_field(m167, "Sample_geo_accession")
subtype <- series_field(m167, "Sample_characteristics_ch1", "disease subtype: ")
age <- as.numeric(series_field(m167, "Sample_characteristics_ch1", "age: "))
sex <- c(F = "female", M = "male")[series_field(m167, "Sample_characteristics_ch1", "gender: ")]
tab <- read.delim(gzfile(file.path(d, "suppl/GSE167523_Raw_gene_counts_matrix.txt.gz")), check.names = FALSE)
tab <- rowsum(as.matrix(tab[, -1]), tab[[1]])  # two symbols occur twice: summed, as mgtranscript does
counts <- tab[, desc]
colnames(counts) <- gsm
grp <- factor(ifelse(subtype == "NASH", "NASH", "NAFL"), levels = c("NAFL", "NASH"))
sex <- factor(sex, levels = c("female", "male"))
stopifnot(sum(grp == "NASH") == 47, sum(sex[grp == "NASH"] == "female") == 26)

y <- calcNormFactors(DGEList(counts), method = "TMM")
logcpm <- cpm(y, log = TRUE, prior.count = 2)
genes <- c("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2", "PTP4A1", "PTP4A2")
designs <- list(none = ~ grp, sex = ~ grp + sex, sex_age = ~ grp + sex + age)

rows <- list()
n1 <- sum(grp == "NASH"); n2 <- sum(grp == "NAFL")
J <- 1 - 3 / (4 * (n1 + n2 - 2) - 1)
for (g in genes) {
  v <- logcpm[g, ]
  s <- sqrt(((n1 - 1) * var(v[grp == "NASH"]) + (n2 - 1) * var(v[grp == "NAFL"])) / (n1 + n2 - 2))
  for (cov in names(designs)) {
    fit <- lm(update(designs[[cov]], v ~ .))
    co <- summary(fit)$coefficients["grpNASH", ]
    est <- J * co[["Estimate"]] / s
    se <- J * co[["Std. Error"]] / s
    q <- qt(0.975, fit$df.residual)
    rows[[length(rows) + 1]] <- data.frame(analysis = paste0("lm_", cov), gene = g, estimate = est,
                                           ci_low = est - q * se, ci_high = est + q * se, se = se,
                                           pval = co[["Pr(>|t|)"]], padj = NA, df = fit$df.residual)
  }
}

keep <- filterByExpr(counts, group = grp)
yk <- y[keep, , keep.lib.sizes = TRUE]
for (cov in names(designs)) {
  design <- model.matrix(designs[[cov]])
  fit <- eBayes(lmFit(voom(yk, design), design))
  tt <- topTable(fit, coef = "grpNASH", number = Inf, sort.by = "none")
  for (g in genes[genes %in% rownames(tt)]) {
    rows[[length(rows) + 1]] <- data.frame(analysis = paste0("voom_", cov), gene = g, estimate = tt[g, "logFC"],
                                           ci_low = NA, ci_high = NA, se = NA, pval = tt[g, "P.Value"],
                                           padj = tt[g, "adj.P.Val"], df = NA)
  }
}

ref <- do.call(rbind, rows)
num <- sapply(ref, is.numeric)
ref[num] <- lapply(ref[num], function(x) ifelse(is.na(x), NA, sprintf("%.10g", x)))
write.table(ref, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE, na = "")
writeLines(c(paste("R", getRversion()), paste("edgeR", packageVersion("edgeR")),
             paste("limma", packageVersion("limma")), paste("kept genes", sum(keep))),
           file.path(out_dir, "VERSIONS.txt"))
print(ref[ref$gene %in% c("SLC41A1", "CNNM4", "MRS2"), ])

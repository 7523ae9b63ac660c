#!/usr/bin/env Rscript
# Build small deterministic count inputs and R edgeR reference outputs for tests/pp/test_pp_tmm.py.
#
# Run from the repository root:   Rscript tests/r/make_reference_edger.R
# (edgeR: `apt-get install r-bioc-edger` on Debian, or BiocManager::install("edgeR")).
# Writes tests/data/edger/*.tsv at full precision ("%.17g"); the Python tests only read
# these files and never need R. Matrices are written genes x samples, as edgeR holds them.
suppressPackageStartupMessages(library(edgeR))
stopifnot(packageVersion("edgeR") >= "3.40.0")

out_dir <- file.path("tests", "data", "edger")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

fmt <- function(x) sprintf("%.17g", x)
write_matrix <- function(m, path) {
  df <- data.frame(gene = rownames(m), apply(m, 2, fmt), check.names = FALSE)
  write.table(df, file.path(out_dir, path), sep = "\t", quote = FALSE, row.names = FALSE)
}
write_counts <- function(m, path) {
  df <- data.frame(gene = rownames(m), m, check.names = FALSE)
  write.table(df, file.path(out_dir, path), sep = "\t", quote = FALSE, row.names = FALSE)
}
write_df <- function(df, path) {
  write.table(df, file.path(out_dir, path), sep = "\t", quote = FALSE, row.names = FALSE)
}

# ---- main input: 300 genes x 10 samples, two groups (4 vs 6), composition bias, zeros ----
set.seed(20240612)
n_genes <- 300
n_samp <- 10
group <- factor(rep(c("normal", "tumour"), c(4, 6)), levels = c("normal", "tumour"))
genes <- sprintf("G%03d", 1:n_genes)
samples <- sprintf("S%02d", 1:n_samp)
base <- exp(rnorm(n_genes, 3, 2.2))                      # gene abundances over ~4 log-decades
base[1:3] <- base[1:3] * c(400, 150, 60)                 # a few "albumin-like" giants
lfc <- c(rep(0, 3), rnorm(30, 0, 1.5), rep(0, n_genes - 33))
# composition bias: the giants take far more of the library in the normal group
giant_boost <- matrix(1, n_genes, n_samp)
giant_boost[1:3, group == "normal"] <- 6
depth <- runif(n_samp, 0.5, 2)
mu <- base * giant_boost * exp(outer(lfc, as.numeric(group == "tumour"))) *
  matrix(depth, n_genes, n_samp, byrow = TRUE)
counts <- matrix(rnbinom(n_genes * n_samp, mu = mu, size = 5), n_genes, n_samp,
                 dimnames = list(genes, samples))
counts[291:295, ] <- 0L                                   # all-zero genes
counts[296, 3] <- 40L; counts[296, -3] <- 0L              # expressed in one sample only
counts[297:300, 5] <- 0L                                  # sporadic zeros
write_counts(counts, "counts.tsv")
write_df(data.frame(sample = samples, group = group,
                    batch = rep(c("a", "b"), 5), age = fmt(round(seq(31, 76, length.out = n_samp)))),
         "samples.tsv")

lib <- colSums(counts)
nf <- data.frame(
  sample = samples,
  lib_size = fmt(lib),
  TMM = fmt(calcNormFactors(counts, method = "TMM")),
  TMM_noweight = fmt(calcNormFactors(counts, method = "TMM", doWeighting = FALSE)),
  TMM_ref3 = fmt(calcNormFactors(counts, method = "TMM", refColumn = 3)),
  TMM_trim = fmt(calcNormFactors(counts, method = "TMM", logratioTrim = 0.2, sumTrim = 0.1)),
  TMM_acutoff = fmt(calcNormFactors(counts, method = "TMM", Acutoff = -15)),
  TMM_libsize = fmt(calcNormFactors(counts, method = "TMM", lib.size = lib * 1.5 + 1000)),
  upperquartile = fmt(calcNormFactors(counts, method = "upperquartile")),
  RLE = fmt(calcNormFactors(counts[1:290, ], method = "RLE")),   # RLE needs genes without zeros in some sample
  none = fmt(calcNormFactors(counts, method = "none"))
)
write_df(nf, "norm_factors.tsv")

y <- calcNormFactors(DGEList(counts, group = group))
write_matrix(cpm(y, log = TRUE, prior.count = 2), "logcpm_tmm.tsv")
write_matrix(cpm(y, log = TRUE, prior.count = 0.5), "logcpm_tmm_prior0.5.tsv")
write_matrix(cpm(DGEList(counts), log = TRUE, prior.count = 2), "logcpm_none.tsv")

design <- model.matrix(~ group + age, data = data.frame(group = group, age = round(seq(31, 76, length.out = n_samp))))
filt <- data.frame(
  gene = genes,
  group = filterByExpr(counts, group = group),
  nogroup = suppressMessages(filterByExpr(counts)),
  design = filterByExpr(counts, design = design),
  dgelist_tmm = filterByExpr(y),                           # lib.size * norm.factors
  custom = filterByExpr(counts, group = group, min.count = 5, min.total.count = 30)
)
filt[, -1] <- lapply(filt[, -1], function(k) ifelse(k, "TRUE", "FALSE"))
write_df(filt, "filter.tsv")

# ---- sparse input: > 75 % zeros in every sample, so the 75 % quantiles are all zero and
# edgeR picks the reference column by colSums(sqrt(x)) instead ----
set.seed(7)
sp <- matrix(0L, 120, 6, dimnames = list(sprintf("H%03d", 1:120), sprintf("T%d", 1:6)))
for (j in 1:6) {
  on <- sample(120, 25)
  sp[on, j] <- rnbinom(25, mu = exp(rnorm(25, 3, 1.5)) * j, size = 3)
}
write_counts(sp, "counts_sparse.tsv")
ref_uq <- suppressWarnings(apply(sp, 2, quantile, probs = 0.75))
stopifnot(median(ref_uq) < 1e-20)
write_df(data.frame(sample = colnames(sp), TMM = fmt(calcNormFactors(sp, method = "TMM"))),
         "norm_factors_sparse.tsv")

# ---- many samples: one group of 30 (> large.n), so filterByExpr uses large.n + (n - large.n) * min.prop ----
set.seed(11)
lg <- matrix(rnbinom(200 * 30, mu = exp(rnorm(200, 2, 2)), size = 2), 200, 30,
             dimnames = list(sprintf("L%03d", 1:200), sprintf("U%02d", 1:30)))
write_counts(lg, "counts_large.tsv")
fl <- data.frame(gene = rownames(lg),
                 nogroup = suppressMessages(filterByExpr(lg)),
                 minprop = suppressMessages(filterByExpr(lg, large.n = 5, min.prop = 0.5)))
fl[, -1] <- lapply(fl[, -1], function(k) ifelse(k, "TRUE", "FALSE"))
write_df(fl, "filter_large.tsv")

writeLines(c(
  R.version.string,
  paste("edgeR", packageVersion("edgeR")),
  paste("limma", packageVersion("limma")),
  "script: tests/r/make_reference_edger.R"
), file.path(out_dir, "VERSIONS.txt"))
cat("wrote", out_dir, "\n")

#!/usr/bin/env Rscript
# Build small deterministic inputs and R limma 3.54 reference outputs for tests/tl/test_de.py.
#
# Run from the repository root:   Rscript tests/r/make_reference_limma.R
# Writes tests/data/limma/*.tsv (inputs and outputs, full precision "%.17g").
# The Python tests only read these files; they never need R.
suppressPackageStartupMessages(library(limma))
stopifnot(packageVersion("limma") >= "3.54.0")

out_dir <- file.path("tests", "data", "limma")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

fmt <- function(x) sprintf("%.17g", x)
write_matrix <- function(m, path) {
  df <- data.frame(gene = rownames(m), apply(m, 2, fmt), check.names = FALSE)
  write.table(df, path, sep = "\t", quote = FALSE, row.names = FALSE)
}
write_top <- function(fit, coef, path, extra = list()) {
  tt <- topTable(fit, coef = coef, number = Inf, sort.by = "none")
  se <- fit$stdev.unscaled[, coef] * sqrt(fit$s2.post)
  df <- data.frame(
    gene = rownames(tt), logFC = fmt(tt$logFC), AveExpr = fmt(tt$AveExpr), t = fmt(tt$t),
    P.Value = fmt(tt$P.Value), adj.P.Val = fmt(tt$adj.P.Val), B = fmt(tt$B), se = fmt(se),
    df.total = fmt(fit$df.total), s2.prior = fmt(rep_len(fit$s2.prior, nrow(tt))),
    df.prior = fmt(rep_len(fit$df.prior, nrow(tt)))
  )
  write.table(df, path, sep = "\t", quote = FALSE, row.names = FALSE)
}

set.seed(20240611)
n_genes <- 200
n_per <- 6
samples <- data.frame(
  sample = sprintf("S%02d", 1:(2 * n_per)),
  group = rep(c("healthy", "NASH"), each = n_per),
  pair = rep(sprintf("P%d", 1:n_per), 2),
  age = round(runif(2 * n_per, 30, 70), 1),
  sex = sample(c("F", "M"), 2 * n_per, replace = TRUE)
)
samples$group <- factor(samples$group, levels = c("healthy", "NASH"))
genes <- sprintf("G%03d", 1:n_genes)

# ---- log-scale expression: gene means, scaled-inverse-chi2 variances, 20 DE genes ----
mu <- rnorm(n_genes, 8, 2)
s2 <- 0.05 * 4 / rchisq(n_genes, df = 4) * (1 + 2 / (1 + exp(mu - 6)))  # variance rises at low mean
lfc <- c(rnorm(20, 0, 1.5), rep(0, n_genes - 20))
pair_eff <- matrix(rep(rnorm(n_per, 0, 0.3), 2), n_genes, 2 * n_per, byrow = TRUE)
age_eff <- outer(rnorm(n_genes, 0, 0.01), samples$age - 50)
y <- matrix(rnorm(n_genes * 2 * n_per, 0, sqrt(s2)), n_genes) + mu +
  outer(lfc, as.numeric(samples$group == "NASH")) + pair_eff + age_eff
dimnames(y) <- list(genes, samples$sample)
write_matrix(y, file.path(out_dir, "expr.tsv"))
write.table(samples, file.path(out_dir, "samples.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

# 1. two groups, plain moderated t
design <- model.matrix(~ group, data = samples)
fit <- eBayes(lmFit(y, design))
write_top(fit, 2, file.path(out_dir, "out_basic.tsv"))

# 2. eBayes(trend = TRUE)
fit_tr <- eBayes(lmFit(y, design), trend = TRUE)
write_top(fit_tr, 2, file.path(out_dir, "out_trend.tsv"))

# 3. covariates: numeric age + categorical sex
design_cov <- model.matrix(~ group + age + sex, data = samples)
fit_cov <- eBayes(lmFit(y, design_cov))
write_top(fit_cov, 2, file.path(out_dir, "out_covariates.tsv"))

# 4. paired design: ~ group + pair
design_pair <- model.matrix(~ group + pair, data = samples)
fit_pair <- eBayes(lmFit(y, design_pair))
write_top(fit_pair, 2, file.path(out_dir, "out_paired.tsv"))

# 5. missing values: a few NA entries (per-gene fits with fewer residual df)
y_na <- y
y_na[cbind(c(3, 3, 10, 50, 51, 200), c(1, 8, 12, 2, 3, 7))] <- NA
write_matrix(y_na, file.path(out_dir, "expr_na.tsv"))
fit_na <- eBayes(lmFit(y_na, design))
write_top(fit_na, 2, file.path(out_dir, "out_na.tsv"))

# 5b. eBayes(robust = TRUE) on the same data (prior df infinite, outliers shrunk)
fit_rb <- eBayes(lmFit(y, design), robust = TRUE)
write_top(fit_rb, 2, file.path(out_dir, "out_robust.tsv"))

# 5c. robust on data drawn from a scaled F (d0 = 4) with 6 outlier-variance genes
#     (finite prior df: exercises the uniroot branch of fitFDistRobustly)
s2_rb <- 0.1 * 4 / rchisq(n_genes, df = 4)
s2_rb[1:6] <- s2_rb[1:6] * 30
y_rb <- matrix(rnorm(n_genes * 2 * n_per, 0, sqrt(s2_rb)), n_genes) + mu +
  outer(lfc, as.numeric(samples$group == "NASH"))
dimnames(y_rb) <- list(genes, samples$sample)
write_matrix(y_rb, file.path(out_dir, "expr_robust.tsv"))
fit_rb2 <- eBayes(lmFit(y_rb, design), robust = TRUE)
write_top(fit_rb2, 2, file.path(out_dir, "out_robust_finite.tsv"))

# ---- counts for voom: negative binomial, varied library sizes, one all-zero gene ----
base <- exp(rnorm(n_genes, 4, 2))
libfac <- runif(2 * n_per, 0.5, 2)
fc <- 2^c(rnorm(20, 0, 1.5), rep(0, n_genes - 20))
mean_mat <- outer(base, libfac) * outer(fc^0, rep(1, 2 * n_per))
mean_mat[, samples$group == "NASH"] <- mean_mat[, samples$group == "NASH"] * fc
counts <- matrix(rnbinom(length(mean_mat), mu = mean_mat, size = 5), n_genes)
counts[5, ] <- 0
dimnames(counts) <- list(genes, samples$sample)
df_counts <- data.frame(gene = genes, counts, check.names = FALSE)
write.table(df_counts, file.path(out_dir, "counts.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

# 6. voom + lmFit + eBayes
v <- voom(counts, design)
dimnames(v$weights) <- dimnames(counts)
write_matrix(v$weights, file.path(out_dir, "out_voom_weights.tsv"))
fit_v <- eBayes(lmFit(v, design))
write_top(fit_v, 2, file.path(out_dir, "out_voom.tsv"))

# 7. voom with the paired design
v_p <- voom(counts, design_pair)
fit_vp <- eBayes(lmFit(v_p, design_pair))
write_top(fit_vp, 2, file.path(out_dir, "out_voom_paired.tsv"))

# 8. R's lowess on awkward data (ties, duplicated x, outliers) for the lowess port
set.seed(7)
lx <- c(round(runif(150, 0, 10), 1), rep(5, 5))
ly <- sin(lx) + rnorm(length(lx), 0, 0.3) + c(rep(0, 150), 5, -5, 0, 0, 3)
lw <- lowess(lx, ly, f = 0.5)
lw2 <- lowess(lx, ly, f = 0.2, iter = 0, delta = 0)
write.table(data.frame(x = fmt(lx), y = fmt(ly)), file.path(out_dir, "lowess_in.tsv"),
            sep = "\t", quote = FALSE, row.names = FALSE)
write.table(data.frame(x = fmt(lw$x), y = fmt(lw$y), x2 = fmt(lw2$x), y2 = fmt(lw2$y)),
            file.path(out_dir, "lowess_out.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

writeLines(c(paste("limma", as.character(packageVersion("limma"))), R.version.string),
           file.path(out_dir, "VERSIONS.txt"))
cat("wrote", out_dir, "\n")

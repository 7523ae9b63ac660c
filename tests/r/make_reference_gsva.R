#!/usr/bin/env Rscript
# Regenerate the GSVA reference outputs used by tests/tl/score/test_gsva.py.
#
# Needs R with GSVA 1.46 (Debian/Ubuntu: apt-get install r-bioc-gsva). Run from the
# repository root:
#
#     Rscript tests/r/make_reference_gsva.R
#
# It writes, into tests/data/gsva/:
#   expr_log.tsv      200 genes x 15 samples, log-scale (Gaussian kernel), incl. one
#                     constant gene (GSVA drops it) and one gene present in no set
#   expr_counts.tsv   200 genes x 15 samples, negative-binomial counts (Poisson kernel)
#   sets.tsv          long table (set, gene) of 8 sets of 3..40 genes
#   gsva_<case>.tsv   sets x samples scores (Gaussian, Poisson and 'none' kernels)
#                     from GSVA::gsva(..., method = "gsva")
#                     written with 17 significant digits
#   cases.tsv         case -> input, kcdf, mx.diff, abs.ranking, tau
#   session.txt       R and GSVA versions used
#
# Inputs are rounded to 4 decimals so that R and Python parse them to the same doubles.
suppressPackageStartupMessages(library(GSVA))
stopifnot(packageVersion("GSVA") < "1.50")  # the old gsva(expr, gset.idx.list, ...) API

out <- file.path("tests", "data", "gsva")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
set.seed(20261124)

n_genes <- 200L
n_samples <- 15L
genes <- sprintf("G%03d", seq_len(n_genes))
samples <- sprintf("S%02d", seq_len(n_samples))

# log-scale data: gene-specific mean and sd, a few sample effects
mu <- rnorm(n_genes, 6, 2)
sdv <- runif(n_genes, 0.2, 1.5)
expr_log <- matrix(rnorm(n_genes * n_samples, mean = mu, sd = sdv), n_genes, n_samples)
expr_log[, 1:5] <- expr_log[, 1:5] + rnorm(n_genes, 0, 0.3)
expr_log[7, ] <- 5        # constant gene: GSVA discards it
expr_log <- round(expr_log, 4)
dimnames(expr_log) <- list(genes, samples)

# counts: negative binomial with gene-specific means
cmu <- exp(rnorm(n_genes, 4, 1.5))
expr_counts <- matrix(rnbinom(n_genes * n_samples, mu = cmu, size = 5), n_genes, n_samples)
expr_counts[9, ] <- 0     # all-zero gene: GSVA discards it
dimnames(expr_counts) <- list(genes, samples)

sizes <- c(3L, 5L, 8L, 12L, 17L, 25L, 33L, 40L)
sets <- lapply(sizes, function(k) sample(genes[-200], k))   # G200 is in no set
sets[[2]] <- unique(c(sets[[2]], "G007", "G009"))          # touch the dropped genes
names(sets) <- sprintf("SET%d_%d", seq_along(sizes), lengths(sets))

write.table(data.frame(gene = genes, expr_log, check.names = FALSE),
            file.path(out, "expr_log.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
write.table(data.frame(gene = genes, expr_counts, check.names = FALSE),
            file.path(out, "expr_counts.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
long <- data.frame(set = rep(names(sets), lengths(sets)), gene = unlist(sets, use.names = FALSE))
write.table(long, file.path(out, "sets.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

cases <- data.frame(
  case = c("gauss_mxdiff", "gauss_maxdev", "gauss_absrank", "gauss_tau05",
           "poisson_mxdiff", "poisson_maxdev", "none_mxdiff"),
  input = c("expr_log", "expr_log", "expr_log", "expr_log", "expr_counts", "expr_counts",
            "expr_log"),
  kcdf = c("Gaussian", "Gaussian", "Gaussian", "Gaussian", "Poisson", "Poisson", "none"),
  mx_diff = c(TRUE, FALSE, TRUE, TRUE, TRUE, FALSE, TRUE),
  abs_ranking = c(FALSE, FALSE, TRUE, FALSE, FALSE, FALSE, FALSE),
  tau = c(1, 1, 1, 0.5, 1, 1, 1)
)
inputs <- list(expr_log = expr_log, expr_counts = expr_counts)
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  es <- suppressWarnings(gsva(inputs[[cs$input]], sets, method = "gsva", kcdf = cs$kcdf,
                              mx.diff = cs$mx_diff, abs.ranking = cs$abs_ranking,
                              tau = cs$tau, verbose = FALSE))
  txt <- apply(es, c(1, 2), function(v) sprintf("%.17g", v))
  write.table(data.frame(set = rownames(es), txt, check.names = FALSE),
              file.path(out, sprintf("gsva_%s.tsv", cs$case)),
              sep = "\t", quote = FALSE, row.names = FALSE)
}
write.table(cases, file.path(out, "cases.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(R.version.string, paste("GSVA", packageVersion("GSVA"))),
           file.path(out, "session.txt"))

#!/usr/bin/env Rscript
# Reference scores from R GSVA 1.46 for mgtranscript's ssgsea / zscore / plage tests.
#
# Writes small deterministic inputs and GSVA's outputs to tests/data/scores/:
#   expr_noties.tsv   200 genes x 12 samples, log-normal, no ties        (genes in rows)
#   expr_ties.tsv     200 genes x 12 samples, count-like, ties and zeros, one all-zero gene
#   sets.tsv          long table set<TAB>gene; 7 sets of 3..40 genes, one with a gene
#                     (NOT_IN_DATA) absent from the data, one holding the all-zero gene
#   <input>__<method>.tsv   samples x sets, 17 significant digits
#       methods: ssgsea (ssgsea.norm=FALSE), ssgsea_norm (ssgsea.norm=TRUE), zscore, plage
#
# Run from the repository root:  Rscript tests/r/make_reference_scores.R
# Tests read these files and do not need R.
suppressPackageStartupMessages(library(GSVA))
stopifnot(packageVersion("GSVA") == "1.46.0")

out <- file.path("tests", "data", "scores")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

n_genes <- 200
n_samples <- 12
genes <- sprintf("G%03d", seq_len(n_genes))
samples <- sprintf("S%02d", seq_len(n_samples))

set.seed(20240611)
noties <- matrix(signif(rlnorm(n_genes * n_samples, meanlog = 2, sdlog = 1), 6),
                 n_genes, n_samples, dimnames = list(genes, samples))
stopifnot(all(apply(noties, 2, function(x) !anyDuplicated(x))))

mu <- rgamma(n_genes, shape = 0.6, rate = 0.15)
ties <- matrix(rnbinom(n_genes * n_samples, mu = rep(mu, n_samples), size = 2),
               n_genes, n_samples, dimnames = list(genes, samples))
ties["G007", ] <- 0  # a constant gene: GSVA drops it for zscore/plage, keeps it for ssgsea
storage.mode(ties) <- "double"
stopifnot(any(apply(ties, 2, anyDuplicated) > 0), any(ties == 0))

sets <- list(
  SET_A3 = genes[c(1, 50, 120)],
  SET_B5 = genes[c(2, 3, 5, 7, 11)],
  SET_C10 = genes[seq(10, 100, by = 10)],
  SET_D15 = c(genes[150:163], "NOT_IN_DATA"),
  SET_E20 = genes[seq(1, 200, by = 10)],
  SET_F30 = genes[31:60],
  SET_G40 = genes[seq(5, 200, by = 5)]
)

write_matrix <- function(m, path, fmt = "%.17g") {
  txt <- matrix(sprintf(fmt, m), nrow(m), ncol(m))
  df <- data.frame(id = rownames(m), txt, check.names = FALSE)
  colnames(df) <- c("id", colnames(m))
  write.table(df, path, sep = "\t", quote = FALSE, row.names = FALSE)
}

# inputs hold <= 6 significant digits, so "%.15g" round-trips them exactly
write_matrix(noties, file.path(out, "expr_noties.tsv"), "%.15g")
write_matrix(ties, file.path(out, "expr_ties.tsv"), "%.15g")
long <- data.frame(set = rep(names(sets), lengths(sets)), gene = unlist(sets, use.names = FALSE))
write.table(long, file.path(out, "sets.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

run <- function(expr, method, norm = FALSE) {
  es <- suppressWarnings(gsva(expr, sets, method = method, kcdf = "Gaussian", mx.diff = TRUE,
                              ssgsea.norm = norm, verbose = FALSE))
  t(es)  # samples x sets
}

for (input in c("noties", "ties")) {
  expr <- if (input == "noties") noties else ties
  invisible(capture.output({
    res <- list(
      ssgsea = run(expr, "ssgsea", FALSE),
      ssgsea_norm = run(expr, "ssgsea", TRUE),
      zscore = run(expr, "zscore"),
      plage = run(expr, "plage")
    )
  }))
  for (m in names(res)) write_matrix(res[[m]], file.path(out, sprintf("%s__%s.tsv", input, m)))
}
cat("wrote reference scores to", out, "\n")

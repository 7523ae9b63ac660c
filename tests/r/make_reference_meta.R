#!/usr/bin/env Rscript
# metafor reference for small-k random-effects pools with Hartung-Knapp(-Sidik-Jonkman) intervals
# (mgtranscript.tl.pool(test="knha"), which the claim verdicts and tables/meta.tsv use).
#
# Run from the repository root:   Rscript tests/r/make_reference_meta.R
# Writes tests/data/meta/{input,reference}.tsv (full precision "%.17g") and VERSIONS.txt;
# tests/tl/statistics/test_meta.py compares pool() with them (R is never needed by the tests).
#
# Cases (effects y with standard errors se, one row per cohort):
#   two_agree     two cohorts that agree (the per-cohort Hedges' g of CNNM4, NASH vs NAFL, in
#                 tests/data/verdicts/reference.tsv);
#   two_disagree  two cohorts of opposite sign whose Q test is significant (p ~ 0.02);
#   three         three cohorts, moderate heterogeneity;
#   five_homog    five homogeneous cohorts (tau^2 truncated at 0);
#   bcg           the 13 BCG vaccine trials (metafor's dat.bcg, log risk ratios).
# Each case is fitted with rma(method = "REML", test = "knha"), and with method = "DL" and
# test = "z" for comparison; predict() gives the 95% prediction interval.
suppressPackageStartupMessages(library(metafor))

out_dir <- file.path("tests", "data", "meta")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
fmt <- function(x) sprintf("%.17g", x)

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
cases <- list(
  two_agree = data.frame(y = c(0.01253109134, 0.4218124898), se = c(0.3594011678, 0.204431464)),
  two_disagree = data.frame(y = c(-0.664, 0.290), se = c(0.369, 0.203)),
  three = data.frame(y = c(0.80, 0.35, 0.55), se = c(0.25, 0.18, 0.30)),
  five_homog = data.frame(y = c(0.50, 0.52, 0.49, 0.51, 0.47), se = c(0.20, 0.25, 0.30, 0.20, 0.22)),
  bcg = data.frame(y = as.numeric(bcg$yi), se = sqrt(as.numeric(bcg$vi)))
)

inputs <- list()
rows <- list()
for (name in names(cases)) {
  d <- cases[[name]]
  inputs[[name]] <- data.frame(case = name, cohort = seq_len(nrow(d)), y = fmt(d$y), se = fmt(d$se))
  for (spec in list(c("REML", "knha"), c("DL", "knha"), c("REML", "z"))) {
    # a tight convergence threshold (the default 1e-5 on tau^2 leaves ~1e-6 in the estimate)
    fit <- rma(yi = d$y, sei = d$se, method = spec[1], test = spec[2],
               control = list(threshold = 1e-12, maxiter = 1000))
    pr <- predict(fit)
    rows[[length(rows) + 1]] <- data.frame(
      case = name, method = spec[1], test = spec[2], k = fit$k, estimate = fmt(fit$b[1]), se = fmt(fit$se),
      ci_low = fmt(fit$ci.lb), ci_high = fmt(fit$ci.ub), stat = fmt(fit$zval), pval = fmt(fit$pval),
      df = if (spec[2] == "knha") fit$k - 1 else "inf", tau2 = fmt(fit$tau2), I2 = fmt(fit$I2), Q = fmt(fit$QE),
      Q_pval = fmt(fit$QEp), pi_low = fmt(pr$pi.lb), pi_high = fmt(pr$pi.ub))
  }
}
write.table(do.call(rbind, inputs), file.path(out_dir, "input.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
ref <- do.call(rbind, rows)
write.table(ref, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(paste("R", getRversion()), paste("metafor", packageVersion("metafor"))),
           file.path(out_dir, "VERSIONS.txt"))
print(ref[, c("case", "method", "test", "estimate", "ci_low", "ci_high", "pval", "Q_pval", "pi_low", "pi_high")])

#!/usr/bin/env Rscript
# Reference values for tests/tl/statistics/test_correlate.py and the covariate-adjusted tl.compare
# (tests/tl/statistics/test_compare.py), computed with base R stats (cor.test, lm, drop1) and metafor.
#
# Run from the repository root:   Rscript tests/r/make_reference_correlate.R
# Writes tests/data/correlate/samples.tsv (the synthetic input) and
#        tests/data/correlate/reference.tsv (one row per quantity: id, value).
# The Python tests only read these files; they never need R.
suppressPackageStartupMessages(library(metafor))

out_dir <- file.path("tests", "data", "correlate")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
fmt <- function(x) sprintf("%.17g", x)

set.seed(20260415)
# 3 conditions; 24 patients (8 per condition) with 2 or 3 samples each -> paired designs;
# within each condition y falls with x, while condition means of x and y both rise
# (Simpson's paradox). One numeric covariate (age) and one categorical (sex).
n_pat <- 24
cond_pat <- rep(c("healthy", "NAFL", "NASH"), each = 8)
reps <- rep(c(2, 3), length.out = n_pat)
pair <- rep(sprintf("P%02d", seq_len(n_pat)), times = reps)
condition <- rep(cond_pat, times = reps)
shift <- c(healthy = 0, NAFL = 2, NASH = 4)[condition]
pat_eff <- rnorm(n_pat, sd = 1)[match(pair, sprintf("P%02d", seq_len(n_pat)))]
N <- length(pair)
age <- round(rnorm(N, 55, 10))
sex <- sample(c("F", "M"), N, replace = TRUE)
x <- shift + pat_eff + rnorm(N)
y <- 1.2 * shift + 0.8 * pat_eff - 0.6 * (x - shift - pat_eff) + 0.02 * age + 0.5 * (sex == "M") + rnorm(N, sd = 0.6)
# a tied, mostly-zero feature (like a low-count gene)
k <- pmax(0, round(x - 3))
# tumour/normal-like two-sample pairs for the paired compare: the first 2 samples of each pair
first2 <- ave(seq_len(N), pair, FUN = function(i) seq_along(i)) <= 2
tissue <- ifelse(ave(seq_len(N), pair, FUN = function(i) seq_along(i)) == 1, "normal", "tumour")
tissue[!first2] <- NA
samples <- data.frame(sample = sprintf("S%03d", seq_len(N)), condition, pair, age, sex, tissue,
                      x = fmt(x), y = fmt(y), k = fmt(k))
write.table(samples, file.path(out_dir, "samples.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

ref <- list()
put <- function(id, v) ref[[id]] <<- v

ct <- function(a, b, m) suppressWarnings(cor.test(a, b, method = m, exact = FALSE))
for (m in c("pearson", "spearman")) {
  for (pairname in c("x_y", "x_k")) {
    b <- if (pairname == "x_y") y else k
    r <- ct(x, b, m)
    put(sprintf("pooled/%s/%s/estimate", m, pairname), unname(r$estimate))
    put(sprintf("pooled/%s/%s/pval", m, pairname), r$p.value)
    if (m == "pearson") {
      put(sprintf("pooled/%s/%s/ci_low", m, pairname), r$conf.int[1])
      put(sprintf("pooled/%s/%s/ci_high", m, pairname), r$conf.int[2])
    }
  }
  # per group, and the fixed-effect Fisher-z combination with weights n - 3
  rs <- c(); ns <- c()
  for (g in c("healthy", "NAFL", "NASH")) {
    i <- condition == g
    r <- ct(x[i], y[i], m)
    put(sprintf("within/%s/%s/estimate", m, g), unname(r$estimate))
    put(sprintf("within/%s/%s/pval", m, g), r$p.value)
    rs <- c(rs, unname(r$estimate)); ns <- c(ns, sum(i))
  }
  vi <- if (m == "pearson") 1 / (ns - 3) else (1 + rs^2 / 2) / (ns - 3)
  fe <- rma(yi = atanh(rs), vi = vi, weights = ns - 3, method = "FE")
  put(sprintf("within/%s/combined/estimate", m), tanh(fe$b[1]))
  put(sprintf("within/%s/combined/ci_low", m), tanh(fe$ci.lb))
  put(sprintf("within/%s/combined/ci_high", m), tanh(fe$ci.ub))
  put(sprintf("within/%s/combined/pval", m), fe$pval)
  put(sprintf("within/%s/combined/q_het", m), fe$QE)
  put(sprintf("within/%s/combined/q_pval", m), fe$QEp)
  put(sprintf("within/%s/combined/i2", m), fe$I2 / 100)

  tr <- if (m == "spearman") rank else identity
  # residualised on condition (ranks over all samples for Spearman)
  rx <- tr(x); ry <- tr(y); f <- factor(condition)
  put(sprintf("residualise/%s/estimate", m), cor(resid(lm(rx ~ f)), resid(lm(ry ~ f))))
  fit <- lm(ry ~ f + rx)
  put(sprintf("residualise/%s/pval", m), summary(fit)$coefficients["rx", 4])
  put(sprintf("residualise/%s/df", m), fit$df.residual)

  # rmcorr in its ANCOVA form (Bakdash & Marusich 2017): lm(y ~ pair + x), Type III SS
  p <- factor(pair)
  fit <- lm(ry ~ p + rx)
  d1 <- drop1(fit, ~., test = "F")
  ssx <- d1$"Sum of Sq"[3]; rss <- d1$RSS[1]
  put(sprintf("rmcorr/%s/estimate", m), sign(coef(fit)["rx"]) * sqrt(ssx / (ssx + rss)))
  put(sprintf("rmcorr/%s/pval", m), d1$"Pr(>F)"[3])
  put(sprintf("rmcorr/%s/df", m), fit$df.residual)

  # pair + condition fixed effects (within= and paired_by= together)
  fit <- lm(ry ~ p + f + rx)
  put(sprintf("pairgroup/%s/estimate", m), cor(resid(lm(rx ~ p + f)), resid(lm(ry ~ p + f))))
  put(sprintf("pairgroup/%s/pval", m), summary(fit)$coefficients["rx", 4])
  put(sprintf("pairgroup/%s/df", m), fit$df.residual)

  # tumour/normal-like pairs (first two samples of each patient): within = tissue and
  # paired_by = pair together -> lm(y ~ pair + tissue + x), ranks over these samples
  i <- !is.na(tissue)
  rx2 <- tr(x[i]); ry2 <- tr(y[i]); p2 <- factor(pair[i]); t2 <- factor(tissue[i])
  fit <- lm(ry2 ~ p2 + t2 + rx2)
  put(sprintf("pairtissue/%s/estimate", m), cor(resid(lm(rx2 ~ p2 + t2)), resid(lm(ry2 ~ p2 + t2))))
  put(sprintf("pairtissue/%s/pval", m), summary(fit)$coefficients["rx2", 4])
  put(sprintf("pairtissue/%s/df", m), fit$df.residual)
  # ... and plain rmcorr on the same samples (regression of differences through the origin)
  fit <- lm(ry2 ~ p2 + rx2)
  put(sprintf("paironly/%s/estimate", m), cor(resid(lm(rx2 ~ p2)), resid(lm(ry2 ~ p2))))
  put(sprintf("paironly/%s/pval", m), summary(fit)$coefficients["rx2", 4])
  # the correlation of within-pair differences (tumour - normal), with intercept
  ord <- order(pair[i], tissue[i])
  d <- function(v) { v <- v[ord]; v[seq(2, length(v), 2)] - v[seq(1, length(v), 2)] }
  put(sprintf("pairtissue/%s/diffcor", m), cor(d(rx2), d(ry2)))

  # partial correlation on covariates (numeric ranked for Spearman; sex as indicator)
  ra <- tr(age); s <- factor(sex)
  fit <- lm(ry ~ ra + s + rx)
  put(sprintf("partial/%s/estimate", m), cor(resid(lm(rx ~ ra + s)), resid(lm(ry ~ ra + s))))
  put(sprintf("partial/%s/pval", m), summary(fit)$coefficients["rx", 4])
  put(sprintf("partial/%s/df", m), fit$df.residual)
}

# covariate-adjusted group differences (tl.compare covariates=): OLS y ~ group + age + sex
for (g in c("NAFL", "NASH")) {
  i <- condition %in% c("healthy", g)
  grp <- as.numeric(condition[i] == g)
  fit <- lm(y[i] ~ grp + age[i] + factor(sex[i]))
  cf <- summary(fit)$coefficients
  ci <- confint(fit)["grp", ]
  put(sprintf("compare_adj/%s/diff", g), cf["grp", 1])
  put(sprintf("compare_adj/%s/ci_low", g), ci[1])
  put(sprintf("compare_adj/%s/ci_high", g), ci[2])
  put(sprintf("compare_adj/%s/pval", g), cf["grp", 4])
}
# paired: within-pair differences (tumour - normal) regressed on the covariate difference,
# which equals the pair fixed-effect model lm(y ~ pair + tissue + age)
i <- !is.na(tissue)
fit <- lm(y[i] ~ factor(pair[i]) + factor(tissue[i], levels = c("normal", "tumour")) + age[i])
nm <- grep("tissue", rownames(summary(fit)$coefficients), value = TRUE)
cf <- summary(fit)$coefficients[nm, ]
ci <- confint(fit)[nm, ]
put("compare_adj_paired/diff", cf[1]); put("compare_adj_paired/pval", cf[4])
put("compare_adj_paired/ci_low", ci[1]); put("compare_adj_paired/ci_high", ci[2])

out <- data.frame(id = names(ref), value = vapply(ref, fmt, ""))
write.table(out, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(R.version.string, paste("metafor", packageVersion("metafor"))), file.path(out_dir, "VERSIONS.txt"))

#!/usr/bin/env Rscript
# Build a small deterministic survival data set and R survival 3.5 reference outputs for
# tests/tl/statistics/test_survival.py (mgtranscript.tl.survival uses lifelines; the methods are the same:
# Cox PH with Efron ties and Wald CI/p, log-rank test, Kaplan-Meier medians).
#
# Run from the repository root:   Rscript tests/r/make_reference_survival.R
# Writes tests/data/survival/{input,reference}.tsv (full precision "%.17g").
suppressPackageStartupMessages(library(survival))
stopifnot(packageVersion("survival") >= "3.0")

out_dir <- file.path("tests", "data", "survival")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
fmt <- function(x) sprintf("%.17g", x)

set.seed(20240612)
n <- 90
z_true <- rnorm(n)
x <- 6 + 1.3 * (0.85 * z_true + sqrt(1 - 0.85^2) * rnorm(n))
stage_num <- sample(1:4, n, replace = TRUE, prob = c(0.4, 0.3, 0.2, 0.1))
stage <- c("Stage I", "Stage II", "Stage IIIA", "Stage IV")[stage_num]
stage[stage_num == 3 & runif(n) < 0.5] <- "Stage IIIB"
age <- round(runif(n, 35, 85), 2)
etiology <- sample(c("viral", "alcohol", "unknown", "other"), n, replace = TRUE, prob = c(0.4, 0.25, 0.2, 0.15))
t_event <- rexp(n, rate = exp(0.7 * z_true + 0.3 * (stage_num - 1)) / 1500)
t_cens <- runif(n, 100, 3000)
time <- round(pmin(t_event, t_cens))
event <- as.integer(t_event <= t_cens)
input <- data.frame(sample = sprintf("TCGA-XX-%04d-01A", 1:n), time = time, event = event, x = fmt(x),
                    stage = stage, age = fmt(age), etiology = etiology)
write.table(input, file.path(out_dir, "input.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

z <- (x - mean(x)) / sd(x)
fit <- coxph(Surv(time, event) ~ z, ties = "efron")
s <- summary(fit)
zph <- cox.zph(fit, transform = "rank")
high <- x > median(x)
lr <- survdiff(Surv(time, event) ~ high)
km <- survfit(Surv(time, event) ~ high)
med <- summary(km)$table[, "median"]

# adjusted: stage as ordinal 1-4, age, etiology against its most frequent level
stage_ord <- as.numeric(factor(sub("[ABC]$", "", stage), levels = c("Stage I", "Stage II", "Stage III", "Stage IV")))
ref <- names(sort(table(etiology), decreasing = TRUE))[1]
et <- relevel(factor(etiology), ref = ref)
fit_adj <- coxph(Surv(time, event) ~ z + stage_ord + age + et, ties = "efron")
sa <- summary(fit_adj)

ref_out <- data.frame(
  quantity = c("n", "n_events", "hr_per_sd", "hr_ci_low", "hr_ci_high", "cox_p", "logrank_p",
               "median_os_high", "median_os_low", "ph_test_p_rank", "hr_adj_per_sd", "hr_adj_ci_low",
               "hr_adj_ci_high", "cox_adj_p", "cut_value"),
  value = fmt(c(n, sum(event), s$conf.int["z", "exp(coef)"], s$conf.int["z", "lower .95"],
                s$conf.int["z", "upper .95"], s$coefficients["z", "Pr(>|z|)"],
                pchisq(lr$chisq, df = 1, lower.tail = FALSE),
                med["high=TRUE"], med["high=FALSE"], zph$table["z", "p"],
                sa$conf.int["z", "exp(coef)"], sa$conf.int["z", "lower .95"], sa$conf.int["z", "upper .95"],
                sa$coefficients["z", "Pr(>|z|)"], median(x)))
)
write.table(ref_out, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(paste("R", getRversion()), paste("survival", packageVersion("survival"))),
           file.path(out_dir, "VERSIONS.txt"))

#!/usr/bin/env Rscript
# A survival data set whose hazard ratio reverses over follow-up (proportional hazards
# violated by construction) and R survival references for the PH test of
# tests/tl/statistics/test_survival.py: cox.zph (rank transform) of the feature in the plain and in
# the adjusted Cox model. lifelines' proportional_hazard_test is the Grambsch-Therneau
# form of survival < 3.0; R 3.x uses the full score test: the verdicts are compared, and
# the p-values loosely.
#
# Run from the repository root:   Rscript tests/r/make_reference_survival_ph.R
# Writes tests/data/survival_ph/{input,reference}.tsv (full precision "%.17g").
suppressPackageStartupMessages(library(survival))
stopifnot(packageVersion("survival") >= "3.0")

out_dir <- file.path("tests", "data", "survival_ph")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
fmt <- function(x) sprintf("%.17g", x)

set.seed(20260705)
n <- 240
x <- rnorm(n, 6, 1.2)
z_true <- (x - 6) / 1.2
age <- round(runif(n, 35, 85), 2)
# piecewise exponential: high x raises the hazard before day 400 and lowers it after
t1 <- rexp(n, rate = exp(1.2 * z_true) / 700)
t2 <- 400 + rexp(n, rate = exp(-1.2 * z_true) / 700)
t_event <- ifelse(t1 < 400, t1, t2)
t_cens <- runif(n, 300, 2500)
time <- round(pmin(t_event, t_cens))
event <- as.integer(t_event <= t_cens)
input <- data.frame(sample = sprintf("TCGA-PH-%04d-01A", 1:n), time = time, event = event, x = fmt(x),
                    age = fmt(age))
write.table(input, file.path(out_dir, "input.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

z <- (x - mean(x)) / sd(x)
fit <- coxph(Surv(time, event) ~ z, ties = "efron")
fit_adj <- coxph(Surv(time, event) ~ z + age, ties = "efron")
zph <- cox.zph(fit, transform = "rank")
zph_adj <- cox.zph(fit_adj, transform = "rank")
ref_out <- data.frame(
  quantity = c("n", "n_events", "hr_per_sd", "ph_test_p_rank", "hr_adj_per_sd", "ph_adj_test_p_rank"),
  value = fmt(c(n, sum(event), summary(fit)$conf.int["z", "exp(coef)"], zph$table["z", "p"],
                summary(fit_adj)$conf.int["z", "exp(coef)"], zph_adj$table["z", "p"]))
)
write.table(ref_out, file.path(out_dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(paste("R", getRversion()), paste("survival", packageVersion("survival"))),
           file.path(out_dir, "VERSIONS.txt"))

#!/usr/bin/env Rscript
# Helper of benchmarks/run.py: time R GSVA 1.46 on the benchmark matrix.
# Usage: Rscript r_gsva.R DIR N_GENES N_SAMPLES METHODS [KCDF]   (KCDF: Gaussian|Poisson)
#   DIR/X.bin     float64, genes x samples column-major (written by run.py)
#   DIR/sets.tsv  name <TAB> comma-separated 1-based gene rows
# Prints "TIME <method> <seconds>" (elapsed time of the gsva() call only) and writes
# DIR/r_<method>.bin (float64, sets x samples column-major).
suppressPackageStartupMessages(library(GSVA))
a <- commandArgs(trailingOnly = TRUE)
dir <- a[1]; ng <- as.integer(a[2]); ns <- as.integer(a[3])
methods <- strsplit(a[4], ",")[[1]]
kcdf <- if (length(a) >= 5) a[5] else "Gaussian"
X <- matrix(readBin(file.path(dir, "X.bin"), "double", n = ng * ns), nrow = ng)
rownames(X) <- sprintf("G%05d", seq_len(ng) - 1L)
colnames(X) <- sprintf("S%04d", seq_len(ns) - 1L)
lines <- strsplit(readLines(file.path(dir, "sets.tsv")), "\t")
sets <- lapply(lines, function(l) rownames(X)[as.integer(strsplit(l[2], ",")[[1]])])
names(sets) <- vapply(lines, `[`, "", 1)
for (m in methods) {
  args <- list(X, sets, method = m, verbose = FALSE, parallel.sz = 1L)
  if (m == "gsva") args$kcdf <- kcdf
  if (m == "ssgsea") args$ssgsea.norm <- FALSE
  t <- system.time(es <- suppressWarnings(do.call(gsva, args)))[["elapsed"]]
  cat("TIME", m, t, "\n")
  writeBin(as.vector(es[names(sets), , drop = FALSE]), file.path(dir, sprintf("r_%s.bin", m)))
}

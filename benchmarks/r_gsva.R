#!/usr/bin/env Rscript
# Helper of the benchmarks: R GSVA 1.46 on a matrix written by Python.
#
# One-shot (gsva_real_parity.py):
#   Rscript r_gsva.R DIR N_GENES N_SAMPLES METHODS [KCDF]   (KCDF: Gaussian|Poisson)
#   prints "TIME <method> <seconds>" (elapsed time of the gsva() call only) and writes
#   DIR/r_<method>.bin (see Outputs below).
# Server (run.py): Rscript r_gsva.R serve DIR N_GENES N_SAMPLES PARALLEL_SZ
#   reads commands from stdin, one per line, and answers one line each:
#     time M   -> "TIME M <seconds> <cpu>"   elapsed time of one gsva(method = M) call and
#                 its CPU seconds (user + system, this process and its children)
#     save M   -> "SAVED M"            scores written to DIR/r_M.bin
#     mem M    -> "MEM M <rise_kib> <peak_kib> <seconds>"  peak resident memory during one
#                 call (VmHWM after resetting it through /proc/self/clear_refs) minus the
#                 resident size just before it
#     quit
# Inputs: DIR/X.bin float64 genes x samples column-major (= samples x genes C order);
#         DIR/sets.tsv  name <TAB> comma-separated 1-based gene rows.
# Outputs DIR/r_<method>.bin: float64, the sets x samples score matrix in column-major
# order (= samples x sets in C order), sets in the order of sets.tsv.
suppressPackageStartupMessages(library(GSVA))
a <- commandArgs(trailingOnly = TRUE)
serve <- length(a) >= 1 && a[1] == "serve"
if (serve) a <- a[-1]
dir <- a[1]; ng <- as.integer(a[2]); ns <- as.integer(a[3])
X <- matrix(readBin(file.path(dir, "X.bin"), "double", n = ng * ns), nrow = ng)
rownames(X) <- sprintf("G%05d", seq_len(ng) - 1L)
colnames(X) <- sprintf("S%04d", seq_len(ns) - 1L)
lines <- strsplit(readLines(file.path(dir, "sets.tsv")), "\t")
sets <- lapply(lines, function(l) rownames(X)[as.integer(strsplit(l[2], ",")[[1]])])
names(sets) <- vapply(lines, `[`, "", 1)

run <- function(m, kcdf = "Gaussian", psz = 1L) {
  args <- list(X, sets, method = m, verbose = FALSE, parallel.sz = psz)
  if (m == "gsva") args$kcdf <- kcdf
  if (m == "ssgsea") args$ssgsea.norm <- FALSE
  es <- NULL
  # GSVA 1.46 prints progress messages even with verbose = FALSE: keep stdout for answers
  invisible(capture.output(es <- suppressWarnings(do.call(gsva, args))))
  es
}
save_scores <- function(es, m) {
  writeBin(as.vector(es[names(sets), , drop = FALSE]), file.path(dir, sprintf("r_%s.bin", m)))
}
status_kib <- function(field) {
  st <- readLines("/proc/self/status")
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", grep(paste0("^", field, ":"), st, value = TRUE))), " +")[[1]][1])
}

if (!serve) {
  methods <- strsplit(a[4], ",")[[1]]
  kcdf <- if (length(a) >= 5) a[5] else "Gaussian"
  for (m in methods) {
    t <- system.time(es <- run(m, kcdf))[["elapsed"]]
    cat("TIME", m, t, "\n")
    save_scores(es, m)
  }
} else {
  psz <- if (length(a) >= 4) as.integer(a[4]) else 1L
  invisible(run("zscore", psz = 1L))  # warm-up: load everything once
  con <- file("stdin")
  open(con)
  repeat {
    line <- readLines(con, n = 1)
    if (length(line) == 0 || line == "quit") break
    cmd <- strsplit(line, " ")[[1]]
    m <- cmd[2]
    if (cmd[1] == "time") {
      st <- system.time(es <- run(m, psz = psz))
      cpu <- sum(st[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE)
      cat("TIME", m, st[["elapsed"]], cpu, "\n")
    } else if (cmd[1] == "save") {
      save_scores(run(m, psz = psz), m)
      cat("SAVED", m, "\n")
    } else if (cmd[1] == "mem") {
      gc()
      before <- status_kib("VmRSS")
      cat("5", file = "/proc/self/clear_refs")
      t <- system.time(es <- run(m, psz = psz))[["elapsed"]]
      peak <- status_kib("VmHWM")
      save_scores(es, m)
      cat("MEM", m, peak - before, peak, t, "\n")
    } else {
      cat("ERROR unknown command", line, "\n")
    }
    flush(stdout())
  }
}

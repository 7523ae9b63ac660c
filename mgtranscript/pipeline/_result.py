"""The run as a value: :class:`AnalysisResult`, the per-cohort :class:`CohortResult` it is merged
from, and :data:`TABLES`, the one list of its tables and their columns.

This module is the bottom of :mod:`mgtranscript.pipeline`: it imports nothing of the package, so
the per-cohort plan, the writer, the caches and the report all read the same contract.

* :class:`CohortResult` is what one cohort gives (:func:`~mgtranscript.pipeline.analyse_cohort`
  returns one; the run adds the cohort's status, sample counts and inputs). Its tables are
  built by :meth:`CohortResult.append`, row blocks in the order the plan produces them.
* :func:`merge` concatenates the cohorts' tables in the order of the cohorts, the same
  ``pd.concat`` a shared result would have seen, so a serial, a parallel and a cached run give
  the same tables.
* :class:`AnalysisResult` holds the merged tables, the verdicts, per-cohort data for figures,
  and where the files are. Paths of written files are kept relative to :attr:`~AnalysisResult.out_dir`,
  so they are right before and after the output folder is swapped into place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["TableSpec", "TABLES", "COHORT_TABLES", "PER_COHORT", "INPUTS", "AnalysisResult", "CohortResult",
           "merge", "write_tables"]


@dataclass(frozen=True)
class TableSpec:
    """One table of a run: the :class:`AnalysisResult` field, the file, its columns.

    ``columns`` are the columns every non-empty table has, in this order; a method may add
    columns of its own (e.g. ``adj_*`` in ``comparisons`` when an estimate is adjusted).
    ``file`` holds ``{accession}`` for tables kept per cohort (a mapping accession -> table).
    """

    name: str
    file: str
    columns: tuple[str, ...]
    about: str
    per_cohort_rows: bool = True  # rows come from the cohorts (False: computed over the run)
    index_label: str | None = None  # the file's first column holds the index under this name


_COMPARE = ("feature", "kind", "source", "groupby", "group", "reference", "contrast", "paired", "n_group", "n_ref",
            "n", "n_missing", "mean_group", "mean_ref", "diff", "hedges_g", "g_se", "g_ci_low", "g_ci_high", "g_kind",
            "g_av", "g_av_se", "g_av_ci_low", "g_av_ci_high", "auroc", "t_stat", "t_pval", "u_pval", "test", "qval",
            "u_qval", "note", "cohort")
_CORRELATE = ("x", "y", "method", "design", "combine", "level", "estimate", "ci_low", "ci_high", "pval", "qval", "n",
              "n_groups", "df", "covariates", "q_het", "q_pval", "i2", "zero_fraction_x", "zero_fraction_y", "note",
              "cohort")

#: Every table of a run, in the order they are written to ``tables/``.
TABLES: tuple[TableSpec, ...] = (
    TableSpec("cohorts", "cohorts", ("accession", "disease_area", "status", "reason", "reason_short", "n_samples",
                                     "sample_sheet", "title", "citation", "design", "data_source", "technology",
                                     "groups"), "one row per catalog cohort: analysed, or why not"),
    TableSpec("sample_counts", "sample_counts", ("accession", "condition", "n", "analysed"),
              "samples per condition and cohort"),
    TableSpec("coverage", "coverage", ("set", "n_genes", "n_matched", "n_resolved_by_alias", "n_missing",
                                       "final_size", "kept", "reason", "matched", "missing", "resolved", "cohort"),
              "Mg gene sets found per cohort"),
    TableSpec("comparisons", "comparisons", _COMPARE, "group comparisons of scores and key genes"),
    TableSpec("trends", "trends", ("feature", "kind", "source", "by", "order", "n", "n_groups", "n_missing", "rho",
                                   "pval", "jt_stat", "jt_z", "jt_pval", "qval", "jt_qval", "note", "cohort"),
              "ordered trends across stages"),
    TableSpec("gsea", "gsea", ("set", "size", "n_genes", "es", "nes", "pval", "fdr", "fwer", "qval", "leading_edge",
                               "n_leading_edge", "hits", "cohort", "contrast"),
              "GSEA prerank of the main contrast's moderated t"),
    TableSpec("ora", "ora", ("set", "set_size_in_universe", "overlap", "expected", "odds_ratio", "pval", "qval",
                             "genes", "cohort", "contrast", "n_de"), "over-representation of Mg sets in DE genes"),
    TableSpec("coupling", "coupling", (*_CORRELATE, "mg_set", "mechanism_set"),
              "Mg scores vs mechanism scores within groups"),
    TableSpec("correlations", "correlations", (*_CORRELATE, "feature_x", "feature_y"),
              "gene pairs named by claims, within groups"),
    TableSpec("design", "design", ("check", "variable", "test", "statistic", "effect", "pval", "n", "flagged",
                                   "caveat", "risk_of_bias", "cohort", "contrast"), "design audit of every contrast"),
    TableSpec("pairs", "pairs", ("pair", "group_sample", "reference_sample", "sex_group", "sex_reference",
                                 "sex_status", "identity_similarity", "identity_rank", "identity_pval", "best_match",
                                 "flagged", "reason", "cohort"), "pair checks of paired contrasts"),
    TableSpec("survival", "survival", ("feature", "source", "group", "n", "n_events", "n_high", "n_low", "cut",
                                       "cut_value", "n_cuts", "logrank_p", "logrank_p_raw", "hr_per_sd", "hr_ci_low",
                                       "hr_ci_high", "cox_p", "ph_test_p", "ph_violated", "adjusted_for", "n_adj",
                                       "hr_adj_per_sd", "hr_adj_ci_low", "hr_adj_ci_high", "cox_adj_p",
                                       "ph_adj_test_p", "ph_adj_violated", "median_os_high", "median_os_low",
                                       "n_excluded", "excluded", "penalised", "note", "cohort", "qval"),
              "Cox models of survival claims (tl.survival's summary per cohort)"),
    TableSpec("effects", "effects", ("cohort", "disease_area", "scenario", "analysis", "contrast", "feature",
                                     "effect_kind", "estimate", "ci_low", "ci_high", "se", "pval", "qval", "n", "test",
                                     "design", "level", "note"),
              "every estimate a claim can use (primary and alternatives)"),
    TableSpec("meta", "meta", ("contrast", "feature", "effect_kind", "k", "pooled", "ci_low", "ci_high", "pval", "df",
                               "pi_low", "pi_high", "tau2", "I2", "Q_pval", "test", "cohorts", "n_total", "qval"),
              "random-effects pools where k >= 2", per_cohort_rows=False),
    TableSpec("claims", "claims", ("claim_id", "statement", "citation", "source", "review_statement", "scope",
                                   "disease", "features", "contrast", "expected_direction", "verdict", "certainty",
                                   "certainty_reasons", "effect_kind", "effect", "ci_low", "ci_high", "pval", "qval",
                                   "n_cohorts", "cohorts", "robustness", "caveats", "reason"),
              "one verdict per claim", per_cohort_rows=False),
    TableSpec("claims_evidence", "claims_evidence", ("claim_id", "scenario", "cohort", "contrast", "feature", "test",
                                                     "design", "effect_kind", "estimate", "ci_low", "ci_high", "se",
                                                     "pval", "qval", "q_family", "n", "role", "included", "used",
                                                     "why"), "every test behind every verdict", per_cohort_rows=False),
    TableSpec("sensitivity", "sensitivity", ("claim_id", "alternative", "verdict", "effect_kind", "effect", "ci_low",
                                             "ci_high", "pval", "qval", "n_cohorts", "cohorts", "rederived", "agrees",
                                             "counted", "note"),
              "verdicts under each alternative analysis", per_cohort_rows=False),
)

#: Tables kept per cohort (``AnalysisResult.<name>[accession]``); written as ``tables/<file>.tsv``.
PER_COHORT: tuple[TableSpec, ...] = (
    TableSpec("de", "de_{accession}", ("gene", "log2fc", "se", "stat", "pval", "padj", "ave_expr", "B", "df_total",
                                       "cohort", "contrast", "method"), "DE of the cohort's main contrast"),
    TableSpec("features", "features_{accession}", ("sample",),
              "per-sample labels, scores, composition and key genes (for figures)", index_label="sample"),
)

#: The input files of the run (the provenance's inputs as a table); written when the result has any.
INPUTS = TableSpec("inputs", "inputs", ("url", "sha256", "bytes", "path", "source"),
                   "every input file: public URL, sha256, size, local path, where it came from",
                   per_cohort_rows=False)

#: Names of the tables whose rows come from the cohorts (what a :class:`CohortResult` holds).
COHORT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.per_cohort_rows and t.name not in
                                       ("cohorts", "sample_counts"))


def _append(cur: pd.DataFrame | None, df) -> pd.DataFrame | None:
    """``cur`` with the rows of ``df`` after it (one ``pd.concat``; empty blocks are skipped)."""
    df = pd.DataFrame(df) if isinstance(df, list) else df
    if df is None or len(df) == 0:
        return cur
    if cur is None or cur.empty:
        return df.reset_index(drop=True)
    return pd.concat([cur, df], ignore_index=True)


@dataclass
class CohortResult:
    """What one cohort gives a run.

    ``status`` is the cohort's row of ``cohorts.tsv``; ``tables`` its row blocks of the run's
    tables (:data:`COHORT_TABLES`); ``de``, ``features``, ``km``, ``ranking`` its per-cohort
    data; ``input_records`` the files it was read from as the loaders record them, ``inputs``
    the same with their size, path and source on this machine (the rows of the provenance);
    ``timings`` seconds per phase; ``source`` says whether the analysis ran (``"computed"``) or
    came from the result cache (``"result cache"``), ``"computed (parsed cohort from the cache)"`` when
    only the parsing was reused; ``loaded`` whether its data could be loaded.
    """

    accession: str
    status: dict = field(default_factory=dict)
    sample_counts: list[dict] = field(default_factory=list)
    input_records: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    de: pd.DataFrame | None = None
    de_contrast: str | None = None
    ranking: pd.Series | None = None
    features: pd.DataFrame | None = None
    km: pd.DataFrame | None = None
    gene_sets: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    source: str = "computed"
    loaded: bool = False

    def append(self, name: str, table: pd.DataFrame | list[dict]) -> None:
        """Add rows to one of the cohort's tables (:data:`COHORT_TABLES`)."""
        if name not in COHORT_TABLES:
            raise KeyError(f"{name!r} is not a per-cohort table (one of {', '.join(COHORT_TABLES)})")
        new = _append(self.tables.get(name), table)
        if new is not None:
            self.tables[name] = new

    def table(self, name: str) -> pd.DataFrame:
        """One of the cohort's tables (empty when it has no rows)."""
        return self.tables.get(name, pd.DataFrame())

    def __getattr__(self, name: str) -> pd.DataFrame:  # cr.design, cr.effects ... as on an AnalysisResult
        if name in COHORT_TABLES:
            return self.table(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def analysed(self) -> bool:
        return self.status.get("status") == "analysed"


@dataclass
class AnalysisResult:
    """Every table the plan produces (tidy DataFrames), per-cohort data for figures, and paths.

    The fields and their columns (:data:`TABLES`, :data:`PER_COHORT`) are the contract between
    the pipeline and :mod:`mgtranscript.report`; ``tables/*.tsv`` hold the same tables, written
    by :meth:`write_tables` (:func:`mgtranscript.pipeline.write_result` adds the provenance).
    ``figures`` and ``report`` are paths inside :attr:`out_dir`. ``timings`` are the run's
    wall seconds per step; ``run`` says how the run went (where each cohort's result came from:
    computed, parsed cache or result cache; seconds per cohort and phase), for the provenance.
    """

    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    sample_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    features: dict[str, pd.DataFrame] = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)
    de: dict[str, pd.DataFrame] = field(default_factory=dict)
    de_contrast: dict[str, str] = field(default_factory=dict)
    rankings: dict[str, pd.Series] = field(default_factory=dict)
    gene_sets: dict[str, list[str]] = field(default_factory=dict)
    gsea: pd.DataFrame = field(default_factory=pd.DataFrame)
    ora: pd.DataFrame = field(default_factory=pd.DataFrame)
    coupling: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    design: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    survival: pd.DataFrame = field(default_factory=pd.DataFrame)
    km: dict[str, pd.DataFrame] = field(default_factory=dict)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims_evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    inputs: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    out_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    _figures: list = field(default_factory=list, repr=False)
    _report: Path | None = field(default=None, repr=False)
    _work_dirs: tuple[Path, ...] = field(default=(), repr=False)

    def append(self, name: str, table: pd.DataFrame | list[dict]) -> None:
        """Append rows to one of the tidy tables."""
        new = _append(getattr(self, name), table)
        if new is not None:
            setattr(self, name, new)

    # files of the run, relative to out_dir --------------------------------------------------
    def _inside(self, path) -> Path:
        p = Path(path)
        if self.out_dir is not None and p.is_absolute():
            for root in (Path(self.out_dir), *self._work_dirs):
                try:
                    return p.relative_to(root)
                except ValueError:
                    continue
        return p

    def _outside(self, rel: Path) -> Path:
        return rel if rel.is_absolute() or self.out_dir is None else Path(self.out_dir) / rel

    @property
    def figures(self) -> list[tuple[str, Path, str]]:
        """``(name, path, caption)`` of every figure drawn (paths inside :attr:`out_dir`)."""
        return [(s, self._outside(p), c) for s, p, c in self._figures]

    @figures.setter
    def figures(self, figures) -> None:
        self._figures = [(s, self._inside(p), c) for s, p, c in (figures or [])]

    @property
    def report(self) -> Path | None:
        """The HTML report (inside :attr:`out_dir`), when one was written."""
        return None if self._report is None else self._outside(self._report)

    @report.setter
    def report(self, path) -> None:
        self._report = None if path is None else self._inside(path)

    def writing_in(self, folder: str | Path) -> None:
        """Files written into ``folder`` (the temporary folder a run works in before it is
        swapped into place as :attr:`out_dir`) are recorded relative to it."""
        self._work_dirs = (*self._work_dirs, Path(folder))

    def write_tables(self, out_dir: str | Path) -> list[Path]:
        """Write every table to ``out_dir/tables/`` (:func:`write_tables`, the one writer of tables)."""
        return write_tables(self, out_dir)


def merge(results: list[CohortResult]) -> AnalysisResult:
    """One :class:`AnalysisResult` from the cohorts' results, in their order.

    Each table is the concatenation of the cohorts' row blocks (the same ``pd.concat`` the
    plan used when every cohort appended to one result); per-cohort data are keyed by
    accession. ``cohorts``, ``sample_counts`` and ``inputs`` come from each cohort's status.
    """
    res = AnalysisResult()
    status_rows, count_rows = [], []
    for cr in results:
        status_rows.append(cr.status)
        count_rows += cr.sample_counts
        res.inputs += cr.inputs
        for name in COHORT_TABLES:
            if name in cr.tables:
                res.append(name, cr.tables[name])
        if cr.de is not None:
            res.de[cr.accession] = cr.de
            res.de_contrast[cr.accession] = cr.de_contrast
        if cr.ranking is not None:
            res.rankings[cr.accession] = cr.ranking
        if cr.features is not None:
            res.features[cr.accession] = cr.features
        if cr.km is not None:
            res.km[cr.accession] = cr.km
        res.gene_sets.update(cr.gene_sets)
    res.cohorts = pd.DataFrame(status_rows)
    res.sample_counts = pd.DataFrame(count_rows, columns=["accession", "condition", "n", "analysed"])
    return res


def write_tables(res: AnalysisResult, out_dir: str | Path) -> list[Path]:
    """Write every table of ``res`` to ``out_dir/tables/`` once: :data:`~._result.TABLES` (an
    empty table too, as an empty file), the per-cohort DE and feature tables, and ``inputs.tsv``
    when the result lists its inputs. Tab-separated, no index column (features: the sample
    names first). Returns the files written."""
    tdir = Path(out_dir) / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in TABLES:
        path = tdir / f"{spec.file}.tsv"
        table = getattr(res, spec.name, None)
        (table if isinstance(table, pd.DataFrame) else pd.DataFrame()).to_csv(path, sep="\t", index=False)
        written.append(path)
    for spec in PER_COHORT:
        for acc, df in (getattr(res, spec.name, None) or {}).items():
            path = tdir / f"{spec.file.format(accession=acc)}.tsv"
            if spec.index_label:
                df.to_csv(path, sep="\t", index_label=spec.index_label)
            else:
                df.to_csv(path, sep="\t", index=False)
            written.append(path)
    inputs = list(getattr(res, "inputs", None) or [])
    if inputs:
        path = tdir / f"{INPUTS.file}.tsv"
        pd.DataFrame(inputs).to_csv(path, sep="\t", index=False)
        written.append(path)
    return written

"""The default analysis plan, ``mgtranscript run``, and what it gives back.

:func:`run_analysis` runs the plan over the catalog's cohorts (:data:`DEFAULT_COHORTS`) and
writes tables, figures and the report; :func:`analyse_cohort` runs the per-cohort steps on one
labelled cohort and returns its :class:`CohortResult`; :class:`AnalysisResult` is the merged run
(its tables and columns: :data:`TABLES`, :data:`PER_COHORT`). :func:`check_arguments` checks a
run's arguments once, before any work; :func:`write_tables` / :func:`write_result` write a
result's files; :func:`transactional_output` and :func:`atomic_file` write an output folder or
file completely or not at all.
"""

from ._checks import (
    CLI_NAMES,
    DEFAULT_COHORTS,
    RunArguments,
    check_arguments,
    check_catalog,
    check_cohorts,
    check_input_file,
    check_method,
    check_samples,
    known_cohorts,
)
from ._cohort import ALT_METHODS, ALT_NORMS, KEY_GENES, analyse_cohort
from ._output import (
    MANIFEST,
    atomic_file,
    check_output_file,
    check_output_path,
    read_manifest,
    transactional_output,
    write_manifest,
)
from ._result import INPUTS, PER_COHORT, TABLES, AnalysisResult, CohortResult, TableSpec, merge, write_tables
from ._runner import run_analysis
from ._tasks import find_sample_sheet
from ._write import write_result

__all__ = [
    "run_analysis", "analyse_cohort", "AnalysisResult", "CohortResult", "merge", "TABLES", "PER_COHORT", "INPUTS",
    "TableSpec",
    "DEFAULT_COHORTS", "KEY_GENES", "ALT_METHODS", "ALT_NORMS", "find_sample_sheet", "check_arguments",
    "RunArguments", "CLI_NAMES", "write_tables", "write_result",
    # checks and outputs shared with the other commands
    "check_method", "check_cohorts", "check_samples", "check_input_file", "check_catalog", "known_cohorts",
    "transactional_output", "atomic_file", "check_output_path", "check_output_file", "read_manifest",
    "write_manifest", "MANIFEST",
]

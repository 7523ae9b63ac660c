"""Cohorts side by side: the cohorts of a run are independent, so each is a task
(:func:`~._tasks.run_task`) run in the calling process, in worker processes on this machine,
or on a ``dask.distributed`` cluster.

* With a ``dask.distributed`` client (``client=``, or the active one: ``distributed.get_client()``
  succeeds), every cohort is submitted to the cluster, so many cohorts scale past one machine.
* Else with ``jobs > 1`` (default: the cores this process may use) and more than one cohort,
  cohorts run in that many forked worker processes, largest first.
* Else one after another.

Each task returns its cohort's :class:`~._result.CohortResult`; the results come back in the
order of the tasks whatever the order they finish in, so every mode gives the same tables.
``on_result(cohort_result)`` is called in this process as each cohort finishes (the run starts
drawing that cohort's own figures while the others are analysed).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from ._result import CohortResult
from ._tasks import CohortTask, run_task

logger = logging.getLogger(__name__)

__all__ = ["usable_cores", "active_client", "run_tasks"]


def usable_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def active_client(client: Any = None) -> Any:
    """``client``, or the ``dask.distributed`` client active in this process, or None.

    ``distributed`` is only asked when it is already imported (a user who started a client has
    imported it); it is an optional dependency.
    """
    if client is not None:
        return client
    dist = sys.modules.get("distributed")
    if dist is None:
        return None
    try:
        return dist.get_client()
    except (ValueError, RuntimeError):  # no client in this process
        return None


def _bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="cohorts", disable=not progress, leave=True)


def run_tasks(tasks: list[CohortTask], *, jobs: int | None = None, client: Any = None,
              progress: bool = False,
              on_result: Callable[[CohortResult], None] | None = None) -> list[CohortResult]:
    """Run the cohorts' tasks (see the module docstring); results in the order of ``tasks``."""
    if not tasks:
        return []
    done = on_result or (lambda _cr: None)
    client = active_client(client)
    if client is not None:
        return _on_cluster(tasks, client, progress, done)
    jobs = usable_cores() if jobs is None else int(jobs)
    if jobs > 1 and len(tasks) > 1:
        got = _in_processes(tasks, min(jobs, len(tasks)), progress, done)
        if got is not None:
            return got
    out = []
    with _bar(len(tasks), progress) as bar:
        for t in tasks:
            bar.set_postfix_str(t.accession, refresh=False)
            out.append(run_task(t))
            done(out[-1])
            bar.update()
    return out


def _in_processes(tasks: list[CohortTask], jobs: int, progress: bool,
                  done: Callable[[CohortResult], None]) -> list[CohortResult] | None:
    """Forked worker processes (None where the platform cannot fork: the caller runs serially)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if "fork" not in mp.get_all_start_methods():
        return None
    # largest cohorts first, so that the last one to finish is a small one
    order = sorted(range(len(tasks)), key=lambda i: -int(tasks[i].entry.get("n_samples") or 0))
    results: list[CohortResult | None] = [None] * len(tasks)
    logger.info("analysing %d cohorts in %d processes", len(tasks), jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool, \
            _bar(len(tasks), progress) as bar:
        futures = {pool.submit(run_task, tasks[i]): i for i in order}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            done(results[futures[fut]])
            bar.set_postfix_str(tasks[futures[fut]].accession, refresh=False)
            bar.update()
    return results


def _on_cluster(tasks: list[CohortTask], client: Any, progress: bool,
                done: Callable[[CohortResult], None]) -> list[CohortResult]:
    """One ``dask.distributed`` task per cohort."""
    from distributed import as_completed

    logger.info("analysing %d cohorts on the dask cluster %s", len(tasks), getattr(client, "dashboard_link", ""))
    futures = client.map(run_task, tasks, pure=False, key=[f"mgtranscript-cohort-{t.accession}-{id(t)}"
                                                           for t in tasks])
    with _bar(len(tasks), progress) as bar:
        for fut in as_completed(futures):
            done(fut.result())  # raises here if a task failed
            bar.update()
    return client.gather(futures)

"""Chain jobs: their names, starting them with RUN_CHAIN, finding earlier attempts, stopping them.

**Names.** A chain job is named ``OTASK_CH_<16 hex>_<try>``: the hex digits are a SHA-256 of the
Airflow task instance's identity (dag_id, run_id, task_id, map_index), the suffix is the Airflow
try number. So every try has its own job - its run details never mix with another try's - and
yet the names of all earlier tries are known exactly. Before starting, the operator looks those
names up (an exact ``IN`` list, never a ``LIKE`` pattern that could match another run); if an
earlier try's job still exists, for example because the worker died while the chain kept
running, the operator waits for that job instead of starting a second run; if an earlier try's job
already ran to SUCCEEDED (the worker died before Airflow recorded the success), the operator
reports that run instead of running the chain again.

**Stopping.** ``STOP_JOB`` ends the chain job and its running steps. ``force`` (needs ``MANAGE
SCHEDULER``) only when asked. Stopping a job that has already ended is not an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from airflow_provider_oracle_tasks.chains.resume import ResumePlan, run_chain_from
from airflow_provider_oracle_tasks.db.transient import error_codes

JOB_PREFIX = "OTASK_CH_"
NOT_RUNNING_CODES = frozenset({"ORA-27366", "ORA-27475", "ORA-27476"})
"""STOP_JOB of a job that is not running (27366), unknown (27475) or gone (27476): already stopped."""

LIVE_JOBS_SQL = """\
select s.job_name, s.state
  from user_scheduler_jobs s
 where s.job_name in (select n.name
                        from json_table(:names, '$[*]' columns (name varchar2(128) path '$')) n)"""


SUCCEEDED_RUNS_SQL = """\
select distinct d.job_name
  from user_scheduler_job_run_details d
 where d.job_subname is null
   and d.status = 'SUCCEEDED'
   and d.job_name in (select n.name
                        from json_table(:names, '$[*]' columns (name varchar2(128) path '$')) n)"""
"""Chain jobs of earlier tries that already ended SUCCEEDED (the job itself is dropped by then)."""


def run_key_hash(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    identity = "\x1f".join((dag_id, run_id, task_id, str(map_index)))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16].upper()


def job_name_for(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """``OTASK_CH_<hash of the task instance>_<try>``; see the module docstring."""
    if try_number < 1:
        raise ValueError(f"try_number must be >= 1, got {try_number}")
    return f"{JOB_PREFIX}{run_key_hash(dag_id, run_id, task_id, map_index)}_{try_number}"


def job_names_up_to(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> list[str]:
    """The job names of tries 1..try_number, oldest first."""
    return [job_name_for(dag_id, run_id, task_id, map_index, n) for n in range(1, max(try_number, 1) + 1)]


def live_jobs(connection: Any, names: Iterable[str]) -> dict[str, str]:
    """``{job name: state}`` for those of ``names`` that exist in USER_SCHEDULER_JOBS."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(LIVE_JOBS_SQL, {"names": json.dumps(wanted)})
        return {str(name): str(state) for name, state in cursor.fetchall()}


def succeeded_jobs(connection: Any, names: Iterable[str]) -> set[str]:
    """Those of ``names`` whose chain job ran to SUCCEEDED (USER_SCHEDULER_JOB_RUN_DETAILS)."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(SUCCEEDED_RUNS_SQL, {"names": json.dumps(wanted)})
        return {str(name) for (name,) in cursor.fetchall()}


def run_chain(connection: Any, chain: str, job_name: str, plan: ResumePlan | None = None) -> None:
    """``DBMS_SCHEDULER.RUN_CHAIN``: creates job ``job_name`` that runs ``chain`` now (commits).

    From the beginning: the ``start_steps`` overload with ``start_steps => NULL`` (the argument has
    no default in either overload, so it is always passed; python-oracledb binds None as a
    VARCHAR2 NULL, and the name ``start_steps`` exists only in the VARCHAR2 overload). Resumed
    at given steps: the ``step_state_list`` overload (:mod:`chains.resume`).
    """
    if plan is not None and plan.done:
        run_chain_from(connection, chain, job_name, plan)
        return
    params: dict[str, Any] = {"chain_name": chain, "start_steps": None, "job_name": job_name}
    with connection.cursor() as cursor:
        cursor.callproc("dbms_scheduler.run_chain", keyword_parameters=params)


def _stop_params(job_name: str, force: bool) -> dict[str, Any]:
    return {"job_name": job_name, "force": bool(force)}


def _already_stopped(error: BaseException) -> bool:
    return bool(NOT_RUNNING_CODES.intersection(error_codes(error)))


def stop_job(connection: Any, job_name: str, *, force: bool = False) -> bool:
    """Stop the chain job; returns False if it was not running any more (nothing to stop)."""
    try:
        with connection.cursor() as cursor:
            cursor.callproc("dbms_scheduler.stop_job", keyword_parameters=_stop_params(job_name, force))
    except Exception as error:
        if _already_stopped(error):
            return False
        raise
    return True


async def stop_job_async(connection: Any, job_name: str, *, force: bool = False) -> bool:
    """Async twin of :func:`stop_job` for a trigger's ``on_kill``."""
    try:
        with connection.cursor() as cursor:
            await cursor.callproc("dbms_scheduler.stop_job", keyword_parameters=_stop_params(job_name, force))
    except Exception as error:
        if _already_stopped(error):
            return False
        raise
    return True

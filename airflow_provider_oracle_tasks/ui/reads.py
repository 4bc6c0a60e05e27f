"""What the pages show, read from the engine's views and the Scheduler's dictionary: binds only.

The batch page's numbers come from :func:`~airflow_provider_oracle_tasks.engine.status.fetch_statuses`
(the read the triggers and the CLI use, watchdog included); this module adds what only a person
watching needs, each one bounded statement on one instance:

* :data:`INSTANCE_SQL` - whose instance it is (``dag_id`` / ``run_key``: the access check) and the
  columns of ``OTASK_INSTANCES_V`` the status has not (paused, current group, stop mode);
* :data:`RUNNING_SQL`, :data:`ERRORS_SQL`, :data:`WORKERS_SQL` - running tasks, latest errors
  with their backtrace, the worker jobs;
* :data:`TIMELINE_SQL` - the newest :data:`MAX_TIMELINE_TASKS` started tasks for the Gantt chart.

Every column read here is one of ``sql/engine/views/*.sql``. The chain page reads the chain's
steps (:func:`~airflow_provider_oracle_tasks.chains.sync.read_chain`), its rules with their
condition and action (:data:`RULES_SQL`) and the job's state
(:func:`~airflow_provider_oracle_tasks.chains.status.read_jobs`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.chains import sync
from airflow_provider_oracle_tasks.chains.conditions import (
    ChainSpecError,
    End,
    Literal,
    Start,
    parse_action,
    parse_condition,
)
from airflow_provider_oracle_tasks.chains.status import ChainRun, ChainTracker, JobQuery, read_jobs
from airflow_provider_oracle_tasks.engine import status

MAX_RUNNING = 50
MAX_ERRORS = 20
MAX_WORKERS = 200
MAX_TIMELINE_TASKS = 5000
"""The Gantt chart shows at most this many tasks (the newest started): one bounded read per poll."""
MAX_TASKSPACE_INSTANCES = 50

INSTANCE_SQL = """\
select i.instance_id, i.dag_id, i.run_key, i.run_id, i.airflow_task_id, i.paused, i.current_group,
       i.stop_mode, i.stop_on_error, i.starting_workers, i.total_tasks
  from otask_instances_v i
 where i.instance_id = :instance_id"""

RUNNING_SQL = """\
select t.task_id, t.name, t.group_no, t.worker_job, sys_extract_utc(t.started_at) as started_at,
       t.attempts, t.max_attempts, t.elapsed_seconds
  from otask_tasks_v t
 where t.instance_id = :instance_id
   and t.state = 'RUNNING'
 order by t.started_at, t.task_id
 fetch first 50 rows only"""

# Latest errors first: failed tasks, and tasks whose last attempt failed that wait for a retry
# (READY/RUNNING again) or were hard-stopped. SKIPPED tasks are left out: their reason repeats.
ERRORS_SQL = """\
select t.task_id, t.name, t.state, t.group_no, t.attempts, t.max_attempts, t.error_code,
       substr(t.error_message, 1, 2000) as error_message,
       substr(t.error_backtrace, 1, 2000) as error_backtrace,
       sys_extract_utc(t.ended_at) as ended_at
  from otask_tasks_v t
 where t.instance_id = :instance_id
   and t.state in ('FAILED', 'READY', 'RUNNING', 'STOPPED')
   and t.error_code is not null
 order by t.ended_at desc nulls last, t.task_id desc
 fetch first 20 rows only"""

WORKERS_SQL = """\
select w.job_name, w.state, sys_extract_utc(w.started_at) as started_at,
       sys_extract_utc(w.ended_at) as ended_at, w.running_task_id, w.exit_reason
  from otask_workers_v w
 where w.instance_id = :instance_id
 order by w.created_at, w.job_name
 fetch first 200 rows only"""

TIMELINE_SQL = """\
select t.task_id, t.name, t.group_no, t.state, t.attempts, t.max_attempts, t.worker_job,
       sys_extract_utc(t.started_at) as started_at, sys_extract_utc(t.ended_at) as ended_at,
       t.error_code
  from otask_tasks_v t
 where t.instance_id = :instance_id
   and t.started_at is not null
 order by t.started_at desc, t.task_id desc
 fetch first :max_rows rows only"""

_OWNED = """(i.dag_id = :dag_id
        or (i.dag_id is null and substr(i.run_key, 1, :prefix_length) = :run_key_prefix))"""

DAG_INSTANCES_SQL = f"""\
select i.instance_id
  from otask_instances_v i
 where {_OWNED}
 order by i.created_at desc, i.instance_id desc
 fetch first :max_rows rows only"""

TASKSPACE_SQL = f"""\
select i.instance_id
  from otask_instances_v i
 where i.taskspace = :taskspace
   and {_OWNED}
 order by i.created_at desc, i.instance_id desc
 fetch first :max_rows rows only"""

RULES_SQL = """\
select r.rule_name, r.condition, r.action
  from user_scheduler_chain_rules r
 where r.chain_name = :chain
 order by r.rule_name"""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def ora_code(error_code: int | None) -> str | None:
    """``ORA-01476`` from a recorded SQLCODE (-1476); 100 is ORA-01403; 0 and 1 have none."""
    if error_code is None or error_code in (0, 1):
        return None
    number = 1403 if error_code == 100 else abs(error_code)
    return f"ORA-{number:05d}"


@dataclass(frozen=True)
class InstanceIdentity:
    """Whose instance it is, and what the status read does not carry."""

    instance_id: int
    dag_id: str | None
    run_key: str | None
    run_id: str | None
    airflow_task_id: str | None
    paused: bool
    current_group: int | None
    stop_mode: str | None
    stop_on_error: bool
    starting_workers: int
    total_tasks: int

    def belongs_to(self, dag_id: str) -> bool:
        """The instance was made by ``dag_id``: its DAG_ID column, or else its run key ``dag_id/...``."""
        if self.dag_id is not None:
            return self.dag_id == dag_id
        return self.run_key is not None and self.run_key.startswith(f"{dag_id}/")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_key": self.run_key,
            "run_id": self.run_id,
            "airflow_task_id": self.airflow_task_id,
            "paused": self.paused,
            "current_group": self.current_group,
            "stop_mode": self.stop_mode,
            "stop_on_error": self.stop_on_error,
            "starting_workers": self.starting_workers,
            "total_tasks": self.total_tasks,
        }


def read_identity(connection: Any, instance_id: int) -> InstanceIdentity | None:
    """The instance's owner and extra columns, or None when there is no such instance."""
    ident = validation.instance_id(instance_id, "instance_id")
    with connection.cursor() as cursor:
        cursor.execute(INSTANCE_SQL, {"instance_id": ident})
        row = cursor.fetchone()
    if row is None:
        return None
    iid, dag_id, run_key, run_id, task_id, paused, group, stop_mode, soe, starting, total = row
    return InstanceIdentity(
        instance_id=int(iid),
        dag_id=dag_id,
        run_key=run_key,
        run_id=run_id,
        airflow_task_id=task_id,
        paused=paused == "Y",
        current_group=_int(group),
        stop_mode=stop_mode,
        stop_on_error=soe != "N",
        starting_workers=int(starting or 0),
        total_tasks=int(total or 0),
    )


def _rows(connection: Any, sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, binds)
        return list(cursor.fetchall())


def running_tasks(connection: Any, instance_id: int) -> list[dict[str, Any]]:
    rows = _rows(connection, RUNNING_SQL, {"instance_id": instance_id})
    return [
        {
            "task_id": int(task_id),
            "name": name,
            "group": _int(group),
            "worker": worker,
            "started_at": _iso(started),
            "attempts": int(attempts or 0),
            "max_attempts": int(max_attempts or 1),
            "elapsed_seconds": float(elapsed or 0),
        }
        for task_id, name, group, worker, started, attempts, max_attempts, elapsed in rows
    ]


def recent_errors(connection: Any, instance_id: int) -> list[dict[str, Any]]:
    rows = _rows(connection, ERRORS_SQL, {"instance_id": instance_id})
    return [
        {
            "task_id": int(task_id),
            "name": name,
            "state": state,
            "group": _int(group),
            "attempts": int(attempts or 0),
            "max_attempts": int(max_attempts or 1),
            "error_code": _int(code),
            "ora_code": ora_code(_int(code)),
            "message": message,
            "backtrace": backtrace,
            "ended_at": _iso(ended),
        }
        for task_id, name, state, group, attempts, max_attempts, code, message, backtrace, ended in rows
    ]


def workers(connection: Any, instance_id: int) -> list[dict[str, Any]]:
    rows = _rows(connection, WORKERS_SQL, {"instance_id": instance_id})
    return [
        {
            "job_name": job,
            "state": state,
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "running_task_id": _int(task_id),
            "exit_reason": reason,
        }
        for job, state, started, ended, task_id, reason in rows
    ]


def timeline(connection: Any, instance_id: int, limit: int = MAX_TIMELINE_TASKS) -> dict[str, Any]:
    """The newest ``limit`` started tasks, oldest first, and whether older ones were left out."""
    max_rows = validation.integer(limit, "limit", low=1, high=MAX_TIMELINE_TASKS)
    rows = _rows(connection, TIMELINE_SQL, {"instance_id": instance_id, "max_rows": max_rows})
    tasks = [
        {
            "task_id": int(task_id),
            "name": name,
            "group": _int(group),
            "state": state,
            "attempts": int(attempts or 0),
            "max_attempts": int(max_attempts or 1),
            "worker": worker,
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "error_code": _int(code),
        }
        for task_id, name, group, state, attempts, max_attempts, worker, started, ended, code in rows
    ]
    tasks.reverse()
    return {"tasks": tasks, "limit": max_rows, "truncated": len(tasks) >= max_rows}


def batch_view(connection: Any, instance_id: int, identity: InstanceIdentity) -> dict[str, Any]:
    """Everything the batch page shows at one poll (status, running, errors, workers)."""
    current = status.fetch_status(connection, instance_id)
    data = current.to_dict()
    data["done"] = current.done
    data["total"] = current.total
    data["finished"] = current.is_finished
    data["eta_seconds"] = current.eta_seconds
    data["instance"] = identity.to_dict()
    if current.state == status.MISSING:
        data.update(running=[], errors=[], workers=[])
        return data
    data["running"] = running_tasks(connection, instance_id)
    data["errors"] = recent_errors(connection, instance_id)
    data["workers"] = workers(connection, instance_id)
    return data


def instances_view(connection: Any, dag_id: str, taskspace: str | None = None) -> list[dict[str, Any]]:
    """The newest instances made by ``dag_id`` (in ``taskspace``, if given), newest first."""
    prefix = f"{dag_id}/"
    binds: dict[str, Any] = {
        "dag_id": dag_id,
        "prefix_length": len(prefix),
        "run_key_prefix": prefix,
        "max_rows": MAX_TASKSPACE_INSTANCES,
    }
    if taskspace is not None:
        binds = {"taskspace": taskspace, **binds}
    rows = _rows(connection, DAG_INSTANCES_SQL if taskspace is None else TASKSPACE_SQL, binds)
    ids = [int(row[0]) for row in rows]
    statuses = status.fetch_statuses(connection, ids)
    result = []
    for instance_id in ids:
        current = statuses[instance_id]
        item = current.to_dict()
        item.update(done=current.done, total=current.total, finished=current.is_finished)
        result.append(item)
    return result


# --- chains --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    rule: str
    kind: str
    """``start``, ``stop`` or ``end``."""
    condition: str
    negated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "rule": self.rule,
            "kind": self.kind,
            "condition": self.condition,
            "negated": self.negated,
        }


_NAME = re.compile(r"[A-Z][A-Z0-9_$#]*")
START_NODE = "(start)"
END_NODE = "(end)"


def rule_edges(rules: Iterable[Sequence[Any]], steps: Iterable[str]) -> list[Edge]:
    """Edges from the steps a rule's condition reads to the steps its action starts, stops or ends.

    A condition that reads no step (``TRUE``) starts from the chain's start; a rule whose text
    the provider's grammar cannot read (a hand-written SQL condition) still gets edges from every
    known step name it mentions.
    """
    known = list(steps)
    edges: list[Edge] = []
    for name, condition_text, action_text in rules:
        condition_text = str(condition_text or "")
        sources: list[tuple[str, bool]]
        try:
            condition = parse_condition(condition_text)
            sources = [] if isinstance(condition, Literal) else list(dict.fromkeys(condition.references()))
        except ChainSpecError:
            names = set(_NAME.findall(condition_text.upper()))
            sources = [(step, False) for step in known if step.upper() in names]
        try:
            action = parse_action(str(action_text or ""))
        except ChainSpecError:
            continue
        if isinstance(action, End):
            kind, targets = "end", [END_NODE]
        else:
            kind = "start" if isinstance(action, Start) else "stop"
            targets = list(action.steps)
        for source, negated in sources or [(START_NODE, False)]:
            for target in targets:
                edges.append(Edge(source, target, str(name), kind, condition_text, negated))
    return edges


def chain_view(connection: Any, job_name: str, chain_name: str | None) -> dict[str, Any]:
    """The job's verdict and steps, and the chain's graph (when the chain still exists)."""
    reading = read_jobs(connection, [JobQuery(job_name)])[job_name]
    chain = reading.chain_name or chain_name
    existing = sync.read_chain(connection, chain) if chain else None
    steps = list(existing.steps) if existing else []
    # One read per poll, no memory between polls: a job that is not there is MISSING at once, and
    # a stall is what Oracle says (CHAIN_STALLED, or a nested chain step STALLED).
    tracker = ChainTracker(job_name, expected_steps=steps, stall_grace=None, missing_grace=0.0)
    run: ChainRun = tracker.update(reading)
    rules = _rows(connection, RULES_SQL, {"chain": chain}) if existing else []
    edges = rule_edges(rules, steps)
    data = run.to_dict()
    data["chain_name"] = chain
    # A stalled job still exists and a DBA may repair it (ALTER_RUNNING_CHAIN): keep watching it.
    data["stalled"] = run.state == "STALLED"
    data["finished"] = run.finished and not data["stalled"]
    data["chain_exists"] = existing is not None
    data["programs"] = dict(existing.steps) if existing else {}
    data["edges"] = [edge.to_dict() for edge in edges]
    for step in data["steps"]:
        step["ora_code"] = ora_code(step["error_code"])
    return data

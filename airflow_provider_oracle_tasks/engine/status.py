"""What an engine instance is doing: one typed, JSON-safe status shared by hook, CLI and triggers.

The read is batched: a trigger poller asks for every waiting instance at once, so N waiting
sensors cost three statements per poll interval, not 3 N. All three take one bind, ``:ids``, a
JSON array of instance ids:

1. :data:`WATCHDOG_SQL` calls ``otask.heal_instances`` once for all ids: the engine's watchdog
   (rule 7: orphaned tasks of dead workers become FAILED or READY, an instance whose last worker
   died is closed, missing workers restart). One set-based query finds the few instances that
   need it and heals only those, each in an autonomous transaction, so the database work of a
   read grows with the suspects, not with the instances read (scale.md S-1). It runs *before*
   the reads on purpose: a query sees the data as of its own start, so a watchdog called inside
   :data:`STATUS_SQL` would fix the instance but report the counts from before the fix.
2. :data:`STATUS_SQL`: one row per existing instance from ``OTASK_INSTANCES_V`` (state, workers,
   times, elapsed, rate and counts by task state, all as the engine computes them for DBAs).
3. :data:`FAILED_TASKS_SQL`: the first :data:`MAX_FAILED_TASKS` failed tasks of each instance.

:func:`parse_statuses` turns the fetched rows into ``{instance_id: InstanceStatus}`` with every
requested id as a key (MISSING when it has no row); it is pure, so the sync path here and the
async path of the triggers share it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.db.binds import first_line, json_bind

TASK_STATES = ("WAITING", "READY", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "STOPPED")
INSTANCE_STATES = ("CREATED", "RUNNING", "STOPPING", "SUCCEEDED", "FAILED", "STOPPED")
MISSING = "MISSING"
"""State of an id with no instance (never created, or purged): a clear failure for a waiter."""
FINISHED_STATES = frozenset({"SUCCEEDED", "FAILED", "STOPPED", MISSING})
DONE_TASK_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "STOPPED")
MAX_FAILED_TASKS = 10
"""Failed tasks fetched per instance (the literal in FAILED_TASKS_SQL); the rest are counted."""
_MESSAGE_CHARS = 500

WATCHDOG_SQL = """\
declare
  -- one set-based call for every id: the engine heals only the instances that need it
begin
  otask.heal_instances(p_instance_ids => :ids);
end;"""

STATUS_COLUMNS = (
    "instance_id",
    "state",
    "taskspace",
    "run_key",
    "target_threads",
    "live_workers",
    "created_at",
    "started_at",
    "ended_at",
    "elapsed_seconds",
    "tasks_per_second",
    "waiting_tasks",
    "ready_tasks",
    "running_tasks",
    "succeeded_tasks",
    "failed_tasks",
    "skipped_tasks",
    "stopped_tasks",
)
"""Column order of STATUS_SQL (times are UTC TIMESTAMPs: sys_extract_utc)."""

# The ids filter the view (an IN list it can push down to OTASK_INSTANCES_PK); ids without a row
# are added as MISSING by parse_statuses, which knows what was asked for.
STATUS_SQL = """\
select i.instance_id,
       i.state,
       i.taskspace,
       i.run_key,
       i.target_threads,
       i.live_workers,
       sys_extract_utc(i.created_at) as created_at,
       sys_extract_utc(i.started_at) as started_at,
       sys_extract_utc(i.ended_at) as ended_at,
       i.elapsed_seconds,
       i.tasks_per_second,
       i.waiting_tasks,
       i.ready_tasks,
       i.running_tasks,
       i.succeeded_tasks,
       i.failed_tasks,
       i.skipped_tasks,
       i.stopped_tasks
  from otask_instances_v i
 where i.instance_id in (select j.id
                           from json_table(:ids, '$[*]' columns (id number path '$')) j)
 order by i.instance_id"""

FAILED_COLUMNS = ("instance_id", "task_id", "name", "state", "error_code", "error_message", "attempts")

FAILED_TASKS_SQL = """\
select f.instance_id, f.task_id, f.name, f.state, f.error_code, f.error_message, f.attempts
  from (select t.instance_id, t.task_id, t.name, t.state, t.error_code,
               substr(t.error_message, 1, 1000) as error_message, t.attempts,
               row_number() over (partition by t.instance_id
                                  order by t.ended_at nulls last, t.task_id) as rn
          from otask_tasks_v t
         where t.instance_id in (select j.id
                                   from json_table(:ids, '$[*]' columns (id number path '$')) j)
           and t.state = 'FAILED') f
 where f.rn <= 10
 order by f.instance_id, f.rn"""

WATCHDOG_JOB_SQL = "select otask.watchdog_job_state from dual"
"""State of the schema watchdog job OTASK_WATCHDOG (SCHEDULED, RUNNING, DISABLED, MISSING)."""

RECENT_INSTANCES_SQL = """\
select i.instance_id
  from otask_instances_v i
 where i.taskspace = :taskspace
 order by i.created_at desc, i.instance_id desc
 fetch first :max_rows rows only"""


@dataclass(frozen=True)
class TaskProblem:
    """One failed task: enough to say what broke without opening OTASK_TASKS_V."""

    task_id: int
    name: str | None
    state: str
    error_code: int | None
    message_first_line: str
    attempts: int

    @property
    def ora_code(self) -> str | None:
        """``ORA-01476`` from the recorded SQLCODE (100 is ORA-01403; 1 is a user exception)."""
        if self.error_code is None or self.error_code in (0, 1):
            return None
        number = 1403 if self.error_code == 100 else abs(self.error_code)
        return f"ORA-{number:05d}"

    def describe(self) -> str:
        """``load_sales (task 17, 3 attempts): ORA-01476: divisor is equal to zero``."""
        label = f"{self.name} (task {self.task_id}" if self.name else f"task {self.task_id} ("
        label += f"{', ' if self.name else ''}{self.attempts} attempt{'s' if self.attempts != 1 else ''})"
        message = self.message_first_line
        code = self.ora_code
        if code and not message.startswith(code):
            message = f"{code}: {message}" if message else code
        return f"{label}: {message or 'no error message recorded'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "name": self.name,
            "state": self.state,
            "error_code": self.error_code,
            "message_first_line": self.message_first_line,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskProblem:
        return cls(
            task_id=int(data["task_id"]),
            name=data["name"],
            state=str(data["state"]),
            error_code=None if data["error_code"] is None else int(data["error_code"]),
            message_first_line=str(data["message_first_line"]),
            attempts=int(data["attempts"]),
        )


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """The state of one instance at one read; ``to_dict`` goes into TriggerEvents and XCom."""

    instance_id: int
    state: str
    counts: Mapping[str, int] = field(hash=False)
    target_threads: int
    live_workers: int
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    elapsed_seconds: float
    tasks_per_second: float
    failed_tasks: tuple[TaskProblem, ...]
    run_key: str | None
    taskspace: str | None

    @classmethod
    def missing(cls, instance_id: int) -> InstanceStatus:
        return cls(
            instance_id=instance_id,
            state=MISSING,
            counts=dict.fromkeys(TASK_STATES, 0),
            target_threads=0,
            live_workers=0,
            created_at=None,
            started_at=None,
            ended_at=None,
            elapsed_seconds=0.0,
            tasks_per_second=0.0,
            failed_tasks=(),
            run_key=None,
            taskspace=None,
        )

    @property
    def is_finished(self) -> bool:
        """No task will run any more (MISSING included: waiting for it would never end)."""
        return self.state in FINISHED_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Tasks in a final state (succeeded, failed, skipped, stopped)."""
        return sum(self.counts[state] for state in DONE_TASK_STATES)

    @property
    def eta_seconds(self) -> float | None:
        """Remaining tasks / current rate; None when finished or nothing has finished yet."""
        remaining = self.counts["WAITING"] + self.counts["READY"] + self.counts["RUNNING"]
        if self.is_finished or self.tasks_per_second <= 0:
            return None
        return remaining / self.tasks_per_second

    def progress_line(self) -> str:
        """``instance 42 RUNNING: 10/40 done, 4 running, 0 failed, 3.1 tasks/s, ETA 9 s``."""
        head = f"instance {self.instance_id} {self.state}"
        if self.state == MISSING:
            return f"{head}: no such instance (never created, or purged)"
        line = (
            f"{head}: {self.done}/{self.total} done, {self.counts['RUNNING']} running, "
            f"{self.counts['FAILED']} failed, {self.tasks_per_second:.1f} tasks/s"
        )
        if self.is_finished:
            return f"{line}, took {format_duration(self.elapsed_seconds)}"
        if self.started_at is None:
            return f"{line}, not started"
        eta = self.eta_seconds
        return f"{line}, ETA {format_duration(eta) if eta is not None else '?'}"

    def failure_message(self, limit: int = 10) -> str:
        """Why the instance did not succeed, readable in an Airflow log: at most ``limit`` tasks."""
        if self.state == MISSING:
            return (
                f"instance {self.instance_id} does not exist: it was never created, or OTASK.PURGE "
                "removed it. Check the id, or the retention of purge."
            )
        failed = self.counts["FAILED"]
        head = (
            f"instance {self.instance_id} {self.state}: {failed} of {self.total} tasks failed, "
            f"{self.counts['SKIPPED']} skipped, {self.counts['STOPPED']} stopped"
        )
        shown = self.failed_tasks[: max(limit, 0)]
        lines = [head + (":" if shown else ".")]
        lines.extend(f"  - {problem.describe()}" for problem in shown)
        more = failed - len(shown)
        if more > 0:
            lines.append(
                f"  ... and {more} more (OTASK_TASKS_V where instance_id = {self.instance_id} "
                "and state = 'FAILED')"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; ``from_dict(to_dict())`` gives an equal object."""
        return {
            "instance_id": self.instance_id,
            "state": self.state,
            "counts": {state: int(self.counts[state]) for state in TASK_STATES},
            "target_threads": self.target_threads,
            "live_workers": self.live_workers,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed_seconds": self.elapsed_seconds,
            "tasks_per_second": self.tasks_per_second,
            "failed_tasks": [problem.to_dict() for problem in self.failed_tasks],
            "run_key": self.run_key,
            "taskspace": self.taskspace,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceStatus:
        counts = data["counts"]
        return cls(
            instance_id=int(data["instance_id"]),
            state=str(data["state"]),
            counts={state: int(counts[state]) for state in TASK_STATES},
            target_threads=int(data["target_threads"]),
            live_workers=int(data["live_workers"]),
            created_at=data["created_at"],
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            elapsed_seconds=float(data["elapsed_seconds"]),
            tasks_per_second=float(data["tasks_per_second"]),
            failed_tasks=tuple(TaskProblem.from_dict(item) for item in data["failed_tasks"]),
            run_key=data["run_key"],
            taskspace=data["taskspace"],
        )


def format_duration(seconds: float) -> str:
    """``9 s``, ``4 min 05 s``, ``2 h 05 min``: short enough for a progress line."""
    total = max(round(seconds), 0)
    if total < 120:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# --- rows -> objects (pure) -------------------------------------------------------------------


def _requested(ids: Iterable[int]) -> tuple[list[int], str]:
    requested = sorted({validation.instance_id(value, "instance_id") for value in ids})
    return requested, json.dumps(requested, separators=(",", ":"))


def ids_json(ids: Iterable[int]) -> str:
    """The ``:ids`` bind: sorted, unique, validated ids as a compact JSON array."""
    return _requested(ids)[1]


def _utc_iso(value: datetime | None) -> str | None:
    """ISO text in UTC; a naive value (sys_extract_utc) is UTC already: no object is rebuilt."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    return value.astimezone(UTC).isoformat()


def parse_failed_rows(rows: Iterable[Sequence[Any]]) -> dict[int, list[TaskProblem]]:
    """FAILED_TASKS_SQL rows grouped by instance, in the order fetched (first failures first)."""
    result: dict[int, list[TaskProblem]] = {}
    for row in rows:
        values = dict(zip(FAILED_COLUMNS, row, strict=True))
        problem = TaskProblem(
            task_id=int(values["task_id"]),
            name=values["name"],
            state=str(values["state"]),
            error_code=None if values["error_code"] is None else int(values["error_code"]),
            message_first_line=first_line(values["error_message"]),
            attempts=int(values["attempts"] or 0),
        )
        result.setdefault(int(values["instance_id"]), []).append(problem)
    return result


def _number(value: Any) -> float:
    return float(value) if value is not None else 0.0


# Column positions of STATUS_SQL, computed once: a row is read by index, not through a dict (the
# poller parses 10 000 rows per read; S-6).
_AT = {name: position for position, name in enumerate(STATUS_COLUMNS)}
_COUNT_AT = tuple((state, _AT[f"{state.lower()}_tasks"]) for state in TASK_STATES)
_NO_PROBLEMS: tuple[TaskProblem, ...] = ()


def _status_from_row(row: Sequence[Any], problems: Sequence[TaskProblem]) -> InstanceStatus:
    if len(row) != len(STATUS_COLUMNS):
        raise ValueError(f"a status row has {len(row)} columns, STATUS_SQL selects {len(STATUS_COLUMNS)}")
    at = _AT
    return InstanceStatus(
        instance_id=int(row[at["instance_id"]]),
        state=str(row[at["state"]]),
        counts={state: int(row[position] or 0) for state, position in _COUNT_AT},
        target_threads=int(row[at["target_threads"]] or 0),
        live_workers=int(row[at["live_workers"]] or 0),
        created_at=_utc_iso(row[at["created_at"]]),
        started_at=_utc_iso(row[at["started_at"]]),
        ended_at=_utc_iso(row[at["ended_at"]]),
        elapsed_seconds=_number(row[at["elapsed_seconds"]]),
        tasks_per_second=_number(row[at["tasks_per_second"]]),
        failed_tasks=tuple(problems),
        run_key=row[at["run_key"]],
        taskspace=row[at["taskspace"]],
    )


def _parse_rows(
    rows: Iterable[Sequence[Any]], problems: Mapping[int, list[TaskProblem]], found: dict[int, InstanceStatus]
) -> None:
    for row in rows:
        current = _status_from_row(row, problems.get(int(row[0]), _NO_PROBLEMS))
        found[current.instance_id] = current


def _with_missing(requested: Iterable[int], found: dict[int, InstanceStatus]) -> dict[int, InstanceStatus]:
    return {
        instance_id: found.get(instance_id) or InstanceStatus.missing(instance_id)
        for instance_id in requested
    }


def parse_statuses(
    requested: Iterable[int], status_rows: Iterable[Sequence[Any]], failed_rows: Iterable[Sequence[Any]]
) -> dict[int, InstanceStatus]:
    """``{id: InstanceStatus}`` for every requested id; an id without a row is MISSING, never dropped."""
    found: dict[int, InstanceStatus] = {}
    _parse_rows(status_rows, parse_failed_rows(failed_rows), found)
    return _with_missing(requested, found)


PARSE_SLICE = 500
"""Rows parsed between two yields to the event loop by :func:`parse_statuses_async`."""


async def parse_statuses_async(
    requested: Sequence[int], status_rows: Sequence[Sequence[Any]], failed_rows: Iterable[Sequence[Any]]
) -> dict[int, InstanceStatus]:
    """:func:`parse_statuses` in slices of :data:`PARSE_SLICE` rows with the loop yielded between
    them, so the triggerer's loop never stalls for a whole read of 10 000 ids (S-6)."""
    problems = parse_failed_rows(failed_rows)
    found: dict[int, InstanceStatus] = {}
    for start in range(0, len(status_rows), PARSE_SLICE):
        if start:
            await asyncio.sleep(0)
        _parse_rows(status_rows[start : start + PARSE_SLICE], problems, found)
    if len(requested) > PARSE_SLICE:
        await asyncio.sleep(0)
    return _with_missing(requested, found)


# --- the reads ------------------------------------------------------------------------------


def fetch_statuses(connection: Any, ids: Iterable[int]) -> dict[int, InstanceStatus]:
    """Status of many instances in three round trips, the engine's watchdog included."""
    requested, text = _requested(ids)
    if not requested:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(WATCHDOG_SQL, {"ids": json_bind(cursor, text)})
        cursor.execute(STATUS_SQL, {"ids": json_bind(cursor, text)})
        status_rows = cursor.fetchall()
        cursor.execute(FAILED_TASKS_SQL, {"ids": json_bind(cursor, text)})
        failed_rows = cursor.fetchall()
    return parse_statuses(requested, status_rows, failed_rows)


async def fetch_statuses_async(connection: Any, ids: Iterable[int]) -> dict[int, InstanceStatus]:
    """:func:`fetch_statuses` for an ``oracledb.AsyncConnection`` (thin mode, triggers)."""
    requested, text = _requested(ids)
    if not requested:
        return {}
    with connection.cursor() as cursor:
        await cursor.execute(WATCHDOG_SQL, {"ids": json_bind(cursor, text)})
        await cursor.execute(STATUS_SQL, {"ids": json_bind(cursor, text)})
        status_rows = await cursor.fetchall()
        await cursor.execute(FAILED_TASKS_SQL, {"ids": json_bind(cursor, text)})
        failed_rows = await cursor.fetchall()
    return await parse_statuses_async(requested, status_rows, failed_rows)


def fetch_status(connection: Any, instance_id: int) -> InstanceStatus:
    """One instance (MISSING when there is none)."""
    instance_id = validation.instance_id(instance_id, "instance_id")
    return fetch_statuses(connection, [instance_id])[instance_id]


def recent_instance_ids(connection: Any, taskspace: str, limit: int = 20) -> list[int]:
    """The newest ``limit`` instances of a taskspace, newest first."""
    name = validation.oracle_identifier(taskspace, "taskspace")
    limit = validation.integer(limit, "limit", low=1, high=1000)
    with connection.cursor() as cursor:
        cursor.execute(RECENT_INSTANCES_SQL, {"taskspace": name, "max_rows": limit})
        return [int(row[0]) for row in cursor.fetchall()]


def fetch_watchdog_job_state(connection: Any) -> str:
    """The schema watchdog job's state: it heals instances nobody watches (docs/engine.md)."""
    with connection.cursor() as cursor:
        cursor.execute(WATCHDOG_JOB_SQL)
        row = cursor.fetchone()
    return str(row[0]) if row and row[0] else "UNKNOWN"


def fetch_taskspace_status(connection: Any, taskspace: str, limit: int = 20) -> list[InstanceStatus]:
    """Status of the newest instances of a taskspace, newest first (empty list when none)."""
    ids = recent_instance_ids(connection, taskspace, limit)
    statuses = fetch_statuses(connection, ids)
    return [statuses[instance_id] for instance_id in ids]

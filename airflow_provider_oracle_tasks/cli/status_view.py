"""What ``oracle-tasks status`` shows: rich tables of one instance or a taskspace, and ``--watch``.

The numbers come from :mod:`~airflow_provider_oracle_tasks.engine.status` (the same batched read the
triggers use); this module adds the two things only a person watching needs, the running tasks
and the latest errors of one instance, and draws everything with rich.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.engine import status
from airflow_provider_oracle_tasks.engine.status import InstanceStatus, TaskProblem, format_duration

T = TypeVar("T")

MAX_RUNNING_SHOWN = 20
MAX_ERRORS_SHOWN = 5

RUNNING_TASKS_SQL = """\
select t.task_id, t.name, t.worker_job, sys_extract_utc(t.started_at) as started_at, t.attempts,
       t.elapsed_seconds
  from otask_tasks_v t
 where t.instance_id = :instance_id
   and t.state = 'RUNNING'
 order by t.started_at, t.task_id
 fetch first 20 rows only"""

# Latest errors first: failed tasks, and tasks whose last attempt failed and that wait for a retry
# (READY/RUNNING again) or were hard-stopped. SKIPPED tasks are left out: their reason repeats.
RECENT_ERRORS_SQL = """\
select t.task_id, t.name, t.state, t.error_code, substr(t.error_message, 1, 1000) as error_message,
       t.attempts
  from otask_tasks_v t
 where t.instance_id = :instance_id
   and t.state in ('FAILED', 'READY', 'RUNNING', 'STOPPED')
   and t.error_code is not null
 order by t.ended_at desc nulls last, t.task_id desc
 fetch first 5 rows only"""

_STATE_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "STOPPED": "yellow",
    "STOPPING": "yellow",
    "SKIPPED": "yellow",
    "RUNNING": "cyan",
    "READY": "blue",
    "WAITING": "dim",
    "CREATED": "dim",
    status.MISSING: "bold red",
}


@dataclass(frozen=True)
class RunningTask:
    task_id: int
    name: str | None
    worker_job: str | None
    started_at: datetime | None
    running_seconds: float
    attempts: int


@dataclass(frozen=True)
class InstanceView:
    """One refresh of ``status ID``: the status plus what a watching DBA wants to see."""

    status: InstanceStatus
    running: tuple[RunningTask, ...] = ()
    errors: tuple[TaskProblem, ...] = ()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_running(rows: Sequence[Sequence[Any]]) -> tuple[RunningTask, ...]:
    return tuple(
        RunningTask(int(task_id), name, worker_job, _utc(started_at), float(elapsed or 0), int(attempts or 0))
        for task_id, name, worker_job, started_at, attempts, elapsed in rows
    )


def parse_errors(rows: Sequence[Sequence[Any]]) -> tuple[TaskProblem, ...]:
    return tuple(
        TaskProblem(
            task_id=int(task_id),
            name=name,
            state=str(state),
            error_code=None if code is None else int(code),
            message_first_line=status.first_line(message),
            attempts=int(attempts or 0),
        )
        for task_id, name, state, code, message, attempts in rows
    )


def fetch_instance_view(connection: Any, instance_id: int) -> InstanceView:
    """Status (watchdog included) plus running tasks and latest errors of one instance."""
    instance_id = validation.instance_id(instance_id, "instance_id")
    current = status.fetch_status(connection, instance_id)
    if current.state == status.MISSING:
        return InstanceView(current)
    with connection.cursor() as cursor:
        cursor.execute(RUNNING_TASKS_SQL, {"instance_id": instance_id})
        running = parse_running(cursor.fetchall())
        cursor.execute(RECENT_ERRORS_SQL, {"instance_id": instance_id})
        errors = parse_errors(cursor.fetchall())
    return InstanceView(current, running, errors)


# --- rendering ---------------------------------------------------------------------------------


def _state(state: str) -> Text:
    return Text(state, style=_STATE_STYLE.get(state, ""))


def _local_time(iso: str | None) -> str:
    """A UTC ISO time as the DBA's local wall clock (date only when not today)."""
    if iso is None:
        return "-"
    moment = datetime.fromisoformat(iso).astimezone()
    if moment.date() == datetime.now().astimezone().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _counts_table(current: InstanceStatus) -> Table:
    table = Table(title="tasks by state", title_justify="left", expand=False)
    for state in (*status.TASK_STATES, "TOTAL"):
        table.add_column(state, justify="right", style=_STATE_STYLE.get(state, "bold"))
    table.add_row(*(str(current.counts[state]) for state in status.TASK_STATES), str(current.total))
    return table


def _summary(current: InstanceStatus) -> Text:
    eta = current.eta_seconds
    parts = [
        f"threads: target {current.target_threads}, live {current.live_workers}",
        f"elapsed {format_duration(current.elapsed_seconds)}",
        f"{current.tasks_per_second:.1f} tasks/s",
    ]
    if not current.is_finished:
        parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA ?")
    return Text("   ".join(parts))


def _running_table(running: Sequence[RunningTask]) -> Table:
    title = (
        f"running tasks (first {MAX_RUNNING_SHOWN})" if len(running) >= MAX_RUNNING_SHOWN else "running tasks"
    )
    table = Table(title=title, title_justify="left")
    for column in ("task", "name", "worker job", "since", "for", "attempt"):
        table.add_column(column, justify="right" if column in ("task", "for", "attempt") else "left")
    for task in running:
        since = _local_time(task.started_at.isoformat()) if task.started_at else "-"
        table.add_row(
            str(task.task_id),
            task.name or "-",
            task.worker_job or "-",
            since,
            format_duration(task.running_seconds),
            str(task.attempts),
        )
    return table


def _errors_table(errors: Sequence[TaskProblem]) -> Table:
    table = Table(title="latest errors", title_justify="left")
    for column in ("task", "name", "state", "attempts", "error"):
        table.add_column(column, justify="right" if column in ("task", "attempts") else "left")
    for problem in errors:
        code = problem.ora_code
        message = problem.message_first_line
        if code and not message.startswith(code):
            message = f"{code}: {message}"
        table.add_row(
            str(problem.task_id), problem.name or "-", _state(problem.state), str(problem.attempts), message
        )
    return table


def _bar(current: InstanceStatus) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=50)
    grid.add_column(no_wrap=True)
    percent = 100 * current.done / current.total if current.total else 100.0
    grid.add_row(ProgressBar(total=max(current.total, 1), completed=current.done), f"{percent:.0f}% done")
    return grid


def render_instance(view: InstanceView) -> RenderableType:
    """Header, progress bar, counts by state, threads/rate/ETA, running tasks, latest errors."""
    current = view.status
    header = Text.assemble(
        ("instance ", "bold"), (str(current.instance_id), "bold"), "  ", _state(current.state)
    )
    if current.state == status.MISSING:
        return Group(header, Text("no such instance: never created, or purged (see OTASK_INSTANCES_V)"))
    details = [f"taskspace {current.taskspace}"]
    if current.run_key:
        details.append(f"run key {current.run_key}")
    details.append(f"created {_local_time(current.created_at)}")
    if current.started_at:
        details.append(f"started {_local_time(current.started_at)}")
    if current.ended_at:
        details.append(f"ended {_local_time(current.ended_at)}")
    parts: list[RenderableType] = [
        header,
        Text("   ".join(details), style="dim"),
        _bar(current),
        Text(current.progress_line()),
        _counts_table(current),
        _summary(current),
    ]
    if view.running:
        parts.append(_running_table(view.running))
    if view.errors:
        parts.append(_errors_table(view.errors))
    elif current.failed_tasks:
        parts.append(_errors_table(current.failed_tasks))
    return Group(*parts)


def render_taskspace(taskspace: str, statuses: Sequence[InstanceStatus]) -> RenderableType:
    """One row per recent instance of a taskspace, newest first."""
    if not statuses:
        return Text(f"taskspace {taskspace.upper()} has no instances")
    table = Table(
        title=f"taskspace {taskspace.upper()}: newest instances (workers = live/target)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for column in ("instance", "state", "done", "run", "fail", "tasks/s", "workers", "elapsed", "ETA"):
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    table.add_column("run key", overflow="fold", min_width=8)
    for current in statuses:
        eta = current.eta_seconds
        table.add_row(
            str(current.instance_id),
            _state(current.state),
            f"{current.done}/{current.total}",
            str(current.counts["RUNNING"]),
            str(current.counts["FAILED"]),
            f"{current.tasks_per_second:.1f}",
            f"{current.live_workers}/{current.target_threads}",
            format_duration(current.elapsed_seconds),
            "-" if current.is_finished else (format_duration(eta) if eta is not None else "?"),
            current.run_key or "-",
        )
    return table


def watch(
    poll: Callable[[], T],
    render: Callable[[T], RenderableType],
    finished: Callable[[T], bool],
    *,
    console: Console,
    interval: float,
    sleep: Callable[[float], object] | None = None,
) -> T:
    """Redraw ``render(poll())`` every ``interval`` seconds until ``finished``; returns the last poll.

    Ctrl-C raises KeyboardInterrupt out of here after the display is closed cleanly; the caller
    decides the exit code. Nothing in the database is changed by watching.
    """
    pause = sleep or time.sleep
    snapshot = poll()
    with Live(
        render(snapshot),
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:
        while not finished(snapshot):
            pause(interval)
            snapshot = poll()
            live.update(render(snapshot), refresh=True)
    return snapshot

"""A fake batch that advances, behind the oracledb fakes, for the UI's API and browser tests.

:class:`FakeBatch` answers the statements of ``ui/reads.py`` and ``engine/status.py`` and the
engine calls ``otask.set_threads`` / ``otask.stop`` / ``otask.retry_failed`` through an
:class:`~tests.unit.engine_fakes.EngineFakeConnection`, so the app runs its real SQL and binds.
Each status read (the watchdog statement) is one tick: running tasks finish, free workers claim
the next ready tasks of the open group. It imitates the engine's rules (groups as barriers,
retries, thread target, soft/hard stop) closely enough to watch; it proves nothing about the
PL/SQL - tests/integration does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_oracle_tasks.ui import reads
from tests.unit.chain_fakes import JobState, status_answers
from tests.unit.engine_fakes import STATUS_PATTERN, EngineFakeConnection, watchdog_pattern

DAG_ID = "nightly_load"
RUN_ID = "scheduled__2025-03-01T00:00:00+00:00"
INSTANCE_ID = 42


def _naive_utc(value: datetime | None) -> datetime | None:
    """As ``sys_extract_utc`` returns a time: naive, in UTC."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


@dataclass
class FakeTask:
    task_id: int
    name: str
    group: int
    retries: int = 0
    fail_attempts: int = 0
    """How many attempts fail (ORA-01476) before one succeeds; > retries means it fails for good."""
    state: str = "WAITING"
    attempts: int = 0
    worker: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    error_backtrace: str | None = None


@dataclass
class FakeWorker:
    job_name: str
    state: str = "ACTIVE"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_reason: str | None = None
    task: FakeTask | None = None


@dataclass
class FakeBatch:
    instance_id: int = INSTANCE_ID
    dag_id: str | None = DAG_ID
    run_key: str | None = f"{DAG_ID}/{RUN_ID}/load_sales/-1"
    taskspace: str = "ETL"
    threads: int = 4
    stop_on_error: bool = False
    tasks: list[FakeTask] = field(default_factory=list)
    workers: list[FakeWorker] = field(default_factory=list)
    state: str = "RUNNING"
    stop_mode: str | None = None
    current_group: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    ended_at: datetime | None = None
    ticks: int = 0
    frozen: bool = False
    """True: status reads do not advance the batch (API tests that want fixed numbers)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def sample(cls, **kwargs: Any) -> FakeBatch:
        """40 tasks in group 1 (task 7 fails once, then succeeds), 20 in group 2 (task 50 fails)."""
        tasks = [
            FakeTask(task_id, f"load_part_{task_id:02d}", 1 if task_id <= 40 else 2)
            for task_id in range(1, 61)
        ]
        tasks[6].retries, tasks[6].fail_attempts = 1, 1
        tasks[49].fail_attempts = 1
        batch = cls(tasks=tasks, **kwargs)
        batch.started_at = batch.created_at
        return batch

    # --- the engine, imitated ------------------------------------------------------------------

    def count(self, state: str) -> int:
        return sum(1 for task in self.tasks if task.state == state)

    @property
    def finished(self) -> bool:
        return self.state in ("SUCCEEDED", "FAILED", "STOPPED")

    def _finish_running(self, now: datetime) -> None:
        for worker in self.workers:
            task = worker.task
            if task is None:
                continue
            task.ended_at = now
            worker.task = None
            if task.attempts <= task.fail_attempts:
                task.error_code = -1476
                task.error_message = "ORA-01476: divisor is equal to zero\nORA-06512: at line 3"
                task.error_backtrace = 'ORA-06512: at "APP.LOAD_PART", line 12\nORA-06512: at line 3'
                task.state = "READY" if task.attempts <= task.retries else "FAILED"
            else:
                task.state = "SUCCEEDED"
        if self.stop_on_error and self.count("FAILED"):
            for task in self.tasks:
                if task.state in ("READY", "WAITING"):
                    task.state = "SKIPPED"

    def _open_group(self) -> None:
        if any(task.state in ("READY", "RUNNING") for task in self.tasks):
            return
        waiting = [task.group for task in self.tasks if task.state == "WAITING"]
        if not waiting or self.threads == 0 or self.state == "STOPPING":
            return
        if self.count("FAILED") and self.current_group is not None:
            # stop_on_error 'N': the current group ran to its end; later groups are skipped.
            for task in self.tasks:
                if task.state == "WAITING":
                    task.state = "SKIPPED"
            return
        self.current_group = min(waiting)
        for task in self.tasks:
            if task.state == "WAITING" and task.group == self.current_group:
                task.state = "READY"

    def _fit_workers(self, now: datetime) -> None:
        live = [worker for worker in self.workers if worker.state == "ACTIVE"]
        for worker in live[self.threads :]:
            worker.state, worker.ended_at, worker.exit_reason = "EXITED", now, "more workers than the target"
        for _ in range(self.threads - len(live)):
            name = f"OTASK_W{self.instance_id}_{len(self.workers) + 1}"
            self.workers.append(FakeWorker(name, started_at=now))

    def _claim(self, now: datetime) -> None:
        ready = [task for task in self.tasks if task.state == "READY"]
        for worker in self.workers:
            if worker.state != "ACTIVE" or worker.task is not None or not ready:
                continue
            task = ready.pop(0)
            task.state, task.worker, task.started_at, task.ended_at = "RUNNING", worker.job_name, now, None
            task.attempts += 1
            worker.task = task

    def _close(self, now: datetime) -> None:
        if any(task.state in ("READY", "RUNNING", "WAITING") for task in self.tasks):
            return
        if self.state == "STOPPING":
            self.state = "STOPPED"
        else:
            self.state = "FAILED" if self.count("FAILED") else "SUCCEEDED"
        self.ended_at = now
        for worker in self.workers:
            if worker.state == "ACTIVE":
                worker.state, worker.ended_at, worker.exit_reason = "EXITED", now, "instance ended"

    def tick(self) -> None:
        """One unit of work: every running task ends, free workers claim the next ready ones."""
        if self.finished or self.frozen:
            return
        now = datetime.now(UTC)
        self.ticks += 1
        self._finish_running(now)
        self._open_group()
        self._fit_workers(now)
        if self.threads > 0 and self.state == "RUNNING":
            self._claim(now)
        self._close(now)

    def set_threads(self, threads: int) -> None:
        self.threads = threads
        self._fit_workers(datetime.now(UTC))

    def stop(self, mode: str) -> None:
        now = datetime.now(UTC)
        self.stop_mode = mode
        for task in self.tasks:
            if task.state in ("READY", "WAITING"):
                task.state = "SKIPPED"
        if mode == "HARD":
            for worker in self.workers:
                if worker.task is not None:
                    worker.task.state, worker.task.ended_at = "STOPPED", now
                    worker.task.error_code = -20151
                    worker.task.error_message = "ORA-20151: stopped by OTASK.STOP(p_mode => 'HARD')"
                    worker.task = None
                if worker.state == "ACTIVE":
                    worker.state, worker.ended_at, worker.exit_reason = "STOPPED", now, "hard stop"
            self.state, self.ended_at = "STOPPED", now
        else:
            self.state = "STOPPING"
            self._close(now)

    def retry_failed(self) -> None:
        for task in self.tasks:
            if task.state in ("FAILED", "SKIPPED", "STOPPED"):
                task.state, task.fail_attempts, task.attempts = "READY", 0, 0
        self.state, self.ended_at, self.stop_mode = "RUNNING", None, None
        self._fit_workers(datetime.now(UTC))

    # --- rows, as the statements return them ---------------------------------------------------

    def _elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return round(((self.ended_at or datetime.now(UTC)) - self.started_at).total_seconds(), 3)

    def identity_rows(self) -> list[tuple[Any, ...]]:
        paused = "Y" if self.state == "RUNNING" and self.threads == 0 else "N"
        starting = 0
        return [
            (
                self.instance_id,
                self.dag_id,
                self.run_key,
                RUN_ID,
                "load_sales",
                paused,
                self.current_group,
                self.stop_mode,
                "Y" if self.stop_on_error else "N",
                starting,
                len(self.tasks),
            )
        ]

    def status_rows(self) -> list[tuple[Any, ...]]:
        elapsed = self._elapsed()
        finished = self.count("SUCCEEDED") + self.count("FAILED")
        rate = round(finished / elapsed, 3) if elapsed else None
        live = sum(1 for worker in self.workers if worker.state in ("STARTING", "ACTIVE"))
        return [
            (
                self.instance_id,
                self.state,
                self.taskspace,
                self.run_key,
                self.threads,
                live,
                _naive_utc(self.created_at),
                _naive_utc(self.started_at),
                _naive_utc(self.ended_at),
                elapsed,
                rate,
                *(
                    self.count(state)
                    for state in ("WAITING", "READY", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "STOPPED")
                ),
            )
        ]

    def failed_rows(self) -> list[tuple[Any, ...]]:
        failed = [task for task in self.tasks if task.state == "FAILED"][:10]
        return [
            (self.instance_id, t.task_id, t.name, t.state, t.error_code, t.error_message, t.attempts)
            for t in failed
        ]

    def _running_elapsed(self, task: FakeTask) -> float:
        assert task.started_at is not None
        return round((datetime.now(UTC) - task.started_at).total_seconds(), 3)

    def running_rows(self) -> list[tuple[Any, ...]]:
        running = [task for task in self.tasks if task.state == "RUNNING"][: reads.MAX_RUNNING]
        return [
            (
                t.task_id,
                t.name,
                t.group,
                t.worker,
                _naive_utc(t.started_at),
                t.attempts,
                t.retries + 1,
                self._running_elapsed(t),
            )
            for t in running
        ]

    def error_rows(self) -> list[tuple[Any, ...]]:
        with_errors = [
            task
            for task in self.tasks
            if task.error_code is not None and task.state in ("FAILED", "READY", "RUNNING", "STOPPED")
        ]
        with_errors.sort(
            key=lambda t: (t.ended_at is None, t.ended_at or datetime.min.replace(tzinfo=UTC), t.task_id),
            reverse=True,
        )
        return [
            (
                t.task_id,
                t.name,
                t.state,
                t.group,
                t.attempts,
                t.retries + 1,
                t.error_code,
                t.error_message,
                t.error_backtrace,
                _naive_utc(t.ended_at),
            )
            for t in with_errors[: reads.MAX_ERRORS]
        ]

    def worker_rows(self) -> list[tuple[Any, ...]]:
        return [
            (
                w.job_name,
                w.state,
                _naive_utc(w.started_at),
                _naive_utc(w.ended_at),
                w.task.task_id if w.task is not None else None,
                w.exit_reason,
            )
            for w in self.workers
        ]

    def timeline_rows(self, max_rows: int) -> list[tuple[Any, ...]]:
        started = [task for task in self.tasks if task.started_at is not None]
        started.sort(key=lambda t: (t.started_at, t.task_id), reverse=True)
        return [
            (
                t.task_id,
                t.name,
                t.group,
                t.state,
                t.attempts,
                t.retries + 1,
                t.worker,
                _naive_utc(t.started_at),
                _naive_utc(t.ended_at),
                t.error_code,
            )
            for t in started[:max_rows]
        ]

    # --- the connection ------------------------------------------------------------------------

    def _mine(self, binds: dict[str, Any]) -> bool:
        return binds.get("instance_id") == self.instance_id

    def _call(self, name: str, binds: dict[str, Any]) -> list[Any]:
        self.calls.append((name, dict(binds)))
        if binds.get("p_instance_id") != self.instance_id:
            from tests.unit.fakes import db_error

            raise db_error(f"ORA-20100: instance {binds.get('p_instance_id')} does not exist")
        if name == "otask.set_threads":
            self.set_threads(int(binds["p_threads"]))
        elif name == "otask.stop":
            self.stop(str(binds["p_mode"]))
        elif name == "otask.retry_failed":
            self.retry_failed()
        return []

    def connection(self) -> EngineFakeConnection:
        def when_mine(rows: Any) -> Any:
            return lambda sql, binds: rows() if self._mine(binds) else []

        def tick(sql: str, binds: dict[str, Any]) -> list[Any]:
            self.tick()
            return []

        connection = (
            EngineFakeConnection()
            .on(re.escape(reads.INSTANCE_SQL), when_mine(self.identity_rows))
            .on(watchdog_pattern(), tick)
            .on(
                STATUS_PATTERN,
                lambda sql, binds: self.status_rows() if self.instance_id in _ids(binds) else [],
            )
            .on(
                r"f\.rn <= 10",
                lambda sql, binds: self.failed_rows() if self.instance_id in _ids(binds) else [],
            )
            .on(re.escape(reads.RUNNING_SQL), when_mine(self.running_rows))
            .on(re.escape(reads.ERRORS_SQL), when_mine(self.error_rows))
            .on(re.escape(reads.WORKERS_SQL), when_mine(self.worker_rows))
            .on(
                re.escape(reads.TIMELINE_SQL),
                lambda sql, binds: self.timeline_rows(int(binds["max_rows"])) if self._mine(binds) else [],
            )
            .on(
                re.escape(reads.DAG_INSTANCES_SQL) + "|" + re.escape(reads.TASKSPACE_SQL),
                lambda sql, binds: [(self.instance_id,)] if binds["dag_id"] == self.dag_id else [],
            )
        )
        for name in ("otask.set_threads", "otask.stop", "otask.retry_failed"):
            connection.on(
                re.escape(f"callproc {name}"), lambda sql, binds, name=name: self._call(name, binds)
            )
        return connection


def _ids(binds: dict[str, Any]) -> list[int]:
    value = binds["ids"]
    return [int(item) for item in json.loads(value.getvalue() if hasattr(value, "getvalue") else value)]


def chain_database(connection: EngineFakeConnection, job: str, state: JobState) -> None:
    """Chain PAYROLL (EXTRACT -> LOAD -> REPORT, END 1 on a failure) whose job reads as ``state``."""
    connection.on(
        r"from user_scheduler_chains c\n where c\.chain_name = :chain", [("TRUE", "oracle-tasks:...")]
    )
    connection.on(
        r"from user_scheduler_chain_steps s",
        [("EXTRACT", "APP", "P_EXTRACT"), ("LOAD", "APP", "P_LOAD"), ("REPORT", "APP", "P_REPORT")],
    )
    connection.on(
        re.escape(reads.RULES_SQL),
        [
            ("R1", "TRUE", "START EXTRACT"),
            ("R2", "EXTRACT SUCCEEDED", "START LOAD"),
            ("R3", "LOAD SUCCEEDED", "START REPORT"),
            ("R4", "EXTRACT FAILED OR LOAD FAILED", "END 1"),
            ("R5", "REPORT COMPLETED", "END"),
        ],
    )
    connection.on(r"from user_scheduler_chain_rules r", [("R1",), ("R2",), ("R3",), ("R4",), ("R5",)])
    connection.on(r"from all_scheduler_running_chains r", [])
    status_answers(connection, job, state)

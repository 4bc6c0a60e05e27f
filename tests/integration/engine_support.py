"""Helpers shared by the engine's integration tests (tests/integration/test_engine_*.py).

They call the public PL/SQL API ``OTASK`` exactly as the provider does (``callfunc``/``callproc``
with keyword parameters) and read the views ``OTASK_INSTANCES_V`` / ``OTASK_TASKS_V``. Nothing
here fakes the database: these tests are the only execution of the engine's PL/SQL.

Each test module defines its own ``engine`` fixture around :func:`open_engine`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SLEEP = "begin dbms_session.sleep({seconds}); end;"
NOOP = "begin null; end;"
# Fails on purpose with a recognisable code (the engine records SQLCODE = -20999).
FAIL = "begin raise_application_error(-20999, 'task failed on purpose'); end;"


def sleep_sql(seconds: float) -> str:
    return SLEEP.format(seconds=seconds)


def unique_name(prefix: str) -> str:
    """A taskspace (or other) name no other test or run uses: PREFIX_<8 hex>."""
    return f"{prefix}_{secrets.token_hex(4).upper()}"


def ora_code(error: BaseException) -> int | None:
    """The ORA- number of a python-oracledb error (e.g. 20100), or None."""
    args = getattr(error, "args", ())
    if args and hasattr(args[0], "code"):
        return int(args[0].code)
    return None


def ora_message(error: BaseException) -> str:
    args = getattr(error, "args", ())
    if args and hasattr(args[0], "message"):
        return str(args[0].message)
    return str(error)


def rows_as_dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0].lower() for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class Engine:
    """Thin wrapper over the OTASK package for one connection (the schema owner)."""

    conn: Any
    instances: list[int] = field(default_factory=list)
    definitions: list[int] = field(default_factory=list)
    taskspaces: list[str] = field(default_factory=list)

    # ---- taskspaces and definitions ---------------------------------------------------
    def taskspace(self, prefix: str = "IT", **settings: Any) -> str:
        name = unique_name(prefix)
        self.taskspaces.append(name)
        if settings:
            self.set_taskspace(name, **settings)
        return name

    def set_taskspace(
        self,
        name: str,
        max_threads: int | None = None,
        job_class: str | None = None,
        default_threads: int = 4,
    ) -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc(
                "otask.set_taskspace",
                keyword_parameters={
                    "p_taskspace": name,
                    "p_max_threads": max_threads,
                    "p_job_class": job_class,
                    "p_default_threads": default_threads,
                },
            )

    def add_definition(self, taskspace: str, name: str, sql: str, **kw: Any) -> int:
        params = {"p_taskspace": taskspace, "p_name": name, "p_sql": sql}
        params.update({f"p_{k}": v for k, v in kw.items()})
        with self.conn.cursor() as cursor:
            definition_id = int(cursor.callfunc("otask.add_definition", int, keyword_parameters=params))
        self.conn.commit()
        self.definitions.append(definition_id)
        return definition_id

    # ---- instances and tasks ----------------------------------------------------------
    def create_instance(self, taskspace: str, commit: bool = False, **kw: Any) -> int:
        params = {"p_taskspace": taskspace}
        params.update({f"p_{k}": v for k, v in kw.items()})
        with self.conn.cursor() as cursor:
            instance_id = int(cursor.callfunc("otask.create_instance", int, keyword_parameters=params))
        if instance_id not in self.instances:
            self.instances.append(instance_id)
        if commit:
            self.conn.commit()
        return instance_id

    def add_task(self, instance_id: int, sql: str, **kw: Any) -> int:
        params: dict[str, Any] = {"p_instance_id": instance_id, "p_sql": sql}
        for key, value in kw.items():
            params[f"p_{key}"] = json.dumps(value) if key == "binds" and value is not None else value
        with self.conn.cursor() as cursor:
            return int(cursor.callfunc("otask.add_task", int, keyword_parameters=params))

    def add_tasks(self, instance_id: int, tasks: list[dict[str, Any]] | str) -> int:
        text = tasks if isinstance(tasks, str) else json.dumps(tasks)
        with self.conn.cursor() as cursor:
            document = cursor.var(self._clob_type())
            document.setvalue(0, text)
            return int(
                cursor.callfunc(
                    "otask.add_tasks",
                    int,
                    keyword_parameters={"p_instance_id": instance_id, "p_tasks": document},
                )
            )

    def start(self, instance_id: int, threads: int | None) -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc(
                "otask.start_jobs", keyword_parameters={"p_instance_id": instance_id, "p_threads": threads}
            )

    def set_threads(self, instance_id: int, threads: int) -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc(
                "otask.set_threads", keyword_parameters={"p_instance_id": instance_id, "p_threads": threads}
            )

    def stop(self, instance_id: int, mode: str = "SOFT") -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc("otask.stop", keyword_parameters={"p_instance_id": instance_id, "p_mode": mode})

    def retry_failed(self, instance_id: int, threads: int | None = None) -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc(
                "otask.retry_failed", keyword_parameters={"p_instance_id": instance_id, "p_threads": threads}
            )

    def state(self, instance_id: int) -> str:
        with self.conn.cursor() as cursor:
            return str(
                cursor.callfunc(
                    "otask.instance_state", str, keyword_parameters={"p_instance_id": instance_id}
                )
            )

    def run(self, taskspace: str, tasks: list[dict[str, Any]], threads: int, **kw: Any) -> int:
        """create_instance + add_tasks + start_jobs (which commits): the provider's sequence."""
        instance_id = self.create_instance(taskspace, **kw)
        if tasks:
            assert self.add_tasks(instance_id, tasks) == len(tasks)
        self.start(instance_id, threads)
        return instance_id

    def wait_closed(self, instance_id: int, timeout: float = 90.0) -> str:
        """Poll instance_state (the engine's watchdog) until the instance is finished."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(instance_id)
            if state in ("SUCCEEDED", "FAILED", "STOPPED"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"instance {instance_id} still {state} after {timeout} s: {self.instance(instance_id)}"
                )
            time.sleep(0.2)

    def wait_view(
        self, instance_id: int, predicate: Callable[[dict[str, Any]], Any], timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll OTASK_INSTANCES_V (which heals nothing) until ``predicate(row)`` holds."""

        def look() -> dict[str, Any] | None:
            row = self.instance(instance_id)
            return row if predicate(row) else None

        return wait_until(look, timeout, what=what)

    def wait_workers_active(self, instance_id: int, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until ``count`` workers are ACTIVE (registered and running), E-26..E-29."""
        wait_until(
            lambda: sum(w["state"] == "ACTIVE" for w in self.workers(instance_id)) >= count,
            timeout,
            what=f"{count} ACTIVE workers of instance {instance_id}",
        )
        return [w["job_name"] for w in self.workers(instance_id) if w["state"] == "ACTIVE"]

    # ---- views ------------------------------------------------------------------------
    def instance(self, instance_id: int) -> dict[str, Any]:
        with self.conn.cursor() as cursor:
            cursor.execute("select * from otask_instances_v where instance_id = :i", i=instance_id)
            rows = rows_as_dicts(cursor)
        assert len(rows) == 1, f"instance {instance_id} not in OTASK_INSTANCES_V"
        return rows[0]

    def tasks(self, instance_id: int) -> list[dict[str, Any]]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select * from otask_tasks_v where instance_id = :i order by task_id", i=instance_id
            )
            rows = rows_as_dicts(cursor)
        for row in rows:
            if row.get("sql_text") is not None and hasattr(row["sql_text"], "read"):
                row["sql_text"] = row["sql_text"].read()
        return rows

    def workers(self, instance_id: int) -> list[dict[str, Any]]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select * from otask_workers_v where instance_id = :i order by job_name", i=instance_id
            )
            return rows_as_dicts(cursor)

    def log(self, instance_id: int) -> list[dict[str, Any]]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select log_id, logged_at, log_level, task_id, job_name, message "
                "from otask_log where instance_id = :i order by log_id",
                i=instance_id,
            )
            return rows_as_dicts(cursor)

    def events(self, instance_id: int) -> list[dict[str, Any]]:
        """Completion events of the instance still in the queue for subscriber OTASK_WATCH."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select q.msg_state, q.expiration, q.user_data.state as state, "
                "       q.user_data.total_tasks as total_tasks, q.user_data.close_count as close_count "
                "  from aq$otask_events_qt q "
                " where q.corr_id = :c and q.consumer_name = 'OTASK_WATCH' and q.queue = 'OTASK_EVENTS'",
                c=str(instance_id),
            )
            return rows_as_dicts(cursor)

    def running_worker_jobs(self, instance_id: int) -> list[str]:
        """Scheduler's own view of this instance's running workers (exact registered names)."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select r.job_name from user_scheduler_running_jobs r "
                "  join otask_workers w on w.job_name = r.job_name "
                " where w.instance_id = :i order by r.job_name",
                i=instance_id,
            )
            return [row[0] for row in cursor.fetchall()]

    # ---- cleanup ----------------------------------------------------------------------
    def cleanup(self) -> None:
        """Stop (hard) and purge every instance this test created, then its definitions and taskspaces."""
        try:
            self.conn.rollback()
        except Exception:  # the connection may be broken by the test itself
            return
        for instance_id in self.instances:
            for call, params in (
                ("otask.stop", {"p_instance_id": instance_id, "p_mode": "HARD"}),
                ("otask.purge_instance", {"p_instance_id": instance_id}),
            ):
                try:
                    with self.conn.cursor() as cursor:
                        cursor.callproc(call, keyword_parameters=params)
                except Exception as error:  # unknown (rolled back) instance: nothing to clean
                    if ora_code(error) != 20100:
                        print(f"cleanup of instance {instance_id}: {call} failed: {error}")
        for definition_id in self.definitions:
            try:
                with self.conn.cursor() as cursor:
                    cursor.callproc(
                        "otask.remove_definition", keyword_parameters={"p_definition_id": definition_id}
                    )
                self.conn.commit()
            except Exception:
                self.conn.rollback()
        for name in self.taskspaces:
            try:
                with self.conn.cursor() as cursor:
                    cursor.callproc("otask.drop_taskspace", keyword_parameters={"p_taskspace": name})
            except Exception as error:  # 20111: never created (the test expected a refusal)
                if ora_code(error) != 20111:
                    print(f"cleanup of taskspace {name}: {error}")

    def _clob_type(self) -> Any:
        import oracledb

        return oracledb.DB_TYPE_CLOB


@contextmanager
def open_engine(engine_conn: Any) -> Iterator[Engine]:
    """An Engine on the owner connection that stops and purges what the test created.

    Each test module wraps it in its own ``engine`` fixture.
    """
    engine_conn.rollback()
    helper = Engine(engine_conn)
    try:
        yield helper
    finally:
        helper.cleanup()


def owner_name(engine_conn: Any) -> str:
    """The schema owner (the connected user), upper case as the dictionary spells it."""
    return str(engine_conn.username).upper()


class Sampler:
    """Samples a query on its own connection every ``interval`` seconds in a background thread.

    Used to prove bounds (never more than N running) while workers run: each sample is
    ``(monotonic time, row)``.
    """

    def __init__(self, connection: Any, sql: str, params: dict[str, Any], interval: float = 0.1) -> None:
        self.connection = connection
        self.sql = sql
        self.params = params
        self.interval = interval
        self.samples: list[tuple[float, tuple[Any, ...]]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                while not self._stop.is_set():
                    # Stamped BEFORE the query (E-33): the row shows the data as of the
                    # query's start, so a sample is never dated after what it saw.
                    at = time.monotonic()
                    cursor.execute(self.sql, self.params)
                    row = cursor.fetchone()
                    self.samples.append((at, tuple(row) if row else ()))
                    self.connection.rollback()
                    self._stop.wait(self.interval)
        except BaseException as error:  # surfaced by check()
            self.error = error

    def check(self) -> None:
        assert self.error is None, f"sampler failed: {self.error!r}"
        assert self.samples, "sampler took no sample"

    def values(self, column: int = 0, since: float = 0.0, until: float = float("inf")) -> list[Any]:
        return [row[column] for at, row in self.samples if since <= at <= until and row]


RUNNING_SQL = (
    "select v.running_tasks, v.live_workers, v.target_threads, "
    "       (select count(*) from user_scheduler_running_jobs r "
    "          join otask_workers w on w.job_name = r.job_name and w.state in ('STARTING', 'ACTIVE') "
    "         where w.instance_id = v.instance_id) as scheduler_running "
    "  from otask_instances_v v where v.instance_id = :i"
)


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


WATCHDOG_JOB = "OTASK_WATCHDOG"


@contextmanager
def watchdog_job_paused(conn: Any) -> Iterator[None]:
    """Disable the schema watchdog job while a test isolates ANOTHER orphan-detection path.

    Waits until a run in progress has ended, and enables the job again afterwards.
    """
    with conn.cursor() as cursor:
        cursor.execute("begin dbms_scheduler.disable(name => :j, force => true); end;", j=WATCHDOG_JOB)

    def idle() -> bool:
        with conn.cursor() as cursor:
            cursor.execute(
                "select count(*) from user_scheduler_running_jobs where job_name = :j", j=WATCHDOG_JOB
            )
            return int(cursor.fetchone()[0]) == 0

    wait_until(idle, 30, what="watchdog job run ended")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute("begin dbms_scheduler.enable(name => :j); end;", j=WATCHDOG_JOB)


def kill_by_stop_job(admin_conn: Any, owner: str, job_name: str) -> None:
    """End a worker as a crash would: a forced STOP_JOB as a DBA (the slave process is killed)."""
    with admin_conn.cursor() as cursor:
        cursor.execute(
            "begin dbms_scheduler.stop_job(job_name => :j, force => true); end;", j=f"{owner}.{job_name}"
        )

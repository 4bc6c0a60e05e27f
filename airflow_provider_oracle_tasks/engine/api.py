"""The engine's PL/SQL API (package ``OTASK``) as Python functions: one per entry point, binds only.

Every function takes a python-oracledb connection and validates its arguments before the first
round trip. The package's transaction contract (``sql/engine/otask.pks``) is kept as is:

* building calls (:func:`create_instance`, :func:`add_task`, :func:`add_tasks`,
  :func:`add_definition`, :func:`enable_definition`, :func:`remove_definition`) leave the
  transaction open: the caller commits, so an instance and its tasks appear together;
* control calls (:func:`start_jobs`, :func:`set_threads`, :func:`stop`, :func:`retry_failed`,
  :func:`purge`, :func:`purge_instance`, :func:`set_taskspace`, :func:`drop_taskspace`) commit
  inside the database;
* :func:`submit_batch` is the building sequence done right: create, add the tasks only if the
  instance is new, one commit.

Errors: ORA-20100..20199 become :mod:`~airflow_provider_oracle_tasks.engine.errors` classes;
any other database error is re-raised unchanged (so retry logic still sees the driver's error)
with a note that names the entry point and the fix from :func:`describe_db_error`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import oracledb

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.db.transient import describe_db_error
from airflow_provider_oracle_tasks.engine.errors import from_db_error

MAX_RUN_KEY = 512  # OTASK_INSTANCES.RUN_KEY varchar2(512)
MAX_AIRFLOW_ID = 250  # OTASK_INSTANCES.DAG_ID / RUN_ID / AIRFLOW_TASK_ID varchar2(250)
MAX_DEFINITION_NAME = 128  # OTASK_TASK_DEFS.NAME varchar2(128)
_PLSQL_VARCHAR_BYTES = 32767  # a str bound to a CLOB parameter above this must be a CLOB

INSTANCE_FOR_RUN_KEY_SQL = "select i.instance_id from otask_instances_v i where i.run_key = :run_key"
TASK_COUNT_SQL = "select count(*) from otask_tasks_v t where t.instance_id = :instance_id"


@dataclass(frozen=True)
class TaskSpec:
    """One ad-hoc task; ``binds`` fill the placeholders ``:name`` of ``sql`` (never pasted in)."""

    sql: str
    name: str | None = None
    group: int | None = None
    priority: int | None = None
    retries: int | None = None
    binds: Mapping[str, Any] | None = field(default=None, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The add_tasks JSON element, without the keys left to the engine's defaults."""
        data = {
            "sql": self.sql,
            "name": self.name,
            "group": self.group,
            "priority": self.priority,
            "retries": self.retries,
            "binds": dict(self.binds) if self.binds is not None else None,
        }
        return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class SubmitResult:
    """What :func:`submit_batch` did: ``created`` is False when the run key found an instance."""

    instance_id: int
    created: bool
    tasks_added: int


def _yn(value: Any, argument: str) -> str:
    return "Y" if validation.flag(value, argument) else "N"


@contextmanager
def _engine_call(what: str) -> Iterator[None]:
    """Map the engine's ORA-201xx to its exception; annotate any other database error."""
    try:
        yield
    except oracledb.Error as error:
        mapped = from_db_error(error)
        if mapped is not None:
            raise mapped from error
        error.add_note(f"oracle-tasks: {what} failed: {describe_db_error(error)}")
        raise


def _clob(cursor: Any, text: str) -> Any:
    """Bind large JSON as a CLOB: a plain str is limited to 32767 bytes for a PL/SQL argument."""
    if len(text.encode("utf-8")) <= _PLSQL_VARCHAR_BYTES:
        return text
    variable = cursor.var(oracledb.DB_TYPE_CLOB)
    variable.setvalue(0, text)
    return variable


def tasks_json(tasks: Sequence[TaskSpec | Mapping[str, Any] | str], argument: str = "tasks") -> str:
    """Validate ad-hoc tasks and encode them as the JSON array ``otask.add_tasks`` reads."""
    items: Any = tasks
    if isinstance(tasks, list | tuple):
        items = [task.to_dict() if isinstance(task, TaskSpec) else task for task in tasks]
    normalized = validation.task_list(items, argument)
    return json.dumps(normalized, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _binds_json(binds: Mapping[str, Any] | None) -> str | None:
    if binds is None:
        return None
    checked = validation.bind_values(binds, "binds")
    return json.dumps(checked, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# --- taskspaces and definitions ----------------------------------------------------------------


def set_taskspace(
    connection: Any,
    taskspace: str,
    *,
    max_threads: int | None = None,
    job_class: str | None = None,
    default_threads: int = 4,
) -> None:
    """Create or change a taskspace: its cap on live workers, job class and default threads. Commits."""
    name = validation.oracle_identifier(taskspace, "taskspace")
    cap = validation.optional_threads(max_threads, "max_threads")
    job_class = validation.job_class(job_class, "job_class")
    default = validation.threads(default_threads, "default_threads")
    with _engine_call(f"otask.set_taskspace({name})"), connection.cursor() as cursor:
        cursor.callproc(
            "otask.set_taskspace",
            keyword_parameters={
                "p_taskspace": name,
                "p_max_threads": cap,
                "p_job_class": job_class,
                "p_default_threads": default,
            },
        )


def drop_taskspace(connection: Any, taskspace: str) -> None:
    """Delete an empty taskspace. Commits."""
    name = validation.oracle_identifier(taskspace, "taskspace")
    with _engine_call(f"otask.drop_taskspace({name})"), connection.cursor() as cursor:
        cursor.callproc("otask.drop_taskspace", keyword_parameters={"p_taskspace": name})


def add_definition(
    connection: Any,
    *,
    taskspace: str,
    name: str,
    sql: str,
    source_query: str | None = None,
    group: int = 1,
    priority: int = 0,
    retries: int | None = None,
    enabled: bool = True,
) -> int:
    """Add a task template (one task per row of ``source_query``); returns its id. Does not commit."""
    space = validation.oracle_identifier(taskspace, "taskspace")
    validation.text(name, "name", max_length=MAX_DEFINITION_NAME, optional=False)
    item = {"sql": sql, "name": name, "group": group, "priority": priority}
    task = validation.task_list([item], "definition")[0]
    if source_query is not None:
        validation.text(source_query, "source_query", max_length=10**9)
    budget = None if retries is None else validation.retries(retries, "retries")
    flag = _yn(enabled, "enabled")
    with _engine_call(f"otask.add_definition({name})"), connection.cursor() as cursor:
        definition_id = cursor.callfunc(
            "otask.add_definition",
            int,
            keyword_parameters={
                "p_taskspace": space,
                "p_name": task["name"],
                "p_sql": _clob(cursor, sql),
                "p_source_query": None if source_query is None else _clob(cursor, source_query),
                "p_group": task["group"],
                "p_priority": task["priority"],
                "p_retries": budget,
                "p_enabled": flag,
            },
        )
    return int(definition_id)


def enable_definition(connection: Any, definition_id: int, enabled: bool = True) -> None:
    """Enable or disable a definition (disabled ones make no tasks). Does not commit."""
    ident = validation.instance_id(definition_id, "definition_id")
    flag = _yn(enabled, "enabled")
    with _engine_call(f"otask.enable_definition({ident})"), connection.cursor() as cursor:
        cursor.callproc(
            "otask.enable_definition", keyword_parameters={"p_definition_id": ident, "p_enabled": flag}
        )


def remove_definition(connection: Any, definition_id: int) -> None:
    """Delete a definition (tasks made from it stay). Does not commit."""
    ident = validation.instance_id(definition_id, "definition_id")
    with _engine_call(f"otask.remove_definition({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.remove_definition", keyword_parameters={"p_definition_id": ident})


# --- instances ---------------------------------------------------------------------------------


def create_instance(
    connection: Any,
    *,
    taskspace: str = "DEFAULT",
    stop_on_error: bool = True,
    retries: int = 0,
    retry_delay_seconds: int = 0,
    run_key: str | None = None,
    from_definitions: bool = False,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
) -> int:
    """Create an instance, or return the one that has ``run_key`` already. Does not commit."""
    binds = _instance_binds(
        taskspace,
        stop_on_error,
        retries,
        retry_delay_seconds,
        run_key,
        from_definitions,
        dag_id,
        run_id,
        task_id,
    )
    return _create_instance(connection, binds)


def _instance_binds(
    taskspace: str,
    stop_on_error: bool,
    retries: int,
    retry_delay_seconds: int,
    run_key: str | None,
    from_definitions: bool,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
) -> dict[str, Any]:
    return {
        "p_taskspace": validation.oracle_identifier(taskspace, "taskspace"),
        "p_stop_on_error": _yn(stop_on_error, "stop_on_error"),
        "p_retries": validation.retries(retries, "retries"),
        "p_retry_delay_seconds": validation.retry_delay_seconds(retry_delay_seconds, "retry_delay_seconds"),
        "p_run_key": validation.text(run_key, "run_key", max_length=MAX_RUN_KEY),
        "p_from_definitions": _yn(from_definitions, "from_definitions"),
        "p_dag_id": validation.text(dag_id, "dag_id", max_length=MAX_AIRFLOW_ID),
        "p_run_id": validation.text(run_id, "run_id", max_length=MAX_AIRFLOW_ID),
        "p_task_id": validation.text(task_id, "task_id", max_length=MAX_AIRFLOW_ID),
    }


def _create_instance(connection: Any, binds: dict[str, Any]) -> int:
    with _engine_call("otask.create_instance"), connection.cursor() as cursor:
        instance_id = cursor.callfunc(
            "otask.create_instance",
            int,
            keyword_parameters={
                "p_taskspace": binds["p_taskspace"],
                "p_stop_on_error": binds["p_stop_on_error"],
                "p_retries": binds["p_retries"],
                "p_retry_delay_seconds": binds["p_retry_delay_seconds"],
                "p_run_key": binds["p_run_key"],
                "p_from_definitions": binds["p_from_definitions"],
                "p_dag_id": binds["p_dag_id"],
                "p_run_id": binds["p_run_id"],
                "p_task_id": binds["p_task_id"],
            },
        )
    return int(instance_id)


def add_task(
    connection: Any,
    instance_id: int,
    sql: str,
    *,
    name: str | None = None,
    group: int = 1,
    priority: int = 0,
    retries: int | None = None,
    binds: Mapping[str, Any] | None = None,
) -> int:
    """Add one ad-hoc task; returns its id. Does not commit (prefer :func:`add_tasks` for many)."""
    ident = validation.instance_id(instance_id, "instance_id")
    item = {"sql": sql, "name": name, "group": group, "priority": priority, "retries": retries}
    task = validation.task_list([item], "task")[0]
    binds_text = _binds_json(binds)
    with _engine_call(f"otask.add_task({ident})"), connection.cursor() as cursor:
        task_id = cursor.callfunc(
            "otask.add_task",
            int,
            keyword_parameters={
                "p_instance_id": ident,
                "p_sql": _clob(cursor, sql),
                "p_name": task.get("name"),
                "p_group": task["group"],
                "p_priority": task["priority"],
                "p_retries": task.get("retries"),
                "p_binds": None if binds_text is None else _clob(cursor, binds_text),
            },
        )
    return int(task_id)


def add_tasks(connection: Any, instance_id: int, tasks: Sequence[TaskSpec | Mapping[str, Any] | str]) -> int:
    """Add many tasks in one call (one JSON CLOB, all or nothing); returns how many. Does not commit."""
    ident = validation.instance_id(instance_id, "instance_id")
    return _add_tasks_json(connection, ident, tasks_json(tasks))


def _add_tasks_json(connection: Any, instance_id: int, payload: str) -> int:
    with _engine_call(f"otask.add_tasks({instance_id})"), connection.cursor() as cursor:
        added = cursor.callfunc(
            "otask.add_tasks",
            int,
            keyword_parameters={"p_instance_id": instance_id, "p_tasks": _clob(cursor, payload)},
        )
    return int(added)


def start_jobs(connection: Any, instance_id: int, threads: int | None = None) -> None:
    """Start the workers (None = the taskspace's default threads); idempotent when running. Commits."""
    ident = validation.instance_id(instance_id, "instance_id")
    count = validation.optional_threads(threads, "threads")
    with _engine_call(f"otask.start_jobs({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.start_jobs", keyword_parameters={"p_instance_id": ident, "p_threads": count})


def set_threads(connection: Any, instance_id: int, threads: int) -> None:
    """Change the target workers at runtime (0 pauses). Commits."""
    ident = validation.instance_id(instance_id, "instance_id")
    count = validation.threads(threads, "threads")
    with _engine_call(f"otask.set_threads({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.set_threads", keyword_parameters={"p_instance_id": ident, "p_threads": count})


def stop(connection: Any, instance_id: int, mode: str = "SOFT") -> None:
    """SOFT: running tasks finish, nothing new starts. HARD: running tasks are stopped now. Commits."""
    ident = validation.instance_id(instance_id, "instance_id")
    stop_mode = validation.stop_mode(mode, "mode")
    with _engine_call(f"otask.stop({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.stop", keyword_parameters={"p_instance_id": ident, "p_mode": stop_mode})


def retry_failed(connection: Any, instance_id: int, threads: int | None = None) -> None:
    """Put failed (and consequently skipped/stopped) tasks back to work and restart workers. Commits."""
    ident = validation.instance_id(instance_id, "instance_id")
    count = validation.optional_threads(threads, "threads")
    with _engine_call(f"otask.retry_failed({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.retry_failed", keyword_parameters={"p_instance_id": ident, "p_threads": count})


def instance_state(connection: Any, instance_id: int) -> str:
    """The instance's state; also runs the engine's watchdog (autonomous, never touches our transaction)."""
    ident = validation.instance_id(instance_id, "instance_id")
    with _engine_call(f"otask.instance_state({ident})"), connection.cursor() as cursor:
        state = cursor.callfunc("otask.instance_state", str, keyword_parameters={"p_instance_id": ident})
    return str(state)


def purge(connection: Any, older_than_days: float) -> int:
    """Delete finished instances older than that many days; returns how many. Commits."""
    age = validation.days(older_than_days, "older_than_days")
    with _engine_call("otask.purge"), connection.cursor() as cursor:
        purged = cursor.callfunc("otask.purge", int, keyword_parameters={"p_older_than": age})
    return int(purged)


def purge_instance(connection: Any, instance_id: int) -> None:
    """Delete one finished (or never started) instance now. Commits."""
    ident = validation.instance_id(instance_id, "instance_id")
    with _engine_call(f"otask.purge_instance({ident})"), connection.cursor() as cursor:
        cursor.callproc("otask.purge_instance", keyword_parameters={"p_instance_id": ident})


# --- the building sequence ---------------------------------------------------------------------


def _scalar(connection: Any, sql: str, binds: dict[str, Any], what: str) -> Any:
    with _engine_call(what), connection.cursor() as cursor:
        cursor.execute(sql, binds)
        row = cursor.fetchone()
    return None if row is None else row[0]


def submit_batch(
    connection: Any,
    *,
    taskspace: str = "DEFAULT",
    tasks: Sequence[TaskSpec | Mapping[str, Any] | str] = (),
    from_definitions: bool = False,
    stop_on_error: bool = True,
    retries: int = 0,
    retry_delay_seconds: int = 0,
    run_key: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
) -> SubmitResult:
    """Create an instance with its tasks in ONE transaction and commit; safe to repeat with a run key.

    An Airflow retry passes the same ``run_key`` and gets the same instance back without adding
    its tasks again: tasks are added only when this call created the instance. Whether it did
    is decided before anything is committed: the run key was not there before
    ``create_instance``, and (for ad-hoc tasks) the instance has no committed tasks of a
    concurrent first attempt. On any error the transaction is rolled back, so nothing is left
    behind. Does not start workers: call :func:`start_jobs` next.
    """
    binds = _instance_binds(
        taskspace,
        stop_on_error,
        retries,
        retry_delay_seconds,
        run_key,
        from_definitions,
        dag_id,
        run_id,
        task_id,
    )
    payload = (
        None if from_definitions and isinstance(tasks, list | tuple) and not tasks else tasks_json(tasks)
    )
    try:
        existed = run_key is not None and (
            _scalar(connection, INSTANCE_FOR_RUN_KEY_SQL, {"run_key": run_key}, "run key lookup") is not None
        )
        instance_id = _create_instance(connection, binds)
        created = not existed
        if created and run_key is not None and not from_definitions:
            count = _scalar(connection, TASK_COUNT_SQL, {"instance_id": instance_id}, "task count")
            created = not count
        added = _add_tasks_json(connection, instance_id, payload) if created and payload else 0
        connection.commit()
    except BaseException:
        _rollback_quietly(connection)
        raise
    return SubmitResult(instance_id=instance_id, created=created, tasks_added=added)


def _rollback_quietly(connection: Any) -> None:
    """Roll back after a failure; a dead session rolls back by itself, so its error is not the news."""
    with suppress(oracledb.Error):
        connection.rollback()

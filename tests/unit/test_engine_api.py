"""engine_api and the hook's engine methods: exact calls, binds, commits, validation, error mapping.

Fake DB only: this proves what Python sends and how it reacts; tests/integration proves the engine.
"""

from __future__ import annotations

import json
from typing import Any

import oracledb
import pytest

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import errors as engine_errors
from airflow_provider_oracle_tasks.engine.api import SubmitResult, TaskSpec
from airflow_provider_oracle_tasks.engine.status import InstanceStatus
from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, OracleTasksError
from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook
from tests.unit.engine_fakes import (
    STATUS_PATTERN,
    EngineFakeConnection,
    TypedVar,
    by_ids,
    patch_connect,
    status_row,
    watchdog_pattern,
)
from tests.unit.fakes import db_error

LOOKUP = r"where i\.run_key = :run_key"
COUNT = r"select count\(\*\) from otask_tasks_v"

INSTANCE_BINDS = {
    "p_taskspace": "ETL",
    "p_stop_on_error": "N",
    "p_retries": 2,
    "p_retry_delay_seconds": 30,
    "p_run_key": "dag/run/task/-1",
    "p_from_definitions": "N",
    "p_dag_id": "dag",
    "p_run_id": "run",
    "p_task_id": "task",
}


def submit(connection: EngineFakeConnection, **overrides: Any) -> SubmitResult:
    arguments: dict[str, Any] = {
        "taskspace": "etl",
        "tasks": ["begin null; end;", {"sql": "update t set x = :v", "name": "upd", "binds": {"v": 1}}],
        "stop_on_error": False,
        "retries": 2,
        "retry_delay_seconds": 30,
        "run_key": "dag/run/task/-1",
        "dag_id": "dag",
        "run_id": "run",
        "task_id": "task",
    }
    arguments.update(overrides)
    return engine_api.submit_batch(connection, **arguments)


# --- submit_batch: one transaction, idempotent on the run key ---------------------------------


def test_new_batch_creates_adds_all_tasks_in_one_call_and_commits_once() -> None:
    connection = (
        EngineFakeConnection()
        .on(LOOKUP, [])
        .on("callfunc otask.create_instance", [(42,)])
        .on(COUNT, [(0,)])
        .on("callfunc otask.add_tasks", [(2,)])
    )
    result = submit(connection)
    assert result == SubmitResult(instance_id=42, created=True, tasks_added=2)
    assert connection.calls() == [
        (engine_api.INSTANCE_FOR_RUN_KEY_SQL, {"run_key": "dag/run/task/-1"}),
        ("callfunc otask.create_instance", INSTANCE_BINDS),
        (engine_api.TASK_COUNT_SQL, {"instance_id": 42}),
        (
            "callfunc otask.add_tasks",
            {
                "p_instance_id": 42,
                "p_tasks": '[{"sql":"begin null; end;"},'
                '{"sql":"update t set x = :v","name":"upd","binds":{"v":1}}]',
            },
        ),
    ]
    assert (connection.commits, connection.rollbacks) == (1, 0)


def test_airflow_retry_gets_the_same_instance_and_adds_nothing() -> None:
    connection = EngineFakeConnection().on(LOOKUP, [(42,)]).on("callfunc otask.create_instance", [(42,)])
    result = submit(connection)
    assert result == SubmitResult(instance_id=42, created=False, tasks_added=0)
    assert [sql for sql, _ in connection.calls()] == [
        engine_api.INSTANCE_FOR_RUN_KEY_SQL,
        "callfunc otask.create_instance",
    ]
    assert connection.commits == 1


def test_concurrent_first_attempt_that_committed_first_is_detected() -> None:
    # Not there at the lookup, but create_instance waited for the other attempt's commit and
    # returned its instance, whose tasks are now visible: adding ours would double them.
    connection = (
        EngineFakeConnection().on(LOOKUP, []).on("callfunc otask.create_instance", [(42,)]).on(COUNT, [(2,)])
    )
    assert submit(connection) == SubmitResult(instance_id=42, created=False, tasks_added=0)
    assert "callfunc otask.add_tasks" not in connection.sql()


def test_without_run_key_every_call_is_a_new_instance() -> None:
    connection = (
        EngineFakeConnection()
        .on("callfunc otask.create_instance", [(5,)])
        .on("callfunc otask.add_tasks", [(1,)])
    )
    result = submit(connection, run_key=None, tasks=["select 1 from dual"])
    assert result == SubmitResult(instance_id=5, created=True, tasks_added=1)
    assert connection.sql() == ["callfunc otask.create_instance", "callfunc otask.add_tasks"]
    assert connection.executed[0].binds["p_run_key"] is None


def test_from_definitions_alone_adds_no_ad_hoc_tasks_and_skips_the_count() -> None:
    connection = EngineFakeConnection().on(LOOKUP, []).on("callfunc otask.create_instance", [(6,)])
    result = submit(connection, tasks=[], from_definitions=True)
    assert result == SubmitResult(instance_id=6, created=True, tasks_added=0)
    assert connection.sql() == [engine_api.INSTANCE_FOR_RUN_KEY_SQL, "callfunc otask.create_instance"]
    assert connection.executed[1].binds["p_from_definitions"] == "Y"
    assert connection.commits == 1


def test_thousands_of_tasks_go_in_one_clob() -> None:
    tasks = [TaskSpec(sql=f"insert into t values ({i})", name=f"t{i}", group=1 + i % 3) for i in range(3000)]
    connection = (
        EngineFakeConnection()
        .on("callfunc otask.create_instance", [(7,)])
        .on("callfunc otask.add_tasks", [(3000,)])
    )
    result = submit(connection, run_key=None, tasks=tasks)
    assert result.tasks_added == 3000
    (add,) = [e for e in connection.executed if e.sql == "callfunc otask.add_tasks"]
    clob = add.binds["p_tasks"]
    assert isinstance(clob, TypedVar)
    assert clob.type is oracledb.DB_TYPE_CLOB
    decoded = json.loads(clob.getvalue())
    assert len(decoded) == 3000
    assert decoded[4] == {"sql": "insert into t values (4)", "name": "t4", "group": 2}


def test_engine_error_while_adding_rolls_back_and_maps_the_code() -> None:
    connection = (
        EngineFakeConnection()
        .on(LOOKUP, [])
        .on("callfunc otask.create_instance", [(42,)])
        .on(COUNT, [(0,)])
        .on(
            "callfunc otask.add_tasks",
            db_error('ORA-20109: OTASK.ADD_TASKS: element 3 has no "sql"\nORA-06512: at "APP.OTASK", line 9'),
        )
    )
    with pytest.raises(engine_errors.InvalidJsonError) as caught:
        submit(connection)
    assert str(caught.value) == 'ORA-20109: OTASK.ADD_TASKS: element 3 has no "sql"'
    assert isinstance(caught.value.__cause__, oracledb.DatabaseError)
    assert (connection.commits, connection.rollbacks) == (0, 1)


def test_a_failing_rollback_does_not_hide_the_original_error() -> None:
    class DeadConnection(EngineFakeConnection):
        def rollback(self) -> None:
            raise db_error("ORA-03113: end-of-file on communication channel")

    connection = DeadConnection().on("callfunc otask.create_instance", db_error("ORA-20103: bad taskspace"))
    with pytest.raises(engine_errors.InvalidIdentifierError):
        submit(connection, run_key=None)


def test_empty_batch_is_refused_before_any_sql() -> None:
    connection = EngineFakeConnection()
    with pytest.raises(ValueError, match=r"tasks is empty: give at least one task"):
        submit(connection, tasks=[])
    assert connection.executed == []


# --- one function per entry point --------------------------------------------------------------


CALLS = [
    (
        lambda c: engine_api.start_jobs(c, 42),
        "callproc otask.start_jobs",
        {"p_instance_id": 42, "p_threads": None},
    ),
    (
        lambda c: engine_api.start_jobs(c, 42, 8),
        "callproc otask.start_jobs",
        {"p_instance_id": 42, "p_threads": 8},
    ),
    (
        lambda c: engine_api.set_threads(c, 42, 0),
        "callproc otask.set_threads",
        {"p_instance_id": 42, "p_threads": 0},
    ),
    (lambda c: engine_api.stop(c, 42), "callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"}),
    (
        lambda c: engine_api.stop(c, 42, " hard "),
        "callproc otask.stop",
        {"p_instance_id": 42, "p_mode": "HARD"},
    ),
    (
        lambda c: engine_api.retry_failed(c, 42, 2),
        "callproc otask.retry_failed",
        {"p_instance_id": 42, "p_threads": 2},
    ),
    (lambda c: engine_api.purge_instance(c, 42), "callproc otask.purge_instance", {"p_instance_id": 42}),
    (lambda c: engine_api.drop_taskspace(c, "etl"), "callproc otask.drop_taskspace", {"p_taskspace": "ETL"}),
    (
        lambda c: engine_api.set_taskspace(
            c, "etl", max_threads=16, job_class="batch_class", default_threads=2
        ),
        "callproc otask.set_taskspace",
        {"p_taskspace": "ETL", "p_max_threads": 16, "p_job_class": "BATCH_CLASS", "p_default_threads": 2},
    ),
    (
        lambda c: engine_api.enable_definition(c, 3, enabled=False),
        "callproc otask.enable_definition",
        {"p_definition_id": 3, "p_enabled": "N"},
    ),
    (
        lambda c: engine_api.remove_definition(c, 3),
        "callproc otask.remove_definition",
        {"p_definition_id": 3},
    ),
]


@pytest.mark.parametrize(("call", "name", "binds"), CALLS)
def test_procedures_bind_exactly_these_names_and_leave_commits_to_the_engine(
    call: Any, name: str, binds: dict[str, Any]
) -> None:
    connection = EngineFakeConnection()
    call(connection)
    assert connection.calls() == [(name, binds)]
    assert connection.commits == 0


def test_functions_return_the_engine_value() -> None:
    connection = (
        EngineFakeConnection()
        .on("callfunc otask.instance_state", [("RUNNING",)])
        .on("callfunc otask.purge", [(12,)])
        .on("callfunc otask.add_task", [(99,)])
        .on("callfunc otask.add_definition", [(4,)])
        .on("callfunc otask.create_instance", [(42,)])
    )
    assert engine_api.instance_state(connection, 42) == "RUNNING"
    assert engine_api.purge(connection, 30) == 12
    assert engine_api.add_task(connection, 42, "select :a from dual", name="one", binds={"a": None}) == 99
    assert (
        engine_api.add_definition(
            connection,
            taskspace="etl",
            name="load",
            sql="begin load(:p1); end;",
            source_query="select id from parts",
        )
        == 4
    )
    assert engine_api.create_instance(connection) == 42
    assert connection.calls() == [
        ("callfunc otask.instance_state", {"p_instance_id": 42}),
        ("callfunc otask.purge", {"p_older_than": 30.0}),
        (
            "callfunc otask.add_task",
            {
                "p_instance_id": 42,
                "p_sql": "select :a from dual",
                "p_name": "one",
                "p_group": 1,
                "p_priority": 0,
                "p_retries": None,
                "p_binds": '{"a":null}',
            },
        ),
        (
            "callfunc otask.add_definition",
            {
                "p_taskspace": "ETL",
                "p_name": "load",
                "p_sql": "begin load(:p1); end;",
                "p_source_query": "select id from parts",
                "p_group": 1,
                "p_priority": 0,
                "p_retries": None,
                "p_enabled": "Y",
            },
        ),
        (
            "callfunc otask.create_instance",
            {
                "p_taskspace": "DEFAULT",
                "p_stop_on_error": "Y",
                "p_retries": 0,
                "p_retry_delay_seconds": 0,
                "p_run_key": None,
                "p_from_definitions": "N",
                "p_dag_id": None,
                "p_run_id": None,
                "p_task_id": None,
            },
        ),
    ]
    assert connection.commits == 0


def test_task_spec_leaves_defaults_to_the_engine() -> None:
    assert TaskSpec("select 1 from dual").to_dict() == {"sql": "select 1 from dual"}
    spec = TaskSpec("x", name="n", group=0, priority=-5, retries=3, binds={"p1": "a"})
    assert spec.to_dict() == {
        "sql": "x",
        "name": "n",
        "group": 0,
        "priority": -5,
        "retries": 3,
        "binds": {"p1": "a"},
    }


# --- error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "cls"), sorted(engine_errors.ERROR_CLASSES.items()))
def test_every_documented_engine_code_has_its_class(
    number: int, cls: type[engine_errors.EngineError]
) -> None:
    connection = EngineFakeConnection().on(
        "callproc otask.start_jobs",
        db_error(
            f'ORA-{number}: OTASK.START_JOBS: what went wrong; the fix\nORA-06512: at "APP.OTASK", line 1'
        ),
    )
    with pytest.raises(cls) as caught:
        engine_api.start_jobs(connection, 42)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, OracleTasksError)
    assert error.code == f"ORA-{number}"
    assert str(error) == f"ORA-{number}: OTASK.START_JOBS: what went wrong; the fix"
    assert "06512" not in str(error)


def test_unlisted_engine_code_is_a_plain_engine_error() -> None:
    connection = EngineFakeConnection().on("callproc otask.stop", db_error("ORA-20150: something new"))
    with pytest.raises(engine_errors.EngineError) as caught:
        engine_api.stop(connection, 1)
    assert type(caught.value) is engine_errors.EngineError
    assert str(caught.value) == "ORA-20150: something new"


def test_engine_privilege_error_is_also_a_missing_privileges_error() -> None:
    assert issubclass(engine_errors.EnginePrivilegeError, MissingPrivilegesError)


@pytest.mark.parametrize(
    "message", ["ORA-20001: install preflight failed", "ORA-00942: table or view does not exist"]
)
def test_other_database_errors_pass_through_with_the_fix_noted(message: str) -> None:
    connection = EngineFakeConnection().on("callproc otask.start_jobs", db_error(message))
    with pytest.raises(oracledb.DatabaseError) as caught:
        engine_api.start_jobs(connection, 42)
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith("oracle-tasks: otask.start_jobs(42) failed: " + message[:9])
    if "00942" in message:
        assert "install the engine" in notes[0]


# --- validation before any call ----------------------------------------------------------------


BAD_CALLS = [
    (lambda c: engine_api.set_threads(c, 42, -1), "threads=-1 must be a whole number from 0 to 1000"),
    (lambda c: engine_api.set_threads(c, 42, 1001), "threads=1001 must be a whole number from 0 to 1000"),
    (lambda c: engine_api.set_threads(c, 42, True), "threads=True must be a whole number"),
    (lambda c: engine_api.set_threads(c, 42, "4"), "threads='4' must be a whole number"),  # type: ignore[arg-type]
    (lambda c: engine_api.start_jobs(c, 42, 2.0), "threads=2.0 must be a whole number"),  # type: ignore[arg-type]
    (lambda c: engine_api.start_jobs(c, 0), "instance_id=0 must be a whole number from 1"),
    (lambda c: engine_api.stop(c, 42, "kill"), "mode='kill' must be 'SOFT'"),
    (lambda c: engine_api.stop(c, 42, None), "mode=None must be 'SOFT'"),  # type: ignore[arg-type]
    (lambda c: engine_api.purge(c, -1), "older_than_days=-1 must be a number of days >= 0"),
    (lambda c: engine_api.purge(c, True), "older_than_days=True must be a number of days"),
    (
        lambda c: engine_api.set_taskspace(c, "etl", job_class="a.b"),
        "job_class='a.b' is not a valid Oracle name",
    ),
    (
        lambda c: engine_api.add_definition(c, taskspace="etl", name="", sql="x"),
        "name='' must be a non-empty",
    ),
    (lambda c: engine_api.add_task(c, 1, "x", binds={":a": 1}), "binds has the bind name ':a'"),
    (lambda c: submit(c, taskspace="etl space"), "taskspace='etl space' is not a valid Oracle name"),
    (lambda c: submit(c, stop_on_error="N"), "stop_on_error='N' must be True or False"),
    (lambda c: submit(c, from_definitions=1), "from_definitions=1 must be True or False"),
    (lambda c: submit(c, retries=101), "retries=101 must be a whole number from 0 to 100"),
    (
        lambda c: submit(c, retry_delay_seconds=-5),
        "retry_delay_seconds=-5 must be a whole number from 0 to 86400",
    ),
    (lambda c: submit(c, run_key="k" * 513), "run_key='kkk"),
    (lambda c: submit(c, dag_id=""), "dag_id='' must be a non-empty string of at most 250"),
    (
        lambda c: submit(c, tasks="select 1 from dual"),
        "tasks must be a list of SQL strings or task dicts, not str",
    ),
    (lambda c: submit(c, tasks=["  "]), r"tasks\[0\].sql is missing or empty"),
    (lambda c: submit(c, tasks=[{"name": "x"}]), r"tasks\[0\].sql is missing or empty"),
    (
        lambda c: submit(c, tasks=["ok", {"sql": "x", "retry": 1, "grp": 2}]),
        r"tasks\[1\] has unknown key\(s\) grp, retry",
    ),
    (lambda c: submit(c, tasks=[42]), r"tasks\[0\]=42 must be a SQL string or a dict"),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "group": -1}]),
        r"tasks\[0\].group=-1 must be a whole number from 0",
    ),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "priority": 1.5}]),
        r"tasks\[0\].priority=1.5 must be a whole number",
    ),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "retries": 101}]),
        r"tasks\[0\].retries=101 must be a whole number",
    ),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "name": "n" * 257}]),
        r"tasks\[0\].name=.* at most 256 bytes",
    ),
    (lambda c: submit(c, tasks=[{"sql": "x", "binds": [1]}]), r"tasks\[0\].binds must be a dict"),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "binds": {"1a": 1}}]),
        r"tasks\[0\].binds has the bind name '1a'",
    ),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "binds": {"d": object()}}]),
        r"tasks\[0\].binds\['d'\]=.* cannot be bound",
    ),
    (
        lambda c: submit(c, tasks=[{"sql": "x", "binds": {"f": float("nan")}}]),
        "NaN and infinity cannot be bound",
    ),
    (lambda c: submit(c, tasks=[{"sql": "x", "binds": {"s": "é" * 2001}}]), "longer than 4000 bytes"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_arguments_name_the_argument_and_touch_nothing(call: Any, message: str) -> None:
    connection = EngineFakeConnection()
    with pytest.raises((ValueError, TypeError), match=message):  # flag() raises TypeError for non-bools
        call(connection)
    assert connection.executed == []
    assert connection.commits == 0


def test_validation_helpers_accept_the_limits() -> None:
    assert validation.threads(0, "t") == 0
    assert validation.threads(1000, "t") == 1000
    assert validation.stop_mode("Hard", "m") == "HARD"
    assert validation.days(0.5, "d") == 0.5
    assert validation.task_list([], "tasks", allow_empty=True) == []
    assert validation.task_list(
        [
            {
                "sql": "x",
                "name": None,
                "group": 0,
                "priority": -3,
                "retries": 0,
                "binds": {"b": True, "n": None},
            }
        ],
        "t",
    ) == [{"sql": "x", "group": 0, "priority": -3, "retries": 0, "binds": {"b": True, "n": None}}]


# --- the hook ----------------------------------------------------------------------------------


def test_hook_methods_delegate_on_a_fresh_connection_and_close_it(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = (
        EngineFakeConnection()
        .on(LOOKUP, [])
        .on("callfunc otask.create_instance", [(42,)])
        .on(COUNT, [(0,)])
        .on("callfunc otask.add_tasks", [(1,)])
        .on("callfunc otask.purge", [(3,)])
        .on(watchdog_pattern(), [])
        .on(STATUS_PATTERN, by_ids({42: [status_row(42)]}))
        .on(r"where i\.taskspace = :taskspace", [(42,)])
    )
    connects = patch_connect(monkeypatch, connection)
    hook = OracleTaskManagerHook()
    assert hook.submit_batch(tasks=["select 1 from dual"], run_key="k") == SubmitResult(42, True, 1)
    hook.start_jobs(42, 4)
    hook.set_threads(42, 2)
    hook.stop(42, "hard")
    hook.retry_failed(42)
    assert hook.purge(30) == 3
    single = hook.instance_status(42)
    assert isinstance(single, InstanceStatus)
    assert single.state == "RUNNING"
    many = hook.instances_status([42, 43])
    assert many[43].state == "MISSING"
    assert [s.instance_id for s in hook.taskspace_status("etl")] == [42]
    assert len(connects) == 9
    assert connection.closed
    procs = [(e.sql, e.binds) for e in connection.executed if e.sql.startswith("callproc")]
    assert procs == [
        ("callproc otask.start_jobs", {"p_instance_id": 42, "p_threads": 4}),
        ("callproc otask.set_threads", {"p_instance_id": 42, "p_threads": 2}),
        ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "HARD"}),
        ("callproc otask.retry_failed", {"p_instance_id": 42, "p_threads": None}),
    ]
    assert connection.commits == 1  # submit_batch's; control calls commit in the database


def test_hook_closes_the_connection_when_the_engine_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = EngineFakeConnection().on(
        "callproc otask.set_threads", db_error("ORA-20102: instance 42 is FAILED")
    )
    patch_connect(monkeypatch, connection)
    with pytest.raises(engine_errors.InvalidStateError, match="ORA-20102: instance 42 is FAILED"):
        OracleTaskManagerHook().set_threads(42, 3)
    assert connection.closed

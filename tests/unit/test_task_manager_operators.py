"""The task-manager operators in real Airflow 3, against a fake at the oracledb boundary.

Each test asserts what reaches the database (entry point, binds, commits) and what the task
returns or raises; the engine itself is only exercised by tests/integration.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferralTimeout,
    TaskDeferred,
)

from airflow_provider_oracle_tasks.engine.errors import InvalidStateError
from airflow_provider_oracle_tasks.engine.status import InstanceStatus, parse_statuses
from airflow_provider_oracle_tasks.operators import task_manager as operators
from airflow_provider_oracle_tasks.operators.task_manager import (
    OracleTaskManagerCreateInstanceOperator,
    OracleTaskManagerRetryOperator,
    OracleTaskManagerRunOperator,
    OracleTaskManagerSetThreadsOperator,
    OracleTaskManagerStartJobsOperator,
    OracleTaskManagerStopOperator,
    run_key,
)
from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger
from tests.unit.driver_errors import driver_exception
from tests.unit.engine_fakes import (
    EngineFakeConnection,
    batch_answers,
    by_ids,
    engine_answers,
    patch_connect,
    sequence,
    status_row,
)
from tests.unit.fakes import FakeVar, db_error

TASKS = [
    "begin null; end;",
    {"sql": "update t partition (p1) set c = :v", "name": "p1", "group": 2, "binds": {"v": "x"}},
]
FAILED_ROW = (42, 17, "load_sales", "FAILED", -1476, "ORA-01476: divisor is equal to zero\nORA-06512: x", 2)


class FakeTI:
    """What the operators read from ``context["ti"]``: identity and XCom."""

    def __init__(self, task_id: str = "run", map_index: int = -1) -> None:
        self.dag_id = "etl_dag"
        self.run_id = "manual__2025-03-01T00:00:00+00:00"
        self.task_id = task_id
        self.map_index = map_index
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-safe
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **kwargs: Any) -> Any:
        return self.xcoms.get(key)


def context(ti: FakeTI | None = None) -> Any:
    return {"ti": ti or FakeTI()}


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the polling path, and retry backoff
    return connection


def status(state: str, counts: dict[str, int], instance_id: int = 42) -> Any:
    return by_ids({instance_id: [status_row(instance_id, state, counts=counts)]})


RUNNING = status("RUNNING", {"READY": 1, "RUNNING": 1})
SUCCEEDED = status("SUCCEEDED", {"SUCCEEDED": 2})
FAILED = status("FAILED", {"SUCCEEDED": 1, "FAILED": 1})


def procs(db: EngineFakeConnection) -> list[tuple[str, dict[str, Any]]]:
    return [(sql, binds) for sql, binds in db.calls() if sql.startswith(("callproc", "callfunc"))]


def finished_status(state: str, failed: list[tuple[Any, ...]] | None = None) -> InstanceStatus:
    counts = {"SUCCEEDED": 1, "FAILED": len(failed or [])}
    return parse_statuses([42], [status_row(42, state, counts=counts)], failed or [])[42]


# --- validation before any database call --------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            lambda: OracleTaskManagerSetThreadsOperator(task_id="t", instance_id=1, threads=-1),
            "threads=-1 must be",
        ),
        (lambda: OracleTaskManagerSetThreadsOperator(task_id="t", instance_id=1, threads=1001), "0 to 1000"),
        (
            lambda: OracleTaskManagerSetThreadsOperator(task_id="t", instance_id=1, threads="10"),
            "threads='10'",
        ),
        (
            lambda: OracleTaskManagerSetThreadsOperator(task_id="t", instance_id=1, threads=True),
            "threads=True",
        ),
        (lambda: OracleTaskManagerStartJobsOperator(task_id="t", instance_id=0), "instance_id=0 must be"),
        (
            lambda: OracleTaskManagerStopOperator(task_id="t", instance_id=1, mode="kill"),
            "mode='kill' must be",
        ),
        (lambda: OracleTaskManagerRetryOperator(task_id="t", instance_id="abc"), "instance_id='abc'"),
        (lambda: OracleTaskManagerCreateInstanceOperator(task_id="t", tasks=[]), "tasks is empty"),
        (lambda: OracleTaskManagerCreateInstanceOperator(task_id="t"), "or set from_definitions=True"),
        (
            lambda: OracleTaskManagerCreateInstanceOperator(task_id="t", tasks=["  "]),
            r"tasks\[0\].sql is missing",
        ),
        (lambda: OracleTaskManagerCreateInstanceOperator(task_id="t", tasks="select 1"), "must be a list"),
        (
            lambda: OracleTaskManagerCreateInstanceOperator(task_id="t", tasks=[{"sql": "x", "retry": 1}]),
            r"tasks\[0\] has unknown key\(s\) retry",
        ),
        (
            lambda: OracleTaskManagerCreateInstanceOperator(task_id="t", tasks=TASKS, taskspace="my space"),
            "taskspace='my space' is not a valid Oracle name",
        ),
        (lambda: OracleTaskManagerRunOperator(task_id="t", tasks=TASKS, threads=2000), "threads=2000"),
        (
            lambda: OracleTaskManagerRunOperator(task_id="t", tasks=TASKS, task_retries=101),
            "task_retries=101",
        ),
        (
            lambda: OracleTaskManagerRunOperator(task_id="t", tasks=TASKS, on_kill_mode="kill"),
            "on_kill_mode=",
        ),
        (lambda: OracleTaskManagerRunOperator(task_id="t", tasks=TASKS, timeout=-1), "timeout=-1"),
        (
            lambda: OracleTaskManagerRunOperator(task_id="t", tasks=TASKS, stop_on_error="N"),  # type: ignore[arg-type]
            "stop_on_error='N'",
        ),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(factory: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        factory()


def test_airflow_retries_and_the_engine_retry_budget_do_not_collide() -> None:
    operator = OracleTaskManagerRunOperator(
        task_id="t", tasks=TASKS, retries=3, task_retries=2, task_retry_delay_seconds=30
    )
    assert (operator.retries, operator.task_retries, operator.task_retry_delay_seconds) == (3, 2, 30)


def test_templated_and_xcom_values_are_checked_at_run_time(db: EngineFakeConnection) -> None:
    with DAG("d", schedule=None):
        create = OracleTaskManagerCreateInstanceOperator(task_id="create", tasks=TASKS)
        throttle = OracleTaskManagerSetThreadsOperator(
            task_id="throttle", instance_id=create.output, threads="{{ params.threads }}"
        )
        bad = OracleTaskManagerSetThreadsOperator(task_id="bad", instance_id="{{ x }}", threads="{{ y }}")
    assert "threads" in throttle.template_fields
    throttle.instance_id, throttle.threads = "42", " 3 "  # as rendered
    assert throttle.execute(context()) == 42
    assert procs(db) == [("callproc otask.set_threads", {"p_instance_id": 42, "p_threads": 3})]
    bad.instance_id, bad.threads = "42", "three"
    with pytest.raises(ValueError, match="threads='three' must be a whole number"):
        bad.execute(context())
    assert len(procs(db)) == 1


def test_run_key_is_the_task_instance_identity_and_stays_within_512_chars() -> None:
    ti = FakeTI(map_index=3)
    assert run_key(context(ti)) == "etl_dag/manual__2025-03-01T00:00:00+00:00/run/3"
    ti.run_id = "r" * 600
    key = run_key(context(ti))
    assert len(key) == 512
    assert key != run_key(context(FakeTI()))
    assert key == run_key(context(ti))


# --- create, start, throttle, stop, retry ---------------------------------------------------------


def test_create_instance_submits_in_one_commit_with_the_run_key_and_pushes_xcoms(
    db: EngineFakeConnection,
) -> None:
    batch_answers(db)
    ti = FakeTI("create")
    operator = OracleTaskManagerCreateInstanceOperator(
        task_id="create", tasks=TASKS, taskspace="etl", stop_on_error=False, task_retries=2
    )
    assert operator.execute(context(ti)) == 42
    (create, add) = procs(db)
    assert create == (
        "callfunc otask.create_instance",
        {
            "p_taskspace": "ETL",
            "p_stop_on_error": "N",
            "p_retries": 2,
            "p_retry_delay_seconds": 0,
            "p_run_key": "etl_dag/manual__2025-03-01T00:00:00+00:00/create/-1",
            "p_from_definitions": "N",
            "p_dag_id": "etl_dag",
            "p_run_id": "manual__2025-03-01T00:00:00+00:00",
            "p_task_id": "create",
        },
    )
    payload = add[1]["p_tasks"]
    assert json.loads(payload.getvalue() if isinstance(payload, FakeVar) else payload) == [
        {"sql": "begin null; end;"},
        {"sql": "update t partition (p1) set c = :v", "name": "p1", "group": 2, "binds": {"v": "x"}},
    ]
    assert db.commits == 1
    assert ti.xcoms == {"instance_id": 42, "created": True, "tasks_added": 2}


def test_create_instance_again_for_the_same_run_key_adds_nothing(db: EngineFakeConnection) -> None:
    batch_answers(db, exists=True)
    ti = FakeTI("create")
    assert OracleTaskManagerCreateInstanceOperator(task_id="create", tasks=TASKS).execute(context(ti)) == 42
    assert [name for name, _ in procs(db)] == ["callfunc otask.create_instance"]
    assert ti.xcoms == {"instance_id": 42, "created": False, "tasks_added": 0}


def test_create_instance_from_definitions_alone(db: EngineFakeConnection) -> None:
    batch_answers(db)
    operator = OracleTaskManagerCreateInstanceOperator(
        task_id="create", from_definitions=True, taskspace="mviews", run_key="nightly-{{ ds }}"
    )
    operator.run_key = "nightly-2025-03-01"
    assert operator.execute(context()) == 42
    ((_, binds),) = procs(db)
    assert (binds["p_from_definitions"], binds["p_taskspace"], binds["p_run_key"]) == (
        "Y",
        "MVIEWS",
        "nightly-2025-03-01",
    )


@pytest.mark.parametrize(
    ("operator", "call"),
    [
        (
            OracleTaskManagerStartJobsOperator(task_id="s", instance_id=42, threads=10),
            ("callproc otask.start_jobs", {"p_instance_id": 42, "p_threads": 10}),
        ),
        (
            OracleTaskManagerStartJobsOperator(task_id="s", instance_id=42),
            ("callproc otask.start_jobs", {"p_instance_id": 42, "p_threads": None}),
        ),
        (
            OracleTaskManagerSetThreadsOperator(task_id="s", instance_id=42, threads=0),
            ("callproc otask.set_threads", {"p_instance_id": 42, "p_threads": 0}),
        ),
        (
            OracleTaskManagerStopOperator(task_id="s", instance_id=42, mode="hard"),
            ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "HARD"}),
        ),
        (
            OracleTaskManagerStopOperator(task_id="s", instance_id=42),
            ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"}),
        ),
        (
            OracleTaskManagerRetryOperator(task_id="s", instance_id=42, threads=4),
            ("callproc otask.retry_failed", {"p_instance_id": 42, "p_threads": 4}),
        ),
    ],
    ids=["start", "start-default", "pause", "hard-stop", "soft-stop", "retry"],
)
def test_control_operators_make_one_call_and_return_the_instance_id(
    db: EngineFakeConnection, operator: Any, call: tuple[str, dict[str, Any]]
) -> None:
    assert operator.execute(context()) == 42
    assert procs(db) == [call]
    assert db.commits == 0  # control calls commit inside the engine


@pytest.mark.parametrize(
    "operator_class", [OracleTaskManagerSetThreadsOperator, OracleTaskManagerStartJobsOperator]
)
def test_throttling_or_starting_a_batch_that_is_over_is_logged_not_failed(
    db: EngineFakeConnection, operator_class: Any
) -> None:
    refusal = db_error("ORA-20102: OTASK: instance 42 is SUCCEEDED")
    db.on(r"callproc otask\.(set_threads|start_jobs)", refusal)
    engine_answers(db, SUCCEEDED)
    assert operator_class(task_id="t", instance_id=42, threads=3).execute(context()) == 42


def test_a_refusal_while_running_is_still_an_error(db: EngineFakeConnection) -> None:
    db.on("callproc otask.set_threads", db_error("ORA-20102: OTASK.SET_THREADS: refused"))
    engine_answers(db, RUNNING)
    with pytest.raises(InvalidStateError):
        OracleTaskManagerSetThreadsOperator(task_id="s", instance_id=42, threads=3).execute(context())


def test_engine_refusal_reaches_the_task_as_its_error_class(db: EngineFakeConnection) -> None:
    from airflow_provider_oracle_tasks.engine.errors import UnknownInstanceError

    db.on("callproc otask.retry_failed", db_error("ORA-20100: OTASK.RETRY_FAILED: no instance 42"))
    with pytest.raises(UnknownInstanceError, match=r"ORA-20100: OTASK\.RETRY_FAILED: no instance 42"):
        OracleTaskManagerRetryOperator(task_id="s", instance_id=42).execute(context())


# --- run: create, start, wait -------------------------------------------------------------------


def run_operator(**kwargs: Any) -> OracleTaskManagerRunOperator:
    arguments: dict[str, Any] = {"task_id": "run", "tasks": TASKS, "threads": 4, "poke_interval": 5}
    arguments.update(kwargs)
    return OracleTaskManagerRunOperator(**arguments)


def test_run_defers_after_one_status_read_with_timeout_and_kill_mode(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), RUNNING)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        run_operator(deferrable=True, timeout=600, on_kill_mode="hard").execute(context(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, OracleTaskManagerInstanceTrigger)
    _, kwargs = trigger.serialize()
    assert (kwargs["instance_id"], kwargs["poll_interval"], kwargs["on_kill_mode"]) == (42, 5.0, "HARD")
    assert abs(kwargs["timeout_at"] - (time.time() + 600)) < 5
    assert deferred.value.timeout == timedelta(seconds=600 + 120)  # the trigger's timeout comes first
    assert deferred.value.method_name == "execute_complete"
    assert [name for name, _ in procs(db)] == [
        "callfunc otask.create_instance",
        "callfunc otask.add_tasks",
        "callproc otask.start_jobs",
    ]
    assert procs(db)[-1][1] == {"p_instance_id": 42, "p_threads": 4}
    assert ti.xcoms == {"instance_id": 42}


def test_run_finished_at_the_first_read_does_not_defer(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), SUCCEEDED)
    summary = run_operator(deferrable=True).execute(context())
    assert summary["state"] == "SUCCEEDED"
    assert summary["counts"]["SUCCEEDED"] == 2


def test_run_without_deferral_polls_and_logs_progress_at_a_sane_rate(
    db: EngineFakeConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    engine_answers(batch_answers(db), sequence(RUNNING, RUNNING, RUNNING, SUCCEEDED))
    summary = run_operator(deferrable=False).execute(context())  # task logs go through structlog
    assert summary["state"] == "SUCCEEDED"
    out = capsys.readouterr().out
    assert out.count("instance 42 RUNNING: 0/2 done, 1 running") == 1  # unchanged: not repeated
    assert out.count("instance 42 SUCCEEDED: 2/2 done") == 1


def test_run_polling_retries_a_transient_error(db: EngineFakeConnection) -> None:
    from oracledb import errors as ora_errors

    lost = driver_exception(ora_errors.ERR_CONNECTION_CLOSED)
    engine_answers(batch_answers(db), sequence(RUNNING, lost, SUCCEEDED))
    assert run_operator(deferrable=False).execute(context())["state"] == "SUCCEEDED"


def test_run_polling_timeout_stops_the_instance_and_fails_without_retry(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), RUNNING)
    with pytest.raises(
        AirflowFailException, match=r"instance 42 did not finish within 0 s \(instance 42 RUNNING"
    ):
        run_operator(deferrable=False, timeout=0).execute(context())
    assert procs(db)[-1] == ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"})


def test_run_polling_timeout_with_soft_fail_skips(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), RUNNING)
    with pytest.raises(AirflowSkipException, match="soft_fail"):
        run_operator(deferrable=False, timeout=timedelta(0), soft_fail=True, on_kill_mode=None).execute(
            context()
        )
    assert "callproc otask.stop" not in [name for name, _ in procs(db)]


def test_run_failure_lists_the_failed_tasks_and_is_retryable(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), FAILED, failed=[FAILED_ROW])
    with pytest.raises(AirflowException) as failure:
        run_operator(deferrable=True).execute(context())
    assert type(failure.value) is AirflowException  # not AirflowFailException: Airflow may retry
    assert str(failure.value) == (
        "instance 42 FAILED: 1 of 2 tasks failed, 0 skipped, 0 stopped:\n"
        "  - load_sales (task 17, 2 attempts): ORA-01476: divisor is equal to zero"
    )


def test_run_failure_as_a_result_when_fail_on_task_error_is_false(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), FAILED, failed=[FAILED_ROW])
    summary = run_operator(fail_on_task_error=False).execute(context())
    assert summary["state"] == "FAILED"
    assert summary["failed_tasks"][0]["name"] == "load_sales"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("CREATED", "callproc otask.start_jobs"),
        ("FAILED", "callproc otask.retry_failed"),
        ("STOPPED", "callproc otask.retry_failed"),
        ("RUNNING", None),
        ("SUCCEEDED", None),
    ],
)
def test_run_retry_reattaches_to_the_instance_of_the_earlier_try(
    db: EngineFakeConnection, state: str, expected: str | None
) -> None:
    counts = {"SUCCEEDED": 2} if state == "SUCCEEDED" else {"READY": 2}
    engine_answers(batch_answers(db, exists=True), sequence(status(state, counts), SUCCEEDED))
    summary = run_operator(deferrable=False).execute(context())
    assert summary["state"] == "SUCCEEDED"
    calls = [name for name, _ in procs(db)]
    assert calls[0] == "callfunc otask.create_instance"
    assert "callfunc otask.add_tasks" not in calls
    assert calls[1:] == ([expected] if expected else [])


def test_run_retry_leaves_a_failed_instance_alone_when_asked(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db, exists=True), FAILED, failed=[FAILED_ROW])
    with pytest.raises(AirflowException, match="load_sales"):
        run_operator(rerun_failed_tasks=False).execute(context())
    assert [name for name, _ in procs(db)] == ["callfunc otask.create_instance"]


def test_run_execute_complete_outcomes(db: EngineFakeConnection) -> None:
    operator = run_operator()
    ok = {"status": "finished", "instance": finished_status("SUCCEEDED").to_dict()}
    assert operator.execute_complete(context(), ok)["state"] == "SUCCEEDED"
    failed = {"status": "finished", "instance": finished_status("FAILED", [FAILED_ROW]).to_dict()}
    with pytest.raises(AirflowException, match="ORA-01476"):
        operator.execute_complete(context(), failed)
    missing = {"status": "finished", "instance": InstanceStatus.missing(42).to_dict()}
    with pytest.raises(AirflowFailException, match="instance 42 does not exist"):
        operator.execute_complete(context(), missing)
    error = {"status": "error", "instance_id": 42, "message": "ORA-00942: table or view does not exist"}
    with pytest.raises(AirflowException, match="Waiting for instance 42 failed: ORA-00942"):
        operator.execute_complete(context(), error)
    timeout = {"status": "timeout", "instance_id": 42, "instance": None, "message": "..."}
    with pytest.raises(AirflowFailException, match="did not finish in time"):
        operator.execute_complete(context(), timeout)
    assert procs(db) == [("callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"})]


def test_run_soft_fail_skips_a_failed_batch_but_never_hides_a_missing_one(db: EngineFakeConnection) -> None:
    operator = run_operator(soft_fail=True)
    failed = {"status": "finished", "instance": finished_status("FAILED", [FAILED_ROW]).to_dict()}
    with pytest.raises(AirflowSkipException, match="load_sales"):
        operator.execute_complete(context(), failed)


def test_airflow_trigger_timeout_stops_the_instance_then_fails(db: EngineFakeConnection) -> None:
    """The scheduler's trigger timeout resumes the task with __fail__; on_kill is not called then."""
    ti = FakeTI()
    ti.xcoms["instance_id"] = 42
    operator = run_operator(timeout=60, on_kill_mode="hard")
    with pytest.raises(AirflowFailException, match="did not finish within 60 s") as failure:
        operator.resume_execution("__fail__", {"error": "Trigger timeout"}, context(ti))
    assert isinstance(failure.value.__context__, TaskDeferralTimeout)
    assert procs(db) == [("callproc otask.stop", {"p_instance_id": 42, "p_mode": "HARD"})]


def test_a_trigger_crash_is_not_a_timeout_and_stops_nothing(db: EngineFakeConnection) -> None:
    ti = FakeTI()
    ti.xcoms["instance_id"] = 42
    with pytest.raises(AirflowException, match="Trigger failure"):
        run_operator().resume_execution("__fail__", {"error": "Trigger failure"}, context(ti))
    assert procs(db) == []


def test_on_kill_stops_the_instance_it_started(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), RUNNING)
    operator = run_operator(deferrable=True)
    with pytest.raises(TaskDeferred):
        operator.execute(context())
    operator.on_kill()
    assert procs(db)[-1] == ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"})
    calls = len(procs(db))
    left_running = run_operator(on_kill_mode=None)
    left_running._instance_id = 42
    left_running.on_kill()
    run_operator().on_kill()  # killed before the instance existed
    assert len(procs(db)) == calls


def test_templated_threads_of_the_run_operator(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), SUCCEEDED)
    operator = run_operator(threads="{{ params.threads }}")
    operator.threads = "8"
    operator.execute(context())
    assert ("callproc otask.start_jobs", {"p_instance_id": 42, "p_threads": 8}) in procs(db)


def test_mapped_run_operator_gets_one_instance_per_map_index(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), SUCCEEDED)
    with DAG("mapped", schedule=None):
        mapped = OracleTaskManagerRunOperator.partial(task_id="run", threads=2).expand(
            tasks=[["begin null; end;"], ["begin null; end;", "begin null; end;"]]
        )
    assert mapped.partial_kwargs["threads"] == 2
    run = run_operator(tasks=["begin null; end;"])
    for index in (0, 1):
        run.execute(context(FakeTI(map_index=index)))
    keys = [binds["p_run_key"] for name, binds in procs(db) if name == "callfunc otask.create_instance"]
    assert keys == [
        "etl_dag/manual__2025-03-01T00:00:00+00:00/run/0",
        "etl_dag/manual__2025-03-01T00:00:00+00:00/run/1",
    ]


def test_operator_module_exports_the_documented_names() -> None:
    names = {
        "OracleTaskManagerInstallOperator",
        "OracleTaskManagerCreateInstanceOperator",
        "OracleTaskManagerStartJobsOperator",
        "OracleTaskManagerSetThreadsOperator",
        "OracleTaskManagerStopOperator",
        "OracleTaskManagerRetryOperator",
        "OracleTaskManagerRunOperator",
    }
    assert names <= set(vars(operators))


def test_the_run_key_limit_matches_the_engine_api() -> None:
    from airflow_provider_oracle_tasks.engine import api as engine_api

    assert operators.MAX_RUN_KEY == engine_api.MAX_RUN_KEY


def test_dag_files_do_not_pay_for_oracledb_at_parse_time() -> None:
    """The operators and the sensor import python-oracledb only when a task runs."""
    import subprocess
    import sys

    code = (
        "import sys, airflow.sdk; "
        "import airflow_provider_oracle_tasks.operators.task_manager; "
        "import airflow_provider_oracle_tasks.sensors.task_manager; "
        "print(sorted(m for m in ('oracledb', 'airflow_provider_oracle_tasks.hooks.task_manager', "
        "'airflow_provider_oracle_tasks.triggers.task_manager') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# --- a failing stop keeps the timeout outcome (A-3) ----------------------------------------------


def _stop_fails(db: EngineFakeConnection, message: str = "ORA-01031: insufficient privileges") -> None:
    db.rules.insert(0, ("callproc otask.stop", db_error(message)))


def test_polling_timeout_fails_without_retry_even_when_the_stop_fails(
    db: EngineFakeConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    engine_answers(batch_answers(db), RUNNING)
    _stop_fails(db)
    with pytest.raises(AirflowFailException, match="did not finish within 0 s"):
        run_operator(deferrable=False, timeout=0).execute(context())
    out = capsys.readouterr().out
    assert "stopping instance 42 (SOFT) failed: ORA-01031: insufficient privileges." in out


def test_deferred_timeout_with_soft_fail_skips_even_when_the_stop_fails(db: EngineFakeConnection) -> None:
    _stop_fails(db)
    timeout = {"status": "timeout", "instance_id": 42, "instance": None, "message": "..."}
    with pytest.raises(AirflowSkipException, match="did not finish in time"):
        run_operator(soft_fail=True).execute_complete(context(), timeout)


def test_airflow_trigger_timeout_fails_without_retry_when_a_transient_stop_keeps_failing(
    db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient stop error is retried, then logged; the outcome stays."""
    monkeypatch.setattr("airflow_provider_oracle_tasks.db.transient.backoff_delay", lambda *a, **k: 0.0)
    _stop_fails(db, "ORA-03113: end-of-file on communication channel")
    ti = FakeTI()
    ti.xcoms["instance_id"] = 42
    with pytest.raises(AirflowFailException, match="did not finish within 60 s"):
        run_operator(timeout=60).resume_execution("__fail__", {"error": "Trigger timeout"}, context(ti))
    assert [name for name, _ in procs(db)].count("callproc otask.stop") > 1


# --- poll interval floor (A-7) --------------------------------------------------------------------


@pytest.mark.parametrize("interval", [0, 0.5, timedelta(milliseconds=10)])
def test_run_refuses_a_poke_interval_below_one_second(interval: Any) -> None:
    with pytest.raises(ValueError, match=r"poke_interval=.* is below 1 s"):
        run_operator(poke_interval=interval)


def test_poll_until_never_sleeps_less_than_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_oracle_tasks.waiting import progress

    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    readings = iter([False, True])
    progress.poll_until(
        False,
        finished=bool,
        read=lambda: next(readings),
        interval=0,
        timeout=None,
        timed_out=lambda last: pytest.fail("no timeout"),
        show=lambda reading: None,
    )
    assert sleeps == [progress.MIN_POLL_INTERVAL, progress.MIN_POLL_INTERVAL]


# --- clearing re-runs, retrying re-attaches (A-6) ------------------------------------------------


class FakeDagRun:
    def __init__(self, clear_number: int | None) -> None:
        self.clear_number = clear_number


def test_run_key_adds_the_clear_number_once_the_dag_run_was_cleared() -> None:
    ti = FakeTI(map_index=3)
    base = "etl_dag/manual__2025-03-01T00:00:00+00:00/run/3"
    assert run_key({"ti": ti, "dag_run": FakeDagRun(0)}) == base  # type: ignore[typeddict-item]
    assert run_key({"ti": ti, "dag_run": FakeDagRun(None)}) == base  # type: ignore[typeddict-item]
    assert run_key({"ti": ti, "dag_run": FakeDagRun(2)}) == f"{base}/c2"  # type: ignore[typeddict-item]


def test_run_key_is_cut_in_bytes_not_characters() -> None:
    ti = FakeTI()
    ti.run_id = "é" * 300  # 300 characters, 600 bytes: the column is varchar2(512 byte)
    key = run_key(context(ti))
    assert len(key.encode("utf-8")) <= 512
    head, digest = key.rsplit("#", 1)
    assert len(digest) == 64
    assert head.startswith("etl_dag/é")


def test_a_cleared_run_task_starts_a_new_instance_while_a_retry_reattaches(db: EngineFakeConnection) -> None:
    engine_answers(batch_answers(db), SUCCEEDED)
    ti = FakeTI()
    run_operator().execute({"ti": ti, "dag_run": FakeDagRun(0)})  # type: ignore[typeddict-item]
    run_operator().execute({"ti": ti, "dag_run": FakeDagRun(0)})  # type: ignore[typeddict-item]
    run_operator().execute({"ti": ti, "dag_run": FakeDagRun(1)})  # type: ignore[typeddict-item]
    keys = [binds["p_run_key"] for name, binds in procs(db) if name == "callfunc otask.create_instance"]
    base = "etl_dag/manual__2025-03-01T00:00:00+00:00/run/-1"
    assert keys == [base, base, f"{base}/c1"]


# --- thick mode cannot defer (A-14) ----------------------------------------------------------------


def test_a_thick_mode_connection_polls_instead_of_deferring(
    db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    monkeypatch.setattr(OracleTaskManagerHook, "uses_thick_mode", lambda self: True)
    engine_answers(batch_answers(db), sequence(RUNNING, SUCCEEDED))
    summary = run_operator(deferrable=True).execute(context())  # no TaskDeferred
    assert summary["state"] == "SUCCEEDED"
    assert "uses thick mode" in capsys.readouterr().out


def test_the_hook_tells_a_thick_mode_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    conn = {"conn_type": "oracle", "login": "A", "password": "secret-pw", "host": "h", "schema": "S"}
    monkeypatch.setenv("AIRFLOW_CONN_THIN", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_THICK", json.dumps({**conn, "extra": {"thick_mode": True}}))
    assert OracleTaskManagerHook(oracle_conn_id="thin").uses_thick_mode() is False
    assert OracleTaskManagerHook(oracle_conn_id="thick").uses_thick_mode() is True

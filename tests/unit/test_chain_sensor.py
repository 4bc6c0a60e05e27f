"""OracleSchedulerChainSensor (fakes at the oracledb boundary) and a dag.test() of the payroll example.

The dag.test() runs real Airflow 3 (task runner, XCom, deferral with the trigger run in-process)
against the sync fake for the operator and the counting async fake driver for the trigger; it
proves the wiring, not the Scheduler (tests/integration/test_chains.py does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_oracle_tasks.sensors.chain import OracleSchedulerChainSensor, epoch_seconds
from airflow_provider_oracle_tasks.triggers.chain import OracleSchedulerChainTrigger
from tests.unit.chain_fakes import (
    CHAIN,
    LIVE_JOBS,
    PRIVILEGES,
    PROGRAMS,
    JobState,
    callprocs,
    context,
    privilege_rows,
    status_answers,
)
from tests.unit.engine_fakes import AsyncFakeDriver, EngineFakeConnection, patch_connect

JOB = "CHN_START_PAYROLL_PROCESSING"
RUNNING = JobState(steps=[("WAIT_FOR_FILE", "RUNNING", None)])
DONE = JobState(
    state="SCHEDULED", details=[("WAIT_FOR_FILE", "SUCCEEDED", 0, 9.0), (None, "SUCCEEDED", 0, 10.0)]
)
FAILED = JobState(state=None, details=[("VALIDATE", "FAILED", 20001, 1.0), (None, "FAILED", 20001, 2.0)])


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    return connection


def sensor(**overrides: Any) -> OracleSchedulerChainSensor:
    values: dict[str, Any] = {"task_id": "wait", "job_name": JOB, "poke_interval": 0, "timeout": 60}
    values.update(overrides)
    return OracleSchedulerChainSensor(**values)


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="not a valid Oracle name"):
        sensor(job_name="no such job")
    with pytest.raises(ValueError, match="needs a time zone"):
        sensor(started_after="2025-03-01T00:00:00")
    assert sensor(job_name="{{ params.job }}", started_after="{{ data_interval_start }}").job_name.startswith(
        "{{"
    )
    assert epoch_seconds("2025-03-01T00:00:00+00:00") == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    assert epoch_seconds(None) is None


def test_poke_waits_while_the_chain_runs_and_returns_its_result(db: EngineFakeConnection) -> None:
    status_answers(db, JOB, RUNNING, DONE)
    waiting = sensor()
    assert waiting.poke(context()) is False
    done = waiting.poke(context())
    assert isinstance(done, PokeReturnValue)
    assert done.xcom_value["state"] == "SUCCEEDED"
    assert done.xcom_value["steps"][0] == {
        "step": "WAIT_FOR_FILE",
        "state": "SUCCEEDED",
        "error_code": 0,
        "started_at": "2025-03-01T12:00:00+00:00",
        "ended_at": "2025-03-01T12:00:09+00:00",
        "duration_seconds": 9.0,
        "message": None,
    }
    assert callprocs(db) == []  # a sensor changes nothing


def test_a_failed_run_fails_the_sensor_unless_told_otherwise(db: EngineFakeConnection) -> None:
    status_answers(db, JOB, FAILED)
    with pytest.raises(
        AirflowFailException, match=r"FAILED with error 20001 after 2 s; steps: VALIDATE=FAILED\(20001\)"
    ):
        sensor().poke(context())
    tolerant = sensor(fail_on_failure=False).poke(context())
    assert isinstance(tolerant, PokeReturnValue)
    assert tolerant.xcom_value["state"] == "FAILED"


def test_a_stalled_chain_fails_the_sensor_but_is_not_stopped(db: EngineFakeConnection) -> None:
    status_answers(db, JOB, JobState(state="CHAIN_STALLED", steps=[("VALIDATE", "FAILED", 20001)]))
    with pytest.raises(AirflowFailException, match=r"STALLED.*left as it is.*STOP_JOB\('CHN_START_PAYROLL"):
        sensor().poke(context())
    assert callprocs(db) == []


def test_soft_fail_skips_in_poke_mode(db: EngineFakeConnection) -> None:
    status_answers(db, JOB, FAILED)
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True, deferrable=False).execute(context())


def test_deferrable_reads_once_then_defers_without_stopping_rights(db: EngineFakeConnection) -> None:
    status_answers(db, JOB, RUNNING)
    waiting = sensor(deferrable=True, started_after="2025-03-01T00:00:00+00:00", poke_interval=20)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, OracleSchedulerChainTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["job_name"] == JOB
    assert kwargs["stop_on_kill"] is False  # the job belongs to somebody else
    assert kwargs["missing_grace"] is None  # it may not exist yet
    assert kwargs["since"] == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    assert kwargs["poll_interval"] == 20.0


def test_execute_complete_outcomes() -> None:
    waiting = sensor()
    ok = {"status": "finished", "run": {"job_name": JOB, "state": "SUCCEEDED", "steps": []}}
    assert waiting.execute_complete(context(), ok)["state"] == "SUCCEEDED"
    with pytest.raises(AirflowSensorTimeout, match="late"):
        waiting.execute_complete(context(), {"status": "timeout", "job_name": JOB, "message": "late"})
    with pytest.raises(AirflowFailException):
        waiting.execute_complete(
            context(), {"status": "finished", "run": {"job_name": JOB, "state": "MISSING"}}
        )


# --- the payroll example, end to end with fakes --------------------------------------------------


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "polling"])
def test_the_payroll_dag_defines_runs_and_reports_its_chain(
    airflow_db: None, db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from example_dags.payroll_chain import PAYROLL_SPEC

    driver = AsyncFakeDriver(db).install(monkeypatch)
    db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, []).on(CHAIN, []).on(PROGRAMS, [])
    steps = [(s, "SUCCEEDED", 0, 1.0) for s in ("WAIT_FOR_FILE", "VALIDATE", "LOAD", "SUMMARY")]
    status_answers(
        db,
        None,
        JobState(chain="PAYROLL_CHECKS", steps=[("WAIT_FOR_FILE", "RUNNING", None)]),
        JobState(state=None, chain="PAYROLL_CHECKS", details=[*steps, (None, "SUCCEEDED", 0, 5.0)]),
    )
    bag = DagBag(dag_folder=Path(__file__).resolve().parents[2] / "example_dags" / "payroll_chain.py")
    dag = bag.dags["oracle_tasks_payroll_chain"]
    operator = dag.get_task("process_payroll_file")
    monkeypatch.setattr(operator, "deferrable", deferrable)
    monkeypatch.setattr(operator, "poke_interval", 0.05)
    run = dag.test()
    assert str(run.state) == "success"
    report = next(ti for ti in run.get_task_instances() if ti.task_id == "report")
    assert report.xcom_pull(task_ids="report") == [
        "WAIT_FOR_FILE: SUCCEEDED",
        "VALIDATE: SUCCEEDED",
        "LOAD: SUCCEEDED",
        "SUMMARY: SUCCEEDED",
        "NOTIFY_DBA: NOT_STARTED",
        "NOTIFY_ACCOUNTING: NOT_STARTED",
    ]
    names = [name for name, _ in callprocs(db)]
    assert names.count("dbms_scheduler.create_program") == len(PAYROLL_SPEC.generated_programs())
    assert names.count("dbms_scheduler.define_chain_rule") == len(PAYROLL_SPEC.rules)
    assert names[-1] == "dbms_scheduler.run_chain"
    (run_chain,) = [binds for name, binds in callprocs(db) if name == "dbms_scheduler.run_chain"]
    assert run_chain["chain_name"] == "PAYROLL_CHECKS"
    assert run_chain["job_name"].startswith("OTASK_CH_")
    assert run_chain["job_name"].endswith("_1")
    if deferrable:
        assert driver.sessions_opened == {"pooled": 1, "dedicated": 0}
    else:
        assert driver.connections_opened == 0


@pytest.mark.parametrize("grace", [0, -5, "abc"])
def test_the_sensor_validates_stall_grace_like_the_operator(grace: object) -> None:
    """A-13: the sensor stored any value; 'abc' failed later inside the tracker."""
    from airflow_provider_oracle_tasks.sensors.chain import OracleSchedulerChainSensor

    with pytest.raises(ValueError, match="stall_grace"):
        OracleSchedulerChainSensor(task_id="s", job_name="J", stall_grace=grace)

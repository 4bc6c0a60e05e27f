"""OracleTaskManagerInstanceSensor in real Airflow 3, against a fake at the oracledb boundary."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_oracle_tasks.engine.status import InstanceStatus, parse_statuses
from airflow_provider_oracle_tasks.operators.task_manager import OracleTaskManagerCreateInstanceOperator
from airflow_provider_oracle_tasks.sensors.task_manager import OracleTaskManagerInstanceSensor
from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger
from tests.unit.engine_fakes import (
    EngineFakeConnection,
    by_ids,
    engine_answers,
    patch_connect,
    sequence,
    status_row,
)
from tests.unit.fakes import db_error

FAILED_ROW = (42, 17, "load_sales", "FAILED", -1476, "ORA-01476: divisor is equal to zero", 1)


def status(state: str, counts: dict[str, int]) -> Any:
    return by_ids({42: [status_row(42, state, counts=counts)]})


RUNNING = status("RUNNING", {"RUNNING": 2})
SUCCEEDED = status("SUCCEEDED", {"SUCCEEDED": 2})
FAILED = status("FAILED", {"SUCCEEDED": 1, "FAILED": 1})


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    return connection


def sensor(**kwargs: Any) -> OracleTaskManagerInstanceSensor:
    arguments: dict[str, Any] = {"task_id": "wait", "instance_id": 42, "poke_interval": 5, "timeout": 3600}
    arguments.update(kwargs)
    return OracleTaskManagerInstanceSensor(**arguments)


def stops(db: EngineFakeConnection) -> list[dict[str, Any]]:
    return [binds for sql, binds in db.calls() if sql == "callproc otask.stop"]


def event(state: str, failed: list[tuple[Any, ...]] | None = None) -> dict[str, Any]:
    counts = {"SUCCEEDED": 1, "FAILED": len(failed or [])}
    current = parse_statuses([42], [status_row(42, state, counts=counts)], failed or [])[42]
    return {"status": "finished", "instance": current.to_dict()}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instance_id": -1}, "instance_id=-1 must be a whole number"),
        ({"on_kill_mode": "now"}, "on_kill_mode='now' must be 'SOFT'"),
        ({"fail_on_task_error": "no"}, "fail_on_task_error='no' must be True or False"),
        ({"poke_interval": -1}, "poke_interval"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        sensor(**kwargs)


def test_instance_id_from_an_xcomarg_or_a_template_is_checked_at_run_time(db: EngineFakeConnection) -> None:
    engine_answers(db, SUCCEEDED)
    with DAG("d", schedule=None):
        create = OracleTaskManagerCreateInstanceOperator(task_id="create", tasks=["begin null; end;"])
        from_xcom = sensor(instance_id=create.output)
    assert from_xcom.instance_id is not None
    templated = sensor(instance_id="{{ ti.xcom_pull('create') }}", deferrable=False)
    templated.instance_id = "42"  # as rendered
    assert templated.execute({})["state"] == "SUCCEEDED"


def test_deferrable_sensor_pokes_once_then_defers_with_its_timeout(db: EngineFakeConnection) -> None:
    engine_answers(db, RUNNING)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, timeout=timedelta(hours=2), on_kill_mode="soft").execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OracleTaskManagerInstanceTrigger)
    _, kwargs = trigger.serialize()
    assert (kwargs["instance_id"], kwargs["poll_interval"], kwargs["on_kill_mode"]) == (42, 5.0, "SOFT")
    assert abs(kwargs["timeout_at"] - (time.time() + 7200)) < 5
    assert deferred.value.timeout == timedelta(hours=2, minutes=2)  # the trigger's timeout comes first
    statuses = [sql for sql, _ in db.calls() if "from otask_instances_v i" in sql]
    assert len(statuses) == 1


def test_deferrable_sensor_done_at_the_first_poke_returns_the_summary(db: EngineFakeConnection) -> None:
    engine_answers(db, SUCCEEDED)
    summary = sensor(deferrable=True).execute({})
    assert (summary["state"], summary["counts"]["SUCCEEDED"]) == ("SUCCEEDED", 2)


def test_first_poke_failure_with_soft_fail_skips(db: EngineFakeConnection) -> None:
    engine_answers(db, FAILED, failed=[FAILED_ROW])
    with pytest.raises(AirflowSkipException, match="load_sales"):
        sensor(deferrable=True, soft_fail=True).execute({})


def test_poke_mode_polls_until_finished(db: EngineFakeConnection) -> None:
    engine_answers(db, sequence(RUNNING, RUNNING, SUCCEEDED))
    assert sensor(deferrable=False).execute({})["state"] == "SUCCEEDED"
    assert len([sql for sql, _ in db.calls() if "from otask_instances_v i" in sql]) == 3


def test_failed_instance_fails_the_sensor_without_retry_and_names_the_task(db: EngineFakeConnection) -> None:
    engine_answers(db, FAILED, failed=[FAILED_ROW])
    with pytest.raises(AirflowFailException, match=r"load_sales \(task 17, 1 attempt\): ORA-01476"):
        sensor(deferrable=False).execute({})


def test_failed_instance_as_a_result(db: EngineFakeConnection) -> None:
    engine_answers(db, FAILED, failed=[FAILED_ROW])
    summary = sensor(deferrable=False, fail_on_task_error=False).execute({})
    assert summary["state"] == "FAILED"


def test_missing_instance_always_fails(db: EngineFakeConnection) -> None:
    engine_answers(db, by_ids({}))
    with pytest.raises(AirflowFailException, match="instance 42 does not exist"):
        sensor(deferrable=False, fail_on_task_error=False).execute({})


def test_poke_mode_timeout_leaves_the_instance_running_by_default(db: EngineFakeConnection) -> None:
    engine_answers(db, RUNNING)
    with pytest.raises(AirflowSensorTimeout):
        sensor(deferrable=False, timeout=0).execute({})
    assert stops(db) == []


@pytest.mark.parametrize("soft_fail", [False, True])
def test_poke_mode_timeout_stops_the_instance_when_configured(
    db: EngineFakeConnection, soft_fail: bool
) -> None:
    engine_answers(db, RUNNING)
    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected):
        sensor(deferrable=False, timeout=0, on_kill_mode="hard", soft_fail=soft_fail).execute({})
    assert stops(db) == [{"p_instance_id": 42, "p_mode": "HARD"}]


def test_a_failure_with_soft_fail_is_not_mistaken_for_a_timeout(db: EngineFakeConnection) -> None:
    engine_answers(db, FAILED, failed=[FAILED_ROW])
    with pytest.raises(AirflowSkipException):
        sensor(deferrable=False, soft_fail=True, on_kill_mode="soft").execute({})
    assert stops(db) == []


def test_resumed_outcomes(db: EngineFakeConnection) -> None:
    wait = sensor()
    assert (
        wait.resume_execution("execute_complete", {"event": event("SUCCEEDED")}, {})["state"] == "SUCCEEDED"
    )
    with pytest.raises(AirflowFailException, match="load_sales"):
        wait.resume_execution("execute_complete", {"event": event("FAILED", [FAILED_ROW])}, {})
    error = {"status": "error", "instance_id": 42, "message": "ORA-01031: insufficient privileges"}
    with pytest.raises(AirflowException, match="ORA-01031"):
        wait.resume_execution("execute_complete", {"event": error}, {})
    timeout = {"status": "timeout", "instance_id": 42, "instance": None, "message": "did not finish"}
    with pytest.raises(AirflowSensorTimeout, match="did not finish"):
        wait.resume_execution("execute_complete", {"event": timeout}, {})
    assert stops(db) == []


def test_resumed_failure_with_soft_fail_skips(db: EngineFakeConnection) -> None:
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).resume_execution(
            "execute_complete", {"event": event("FAILED", [FAILED_ROW])}, {}
        )


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_airflow_trigger_timeout_stops_when_configured_then_times_out(
    db: EngineFakeConnection, soft_fail: bool, expected: type[Exception]
) -> None:
    wait = sensor(on_kill_mode="soft", soft_fail=soft_fail)
    with pytest.raises(expected):
        wait.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
    assert stops(db) == [{"p_instance_id": 42, "p_mode": "SOFT"}]


def test_on_kill_stops_only_when_configured(db: EngineFakeConnection) -> None:
    sensor().on_kill()
    assert stops(db) == []
    sensor(on_kill_mode="hard").on_kill()
    assert stops(db) == [{"p_instance_id": 42, "p_mode": "HARD"}]


def test_event_summary_round_trips() -> None:
    data = event("FAILED", [FAILED_ROW])["instance"]
    assert InstanceStatus.from_dict(data).to_dict() == data


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_timeouts_keep_their_outcome_when_the_stop_fails(
    db: EngineFakeConnection, soft_fail: bool, expected: type[Exception]
) -> None:
    """A-3: the stop's ORA error is logged; the sensor still times out (or skips), no retry."""
    engine_answers(db, RUNNING)
    db.rules.insert(0, ("callproc otask.stop", db_error("ORA-01031: insufficient privileges")))
    with pytest.raises(expected):
        sensor(deferrable=False, timeout=0, on_kill_mode="hard", soft_fail=soft_fail).execute({})
    wait = sensor(on_kill_mode="soft", soft_fail=soft_fail)
    with pytest.raises(expected):
        wait.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
    timeout = {"status": "timeout", "instance_id": 42, "instance": None, "message": "did not finish"}
    with pytest.raises(expected):
        wait.resume_execution("execute_complete", {"event": timeout}, {})
    assert len(stops(db)) == 3


@pytest.mark.parametrize("interval", [0, 0.2, timedelta(0)])
def test_sensor_refuses_a_poke_interval_below_one_second(interval: Any) -> None:
    with pytest.raises(ValueError, match=r"poke_interval=.* is below 1 s"):
        sensor(poke_interval=interval)


def test_a_thick_mode_sensor_pokes_instead_of_deferring(
    db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A-14: the triggerer needs thin mode; deferring would fail every wait."""
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    monkeypatch.setattr(OracleTaskManagerHook, "uses_thick_mode", lambda self: True)
    engine_answers(db, sequence(RUNNING, SUCCEEDED))
    assert sensor(deferrable=True).execute({})["state"] == "SUCCEEDED"

"""OracleAQEventSensor against the fake broker: defer, resume, remove by msgid, gone, timeout."""

from __future__ import annotations

from typing import Any

import oracledb
import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_oracle_tasks.sensors.aq import MessageGone, OracleAQEventSensor
from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger
from tests.unit.aq_fakes import FakeBroker, install_aq

CONTEXT: Any = {}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG", "AUDIT"])
    broker.sessions = install_aq(monkeypatch, broker)  # type: ignore[attr-defined]
    return broker


def sensor(**overrides: Any) -> OracleAQEventSensor:
    kwargs: dict[str, Any] = {
        "task_id": "wait_for_file",
        "queue_name": "PAYROLL_FILES",
        "consumer": "PAYROLL_DAG",
        "timeout": 3600,
        "deferrable": True,
    }
    kwargs.update(overrides)
    return OracleAQEventSensor(**kwargs)


def hexid(msgid: bytes) -> str:
    return msgid.hex().upper()


def test_defers_to_the_browsing_trigger_when_nothing_is_queued(broker: FakeBroker) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        sensor(correlation="2025-03", wait_seconds=20).execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, OracleAQMessageTrigger)
    assert (trigger.queue, trigger.consumer, trigger.correlation, trigger.wait_seconds) == (
        "PAYROLL_FILES",
        "PAYROLL_DAG",
        "2025-03",
        20.0,
    )
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None
    assert 3590 < deferred.value.timeout.total_seconds() <= 3600
    # the one poke before deferring took nothing and rolled its empty transaction back
    assert broker.dequeues[0]["mode"] == oracledb.DEQ_REMOVE
    assert broker.dequeues[0]["wait"] == oracledb.DEQ_NO_WAIT


def test_message_already_there_is_taken_without_deferring(broker: FakeBroker) -> None:
    broker.publish("PAYROLL_FILES", b'{"file": "pay.csv"}')
    result = sensor().execute(CONTEXT)
    assert result["payload"] == {"file": "pay.csv"}
    assert broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG") == []
    assert len(broker.pending_for("PAYROLL_FILES", "AUDIT")) == 1  # the other consumer keeps its copy
    assert broker.sessions[0].commits == 1  # type: ignore[attr-defined]


def test_resume_removes_exactly_the_message_the_trigger_saw(broker: FakeBroker) -> None:
    older = broker.publish("PAYROLL_FILES", b"other", correlation="2025-02")
    seen = broker.publish("PAYROLL_FILES", b"march", correlation="2025-03")
    event = {"status": "message", "message": {"msgid": hexid(seen), "queue_name": "PAYROLL_FILES"}}
    result = sensor(correlation="2025-03").execute_complete(CONTEXT, event)
    assert result["msgid"] == hexid(seen)
    assert result["payload"] == "march"
    assert [m.msgid for m in broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")] == [older]
    assert broker.dequeues[-1]["msgid"] == seen
    assert broker.dequeues[-1]["visibility"] == oracledb.DEQ_ON_COMMIT
    assert broker.sessions[-1].commits == 1  # type: ignore[attr-defined]


def _taken_by_someone_else(broker: FakeBroker) -> dict[str, Any]:
    msgid = broker.publish("PAYROLL_FILES", b"GO")
    broker.messages["PAYROLL_FILES"][-1].removed_for.add("PAYROLL_DAG")
    return {
        "status": "message",
        "message": {"msgid": hexid(msgid), "queue_name": "PAYROLL_FILES"},
        "timeout_at": None,
    }


def test_message_already_removed_waits_for_the_next_one_by_default(broker: FakeBroker) -> None:
    event = _taken_by_someone_else(broker)
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute_complete(CONTEXT, event)
    assert isinstance(deferred.value.trigger, OracleAQMessageTrigger)
    assert broker.sessions[-1].commits == 0  # type: ignore[attr-defined]


def test_message_already_removed_can_fail_with_a_clear_message(broker: FakeBroker) -> None:
    event = _taken_by_someone_else(broker)
    with pytest.raises(MessageGone, match="no longer there for consumer PAYROLL_DAG"):
        sensor(if_message_gone="fail").execute_complete(CONTEXT, event)


def test_message_already_removed_can_skip(broker: FakeBroker) -> None:
    with pytest.raises(AirflowSkipException, match="no longer there"):
        sensor(if_message_gone="skip").execute_complete(CONTEXT, _taken_by_someone_else(broker))


def test_message_gone_after_the_deadline_is_a_timeout(broker: FakeBroker) -> None:
    event = _taken_by_someone_else(broker)
    event["timeout_at"] = 1.0  # long past
    with pytest.raises(AirflowSensorTimeout, match="timeout has passed"):
        sensor().execute_complete(CONTEXT, event)


def test_timeout_event_fails_or_skips_with_soft_fail() -> None:
    event = {"status": "timeout", "message": "no message on queue PAYROLL_FILES"}
    with pytest.raises(AirflowSensorTimeout, match="no message"):
        sensor().execute_complete(CONTEXT, event)
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).execute_complete(CONTEXT, event)


def test_error_event_fails_with_its_message() -> None:
    with pytest.raises(AirflowException, match="ORA-24010"):
        sensor().execute_complete(CONTEXT, {"status": "error", "message": "ORA-24010: queue missing"})


def test_non_deferrable_poke_takes_and_commits(broker: FakeBroker) -> None:
    s = sensor(deferrable=False)
    assert s.poke(CONTEXT) is False
    broker.publish("PAYROLL_FILES", b"GO")
    done = s.poke(CONTEXT)
    assert not isinstance(done, bool)
    assert done.is_done
    assert done.xcom_value["payload"] == "GO"
    assert broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG") == []


def test_non_deferrable_execute_times_out(broker: FakeBroker) -> None:
    with pytest.raises(AirflowSensorTimeout):
        sensor(deferrable=False, timeout=0.05, poke_interval=0.01).execute(CONTEXT)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"queue_name": "drop table x"}, "not a valid queue name"),
        ({"queue_name": "OWNER.Q.X"}, "not a valid queue name"),
        ({"consumer": "a b"}, "consumer"),
        ({"if_message_gone": "ignore"}, "if_message_gone"),
        ({"condition": "x = 1; commit"}, "condition"),
        ({"deferrable": "yes"}, "deferrable"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        sensor(**kwargs)


def test_a_literal_correlation_is_checked_when_the_dag_is_parsed() -> None:
    """Q-8: the trigger's constructor checked it, the sensor did not (and only after connecting)."""
    with pytest.raises(ValueError, match="at most 128 bytes"):
        OracleAQEventSensor(task_id="s", queue_name="Q", consumer="C", correlation="x" * 129)
    OracleAQEventSensor(task_id="s", queue_name="Q", consumer="C", correlation="{{ ds }}" + "x" * 200)

"""The AQ triggers against the fake broker (tests/unit/aq_fakes.py): no database."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import oracledb
import pytest
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_oracle_tasks.triggers import aq as aq_triggers
from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger, OracleAQMessageTrigger
from tests.unit.aq_fakes import FakeBroker, install_aq
from tests.unit.fakes import db_error


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG", "AUDIT"])
    install_aq(monkeypatch, broker)
    monkeypatch.setattr(aq_triggers, "backoff_delay", lambda *a, **k: 0.0)
    return broker


def trigger(**overrides: Any) -> OracleAQMessageTrigger:
    kwargs: dict[str, Any] = {
        "queue": "payroll_files",
        "consumer": "payroll_dag",
        "wait_seconds": 5,
        "timeout_at": time.time() + 60,
        "base_delay": 0.01,
    }
    kwargs.update(overrides)
    return OracleAQMessageTrigger(**kwargs)


async def first_event(t: Any, limit: float = 5.0) -> TriggerEvent:
    gen = t.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), limit)
    finally:
        await gen.aclose()


def test_serialize_round_trip_is_json_safe() -> None:
    t = trigger(condition="tab.user_data.msg = 'GO'", correlation="2025-03%", payload_type="json")
    classpath, kwargs = t.serialize()
    assert classpath == "airflow_provider_oracle_tasks.triggers.aq.OracleAQMessageTrigger"
    rebuilt = OracleAQMessageTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["queue"] == "PAYROLL_FILES"
    assert kwargs["consumer"] == "PAYROLL_DAG"
    assert kwargs["payload_type"] == "JSON"


def test_event_trigger_serializes_without_timeout_and_is_an_event_trigger() -> None:
    t = OracleAQEventTrigger(queue="GO_Q", consumer="WATCHER", timeout_at=5.0)
    classpath, kwargs = t.serialize()
    assert isinstance(t, BaseEventTrigger)
    assert "timeout_at" not in kwargs
    assert OracleAQEventTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    "bad",
    [
        {"queue": "payroll files"},
        {"queue": "a.b.c"},
        {"queue": '"Q"'},
        {"queue": "Q@dblink"},
        {"consumer": "A.B"},
        {"condition": "1=1; drop table x"},
        {"wait_seconds": 0},
        {"payload_type": "raw(16)"},
    ],
)
def test_bad_arguments_are_refused_before_any_connection(broker: FakeBroker, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        trigger(**bad)
    assert broker.sessions_opened == 0


async def test_message_already_queued_is_reported_and_left_on_the_queue(broker: FakeBroker) -> None:
    msgid = broker.publish("PAYROLL_FILES", b'{"file": "pay_202503.csv"}', correlation="2025-03")
    event = await first_event(trigger())
    assert event.payload["status"] == "message"
    message = event.payload["message"]
    assert message["msgid"] == msgid.hex().upper()
    assert message["payload"] == {"file": "pay_202503.csv"}
    assert message["correlation"] == "2025-03"
    json.dumps(event.payload)  # the event is JSON-safe
    # BROWSE: still there for this consumer, and the session was dedicated and closed
    assert len(broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")) == 1
    assert broker.dequeues[0]["mode"] == oracledb.DEQ_BROWSE
    assert broker.dequeues[0]["consumername"] == "PAYROLL_DAG"
    assert broker.open_sessions == 0


async def test_message_enqueued_while_waiting_wakes_the_blocking_dequeue(broker: FakeBroker) -> None:
    broker.wait_scale = 1.0  # a real 5 s server-side wait: only the enqueue can end it early
    t = trigger(wait_seconds=5)
    task = asyncio.create_task(first_event(t))
    await asyncio.sleep(0.05)
    assert not task.done()
    started = time.monotonic()
    broker.publish("PAYROLL_FILES", b"GO")
    event = await task
    assert time.monotonic() - started < 0.5
    assert event.payload["message"]["payload"] == "GO"
    assert broker.dequeues[0]["wait"] == 5


async def test_timeout_event_after_timeout_at(broker: FakeBroker) -> None:
    event = await first_event(trigger(timeout_at=time.time() + 0.05, wait_seconds=1))
    assert event.payload["status"] == "timeout"
    assert "PAYROLL_FILES" in event.payload["message"]
    assert broker.dequeues
    assert all(d["wait"] == 1 for d in broker.dequeues)


async def test_correlation_filter_skips_other_messages(broker: FakeBroker) -> None:
    broker.publish("PAYROLL_FILES", b"february", correlation="2025-02")
    wanted = broker.publish("PAYROLL_FILES", b"march", correlation="2025-03")
    event = await first_event(trigger(correlation="2025-03%"))
    assert event.payload["message"]["msgid"] == wanted.hex().upper()
    assert broker.dequeues[0]["correlation"] == "2025-03%"


async def test_condition_filter_is_passed_to_the_dequeue(broker: FakeBroker) -> None:
    condition = "tab.user_data.msg = 'GO'"
    broker.conditions[condition] = lambda payload: payload == b"GO"
    broker.publish("PAYROLL_FILES", b"WAIT")
    wanted = broker.publish("PAYROLL_FILES", b"GO")
    event = await first_event(trigger(condition=condition))
    assert event.payload["message"]["msgid"] == wanted.hex().upper()
    assert broker.dequeues[0]["condition"] == condition


async def test_transient_error_reconnects_then_gets_the_message(broker: FakeBroker) -> None:
    broker.failures.append(db_error("ORA-03113: end-of-file on communication channel"))
    broker.publish("PAYROLL_FILES", b"GO")
    event = await first_event(trigger())
    assert event.payload["status"] == "message"
    assert broker.sessions_opened == 2  # the broken session was dropped, a new one opened
    assert broker.open_sessions == 0


async def test_permanent_error_is_an_error_event_with_the_cause(broker: FakeBroker) -> None:
    event = await first_event(trigger(queue="NO_SUCH_QUEUE"))
    assert event.payload["status"] == "error"
    assert "ORA-24010" in event.payload["message"]


async def test_too_many_transient_errors_give_up(broker: FakeBroker) -> None:
    broker.failures.extend(db_error("ORA-03113: end-of-file on communication channel") for _ in range(3))
    event = await first_event(trigger(attempts=3))
    assert event.payload["status"] == "error"
    assert "ORA-03113" in event.payload["message"]


async def test_event_trigger_consumes_each_message_once_and_commits_after_handing_it_over(
    broker: FakeBroker,
) -> None:
    broker.publish("PAYROLL_FILES", b"GO")
    broker.publish("PAYROLL_FILES", b"GO AGAIN")
    t = OracleAQEventTrigger(queue="PAYROLL_FILES", consumer="PAYROLL_DAG", wait_seconds=1)
    gen = t.run()
    first = await gen.__anext__()
    # handed over but not yet committed: a crash now would leave it queued
    assert len(broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")) == 2
    second = await gen.__anext__()
    await gen.aclose()
    assert [first.payload["payload"], second.payload["payload"]] == ["GO", "GO AGAIN"]
    # the first was committed when the triggerer came back for the second; the second was
    # handed over but the trigger was closed before its commit, so it is queued again
    assert [m.payload for m in broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")] == [b"GO AGAIN"]
    # the other subscriber still has its own copies
    assert len(broker.pending_for("PAYROLL_FILES", "AUDIT")) == 2
    assert broker.dequeues[0]["mode"] == oracledb.DEQ_REMOVE
    assert broker.dequeues[0]["visibility"] == oracledb.DEQ_ON_COMMIT


async def test_event_trigger_cancelled_before_commit_leaves_the_message(broker: FakeBroker) -> None:
    broker.publish("PAYROLL_FILES", b"GO")
    t = OracleAQEventTrigger(queue="PAYROLL_FILES", consumer="PAYROLL_DAG", wait_seconds=1)
    gen = t.run()
    await gen.__anext__()
    await gen.aclose()  # the triggerer stopped before resuming the trigger: no commit
    assert len(broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")) == 1
    assert broker.open_sessions == 0

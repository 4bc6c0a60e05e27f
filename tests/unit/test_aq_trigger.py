"""The AQ triggers against the fake broker (tests/unit/aq_fakes.py): no database."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import oracledb
import pytest
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_oracle_tasks.db import transient
from airflow_provider_oracle_tasks.triggers import _aq_listener as aq_listener
from airflow_provider_oracle_tasks.triggers import _aq_reconnect as aq_reconnect
from airflow_provider_oracle_tasks.triggers import _aq_stream as aq_stream
from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger, OracleAQMessageTrigger
from tests.unit.aq_fakes import FakeBroker, install_aq
from tests.unit.fakes import db_error


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG", "AUDIT"])
    install_aq(monkeypatch, broker)
    monkeypatch.setattr(transient, "backoff_delay", lambda *a, **k: 0.0)  # retries of the poller
    monkeypatch.setattr(aq_listener, "LISTEN_INTERVAL", 0.02)
    monkeypatch.setattr(aq_reconnect, "LOGIN_GATE", aq_reconnect.LoginGate())
    monkeypatch.setattr(aq_listener, "LOGIN_GATE", aq_reconnect.LOGIN_GATE)
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
    # BROWSE without waiting, on the connection id's pooled session: nothing dedicated, nothing taken
    assert len(broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")) == 1
    first = broker.dequeues[0]
    assert (first["mode"], first["wait"], first["navigation"]) == (
        oracledb.DEQ_BROWSE,
        oracledb.DEQ_NO_WAIT,
        oracledb.DEQ_FIRST_MSG,
    )
    assert first["consumername"] == "PAYROLL_DAG"
    assert broker.sessions_by_kind == {"dedicated": 0, "pooled": 1, "sync": 0}


async def test_message_enqueued_while_waiting_is_seen_at_the_next_browse(broker: FakeBroker) -> None:
    task = asyncio.create_task(first_event(trigger(wait_seconds=1)))
    await asyncio.sleep(0.1)
    assert not task.done()
    broker.publish("PAYROLL_FILES", b"GO")
    event = await asyncio.wait_for(task, 2)
    assert event.payload["message"]["payload"] == "GO"


async def test_timeout_event_after_timeout_at(broker: FakeBroker) -> None:
    event = await first_event(trigger(timeout_at=time.time() + 0.1, wait_seconds=1))
    assert event.payload["status"] == "timeout"
    assert "PAYROLL_FILES" in event.payload["message"]
    assert broker.dequeues


async def test_correlation_filter_skips_other_messages(broker: FakeBroker) -> None:
    broker.publish("PAYROLL_FILES", b"february", correlation="2025-02")
    wanted = broker.publish("PAYROLL_FILES", b"march", correlation="2025-03")
    event = await first_event(trigger(correlation="2025-03%"))
    assert event.payload["message"]["msgid"] == wanted.hex().upper()
    # matched in Python (AQ's % and _ wildcards), so sensors with other correlations share the browse
    assert all(d["correlation"] is None for d in broker.dequeues)


def test_correlation_wildcards_follow_aq() -> None:
    match = aq_listener.correlation_matches
    assert match("2025-03%", "2025-03-01")
    assert match("2025-0_", "2025-03")
    assert match(None, None)
    assert not match("2025-03", "2025-031")
    assert not match("a.c", "abc")
    assert not match("x%", None)


async def test_condition_filter_is_passed_to_the_dequeue(broker: FakeBroker) -> None:
    condition = "tab.user_data.msg = 'GO'"
    broker.conditions[condition] = lambda payload: payload == b"GO"
    broker.publish("PAYROLL_FILES", b"WAIT")
    wanted = broker.publish("PAYROLL_FILES", b"GO")
    event = await first_event(trigger(condition=condition))
    assert event.payload["message"]["msgid"] == wanted.hex().upper()
    assert broker.dequeues[0]["condition"] == condition


async def test_transient_error_is_retried_then_gets_the_message(broker: FakeBroker) -> None:
    broker.failures.append(db_error("ORA-03113: end-of-file on communication channel"))
    broker.publish("PAYROLL_FILES", b"GO")
    event = await first_event(trigger())
    assert event.payload["status"] == "message"


async def test_permanent_error_is_an_error_event_with_the_cause(broker: FakeBroker) -> None:
    event = await first_event(trigger(queue="NO_SUCH_QUEUE"))
    assert event.payload["status"] == "error"
    assert "ORA-24010" in event.payload["message"]


async def test_many_waiting_sensors_share_one_session_and_one_browse_per_tick(broker: FakeBroker) -> None:
    """S-4: 100 waiting sensors of one (queue, consumer): one pooled session, one browse per tick,
    and a message resumes exactly one of them (only one could take it)."""
    tasks = [asyncio.create_task(first_event(trigger(wait_seconds=1), limit=10)) for _ in range(100)]
    await asyncio.sleep(0.2)
    browses = len(broker.dequeues)
    assert 1 <= browses <= 20  # about one per 20 ms tick, not one per sensor
    broker.publish("PAYROLL_FILES", b"GO")
    await asyncio.sleep(0.2)
    done = [t for t in tasks if t.done()]
    assert len(done) == 1
    assert done[0].result().payload["status"] == "message"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert broker.sessions_by_kind == {"dedicated": 0, "pooled": 1, "sync": 0}


async def test_a_credential_error_fails_the_wait_and_blocks_further_logins(broker: FakeBroker) -> None:
    broker.connect_failures.append(db_error("ORA-01017: invalid credential or not authorized; logon denied"))
    event = await first_event(trigger())
    assert event.payload["status"] == "error"
    assert "ORA-01017" in event.payload["message"]
    assert "Fix: check login and password" in event.payload["message"]
    assert broker.logins == 1
    second = await first_event(trigger())  # no second login within the gate's delay
    assert "no login to 'oracle_default'" in second.payload["message"]
    assert broker.logins == 1


# --- the AssetWatcher trigger --------------------------------------------------------------------


def watcher(**overrides: Any) -> OracleAQEventTrigger:
    kwargs: dict[str, Any] = {"queue": "PAYROLL_FILES", "consumer": "PAYROLL_DAG", "wait_seconds": 1}
    kwargs.update(overrides)
    return OracleAQEventTrigger(**kwargs)


async def test_event_trigger_standalone_run_removes_each_message_after_handing_it_over(
    broker: FakeBroker,
) -> None:
    broker.publish("PAYROLL_FILES", b"GO")
    broker.publish("PAYROLL_FILES", b"GO AGAIN")
    gen = watcher().run()
    first = await gen.__anext__()
    # handed over but not yet removed: a crash now would leave it queued
    assert len(broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")) == 2
    second = await gen.__anext__()
    await gen.aclose()
    assert [first.payload["payload"], second.payload["payload"]] == ["GO", "GO AGAIN"]
    # the first was removed when the triggerer came back for the second; the second was handed
    # over but the trigger was closed before its removal, so it is queued again
    assert [m.payload for m in broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")] == [b"GO AGAIN"]
    assert len(broker.pending_for("PAYROLL_FILES", "AUDIT")) == 2  # the other consumer's copies
    browse = [d for d in broker.dequeues if d["msgid"] is None]
    removal = [d for d in broker.dequeues if d["msgid"] is not None]
    assert {d["mode"] for d in browse} == {oracledb.DEQ_BROWSE}
    assert removal[0]["mode"] == oracledb.DEQ_REMOVE
    assert removal[0]["visibility"] == oracledb.DEQ_ON_COMMIT
    assert broker.open_sessions == 0


def test_event_triggers_of_one_queue_and_consumer_share_a_stream_key() -> None:
    a, b = watcher(), watcher(queue="payroll_files", consumer="payroll_dag")
    assert a.shared_stream_key() == b.shared_stream_key()
    assert a.shared_stream_key() != watcher(consumer="AUDIT").shared_stream_key()
    assert a.shared_stream_key() != watcher(condition="tab.user_data.x = 1").shared_stream_key()
    hash(a.shared_stream_key())


async def test_the_event_trigger_never_ends_on_a_wrong_password_and_logs_in_rarely(
    broker: FakeBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A-2: ORA-01017 three times, then the password is fixed: the trigger is still there, it waited
    the credential backoff each time (>= 30 s, shortened here), and logged the code and the fix."""
    waits: list[float] = []
    real_delay = aq_reconnect.reconnect_delay

    def short(exc: BaseException, failures: int) -> float:
        waits.append(real_delay(exc, failures))
        return 0.01

    monkeypatch.setattr(aq_stream, "reconnect_delay", short)
    monkeypatch.setattr(aq_stream, "LOGIN_GATE", aq_reconnect.LOGIN_GATE)
    denied = "ORA-01017: invalid credential or not authorized; logon denied"
    broker.connect_failures.extend(db_error(denied) for _ in range(3))
    broker.publish("PAYROLL_FILES", b"GO")
    gen = watcher().run()
    event = await asyncio.wait_for(gen.__anext__(), 5)
    await gen.aclose()
    assert event.payload["payload"] == "GO"
    assert broker.logins == 4  # three refused, then the browse session
    assert len(waits) == 3
    assert all(w >= aq_reconnect.CREDENTIAL_BASE_DELAY / 2 for w in waits)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1  # the same error is logged once, then as a short warning
    assert "ORA-01017" in errors[0].getMessage()
    assert "check login and password" in errors[0].getMessage()
    assert "FAILED_LOGIN_ATTEMPTS" in errors[0].getMessage()


def test_reconnect_delays_are_capped_and_credential_errors_wait_longest() -> None:
    credential = db_error("ORA-01017: invalid credential or not authorized; logon denied")
    missing = db_error("ORA-24010: QUEUE APP.X does not exist")
    lost = db_error("ORA-03113: end-of-file on communication channel")
    top = lambda: 1.0  # noqa: E731 - the largest jitter
    assert aq_reconnect.reconnect_delay(credential, 1, rand=top) == 60.0
    assert aq_reconnect.reconnect_delay(credential, 50, rand=top) == 600.0
    assert aq_reconnect.reconnect_delay(credential, 1, rand=lambda: 0.0) == 30.0  # never under 30 s
    assert aq_reconnect.reconnect_delay(missing, 50, rand=top) == 300.0
    assert aq_reconnect.reconnect_delay(lost, 50, rand=top) == 60.0


async def test_the_login_gate_holds_back_every_session_of_the_connection_id() -> None:
    now = [100.0]
    gate = aq_reconnect.LoginGate(clock=lambda: now[0])
    gate.block("oracle_default", 45.0, "ORA-01017")
    assert gate.remaining("oracle_default") == 45.0
    assert gate.remaining("other") == 0.0
    gate.block("oracle_default", 10.0, "ORA-01017")  # a shorter block never shortens the wait
    assert gate.remaining("oracle_default") == 45.0
    now[0] += 45.0
    await gate.wait("oracle_default")
    gate.clear("oracle_default")
    assert gate.remaining("oracle_default") == 0.0

"""Oracle AQ events on a REAL Oracle: operators, sensor + trigger, event trigger, OTASK.RAISE_EVENT.

Skipped without ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD (conftest.py). The triggers run their
real async thin-mode code against the database; only Airflow's scheduler is absent (the sensor's
``execute``/``execute_complete`` are called the way the task runner calls them).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import oracledb
import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
from airflow.triggers.shared_stream import SharedStreamManager

from airflow_provider_oracle_tasks.aq.queues import major_version
from airflow_provider_oracle_tasks.operators.aq import OracleAQCreateQueueOperator, OracleAQEnqueueOperator
from airflow_provider_oracle_tasks.sensors.aq import OracleAQEventSensor
from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger, OracleAQMessageTrigger

from .conftest import DSN, PASSWORD, USER

CONTEXT: Any = {}


@pytest.fixture(autouse=True)
def oracle_default(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"conn_type": "oracle", "login": USER, "password": PASSWORD, "extra": {"dsn": DSN}}
    monkeypatch.setenv("AIRFLOW_CONN_ORACLE_DEFAULT", json.dumps(value))


def _drop(connection: Any, queue_table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "begin dbms_aqadm.drop_queue_table(queue_table => :qt, force => true); "
            "exception when others then if sqlcode != -24002 then raise; end if; end;",
            qt=queue_table,
        )


@pytest.fixture
def queue(engine_conn: Any) -> Iterator[str]:
    """A fresh RAW queue with consumers C1 and C2, dropped afterwards."""
    name = f"OTASK_T_{secrets.token_hex(3).upper()}"
    OracleAQCreateQueueOperator(task_id="create", queue_name=name, subscribers=["C1", "C2"]).execute(CONTEXT)
    yield name
    _drop(engine_conn, f"{name}_QT")


def send(queue: str, payload: Any, **kwargs: Any) -> str:
    return str(
        OracleAQEnqueueOperator(task_id="send", queue_name=queue, payload=payload, **kwargs).execute(CONTEXT)
    )


def sensor(queue: str, consumer: str = "C1", **kwargs: Any) -> OracleAQEventSensor:
    return OracleAQEventSensor(
        task_id="wait", queue_name=queue, consumer=consumer, timeout=60, wait_seconds=5, **kwargs
    )


async def first_event(trigger: Any, limit: float = 30.0) -> Any:
    gen = trigger.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), limit)
    finally:
        await gen.aclose()


def pending(connection: Any, queue: str, consumer: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"select count(*) from aq${queue}_QT where msg_state = 'READY' and consumer_name = :c",
            c=consumer,
        )
        return int(cursor.fetchone()[0])


def test_create_queue_twice_creates_nothing_the_second_time(queue: str) -> None:
    again = OracleAQCreateQueueOperator(task_id="again", queue_name=queue, subscribers=["C1", "C2"])
    assert again.execute(CONTEXT)["created"] == []


def test_enqueue_then_the_deferred_sensor_resumes_with_the_payload(queue: str, engine_conn: Any) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        sensor(queue).execute(CONTEXT)
    trigger = deferred.value.trigger

    async def scenario() -> Any:
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await asyncio.to_thread(send, queue, {"file": "pay_202503.csv"}, correlation="2025-03")
        event = await waiting
        return event, time.monotonic() - started

    event, latency = asyncio.run(scenario())
    assert event.payload["status"] == "message"
    assert latency < 2.5, f"enqueue-to-event took {latency:.3f} s"  # one shared browse per second
    result = sensor(queue).execute_complete(CONTEXT, event.payload)
    assert result["payload"] == {"file": "pay_202503.csv"}
    assert pending(engine_conn, queue, "C1") == 0
    assert pending(engine_conn, queue, "C2") == 1  # the other consumer keeps its copy


def test_trigger_killed_after_seeing_the_message_loses_nothing(queue: str, engine_conn: Any) -> None:
    msgid = send(queue, "GO")
    first = asyncio.run(first_event(OracleAQMessageTrigger(queue=queue, consumer="C1", wait_seconds=5)))
    assert first.payload["message"]["msgid"] == msgid
    # the triggerer dies here: the task never resumed. The message is still queued...
    assert pending(engine_conn, queue, "C1") == 1
    # ...and the next attempt (a new trigger) gets the same message, which the task then takes once
    second = asyncio.run(first_event(OracleAQMessageTrigger(queue=queue, consumer="C1", wait_seconds=5)))
    assert second.payload["message"]["msgid"] == msgid
    assert sensor(queue).execute_complete(CONTEXT, second.payload)["msgid"] == msgid
    assert pending(engine_conn, queue, "C1") == 0
    with pytest.raises(TaskDeferred):  # gone: waits for the next one, takes nothing twice
        sensor(queue).execute_complete(CONTEXT, second.payload)


def test_two_consumers_each_get_their_copy(queue: str) -> None:
    msgid = send(queue, "GO")
    assert sensor(queue, "C1").execute(CONTEXT)["msgid"] == msgid
    assert sensor(queue, "C2").execute(CONTEXT)["msgid"] == msgid
    with pytest.raises(TaskDeferred):
        sensor(queue, "C1").execute(CONTEXT)


def test_correlation_filter(queue: str) -> None:
    send(queue, "feb", correlation="2025-02")
    wanted = send(queue, "mar", correlation="2025-03")
    assert sensor(queue, correlation="2025-03").execute(CONTEXT)["msgid"] == wanted


def test_event_trigger_consumes_and_commits(queue: str, engine_conn: Any) -> None:
    send(queue, "GO")

    async def scenario() -> Any:
        gen = OracleAQEventTrigger(queue=queue, consumer="C2", wait_seconds=2).run()
        event = await gen.__anext__()
        waiting = asyncio.create_task(gen.__anext__())  # resumes: commits, then waits again
        await asyncio.sleep(1.0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await gen.aclose()
        return event

    assert asyncio.run(scenario()).payload["payload"] == "GO"
    assert pending(engine_conn, queue, "C2") == 0


def test_json_payload_queue(engine_conn: Any) -> None:
    if major_version(engine_conn) < 21:
        pytest.skip(f"JSON payload queues need Oracle 21c or later; this database is {engine_conn.version}")
    name = f"OTASK_J_{secrets.token_hex(3).upper()}"
    try:
        OracleAQCreateQueueOperator(
            task_id="c", queue_name=name, payload_type="JSON", subscribers=["C1"]
        ).execute(CONTEXT)
        send(name, {"file": "x.csv", "rows": 3}, payload_type="JSON")
        result = sensor(name, payload_type="JSON").execute(CONTEXT)
        assert result["payload"] == {"file": "x.csv", "rows": 3}
        with engine_conn.cursor() as cursor:
            cursor.callproc(
                "otask.raise_event",
                keyword_parameters={"p_queue": name, "p_payload": '{"go": true}'},
            )
        engine_conn.commit()
        assert sensor(name, payload_type="JSON").execute(CONTEXT)["payload"] == {"go": True}
    finally:
        _drop(engine_conn, f"{name}_QT")


def test_raise_event_on_a_raw_queue_is_part_of_the_callers_transaction(queue: str, engine_conn: Any) -> None:
    with engine_conn.cursor() as cursor:
        cursor.callproc(
            "otask.raise_event",
            keyword_parameters={
                "p_queue": queue,
                "p_payload": "GO",
                "p_correlation": "x",
                "p_consumers": "C1",
            },
        )
    engine_conn.rollback()
    with pytest.raises(TaskDeferred):
        sensor(queue).execute(CONTEXT)  # rolled back: no event
    with engine_conn.cursor() as cursor:
        cursor.callproc(
            "otask.raise_event",
            keyword_parameters={"p_queue": queue, "p_payload": "GO", "p_consumers": "C1"},
        )
    engine_conn.commit()
    assert sensor(queue).execute(CONTEXT)["payload"] == "GO"
    with pytest.raises(TaskDeferred):
        sensor(queue, "C2").execute(CONTEXT)  # addressed to C1 only


@pytest.mark.parametrize(
    ("queue_arg", "code"),
    [
        ("NO_SUCH_QUEUE_X", "ORA-20112"),
        ("OTASK_EVENTS", "ORA-20113"),
        ("SYS.X", "ORA-20113"),
        ("a b", "ORA-20103"),
    ],
)
def test_raise_event_refuses_bad_queues(engine_conn: Any, queue_arg: str, code: str) -> None:
    with pytest.raises(oracledb.DatabaseError, match=code), engine_conn.cursor() as cursor:
        cursor.callproc("otask.raise_event", keyword_parameters={"p_queue": queue_arg, "p_payload": "GO"})


def test_seed_004_event_based_scheduler_job_is_started_by_raise_event(engine_conn: Any) -> None:
    """Seed 004's backup example: an object-type queue, a job with queue_spec and event_condition."""
    suffix = secrets.token_hex(3).upper()
    msg_type, queue, job, table = (
        f"OTASK_T_MSG_{suffix}",
        f"OTASK_T_BQ_{suffix}",
        f"OTASK_T_JOB_{suffix}",
        f"OTASK_T_RAN_{suffix}",
    )
    with engine_conn.cursor() as cursor:
        cursor.execute(f"create type {msg_type} as object (msg varchar2(20))")
        cursor.execute(f"create table {table} (ran_at timestamp)")
        try:
            OracleAQCreateQueueOperator(
                task_id="c", queue_name=queue, payload_type=msg_type, subscribers=[]
            ).execute(CONTEXT)
            cursor.execute(
                """begin dbms_scheduler.create_job(job_name => :job, job_type => 'PLSQL_BLOCK',
                     job_action => :action, event_condition => 'tab.user_data.msg = ''GO''',
                     queue_spec => :queue_spec, enabled => true, auto_drop => false); end;""",
                job=job,
                action=f"begin insert into {table} values (systimestamp); commit; end;",
                queue_spec=queue,
            )
            cursor.callproc("otask.raise_event", keyword_parameters={"p_queue": queue, "p_payload": "GO"})
            engine_conn.commit()
            deadline = time.monotonic() + 60
            while True:
                cursor.execute(f"select count(*) from {table}")
                if cursor.fetchone()[0]:
                    break
                assert time.monotonic() < deadline, "the event-based job did not run within 60 s"
                time.sleep(0.5)
        finally:
            cursor.execute(
                "begin dbms_scheduler.drop_job(:job, force => true); exception when others then null; end;",
                job=job,
            )
            _drop(engine_conn, f"{queue}_QT")
            cursor.execute(f"drop table {table} purge")
            cursor.execute(f"drop type {msg_type} force")


def test_a_message_gone_before_the_sensor_resumes_is_the_documented_outcome(queue: str) -> None:
    """Q-2: Oracle answers the dequeue by a msgid that is gone with ORA-25263; the sensor skips."""
    send(queue, "GO")
    seen = asyncio.run(first_event(OracleAQMessageTrigger(queue=queue, consumer="C1", wait_seconds=5)))
    sensor(queue).execute(CONTEXT)  # another task reading as C1 takes it first
    with pytest.raises(AirflowSkipException, match="no longer there"):
        sensor(queue, if_message_gone="skip").execute_complete(CONTEXT, seen.payload)


def test_a_raw_queue_condition_on_the_payload_text(queue: str) -> None:
    """Q-7: the condition of example_dags/aq_asset_watcher.py on a RAW payload."""
    send(queue, "WAIT")
    wanted = send(queue, "GO")
    waiting = sensor(queue, condition="utl_raw.cast_to_varchar2(tab.user_data) = 'GO'")
    assert waiting.execute(CONTEXT)["msgid"] == wanted


def test_the_asset_watcher_removes_a_message_only_after_its_event_is_stored(
    queue: str, engine_conn: Any
) -> None:
    """Q-3 / item 4 on a real queue, driven by Airflow's SharedStreamManager (ack mode): browsed
    while the event is not stored, kept across a crash, removed after the persist confirmation."""
    send(queue, "GO")
    watcher = OracleAQEventTrigger(queue=queue, consumer="C2", wait_seconds=2)
    key = watcher.shared_stream_key()

    async def one_triggerer(store: bool) -> list[Any]:
        manager = SharedStreamManager(ack_timeout=60)
        events: list[Any] = []

        async def subscriber() -> None:
            stream = manager.subscribe(trigger_id=1, trigger=watcher, key=key)
            try:
                async for event in watcher.filter_shared_stream(stream):
                    events.append((event, manager.bind_pending_event(trigger_id=1, key=key)))
            finally:
                await manager.unsubscribe(1, key)

        task = asyncio.create_task(subscriber())
        deadline = time.monotonic() + 30
        while not events and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a list
            await asyncio.sleep(0.1)
        if store:
            manager.confirm_persisted([seq for _, seq in events if seq is not None])
            while pending(engine_conn, queue, "C2") and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.stop_all()
        return events

    first = asyncio.run(one_triggerer(store=False))  # dies before the event is stored
    assert len(first) == 1
    assert pending(engine_conn, queue, "C2") == 1  # no loss
    second = asyncio.run(one_triggerer(store=True))
    assert [e.payload["msgid"] for e, _ in second] == [first[0][0].payload["msgid"]]
    assert pending(engine_conn, queue, "C2") == 0
    assert pending(engine_conn, queue, "C1") == 1  # the other consumer's copy stays

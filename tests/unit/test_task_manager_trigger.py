"""The wait-for-completion trigger and its shared watcher, against the counting async fake driver.

Only python-oracledb's asyncio API is faked (``AsyncFakeDriver``); Airflow's BaseTrigger, the
connection lookup and the shared pools are real. These tests prove the Python side: which SQL
and binds are sent, how many sessions and status reads there are, and how errors, timeouts,
messages and cancellation are handled. tests/integration runs the same code on a real Oracle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import oracledb
import pytest
from oracledb import errors as ora_errors

from airflow_provider_oracle_tasks.triggers import _instance_watcher as instance_watcher
from airflow_provider_oracle_tasks.triggers import task_manager
from airflow_provider_oracle_tasks.triggers._instance_watcher import (
    CompletionListener,
    InstanceWatcher,
    WatcherRegistry,
    WatcherStats,
)
from airflow_provider_oracle_tasks.triggers.task_manager import (
    OracleTaskManagerInstanceTrigger,
    ProgressLog,
)
from tests.unit.driver_errors import driver_exception
from tests.unit.engine_fakes import (
    STATUS_PATTERN,
    AsyncFakeDriver,
    EngineFakeConnection,
    by_ids,
    engine_answers,
    patch_connect,
    sequence,
    status_row,
)
from tests.unit.fakes import FakeVar, db_error

RUNNING = {"READY": 2, "RUNNING": 2, "SUCCEEDED": 1}
DONE = {"SUCCEEDED": 5}
FAILED_ROW = (42, 17, "load_sales", "FAILED", -1476, "ORA-01476: divisor is equal to zero\nORA-06512: x", 1)


def rows(state: str = "RUNNING", counts: dict[str, int] | None = None, ids: tuple[int, ...] = (42,)) -> Any:
    return by_ids({i: [status_row(i, state, counts=counts or RUNNING)] for i in ids})


def lost_session() -> oracledb.Error:
    """DPY-4011 as thin mode raises it for a dead session: transient."""
    exc = driver_exception(ora_errors.ERR_CONNECTION_CLOSED)
    assert isinstance(exc, oracledb.Error)
    return exc


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)  # also sets AIRFLOW_CONN_ORACLE_DEFAULT
    return connection


@pytest.fixture
def driver(db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch) -> AsyncFakeDriver:
    fake = AsyncFakeDriver(db).install(monkeypatch)

    def no_blocking_sleep(_: float) -> None:
        raise AssertionError("time.sleep called: async code must not block the event loop")

    monkeypatch.setattr(time, "sleep", no_blocking_sleep)
    return fake


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> WatcherRegistry:
    """A registry without backoff delays, used by every trigger of the test."""
    fresh = WatcherRegistry(base_delay=0.0, max_delay=0.0)
    monkeypatch.setattr(task_manager, "shared_watchers", fresh)
    monkeypatch.setattr(instance_watcher, "_FALLBACK_LOGGED", set())
    return fresh


def trigger(instance_id: int = 42, **kwargs: Any) -> OracleTaskManagerInstanceTrigger:
    return OracleTaskManagerInstanceTrigger(instance_id=instance_id, **{"poll_interval": 0.1, **kwargs})


async def first_event(t: OracleTaskManagerInstanceTrigger, limit: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(limit):
        async for event in t.run():
            return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def status_reads(db: EngineFakeConnection) -> list[list[int]]:
    """The ``:ids`` of every STATUS_SQL statement sent, in order."""
    reads = []
    for sql, binds in db.calls():
        if "from otask_instances_v i\n where i.instance_id in" in sql:
            ids = binds["ids"]
            reads.append(json.loads(ids.getvalue() if isinstance(ids, FakeVar) else ids))
    return reads


# --- serialization ---------------------------------------------------------------------------


def test_serialize_round_trips_through_json_and_the_classpath() -> None:
    from airflow.sdk._shared.module_loading import import_string

    original = OracleTaskManagerInstanceTrigger(
        instance_id=7, oracle_conn_id="ora", poll_interval=12, timeout_at=1.5e9, on_kill_mode="hard"
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_oracle_tasks.triggers.task_manager.OracleTaskManagerInstanceTrigger"
    assert kwargs == {
        "instance_id": 7,
        "oracle_conn_id": "ora",
        "poll_interval": 12.0,
        "timeout_at": 1.5e9,
        "on_kill_mode": "HARD",
        "progress_log_interval": 60.0,
    }
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instance_id": 0}, "instance_id=0 must be a whole number from 1"),
        ({"instance_id": 1, "on_kill_mode": "kill"}, "on_kill_mode='kill' must be 'SOFT'"),
    ],
)
def test_bad_trigger_arguments_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OracleTaskManagerInstanceTrigger(**kwargs)


# --- outcomes ----------------------------------------------------------------------------------


async def test_success_after_polling_with_one_batched_read_per_tick(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, sequence(rows(), rows(), rows("SUCCEEDED", DONE)))
    event = await first_event(trigger())
    assert event["status"] == "finished"
    assert event["instance"]["state"] == "SUCCEEDED"
    assert event["instance"]["counts"]["SUCCEEDED"] == 5
    assert status_reads(db) == [[42], [42], [42]]
    kinds = [sql.split()[0] for sql, _ in db.calls() if not sql.startswith("select sys_context")]
    assert kinds == ["declare", "select", "select"] * 3  # watchdog, status, failed tasks
    json.dumps(event)  # JSON-safe


async def test_failure_event_carries_the_failed_tasks(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows("FAILED", {"SUCCEEDED": 4, "FAILED": 1}), failed=[FAILED_ROW])
    event = await first_event(trigger())
    assert event["instance"]["state"] == "FAILED"
    (problem,) = event["instance"]["failed_tasks"]
    assert (problem["name"], problem["error_code"]) == ("load_sales", -1476)
    assert problem["message_first_line"] == "ORA-01476: divisor is equal to zero"


async def test_a_lost_instance_is_a_finished_event_in_state_missing(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, by_ids({}))
    event = await first_event(trigger(9))
    assert event["status"] == "finished"
    assert event["instance"]["state"] == "MISSING"


async def test_timeout_fires_with_the_last_status(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows())
    started = time.monotonic()
    event = await first_event(trigger(timeout_at=time.time() + 0.35))
    assert event["status"] == "timeout"
    assert 0.3 <= time.monotonic() - started < 2
    assert event["instance"]["state"] == "RUNNING"
    assert "did not finish before the task's timeout (instance 42 RUNNING: 1/5 done" in event["message"]


async def test_timeout_already_passed_fires_at_once(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows())
    event = await first_event(trigger(timeout_at=time.time() - 1))
    assert (event["status"], event["instance"]) == ("timeout", None)
    assert status_reads(db) == []


async def test_transient_error_is_retried_then_success(
    db: EngineFakeConnection,
    driver: AsyncFakeDriver,
    registry: WatcherRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine_answers(db, sequence(lost_session(), lost_session(), rows("SUCCEEDED", DONE)))
    with caplog.at_level(logging.WARNING):
        event = await first_event(trigger())
    assert event["instance"]["state"] == "SUCCEEDED"
    assert len(status_reads(db)) == 3
    assert "Transient Oracle error DPY-4011" in caplog.text


async def test_non_transient_error_ends_the_wait_with_its_ora_code(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, db_error("ORA-00942: table or view does not exist"))
    event = await first_event(trigger())
    assert event["status"] == "error"
    assert event["instance_id"] == 42
    assert "ORA-00942" in event["message"]
    assert len(status_reads(db)) == 1  # not retried


async def test_transient_errors_beyond_the_budget_are_logged_and_polling_goes_on(
    db: EngineFakeConnection, driver: AsyncFakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = WatcherRegistry(base_delay=0.0, max_delay=0.0, attempts=1)
    monkeypatch.setattr(task_manager, "shared_watchers", fresh)
    engine_answers(db, sequence(lost_session(), rows("SUCCEEDED", DONE)))
    event = await first_event(trigger())
    assert event["instance"]["state"] == "SUCCEEDED"
    assert len(status_reads(db)) == 2


# --- completion messages and sharing ------------------------------------------------------------


async def test_a_completion_message_wakes_the_poller_at_once(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows("SUCCEEDED", DONE))
    run = asyncio.create_task(first_event(trigger(poll_interval=60)))
    await asyncio.sleep(0.2)  # subscribed, listener browsing; no read yet (first tick is 60 s away)
    assert status_reads(db) == []
    started = time.monotonic()
    driver.events.publish(7)  # another instance: nobody waits for it here, no read
    driver.events.publish(42)
    event = await run
    assert time.monotonic() - started < 1.0
    assert event["instance"]["state"] == "SUCCEEDED"
    assert status_reads(db) == [[42]]
    (queue,) = driver.queues
    options = queue.deqoptions
    assert queue.name == "APP.OTASK_EVENTS"
    assert queue.payload_type == "type APP.OTASK_EVENT_T"
    assert (options.consumername, options.mode, options.navigation, options.wait) == (
        "OTASK_WATCH",
        oracledb.DEQ_BROWSE,
        oracledb.DEQ_NEXT_MSG,
        30,
    )
    assert options.condition == "tab.user_data.event_time_utc >= timestamp '2025-03-01 11:50:00.000000'"


async def test_wake_up_reads_the_woken_instance_and_the_message_is_only_a_hint(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    """The message says 42 closed, but the status read is the truth: still RUNNING, keep waiting."""
    engine_answers(db, sequence(rows(), rows("SUCCEEDED", DONE)))
    run = asyncio.create_task(first_event(trigger(poll_interval=0.5)))
    await asyncio.sleep(0.1)
    driver.events.publish(42)
    event = await run
    assert event["instance"]["state"] == "SUCCEEDED"
    assert len(status_reads(db)) == 2  # the woken read saw RUNNING, the next tick SUCCEEDED


async def test_many_triggers_share_one_read_per_tick_and_two_sessions(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    ids = tuple(range(100, 150))
    engine_answers(db, sequence(rows(ids=ids), rows(ids=ids), rows("SUCCEEDED", DONE, ids=ids)))
    events = await asyncio.gather(*(first_event(trigger(i, poll_interval=0.2)) for i in ids))
    assert {e["instance"]["instance_id"] for e in events} == set(ids)
    assert status_reads(db) == [list(ids)] * 3  # one statement for all 50, per tick
    assert driver.sessions_opened == {"pooled": 1, "dedicated": 1}
    assert driver.max_open_sessions == 2


async def test_triggers_that_subscribe_at_different_times_join_the_same_tick(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows(ids=(1, 2, 3)))
    watcher = registry_watcher(registry)
    runs = []
    for instance_id in (1, 2, 3):
        runs.append(asyncio.create_task(first_event(trigger(instance_id, poll_interval=0.3))))
        await asyncio.sleep(0.07)
    await asyncio.sleep(1.0)
    reads = status_reads(db)
    assert reads[0] == [1, 2, 3]  # the late subscribers did not get reads of their own
    assert all(read == [1, 2, 3] for read in reads)
    assert 2 <= len(reads) <= 4
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    await asyncio.sleep(0)
    assert not watcher.active


def registry_watcher(registry: WatcherRegistry) -> InstanceWatcher:
    return registry.get("oracle_default")


async def test_a_slow_subscriber_is_read_on_its_own_interval_only(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows(ids=(1, 2)))
    fast = asyncio.create_task(first_event(trigger(1, poll_interval=0.1)))
    slow = asyncio.create_task(first_event(trigger(2, poll_interval=0.5)))
    await asyncio.sleep(1.05)
    reads = status_reads(db)
    with_slow = [read for read in reads if 2 in read]
    assert len(reads) >= 8
    assert 2 <= len(with_slow) <= 3
    fast.cancel()
    slow.cancel()
    await asyncio.gather(fast, slow, return_exceptions=True)


async def test_without_aq_the_watcher_polls_and_logs_it_once(
    db: EngineFakeConnection,
    driver: AsyncFakeDriver,
    registry: WatcherRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine_answers(db, sequence(rows(ids=(42, 43)), rows("SUCCEEDED", DONE, ids=(42, 43))))
    driver.queue_error = oracledb.NotSupportedError("DPY-3000: not supported in this mode")
    with caplog.at_level(logging.WARNING):
        first = await first_event(trigger())
        second = await first_event(trigger(43, poll_interval=0.1))
    assert first["instance"]["state"] == "SUCCEEDED"
    assert second["instance"]["state"] == "SUCCEEDED"
    # Once in the triggerer's log, once in the context of the trigger that was waiting then (its
    # task log); the second trigger subscribed later and is not told again.
    assert caplog.text.count("fall back to polling") == 2
    assert "DPY-3000" in caplog.text
    assert registry_watcher(registry).stats.listener_state.startswith("polling only")


async def test_listener_reconnects_after_a_transient_error(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows("SUCCEEDED", DONE))
    driver.listener_failures = [lost_session()]
    run = asyncio.create_task(first_event(trigger(poll_interval=60)))
    await asyncio.sleep(0.3)
    driver.events.publish(42)
    event = await run
    assert event["instance"]["state"] == "SUCCEEDED"
    assert status_reads(db) == [[42]]  # woken by the reconnected listener, not by a tick
    assert driver.sessions_opened["dedicated"] == 2
    assert driver.max_open_sessions <= 2


async def test_listener_gives_up_after_repeated_transient_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = WatcherStats()
    listener = CompletionListener("oracle_default", stats, max_failures=2, base_delay=0.0, max_delay=0.0)
    attempts: list[str] = []

    @contextlib.asynccontextmanager
    async def unreachable(conn_id: str, **kwargs: Any) -> AsyncIterator[Any]:
        attempts.append(conn_id)
        raise lost_session()
        yield  # an async generator, like the real context manager

    monkeypatch.setattr(instance_watcher, "dedicated_connection", unreachable)
    monkeypatch.setattr(instance_watcher, "_FALLBACK_LOGGED", set())
    await asyncio.wait_for(listener.run(lambda _: None), 2)
    assert len(attempts) == 3  # the first try and two reconnects
    assert stats.listener_state.startswith("polling only: DPY-4011")


# --- lifecycle ---------------------------------------------------------------------------------


async def test_cancelled_trigger_unsubscribes_and_the_watcher_closes_its_listener(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, rows())
    run = asyncio.create_task(first_event(trigger()))
    await asyncio.sleep(0.3)
    watcher = registry_watcher(registry)
    assert watcher.active
    assert watcher.subscriber_count == 1
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(0.05)
    assert not watcher.active
    assert watcher.subscriber_count == 0
    assert driver.open_sessions == 1  # only the idle pooled session; the listener's is closed
    # A new waiter starts the watcher again.
    db.rules.insert(0, (STATUS_PATTERN, rows("SUCCEEDED", DONE)))
    assert (await first_event(trigger()))["instance"]["state"] == "SUCCEEDED"
    assert driver.max_open_sessions == 2


async def test_the_same_trigger_run_twice_gets_the_same_event_and_writes_nothing(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    engine_answers(db, sequence(rows(), rows("SUCCEEDED", DONE)))
    t = trigger()
    first, second = await asyncio.gather(first_event(t), first_event(t))
    assert first == second
    assert not any(sql.startswith("callproc") for sql, _ in db.calls())


async def test_on_kill_stops_the_instance_in_the_configured_mode(
    db: EngineFakeConnection, driver: AsyncFakeDriver, registry: WatcherRegistry
) -> None:
    await trigger(on_kill_mode="soft").on_kill()
    await trigger(43).on_kill()  # no mode: a sensor on somebody else's batch stops nothing
    assert [c for c in db.calls() if c[0].startswith("callproc")] == [
        ("callproc otask.stop", {"p_instance_id": 42, "p_mode": "SOFT"})
    ]


async def test_on_kill_maps_engine_errors() -> None:
    from airflow_provider_oracle_tasks.engine.errors import UnknownInstanceError

    connection = EngineFakeConnection().on("otask.stop", db_error("ORA-20100: OTASK.STOP: no instance 42"))
    driver = AsyncFakeDriver(connection)
    with pytest.MonkeyPatch.context() as patch:
        patch_connect(patch, connection)
        driver.install(patch)
        with pytest.raises(UnknownInstanceError, match="ORA-20100"):
            await trigger(on_kill_mode="hard").on_kill()


async def test_the_poller_reads_nothing_for_an_unsubscribed_id() -> None:
    reads: list[list[int]] = []

    async def read(conn_id: str, ids: list[int]) -> dict[int, Any]:
        reads.append(ids)
        return {}

    watcher = InstanceWatcher("x", read=read, listen=False)
    sub = watcher.subscribe(5, 0.1)
    watcher.notify(6)  # nobody waits for 6
    watcher.unsubscribe(sub)
    await asyncio.sleep(0.2)
    assert reads == []
    assert watcher.stats.wakeups == 0
    await watcher.aclose()


async def test_a_poller_bug_fails_the_waiters_instead_of_hanging_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def read(conn_id: str, ids: list[int]) -> dict[int, Any]:
        return {}

    watcher = InstanceWatcher("x", read=read, listen=False)
    monkeypatch.setattr(watcher, "_due", lambda now, tick: 1 / 0)  # a bug inside the poll loop
    sub = watcher.subscribe(5, 0.1)
    reading = await asyncio.wait_for(sub.next(), 2)
    assert isinstance(reading, instance_watcher.ReadProblem)
    assert not reading.transient
    assert "ZeroDivisionError" in reading.message
    watcher.unsubscribe(sub)
    await watcher.aclose()


async def test_an_id_missing_from_a_read_is_reported_missing() -> None:
    async def read(conn_id: str, ids: list[int]) -> dict[int, Any]:
        return {}

    watcher = InstanceWatcher("x", read=read, listen=False)
    sub = watcher.subscribe(5, 0.1)
    reading = await asyncio.wait_for(sub.next(), 2)
    assert getattr(reading, "state", None) == "MISSING"
    watcher.unsubscribe(sub)
    await watcher.aclose()


# --- progress logging --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_on_change_at_most_once_per_interval_plus_heartbeat_and_end() -> None:
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus, parse_statuses

    def status(state: str, done: int) -> InstanceStatus:
        row = status_row(1, state, counts={"SUCCEEDED": done, "READY": 10 - done})
        return parse_statuses([1], [row], [])[1]

    clock = FakeClock()
    lines: list[str] = []

    class Log:
        def info(self, fmt: str, *args: Any) -> None:
            lines.append(fmt % args)

        def warning(self, fmt: str, *args: Any) -> None:
            lines.append("WARN " + fmt % args)

    progress = ProgressLog(Log(), interval=60, clock=clock)
    assert progress.update(status("RUNNING", 1))  # first reading
    clock.now = 10
    assert not progress.update(status("RUNNING", 2))  # changed, but too soon
    clock.now = 61
    assert progress.update(status("RUNNING", 2))  # changed and due
    clock.now = 200
    assert not progress.update(status("RUNNING", 2))  # unchanged
    clock.now = 661
    assert progress.update(status("RUNNING", 2))  # heartbeat after 10 intervals
    clock.now = 662
    assert progress.update(status("SUCCEEDED", 10))  # the end, always
    assert progress.problem("DPY-4011 ...")
    assert not progress.problem("DPY-4011 ...")
    assert len(lines) == 5
    assert lines[-2].startswith("instance 1 SUCCEEDED: 10/10 done")

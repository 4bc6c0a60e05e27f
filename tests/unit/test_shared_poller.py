"""The shared poller at scale and its log context: review findings A-4, A-16, S-3, S-6, S-7.

Only python-oracledb's asyncio API is faked (``AsyncFakeDriver``) or the read is a plain
coroutine; nothing here is timed for performance (benchmarks/triggerer_fanout.py measures that).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest

from airflow_provider_oracle_tasks.engine.status import (
    PARSE_SLICE,
    InstanceStatus,
    parse_statuses,
    parse_statuses_async,
)
from airflow_provider_oracle_tasks.triggers import _instance_watcher as instance_watcher
from airflow_provider_oracle_tasks.triggers import _shared_poller as shared_poller
from airflow_provider_oracle_tasks.triggers import task_manager
from airflow_provider_oracle_tasks.triggers._instance_watcher import InstanceWatcher, WatcherRegistry
from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger
from tests.unit.engine_fakes import (
    AsyncFakeDriver,
    EngineFakeConnection,
    by_ids,
    engine_answers,
    patch_connect,
    status_row,
)
from tests.unit.test_task_manager_trigger import lost_session

TRIGGER_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("trigger_id", default=None)
"""Stands in for the structlog contextvars Airflow's triggerer binds in run_trigger."""


def running(ids: list[int]) -> dict[int, InstanceStatus]:
    rows = [status_row(i, "RUNNING", counts={"RUNNING": 1}) for i in ids]
    return parse_statuses(ids, rows, [])


class ContextRecorder(logging.Handler):
    """Records (trigger_id in force when the line was logged, message)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[tuple[str | None, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((TRIGGER_ID.get(), record.getMessage()))


@pytest.fixture
def recorder() -> Any:
    handler = ContextRecorder()
    logger = logging.getLogger(instance_watcher.__name__)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def subscribe_as(watcher: InstanceWatcher, trigger_id: str, key: int, interval: float) -> Any:
    """Subscribe from a task whose context says ``trigger_id`` (as run_trigger's task does)."""

    async def inner() -> Any:
        TRIGGER_ID.set(trigger_id)
        return watcher.subscribe(key, interval)

    return await asyncio.create_task(inner())


# --- the shared tasks run in a fresh context; warnings reach every affected task ------------


async def test_the_shared_read_does_not_run_in_the_first_subscribers_context() -> None:
    seen: list[str | None] = []

    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        seen.append(TRIGGER_ID.get())
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False)
    first = await subscribe_as(watcher, "trigger-1", 1, 0.1)
    second = await subscribe_as(watcher, "trigger-2", 2, 0.1)
    await asyncio.wait_for(first.next(), 2)
    await asyncio.wait_for(second.next(), 2)
    assert seen
    assert set(seen) == {None}  # neither trigger's context
    assert first.context.get(TRIGGER_ID) == "trigger-1"
    await watcher.aclose()


async def test_a_retry_warning_reaches_the_triggerer_log_and_every_waiting_tasks_log(
    recorder: ContextRecorder,
) -> None:
    calls = 0

    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise lost_session()
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False, base_delay=0.0, max_delay=0.0)
    subs = [await subscribe_as(watcher, f"trigger-{i}", i, 0.1) for i in (1, 2, 3)]
    for sub in subs:
        reading = await asyncio.wait_for(sub.next(), 2)
        assert isinstance(reading, InstanceStatus)
    await asyncio.sleep(0.01)
    retries = [(where, line) for where, line in recorder.lines if "Transient Oracle error DPY-4011" in line]
    assert sorted(where or "triggerer" for where, _ in retries) == [
        "trigger-1",
        "trigger-2",
        "trigger-3",
        "triggerer",
    ]
    await watcher.aclose()


async def test_the_fallback_warning_reaches_the_tasks_waiting_then(
    recorder: ContextRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instance_watcher, "_FALLBACK_LOGGED", set())
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    engine_answers(connection, by_ids({}))
    driver = AsyncFakeDriver(connection).install(monkeypatch)
    import oracledb

    driver.queue_error = oracledb.NotSupportedError("DPY-3000: not supported in this mode")
    watcher = InstanceWatcher("oracle_default", base_delay=0.0, max_delay=0.0)
    await subscribe_as(watcher, "trigger-7", 7, 60)
    await subscribe_as(watcher, "trigger-8", 8, 60)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len([1 for _, line in recorder.lines if "fall back to polling" in line]) >= 3:
            break
    where = sorted(w or "triggerer" for w, line in recorder.lines if "fall back to polling" in line)
    assert where == ["trigger-7", "trigger-8", "triggerer"]
    await watcher.aclose()


# --- a new poller does not wait for the old listener ----------------------------------


async def test_a_new_poller_reads_while_the_old_listener_is_still_closing() -> None:
    reads: list[float] = []
    loop = asyncio.get_running_loop()

    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        reads.append(loop.time())
        return running(ids)

    watcher = InstanceWatcher("x", read=read)
    closing = asyncio.Event()
    listeners_started: list[float] = []

    async def slow_to_close(notify: Any) -> None:
        listeners_started.append(loop.time())
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            closing.set()
            await asyncio.sleep(1.0)  # a session close that waits for the server's reply
            raise

    watcher._listener.run = slow_to_close  # type: ignore[method-assign]
    sub = watcher.subscribe(1, 0.1)
    await asyncio.sleep(0.05)
    watcher.unsubscribe(sub)
    await asyncio.wait_for(closing.wait(), 1)
    restarted = loop.time()
    sub = watcher.subscribe(1, 0.1)
    await asyncio.wait_for(sub.next(), 0.6)  # long before the old listener has closed
    assert reads
    assert reads[-1] - restarted < 0.6
    assert len(listeners_started) == 1  # the new listener waits for the old one's session
    await asyncio.sleep(1.1)
    assert len(listeners_started) == 2
    watcher.unsubscribe(sub)
    await watcher.aclose()


# --- S-3: a burst of completions is drained in a few array dequeues -------------------------------


async def test_a_burst_of_completions_is_drained_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = list(range(1000, 2000))
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    done = {i: [status_row(i, "SUCCEEDED", counts={"SUCCEEDED": 1})] for i in ids}
    engine_answers(connection, by_ids(done))
    driver = AsyncFakeDriver(connection).install(monkeypatch)
    registry = WatcherRegistry(base_delay=0.0, max_delay=0.0)
    monkeypatch.setattr(task_manager, "shared_watchers", registry)

    async def first(instance_id: int) -> dict[str, Any]:
        trigger = OracleTaskManagerInstanceTrigger(instance_id=instance_id, poll_interval=60)
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    runs = [asyncio.create_task(first(i)) for i in ids]
    for _ in range(100):
        await asyncio.sleep(0.01)
        if driver.queues and driver.queues[0].dequeues:
            break
    (queue,) = driver.queues
    before = queue.dequeues
    for i in ids:
        driver.events.publish(i)
    events = await asyncio.wait_for(asyncio.gather(*runs), 10)
    assert {e["instance"]["state"] for e in events} == {"SUCCEEDED"}
    watcher = registry.get("oracle_default")
    assert watcher.stats.messages == 1000
    drained = queue.dequeues - before
    assert drained <= 10  # the target for a burst of 1 000 (one per message before)
    assert watcher.stats.reads <= drained + 1  # one woken read per batch, not per message
    await registry.close_all()


# --- S-6: parsing and delivery yield to the event loop --------------------------------------------


async def test_parse_statuses_async_equals_parse_statuses_and_yields() -> None:
    ids = list(range(1, 2 * PARSE_SLICE + 2))
    rows = [status_row(i, "RUNNING", counts={"READY": i % 7}) for i in ids[:-1]]  # the last is MISSING
    iterations = 0
    done = False

    async def count_iterations() -> None:
        nonlocal iterations
        while not done:
            iterations += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_iterations())
    await asyncio.sleep(0)
    result = await parse_statuses_async(ids, rows, [])
    done = True
    await counter
    assert result == parse_statuses(ids, rows, [])
    assert result[ids[-1]].state == "MISSING"
    assert iterations >= 3  # the loop ran between the slices


async def test_readings_are_delivered_in_slices_with_the_loop_yielded_between() -> None:
    n = 2 * shared_poller.DELIVERY_SLICE + 10

    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False)
    subs = [watcher.subscribe(i, 60) for i in range(1, n + 1)]
    readings = running(list(range(1, n + 1)))
    seen: list[int] = []  # subscribers served, each time the loop got to run another task
    stop = False

    async def observe() -> None:
        while not stop:
            seen.append(sum(1 for sub in subs if sub.last_read is not None))
            await asyncio.sleep(0)

    observer = asyncio.create_task(observe())
    await asyncio.sleep(0)
    await watcher._deliver(list(range(1, n + 1)), readings.__getitem__, 1.0)
    stop = True
    await observer
    assert all(sub.last_read == 1.0 for sub in subs)
    partial = [count for count in seen if 0 < count < n]
    assert partial, "the loop never ran while the readings were handed out"
    assert min(partial) <= shared_poller.DELIVERY_SLICE
    await watcher.aclose()


# --- S-7: bookkeeping without scanning every subscriber -------------------------------------------


async def test_the_tick_follows_the_shortest_interval_through_subscribe_and_unsubscribe() -> None:
    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False)
    slow = [watcher.subscribe(i, 30) for i in range(1, 1001)]
    assert watcher._tick() == 30
    fast = watcher.subscribe(5000, 0.5)
    also_fast = watcher.subscribe(5001, 0.5)
    assert watcher._tick() == 0.5
    watcher.unsubscribe(fast)
    assert watcher._tick() == 0.5
    watcher.unsubscribe(also_fast)
    assert watcher._tick() == 30
    watcher.unsubscribe(also_fast)  # twice: harmless, counted once
    assert watcher.subscriber_count == 1000
    for sub in slow:
        watcher.unsubscribe(sub)
    assert watcher.subscriber_count == 0
    assert not watcher.active
    await watcher.aclose()


async def test_due_keys_come_off_the_heap_without_visiting_the_others() -> None:
    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False)
    for i in range(1, 1001):
        watcher.subscribe(i, 60)
    watcher.subscribe(9999, 0.1)
    now = asyncio.get_running_loop().time()
    assert len(watcher._due(now, 0.1)) == 1001  # all fresh: never read
    await watcher._deliver([*range(1, 1001), 9999], lambda key: running([key])[key], now)
    assert watcher._due(now + 0.1, 0.1) == {9999}
    assert watcher._due(now + 0.2, 0.1) == set()  # not read since: no new heap entry yet
    await watcher._deliver([9999], lambda key: running([key])[key], now + 0.2)
    assert watcher._due(now + 0.3, 0.1) == {9999}
    assert len(watcher._due(now + 60, 0.1)) == 1000
    await watcher.aclose()


async def test_a_key_goes_back_to_its_longer_interval_when_the_fast_subscriber_leaves() -> None:
    async def read(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
        return running(ids)

    watcher = InstanceWatcher("x", read=read, listen=False)
    watcher.subscribe(1, 10)
    fast = watcher.subscribe(1, 0.1)
    now = asyncio.get_running_loop().time()
    assert watcher._due(now, 0.1) == {1}
    await watcher._deliver([1], lambda key: running([key])[key], now)
    watcher.unsubscribe(fast)
    assert watcher._due(now + 0.2, 10) == set()  # the early entry is re-pushed for 10 s
    assert watcher._due(now + 10, 10) == {1}
    await watcher.aclose()

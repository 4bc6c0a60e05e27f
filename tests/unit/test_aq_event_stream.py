"""The asset watcher on Airflow's own shared-stream manager (ack mode), through its crash points.

``SharedStreamManager`` is the triggerer's real code (airflow.triggers.shared_stream); the loop in
:func:`subscriber` does what ``TriggerRunner.run_trigger`` does for a shared-stream trigger (subscribe,
filter, bind each event to its persist seq, unsubscribe), and a test calls ``confirm_persisted``
where the triggerer's supervisor would after storing the event. A "crash" stops every group
without confirming; the fake broker then holds exactly what a database would after the sessions
died (a browse takes nothing; an uncommitted removal is rolled back).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent
from airflow.triggers.shared_stream import SharedStreamManager

from airflow_provider_oracle_tasks.db import transient
from airflow_provider_oracle_tasks.triggers import _aq_reconnect as aq_reconnect
from airflow_provider_oracle_tasks.triggers import _aq_stream as aq_stream
from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger
from tests.unit.aq_fakes import FakeBroker, install_aq

_ids = itertools.count(1)


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG", "AUDIT"])
    broker.sessions = install_aq(monkeypatch, broker)  # type: ignore[attr-defined]
    monkeypatch.setattr(transient, "backoff_delay", lambda *a, **k: 0.0)
    monkeypatch.setattr(aq_stream, "LOGIN_GATE", aq_reconnect.LoginGate())
    monkeypatch.setattr(aq_stream, "REDELIVER_DELAY", 0.05)
    return broker


def watcher() -> OracleAQEventTrigger:
    return OracleAQEventTrigger(queue="PAYROLL_FILES", consumer="PAYROLL_DAG", wait_seconds=1)


class Runner:
    """One triggerer process: a manager and the events its subscribers produced (not yet stored)."""

    def __init__(self, ack_timeout: float = 30.0) -> None:
        self.manager = SharedStreamManager(ack_timeout=ack_timeout)
        self.events: list[tuple[TriggerEvent, int | None]] = []
        self.by_trigger: dict[int, list[int | None]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, trigger: OracleAQEventTrigger) -> int:
        trigger_id = next(_ids)
        self.by_trigger[trigger_id] = []
        self.tasks.append(asyncio.create_task(self._subscriber(trigger_id, trigger)))
        return trigger_id

    async def _subscriber(self, trigger_id: int, trigger: OracleAQEventTrigger) -> None:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async for event in trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                self.events.append((event, seq))
                self.by_trigger[trigger_id].append(seq)
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    def store(self, *trigger_ids: int) -> None:
        """What the supervisor does after the events (of these triggers; default all) are stored."""
        wanted = trigger_ids or tuple(self.by_trigger)
        seqs = [seq for t in wanted for seq in self.by_trigger[t] if seq is not None]
        self.manager.confirm_persisted(seqs)

    async def crash(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.manager.stop_all()


async def until(condition: Callable[[], bool], limit: float = 3.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - polls the fake broker's state
            await asyncio.sleep(0.01)


def queued(broker: FakeBroker) -> list[Any]:
    return [m.payload for m in broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")]


def msgids(runner: Runner) -> list[str]:
    return [event.payload["msgid"] for event, _ in runner.events]


async def test_a_message_is_removed_only_after_its_event_is_stored(broker: FakeBroker) -> None:
    broker.publish("PAYROLL_FILES", b"GO")
    runner = Runner()
    runner.start(watcher())
    await until(lambda: len(runner.events) == 1)
    assert runner.events[0][1] is not None  # ack mode: the event is bound to a persist seq
    await asyncio.sleep(0.1)
    assert queued(broker) == [b"GO"]  # browsed, not taken, while the event is not stored
    runner.store()
    await until(lambda: queued(broker) == [])
    assert len(broker.pending_for("PAYROLL_FILES", "AUDIT")) == 1  # the other consumer's copy
    await asyncio.sleep(0.1)
    assert len(runner.events) == 1  # delivered once
    await runner.crash()


async def test_a_crash_before_the_event_is_stored_loses_nothing(broker: FakeBroker) -> None:
    msgid = broker.publish("PAYROLL_FILES", b"GO").hex().upper()
    first = Runner()
    first.start(watcher())
    await until(lambda: len(first.events) == 1)
    await first.crash()  # the triggerer dies: the event was never stored
    assert queued(broker) == [b"GO"]
    second = Runner()
    second.start(watcher())
    await until(lambda: len(second.events) == 1)
    assert msgids(second) == [msgid]  # delivered again: no loss
    second.store()
    await until(lambda: queued(broker) == [])
    await second.crash()


async def test_a_crash_between_storing_and_the_removal_delivers_it_once_more(
    broker: FakeBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented duplicate window: stored, but the removal never committed."""
    msgid = broker.publish("PAYROLL_FILES", b"GO").hex().upper()

    async def dies_before_the_commit(self: Any) -> None:
        return None

    monkeypatch.setattr(aq_stream.AQStreamProducer, "_flush_removals", dies_before_the_commit)
    first = Runner()
    first.start(watcher())
    await until(lambda: len(first.events) == 1)
    first.store()
    await asyncio.sleep(0.1)
    await first.crash()
    assert queued(broker) == [b"GO"]
    monkeypatch.undo()
    install_aq(monkeypatch, broker)
    monkeypatch.setattr(aq_stream, "LOGIN_GATE", aq_reconnect.LoginGate())
    second = Runner()
    second.start(watcher())
    await until(lambda: len(second.events) == 1)
    assert msgids(second) == [msgid]  # the one duplicate this window allows
    second.store()
    await until(lambda: queued(broker) == [])
    await asyncio.sleep(0.1)
    assert len(second.events) == 1
    await second.crash()


async def test_an_event_one_watcher_never_stored_is_kept_and_delivered_again(broker: FakeBroker) -> None:
    """Two watchers; one stores its event, the other's is never confirmed (ack timeout): the
    message is not removed, and the stream broadcasts it again."""
    msgid = broker.publish("PAYROLL_FILES", b"GO").hex().upper()
    runner = Runner(ack_timeout=0.3)
    stores = runner.start(watcher())
    runner.start(watcher())
    await until(lambda: len(runner.events) == 2)
    runner.store(stores)
    await until(lambda: len(runner.by_trigger[stores]) >= 2, limit=5)  # broadcast again
    assert set(msgids(runner)) == {msgid}
    assert queued(broker) == [b"GO"]  # never removed: one watcher's event was not stored
    await runner.crash()


async def test_two_watchers_of_one_queue_and_consumer_share_one_stream_and_both_get_the_message(
    broker: FakeBroker,
) -> None:
    broker.publish("PAYROLL_FILES", b"GO")
    runner = Runner()
    runner.start(watcher())
    runner.start(watcher())
    await until(lambda: len(runner.events) == 2)
    assert broker.sessions_by_kind["dedicated"] == 1  # one browse session for both
    runner.store()
    await until(lambda: queued(broker) == [])
    assert broker.sessions_by_kind["dedicated"] == 2  # plus one removal session
    await runner.crash()


async def test_several_messages_are_removed_in_one_transaction(broker: FakeBroker) -> None:
    for n in range(3):
        broker.publish("PAYROLL_FILES", f"GO {n}".encode())
    runner = Runner()
    runner.start(watcher())
    await until(lambda: len(runner.events) == 3)
    runner.store()
    await until(lambda: queued(broker) == [])
    assert [e.payload["payload"] for e, _ in runner.events] == ["GO 0", "GO 1", "GO 2"]
    removal = [s for s in broker.sessions if s.commits]  # type: ignore[attr-defined]
    assert [s.commits for s in removal] == [1]  # one commit for the three removals
    await runner.crash()

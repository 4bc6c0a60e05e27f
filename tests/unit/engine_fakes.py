"""The fakes of tests/unit/fakes.py, plus ``callfunc``/``setinputsizes`` and an async twin.

:class:`AsyncFakeDriver` stands in for python-oracledb's asyncio API (pools, dedicated
connections, AQ browsing of OTASK_EVENTS) and counts every session it opens, so tests and the
triggerer fan-out benchmark can prove how many connections and status reads the shared watcher
makes.

engine_api calls PL/SQL functions with ``cursor.callfunc``; these record the call like
``callproc`` does (SQL text ``callfunc <name>``, binds = keyword parameters) and return the first
column of the first row of the matching rule. Like fakes.py they prove the Python side only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import oracledb
import pytest

from tests.unit.fakes import Answer, FakeConnection, FakeCursor, FakeVar


class EngineFakeCursor(FakeCursor):
    def callfunc(
        self,
        name: str,
        return_type: Any,
        parameters: list[Any] | None = None,
        keyword_parameters: dict[str, Any] | None = None,
    ) -> Any:
        self.check_call(name, parameters, keyword_parameters)
        self.execute(f"callfunc {name}", keyword_parameters or {})
        row = self.fetchone()
        return row[0] if row else None

    def var(self, typ: Any = None, size: int = 0, arraysize: int = 1, **kwargs: Any) -> TypedVar:
        return TypedVar(typ)


class TypedVar(FakeVar):
    """A bind variable that remembers its database type (e.g. DB_TYPE_CLOB)."""

    def __init__(self, typ: Any) -> None:
        super().__init__()
        self.type = typ


class EngineFakeConnection(FakeConnection):
    def on(self, pattern: str, answer: Answer) -> EngineFakeConnection:
        super().on(pattern, answer)
        return self

    def cursor(self) -> EngineFakeCursor:
        return EngineFakeCursor(self)

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(SQL or 'callfunc/callproc name', binds) in order, for exact assertions."""
        return [(e.sql, e.binds) for e in self.executed]


class AsyncFakeCursor:
    """Just enough of ``oracledb.AsyncCursor`` for the status read: awaitable execute/fetchall."""

    def __init__(self, cursor: EngineFakeCursor) -> None:
        self._cursor = cursor

    def __enter__(self) -> AsyncFakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def var(self, typ: Any = None, **kwargs: Any) -> TypedVar:
        return self._cursor.var(typ, **kwargs)

    async def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._cursor.execute(sql, parameters)

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()


class AsyncFakeConnection:
    def __init__(self, connection: EngineFakeConnection) -> None:
        self.sync = connection

    def cursor(self) -> AsyncFakeCursor:
        return AsyncFakeCursor(self.sync.cursor())


STARTED = datetime(2025, 3, 1, 12, 0, 0)  # naive UTC, as sys_extract_utc returns it
CREATED = datetime(2025, 3, 1, 11, 59, 58)


def status_row(
    instance_id: int,
    state: str = "RUNNING",
    *,
    counts: dict[str, int] | None = None,
    taskspace: str = "ETL",
    run_key: str | None = None,
    target_threads: int = 4,
    live_workers: int = 4,
    started: datetime | None = STARTED,
    ended: datetime | None = None,
    elapsed: float | None = 40.0,
) -> tuple[Any, ...]:
    """One STATUS_SQL row (column order of status.STATUS_COLUMNS), rate as the view computes it."""
    c = {"WAITING": 0, "READY": 0, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 0, "SKIPPED": 0, "STOPPED": 0}
    c.update(counts or {})
    if started is None:
        elapsed = None
    rate = round((c["SUCCEEDED"] + c["FAILED"]) / elapsed, 3) if elapsed else None
    return (
        instance_id,
        state,
        taskspace,
        run_key,
        target_threads,
        live_workers,
        CREATED,
        started,
        ended,
        elapsed,
        rate,
        c["WAITING"],
        c["READY"],
        c["RUNNING"],
        c["SUCCEEDED"],
        c["FAILED"],
        c["SKIPPED"],
        c["STOPPED"],
    )


def by_ids(rows: dict[int, list[tuple[Any, ...]]]) -> Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """A rule answer that returns, for the ids in the ``:ids`` JSON bind, their rows (in id order)."""

    def answer(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        ids = binds["ids"]
        text = ids.getvalue() if isinstance(ids, FakeVar) else ids
        return [row for instance_id in json.loads(text) for row in rows.get(instance_id, [])]

    return answer


def watchdog_pattern() -> str:
    return re.escape("otask.heal_instances(p_instance_ids => :ids);")


STATUS_PATTERN = r"from otask_instances_v i\n where i\.instance_id in"
"""Matches status.STATUS_SQL only (not the taskspace list, which filters on taskspace)."""


def patch_connect(monkeypatch: pytest.MonkeyPatch, connection: FakeConnection) -> list[dict[str, Any]]:
    """``oracle_default`` exists and every ``oracledb.connect`` returns ``connection``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps(
            {
                "conn_type": "oracle",
                "login": "APP",
                "password": "secret-pw",
                "extra": {"dsn": "db-host:1521/FREEPDB1"},
            }
        ),
    )
    calls: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> FakeConnection:
        calls.append(kwargs)
        return connection

    monkeypatch.setattr(oracledb, "connect", connect)
    return calls


def sequence(*answers: Any) -> Callable[[str, dict[str, Any]], Any]:
    """A rule answer that gives the next item on every call (the last one repeats)."""
    items: Iterator[Any] = iter(answers)
    last: list[Any] = [None]

    def answer(sql: str, binds: dict[str, Any]) -> Any:
        with contextlib.suppress(StopIteration):
            last[0] = next(items)
        value = last[0]
        if isinstance(value, Exception):
            raise value
        return value(sql, binds) if callable(value) else value

    return answer


# --- a counting async driver (triggers, the shared watcher, the fan-out benchmark) ------------------


class FakeMessage:
    """A dequeued AQ message as the listener reads it: only the correlation matters."""

    def __init__(self, correlation: str) -> None:
        self.correlation = correlation
        self.payload = None


class FakeDeqOptions:
    def __init__(self) -> None:
        self.consumername: str | None = None
        self.mode: int | None = None
        self.navigation: int | None = None
        self.wait: int | None = None
        self.condition: str | None = None


class FakeEventBus:
    """The OTASK_EVENTS queue as browsers see it: every browser reads every message, none consumed."""

    def __init__(self) -> None:
        self.messages: list[FakeMessage] = []
        self._waiters: list[asyncio.Future[None]] = []

    def publish(self, instance_id: int) -> None:
        self.messages.append(FakeMessage(str(instance_id)))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = []

    async def changed(self, wait: float) -> None:
        """Return when a message is published, or after ``wait`` seconds (the server-side wait)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, wait)


class FakeQueue:
    """``AsyncQueue`` in BROWSE mode: its own position; ``deqone`` waits up to ``deqoptions.wait``."""

    def __init__(self, driver: AsyncFakeDriver, name: str, payload_type: Any) -> None:
        self.driver = driver
        self.name = name
        self.payload_type = payload_type
        self.deqoptions = FakeDeqOptions()
        self.position = 0
        self.dequeues = 0

    async def deqone(self) -> FakeMessage | None:
        self.dequeues += 1
        bus = self.driver.events
        if self.driver.listener_failures:
            raise self.driver.listener_failures.pop(0)
        if self.position >= len(bus.messages):
            await bus.changed(self.driver.wait_scale * (self.deqoptions.wait or 0))
        if self.position < len(bus.messages):
            self.position += 1
            return bus.messages[self.position - 1]
        return None

    async def deqmany(self, max_num_messages: int) -> list[FakeMessage]:
        """Array dequeue: waits like ``deqone`` for a first message, then takes what is queued."""
        if not isinstance(max_num_messages, int) or max_num_messages < 1:
            raise TypeError("DPY-2007: max_num_messages must be a positive integer")
        self.dequeues += 1
        bus = self.driver.events
        if self.driver.listener_failures:
            raise self.driver.listener_failures.pop(0)
        if self.position >= len(bus.messages):
            await bus.changed(self.driver.wait_scale * (self.deqoptions.wait or 0))
        taken = bus.messages[self.position : self.position + max_num_messages]
        self.position += len(taken)
        return taken


class AsyncSession:
    """One fake ``AsyncConnection`` (pooled or dedicated) on the driver's shared sync fake."""

    def __init__(self, driver: AsyncFakeDriver, kind: str) -> None:
        self.driver = driver
        self.kind = kind
        self.sync = driver.connection
        self.call_timeout = 0
        self.module = ""
        self.current_schema = ""
        self.closed = False

    def cursor(self) -> AsyncSessionCursor:
        return AsyncSessionCursor(self)

    async def gettype(self, name: str) -> str:
        return f"type {name}"

    def queue(self, name: str, payload_type: Any = None) -> FakeQueue:
        if self.driver.queue_error is not None:
            raise self.driver.queue_error
        queue = FakeQueue(self.driver, name, payload_type)
        self.driver.queues.append(queue)
        return queue

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.driver.open_sessions -= 1


class AsyncSessionCursor(AsyncFakeCursor):
    """Adds ``callproc`` and a simulated round-trip latency to the status-read cursor."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session.sync.cursor())
        self.session = session

    async def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        await self.session.driver.round_trip()
        await super().execute(sql, parameters)

    async def callproc(self, name: str, keyword_parameters: dict[str, Any] | None = None) -> None:
        await self.session.driver.round_trip()
        self._cursor.callproc(name, keyword_parameters=keyword_parameters)


class AsyncFakePool:
    """Opens a session only when no idle one is left, like a real pool with min=0."""

    def __init__(self, driver: AsyncFakeDriver, kwargs: dict[str, Any]) -> None:
        self.driver = driver
        self.kwargs = kwargs
        self.idle: list[AsyncSession] = []
        self.closed = False

    async def acquire(self) -> AsyncSession:
        await self.driver.round_trip()
        if self.idle:
            return self.idle.pop()
        return self.driver.open("pooled")

    async def release(self, session: AsyncSession) -> None:
        self.idle.append(session)

    async def close(self, force: bool = False) -> None:
        self.closed = True
        for session in self.idle:
            await session.close()
        self.idle = []


class AsyncFakeDriver:
    """``oracledb.create_pool_async`` / ``connect_async`` that count every session they open.

    All sessions answer SQL through one :class:`EngineFakeConnection` (its rules and its
    ``executed`` log); dedicated sessions can also browse a :class:`FakeEventBus`.
    """

    def __init__(self, connection: EngineFakeConnection, *, latency: float = 0.0) -> None:
        self.connection = connection
        self.latency = latency
        self.events = FakeEventBus()
        self.pools: list[AsyncFakePool] = []
        self.queues: list[FakeQueue] = []
        self.sessions_opened = {"pooled": 0, "dedicated": 0}
        self.open_sessions = 0
        self.max_open_sessions = 0
        self.queue_error: BaseException | None = None
        self.listener_failures: list[BaseException] = []
        self.wait_scale = 1.0  # tests shrink the server-side dequeue wait

    def install(self, monkeypatch: pytest.MonkeyPatch) -> AsyncFakeDriver:
        monkeypatch.setattr(oracledb, "create_pool_async", self.create_pool_async)
        monkeypatch.setattr(oracledb, "connect_async", self.connect_async)
        return self

    async def round_trip(self) -> None:
        await asyncio.sleep(self.latency)

    def open(self, kind: str) -> AsyncSession:
        self.sessions_opened[kind] += 1
        self.open_sessions += 1
        self.max_open_sessions = max(self.max_open_sessions, self.open_sessions)
        return AsyncSession(self, kind)

    def create_pool_async(self, **kwargs: Any) -> AsyncFakePool:
        pool = AsyncFakePool(self, kwargs)
        self.pools.append(pool)
        return pool

    async def connect_async(self, **kwargs: Any) -> AsyncSession:
        await self.round_trip()
        return self.open("dedicated")

    @property
    def connections_opened(self) -> int:
        return sum(self.sessions_opened.values())


LISTENER_SETUP_PATTERN = r"sys_context\('USERENV', 'CURRENT_SCHEMA'\)"
"""Matches the completion listener's setup query (schema + browse start time)."""


def engine_answers(
    connection: EngineFakeConnection, statuses: Answer, failed: Any = ()
) -> EngineFakeConnection:
    """Rules for the batched status read and the listener's setup query."""
    return (
        connection.on(watchdog_pattern(), [])
        .on(STATUS_PATTERN, statuses)
        .on(r"t\.state = 'FAILED'", failed if callable(failed) else list(failed))
        .on(LISTENER_SETUP_PATTERN, [("APP", "2025-03-01 11:50:00.000000")])
    )


RUN_KEY_LOOKUP = r"where i\.run_key = :run_key"
TASK_COUNT = r"select count\(\*\) from otask_tasks_v"


def batch_answers(
    connection: EngineFakeConnection, instance_id: int = 42, *, exists: bool = False
) -> EngineFakeConnection:
    """Rules for submit_batch: a new instance (tasks added), or one an earlier try created."""
    connection.on(RUN_KEY_LOOKUP, [(instance_id,)] if exists else [])
    connection.on("callfunc otask.create_instance", [(instance_id,)])
    connection.on(TASK_COUNT, [(3,)] if exists else [(0,)])
    return connection.on(
        "callfunc otask.add_tasks", lambda sql, binds: [(len(json.loads(_text(binds["p_tasks"]))),)]
    )


def _text(value: Any) -> str:
    return value.getvalue() if isinstance(value, FakeVar) else value

"""A fake Oracle AQ broker at the python-oracledb boundary, sync and asyncio.

It models what the provider relies on: per-consumer copies on a multiple-consumer queue,
BROWSE (leaves the message), REMOVE with ON_COMMIT visibility (undone by rollback or by closing
the session, as when a triggerer dies), dequeue by msgid, correlation with ``%`` wildcards, a
condition (the test registers a Python predicate for the SQL text), and a blocking wait of up
to ``deqoptions.wait`` seconds (scaled by ``wait_scale``). It proves the Python side only; the
real behaviour of AQ is proved by tests/integration/test_aq.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import oracledb
import pytest

_ids = itertools.count(1)


@dataclass
class Stored:
    msgid: bytes
    payload: Any
    correlation: str | None
    recipients: list[str] | None
    enqtime: datetime = field(default_factory=lambda: datetime(2025, 3, 1, 12, 0, 0))
    removed_for: set[str] = field(default_factory=set)
    attempts: int = 0


class FakeMessageProperties:
    def __init__(self, payload: Any = None, correlation: str | None = None, **kwargs: Any) -> None:
        self.payload = payload
        self.correlation = correlation
        self.recipients = kwargs.get("recipients")
        self.expiration = kwargs.get("expiration", -1)
        self.delay = kwargs.get("delay", 0)
        self.msgid: bytes | None = None
        self.enqtime: datetime | None = None
        self.attempts = 0


class Options:
    def __init__(self) -> None:
        self.consumername: str | None = None
        self.mode: int = oracledb.DEQ_REMOVE
        self.navigation: int = oracledb.DEQ_NEXT_MSG
        self.visibility: int = oracledb.DEQ_ON_COMMIT
        self.wait: int = oracledb.DEQ_WAIT_FOREVER
        self.condition: str | None = None
        self.correlation: str | None = None
        self.msgid: bytes | None = None


def _like(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


class FakeBroker:
    """Every queue of the fake database; shared by all fake sessions."""

    def __init__(self) -> None:
        self.messages: dict[str, list[Stored]] = {}
        self.subscribers: dict[str, list[str]] = {}
        self.conditions: dict[str, Callable[[Any], bool]] = {}
        self.failures: list[BaseException] = []  # raised by the next deqone calls, in order
        self.dequeues: list[dict[str, Any]] = []  # options of every deqone, for assertions
        self.wait_scale = 0.01
        self.sessions_opened = 0
        self.open_sessions = 0
        self.sessions_by_kind = {"dedicated": 0, "pooled": 0, "sync": 0}
        self.connect_failures: list[BaseException] = []  # raised by the next logins, in order
        self.logins = 0  # login attempts, failed ones included
        self._changed: asyncio.Event | None = None

    def add_queue(self, name: str, subscribers: list[str]) -> FakeBroker:
        self.messages.setdefault(name.upper(), [])
        self.subscribers[name.upper()] = [s.upper() for s in subscribers]
        return self

    def publish(
        self,
        queue: str,
        payload: Any,
        correlation: str | None = None,
        recipients: list[str] | None = None,
    ) -> bytes:
        msgid = next(_ids).to_bytes(16, "big")
        self.messages[queue.upper()].append(Stored(msgid, payload, correlation, recipients))
        if self._changed is not None:
            self._changed.set()
        return msgid

    def pending_for(self, queue: str, consumer: str) -> list[Stored]:
        return [m for m in self.messages[queue.upper()] if self._visible(m, consumer.upper())]

    def _visible(self, message: Stored, consumer: str) -> bool:
        if message.recipients is not None and consumer not in [r.upper() for r in message.recipients]:
            return False
        return consumer not in message.removed_for

    def login(self, kind: str) -> None:
        """One login attempt: fails with the next of ``connect_failures``, if any."""
        self.logins += 1
        if self.connect_failures:
            raise self.connect_failures.pop(0)
        self.sessions_by_kind[kind] += 1

    def _match(
        self, queue: str, options: Options, held: set[tuple[bytes, str]], after: bytes | None = None
    ) -> Stored | None:
        consumer = (options.consumername or "").upper()
        if queue.upper() not in self.messages:
            raise _db_error("ORA-24010: QUEUE " + queue + " does not exist")
        if consumer not in self.subscribers.get(queue.upper(), []):
            raise _db_error(
                f"ORA-24047: invalid agent name {consumer}, agent name should be of the form NAME"
            )
        skipping = after is not None and any(m.msgid == after for m in self.messages[queue.upper()])
        for message in self.messages[queue.upper()]:
            if skipping:  # BROWSE with NEXT_MSG: continue after the last browsed message
                skipping = message.msgid != after
                continue
            if not self._visible(message, consumer) or (message.msgid, consumer) in held:
                continue
            if options.msgid is not None:
                if message.msgid == options.msgid:
                    return message
                continue
            if options.correlation is not None and not _like(options.correlation, message.correlation):
                continue
            if options.condition is not None and not self.conditions[options.condition](message.payload):
                continue
            return message
        if options.msgid is not None:
            # Oracle: a dequeue by a message id that is not there for this consumer raises ORA-25263
            # (python-oracledb's own tests assert it); it never returns "no message".
            wanted = options.msgid.hex().upper()
            raise _db_error(f"ORA-25263: no message in queue {queue.upper()} with message ID {wanted}")
        return None

    def changed(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed


def _db_error(text: str) -> oracledb.Error:
    from tests.unit.fakes import db_error

    return db_error(text)


class _Session:
    """What sync and async fake connections share: pending removals of the open transaction."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.pending: list[tuple[Stored, str]] = []
        self.enqueued: list[tuple[str, Stored]] = []
        self.commits = 0
        self.rollbacks = 0
        self.closed = False
        self.call_timeout = 0
        self.module = ""
        self.current_schema = ""
        self.version = "23.5.0.24.7"
        self.username = "APP"
        broker.sessions_opened += 1
        broker.open_sessions += 1

    def msgproperties(self, **kwargs: Any) -> FakeMessageProperties:
        return FakeMessageProperties(**kwargs)

    def _held(self) -> set[tuple[bytes, str]]:
        return {(m.msgid, c) for m, c in self.pending}

    def _take(self, queue: str, options: Options, cursor: Any = None) -> FakeMessageProperties | None:
        self.broker.dequeues.append(dict(vars(options)))
        if self.broker.failures:
            raise self.broker.failures.pop(0)
        browsing = options.mode == oracledb.DEQ_BROWSE and options.msgid is None and cursor is not None
        after = cursor.position if browsing and options.navigation == oracledb.DEQ_NEXT_MSG else None
        found = self.broker._match(queue, options, self._held(), after)
        if found is None:
            return None
        if browsing:
            cursor.position = found.msgid
        found.attempts += 1 if options.mode != oracledb.DEQ_BROWSE else 0
        if options.mode in (oracledb.DEQ_REMOVE, oracledb.DEQ_REMOVE_NODATA):
            self.pending.append((found, (options.consumername or "").upper()))
            if options.visibility == oracledb.DEQ_IMMEDIATE:
                self._apply()
        props = FakeMessageProperties(payload=found.payload, correlation=found.correlation)
        props.msgid = found.msgid
        props.enqtime = found.enqtime
        props.attempts = found.attempts
        return props

    def _apply(self) -> None:
        for message, consumer in self.pending:
            message.removed_for.add(consumer)
        self.pending = []
        for queue, stored in self.enqueued:
            self.broker.messages[queue].append(stored)
            if self.broker._changed is not None:
                self.broker._changed.set()
        self.enqueued = []

    def _commit(self) -> None:
        self.commits += 1
        self._apply()

    def _rollback(self) -> None:
        self.rollbacks += 1
        self.pending = []
        self.enqueued = []

    def _close(self) -> None:
        if not self.closed:
            self.pending = []  # an open transaction dies with its session
            self.enqueued = []
            self.closed = True
            self.broker.open_sessions -= 1


class SyncQueue:
    def __init__(self, session: SyncAQConnection, name: str, payload_type: Any) -> None:
        self.session = session
        self.name = name
        self.payload_type = payload_type
        self.deqoptions = Options()
        self.enqoptions = Options()
        self.enqoptions.visibility = oracledb.ENQ_ON_COMMIT
        self.position: bytes | None = None  # the browse position of this queue handle

    def deqone(self) -> FakeMessageProperties | None:
        return self.session._take(self.name, self.deqoptions, self)

    def enqone(self, message: FakeMessageProperties) -> None:
        msgid = next(_ids).to_bytes(16, "big")
        message.msgid = msgid
        stored = Stored(msgid, message.payload, message.correlation, message.recipients)
        self.session.enqueued.append((self.name.upper(), stored))
        if self.enqoptions.visibility == oracledb.ENQ_IMMEDIATE:
            self.session._apply()


class SyncAQConnection(_Session):
    """A sync ``oracledb.Connection`` with AQ (also answers the DDL SQL of the create operator)."""

    def __init__(self, broker: FakeBroker, sql: Any = None) -> None:
        super().__init__(broker)
        self.sql = sql

    def queue(self, name: str, payload_type: Any = None) -> SyncQueue:
        return SyncQueue(self, name, payload_type)

    def gettype(self, name: str) -> Any:
        return FakeObjectType(name, ["MSG"])

    def cursor(self) -> Any:
        return self.sql.cursor()

    def commit(self) -> None:
        self._commit()

    def rollback(self) -> None:
        self._rollback()

    def close(self) -> None:
        self._close()


class AsyncQueue:
    def __init__(self, session: AsyncAQConnection, name: str, payload_type: Any) -> None:
        self.session = session
        self.name = name
        self.payload_type = payload_type
        self.deqoptions = Options()
        self.position: bytes | None = None  # the browse position of this queue handle

    async def deqone(self) -> FakeMessageProperties | None:
        broker = self.session.broker
        found = self.session._take(self.name, self.deqoptions, self)
        if found is not None or self.deqoptions.wait == oracledb.DEQ_NO_WAIT:
            return found
        event = broker.changed()
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), broker.wait_scale * self.deqoptions.wait)
        broker.dequeues.pop()  # the retry below records the same dequeue once
        return self.session._take(self.name, self.deqoptions, self)


class AsyncAQConnection(_Session):
    def queue(self, name: str, payload_type: Any = None) -> AsyncQueue:
        return AsyncQueue(self, name, payload_type)

    async def gettype(self, name: str) -> Any:
        return FakeObjectType(name, ["MSG"])

    async def commit(self) -> None:
        self._commit()

    async def rollback(self) -> None:
        self._rollback()

    async def close(self) -> None:
        self._close()


class FakeAttr:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeObject:
    def __init__(self, object_type: FakeObjectType) -> None:
        self.type = object_type
        for attr in object_type.attributes:
            setattr(self, attr.name, None)


class FakeObjectType:
    def __init__(self, name: str, attributes: list[str]) -> None:
        self.name = name
        self.attributes = [FakeAttr(a) for a in attributes]
        self.iscollection = False

    def newobject(self) -> FakeObject:
        return FakeObject(self)


class FakeAQPool:
    """``oracledb.create_pool_async`` with min=0: a session is opened only when none is idle."""

    def __init__(self, broker: FakeBroker, sessions: list[Any]) -> None:
        self.broker = broker
        self.sessions = sessions
        self.idle: list[AsyncAQConnection] = []

    async def acquire(self) -> AsyncAQConnection:
        if self.idle:
            return self.idle.pop()
        self.broker.login("pooled")
        session = AsyncAQConnection(self.broker)
        self.sessions.append(session)
        return session

    async def release(self, session: AsyncAQConnection) -> None:
        session._rollback()  # the pool rolls back an open transaction on release
        self.idle.append(session)

    async def close(self, force: bool = False) -> None:
        for session in self.idle:
            await session.close()
        self.idle = []


def install_aq(monkeypatch: pytest.MonkeyPatch, broker: FakeBroker, sql: Any = None) -> list[Any]:
    """``oracle_default`` exists; ``oracledb.connect`` / ``connect_async`` open fake AQ sessions.

    Returns the list of sync sessions opened (for commit/rollback assertions).
    """
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps(
            {"conn_type": "oracle", "login": "APP", "password": "pw", "extra": {"dsn": "db:1521/FREEPDB1"}}
        ),
    )
    sessions: list[Any] = []

    def connect(**kwargs: Any) -> SyncAQConnection:
        broker.login("sync")
        session = SyncAQConnection(broker, sql)
        sessions.append(session)
        return session

    async def connect_async(**kwargs: Any) -> AsyncAQConnection:
        broker.login("dedicated")
        session = AsyncAQConnection(broker)
        sessions.append(session)
        return session

    monkeypatch.setattr(oracledb, "connect", connect)
    monkeypatch.setattr(oracledb, "connect_async", connect_async)
    monkeypatch.setattr(oracledb, "create_pool_async", lambda **kwargs: FakeAQPool(broker, sessions))
    return sessions

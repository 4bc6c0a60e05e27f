"""One shared AQ browse per (connection id, queue, consumer) for every waiting ``OracleAQEventSensor``.

Before, each deferred sensor held a dedicated session parked in a blocking dequeue for its whole
wait: 500 sensors were 500 server sessions (review S-4). Now the sensors' triggers subscribe to an
:class:`AQBrowsePoller` (a :class:`~._shared_poller.SharedPoller` of the connection id, shared in
the triggerer process through :data:`shared_aq_listeners`), and per tick it makes, for each
(queue, consumer, payload type, condition) that somebody waits on, **one non-blocking browse** on a
session of the connection id's shared async pool: ``DEQ_BROWSE``, ``DEQ_NO_WAIT``, first message
then next ones, at most :data:`MAX_BROWSE` messages. Nothing is consumed, so a triggerer that dies
loses nothing; the resumed task takes its message by id, as before.

Fan-out: each browsed message goes to **one** waiting subscriber whose ``correlation`` (AQ's ``%``
and ``_`` wildcards) matches; two sensors that read as the same consumer never both resume for
the same message (only one of them could take it). A handed-out message is not offered to
another subscriber for :data:`CLAIM_SECONDS`, unless it is still on the queue after that (its task
did not take it).

Cost: one pooled session per connection id (shared with the other triggers) and, per tick,
``1 + visible messages`` round trips per key, whatever the number of sensors; the tick is the
shortest ``wait_seconds`` of the subscribers, at most :data:`LISTEN_INTERVAL`.
``benchmarks/aq_sessions.py`` measures it. A sensor whose ``condition`` differs from another's
gets a key (and a browse) of its own: AQ conditions are SQL and cannot be evaluated here.

Errors: transient ones are retried by the poller; a credential error blocks new logins for the
connection id (:data:`._aq_reconnect.LOGIN_GATE`) and, like any non-transient error, reaches the
waiting triggers as a :class:`~._shared_poller.ReadProblem`, so their tasks fail with the ORA code.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import oracledb

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.db.async_connection import oracle_async_connection
from airflow_provider_oracle_tasks.db.transient import DEFAULT_ATTEMPTS, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY
from airflow_provider_oracle_tasks.triggers._aq_reconnect import (
    CREDENTIAL_BASE_DELAY,
    LOGIN_GATE,
    is_credential_error,
)
from airflow_provider_oracle_tasks.triggers._aq_stream import open_async_queue
from airflow_provider_oracle_tasks.triggers._shared_poller import (
    PollerRegistry,
    PollerStats,
    ReadProblem,
    SharedPoller,
    Subscription,
)

log = logging.getLogger(__name__)

LISTEN_INTERVAL = 1.0
"""Longest time between two browses of a key: how late a waiting sensor sees a new message."""
MAX_BROWSE = 100
"""Messages read per key per browse; more stay for the next browses (the oldest come first)."""
CLAIM_SECONDS = 300.0


@dataclass(frozen=True, order=True)
class ListenKey:
    """What one browse reads: the subscribers of one key share it."""

    queue: str
    consumer: str
    payload_type: str
    condition: str | None = None


@dataclass(frozen=True)
class ListenQuery:
    """One waiting trigger: its key and its own correlation filter."""

    key: ListenKey
    correlation: str | None = None


@dataclass(frozen=True)
class Browse:
    """One browse of a key: the visible messages, oldest first (message dicts)."""

    messages: tuple[dict[str, Any], ...] = ()


def correlation_matches(pattern: str | None, value: str | None) -> bool:
    """AQ's correlation filter: ``%`` any run of characters, ``_`` one character."""
    if pattern is None:
        return True
    if value is None:
        return False
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


async def browse_pooled(conn_id: str, queries: list[ListenQuery]) -> dict[ListenKey, Browse]:
    """The default read: one pooled session, one non-blocking browse per key."""
    if LOGIN_GATE.remaining(conn_id) > 0:
        raise LoginBlocked(conn_id)
    result: dict[ListenKey, Browse] = {}
    try:
        async with oracle_async_connection(conn_id) as conn:
            for key in sorted({q.key for q in queries}):
                result[key] = await browse_once(conn, key)
    except Exception as exc:
        if is_credential_error(exc):
            LOGIN_GATE.block(conn_id, CREDENTIAL_BASE_DELAY / 2, str(exc).splitlines()[0])
        raise
    LOGIN_GATE.clear(conn_id)
    return result


async def browse_once(conn: Any, key: ListenKey) -> Browse:
    queue = await open_async_queue(conn, key.queue, key.payload_type)
    options = queue.deqoptions
    options.consumername = key.consumer
    options.mode = oracledb.DEQ_BROWSE
    options.wait = oracledb.DEQ_NO_WAIT
    if key.condition is not None:  # unset options stay unset: the driver wants text
        options.condition = key.condition
    found: list[dict[str, Any]] = []
    options.navigation = oracledb.DEQ_FIRST_MSG
    while len(found) < MAX_BROWSE:
        message = await queue.deqone()
        if message is None:
            break
        found.append(aq_messages.message_dict(message, key.payload_type, key.queue, key.consumer))
        options.navigation = oracledb.DEQ_NEXT_MSG
    return Browse(tuple(found))


class LoginBlocked(Exception):
    """A login with this connection id failed on its credentials a moment ago: no new attempt now."""

    def __init__(self, conn_id: str) -> None:
        super().__init__(
            f"no login to '{conn_id}' for another {LOGIN_GATE.remaining(conn_id):.0f} s after a failed "
            f"login ({LOGIN_GATE.reason(conn_id)}): fix the connection's login and password"
        )


class AQSubscription(Subscription[ListenQuery, Browse]):
    """A waiting sensor trigger: it is woken only by a message handed to it, or by a problem."""

    def __init__(self, query: ListenQuery, interval: float, claims: dict[str, float]) -> None:
        super().__init__(query, interval)
        self._claims = claims
        self.message: dict[str, Any] | None = None

    def deliver(self, reading: Browse | ReadProblem) -> None:
        if isinstance(reading, ReadProblem):
            super().deliver(reading)
            return
        if self.message is not None:
            return
        now = time.monotonic()
        for item in reading.messages:
            msgid = str(item.get("msgid"))
            claimed = self._claims.get(msgid)
            if claimed is not None and now - claimed < CLAIM_SECONDS:
                continue
            if correlation_matches(self.query.correlation, item.get("correlation")):
                self._claims[msgid] = now
                self.message = item
                super().deliver(Browse((item,)))
                return


@dataclass
class ListenerStats(PollerStats):
    """Counters for tests and the benchmark: browses and dequeue round trips."""

    browses: int = 0
    handed_out: int = 0
    claims: dict[str, float] = field(default_factory=dict)


Read = Callable[[str, list[ListenQuery]], Awaitable[dict[ListenKey, Browse]]]


class AQBrowsePoller(SharedPoller[ListenKey, ListenQuery, Browse, AQSubscription]):
    """The AQ browse poller of one connection id on one event loop (see the module docstring)."""

    kind = "AQ browse"
    noun = "queue(s)"
    task_name = "otask-aq-listener"
    logger = log
    read_at_start = True

    def __init__(
        self,
        conn_id: str,
        *,
        read: Read = browse_pooled,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.stats = ListenerStats()
        super().__init__(
            conn_id,
            read=read,
            stats=self.stats,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
        )

    def _new_subscription(self, query: ListenQuery, interval: float) -> AQSubscription:
        self._prune_claims()
        return AQSubscription(query, min(interval, LISTEN_INTERVAL), self.stats.claims)

    def _key(self, query: ListenQuery) -> ListenKey:
        return query.key

    def _queries(self, keys: list[ListenKey]) -> list[ListenQuery]:
        self.stats.browses += len(keys)
        return [ListenQuery(key) for key in keys]

    def _missing(self, key: ListenKey) -> Browse:
        return Browse()

    def _prune_claims(self) -> None:
        now = time.monotonic()
        for msgid, since in list(self.stats.claims.items()):
            if now - since >= CLAIM_SECONDS:
                del self.stats.claims[msgid]


class AQListenerRegistry(PollerRegistry[ListenQuery, AQSubscription, AQBrowsePoller]):
    """Process-wide map (event loop, connection id) -> AQ browse poller."""

    def __init__(self, **options: Any) -> None:
        super().__init__(AQBrowsePoller, **options)


shared_aq_listeners = AQListenerRegistry()
"""The registry every ``OracleAQMessageTrigger`` of this process uses."""

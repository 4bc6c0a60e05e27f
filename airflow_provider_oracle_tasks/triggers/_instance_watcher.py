"""One shared watcher per connection id per triggerer event loop: at most two database sessions.

A triggerer can hold a thousand deferred waits on one database. If each trigger polled on its own
session, that would be a thousand sessions and three thousand statements per interval. Instead
every :class:`~airflow_provider_oracle_tasks.triggers.task_manager.OracleTaskManagerInstanceTrigger`
of a connection id subscribes to ONE :class:`InstanceWatcher`, which runs two tasks:

* the **poller** reads the status of every subscribed instance with one batched read
  (:func:`~airflow_provider_oracle_tasks.engine.status.fetch_statuses_async`: three statements whatever
  the number of ids, the engine's watchdog included) per tick, on one session of the shared pool
  (:mod:`~airflow_provider_oracle_tasks.db.async_connection`), and hands each trigger its
  instance's status. The tick is the shortest poll interval of the subscribers; an instance with
  a longer interval is read on the ticks where its own interval has passed, so triggers that
  subscribe at different moments still share one read per tick.
* the **listener** holds one dedicated session in a blocking array dequeue (``deqmany``, up to
  :data:`DEQUEUE_BATCH` messages per round trip, so a burst of completions is drained in a few
  round trips) with a bounded wait on the
  engine's completion queue ``OTASK_EVENTS`` as subscriber ``OTASK_WATCH``, in BROWSE mode: it
  consumes nothing, so every triggerer of an HA pair sees every message, and messages leave the
  queue only by expiring (24 h, then ``OTASK.PURGE`` deletes them). A message is only a wake-up:
  the poller reads that instance at once, and the status read is the truth. Without the listener
  (python-oracledb without AQ in asyncio thin mode, no DEQUEUE privilege, a persistent error)
  the watcher logs the reason once and keeps polling.

Transient database errors are retried with backoff (:func:`retry_async`); a read that still fails
reaches the subscribers as a :class:`ReadProblem`, so a non-transient error (with its ORA code)
ends up in the task log of every waiting task. Subscribing and unsubscribing never await, so
they are safe in ``finally`` blocks of cancelled triggers; the watcher stops its tasks when the
last subscriber leaves and starts them again (after the old ones are gone) for the next one.
The poller is the :class:`~airflow_provider_oracle_tasks.triggers._shared_poller.SharedPoller` that
the chain watcher uses too; the listener is what this module adds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import oracledb

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.db.async_connection import dedicated_connection, oracle_async_connection
from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    backoff_delay,
    describe_db_error,
    is_transient,
)
from airflow_provider_oracle_tasks.engine.status import InstanceStatus, fetch_statuses_async
from airflow_provider_oracle_tasks.triggers._shared_poller import (
    MIN_POLL_INTERVAL,
    PollerRegistry,
    PollerStats,
    ReadProblem,
    SharedPoller,
    settle,
)
from airflow_provider_oracle_tasks.triggers._shared_poller import Subscription as _Subscription

__all__ = [
    "MIN_POLL_INTERVAL",
    "CompletionListener",
    "InstanceWatcher",
    "ReadProblem",
    "Subscription",
    "WatcherRegistry",
    "WatcherStats",
    "read_statuses",
    "shared_watchers",
]

log = logging.getLogger(__name__)

EVENT_QUEUE = "OTASK_EVENTS"
EVENT_TYPE = "OTASK_EVENT_T"
EVENT_CONSUMER = "OTASK_WATCH"
DEFAULT_LISTEN_WAIT = 30
"""Seconds one dequeue waits on the server before it returns empty-handed (bounded, never forever)."""
LOOKBACK_SECONDS = 600
"""On (re)connect the listener also browses messages this old: an instance that closed while no
listener ran wakes its waiter at once instead of one poll interval later."""
LISTENER_MAX_FAILURES = 5
"""Consecutive transient listener failures after which the watcher keeps polling only."""
DEQUEUE_BATCH = 200
"""Messages one browse dequeue returns at most: a burst of 1 000 completions takes 5 round trips."""
LISTENER_ROLE = "listener"

LISTENER_SETUP_SQL = """\
select sys_context('USERENV', 'CURRENT_SCHEMA'),
       to_char(sys_extract_utc(systimestamp) - numtodsinterval(:lookback, 'SECOND'),
               'YYYY-MM-DD HH24:MI:SS.FF6')
  from dual"""
"""The engine's schema (queue and type are qualified with it) and where browsing starts (DB clock)."""

_DB_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")

ReadStatuses = Callable[[str, list[int]], Awaitable[dict[int, InstanceStatus]]]
Warn = Callable[..., None]
"""``warn(message, *args)``: a warning in the stdlib style."""


async def read_statuses(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
    """The default read: one pooled session, one batched status read for all ``ids``."""
    async with oracle_async_connection(conn_id) as connection:
        return await fetch_statuses_async(connection, ids)


Reading = InstanceStatus | ReadProblem


class Subscription(_Subscription[int, InstanceStatus]):
    """One waiter's mailbox: the newest reading of its instance, never a growing queue."""

    __slots__ = ()

    @property
    def instance_id(self) -> int:
        return self.query


@dataclass
class WatcherStats(PollerStats):
    """Counters for tests and the fan-out benchmark."""

    ids_read: int = 0
    messages: int = 0
    dequeues: int = 0
    wakeups: int = 0
    listener_connects: int = 0
    listener_state: str = "not started"

    def count_read(self, size: int) -> None:
        super().count_read(size)
        self.ids_read += size


def _instance_of(message: Any) -> int | None:
    """The instance id of a completion message: its correlation (TO_CHAR(instance_id))."""
    correlation = getattr(message, "correlation", None)
    if isinstance(correlation, str) and correlation.strip().isdigit():
        return int(correlation)
    payload = getattr(message, "payload", None)
    value = getattr(payload, "INSTANCE_ID", None)
    return int(value) if isinstance(value, int | float) else None


def _owner_prefix(schema: Any) -> str:
    """``SCHEMA.`` for the engine's queue and type, or nothing for a name that needs quoting."""
    if not isinstance(schema, str) or schema != schema.upper():
        return ""
    try:
        return f"{validation.oracle_identifier(schema, 'CURRENT_SCHEMA')}."
    except ValueError:
        return ""


class CompletionListener:
    """Browse OTASK_EVENTS with a bounded blocking wait and report each message's instance id."""

    def __init__(
        self,
        conn_id: str,
        stats: WatcherStats,
        *,
        wait: int = DEFAULT_LISTEN_WAIT,
        lookback: int = LOOKBACK_SECONDS,
        max_failures: int = LISTENER_MAX_FAILURES,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        fallback_note: Callable[[], str] = lambda: "",
        warn: Warn = log.warning,
        batch: int = DEQUEUE_BATCH,
    ) -> None:
        self.conn_id = conn_id
        self.stats = stats
        self.wait = validation.integer(wait, "listen_wait", low=1, high=3600)
        self.lookback = lookback
        self.max_failures = max_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._fallback_note = fallback_note
        self._warn = warn
        self.batch = validation.integer(batch, "batch", low=1, high=10_000)

    async def run(self, notify: Callable[[int], None]) -> None:
        """Listen until cancelled; on a persistent or non-transient error log once and return."""
        failures = 0
        while True:
            try:
                async with dedicated_connection(
                    self.conn_id, call_timeout=self.wait + 30, attempts=1, logger=log
                ) as connection:
                    self.stats.listener_connects += 1
                    queue = await self._open(connection)
                    self.stats.listener_state = "listening"
                    while True:
                        messages = await queue.deqmany(self.batch)
                        failures = 0
                        self.stats.dequeues += 1
                        for message in messages:
                            self.stats.messages += 1
                            instance_id = _instance_of(message)
                            if instance_id is not None:
                                notify(instance_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc) and failures < self.max_failures:
                    failures += 1
                    delay = backoff_delay(failures, base_delay=self.base_delay, max_delay=self.max_delay)
                    self.stats.listener_state = "reconnecting"
                    self._warn(
                        "Completion listener for '%s' lost its session (%s); reconnecting in %.1f s",
                        self.conn_id,
                        describe_db_error(exc, self.conn_id),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                self._fall_back(exc)
                return

    async def _open(self, connection: Any) -> Any:
        """Queue handle in BROWSE mode for OTASK_WATCH, starting at the lookback (DB clock)."""
        with connection.cursor() as cursor:
            await cursor.execute(LISTENER_SETUP_SQL, {"lookback": self.lookback})
            schema, since = (await cursor.fetchall())[0]
        owner = _owner_prefix(schema)
        payload_type = await connection.gettype(f"{owner}{EVENT_TYPE}")
        queue = connection.queue(f"{owner}{EVENT_QUEUE}", payload_type)
        options = queue.deqoptions
        options.consumername = EVENT_CONSUMER
        options.mode = oracledb.DEQ_BROWSE
        options.navigation = oracledb.DEQ_NEXT_MSG
        options.wait = self.wait
        if isinstance(since, str) and _DB_TIMESTAMP.match(since):
            # Text the database formatted just now, checked above: nothing caller-supplied.
            options.condition = f"tab.user_data.event_time_utc >= timestamp '{since}'"
        return queue

    def _fall_back(self, exc: BaseException) -> None:
        reason = describe_db_error(exc, self.conn_id)
        self.stats.listener_state = f"polling only: {reason}"
        if self.conn_id in _FALLBACK_LOGGED:
            log.debug("Completion listener for '%s' stopped again: %s", self.conn_id, reason)
            return
        _FALLBACK_LOGGED.add(self.conn_id)
        self._warn(
            "Completion messages on %s are not available for connection '%s' (%s); waiting tasks "
            "fall back to polling%s. Logged once per triggerer process.",
            EVENT_QUEUE,
            self.conn_id,
            reason,
            self._fallback_note(),
        )


_FALLBACK_LOGGED: set[str] = set()


class InstanceWatcher(SharedPoller[int, int, InstanceStatus, Subscription]):
    """The poller and the listener of one connection id on one event loop (see the module doc).

    The polling is the :class:`~airflow_provider_oracle_tasks.triggers._shared_poller.SharedPoller`
    that the chain watcher uses too; the listener runs next to it and wakes it (:meth:`notify`).
    """

    kind = "status"
    noun = "instance(s)"
    task_name = "otask-poller"
    logger = log

    def __init__(
        self,
        conn_id: str,
        *,
        read: ReadStatuses = read_statuses,
        listen: bool = True,
        listen_wait: int = DEFAULT_LISTEN_WAIT,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.stats = WatcherStats()
        super().__init__(
            conn_id,
            read=read,
            stats=self.stats,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
        )
        self._listen = listen
        self._listener = CompletionListener(
            conn_id,
            self.stats,
            wait=listen_wait,
            base_delay=base_delay,
            max_delay=max_delay,
            fallback_note=lambda: f" every {self._tick():g} s",
            warn=lambda message, *args: self.warn_subscribers(None, message, *args),
        )

    def notify(self, instance_id: int) -> None:
        """A completion message arrived: read that instance now, if anybody waits for it."""
        if self.wake(instance_id):
            self.stats.wakeups += 1

    def _new_subscription(self, query: int, interval: float) -> Subscription:
        return Subscription(query, interval)

    def _key(self, query: int) -> int:
        return query

    def _missing(self, key: int) -> InstanceStatus:
        return InstanceStatus.missing(key)

    def _side_tasks(
        self, loop: asyncio.AbstractEventLoop, previous: dict[str, list[asyncio.Task[None]]]
    ) -> dict[str, asyncio.Task[None]]:
        if not self._listen:
            return {}
        listener = self._spawn(self._listen_for(previous.get(LISTENER_ROLE, [])), "otask-listener")
        return {LISTENER_ROLE: listener}

    async def _listen_for(self, previous: list[asyncio.Task[None]]) -> None:
        # Only the old listener is waited for: its session is closed before a new one opens,
        # while the new poller reads at once.
        await settle(previous)
        await self._listener.run(self.notify)


class WatcherRegistry(PollerRegistry[int, Subscription, InstanceWatcher]):
    """The process-wide map (event loop, connection id) -> watcher that all triggers share."""

    def __init__(self, **watcher_options: Any) -> None:
        super().__init__(InstanceWatcher, **watcher_options)


shared_watchers = WatcherRegistry()
"""The registry every trigger of this process uses."""

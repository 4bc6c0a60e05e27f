"""One shared watcher per connection id per triggerer event loop: at most two database sessions.

A triggerer can hold a thousand deferred waits on one database. If each trigger polled on its own
session, that would be a thousand sessions and three thousand statements per interval. Instead
every :class:`~airflow_provider_oracle_tasks.triggers.task_manager.OracleTaskManagerInstanceTrigger`
of a connection id subscribes to ONE :class:`InstanceWatcher`, which runs two tasks:

* the **poller** reads the status of every subscribed instance with one batched read
  (:func:`~airflow_provider_oracle_tasks.status.fetch_statuses_async`: three statements whatever
  the number of ids, the engine's watchdog included) per tick, on one session of the shared pool
  (:mod:`~airflow_provider_oracle_tasks.hooks.async_connection`), and hands each trigger its
  instance's status. The tick is the shortest poll interval of the subscribers; an instance with
  a longer interval is read on the ticks where its own interval has passed, so triggers that
  subscribe at different moments still share one read per tick.
* the **listener** holds one dedicated session in a blocking dequeue with a bounded wait on the
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
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import oracledb

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.hooks.async_connection import dedicated_connection, oracle_async_connection
from airflow_provider_oracle_tasks.hooks.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    backoff_delay,
    describe_db_error,
    is_transient,
    retry_async,
)
from airflow_provider_oracle_tasks.status import InstanceStatus, fetch_statuses_async

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
MIN_POLL_INTERVAL = 0.1
"""Floor for a poll interval, so a zero interval cannot turn the poller into a busy loop."""

LISTENER_SETUP_SQL = """\
select sys_context('USERENV', 'CURRENT_SCHEMA'),
       to_char(sys_extract_utc(systimestamp) - numtodsinterval(:lookback, 'SECOND'),
               'YYYY-MM-DD HH24:MI:SS.FF6')
  from dual"""
"""The engine's schema (queue and type are qualified with it) and where browsing starts (DB clock)."""

_DB_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")

ReadStatuses = Callable[[str, list[int]], Awaitable[dict[int, InstanceStatus]]]


async def read_statuses(conn_id: str, ids: list[int]) -> dict[int, InstanceStatus]:
    """The default read: one pooled session, one batched status read for all ``ids``."""
    async with oracle_async_connection(conn_id) as connection:
        return await fetch_statuses_async(connection, ids)


@dataclass(frozen=True)
class ReadProblem:
    """A status read that failed even after its retries; ``message`` carries the ORA/DPY code."""

    message: str
    transient: bool


Reading = InstanceStatus | ReadProblem


class Subscription:
    """One waiter's mailbox: the newest reading of its instance, never a growing queue."""

    def __init__(self, instance_id: int, interval: float) -> None:
        self.instance_id = instance_id
        self.interval = interval
        self.last_read: float | None = None
        self._latest: Reading | None = None
        self._ready = asyncio.Event()

    def deliver(self, reading: Reading) -> None:
        self._latest = reading
        self._ready.set()

    async def next(self) -> Reading:
        """Wait for a reading newer than the one returned last time."""
        await self._ready.wait()
        self._ready.clear()
        reading = self._latest
        assert reading is not None
        return reading


@dataclass
class WatcherStats:
    """Counters for tests and the fan-out benchmark."""

    reads: int = 0
    ids_read: int = 0
    failed_reads: int = 0
    messages: int = 0
    wakeups: int = 0
    listener_connects: int = 0
    listener_state: str = "not started"
    largest_read: int = 0


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
    ) -> None:
        self.conn_id = conn_id
        self.stats = stats
        self.wait = validation.integer(wait, "listen_wait", low=1, high=3600)
        self.lookback = lookback
        self.max_failures = max_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._fallback_note = fallback_note

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
                        message = await queue.deqone()
                        failures = 0
                        if message is None:
                            continue
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
                    log.warning(
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
        log.warning(
            "Completion messages on %s are not available for connection '%s' (%s); waiting tasks "
            "fall back to polling%s. Logged once per triggerer process.",
            EVENT_QUEUE,
            self.conn_id,
            reason,
            self._fallback_note(),
        )


_FALLBACK_LOGGED: set[str] = set()


class InstanceWatcher:
    """The poller and the listener of one connection id on one event loop (see the module doc)."""

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
        self.conn_id = conn_id
        self.stats = WatcherStats()
        self._read = read
        self._listen = listen
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._listener = CompletionListener(
            conn_id,
            self.stats,
            wait=listen_wait,
            base_delay=base_delay,
            max_delay=max_delay,
            fallback_note=lambda: f" every {self._tick():g} s",
        )
        self._subs: dict[int, set[Subscription]] = {}
        self._woken: set[int] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: list[asyncio.Task[None]] = []
        self._last_tick = 0.0

    # --- subscribers (no await: safe in finally blocks of cancelled triggers) ---------------------

    def subscribe(self, instance_id: int, interval: float) -> Subscription:
        subscription = Subscription(instance_id, max(float(interval), MIN_POLL_INTERVAL))
        self._subs.setdefault(instance_id, set()).add(subscription)
        if not self._tasks:
            self._start()
        self._wake.set()  # a shorter interval may bring the next tick forward
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subs.get(subscription.instance_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subs[subscription.instance_id]
        if not self._subs:
            self._stop()

    @property
    def active(self) -> bool:
        return bool(self._tasks)

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def notify(self, instance_id: int) -> None:
        """A completion message arrived: read that instance now, if anybody waits for it."""
        if instance_id in self._subs:
            self.stats.wakeups += 1
            self._woken.add(instance_id)
            self._wake.set()

    async def aclose(self) -> None:
        """Stop and wait for the tasks (tests, benchmark, shutdown)."""
        self._subs.clear()
        self._stop()
        await _settle(self._stopping)
        self._stopping = []

    # --- tasks ---------------------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        previous, self._stopping = self._stopping, []
        self._last_tick = loop.time()
        poller = loop.create_task(self._poll(previous), name=f"otask-poller-{self.conn_id}")
        poller.add_done_callback(self._poller_ended)
        self._tasks = [poller]
        if self._listen:
            listener = loop.create_task(self._listen_for(previous), name=f"otask-listener-{self.conn_id}")
            self._tasks.append(listener)

    def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._stopping.extend(self._tasks)
        self._tasks = []

    def _poller_ended(self, task: asyncio.Task[None]) -> None:
        """A poller that died of a bug must fail its waiters loudly, not leave them waiting."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.error("Status poller for '%s' failed", self.conn_id, exc_info=error)
        problem = ReadProblem(f"the status poller failed: {error!r}", transient=False)
        for sub in self._subscribers(list(self._subs)):
            sub.deliver(problem)
        self._stop()  # the next subscriber starts a fresh poller

    async def _listen_for(self, previous: list[asyncio.Task[None]]) -> None:
        await _settle(previous)  # the old listener's session is closed before a new one opens
        await self._listener.run(self.notify)

    def _tick(self) -> float:
        intervals = [sub.interval for subs in self._subs.values() for sub in subs]
        return min(intervals) if intervals else MIN_POLL_INTERVAL

    def _due(self, now: float, tick: float) -> set[int]:
        """Ids with a subscriber never read, or whose own interval has (about) passed."""
        return {
            instance_id
            for instance_id, subs in self._subs.items()
            if any(sub.last_read is None or now - sub.last_read >= sub.interval - tick / 2 for sub in subs)
        }

    async def _poll(self, previous: list[asyncio.Task[None]]) -> None:
        await _settle(previous)
        loop = asyncio.get_running_loop()
        while self._subs:
            now = loop.time()
            tick = self._tick()
            due_at = self._last_tick + tick
            if not self._woken and now < due_at:
                self._wake.clear()
                with suppress(TimeoutError):
                    async with asyncio.timeout(due_at - now):
                        await self._wake.wait()
                continue
            ids, self._woken = set(self._woken), set()
            if now >= due_at:
                self._last_tick = now
                ids |= self._due(now, tick)
            ids &= set(self._subs)
            if ids:
                await self._read_and_deliver(sorted(ids), now)

    async def _read_and_deliver(self, ids: list[int], now: float) -> None:
        self.stats.reads += 1
        self.stats.ids_read += len(ids)
        self.stats.largest_read = max(self.stats.largest_read, len(ids))
        try:
            statuses = await retry_async(
                lambda: self._read(self.conn_id, ids),
                attempts=self._attempts,
                base_delay=self._base_delay,
                max_delay=self._max_delay,
                log=log,
                what=f"status read of {len(ids)} instance(s) on '{self.conn_id}'",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.failed_reads += 1
            problem = ReadProblem(describe_db_error(exc, self.conn_id), transient=is_transient(exc))
            for sub in self._subscribers(ids):
                sub.deliver(problem)
            return
        for sub in self._subscribers(ids):
            sub.last_read = now
            sub.deliver(statuses.get(sub.instance_id) or InstanceStatus.missing(sub.instance_id))

    def _subscribers(self, ids: Iterable[int]) -> list[Subscription]:
        return [sub for instance_id in ids for sub in self._subs.get(instance_id, ())]


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait (bounded) until cancelled tasks have run their cleanup; never raises their errors."""
    pending = [task for task in tasks if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=DEFAULT_LISTEN_WAIT + 35)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not warn about it


@dataclass
class _LoopWatchers:
    loop: asyncio.AbstractEventLoop
    watchers: dict[str, InstanceWatcher] = field(default_factory=dict)


class WatcherRegistry:
    """The process-wide map (event loop, connection id) -> watcher that all triggers share."""

    def __init__(self, **watcher_options: Any) -> None:
        self._options = watcher_options
        self._loops: dict[int, _LoopWatchers] = {}

    def get(self, conn_id: str) -> InstanceWatcher:
        loop = asyncio.get_running_loop()
        state = self._loops.get(id(loop))
        if state is None or state.loop is not loop:
            for key, other in list(self._loops.items()):
                if other.loop.is_closed():
                    del self._loops[key]
            state = _LoopWatchers(loop)
            self._loops[id(loop)] = state
        watcher = state.watchers.get(conn_id)
        if watcher is None:
            watcher = state.watchers[conn_id] = InstanceWatcher(conn_id, **self._options)
        return watcher

    @asynccontextmanager
    async def watch(self, conn_id: str, instance_id: int, interval: float) -> AsyncIterator[Subscription]:
        """Subscribe for the block; unsubscribed on exit, cancellation included."""
        watcher = self.get(conn_id)
        subscription = watcher.subscribe(instance_id, interval)
        try:
            yield subscription
        finally:
            watcher.unsubscribe(subscription)

    async def close_all(self) -> None:
        """Stop the watchers of the running loop (tests, benchmark)."""
        state = self._loops.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            for watcher in state.watchers.values():
                await watcher.aclose()


shared_watchers = WatcherRegistry()
"""The registry every trigger of this process uses."""

"""The shared poller both watchers are made of: one batched read per tick for all subscribers.

A :class:`SharedPoller` serves one connection id on one event loop. Each waiting trigger
subscribes a query (an instance id, a chain job) with its poll interval; per tick the poller reads
every due key with ONE call of its batched ``read`` function and hands each subscriber the reading
of its key. The tick is the shortest poll interval of the subscribers; a key whose subscribers
have longer intervals is read on the ticks where one of their own intervals has passed, so
triggers that subscribe at different moments still share one read per tick. :meth:`SharedPoller.wake`
brings the read of a key forward (a completion message, for instance).

Transient errors are retried with backoff (:func:`retry_async`); a read that still fails reaches
the subscribers as a :class:`ReadProblem` with the ORA/DPY code, so it shows in their task logs.
A poller that dies of a bug fails its waiters instead of leaving them waiting. Subscribing and
unsubscribing never await (safe in ``finally`` of a cancelled trigger); the poller's tasks stop
with the last subscriber and start again, after the old ones are gone, for the next one.

:class:`PollerRegistry` is the process-wide map (event loop, connection id) -> poller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    describe_db_error,
    is_transient,
    retry_async,
)

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL = 0.1
"""Floor for a poll interval, so a zero interval cannot turn the poller into a busy loop."""
SETTLE_TIMEOUT = 65.0
"""How long a new poller waits at most for the cancelled tasks of the previous one."""

K = TypeVar("K")
"""What a reading is keyed by (an instance id, a job name)."""
Q = TypeVar("Q")
"""What a subscriber asks for (the key itself, or a query that carries it)."""
R = TypeVar("R")
"""One reading of one key."""
S = TypeVar("S", bound="Subscription[Any, Any]")
W = TypeVar("W", bound="SharedPoller[Any, Any, Any, Any]")


@dataclass(frozen=True)
class ReadProblem:
    """A read that failed even after its retries; ``message`` carries the ORA/DPY code."""

    message: str
    transient: bool


class Subscription(Generic[Q, R]):
    """One waiter's mailbox: the newest reading of its key, never a growing queue."""

    def __init__(self, query: Q, interval: float) -> None:
        self.query = query
        self.interval = interval
        self.last_read: float | None = None
        self._latest: R | ReadProblem | None = None
        self._ready = asyncio.Event()

    def deliver(self, reading: R | ReadProblem) -> None:
        self._latest = reading
        self._ready.set()

    async def next(self) -> R | ReadProblem:
        """Wait for a reading newer than the one returned last time."""
        await self._ready.wait()
        self._ready.clear()
        reading = self._latest
        assert reading is not None
        return reading

    async def next_before(self, deadline: float | None) -> R | ReadProblem:
        """:meth:`next`, or :class:`TimeoutError` once ``deadline`` (epoch seconds, or None) passes."""
        remaining = None if deadline is None else deadline - time.time()
        if remaining is not None and remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            return await self.next()


@dataclass
class PollerStats:
    """Counters for tests and the fan-out benchmark; :meth:`count_read` adds one batched read."""

    reads: int = 0
    failed_reads: int = 0
    largest_read: int = 0

    def count_read(self, size: int) -> None:
        self.reads += 1
        self.largest_read = max(self.largest_read, size)


class SharedPoller(ABC, Generic[K, Q, R, S]):
    """The poller of one connection id on one event loop (see the module docstring).

    A subclass says what a key is (:meth:`_key`), which queries one read gets for some keys
    (:meth:`_queries`), what a key absent from a read means (:meth:`_missing`), and may run more
    tasks next to the poller (:meth:`_side_tasks`).
    """

    kind: ClassVar[str] = "status"
    """What is read, for logs: ``status`` gives "status read of 3 ..." and "Status poller"."""
    noun: ClassVar[str] = "key(s)"
    task_name: ClassVar[str] = "otask-poller"
    logger: ClassVar[logging.Logger] = log
    """Where retries and a poller failure are logged (the subclass's module)."""
    read_at_start: ClassVar[bool] = False
    """Whether a starting poller reads its first subscriber at once or after one interval."""

    def __init__(
        self,
        conn_id: str,
        *,
        read: Callable[[str, list[Q]], Awaitable[dict[K, R]]],
        stats: PollerStats,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.conn_id = conn_id
        self._stats = stats
        self._read = read
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._subs: dict[K, set[S]] = {}
        self._woken: set[K] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: list[asyncio.Task[None]] = []
        self._last_tick = 0.0

    # --- what a subclass says ----------------------------------------------------------------

    @abstractmethod
    def _new_subscription(self, query: Q, interval: float) -> S: ...

    @abstractmethod
    def _key(self, query: Q) -> K: ...

    def _queries(self, keys: list[K]) -> list[Q]:
        """The queries of one read for ``keys``; by default the keys are the queries."""
        return list(keys)  # type: ignore[arg-type]

    @abstractmethod
    def _missing(self, key: K) -> R: ...

    def _side_tasks(
        self, loop: asyncio.AbstractEventLoop, previous: list[asyncio.Task[None]]
    ) -> list[asyncio.Task[None]]:
        """Tasks that run next to the poller while anybody subscribes (none by default)."""
        return []

    # --- subscribers (no await: safe in finally blocks of cancelled triggers) ---------------------

    def subscribe(self, query: Q, interval: float) -> S:
        subscription = self._new_subscription(query, max(float(interval), MIN_POLL_INTERVAL))
        self._subs.setdefault(self._key(query), set()).add(subscription)
        if not self._tasks:
            self._start(subscription.interval)
        self._wake.set()  # a shorter interval may bring the next tick forward
        return subscription

    def unsubscribe(self, subscription: S) -> None:
        key = self._key(subscription.query)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subs[key]
        if not self._subs:
            self._stop()

    @property
    def active(self) -> bool:
        return bool(self._tasks)

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def wake(self, key: K) -> bool:
        """Read ``key`` at once, if anybody waits for it; returns whether somebody does."""
        if key not in self._subs:
            return False
        self._woken.add(key)
        self._wake.set()
        return True

    async def aclose(self) -> None:
        """Stop and wait for the tasks (tests, benchmark, shutdown)."""
        self._subs.clear()
        self._stop()
        await settle(self._stopping)
        self._stopping = []

    # --- tasks ---------------------------------------------------------------------------------

    def _start(self, first_interval: float) -> None:
        loop = asyncio.get_running_loop()
        previous, self._stopping = self._stopping, []
        self._last_tick = loop.time() - (first_interval if self.read_at_start else 0.0)
        poller = loop.create_task(self._poll(previous), name=f"{self.task_name}-{self.conn_id}")
        poller.add_done_callback(self._poller_ended)
        self._tasks = [poller, *self._side_tasks(loop, previous)]

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
        self.logger.error("%s poller for '%s' failed", self.kind.capitalize(), self.conn_id, exc_info=error)
        problem = ReadProblem(f"the {self.kind} poller failed: {error!r}", transient=False)
        for sub in self._subscribers(list(self._subs)):
            sub.deliver(problem)
        self._stop()  # the next subscriber starts a fresh poller

    def _tick(self) -> float:
        intervals = [sub.interval for subs in self._subs.values() for sub in subs]
        return min(intervals) if intervals else MIN_POLL_INTERVAL

    def _due(self, now: float, tick: float) -> set[K]:
        """Keys with a subscriber never read, or whose own interval has (about) passed."""
        return {
            key
            for key, subs in self._subs.items()
            if any(sub.last_read is None or now - sub.last_read >= sub.interval - tick / 2 for sub in subs)
        }

    async def _poll(self, previous: list[asyncio.Task[None]]) -> None:
        await settle(previous)
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
            keys, self._woken = set(self._woken), set()
            if now >= due_at:
                self._last_tick = now
                keys |= self._due(now, tick)
            keys &= set(self._subs)
            if keys:
                await self._read_and_deliver(sorted(keys), now)  # type: ignore[type-var]

    async def _read_and_deliver(self, keys: list[K], now: float) -> None:
        queries = self._queries(keys)
        self._stats.count_read(len(queries))
        try:
            readings = await retry_async(
                lambda: self._read(self.conn_id, queries),
                attempts=self._attempts,
                base_delay=self._base_delay,
                max_delay=self._max_delay,
                log=self.logger,
                what=f"{self.kind} read of {len(queries)} {self.noun} on '{self.conn_id}'",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._stats.failed_reads += 1
            problem = ReadProblem(describe_db_error(exc, self.conn_id), transient=is_transient(exc))
            for sub in self._subscribers(keys):
                sub.deliver(problem)
            return
        for key in keys:
            reading = readings.get(key) or self._missing(key)
            for sub in self._subs.get(key, ()):
                sub.last_read = now
                sub.deliver(reading)

    def _subscribers(self, keys: Iterable[K]) -> list[S]:
        return [sub for key in keys for sub in self._subs.get(key, ())]


async def settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait (bounded) until cancelled tasks have run their cleanup; never raises their errors."""
    pending = [task for task in tasks if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not warn about it


@dataclass
class _LoopPollers(Generic[W]):
    loop: asyncio.AbstractEventLoop
    pollers: dict[str, W] = field(default_factory=dict)


class PollerRegistry(Generic[Q, S, W]):
    """The process-wide map (event loop, connection id) -> poller that all triggers share."""

    def __init__(self, factory: Callable[..., W], **poller_options: Any) -> None:
        self._factory = factory
        self._options = poller_options
        self._loops: dict[int, _LoopPollers[W]] = {}

    def get(self, conn_id: str) -> W:
        loop = asyncio.get_running_loop()
        state = self._loops.get(id(loop))
        if state is None or state.loop is not loop:
            for key, other in list(self._loops.items()):
                if other.loop.is_closed():
                    del self._loops[key]
            state = _LoopPollers(loop)
            self._loops[id(loop)] = state
        poller = state.pollers.get(conn_id)
        if poller is None:
            poller = state.pollers[conn_id] = self._factory(conn_id, **self._options)
        return poller

    @asynccontextmanager
    async def watch(self, conn_id: str, query: Q, interval: float) -> AsyncIterator[S]:
        """Subscribe for the block; unsubscribed on exit, cancellation included."""
        poller = self.get(conn_id)
        subscription: S = poller.subscribe(query, interval)
        try:
            yield subscription
        finally:
            poller.unsubscribe(subscription)

    async def close_all(self) -> None:
        """Stop the pollers of the running loop (tests, benchmark)."""
        state = self._loops.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            for poller in state.pollers.values():
                await poller.aclose()

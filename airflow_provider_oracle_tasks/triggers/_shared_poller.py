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
with the last subscriber and start again for the next one (a new poller waits only for the old
poller, a new side task only for its own predecessor: a listener closing its session never delays
the next read).

Scale (10 000 waiting triggers on one loop): subscribing, unsubscribing and waking cost O(log N)
(the tick is a cached minimum, the due keys come off a heap), and a read's readings are handed
out in slices of :data:`DELIVERY_SLICE` subscribers with the loop yielded between them, so a read
of N ids never stalls the triggerer's event loop for the whole fan-out.

Log context: the poller's tasks run in a fresh :class:`contextvars.Context`, not in the context of
whichever trigger subscribed first, so their log lines go to the triggerer's own log. A warning
about the shared work (a retried read, a lost listener session) is logged there once and again
in the context each subscriber had when it subscribed, so it reaches every affected task's log.

:class:`PollerRegistry` is the process-wide map (event loop, connection id) -> poller.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
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
DELIVERY_SLICE = 500
"""Subscribers served between two yields to the event loop (readings and fanned-out warnings)."""
POLLER_ROLE = "poller"

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
    """One waiter's mailbox: the newest reading of its key, never a growing queue.

    Lean on purpose (S-6): with 10 000 waiters every object a wait keeps alive is 10 000 objects
    the garbage collector walks, so a wait holds one coroutine and one future, and a deadline is
    one timer per subscription (re-armed only when it changes), not a new timeout per wait.
    """

    __slots__ = (
        "_deadline",
        "_expired",
        "_fresh",
        "_latest",
        "_timer",
        "_waiter",
        "context",
        "interval",
        "last_read",
        "query",
    )

    def __init__(self, query: Q, interval: float) -> None:
        self.query = query
        self.interval = interval
        self.last_read: float | None = None
        self._latest: R | ReadProblem | None = None
        self._fresh = False
        self._waiter: asyncio.Future[None] | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False
        self.context = contextvars.copy_context()
        """The subscriber's context (its trigger's log routing): shared warnings are logged in it."""

    def deliver(self, reading: R | ReadProblem) -> None:
        self._latest = reading
        self._fresh = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> R | ReadProblem:
        """Wait for a reading newer than the one returned last time."""
        while not self._fresh:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        self._fresh = False
        reading = self._latest
        assert reading is not None
        return reading

    def next_before(self, deadline: float | None) -> Awaitable[R | ReadProblem]:
        """:meth:`next`, or :class:`TimeoutError` once ``deadline`` (epoch seconds, or None) passes."""
        if deadline is None:
            return self.next()
        return self._next_before(deadline)

    async def _next_before(self, deadline: float) -> R | ReadProblem:
        remaining = deadline - time.time()
        if remaining <= 0 or (self._expired and deadline == self._deadline):
            raise TimeoutError
        if deadline != self._deadline:
            self.close()
            self._deadline = deadline
            self._timer = asyncio.get_running_loop().call_later(remaining, self._expire)
        return await self.next()

    def _expire(self) -> None:
        self._timer = None
        self._expired = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    def close(self) -> None:
        """Drop the deadline timer (on unsubscribe: a timer would keep the subscription alive)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._expired = False
        self._deadline = None


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
        self._count = 0
        # Due-time bookkeeping, O(log N) per change (S-7): the tick is the cached shortest
        # interval (a count per distinct interval); per key its shortest interval, its last
        # successful read, and the one heap entry that is valid for it.
        self._intervals: dict[float, int] = {}
        self._shortest: float | None = None
        self._key_interval: dict[K, float] = {}
        self._key_read: dict[K, float] = {}
        self._key_due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._pushes = 0
        self._fresh: set[K] = set()
        self._woken: set[K] = set()
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: dict[str, list[asyncio.Task[None]]] = {}
        self._fan_outs: set[asyncio.Task[None]] = set()
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
        self, loop: asyncio.AbstractEventLoop, previous: dict[str, list[asyncio.Task[None]]]
    ) -> dict[str, asyncio.Task[None]]:
        """Tasks that run next to the poller while anybody subscribes, by role (none by default).

        ``previous`` holds the cancelled tasks of the last run by role: a side task waits for its
        own predecessor only. Create them with :meth:`_spawn` (fresh log context).
        """
        return {}

    # --- subscribers (no await: safe in finally blocks of cancelled triggers) ---------------------

    def subscribe(self, query: Q, interval: float) -> S:
        subscription = self._new_subscription(query, max(float(interval), MIN_POLL_INTERVAL))
        key = self._key(query)
        interval = subscription.interval
        subs = self._subs.get(key)
        if subs is None:
            subs = self._subs[key] = set()
        subs.add(subscription)
        self._count += 1
        self._intervals[interval] = self._intervals.get(interval, 0) + 1
        shorter_tick = self._shortest is None or interval < self._shortest
        if shorter_tick:
            self._shortest = interval
        known = self._key_interval.get(key)
        if known is None or interval < known:
            self._key_interval[key] = interval
            last = self._key_read.get(key)
            if last is not None:
                self._push(key, last + interval)
        self._fresh.add(key)  # a subscriber never read: due on the next tick
        if not self._tasks:
            self._start(interval)
        elif shorter_tick:
            self._wake.set()  # a shorter interval brings the next tick forward
        return subscription

    def unsubscribe(self, subscription: S) -> None:
        key = self._key(subscription.query)
        subs = self._subs.get(key)
        if subs is None or subscription not in subs:
            return
        subs.discard(subscription)
        subscription.close()
        self._count -= 1
        interval = subscription.interval
        left = self._intervals[interval] - 1
        if left:
            self._intervals[interval] = left
        else:
            del self._intervals[interval]
            if interval == self._shortest:
                self._shortest = min(self._intervals) if self._intervals else None
        if not subs:
            del self._subs[key]
            for table in (self._key_interval, self._key_read, self._key_due):
                table.pop(key, None)
            self._fresh.discard(key)
            self._woken.discard(key)
        elif interval == self._key_interval.get(key):
            # A longer interval now; the key's heap entry is early and re-pushed when popped.
            self._key_interval[key] = min(sub.interval for sub in subs)
        if not self._subs:
            self._stop()

    @property
    def active(self) -> bool:
        return bool(self._tasks)

    @property
    def subscriber_count(self) -> int:
        return self._count

    def wake(self, key: K) -> bool:
        """Read ``key`` at once, if anybody waits for it; returns whether somebody does."""
        if key not in self._subs:
            return False
        self._woken.add(key)
        self._wake.set()
        return True

    def warn_subscribers(self, keys: Iterable[K] | None, message: str, *args: Any) -> None:
        """Log a warning about shared work in the triggerer's log and in each affected task's log.

        Logged here at once (the poller's own, fresh context: the triggerer log), then again in
        the context every subscriber of ``keys`` (None: all) had when it subscribed, so the
        triggerer routes a copy into that task's log; slices yield to the loop between them.
        """
        self.logger.warning(message, *args)
        subs = self._subscribers(self._subs if keys is None else keys)
        if subs:
            task = self._spawn(self._fan_out(subs, message, args), "otask-warning")
            self._fan_outs.add(task)
            task.add_done_callback(self._fan_outs.discard)

    async def _fan_out(self, subs: list[S], message: str, args: tuple[Any, ...]) -> None:
        for start in range(0, len(subs), DELIVERY_SLICE):
            if start:
                await asyncio.sleep(0)
            for sub in subs[start : start + DELIVERY_SLICE]:
                sub.context.run(self.logger.warning, message, *args)

    async def aclose(self) -> None:
        """Stop and wait for the tasks (tests, benchmark, shutdown)."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                self.unsubscribe(sub)
        self._stop()
        await settle([task for tasks in self._stopping.values() for task in tasks])
        await settle(list(self._fan_outs))
        self._stopping = {}

    # --- tasks ---------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task in a fresh, empty context: not in the log context of the trigger that caused it."""
        loop = asyncio.get_running_loop()
        return loop.create_task(coro, name=f"{name}-{self.conn_id}", context=contextvars.Context())

    def _start(self, first_interval: float) -> None:
        loop = asyncio.get_running_loop()
        previous, self._stopping = self._stopping, {}
        self._last_tick = loop.time() - (first_interval if self.read_at_start else 0.0)
        poller = self._spawn(self._poll(previous.get(POLLER_ROLE, [])), self.task_name)
        poller.add_done_callback(self._poller_ended)
        self._tasks = {POLLER_ROLE: poller, **self._side_tasks(loop, previous)}

    def _stop(self) -> None:
        for role, task in self._tasks.items():
            task.cancel()
            self._stopping.setdefault(role, []).append(task)
        self._tasks = {}

    def _poller_ended(self, task: asyncio.Task[None]) -> None:
        """A poller that died of a bug must fail its waiters loudly, not leave them waiting."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        self.logger.error("%s poller for '%s' failed", self.kind.capitalize(), self.conn_id, exc_info=error)
        problem = ReadProblem(f"the {self.kind} poller failed: {error!r}", transient=False)
        for sub in self._subscribers(list(self._subs)):
            sub.deliver(problem)
        if self._tasks.get(POLLER_ROLE) is task:
            self._stop()  # the next subscriber starts a fresh poller

    def _tick(self) -> float:
        return self._shortest if self._shortest is not None else MIN_POLL_INTERVAL

    def _push(self, key: K, due_at: float) -> None:
        self._key_due[key] = due_at
        self._pushes += 1
        heapq.heappush(self._heap, (due_at, self._pushes, key))

    def _due(self, now: float, tick: float) -> set[K]:
        """Keys with a subscriber never read, or whose own interval has (about) passed.

        Pops only the heap entries that are due (O(due log N)), never scans every subscriber.
        """
        due, self._fresh = self._fresh, set()
        limit = now + tick / 2
        heap = self._heap
        while heap and heap[0][0] <= limit:
            due_at, _, key = heapq.heappop(heap)
            if self._key_due.get(key) != due_at:
                continue  # superseded by a later read or a shorter interval, or unsubscribed
            last = self._key_read.get(key)
            if last is not None:
                expected = last + self._key_interval[key]
                if expected > limit:  # its shortest interval grew since the entry was pushed
                    self._push(key, expected)
                    continue
            due.add(key)
        return due

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
            keys, self._woken = self._woken, set()
            if now >= due_at:
                self._last_tick = now
                keys |= self._due(now, tick)
            subscribed = [key for key in keys if key in self._subs]
            if subscribed:
                await self._read_and_deliver(sorted(subscribed), now)  # type: ignore[type-var]

    async def _read_and_deliver(self, keys: list[K], now: float) -> None:
        queries = self._queries(keys)
        self._stats.count_read(len(queries))
        try:
            readings = await retry_async(
                lambda: self._read(self.conn_id, queries),
                attempts=self._attempts,
                base_delay=self._base_delay,
                max_delay=self._max_delay,
                log=_SubscribersLog(self, keys),
                what=f"{self.kind} read of {len(queries)} {self.noun} on '{self.conn_id}'",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._stats.failed_reads += 1
            problem = ReadProblem(describe_db_error(exc, self.conn_id), transient=is_transient(exc))
            for key in keys:
                if key in self._subs:
                    self._push(key, now)  # due again on the next tick
            await self._deliver(keys, lambda key: problem, None)
            return
        await self._deliver(keys, lambda key: readings.get(key) or self._missing(key), now)

    async def _deliver(
        self, keys: list[K], reading_of: Callable[[K], R | ReadProblem], read_at: float | None
    ) -> None:
        """Hand out readings in slices of DELIVERY_SLICE subscribers, yielding in between (S-6)."""
        served = 0
        for key in keys:
            if served >= DELIVERY_SLICE:
                served = 0
                await asyncio.sleep(0)
            subs = self._subs.get(key)
            if not subs:
                continue  # left while an earlier slice was served
            if read_at is not None:
                self._key_read[key] = read_at
                self._push(key, read_at + self._key_interval[key])
            reading = reading_of(key)
            for sub in subs:
                if read_at is not None:
                    sub.last_read = read_at
                sub.deliver(reading)
            served += len(subs)

    def _subscribers(self, keys: Iterable[K]) -> list[S]:
        return [sub for key in keys for sub in self._subs.get(key, ())]


class _SubscribersLog:
    """The retry logger of a shared read: each retry warning reaches the subscribers' task logs."""

    def __init__(self, poller: SharedPoller[Any, Any, Any, Any], keys: list[Any]) -> None:
        self._poller = poller
        self._keys = keys

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._poller.warn_subscribers(self._keys, msg, *args)


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

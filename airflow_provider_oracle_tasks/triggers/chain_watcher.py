"""One poller per connection id per triggerer event loop for every waiting chain job.

Each :class:`~airflow_provider_oracle_tasks.triggers.chain.OracleSchedulerChainTrigger` subscribes
its job here instead of querying on its own. Per tick the poller reads all due jobs of the
connection id with ONE batched read (:func:`~airflow_provider_oracle_tasks.chain_status.read_jobs_async`:
three statements, whatever the number of jobs) on one session of the shared pool
(:mod:`~airflow_provider_oracle_tasks.hooks.async_connection`), and hands each subscriber the
reading of its job. The tick is the shortest poll interval of the subscribers; a job with a
longer interval is read on the ticks where its own interval has passed.

Transient errors are retried with backoff (:func:`retry_async`); a read that still fails reaches
the subscribers as a :class:`ReadProblem` with the ORA/DPY code, so it shows in their task logs.
Subscribing and unsubscribing never await (safe in ``finally`` of a cancelled trigger); the poller
task stops with the last subscriber and starts again with the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oracle_tasks.chain_status import JobQuery, JobReading, read_jobs_async
from airflow_provider_oracle_tasks.hooks.async_connection import oracle_async_connection
from airflow_provider_oracle_tasks.hooks.transient import (
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

ReadJobs = Callable[[str, list[JobQuery]], Awaitable[dict[str, JobReading]]]


async def read_pooled(conn_id: str, queries: list[JobQuery]) -> dict[str, JobReading]:
    """The default read: one pooled session, one batched read for all ``queries``."""
    async with oracle_async_connection(conn_id) as connection:
        return await read_jobs_async(connection, queries)


@dataclass(frozen=True)
class ReadProblem:
    """A read that failed even after its retries; ``message`` carries the ORA/DPY code."""

    message: str
    transient: bool


class JobSubscription:
    """One waiter's mailbox: the newest reading of its job, never a growing queue."""

    def __init__(self, query: JobQuery, interval: float) -> None:
        self.query = query
        self.interval = interval
        self.last_read: float | None = None
        self._latest: JobReading | ReadProblem | None = None
        self._ready = asyncio.Event()

    def deliver(self, reading: JobReading | ReadProblem) -> None:
        self._latest = reading
        self._ready.set()

    async def next(self) -> JobReading | ReadProblem:
        """Wait for a reading newer than the one returned last time."""
        await self._ready.wait()
        self._ready.clear()
        assert self._latest is not None
        return self._latest


@dataclass
class WatcherStats:
    """Counters for tests: how many batched reads, and how many jobs they covered."""

    reads: int = 0
    jobs_read: int = 0
    failed_reads: int = 0
    largest_read: int = 0


class ChainJobWatcher:
    """The poller of one connection id on one event loop (see the module docstring)."""

    def __init__(
        self,
        conn_id: str,
        *,
        read: ReadJobs = read_pooled,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.conn_id = conn_id
        self.stats = WatcherStats()
        self._read = read
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._subs: set[JobSubscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_tick = 0.0

    def subscribe(self, query: JobQuery, interval: float) -> JobSubscription:
        subscription = JobSubscription(query, max(float(interval), MIN_POLL_INTERVAL))
        self._subs.add(subscription)
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._last_tick = loop.time() - subscription.interval  # read the newcomer at once
            self._task = loop.create_task(self._poll(), name=f"otask-chain-poller-{self.conn_id}")
        self._wake.set()
        return subscription

    def unsubscribe(self, subscription: JobSubscription) -> None:
        self._subs.discard(subscription)
        if not self._subs and self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    async def aclose(self) -> None:
        self._subs.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task

    def _tick(self) -> float:
        return min((sub.interval for sub in self._subs), default=MIN_POLL_INTERVAL)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while self._subs:
            tick = self._tick()
            due_at = self._last_tick + tick
            now = loop.time()
            if now < due_at:
                self._wake.clear()
                with suppress(TimeoutError):
                    async with asyncio.timeout(due_at - now):
                        await self._wake.wait()
                continue
            self._last_tick = now
            due = [
                sub
                for sub in self._subs
                if sub.last_read is None or now - sub.last_read >= sub.interval - tick / 2
            ]
            if due:
                await self._read_and_deliver(due, now)

    async def _read_and_deliver(self, due: list[JobSubscription], now: float) -> None:
        queries = _merge([sub.query for sub in due])
        self.stats.reads += 1
        self.stats.jobs_read += len(queries)
        self.stats.largest_read = max(self.stats.largest_read, len(queries))
        try:
            readings = await retry_async(
                lambda: self._read(self.conn_id, queries),
                attempts=self._attempts,
                base_delay=self._base_delay,
                max_delay=self._max_delay,
                log=log,
                what=f"chain job read of {len(queries)} job(s) on '{self.conn_id}'",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.failed_reads += 1
            problem = ReadProblem(describe_db_error(exc, self.conn_id), transient=is_transient(exc))
            for sub in due:
                sub.deliver(problem)
            return
        for sub in due:
            sub.last_read = now
            sub.deliver(readings.get(sub.query.name) or JobReading(sub.query.name))


def _merge(queries: list[JobQuery]) -> list[JobQuery]:
    """One query per job name; the earliest ``since`` wins (each tracker filters its own runs)."""
    merged: dict[str, JobQuery] = {}
    for query in queries:
        known = merged.get(query.name)
        earlier = (
            known is not None
            and known.since is not None
            and (query.since is None or query.since < known.since)
        )
        if known is None or earlier:
            merged[query.name] = query
    return sorted(merged.values(), key=lambda q: q.name)


@dataclass
class _LoopWatchers:
    loop: asyncio.AbstractEventLoop
    watchers: dict[str, ChainJobWatcher] = field(default_factory=dict)


class ChainWatcherRegistry:
    """Process-wide map (event loop, connection id) -> watcher that all chain triggers share."""

    def __init__(self, **watcher_options: Any) -> None:
        self._options = watcher_options
        self._loops: dict[int, _LoopWatchers] = {}

    def get(self, conn_id: str) -> ChainJobWatcher:
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
            watcher = state.watchers[conn_id] = ChainJobWatcher(conn_id, **self._options)
        return watcher

    @asynccontextmanager
    async def watch(self, conn_id: str, query: JobQuery, interval: float) -> AsyncIterator[JobSubscription]:
        """Subscribe for the block; unsubscribed on exit, cancellation included."""
        watcher = self.get(conn_id)
        subscription = watcher.subscribe(query, interval)
        try:
            yield subscription
        finally:
            watcher.unsubscribe(subscription)

    async def close_all(self) -> None:
        """Stop the watchers of the running loop (tests)."""
        state = self._loops.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            for watcher in state.watchers.values():
                await watcher.aclose()


shared_chain_watchers = ChainWatcherRegistry()
"""The registry every chain trigger of this process uses."""

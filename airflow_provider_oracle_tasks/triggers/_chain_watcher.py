"""One poller per connection id per triggerer event loop for every waiting chain job.

Each :class:`~airflow_provider_oracle_tasks.triggers.chain.OracleSchedulerChainTrigger` subscribes
its job here instead of querying on its own. Per tick the poller reads all due jobs of the
connection id with ONE batched read (:func:`~airflow_provider_oracle_tasks.chains.status.read_jobs_async`:
three statements, whatever the number of jobs) on one session of the shared pool
(:mod:`~airflow_provider_oracle_tasks.db.async_connection`), and hands each subscriber the
reading of its job. The tick is the shortest poll interval of the subscribers; a job with a
longer interval is read on the ticks where its own interval has passed.

The polling itself (batching, transient retry, :class:`ReadProblem`, subscribe/unsubscribe that
never await, stop with the last subscriber) is the
:class:`~airflow_provider_oracle_tasks.triggers._shared_poller.SharedPoller` that the instance
watcher uses too; this module says what a chain job read is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_oracle_tasks.chains.status import JobQuery, JobReading, read_jobs_async
from airflow_provider_oracle_tasks.db.async_connection import oracle_async_connection
from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
)
from airflow_provider_oracle_tasks.triggers._shared_poller import (
    MIN_POLL_INTERVAL,
    PollerRegistry,
    PollerStats,
    ReadProblem,
    SharedPoller,
    Subscription,
)

__all__ = [
    "MIN_POLL_INTERVAL",
    "ChainJobWatcher",
    "ChainWatcherRegistry",
    "JobSubscription",
    "ReadProblem",
    "WatcherStats",
    "read_pooled",
    "shared_chain_watchers",
]

log = logging.getLogger(__name__)

ReadJobs = Callable[[str, list[JobQuery]], Awaitable[dict[str, JobReading]]]


async def read_pooled(conn_id: str, queries: list[JobQuery]) -> dict[str, JobReading]:
    """The default read: one pooled session, one batched read for all ``queries``."""
    async with oracle_async_connection(conn_id) as connection:
        return await read_jobs_async(connection, queries)


class JobSubscription(Subscription[JobQuery, JobReading]):
    """One waiter's mailbox: the newest reading of its job, never a growing queue."""


@dataclass
class WatcherStats(PollerStats):
    """Counters for tests: how many batched reads, and how many jobs they covered."""

    jobs_read: int = 0

    def count_read(self, size: int) -> None:
        super().count_read(size)
        self.jobs_read += size


class ChainJobWatcher(SharedPoller[str, JobQuery, JobReading, JobSubscription]):
    """The poller of one connection id on one event loop (see the module docstring)."""

    kind = "chain job"
    noun = "job(s)"
    task_name = "otask-chain-poller"
    logger = log
    read_at_start = True  # read the first subscriber at once

    def __init__(
        self,
        conn_id: str,
        *,
        read: ReadJobs = read_pooled,
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

    def _new_subscription(self, query: JobQuery, interval: float) -> JobSubscription:
        return JobSubscription(query, interval)

    def _key(self, query: JobQuery) -> str:
        return query.name

    def _queries(self, keys: list[str]) -> list[JobQuery]:
        return _merge([sub.query for sub in self._subscribers(keys)])

    def _missing(self, key: str) -> JobReading:
        return JobReading(key)


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


class ChainWatcherRegistry(PollerRegistry[JobQuery, JobSubscription, ChainJobWatcher]):
    """Process-wide map (event loop, connection id) -> watcher that all chain triggers share."""

    def __init__(self, **watcher_options: Any) -> None:
        super().__init__(ChainJobWatcher, **watcher_options)


shared_chain_watchers = ChainWatcherRegistry()
"""The registry every chain trigger of this process uses."""

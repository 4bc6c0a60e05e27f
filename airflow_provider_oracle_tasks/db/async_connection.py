"""Async Oracle connections for triggers: one small shared pool per connection id per event loop.

A triggerer runs every trigger of a process on one event loop. If each trigger opened its own
session, 1,000 waiting sensors would hold 1,000 database sessions; here they share one
``oracledb.create_pool_async`` pool per Airflow connection id, created once (under an
``asyncio.Lock``) and bounded in size, and every acquired session carries a bounded
``call_timeout`` so no database call can hang a trigger forever.

Usage::

    async with oracle_async_connection("oracle_default") as conn:
        with conn.cursor() as cur:
            await cur.execute("select state from otask_instances_v where instance_id = :id", id=7)

    # A long blocking wait (AQ dequeue with a wait time) must not hold a pooled session:
    async with dedicated_connection("oracle_default", call_timeout=wait + 30) as conn:
        ...

Pools are keyed by (connection id, running loop): python-oracledb ties a pool's background
tasks and sockets to the loop that created it, so a pool is never handed to another loop.
Pools of loops that have since closed are dropped on the next lookup.

Defaults (module constants, overridable per :class:`AsyncOraclePools`):

==========================  ======  =================================================================
Setting                     Value   Why
==========================  ======  =================================================================
pool min                    0       an idle triggerer keeps no session open
pool max                    4       a few concurrent status reads suffice; extra
                                    ``oracle_tasks_async_pool_max`` overrides it per connection
call timeout                60 s    one round trip (a status query) never takes longer; callers may
                                    pass a larger ``call_timeout`` for a known long call
pool wait timeout           30 s    driver-side bound (POOL_GETMODE_TIMEDWAIT) while a session is
                                    being created; longer than the 20 s TCP connect timeout
slot timeout                300 s   how long a caller queues for one of the ``max`` slots
idle timeout                300 s   idle pooled sessions are closed after this
ping interval               60 s    a session idle longer is pinged before reuse (DB restarts)
retries                     5       transient connect/acquire errors, 1 s doubling to 30 s, jittered
==========================  ======  =================================================================

Connection details come from ``await BaseHook.aget_connection(conn_id)`` (Airflow 3 task SDK)
and ``await conn.aextra_dejson()``; the sync ``get_connection``/``extra_dejson`` would make a
blocking supervisor call from the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import oracledb
from airflow.sdk import BaseHook

from airflow_provider_oracle_tasks.db.connection_params import (
    ASYNC_POOL_MAX_EXTRA,
    OracleConnectParams,
    ThickModeNotSupportedError,
    build_connect_params,
)
from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    RetryLogger,
    describe_db_error,
    retry_async,
)

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_POOL_MAX",
    "DEFAULT_POOL_MIN",
    "AsyncOraclePools",
    "PoolSlotTimeout",
    "aget_connect_params",
    "close_all",
    "dedicated_connection",
    "default_pools",
    "oracle_async_connection",
]

log = logging.getLogger(__name__)

DEFAULT_POOL_MIN = 0
DEFAULT_POOL_MAX = 4
DEFAULT_CALL_TIMEOUT = 60.0
DEFAULT_POOL_WAIT_TIMEOUT = 30.0
DEFAULT_SLOT_TIMEOUT = 300.0
DEFAULT_IDLE_TIMEOUT = 300
DEFAULT_PING_INTERVAL = 60


class PoolSlotTimeout(TimeoutError):
    """No pooled session became free within the slot timeout: the pool is too small for the load."""


def _call_timeout_ms(seconds: float) -> int:
    """Validate a call timeout: it must be bounded, because 0 means 'wait forever' to the driver."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"call_timeout must be a positive number of seconds, got {seconds!r}")
    return max(1, math.ceil(seconds * 1000))


def _add_hint(exc: BaseException, conn_id: str, params: OracleConnectParams | None) -> None:
    """Attach the one-line explanation once, keeping the original exception type and ``args``."""
    if not isinstance(exc, oracledb.Error | socket.gaierror):  # oracledb does not wrap gaierror
        return
    note = describe_db_error(exc, conn_id, dsn=params.dsn if params else None)
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def _session_is_clean(exc: BaseException) -> bool:
    """Whether a session whose use ended with ``exc`` can go back to the pool.

    Only a server error (an ORA- code: the round trip completed) leaves the protocol in step.
    A cancellation (the last subscriber left mid-read, ``on_kill``), a driver error such as a
    call timeout, or anything else may have cut a round trip half-way: that session is dropped.
    """
    if not isinstance(exc, oracledb.DatabaseError) or not exc.args:
        return False
    return str(getattr(exc.args[0], "full_code", "")).startswith("ORA-")


async def aget_connect_params(conn_id: str) -> OracleConnectParams:
    """Read the Airflow connection without blocking the loop and map it to thin-mode parameters."""
    conn = await BaseHook.aget_connection(conn_id)
    extras = await conn.aextra_dejson()
    params = build_connect_params(conn, extras)
    params.require_thin()
    if not oracledb.is_thin_mode():
        raise ThickModeNotSupportedError(
            "python-oracledb is already in thick mode in this process (init_oracle_client() was "
            f"called), so the async connection for '{conn_id}' cannot be opened: asyncio needs "
            "thin mode. Do not enable thick mode in the triggerer."
        )
    return params


@dataclass
class _PoolEntry:
    pool: oracledb.AsyncConnectionPool
    params: OracleConnectParams
    slots: asyncio.Semaphore
    users: int = 0
    evicted: bool = False


@dataclass
class _LoopState:
    loop: asyncio.AbstractEventLoop
    pools: dict[str, _PoolEntry] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)


class AsyncOraclePools:
    """Process-wide registry of async pools, one per (connection id, event loop).

    Callers queue on an ``asyncio.Semaphore`` of the pool's size before asking the pool, so the
    driver never sees more requests than it has sessions, a queued caller can be cancelled
    cleanly, and the wait is bounded by ``slot_timeout``.
    """

    def __init__(
        self,
        *,
        pool_min: int = DEFAULT_POOL_MIN,
        pool_max: int = DEFAULT_POOL_MAX,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        pool_wait_timeout: float = DEFAULT_POOL_WAIT_TIMEOUT,
        slot_timeout: float = DEFAULT_SLOT_TIMEOUT,
        idle_timeout: int = DEFAULT_IDLE_TIMEOUT,
        ping_interval: int = DEFAULT_PING_INTERVAL,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        logger: RetryLogger | None = None,
    ) -> None:
        if pool_max < 1 or pool_min < 0 or pool_min > pool_max:
            raise ValueError(f"need 0 <= pool_min <= pool_max and pool_max >= 1, got {pool_min}, {pool_max}")
        _call_timeout_ms(call_timeout)
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.call_timeout = call_timeout
        self.pool_wait_timeout = pool_wait_timeout
        self.slot_timeout = slot_timeout
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.log: RetryLogger = logger or log
        self._states: dict[int, _LoopState] = {}

    def _loop_state(self) -> _LoopState:
        """State of the running loop; no await inside, so no other task can interleave."""
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is None or state.loop is not loop:
            for key, other in list(self._states.items()):
                if other.loop.is_closed():
                    del self._states[key]
            state = _LoopState(loop)
            self._states[id(loop)] = state
        return state

    def _create_pool(self, params: OracleConnectParams) -> oracledb.AsyncConnectionPool:
        size = params.async_pool_max or self.pool_max
        return oracledb.create_pool_async(
            min=min(self.pool_min, size),
            max=size,
            increment=1,
            getmode=oracledb.POOL_GETMODE_TIMEDWAIT,
            wait_timeout=max(1, math.ceil(self.pool_wait_timeout * 1000)),
            timeout=self.idle_timeout,
            ping_interval=self.ping_interval,
            **params.connect_kwargs,
        )

    async def _entry(self, conn_id: str) -> _PoolEntry:
        state = self._loop_state()
        entry = state.pools.get(conn_id)
        if entry is not None:
            return entry
        lock = state.locks.setdefault(conn_id, asyncio.Lock())
        async with lock:
            entry = state.pools.get(conn_id)
            if entry is None:
                params = await aget_connect_params(conn_id)
                pool = self._create_pool(params)
                size = params.async_pool_max or self.pool_max
                entry = _PoolEntry(pool=pool, params=params, slots=asyncio.Semaphore(size))
                state.pools[conn_id] = entry
                log.info(
                    "Created async Oracle pool for connection '%s' (%s@%s, up to %d sessions)",
                    conn_id,
                    params.user,
                    params.dsn,
                    size,
                )
        return entry

    def _evict(self, conn_id: str, entry: _PoolEntry) -> None:
        """Forget a pool that failed to connect, so the next acquire re-reads the connection.

        A rotated password or a corrected host then takes effect without restarting the
        triggerer. The pool itself is closed by its last user (see ``_leave``), never under a
        caller that is still waiting on it.
        """
        entry.evicted = True
        state = self._loop_state()
        if state.pools.get(conn_id) is entry:
            del state.pools[conn_id]

    async def _leave(self, entry: _PoolEntry) -> None:
        entry.users -= 1
        if entry.evicted and entry.users == 0:
            try:
                await entry.pool.close(force=True)
            except Exception:
                log.debug("Closing an evicted async Oracle pool failed", exc_info=True)

    async def _checkout(self, conn_id: str, entry: _PoolEntry) -> oracledb.AsyncConnection:
        async def once() -> oracledb.AsyncConnection:
            conn: oracledb.AsyncConnection = await entry.pool.acquire()
            return conn

        return await retry_async(
            once,
            attempts=self.attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            log=self.log,
            what=f"acquire of a pooled connection for '{conn_id}'",
        )

    @asynccontextmanager
    async def acquire(
        self, conn_id: str, *, call_timeout: float | None = None
    ) -> AsyncIterator[oracledb.AsyncConnection]:
        """Yield a pooled session of ``conn_id`` with a bounded call timeout; release it afterwards.

        ``call_timeout`` (seconds) overrides the default for this use only, e.g. for a call that
        is known to wait on the server. Transient connect errors are retried with backoff; other
        errors are raised at once with a note from :func:`describe_db_error`.
        """
        timeout_ms = _call_timeout_ms(self.call_timeout if call_timeout is None else call_timeout)
        entry = await self._entry(conn_id)
        entry.users += 1  # no await since _entry returned: eviction cannot close it under us
        try:
            try:
                async with asyncio.timeout(self.slot_timeout):
                    await entry.slots.acquire()
            except TimeoutError:
                raise PoolSlotTimeout(
                    f"No pooled Oracle session for connection '{conn_id}' became free within "
                    f"{self.slot_timeout:g} s. Raise extra '{ASYNC_POOL_MAX_EXTRA}' on the connection "
                    "or hold pooled sessions only for short calls (dedicated_connection for waits)."
                ) from None
            try:
                try:
                    conn = await self._checkout(conn_id, entry)
                except Exception as exc:
                    _add_hint(exc, conn_id, entry.params)
                    self._evict(conn_id, entry)
                    raise
                clean = True
                try:
                    conn.call_timeout = timeout_ms
                    entry.params.apply_session_settings(conn)
                    yield conn
                except BaseException as exc:
                    clean = _session_is_clean(exc)
                    raise
                finally:
                    try:
                        if clean:
                            await entry.pool.release(conn)
                        else:  # a round trip may have been cut half-way: never hand it out again
                            await entry.pool.drop(conn)  # type: ignore[arg-type]  # oracledb's hint says Connection
                    except Exception:
                        log.debug("Return of a pooled connection for '%s' failed", conn_id, exc_info=True)
            finally:
                entry.slots.release()
        finally:
            await self._leave(entry)

    async def close_all(self) -> None:
        """Close the pools of the running loop and forget those of closed loops (tests, shutdown).

        Pools of another loop that is still running are left alone: they can only be closed from
        that loop.
        """
        loop = asyncio.get_running_loop()
        for key, state in list(self._states.items()):
            if state.loop is loop:
                entries = list(state.pools.values())
                state.pools.clear()
                for entry in entries:
                    try:
                        await entry.pool.close(force=True)
                    except Exception:
                        log.debug("Closing an async Oracle pool failed", exc_info=True)
                del self._states[key]
            elif state.loop.is_closed():
                del self._states[key]

    def pool_count(self) -> int:
        """Number of live pools across loops (for tests and the triggerer benchmark)."""
        return sum(len(state.pools) for state in self._states.values())


default_pools = AsyncOraclePools()
"""The process-wide registry every trigger shares."""


def oracle_async_connection(
    conn_id: str, *, call_timeout: float | None = None
) -> AbstractAsyncContextManager[oracledb.AsyncConnection]:
    """``async with oracle_async_connection(conn_id) as conn``: a session from the shared pool."""
    return default_pools.acquire(conn_id, call_timeout=call_timeout)


async def close_all() -> None:
    """Close the shared pools of the running loop."""
    await default_pools.close_all()


@asynccontextmanager
async def dedicated_connection(
    conn_id: str,
    *,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    logger: RetryLogger | None = None,
) -> AsyncIterator[oracledb.AsyncConnection]:
    """A standalone session (``oracledb.connect_async``) for long blocking waits, closed on exit.

    A blocking AQ dequeue may sit on the server for minutes; doing that on a pooled session would
    starve the short status reads that share the pool. Set ``call_timeout`` above the server-side
    wait so the driver does not cut the wait off.
    """
    timeout_ms = _call_timeout_ms(call_timeout)
    params = await aget_connect_params(conn_id)

    async def once() -> oracledb.AsyncConnection:
        conn: oracledb.AsyncConnection = await oracledb.connect_async(**params.connect_kwargs)
        return conn

    try:
        conn = await retry_async(
            once,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            log=logger or log,
            what=f"dedicated connection for '{conn_id}'",
        )
    except Exception as exc:
        _add_hint(exc, conn_id, params)
        raise
    try:
        conn.call_timeout = timeout_ms
        params.apply_session_settings(conn)
        yield conn
    finally:
        try:
            await conn.close()
        except Exception:
            log.debug("Closing the dedicated connection for '%s' failed", conn_id, exc_info=True)

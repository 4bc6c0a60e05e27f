"""The ack-mode producer behind :class:`~airflow_provider_oracle_tasks.triggers.aq.OracleAQEventTrigger`.

Airflow 3.3 runs event triggers that return the same ``shared_stream_key`` on one shared stream
(:mod:`airflow.triggers.shared_stream`), and, when the trigger class returns a
:class:`~airflow.triggers.shared_stream.SharedStreamProducer`, in **ack mode**: the producer's
``advance`` is called for an event only after every subscriber moved past it *and* the trigger
events derived from it were confirmed stored in the metadata database.

:class:`AQStreamProducer` uses that to consume an AQ queue without a loss window:

* ``open_stream`` **browses** (``DEQ_BROWSE``): a message stays on the queue for the consumer
  while its event travels to the metadata database. A message already broadcast and not yet
  advanced is not broadcast again (``_inflight``).
* ``advance`` **removes** the stored events' messages by message id (``DEQ_REMOVE``,
  ``ON_COMMIT``) and commits them **in one transaction** per batch, on a second session of its own
  (the browse session is usually blocked in a dequeue wait). A message that is gone already
  (ORA-25263) counts as removed. A removal that fails is kept and retried before the next dequeue
  and at the next advance; its message is not broadcast again meanwhile.
* An event that was not stored (``AckTimeout``, a subscriber that failed, nobody subscribed) is
  not removed: the stream browses from the first message again after ``REDELIVER_DELAY`` and
  broadcasts it again. A rejected event (``reject_shared_stream_event``) is removed: AQ has no
  negative acknowledgement for a browsed message, and keeping it would redeliver it for ever.

Crash points (tests/unit/test_aq_event_stream.py drives Airflow's SharedStreamManager through them):

* the triggerer dies **before** the event is stored: nothing was removed (browse only), the
  sessions die with the process, and the next triggerer browses the message again: **no loss**;
* it dies **after** the event is stored but **before** the removal commits (one state-sync round,
  a second or two): the message is still queued and the next triggerer delivers it again: **one
  duplicate event** (a second DAG run) is possible in that window, never a lost one;
* it dies after the commit: nothing is left to deliver.

So the guarantee is *at least once, no loss*; a message is delivered twice only when the
triggerer dies in the window between persistence and commit. Errors never end the stream
(:mod:`._aq_reconnect`): it logs, backs off and reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import oracledb
from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.db.async_connection import dedicated_connection
from airflow_provider_oracle_tasks.db.transient import error_codes
from airflow_provider_oracle_tasks.triggers._aq_reconnect import (
    LOGIN_GATE,
    ErrorReporter,
    LoginGate,
    is_credential_error,
    reconnect_delay,
)

log = logging.getLogger(__name__)

CALL_MARGIN = 30.0
REDELIVER_DELAY = 5.0
"""Seconds before an event that was not stored is browsed (and broadcast) again."""
GONE_CODES = frozenset({"ORA-25263", "ORA-25228"})


async def open_async_queue(conn: Any, name: str, kind: str) -> Any:
    """``AsyncConnection.queue`` for a RAW, JSON or object-type queue."""
    if kind == aq_messages.RAW:
        return conn.queue(name)
    if kind == aq_messages.JSON:
        return conn.queue(name, "JSON")
    return conn.queue(name, await conn.gettype(kind))


@dataclass(frozen=True)
class StreamSpec:
    """What one shared stream reads: everything in the trigger's ``shared_stream_key``."""

    conn_id: str
    queue: str
    consumer: str
    payload_type: str
    condition: str | None
    correlation: str | None
    wait_seconds: float

    @property
    def where(self) -> str:
        return f"AQ watcher on queue {self.queue} (consumer {self.consumer}, connection '{self.conn_id}')"


@dataclass
class StreamStats:
    """Counters for tests and the benchmark."""

    broadcast: int = 0
    removed: int = 0
    redelivered: int = 0
    rejected: int = 0
    failed_removals: int = 0


class AQStreamProducer(SharedStreamProducer):
    """Browse in ``open_stream``, remove by msgid in ``advance`` (see the module docstring)."""

    def __init__(self, spec: StreamSpec, *, gate: LoginGate = LOGIN_GATE) -> None:
        self.spec = spec
        self.gate = gate
        self.stats = StreamStats()
        self._inflight: set[str] = set()
        self._to_remove: list[str] = []
        self._rescan_at: float | None = 0.0  # browse from the first message at the start
        self._lock = asyncio.Lock()
        self._ack_conn: Any = None
        self._ack_queue: Any = None
        self._ack_manager: Any = None
        self._ack_failures = 0
        self._reporter = ErrorReporter(log, spec.where, spec.conn_id)
        self._ack_reporter = ErrorReporter(log, f"{spec.where}, removing delivered messages", spec.conn_id)

    # --- the stream ---------------------------------------------------------------------------

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        spec = self.spec
        failures = 0
        while True:
            await self.gate.wait(spec.conn_id)
            try:
                async with dedicated_connection(
                    spec.conn_id, call_timeout=spec.wait_seconds + CALL_MARGIN, attempts=1, logger=log
                ) as conn:
                    queue = await open_async_queue(conn, spec.queue, spec.payload_type)
                    self._configure(queue.deqoptions)
                    self._rescan_at = 0.0  # a new session has no browse position
                    while True:
                        await self._flush_removals()
                        options = queue.deqoptions
                        if self._rescan_at is not None and time.monotonic() >= self._rescan_at:
                            options.navigation = oracledb.DEQ_FIRST_MSG
                            self._rescan_at = None
                        else:
                            options.navigation = oracledb.DEQ_NEXT_MSG
                        options.wait = max(1, math.ceil(spec.wait_seconds))
                        message = await queue.deqone()
                        if failures:
                            failures = 0
                            self.gate.clear(spec.conn_id)
                            self._reporter.recovered()
                        if message is None:
                            continue
                        item = aq_messages.message_dict(message, spec.payload_type, spec.queue, spec.consumer)
                        msgid = item["msgid"]
                        if msgid in self._inflight:
                            continue
                        self._inflight.add(msgid)
                        self.stats.broadcast += 1
                        yield item, msgid
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = reconnect_delay(exc, failures)
                text = self._reporter.failed(exc, delay)
                if is_credential_error(exc):
                    self.gate.block(spec.conn_id, delay, text)
                await asyncio.sleep(delay)

    def _configure(self, options: Any) -> None:
        options.consumername = self.spec.consumer
        options.mode = oracledb.DEQ_BROWSE
        if self.spec.condition is not None:  # unset options stay unset: the driver wants text
            options.condition = self.spec.condition
        if self.spec.correlation is not None:
            options.correlation = self.spec.correlation

    # --- the broker advance -------------------------------------------------------------------

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        for item in batch:
            msgid = str(item.broker_payload)
            outcome = item.outcome
            if outcome.is_clean or (outcome.rejected and not outcome.failed):
                if outcome.rejected:
                    self.stats.rejected += 1
                    log.warning(
                        "%s: message %s was rejected by %d subscriber(s); removing it (AQ cannot "
                        "return a browsed message as refused)",
                        self.spec.where,
                        msgid,
                        outcome.rejected,
                    )
                self._to_remove.append(msgid)
            else:
                # Not stored (ack timeout, failed subscriber, nobody online): keep it, browse again.
                self.stats.redelivered += 1
                self._inflight.discard(msgid)
                self._rescan_at = time.monotonic() + REDELIVER_DELAY
        await self._flush_removals()

    async def _flush_removals(self) -> None:
        """Remove every pending message by id and commit once; on an error keep them for later."""
        if not self._to_remove:
            return
        async with self._lock:
            pending = list(self._to_remove)
            if not pending:
                return
            try:
                queue, conn = await self._ack_session()
                options = queue.deqoptions
                for msgid in pending:
                    options.msgid = bytes.fromhex(msgid)
                    try:
                        await queue.deqone()
                    except oracledb.DatabaseError as error:
                        if not GONE_CODES.intersection(error_codes(error)):
                            raise
                await conn.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failed_removals += 1
                self._ack_failures += 1
                delay = reconnect_delay(exc, self._ack_failures)
                text = self._ack_reporter.failed(exc, delay)
                if is_credential_error(exc):
                    self.gate.block(self.spec.conn_id, delay, text)
                await self._close_ack()
                return
            if self._ack_failures:
                self._ack_failures = 0
                self._ack_reporter.recovered()
            for msgid in pending:
                self._to_remove.remove(msgid)
                self._inflight.discard(msgid)
            self.stats.removed += len(pending)

    async def _ack_session(self) -> tuple[Any, Any]:
        if self._ack_conn is None:
            if self.gate.remaining(self.spec.conn_id) > 0:
                raise _LoginBlocked(self.spec.conn_id, self.gate)
            manager = dedicated_connection(
                self.spec.conn_id, call_timeout=CALL_MARGIN, attempts=1, logger=log
            )
            conn = await manager.__aenter__()
            self._ack_manager = manager
            self._ack_conn = conn
            queue = await open_async_queue(conn, self.spec.queue, self.spec.payload_type)
            options = queue.deqoptions
            options.consumername = self.spec.consumer
            options.mode = oracledb.DEQ_REMOVE
            options.visibility = oracledb.DEQ_ON_COMMIT
            options.wait = oracledb.DEQ_NO_WAIT
            self._ack_queue = queue
        return self._ack_queue, self._ack_conn

    async def _close_ack(self) -> None:
        manager, self._ack_manager = self._ack_manager, None
        self._ack_conn, self._ack_queue = None, None
        if manager is not None:
            try:
                await manager.__aexit__(None, None, None)  # rolls back what was not committed
            except Exception:
                log.debug("Closing the AQ removal session failed", exc_info=True)

    async def aclose(self) -> None:
        await self._close_ack()


class _LoginBlocked(Exception):
    """No login now: an earlier one with this connection id failed on its credentials."""

    def __init__(self, conn_id: str, gate: LoginGate) -> None:
        super().__init__(
            f"not logging in to '{conn_id}' for another {gate.remaining(conn_id):.0f} s after a failed "
            f"login: {gate.reason(conn_id)}"
        )

"""Triggers that wait on an Oracle AQ queue with a blocking dequeue, not a poll interval.

Both open one **dedicated** thin-mode async session (``dedicated_connection``) for their whole
wait, because a dequeue that blocks on the server for ``wait_seconds`` must never hold a pooled
session that short status reads share. Each dequeue waits at most ``wait_seconds`` (bounded, so
a stopped trigger, a timeout or a lost database is noticed within that time), and the session's
``call_timeout`` is ``wait_seconds + CALL_MARGIN`` so the driver never cuts a wait off.

:class:`OracleAQMessageTrigger` (for :class:`~airflow_provider_oracle_tasks.sensors.aq.OracleAQEventSensor`)
dequeues in **BROWSE** mode: it reports the message's id and payload but leaves the message on
the queue. The resumed task removes exactly that message by id and commits. A triggerer crash,
restart or a second copy of the trigger therefore loses nothing and consumes nothing.

:class:`OracleAQEventTrigger` (for ``AssetWatcher``) must consume, or the same message would
schedule the DAG again and again: it dequeues in REMOVE mode with ``visibility ON_COMMIT``,
yields the event, and commits only when the triggerer resumes it after taking the event. See
its docstring for the delivery guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import oracledb
from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.db.async_connection import dedicated_connection
from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    backoff_delay,
    describe_db_error,
    is_transient,
)

DEFAULT_WAIT_SECONDS = 30.0
CALL_MARGIN = 30.0
"""Seconds added to a dequeue's server-side wait for the driver's call timeout."""


async def open_async_queue(conn: Any, name: str, kind: str) -> Any:
    """``AsyncConnection.queue`` for a RAW, JSON or object-type queue."""
    if kind == aq_messages.RAW:
        return conn.queue(name)
    if kind == aq_messages.JSON:
        return conn.queue(name, "JSON")
    return conn.queue(name, await conn.gettype(kind))


class _QueueWaiter:
    """The dequeue loop both triggers share: dedicated session, bounded waits, transient retry."""

    def __init__(self, trigger: OracleAQMessageTrigger) -> None:
        self.t = trigger

    def remaining(self) -> float | None:
        if self.t.timeout_at is None:
            return None
        return self.t.timeout_at - time.time()

    def configure(self, options: Any, mode: int) -> None:
        options.consumername = self.t.consumer
        options.mode = mode
        options.navigation = oracledb.DEQ_FIRST_MSG  # always the oldest matching message
        if self.t.condition is not None:  # unset options stay unset: the driver wants text
            options.condition = self.t.condition
        if self.t.correlation is not None:
            options.correlation = self.t.correlation
        if mode != oracledb.DEQ_BROWSE:
            options.visibility = oracledb.DEQ_ON_COMMIT

    async def messages(self, mode: int) -> AsyncGenerator[tuple[Any, dict[str, Any]], None]:
        """Yield ``(connection, message dict)``; return when ``timeout_at`` passes.

        A transient error (lost session, database restarting) reconnects with backoff, up to
        ``attempts`` failures in a row; anything else is raised with its fix attached.
        """
        failures = 0
        while True:
            try:
                async with dedicated_connection(
                    self.t.oracle_conn_id, call_timeout=self.t.wait_seconds + CALL_MARGIN
                ) as conn:
                    queue = await open_async_queue(conn, self.t.queue, self.t.payload_type)
                    self.configure(queue.deqoptions, mode)
                    while True:
                        remaining = self.remaining()
                        if remaining is not None and remaining <= 0:
                            return
                        wait = (
                            self.t.wait_seconds if remaining is None else min(self.t.wait_seconds, remaining)
                        )
                        queue.deqoptions.wait = max(1, math.ceil(wait))  # 0 would mean NO_WAIT: a busy loop
                        message = await queue.deqone()
                        failures = 0
                        if message is not None:
                            yield (
                                conn,
                                aq_messages.message_dict(
                                    message, self.t.payload_type, self.t.queue, self.t.consumer
                                ),
                            )
            except Exception as exc:
                if not is_transient(exc) or failures + 1 >= self.t.attempts:
                    raise
                failures += 1
                await asyncio.sleep(
                    backoff_delay(failures, base_delay=self.t.base_delay, max_delay=self.t.max_delay)
                )


class OracleAQMessageTrigger(BaseTrigger):
    """Wait for a message on ``queue`` for ``consumer``; report it without consuming it.

    Events (``TriggerEvent.payload``):

    * ``{"status": "message", "message": {msgid, payload, correlation, ...}, "timeout_at": ...}``
    * ``{"status": "timeout", "message": "..."}`` when ``timeout_at`` (epoch seconds) passed;
    * ``{"status": "error", "message": "..."}`` for a non-transient error or too many transient ones.

    :param payload_type: ``RAW``, ``JSON`` or an object type name, as the queue was created.
    :param condition: AQ dequeue condition (SQL text from the DAG author, see aq_messages.condition).
    :param correlation: only messages with this correlation id (AQ wildcards allowed).
    :param wait_seconds: server-side wait of one dequeue; bounds how late a stop is noticed.
    """

    def __init__(
        self,
        *,
        queue: str,
        consumer: str,
        oracle_conn_id: str = "oracle_default",
        payload_type: str = aq_messages.RAW,
        condition: str | None = None,
        correlation: str | None = None,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        timeout_at: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        super().__init__()
        self.queue = aq_messages.queue_name(queue)
        self.consumer = aq_messages.consumer_name(consumer)
        self.oracle_conn_id = oracle_conn_id
        self.payload_type = aq_messages.payload_type(payload_type)
        self.condition = aq_messages.condition(condition)
        self.correlation = aq_messages.correlation(correlation)
        if (
            isinstance(wait_seconds, bool)
            or not isinstance(wait_seconds, int | float)
            or not (1 <= wait_seconds <= 3600)
        ):
            raise ValueError(f"wait_seconds={wait_seconds!r} must be a number of seconds from 1 to 3600.")
        self.wait_seconds = float(wait_seconds)
        self.timeout_at = None if timeout_at is None else float(timeout_at)
        self.attempts = int(attempts)
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "consumer": self.consumer,
            "oracle_conn_id": self.oracle_conn_id,
            "payload_type": self.payload_type,
            "condition": self.condition,
            "correlation": self.correlation,
            "wait_seconds": self.wait_seconds,
            "timeout_at": self.timeout_at,
            "attempts": self.attempts,
            "base_delay": self.base_delay,
            "max_delay": self.max_delay,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs())

    def _where(self) -> str:
        return f"queue {self.queue} (consumer {self.consumer})"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        found: dict[str, Any] | None = None
        try:
            # aclosing: the dedicated session is closed before the event leaves, not at GC time
            async with contextlib.aclosing(_QueueWaiter(self).messages(oracledb.DEQ_BROWSE)) as stream:
                async for _conn, message in stream:
                    found = message
                    break
        except Exception as exc:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"waiting on {self._where()} failed: "
                    f"{describe_db_error(exc, self.oracle_conn_id)}",
                }
            )
            return
        if found is not None:
            self.log.info("Message %s seen on %s (left on the queue)", found["msgid"], self._where())
            yield TriggerEvent({"status": "message", "message": found, "timeout_at": self.timeout_at})
            return
        yield TriggerEvent(
            {"status": "timeout", "message": f"no message on {self._where()} before the timeout"}
        )


class OracleAQEventTrigger(BaseEventTrigger, OracleAQMessageTrigger):
    """Event trigger for ``AssetWatcher``: each message on ``queue`` for ``consumer`` is one event.

    The message is dequeued (REMOVE, ``ON_COMMIT``) in the trigger's own transaction, the event is
    yielded, and the removal is committed when the triggerer resumes the trigger right after taking
    the event. Delivery is therefore **at-least-once up to the hand-over and at-most-once after
    it**: a triggerer that dies before the commit rolls the removal back and the message is
    delivered again (a second DAG run is possible if the first event had already been stored);
    a triggerer that dies after the commit but before it stored the event loses that one event.
    Both windows are one loop iteration of the triggerer. Where a message must never be lost or
    consumed twice, use :class:`~airflow_provider_oracle_tasks.sensors.aq.OracleAQEventSensor`
    in a DAG that runs on a schedule instead.

    There is no timeout: the trigger runs for as long as the DAG's asset is watched. The event's
    payload is the message dict (see :class:`OracleAQMessageTrigger`).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("timeout_at", None)
        super().__init__(**kwargs)
        self.timeout_at = None

    def _kwargs(self) -> dict[str, Any]:
        kwargs = super()._kwargs()
        kwargs.pop("timeout_at")
        return kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with contextlib.aclosing(_QueueWaiter(self).messages(oracledb.DEQ_REMOVE)) as stream:
            async for conn, message in stream:
                self.log.info("Message %s taken from %s", message["msgid"], self._where())
                yield TriggerEvent(message)
                await conn.commit()

"""Triggers that wait on an Oracle AQ queue.

:class:`OracleAQMessageTrigger` (for :class:`~airflow_provider_oracle_tasks.sensors.aq.OracleAQEventSensor`)
**browses**: it reports the message's id and payload but leaves the message on the queue; the
resumed task removes exactly that message by id and commits. It holds no session of its own: all
such triggers of one connection id share one browse per (queue, consumer, payload type, condition)
per tick on the connection id's pooled session (:mod:`._aq_listener`). A triggerer crash, restart
or a second copy of the trigger therefore loses nothing and consumes nothing.

:class:`OracleAQEventTrigger` (for ``AssetWatcher``) must consume, or the same message would
schedule the DAG again and again. It runs on Airflow 3.3's shared stream in **ack mode**
(:mod:`._aq_stream`): the stream browses, and a message is removed (by id, in one transaction)
only after Airflow has stored the asset event derived from it. It never ends on an error: it logs
the ORA code with the fix, backs off and reconnects, and after a credential error it makes at most
about two login attempts per minute for that connection id (:mod:`._aq_reconnect`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.db.transient import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
)
from airflow_provider_oracle_tasks.triggers._aq_listener import ListenKey, ListenQuery, shared_aq_listeners
from airflow_provider_oracle_tasks.triggers._aq_stream import (
    CALL_MARGIN,
    AQStreamProducer,
    StreamSpec,
    open_async_queue,
)
from airflow_provider_oracle_tasks.triggers._shared_poller import ReadProblem

__all__ = ["CALL_MARGIN", "OracleAQEventTrigger", "OracleAQMessageTrigger", "open_async_queue"]

DEFAULT_WAIT_SECONDS = 30.0
STREAM_KEY = "oracle-tasks-aq"


class OracleAQMessageTrigger(BaseTrigger):
    """Wait for a message on ``queue`` for ``consumer``; report it without consuming it.

    Events (``TriggerEvent.payload``):

    * ``{"status": "message", "message": {msgid, payload, correlation, ...}, "timeout_at": ...}``
    * ``{"status": "timeout", "message": "..."}`` when ``timeout_at`` (epoch seconds) passed;
    * ``{"status": "error", "message": "..."}`` for a non-transient error or too many transient ones.

    :param payload_type: ``RAW``, ``JSON`` or an object type name, as the queue was created.
    :param condition: AQ dequeue condition (SQL text from the DAG author, see aq_messages.condition).
    :param correlation: only messages with this correlation id (AQ wildcards allowed).
    :param wait_seconds: longest time between two looks at the queue (the shared browse runs at
        least every second); for the event trigger, the server-side wait of one browse dequeue.
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

    def _query(self) -> ListenQuery:
        key = ListenKey(self.queue, self.consumer, self.payload_type, self.condition)
        return ListenQuery(key, self.correlation)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        found: dict[str, Any] | None = None
        async with shared_aq_listeners.watch(self.oracle_conn_id, self._query(), self.wait_seconds) as sub:
            while True:
                try:
                    reading = await sub.next_before(self.timeout_at)
                except TimeoutError:
                    break
                if isinstance(reading, ReadProblem):
                    if reading.transient:
                        self.log.warning("Browse of %s failed, retrying: %s", self._where(), reading.message)
                        continue
                    yield TriggerEvent(
                        {
                            "status": "error",
                            "message": f"waiting on {self._where()} failed: {reading.message}",
                        }
                    )
                    return
                if sub.message is not None:
                    found = sub.message
                    break
        if found is not None:
            self.log.info("Message %s seen on %s (left on the queue)", found["msgid"], self._where())
            yield TriggerEvent({"status": "message", "message": found, "timeout_at": self.timeout_at})
            return
        yield TriggerEvent(
            {"status": "timeout", "message": f"no message on {self._where()} before the timeout"}
        )


class OracleAQEventTrigger(BaseEventTrigger, OracleAQMessageTrigger):
    """Event trigger for ``AssetWatcher``: each message on ``queue`` for ``consumer`` is one event.

    **Delivery** (Airflow 3.3 shared stream in ack mode; :mod:`._aq_stream` has the details): the
    stream browses, and the message is removed for ``consumer`` (by id, in one transaction with the
    other messages of the batch) only after Airflow confirmed that the asset event derived from it
    is stored. A triggerer that dies before that leaves the message on the queue, and the next
    triggerer delivers it: **no message is lost**. One that dies after the event was stored but
    before the removal committed (one state-sync round) delivers it once more: a duplicate event
    is possible in that window only. So: *at least once*, not exactly once. Watchers with equal
    connection id, queue, consumer, payload type, condition and correlation share one stream (two
    sessions: browse and removal) and each get every message.

    Errors never end the trigger: it logs the error once with its ORA code and fix, waits (capped,
    jittered backoff; 30 s to 10 min after a credential error such as ORA-01017, for every AQ
    session of that connection id) and reconnects.

    There is no timeout: the trigger runs for as long as the DAG's asset is watched. The event's
    payload is the message dict (see :class:`OracleAQMessageTrigger`). Used outside a shared
    stream (``run()``), the message is removed right after the event is handed to the triggerer,
    before it is stored: a crash in that moment loses it.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("timeout_at", None)
        if "queue_name" in kwargs:  # the sensor's name for it, and what MessageQueueTrigger can pass
            if "queue" in kwargs:
                raise ValueError("give queue= or queue_name=, not both")
            kwargs["queue"] = kwargs.pop("queue_name")
        super().__init__(**kwargs)
        self.timeout_at = None

    def _kwargs(self) -> dict[str, Any]:
        kwargs = super()._kwargs()
        kwargs.pop("timeout_at")
        return kwargs

    def shared_stream_key(self) -> Hashable | None:
        return (
            STREAM_KEY,
            self.oracle_conn_id,
            self.queue,
            self.consumer,
            self.payload_type,
            self.condition,
            self.correlation,
        )

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> AQStreamProducer:
        trigger = cls(**kwargs)  # validates and normalises, exactly as the subscribers did
        return AQStreamProducer(
            StreamSpec(
                conn_id=trigger.oracle_conn_id,
                queue=trigger.queue,
                consumer=trigger.consumer,
                payload_type=trigger.payload_type,
                condition=trigger.condition,
                correlation=trigger.correlation,
                wait_seconds=trigger.wait_seconds,
            )
        )

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for message in shared_stream:
            self.log.info("Message %s seen on %s", message["msgid"], self._where())
            yield TriggerEvent(message)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Without a shared stream: remove each message right after handing its event over."""
        producer = self.create_shared_stream_producer(self._kwargs())
        try:
            async with contextlib.aclosing(producer.open_stream()) as stream:  # type: ignore[type-var]
                async for message, msgid in stream:
                    self.log.info("Message %s taken from %s", message["msgid"], self._where())
                    yield TriggerEvent(message)
                    await producer.advance([AdvanceItem(msgid, AdvanceOutcome(acked=1, failed=0))])
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(producer.aclose())

"""Wait for an Oracle AQ message (e.g. "the payroll file arrived") and consume it.

Deferrable path (default): one non-blocking take first; if nothing is there, the task defers to
:class:`~airflow_provider_oracle_tasks.triggers.aq.OracleAQMessageTrigger`, which *browses*: all
waiting sensors of one queue and consumer share one non-blocking browse per second on a pooled
session (the event reaches the task within about a second, not a poke interval), and the message
stays on the queue. On resume the task removes exactly that message by its id
in one transaction and commits, then returns the message (XCom). A triggerer crash or restart
therefore loses nothing: the message is still queued and the next trigger sees it again.

If the message is gone when the task resumes (another task with the same consumer name took it,
or it expired), ``if_message_gone`` decides: ``wait`` (default) waits for the next message within
the remaining timeout, ``fail`` fails, ``skip`` skips (Oracle raises ORA-25263 for a dequeue by a
message id that is gone; that is this case).

Guarantee: **at most once per consumer after the take.** The removal is committed in the worker
before Airflow stores the task's XCom, so a worker that dies between the commit and the XCom loses
that message for this consumer (the retry waits for the next one); before the commit nothing is
consumed and a retry sees the same message again.

Non-deferrable path: ``poke`` takes a message (REMOVE, NO_WAIT) and commits in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.aq.queues import open_queue
from airflow_provider_oracle_tasks.hooks import task_manager_hook as aq_hook

DEFAULT_POKE_INTERVAL = 60.0
GONE_CODES = frozenset({"ORA-25263", "ORA-25228"})
"""Dequeue by msgid: no such message for this consumer (25263); no message at all (25228)."""
DEFAULT_WAIT_SECONDS = 30.0


class MessageGone(AirflowException):
    """The message the trigger saw was removed before the task could take it (if_message_gone='fail')."""


class OracleAQEventSensor(BaseSensorOperator):
    """Wait for one message on ``queue`` for ``consumer``; return it (XCom) after consuming it.

    The XCom value is ``{queue, consumer, msgid, correlation, enqueued_at, attempts, payload}``.
    A RAW payload that is UTF-8 JSON text is returned as the document.

    :param queue_name: ``QUEUE`` or ``OWNER.QUEUE`` (a multiple-consumer queue; not ``queue``,
        which is BaseOperator's executor queue).
    :param consumer: the subscriber name this DAG reads as; each subscriber gets its own copy.
    :param payload_type: ``RAW``, ``JSON`` or the object type the queue was created with.
    :param condition: AQ dequeue condition, e.g. ``tab.user_data.msg = 'GO'`` (DAG-author SQL text,
        AQ cannot bind it; never build it from run conf or payloads).
    :param correlation: only messages with this correlation id (templated; ``%`` wildcards).
    :param wait_seconds: longest time between two looks at the queue in the triggerer (1-3600;
        the shared browse looks every second anyway).
    :param if_message_gone: ``wait`` | ``fail`` | ``skip`` (see the module docstring).
    :param deferrable: default ``[operators] default_deferrable``, like every waiting task of
        this provider (set it to True in airflow.cfg so no waiting task holds a worker slot; a
        deferred wait reacts within a second of the enqueue). False pokes (REMOVE, NO_WAIT)
        every ``poke_interval``. ``timeout`` and ``soft_fail`` apply to both paths.
    """

    template_fields: Sequence[str] = ("queue_name", "correlation")
    ui_color = "#e8d8c4"

    def __init__(
        self,
        *,
        queue_name: str,
        consumer: str,
        payload_type: str = aq_messages.RAW,
        condition: str | None = None,
        correlation: str | None = None,
        oracle_conn_id: str = "oracle_default",
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        if_message_gone: str = "wait",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POKE_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.queue_name = queue_name
        if "{{" not in str(queue_name):
            aq_messages.queue_name(queue_name, "queue_name")
        self.consumer = aq_messages.consumer_name(consumer)
        self.payload_type = aq_messages.payload_type(payload_type)
        self.condition = aq_messages.condition(condition)
        self.correlation = correlation
        if not aq_messages.is_template(correlation):
            aq_messages.correlation(correlation)
        self.oracle_conn_id = oracle_conn_id
        if (
            isinstance(wait_seconds, bool)
            or not isinstance(wait_seconds, int | float)
            or not (1 <= wait_seconds <= 3600)
        ):
            raise ValueError(f"wait_seconds={wait_seconds!r} must be a number of seconds from 1 to 3600.")
        self.wait_seconds = float(wait_seconds)
        self.if_message_gone = aq_messages.message_gone_action(if_message_gone)
        self.deferrable = validation.flag(deferrable, "deferrable")

    # --- taking a message (sync, in the worker) ------------------------------------------------

    def _take(self, msgid: bytes | None = None) -> dict[str, Any] | None:
        """Remove one message (by id when given) and commit; None when there is none.

        A dequeue by a message id that is no longer there for this consumer (taken by another task
        reading as the same consumer, expired into the exception queue) raises ORA-25263 in Oracle
        rather than returning nothing: that is the "message gone" case, so it returns None too.
        """
        import oracledb

        from airflow_provider_oracle_tasks.db.transient import error_codes

        queue_name = aq_messages.queue_name(self.queue_name, "queue_name")
        correlation = aq_messages.correlation(self.correlation)  # checked before connecting
        connection = aq_hook(self.oracle_conn_id).get_conn()
        try:
            queue = open_queue(connection, queue_name, self.payload_type)
            options = queue.deqoptions
            options.consumername = self.consumer
            options.mode = oracledb.DEQ_REMOVE
            options.visibility = oracledb.DEQ_ON_COMMIT
            options.wait = oracledb.DEQ_NO_WAIT
            if msgid is not None:
                options.msgid = msgid  # exactly the message the trigger saw, whatever the filters
            else:
                options.navigation = oracledb.DEQ_FIRST_MSG
                if self.condition is not None:  # unset options stay unset: the driver wants text
                    options.condition = self.condition
                if correlation is not None:
                    options.correlation = correlation
            try:
                message = queue.deqone()
            except oracledb.DatabaseError as error:
                if msgid is None or not GONE_CODES.intersection(error_codes(error)):
                    raise
                message = None
            if message is None:
                connection.rollback()
                return None
            result = aq_messages.message_dict(message, self.payload_type, queue_name, self.consumer)
            connection.commit()
            return result
        finally:
            connection.close()

    def poke(self, context: Context) -> PokeReturnValue | bool:
        message = self._take()
        if message is None:
            return False
        self.log.info("Took message %s from %s", message["msgid"], message["queue"])
        return PokeReturnValue(is_done=True, xcom_value=message)

    # --- deferrable path ------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        message = self._take()
        if message is not None:
            self.log.info("Took message %s from %s at once", message["msgid"], message["queue"])
            return message
        self._defer(time.time() + float(self.timeout))
        return None

    def _defer(self, timeout_at: float) -> None:
        from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger

        remaining = max(1.0, timeout_at - time.time())
        self.defer(
            trigger=OracleAQMessageTrigger(
                queue=aq_messages.queue_name(self.queue_name, "queue_name"),
                consumer=self.consumer,
                oracle_conn_id=self.oracle_conn_id,
                payload_type=self.payload_type,
                condition=self.condition,
                correlation=aq_messages.correlation(self.correlation),
                wait_seconds=self.wait_seconds,
                timeout_at=timeout_at,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        status = event.get("status")
        if status == "message":
            seen = event["message"]
            taken = self._take(aq_messages.msgid_bytes(seen.get("msgid")))
            if taken is not None:
                self.log.info("Took message %s from %s", taken["msgid"], taken["queue"])
                return taken
            return self._gone(seen, event.get("timeout_at"))
        if status == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {event.get('message')}")
            raise AirflowSensorTimeout(str(event.get("message")))
        raise AirflowException(str(event.get("message") or f"unexpected trigger event {event!r}"))

    def _gone(self, seen: dict[str, Any], timeout_at: Any) -> None:
        text = (
            f"message {seen.get('msgid')} on {seen.get('queue')} was no longer there for consumer "
            f"{self.consumer} when the task resumed (another task reading as {self.consumer} took it, "
            "or it expired)"
        )
        if self.if_message_gone == "fail":
            raise MessageGone(f"{text}. Give each waiting DAG its own consumer name.")
        if self.if_message_gone == "skip":
            raise AirflowSkipException(text)
        deadline = float(timeout_at) if timeout_at is not None else time.time() + float(self.timeout)
        if deadline <= time.time():
            raise AirflowSensorTimeout(f"{text}, and the timeout has passed")
        self.log.warning("%s; waiting for the next message", text)
        self._defer(deadline)

"""Oracle AQ producers and provisioning: create a queue idempotently, enqueue a message.

Both talk to DBMS_AQADM / the driver's AQ API directly (not to OTASK): queues are the user's
objects, and the Python producer must support every payload type the driver supports (RAW, JSON,
object types). In-database producers (a Scheduler job that sees the file) use
``OTASK.RAISE_EVENT`` instead; docs/operators/aq.md compares the two.

``oracledb`` and the hook are imported on first use, so a DAG file that only builds these
operators parses fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.aq.privileges import check_aqadm
from airflow_provider_oracle_tasks.aq.queues import MAX_RETENTION_SECONDS, AQSetupError, enqueue, ensure_queue
from airflow_provider_oracle_tasks.hooks import task_manager_hook as aq_hook

__all__ = ["AQSetupError", "OracleAQCreateQueueOperator", "OracleAQEnqueueOperator"]


class OracleAQCreateQueueOperator(BaseOperator):
    """Create (idempotently) a multiple-consumer queue, start it and add named subscribers.

    A second run creates nothing and only starts the queue and adds missing subscribers, so
    the task can sit at the start of every DAG run that needs the queue. Returns (XCom) what the
    queue looks like and what was created.

    :param queue_name: queue name in the connection user's schema (no owner). (Not ``queue``:
        that is BaseOperator's executor queue.)
    :param queue_table: its queue table (default ``<queue_name>_QT``).
    :param payload_type: ``RAW``, ``JSON`` (Oracle 21c or later: checked first, with a clear
        error on 19c) or an existing object type (``TYPE`` / ``OWNER.TYPE``).
    :param subscribers: consumer names; every consumer receives its own copy of each message.
    :param retention_seconds: how long consumed messages stay visible in the queue table.
    """

    template_fields: Sequence[str] = ("queue_name", "queue_table", "subscribers")
    ui_color = "#e8d8c4"

    def __init__(
        self,
        *,
        queue_name: str,
        queue_table: str | None = None,
        payload_type: str = aq_messages.RAW,
        subscribers: Sequence[str] = (),
        retention_seconds: int = 0,
        comment: str | None = None,
        oracle_conn_id: str = "oracle_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.queue_name = queue_name
        self.queue_table = queue_table
        self.payload_type = aq_messages.payload_type(payload_type)
        self.subscribers = subscribers
        self.retention_seconds = validation.integer(
            retention_seconds, "retention_seconds", low=0, high=MAX_RETENTION_SECONDS
        )
        self.comment = validation.text(comment, "comment", max_length=2000)
        self.oracle_conn_id = oracle_conn_id
        if "{{" not in str(queue_name):
            self._names()

    def _names(self) -> tuple[str, str, list[str]]:
        queue = aq_messages.unqualified_name(self.queue_name, "queue_name")
        if self.queue_table is None and len(queue) + 3 > 128:
            raise ValueError(
                f"queue_name={self.queue_name!r} is {len(queue)} characters, so the default queue table "
                f"name {queue}_QT would be longer than 128: pass queue_table= with a shorter name."
            )
        table = aq_messages.unqualified_name(self.queue_table or f"{queue}_QT", "queue_table")
        if isinstance(self.subscribers, str):
            raise ValueError("subscribers must be a list of consumer names, e.g. ['PAYROLL_DAG'].")
        subscribers = [
            aq_messages.consumer_name(name, f"subscribers[{index}]")
            for index, name in enumerate(self.subscribers)
        ]
        return queue, table, subscribers

    def execute(self, context: Context) -> dict[str, Any]:
        queue, table, subscribers = self._names()
        connection = aq_hook(self.oracle_conn_id).get_conn()
        try:
            check_aqadm(connection, f"creating queue {queue}")
            return ensure_queue(
                connection,
                queue=queue,
                queue_table=table,
                payload_type=self.payload_type,
                subscribers=subscribers,
                retention_seconds=self.retention_seconds,
                comment=self.comment,
                log=self.log,
            )
        finally:
            connection.close()


class OracleAQEnqueueOperator(BaseOperator):
    """Enqueue one message (a producer in a DAG) and commit it; returns (XCom) its message id.

    :param queue_name: ``QUEUE`` or ``OWNER.QUEUE`` (templated).
    :param payload: RAW queue: bytes, text, or a dict/list sent as JSON text; JSON queue: any JSON
        value; object-type queue: a dict of attribute values (templated).
    :param payload_type: ``RAW``, ``JSON`` or the object type name the queue was created with.
    :param correlation: the message's correlation id (templated), e.g. the payroll period.
    :param recipients: deliver to these consumers only (default: every subscriber).
    :param expiration_seconds: the message expires if no consumer took it within this time.
    :param delay_seconds: the message becomes visible only after this delay.
    """

    template_fields: Sequence[str] = ("queue_name", "payload", "correlation")
    ui_color = "#e8d8c4"

    def __init__(
        self,
        *,
        queue_name: str,
        payload: Any,
        payload_type: str = aq_messages.RAW,
        correlation: str | None = None,
        recipients: Sequence[str] | None = None,
        expiration_seconds: int | None = None,
        delay_seconds: int | None = None,
        oracle_conn_id: str = "oracle_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.queue_name = queue_name
        if "{{" not in str(queue_name):
            aq_messages.queue_name(queue_name, "queue_name")
        self.payload = payload
        self.payload_type = aq_messages.payload_type(payload_type)
        self.correlation = correlation
        if not aq_messages.is_template(correlation):
            aq_messages.correlation(correlation)
        if not aq_messages.is_template(payload):
            aq_messages.encode_payload(payload, self.payload_type)
        if isinstance(recipients, str):
            raise ValueError("recipients must be a list of consumer names, e.g. ['PAYROLL_DAG'].")
        self.recipients = (
            None
            if recipients is None
            else [aq_messages.consumer_name(r, f"recipients[{i}]") for i, r in enumerate(recipients)]
        )
        self.expiration_seconds = (
            None
            if expiration_seconds is None
            else validation.integer(expiration_seconds, "expiration_seconds", low=1, high=10**9)
        )
        self.delay_seconds = (
            None
            if delay_seconds is None
            else validation.integer(delay_seconds, "delay_seconds", low=1, high=10**9)
        )
        self.oracle_conn_id = oracle_conn_id

    def execute(self, context: Context) -> str:
        queue = aq_messages.queue_name(self.queue_name, "queue_name")
        correlation = aq_messages.correlation(self.correlation)
        aq_messages.encode_payload(self.payload, self.payload_type)  # fail before connecting
        connection = aq_hook(self.oracle_conn_id).get_conn()
        try:
            msgid = enqueue(
                connection,
                queue=queue,
                payload=self.payload,
                payload_type=self.payload_type,
                correlation=correlation,
                recipients=self.recipients,
                expiration_seconds=self.expiration_seconds,
                delay_seconds=self.delay_seconds,
            )
        finally:
            connection.close()
        self.log.info("Enqueued message %s on %s (correlation %s)", msgid, queue, correlation)
        return msgid

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
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_oracle_tasks import aq_messages, validation
from airflow_provider_oracle_tasks.errors import OracleTasksError

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

JSON_MIN_MAJOR_VERSION = 21
MAX_RETENTION_SECONDS = 30 * 86400


class AQSetupError(OracleTasksError):
    """A queue cannot be (re)used as asked: wrong payload type, single consumer, or JSON on 19c."""


def aq_hook(conn_id: str) -> OracleTaskManagerHook:
    """The sync hook (reuses the ``oracle`` connection type), imported on first use."""
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    return OracleTaskManagerHook(oracle_conn_id=conn_id)


def open_queue(connection: Any, name: str, kind: str) -> Any:
    """``Connection.queue`` for a RAW, JSON or object-type queue (sync twin of open_async_queue)."""
    if kind == aq_messages.RAW:
        return connection.queue(name)
    if kind == aq_messages.JSON:
        return connection.queue(name, "JSON")
    return connection.queue(name, connection.gettype(kind))


def major_version(connection: Any) -> int:
    """The database's major release (19, 21, 23) from the driver's ``Connection.version``."""
    return int(str(connection.version).split(".")[0])


def require_json_support(connection: Any, queue: str) -> None:
    """JSON payload queues need Oracle 21c; say so before DBMS_AQADM fails with ORA-00902."""
    major = major_version(connection)
    if major < JSON_MIN_MAJOR_VERSION:
        raise AQSetupError(
            f"queue {queue}: payload_type='JSON' needs Oracle Database 21c or later, and this database "
            f"is {connection.version}. Use payload_type='RAW' and send the JSON as text (the sensor "
            "returns a RAW payload that is a JSON document as that document), or an object type."
        )


_QUEUE_TABLE_SQL = "select object_type, recipients from user_queue_tables where queue_table = :queue_table"
_QUEUE_SQL = "select queue_table, enqueue_enabled, dequeue_enabled from user_queues where name = :queue"
_SUBSCRIBERS_SQL = "select consumer_name from user_queue_subscribers where queue_name = :queue"

_CREATE_QUEUE_TABLE = """
begin
  dbms_aqadm.create_queue_table(
    queue_table        => :queue_table,
    queue_payload_type => :payload_type,
    multiple_consumers => true,
    comment            => :queue_comment);
end;"""

_CREATE_QUEUE = """
begin
  dbms_aqadm.create_queue(
    queue_name     => :queue,
    queue_table    => :queue_table,
    retention_time => :retention,
    comment        => :queue_comment);
end;"""

_START_QUEUE = "begin dbms_aqadm.start_queue(queue_name => :queue); end;"

_ADD_SUBSCRIBER = """
begin
  dbms_aqadm.add_subscriber(
    queue_name => :queue,
    subscriber => sys.aq$_agent(:consumer, null, null));
end;"""


def _expected_object_type(payload_type: str, schema: str) -> str:
    """How USER_QUEUE_TABLES.OBJECT_TYPE shows a payload type (SYS.RAW, SYS.JSON, OWNER.TYPE)."""
    if payload_type in (aq_messages.RAW, aq_messages.JSON):
        return f"SYS.{payload_type}"
    return payload_type if "." in payload_type else f"{schema}.{payload_type}"


def ensure_queue(
    connection: Any,
    *,
    queue: str,
    queue_table: str,
    payload_type: str,
    subscribers: Sequence[str] = (),
    retention_seconds: int = 0,
    comment: str | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Create what is missing (queue table, queue, subscribers) and start the queue.

    An existing queue table of another payload type, or a single-consumer one, is refused with
    the fix instead of being used half-right. DBMS_AQADM commits its own DDL, so each step is
    durable on its own and a repeat after a failure continues where it stopped.
    """
    created: list[str] = []
    cursor = connection.cursor()
    schema = str(getattr(connection, "username", "") or "").upper()
    if payload_type == aq_messages.JSON:
        require_json_support(connection, queue)
    cursor.execute(_QUEUE_TABLE_SQL, {"queue_table": queue_table})
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            _CREATE_QUEUE_TABLE,
            {"queue_table": queue_table, "payload_type": payload_type, "queue_comment": comment},
        )
        created.append(f"queue table {queue_table}")
    else:
        object_type, recipients = (str(row[0] or "").upper(), str(row[1] or "").upper())
        expected = _expected_object_type(payload_type, schema)
        if object_type not in (expected, payload_type):
            raise AQSetupError(
                f"queue table {queue_table} exists with payload type {object_type}, not {expected}: "
                "choose another queue_table, or drop it (DBMS_AQADM.DROP_QUEUE_TABLE) if it is unused."
            )
        if recipients != "MULTIPLE":
            raise AQSetupError(
                f"queue table {queue_table} exists as a single-consumer table: named subscribers and "
                "the sensor's consumer need multiple_consumers => TRUE. Use another queue_table."
            )
    cursor.execute(_QUEUE_SQL, {"queue": queue})
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            _CREATE_QUEUE,
            {
                "queue": queue,
                "queue_table": queue_table,
                "retention": retention_seconds,
                "queue_comment": comment,
            },
        )
        created.append(f"queue {queue}")
    elif str(row[0]).upper() != queue_table:
        raise AQSetupError(
            f"queue {queue} exists in queue table {row[0]}, not {queue_table}: pass queue_table={row[0]!r}."
        )
    cursor.execute(_START_QUEUE, {"queue": queue})
    cursor.execute(_SUBSCRIBERS_SQL, {"queue": queue})
    existing = {str(name).upper() for (name,) in cursor.fetchall()}
    for consumer in subscribers:
        if consumer not in existing:
            cursor.execute(_ADD_SUBSCRIBER, {"queue": queue, "consumer": consumer})
            created.append(f"subscriber {consumer}")
    connection.commit()
    if log is not None:
        log.info("Queue %s ready (%s)", queue, ", ".join(created) if created else "nothing to create")
    return {
        "queue": queue,
        "queue_table": queue_table,
        "payload_type": payload_type,
        "subscribers": sorted(existing | set(subscribers)),
        "created": created,
    }


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


def enqueue(
    connection: Any,
    *,
    queue: str,
    payload: Any,
    payload_type: str,
    correlation: str | None = None,
    recipients: Sequence[str] | None = None,
    expiration_seconds: int | None = None,
    delay_seconds: int | None = None,
) -> str:
    """Enqueue one message and commit it; returns the message id (hex)."""
    import oracledb

    kind = payload_type
    object_type = None
    if kind not in (aq_messages.RAW, aq_messages.JSON):
        object_type = connection.gettype(kind)
    value = aq_messages.encode_payload(payload, kind, object_type)
    handle = (
        open_queue(connection, queue, kind) if object_type is None else connection.queue(queue, object_type)
    )
    handle.enqoptions.visibility = oracledb.ENQ_ON_COMMIT
    properties: dict[str, Any] = {"payload": value}
    if correlation is not None:
        properties["correlation"] = correlation
    if expiration_seconds is not None:
        properties["expiration"] = expiration_seconds
    if delay_seconds is not None:
        properties["delay"] = delay_seconds
    if recipients:
        properties["recipients"] = list(recipients)
    message = connection.msgproperties(**properties)
    handle.enqone(message)
    connection.commit()
    return str(aq_messages.msgid_hex(message.msgid))


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
        if self.payload_type != aq_messages.JSON:
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

"""Queues of Oracle Advanced Queuing: create them idempotently, open them by payload kind,
enqueue one message. Used by the AQ operators, sensor and triggers; no Airflow imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.errors import OracleTasksError

JSON_MIN_MAJOR_VERSION = 21
MAX_RETENTION_SECONDS = 30 * 86400


class AQSetupError(OracleTasksError):
    """A queue cannot be (re)used as asked: wrong payload type, single consumer, or JSON on 19c."""


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


_QUEUE_TABLE_SQL = (
    'select q."TYPE", q.object_type, q.recipients from user_queue_tables q where q.queue_table = :queue_table'
)
"""TYPE says RAW / JSON / OBJECT; OBJECT_TYPE is documented for TYPE = OBJECT only (may be NULL for
RAW), so both are read, as OTASK_AQ.RAISE_EVENT does (review Q-4)."""
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


def _same_payload(payload_type: str, expected: str, table_type: str, object_type: str) -> bool:
    if payload_type in (aq_messages.RAW, aq_messages.JSON):
        return table_type == payload_type or object_type in (expected, payload_type)
    return table_type in ("OBJECT", "") and object_type in (expected, payload_type)


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
        table_type, object_type, recipients = (str(value or "").upper() for value in row)
        expected = _expected_object_type(payload_type, schema)
        if not _same_payload(payload_type, expected, table_type, object_type):
            shown = object_type or table_type or "unknown"
            raise AQSetupError(
                f"queue table {queue_table} exists with payload type {shown}, not {expected}: "
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

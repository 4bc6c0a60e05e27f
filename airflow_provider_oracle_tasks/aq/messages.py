"""Oracle AQ: queue names, payload types and message conversion, in one place.

The operators, the sensor and both triggers validate names and convert payloads here, so a queue
name refused by one is refused by all, and a message looks the same in XCom whether the sensor
read it in a worker (poke) or the trigger read it in the triggerer.

Kept free of ``oracledb`` and Airflow imports at module level: the sensor and the operators
import it while the DAG processor parses DAG files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

RAW = "RAW"
JSON = "JSON"

# A simple (unquoted) Oracle name, as validation.oracle_identifier accepts it.
_SIMPLE = r"[A-Za-z][A-Za-z0-9_$#]{0,127}"
_QUALIFIED = re.compile(rf"^({_SIMPLE})(?:\.({_SIMPLE}))?$")
MAX_CONDITION = 4000  # DBMS_AQ.DEQUEUE_OPTIONS_T.DEQ_CONDITION is VARCHAR2(4000)
MAX_CORRELATION = 128  # MESSAGE_PROPERTIES_T.CORRELATION is VARCHAR2(128)
MESSAGE_GONE_ACTIONS = ("wait", "fail", "skip")
MAX_RAW_BYTES = 32767  # a RAW queue's payload is a PL/SQL RAW: at most 32767 bytes
SCALAR_TYPES = frozenset(
    {
        "VARCHAR2",
        "VARCHAR",
        "NVARCHAR2",
        "CHAR",
        "NCHAR",
        "NUMBER",
        "INTEGER",
        "FLOAT",
        "BINARY_FLOAT",
        "BINARY_DOUBLE",
        "DATE",
        "TIMESTAMP",
        "CLOB",
        "NCLOB",
        "BLOB",
        "LONG",
        "ROWID",
        "XMLTYPE",
        "BOOLEAN",
    }
)
"""Built-in types that are not payload types: AQ takes RAW, JSON or an object type."""


def queue_name(value: Any, argument: str = "queue") -> str:
    """``QUEUE`` or ``OWNER.QUEUE`` (simple names only), upper-cased; anything else raises ValueError.

    Quoted names, spaces, database links and SQL fragments are refused before any database call:
    the name reaches DBMS_AQ as a bind, but an invalid one would only fail later with a less
    helpful ORA-24010.
    """
    if not isinstance(value, str) or not _QUALIFIED.match(value.strip()):
        raise ValueError(
            f"{argument}={value!r} is not a valid queue name: use QUEUE or OWNER.QUEUE, each part 1-128 "
            "characters, a letter first, then letters, digits, _, $ or # (no quotes, spaces or @links)."
        )
    return value.strip().upper()


def unqualified_name(value: Any, argument: str) -> str:
    """A simple name in the connection's own schema (queue tables and queues the provider creates)."""
    name = queue_name(value, argument)
    if "." in name:
        raise ValueError(
            f"{argument}={value!r}: give the name without an owner; queues and queue tables are created "
            "in the schema of the Airflow connection's user."
        )
    return name


def consumer_name(value: Any, argument: str = "consumer") -> str:
    """A subscriber (consumer) name: a simple Oracle name, upper-cased as AQ stores it."""
    name = queue_name(value, argument)
    if "." in name:
        raise ValueError(f"{argument}={value!r}: a consumer name is a simple name without a dot.")
    return name


def payload_type(value: Any, argument: str = "payload_type") -> str:
    """``RAW``, ``JSON`` (Oracle 21c+) or an object type name (``TYPE`` or ``OWNER.TYPE``)."""
    if isinstance(value, str) and value.strip().upper() in (RAW, JSON):
        return value.strip().upper()
    if isinstance(value, str) and value.strip().upper() in SCALAR_TYPES:
        raise ValueError(
            f"{argument}={value!r} is a built-in SQL type, not a queue payload type: use 'RAW' (send text "
            "as UTF-8), 'JSON' (Oracle 21c or later) or an object type (CREATE TYPE ... AS OBJECT)."
        )
    try:
        return queue_name(value, argument)
    except ValueError:
        raise ValueError(
            f"{argument}={value!r} must be 'RAW', 'JSON' (Oracle 21c or later) or the name of an object "
            "type (TYPE or OWNER.TYPE), e.g. the seed's BCKUP_MSGT."
        ) from None


def condition(value: Any, argument: str = "condition") -> str | None:
    """A dequeue condition (AQ ``deq_condition``), e.g. ``tab.user_data.msg = 'GO'``.

    AQ takes the condition as SQL text and offers no binds for it, so it must come from the DAG
    author, never from a payload, a DAG run conf or another untrusted source. A ``;`` is refused
    because a condition is one boolean expression.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CONDITION or ";" in value:
        raise ValueError(
            f"{argument}={value!r} must be one SQL boolean expression of at most {MAX_CONDITION} characters "
            "without ';', e.g. \"tab.user_data.msg = 'GO'\" or \"JSON_VALUE(tab.user_data, '$.file') "
            "like 'payroll%'\"."
        )
    return value.strip()


def correlation(value: Any, argument: str = "correlation") -> str | None:
    """A correlation id (dequeue filters may use AQ's ``%`` and ``_`` wildcards)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value.encode("utf-8")) > MAX_CORRELATION:
        raise ValueError(
            f"{argument}={value!r} must be a non-empty string of at most {MAX_CORRELATION} bytes "
            "(MESSAGE_PROPERTIES_T.CORRELATION is VARCHAR2(128 BYTE))."
        )
    return value


def is_template(value: Any) -> bool:
    """A Jinja template (rendered only when the task runs), so it is checked then, not at parse time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def message_gone_action(value: Any, argument: str = "if_message_gone") -> str:
    """What the sensor does when the message it saw was removed before it could take it."""
    if not isinstance(value, str) or value.lower() not in MESSAGE_GONE_ACTIONS:
        raise ValueError(
            f"{argument}={value!r} must be 'wait' (wait for the next message), 'fail' or 'skip'."
        )
    return value.lower()


# --- payloads ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a payload value (XCom, trigger events and serialize() need one).

    Dates become ISO-8601 text, Decimals numbers, bytes UTF-8 text when they are text (else
    ``{"base64": ...}``), Oracle objects dicts of their attributes and collections lists.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(data).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    object_type = getattr(value, "type", None)
    if object_type is not None and hasattr(object_type, "attributes"):
        if getattr(object_type, "iscollection", False):
            return [jsonable(item) for item in value.aslist()]
        return {attr.name.lower(): jsonable(getattr(value, attr.name)) for attr in object_type.attributes}
    return str(value)


def decode_payload(payload: Any, kind: str) -> Any:
    """The payload of a dequeued message as XCom carries it.

    RAW: the text when the bytes are UTF-8, and when that text is a JSON document, the document
    (producers on 19c send JSON as RAW); otherwise ``{"base64": ...}``. JSON and object payloads:
    their JSON-safe form.
    """
    if kind == RAW and isinstance(payload, bytes | bytearray):
        decoded = jsonable(payload)
        if isinstance(decoded, str) and decoded[:1] in ("{", "["):
            try:
                return json.loads(decoded)
            except ValueError:
                return decoded
        return decoded
    return jsonable(payload)


def encode_payload(payload: Any, kind: str, object_type: Any = None) -> Any:
    """The payload to enqueue for a queue of type ``kind``.

    RAW: bytes as they are, text as UTF-8, dicts and lists as UTF-8 JSON. JSON: any JSON value.
    Object: a dict of attribute values (names case-insensitive) set on ``object_type.newobject()``;
    an unknown attribute is refused by name instead of being dropped.
    """
    if kind == RAW:
        if isinstance(payload, bytes | bytearray):
            data = bytes(payload)
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
        elif isinstance(payload, Mapping | list):
            data = _json_text(payload).encode("utf-8")
        else:
            raise ValueError(
                f"payload {payload!r} ({type(payload).__name__}) cannot go on a RAW queue: use bytes, str, "
                "dict or list."
            )
        if len(data) > MAX_RAW_BYTES:
            raise ValueError(
                f"payload is {len(data)} bytes; a RAW queue message holds at most {MAX_RAW_BYTES} bytes. "
                "Send a reference (a file name, a row key) instead, or use a JSON or object-type queue."
            )
        return data
    if kind == JSON:
        _json_text(payload)  # refuses what the database could not store, before connecting
        return payload
    if not isinstance(payload, Mapping):
        raise ValueError(
            f"payload for object type {kind} must be a dict of attribute values, e.g. {{'msg': 'GO'}}."
        )
    if object_type is None:
        return dict(payload)
    names = {attr.name.upper(): attr.name for attr in object_type.attributes}
    obj = object_type.newobject()
    for key, item in payload.items():
        name = names.get(str(key).upper())
        if name is None:
            raise ValueError(
                f"payload key {key!r} is not an attribute of {kind}; attributes: {', '.join(sorted(names))}."
            )
        setattr(obj, name, item)
    return obj


def _json_text(payload: Any) -> str:
    """Strict JSON text: NaN and Infinity are not JSON, and a set or a date is not a JSON value."""
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"payload {payload!r} is not a JSON value: {error}") from None


def msgid_hex(msgid: Any) -> str | None:
    """AQ message ids are RAW(16); XCom and trigger events carry them as upper-case hex."""
    if msgid is None:
        return None
    return bytes(msgid).hex().upper()


def msgid_bytes(value: Any, argument: str = "msgid") -> bytes:
    """The RAW(16) message id back from its hex form."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{32}", value):
        raise ValueError(f"{argument}={value!r} must be an AQ message id: 32 hex digits.")
    return bytes.fromhex(value)


def message_dict(message: Any, kind: str, queue: str, consumer: str | None) -> dict[str, Any]:
    """One dequeued message as a JSON-safe dict: what XCom and trigger events carry."""
    enqtime = getattr(message, "enqtime", None)
    return {
        "queue": queue,
        "consumer": consumer,
        "msgid": msgid_hex(getattr(message, "msgid", None)),
        "correlation": getattr(message, "correlation", None),
        "enqueued_at": enqtime.isoformat() if isinstance(enqtime, dt.datetime) else None,
        "attempts": getattr(message, "attempts", None),
        "payload": decode_payload(getattr(message, "payload", None), kind),
    }

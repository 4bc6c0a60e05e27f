"""Oracle AQ as a message queue of Airflow's common messaging interface (AIP-82).

With ``pip install "airflow-provider-oracle-tasks[messaging]"`` (apache-airflow-providers-common-messaging),
an event-driven DAG can watch an AQ queue with the provider-neutral trigger::

    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = MessageQueueTrigger(
        scheme="oracle+aq", queue_name="APP.PAYROLL_EVENTS", consumer="PAYROLL_WATCH",
        oracle_conn_id="oracle_default",
    )

``MessageQueueTrigger`` hands the keyword arguments to
:class:`~airflow_provider_oracle_tasks.triggers.aq.OracleAQEventTrigger` (``queue_name`` is its
alias of ``queue``, which ``MessageQueueTrigger`` reserves for its deprecated queue URI) and
serializes as that trigger, so the triggerer runs it with its shared stream, ack mode and
backoff. The older queue-URI form works too::

    MessageQueueTrigger(queue="oracle+aq://oracle_default/APP.PAYROLL_EVENTS?consumer=PAYROLL_WATCH")

URI: ``oracle+aq://<connection id>/<QUEUE or OWNER.QUEUE>?consumer=<NAME>`` and optionally
``&payload_type=JSON`` (RAW by default) and ``&correlation=<pattern>``. A dequeue condition is
SQL text and is not accepted in a URI; pass ``condition=`` as a keyword argument.

The provider is registered in ``get_provider_info()["queues"]`` only when common-messaging is
installed; this module imports it, so nothing imports this module unless it is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow.providers.common.messaging.providers.base_provider import BaseMessageQueueProvider

SCHEME = "oracle+aq"
URI_OPTIONS = ("consumer", "payload_type", "correlation")


def parse_queue_uri(queue: str) -> dict[str, Any]:
    """``oracle+aq://conn/OWNER.QUEUE?consumer=C`` -> OracleAQEventTrigger keyword arguments."""
    parts = urlsplit(queue)
    if parts.scheme != SCHEME:
        raise ValueError(f"queue URI {queue!r} must start with {SCHEME}://")
    conn_id = unquote(parts.netloc)
    name = unquote(parts.path.lstrip("/"))
    if not conn_id or not name or "/" in name:
        raise ValueError(
            f"queue URI {queue!r} must be {SCHEME}://<connection id>/<QUEUE or OWNER.QUEUE>?consumer=<NAME>"
        )
    options = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(options) - set(URI_OPTIONS))
    if unknown:
        raise ValueError(
            f"queue URI {queue!r}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(URI_OPTIONS)} "
            "(pass condition= as a keyword argument: it is SQL text)"
        )
    kwargs: dict[str, Any] = {"oracle_conn_id": conn_id, "queue": name}
    for key, values in options.items():
        if len(values) != 1:
            raise ValueError(f"queue URI {queue!r}: give {key} once")
        kwargs[key] = values[0]
    if "consumer" not in kwargs:
        raise ValueError(f"queue URI {queue!r} names no consumer: add ?consumer=<subscriber name>")
    return kwargs


class OracleAQMessageQueueProvider(BaseMessageQueueProvider):
    """Oracle AQ for ``MessageQueueTrigger``: scheme ``oracle+aq`` and ``oracle+aq://`` queue URIs."""

    scheme = SCHEME

    def queue_matches(self, queue: str) -> bool:
        return isinstance(queue, str) and queue.startswith(f"{SCHEME}://")

    def trigger_class(self) -> type[Any]:
        from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger

        return OracleAQEventTrigger

    def trigger_kwargs(self, queue: str, **kwargs: Any) -> dict[str, Any]:
        parsed = parse_queue_uri(queue)
        clash = sorted(set(parsed) & set(kwargs))
        if clash:
            raise ValueError(f"queue URI {queue!r} already sets {', '.join(clash)}; do not pass them again")
        return parsed

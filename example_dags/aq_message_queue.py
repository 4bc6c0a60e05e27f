"""An event-driven DAG written against Airflow's common messaging interface, on Oracle AQ.

``MessageQueueTrigger`` (apache-airflow-providers-common-messaging) is the provider-neutral trigger
of event-driven scheduling (AIP-82): the same DAG works with Kafka, SQS or Oracle AQ by changing
the scheme and its arguments. With ``pip install "airflow-provider-oracle-tasks[messaging]"`` the
scheme ``oracle+aq`` resolves to ``OracleAQEventTrigger``: each message for consumer
``PAYROLL_WATCH`` on queue ``APP.PAYROLL_EVENTS`` becomes an asset event and starts a run. The
trigger runs on Airflow's shared stream in ack mode: a message is removed only after its event is
stored (no loss on a triggerer crash; a crash in the second between storing and removing can start
one extra run, so keep the work idempotent). See docs/operators/aq.md, "Common messaging".

Producer, e.g. from a load job:

    begin otask.raise_event(p_queue => 'PAYROLL_EVENTS', p_payload => '{"period": "2025-03"}'); commit; end;

Without the extra this file still parses: the DAG is then not defined (and says why in the log).
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

try:
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
except ImportError:  # the [messaging] extra is not installed
    MessageQueueTrigger = None  # type: ignore[assignment,misc]
    logging.getLogger(__name__).warning(
        "aq_message_queue example skipped: install airflow-provider-oracle-tasks[messaging]"
    )

if MessageQueueTrigger is not None:
    payroll_events = Asset(
        "oracle-aq://oracle_default/APP.PAYROLL_EVENTS",
        watchers=[
            AssetWatcher(
                name="payroll_events_watcher",
                trigger=MessageQueueTrigger(
                    scheme="oracle+aq",
                    queue_name="APP.PAYROLL_EVENTS",
                    consumer="PAYROLL_WATCH",
                    oracle_conn_id="oracle_default",
                ),
            )
        ],
    )

    with DAG(
        dag_id="oracle_tasks_aq_message_queue",
        description="Started by each message on Oracle AQ queue APP.PAYROLL_EVENTS (MessageQueueTrigger).",
        schedule=[payroll_events],
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        tags=["oracle-tasks", "aq", "example", "messaging"],
        doc_md=__doc__,
    ) as dag:

        @task
        def handle(**context: object) -> list[object]:
            """The asset event's extra is the AQ message: msgid, correlation, payload, ..."""
            events = context.get("triggering_asset_events") or {}
            return [event.extra for asset_events in dict(events).values() for event in asset_events]  # type: ignore[call-overload]

        handle()

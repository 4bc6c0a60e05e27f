"""An event-driven DAG: each "GO" message on an AQ queue starts a run (Airflow 3 AssetWatcher).

Seed 004 starts a backup job when a ``GO`` message is enqueued. In Airflow the same message
can schedule a DAG: ``OracleAQEventTrigger`` watches queue ``BACKUP_GO`` as consumer
``AIRFLOW_BACKUP``, and every message becomes an asset event.
The queue is created once, e.g. with ``OracleAQCreateQueueOperator`` (queue ``BACKUP_GO``,
subscriber ``AIRFLOW_BACKUP``); a producer sends the signal with

    begin otask.raise_event(p_queue => 'BACKUP_GO', p_payload => 'GO'); commit; end;

Delivery: the trigger runs on Airflow 3.3's shared stream in ack mode, so a message is removed
only after its asset event is stored - a triggerer crash loses nothing; a crash between storing
the event and removing the message (a second or two) can start the DAG once more. The DAG's work
should therefore be idempotent; see docs/operators/aq.md, "Event-driven DAGs". A wrong password
does not lock the account: the trigger backs off and logs in at most about twice a minute.

The RAW-payload ``condition`` below is checked on a real database by
tests/integration/test_aq.py (review Q-7).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger

go_signal = Asset(
    "oracle-aq://oracle_default/BACKUP_GO",
    watchers=[
        AssetWatcher(
            name="backup_go_watcher",
            trigger=OracleAQEventTrigger(
                queue="BACKUP_GO",
                consumer="AIRFLOW_BACKUP",
                oracle_conn_id="oracle_default",
                condition="utl_raw.cast_to_varchar2(tab.user_data) = 'GO'",
                wait_seconds=30,
            ),
        )
    ],
)

with DAG(
    dag_id="oracle_tasks_aq_asset_watcher",
    description="Started by a GO message on Oracle AQ queue BACKUP_GO.",
    schedule=[go_signal],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "aq", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def run_backup(**context: object) -> str:
        """The DAG's work; the asset event's extra carries the message (msgid, payload, ...)."""
        events = context.get("triggering_asset_events") or {}
        for asset_events in dict(events).values():  # type: ignore[call-overload]
            for event in asset_events:
                print("started by AQ message", event.extra)
        return "backup started"

    run_backup()

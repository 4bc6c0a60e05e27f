"""aq_asset_watcher.py with common.sql: no AQ trigger, so a sensor polls the queue table instead."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG, task

CONN_ID = "oracle_default"

with DAG(
    dag_id="common_sql_aq_asset_watcher",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["benchmark"],
) as dag:
    wait = SqlSensor(
        task_id="wait_for_go",
        conn_id=CONN_ID,
        sql="select 1 from aq$backup_go_qt where consumer_name = 'AIRFLOW' and msg_state = 'READY'",
        poke_interval=30,
        timeout=timedelta(minutes=5),
        mode="reschedule",
        soft_fail=True,
    )
    take = SQLExecuteQueryOperator(
        task_id="take_message",
        conn_id=CONN_ID,
        sql="""
declare
  l_options dbms_aq.dequeue_options_t;
  l_props   dbms_aq.message_properties_t;
  l_payload raw(2000);
  l_msgid   raw(16);
begin
  l_options.consumer_name := 'AIRFLOW';
  l_options.wait := dbms_aq.no_wait;
  dbms_aq.dequeue(queue_name => 'BACKUP_GO', dequeue_options => l_options,
                  message_properties => l_props, payload => l_payload, msgid => l_msgid);
  commit;
end;""",
    )

    @task
    def run_backup() -> str:
        print("started by AQ message")
        return "backup started"

    wait >> take >> run_backup()

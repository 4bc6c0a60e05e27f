"""quick_start.py with common.sql: install the engine, then run one small batch and wait for it."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG

CONN_ID = "oracle_default"
RUN_BATCH_SQL = """
declare
  l_id number;
begin
  l_id := otask.create_instance(p_taskspace => 'QUICK_START', p_run_key => :run_key);
  if otask.add_tasks(l_id, :tasks) > 0 then commit; end if;
  otask.start_jobs(p_instance_id => l_id, p_threads => 2);
  :instance_id := l_id;
end;"""
TASKS = (
    '[{"sql": "begin dbms_session.sleep(1); end;", "name": "sleep 1"},'
    ' {"sql": "begin dbms_session.sleep(:seconds); end;", "name": "sleep 2", "binds": {"seconds": 2}},'
    ' {"sql": "begin null; end;", "name": "no-op"},'
    ' {"sql": "begin null; end;", "name": "after the first group", "group": 2}]'
)

with DAG(
    dag_id="common_sql_quick_start",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
) as dag:
    install = SQLExecuteQueryOperator(
        task_id="install_engine",
        conn_id=CONN_ID,
        sql=["begin otask_install.run; end;", "select version from otask_version"],
    )
    run_batch = SQLExecuteQueryOperator(
        task_id="run_small_batch",
        conn_id=CONN_ID,
        sql=RUN_BATCH_SQL,
        parameters={"run_key": "{{ run_id }}", "tasks": TASKS},
    )
    wait = SqlSensor(
        task_id="wait_for_batch",
        conn_id=CONN_ID,
        sql="select 1 from otask_instances_v where run_key = :k and state in ('SUCCEEDED')",
        parameters={"k": "{{ run_id }}"},
        poke_interval=5,
        timeout=timedelta(minutes=10),
    )
    install >> run_batch >> wait

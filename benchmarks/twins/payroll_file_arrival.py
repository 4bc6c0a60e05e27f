"""payroll_file_arrival.py with common.sql: create the queue, poll for the file event, load, wait."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG

CONN_ID = "oracle_default"
CREATE_QUEUE_SQL = """
begin
  dbms_aqadm.create_queue_table(queue_table => 'PAYROLL_FILES_QT', queue_payload_type => 'RAW',
                                multiple_consumers => true);
  dbms_aqadm.create_queue(queue_name => 'PAYROLL_FILES', queue_table => 'PAYROLL_FILES_QT');
  dbms_aqadm.start_queue(queue_name => 'PAYROLL_FILES');
  dbms_aqadm.add_subscriber(queue_name => 'PAYROLL_FILES',
                            subscriber => sys.aq$_agent('PAYROLL_DAG', null, null));
exception
  when others then if sqlcode not in (-24001, -24006, -24034) then raise; end if;
end;"""
LOAD_SQL = """
declare
  l_id number;
begin
  l_id := otask.create_instance(p_taskspace => 'PAYROLL', p_run_key => :run_key);
  if otask.add_tasks(l_id, :tasks) > 0 then commit; end if;
  otask.start_jobs(p_instance_id => l_id, p_threads => 4);
  :instance_id := l_id;
end;"""
DEPARTMENTS = ("SALES", "OPS", "FINANCE", "IT")
TASK = (
    '{"name": "load DEPT", "sql": "begin payroll_load.load_department(p_file => :file, '
    'p_department => :department); end;", "binds": {"file": "{{ ti.xcom_pull(\'wait_for_file\') }}", '
    '"department": "DEPT"}}'
)
TASKS = "[" + ", ".join(TASK.replace("DEPT", department) for department in DEPARTMENTS) + "]"

with DAG(
    dag_id="common_sql_payroll_file_arrival",
    schedule="@monthly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
) as dag:
    create_queue = SQLExecuteQueryOperator(task_id="create_queue", conn_id=CONN_ID, sql=CREATE_QUEUE_SQL)
    wait_for_file = SqlSensor(
        task_id="wait_for_file",
        conn_id=CONN_ID,
        sql="select 1 from aq$payroll_files_qt where corr_id = :c and consumer_name = 'PAYROLL_DAG' "
        "and msg_state = 'READY'",
        parameters={"c": "{{ logical_date.strftime('%Y-%m') }}"},
        poke_interval=60,
        timeout=timedelta(hours=12),
        mode="reschedule",
    )
    load_payroll = SQLExecuteQueryOperator(
        task_id="load_payroll",
        conn_id=CONN_ID,
        sql=LOAD_SQL,
        parameters={"run_key": "{{ run_id }}", "tasks": TASKS},
    )
    wait_for_load = SqlSensor(
        task_id="wait_for_load",
        conn_id=CONN_ID,
        sql="select 1 from otask_instances_v where run_key = :k and state in ('SUCCEEDED')",
        parameters={"k": "{{ run_id }}"},
        poke_interval=30,
        mode="reschedule",
    )
    create_queue >> wait_for_file >> load_payroll >> wait_for_load

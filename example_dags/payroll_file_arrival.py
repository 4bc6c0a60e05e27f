"""Wait for the payroll file's arrival event, then load it with a parallel task-engine batch.

Seed 002's payroll chain starts by waiting for a vendor file that arrives early or late. Here
the component that sees the file (an external job, a DBMS_SCHEDULER file watcher's action, or a
load procedure) raises an event in the database:

    begin
      otask.raise_event(p_queue => 'PAYROLL_FILES', p_payload => '{"file": "pay_202503.csv"}',
                        p_correlation => '2025-03');
      commit;
    end;

1. ``create_queue`` makes sure queue ``PAYROLL_FILES`` (RAW payload, so it works on 19c) exists,
   runs, and has the subscriber ``PAYROLL_DAG`` (idempotent; other consumers such as an audit job
   get their own copy of each message).
2. ``wait_for_file`` waits for the event of this run's period (correlation = the month of the
   logical date) without a worker slot: in the triggerer all such waits share one browse of the
   queue per second, so the event arrives within about a second of the commit. On resume the task
   removes exactly that message and returns it; a triggerer restart loses nothing. If the file
   does not come within 12 hours the task fails.
3. ``load_payroll`` runs the load as an engine batch (4 workers in Oracle): one task per
   department, the file name bound as ``:file``.

Needs the engine installed in the connection's schema (``quick_start.py``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_oracle_tasks.operators.aq import OracleAQCreateQueueOperator
from airflow_provider_oracle_tasks.operators.task_manager import OracleTaskManagerRunOperator
from airflow_provider_oracle_tasks.sensors.aq import OracleAQEventSensor

CONN_ID = "oracle_default"
QUEUE = "PAYROLL_FILES"
CONSUMER = "PAYROLL_DAG"
LOAD_SQL = "begin payroll_load.load_department(p_file => :file, p_department => :department); end;"
DEPARTMENTS = ("SALES", "OPS", "FINANCE", "IT")

with DAG(
    dag_id="oracle_tasks_payroll_file_arrival",
    description="Wait for the payroll file's AQ event, then load it in parallel in Oracle.",
    schedule="@monthly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "aq", "example"],
    doc_md=__doc__,
) as dag:
    create_queue = OracleAQCreateQueueOperator(
        task_id="create_queue",
        oracle_conn_id=CONN_ID,
        queue_name=QUEUE,
        payload_type="RAW",
        subscribers=[CONSUMER],
        comment="payroll file arrivals (oracle-tasks example)",
    )
    wait_for_file = OracleAQEventSensor(
        task_id="wait_for_file",
        oracle_conn_id=CONN_ID,
        queue_name=QUEUE,
        consumer=CONSUMER,
        correlation="{{ logical_date.strftime('%Y-%m') }}",
        timeout=timedelta(hours=12),
        deferrable=True,  # an event wait holds no worker slot, whatever default_deferrable says
    )
    load_payroll = OracleTaskManagerRunOperator(
        task_id="load_payroll",
        oracle_conn_id=CONN_ID,
        taskspace="PAYROLL",
        threads=4,
        tasks=[
            {
                "name": f"load {department}",
                "sql": LOAD_SQL,
                "binds": {
                    "file": "{{ ti.xcom_pull(task_ids='wait_for_file')['payload']['file'] }}",
                    "department": department,
                },
            }
            for department in DEPARTMENTS
        ],
    )
    create_queue >> wait_for_file >> load_payroll

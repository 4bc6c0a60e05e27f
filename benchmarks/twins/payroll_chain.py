"""payroll_chain.py with common.sql: create the chain with DBMS_SCHEDULER, run it, poll its job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG, task

CONN_ID = "oracle_default"
PACKAGE = "HR.PAYROLL_PROCESSING"
STEPS = [
    ("VALIDATE", f"{PACKAGE}.VALIDATE_CHECKS"),
    ("LOAD", f"{PACKAGE}.LOAD_CHECKS"),
    ("SUMMARY", f"{PACKAGE}.SEND_SUMMARY"),
    ("NOTIFY_ACCOUNTING", f"{PACKAGE}.NOTIFY"),
]
RULES = [
    ("TRUE", "START WAIT_FOR_FILE"),
    ("WAIT_FOR_FILE SUCCEEDED", "START VALIDATE"),
    ("VALIDATE SUCCEEDED", "START LOAD"),
    ("LOAD SUCCEEDED", "START SUMMARY"),
    ("SUMMARY SUCCEEDED", "END"),
    ("VALIDATE FAILED", "START NOTIFY_DBA"),
    ("NOTIFY_DBA COMPLETED", "END VALIDATE.ERROR_CODE"),
    ("LOAD ERROR_CODE IN (20002) OR SUMMARY FAILED", "START NOTIFY_ACCOUNTING"),
    ("LOAD FAILED AND LOAD ERROR_CODE NOT IN (20002)", "END LOAD.ERROR_CODE"),
    ("NOTIFY_ACCOUNTING COMPLETED AND LOAD FAILED", "END LOAD.ERROR_CODE"),
    ("NOTIFY_ACCOUNTING COMPLETED AND SUMMARY FAILED", "END SUMMARY.ERROR_CODE"),
]
CREATE_SQL = (
    "begin\n"
    "  dbms_scheduler.create_chain(chain_name => 'PAYROLL_CHECKS', comments => 'bimonthly payroll checks');\n"
    "  dbms_scheduler.define_chain_event_step(chain_name => 'PAYROLL_CHECKS', step_name => 'WAIT_FOR_FILE',"
    " condition => 'tab.user_data.file_name = ''PAYCHECKS.DAT''', queue_spec => 'HR.FILE_ARRIVAL_Q');\n"
    + "".join(
        f"  dbms_scheduler.create_program(program_name => 'PAYROLL_{name}',"
        f" program_type => 'STORED_PROCEDURE', program_action => '{action}', enabled => true);\n"
        f"  dbms_scheduler.define_chain_step(chain_name => 'PAYROLL_CHECKS', step_name => '{name}',"
        f" program_name => 'PAYROLL_{name}');\n"
        for name, action in STEPS
    )
    + "".join(
        f"  dbms_scheduler.define_chain_rule(chain_name => 'PAYROLL_CHECKS', condition => '{condition}',"
        f" action => '{action}');\n"
        for condition, action in RULES
    )
    + "  dbms_scheduler.enable('PAYROLL_CHECKS');\nend;"
)

with DAG(
    dag_id="common_sql_payroll_chain",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
) as dag:
    create = SQLExecuteQueryOperator(task_id="create_chain", conn_id=CONN_ID, sql=CREATE_SQL)
    run = SQLExecuteQueryOperator(
        task_id="run_chain",
        conn_id=CONN_ID,
        sql="begin dbms_scheduler.run_chain(chain_name => 'PAYROLL_CHECKS', start_steps => null,"
        " job_name => :job); end;",
        parameters={"job": "PAYROLL_{{ ts_nodash }}"},
    )
    wait = SqlSensor(
        task_id="process_payroll_file",
        conn_id=CONN_ID,
        sql="select 1 from user_scheduler_job_run_details where job_name = :job",
        parameters={"job": "PAYROLL_{{ ts_nodash }}"},
        poke_interval=60,
        timeout=timedelta(hours=48),
        mode="reschedule",
    )
    steps = SQLExecuteQueryOperator(
        task_id="steps",
        conn_id=CONN_ID,
        sql="select step_name, state from user_scheduler_running_chains where job_name = :job",
        parameters={"job": "PAYROLL_{{ ts_nodash }}"},
    )

    @task
    def report(result: Any) -> list[str]:
        return [f"{step}: {state}" for step, state in result or []]

    create >> run >> wait >> steps
    report(steps.output)

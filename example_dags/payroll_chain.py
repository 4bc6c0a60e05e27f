"""Bimonthly payroll file processing as an Oracle Scheduler chain (seed 002), declared in Python.

The vendor's payroll-checks file arrives some time before each payroll cycle, sometimes early,
sometimes late. When it arrives a message is enqueued on ``HR.FILE_ARRIVAL_Q``. Then:

* ``WAIT_FOR_FILE`` - an event step: the chain job waits in the database (no Airflow worker,
  no polling of the file system) until a message for ``PAYCHECKS.DAT`` arrives;
* ``VALIDATE`` - business checks on the external table; on failure ``NOTIFY_DBA`` runs and the
  chain ends with VALIDATE's error code: nothing is loaded;
* ``LOAD`` - loads the checks with DML error logging; ``ORA-20002`` (rows went to the error log)
  starts ``NOTIFY_ACCOUNTING``, then the chain ends with that code; any other load error ends
  the chain at once;
* ``SUMMARY`` - post-load checks and the summary for the business unit; if a post-load check
  fails (e.g. contributions above the yearly maximum) accounting is notified as well.

Every path ends with an END rule: the spec is walked path by path when the DAG is parsed
(``chain.build()``), so a branch that would leave the chain job stalled fails the DAG file
instead of a payroll night. The rules for "first step", "B after A" and "end when the last step
succeeded" are generated from ``wait >> validate >> load >> summary``; the failure branches are
explicit rules in Oracle's chain rule syntax.

The operator creates the chain and its programs on the first run and changes nothing on later
runs while the spec stays the same (it compares a fingerprint stored in the chain's comments);
it runs the chain as job ``OTASK_CH_<hash>_<try>``, waits in the triggerer (deferrable), logs a
table of every step and fails with the step states if the chain fails or stalls. To resume after
fixing a load problem, run a copy of this task with ``start_steps=["LOAD"]``: WAIT_FOR_FILE and
VALIDATE are then marked SUCCEEDED (RUN_CHAIN's step_state_list), so no new file is awaited.

Prerequisites (a DBA, once): the ``HR.PAYROLL_PROCESSING`` package of the seed, a multi-consumer
queue ``HR.FILE_ARRIVAL_Q`` whose payload has a ``FILE_NAME`` attribute, and the chain
privileges for HR (``sql/grants.sql``: CREATE JOB and the Rules Engine privileges).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_oracle_tasks.chains.spec import Chain
from airflow_provider_oracle_tasks.operators.chain import OracleSchedulerChainOperator

PACKAGE = "HR.PAYROLL_PROCESSING"
FILE_NAME = "PAYCHECKS.DAT"

chain = Chain("PAYROLL_CHECKS", comments="bimonthly payroll checks file")
wait = chain.event(
    "WAIT_FOR_FILE",
    queue="HR.FILE_ARRIVAL_Q",
    condition=f"tab.user_data.file_name = '{FILE_NAME}'",
)
validate = chain.procedure("VALIDATE", f"{PACKAGE}.VALIDATE_CHECKS", FILE_NAME)
load = chain.procedure("LOAD", f"{PACKAGE}.LOAD_CHECKS", FILE_NAME)
summary = chain.procedure("SUMMARY", f"{PACKAGE}.SEND_SUMMARY")
chain.plsql("NOTIFY_DBA", "begin hr.payroll_processing.notify('DBA', 'payroll file failed validation'); end;")
chain.procedure("NOTIFY_ACCOUNTING", f"{PACKAGE}.NOTIFY", "ACCOUNTING", "payroll load needs review")
wait >> validate >> load >> summary
chain.rule("VALIDATE FAILED", "START NOTIFY_DBA", name="PAYROLL_CHECKS_BAD_FILE")
chain.rule("NOTIFY_DBA COMPLETED", "END VALIDATE.ERROR_CODE", name="PAYROLL_CHECKS_END_BAD_FILE")
chain.rule(
    "LOAD ERROR_CODE IN (20002) OR SUMMARY FAILED", "START NOTIFY_ACCOUNTING", name="PAYROLL_CHECKS_REVIEW"
)
chain.rule(
    "LOAD FAILED AND LOAD ERROR_CODE NOT IN (20002)", "END LOAD.ERROR_CODE", name="PAYROLL_CHECKS_LOAD_ERR"
)
chain.rule(
    "NOTIFY_ACCOUNTING COMPLETED AND LOAD FAILED", "END LOAD.ERROR_CODE", name="PAYROLL_CHECKS_END_DML"
)
chain.rule(
    "NOTIFY_ACCOUNTING COMPLETED AND SUMMARY FAILED", "END SUMMARY.ERROR_CODE", name="PAYROLL_CHECKS_END_POST"
)
PAYROLL_SPEC = chain.build()

with DAG(
    dag_id="oracle_tasks_payroll_chain",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "example", "chain"],
    doc_md=__doc__,
) as dag:
    payroll = OracleSchedulerChainOperator(
        task_id="process_payroll_file",
        spec=PAYROLL_SPEC,
        oracle_conn_id="oracle_default",
        timeout=timedelta(hours=48),  # the seed's window for the file to arrive
        poke_interval=60,
    )

    @task
    def report(result: dict[str, Any]) -> list[str]:
        """Downstream use of the XCom: which steps ran, and how they ended."""
        return [f"{step['step']}: {step['state']}" for step in result["steps"]]

    report(payroll.output)

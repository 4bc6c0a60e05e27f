"""Refresh every materialized view of the schema in parallel, from a task definition (seed 000).

The Oracle Task Manager guide refreshes all MVs of a schema like this: (1) store a task
definition whose SQL refreshes ``$p1$`` and whose source query lists the MVs, (2) create an
instance from the definitions with STOPONERROR 'N', (3) start 8 jobs, (4) watch the task
table until everything is done. This DAG does the same four steps, without pasting names into
SQL: each row of the source query is *bound* to ``:p1``.

1. ``define_refresh`` stores (or updates) the definition ``REFRESH_MVIEW`` in taskspace
   ``MVIEW_REFRESH``: idempotent, so it can run every time.
2. ``create_instance`` creates one task per row of ``select mview_name from user_mviews``,
   with ``stop_on_error=False`` (seed: 'N'): one failing MV does not keep the others from
   being refreshed. The run key makes an Airflow retry reuse the instance.
3. ``start_jobs`` starts 8 workers (DBMS_SCHEDULER jobs).
4. ``wait_for_refresh`` waits without holding a worker slot when deferrable (the default comes
   from ``[operators] default_deferrable``), logs progress, and fails listing every MV that
   failed with its ORA code.

Needs the engine installed in the connection's schema (see ``quick_start.py``) and is run by
the schema owner (the definition lives in OTASK_TASK_DEFS).
"""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_oracle_tasks.operators.task_manager import (
    OracleTaskManagerCreateInstanceOperator,
    OracleTaskManagerStartJobsOperator,
)
from airflow_provider_oracle_tasks.sensors.task_manager import OracleTaskManagerInstanceSensor

CONN_ID = "oracle_default"
TASKSPACE = "MVIEW_REFRESH"
DEFINITION = "REFRESH_MVIEW"
REFRESH_SQL = "begin dbms_mview.refresh(list => :p1, method => '?', atomic_refresh => true); end;"
SOURCE_QUERY = "select mview_name from user_mviews order by mview_name"
FIND_DEFINITION_SQL = (
    "select definition_id, to_char(sql_text), to_char(source_query) from otask_task_defs "
    "where taskspace = :taskspace and name = :name"
)

with DAG(
    dag_id="oracle_tasks_mview_refresh",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def define_refresh() -> int:
        """Seed 000 step 1, idempotent: keep one definition, replace it when its SQL changed."""
        from airflow_provider_oracle_tasks.engine import api as engine_api
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

        with closing(OracleTaskManagerHook(oracle_conn_id=CONN_ID).get_conn()) as connection:
            with connection.cursor() as cursor:
                cursor.execute(FIND_DEFINITION_SQL, {"taskspace": TASKSPACE, "name": DEFINITION})
                found = cursor.fetchone()
            if found is not None and (found[1], found[2]) == (REFRESH_SQL, SOURCE_QUERY):
                return int(found[0])
            if found is not None:
                engine_api.remove_definition(connection, int(found[0]))
            definition_id = engine_api.add_definition(
                connection, taskspace=TASKSPACE, name=DEFINITION, sql=REFRESH_SQL, source_query=SOURCE_QUERY
            )
            connection.commit()  # building calls leave the commit to the caller: one transaction
            return definition_id

    create = OracleTaskManagerCreateInstanceOperator(
        task_id="create_instance",
        oracle_conn_id=CONN_ID,
        taskspace=TASKSPACE,
        from_definitions=True,
        stop_on_error=False,
    )
    start = OracleTaskManagerStartJobsOperator(
        task_id="start_jobs", oracle_conn_id=CONN_ID, instance_id=create.output, threads=8
    )
    wait = OracleTaskManagerInstanceSensor(
        task_id="wait_for_refresh",
        oracle_conn_id=CONN_ID,
        instance_id=create.output,
        poke_interval=30,
        timeout=timedelta(hours=6),
    )

    define_refresh() >> create >> start >> wait

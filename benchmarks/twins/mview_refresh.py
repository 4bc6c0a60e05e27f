"""mview_refresh.py with common.sql: define, create from definitions, start 8 workers, wait."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG, task

CONN_ID = "oracle_default"
REFRESH_SQL = "begin dbms_mview.refresh(list => :p1, method => '?', atomic_refresh => true); end;"
SOURCE_QUERY = "select mview_name from user_mviews order by mview_name"
CREATE_SQL = """
declare
  l_id number;
begin
  l_id := otask.create_instance(p_taskspace => 'MVIEW_REFRESH', p_run_key => :run_key,
                                p_stop_on_error => 'N');
  if otask.add_tasks_from_definitions(l_id) > 0 then commit; end if;
  :instance_id := l_id;
end;"""

with DAG(
    dag_id="common_sql_mview_refresh",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
) as dag:

    @task
    def define_refresh() -> int:
        from airflow.providers.oracle.hooks.oracle import OracleHook

        with closing(OracleHook(oracle_conn_id=CONN_ID).get_conn()) as connection:
            with connection.cursor() as cursor:
                cursor.execute(
                    "select definition_id from otask_task_defs where taskspace = :t and name = :n",
                    {"t": "MVIEW_REFRESH", "n": "REFRESH_MVIEW"},
                )
                found = cursor.fetchone()
                if found is not None:
                    return int(found[0])
                out = cursor.var(int)
                cursor.execute(
                    "begin :id := otask.add_definition(p_taskspace => 'MVIEW_REFRESH', "
                    "p_name => 'REFRESH_MVIEW', p_sql => :s, p_source_query => :q); end;",
                    {"id": out, "s": REFRESH_SQL, "q": SOURCE_QUERY},
                )
            connection.commit()
            return int(out.getvalue())

    create = SQLExecuteQueryOperator(
        task_id="create_instance", conn_id=CONN_ID, sql=CREATE_SQL, parameters={"run_key": "{{ run_id }}"}
    )
    start = SQLExecuteQueryOperator(
        task_id="start_jobs",
        conn_id=CONN_ID,
        sql="begin otask.start_jobs(p_instance_id => :i, p_threads => 8); end;",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
    )
    wait = SqlSensor(
        task_id="wait_for_refresh",
        conn_id=CONN_ID,
        sql="select 1 from otask_instances_v where instance_id = :i and state in ('SUCCEEDED', 'FAILED')",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
        poke_interval=30,
        timeout=timedelta(hours=6),
        mode="reschedule",
    )
    define_refresh() >> create >> start >> wait

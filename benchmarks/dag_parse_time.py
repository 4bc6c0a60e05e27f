"""DAG parse time: an example DAG of this provider against the same DAG built from common.sql.

The DAG processor parses every DAG file again and again, so a provider must not make parsing
slow. This compares ``example_dags/partition_update.py`` with the same DAG (same tasks, same
dependencies, same PL/SQL calls) written with ``SQLExecuteQueryOperator`` and ``SqlSensor`` of
apache-airflow-providers-common-sql, which a user could write instead.

Two figures per DAG, medians of ``--repeat`` runs:

* cold: a fresh interpreter that has imported ``airflow.sdk`` (as the DAG processor has) parses
  the file once with a DagBag, so the provider's own imports are included;
* warm: the same file parsed again in a process whose modules are already imported (only the
  file's own code and the operators' ``__init__`` run).

Target (issue): the provider's DAG parses in <= 1.2x the time of the common.sql one.
Nothing is asserted; the figures are printed for the run at hand.

    python benchmarks/dag_parse_time.py --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_dags" / "partition_update.py"

COMMON_SQL_DAG = '''
"""partition_update.py written with common.sql operators: same tasks, calls and dependencies."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG, Param, task

CONN_ID = "oracle_default"
PARTITIONS_SQL = (
    "select partition_name from user_tab_partitions where table_name = :table_name "
    "order by partition_position"
)
CREATE_SQL = """
declare
  l_id number;
begin
  l_id := otask.create_instance(p_taskspace => 'PARTITION_UPDATE', p_run_key => :run_key);
  :instance_id := l_id;
  if otask.add_tasks(l_id, :tasks) > 0 then commit; end if;
end;"""

with DAG(
    dag_id="common_sql_partition_update",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
    params={
        "table": Param("HTAB", type="string"),
        "column": Param("NCOL", type="string"),
        "value": Param("XNA", type="string"),
        "daytime_threads": Param(3, type="integer", minimum=0, maximum=1000),
    },
) as dag:

    @task
    def partition_tasks(params: dict[str, Any] | None = None) -> str:
        import json

        from airflow.providers.oracle.hooks.oracle import OracleHook

        assert params is not None
        with closing(OracleHook(oracle_conn_id=CONN_ID).get_conn()) as connection:
            with connection.cursor() as cursor:
                cursor.execute(PARTITIONS_SQL, {"table_name": params["table"]})
                names = [row[0] for row in cursor.fetchall()]
        table, column = params["table"], params["column"]
        value = params["value"]
        updates = [
            {"sql": f"update {table} partition ({n}) set {column} = :v", "group": 1, "binds": {"v": value}}
            for n in names
        ]
        rebuilds = [
            {"sql": f"alter table {table} modify partition {n} rebuild unusable local indexes", "group": 2}
            for n in names
        ]
        return json.dumps(updates + rebuilds)

    create = SQLExecuteQueryOperator(
        task_id="create_instance",
        conn_id=CONN_ID,
        sql=CREATE_SQL,
        parameters={"run_key": "{{ run_id }}", "tasks": "{{ ti.xcom_pull('partition_tasks') }}"},
    )
    start = SQLExecuteQueryOperator(
        task_id="start_jobs",
        conn_id=CONN_ID,
        sql="begin otask.start_jobs(p_instance_id => :i, p_threads => 10); end;",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
    )
    throttle = SQLExecuteQueryOperator(
        task_id="throttle",
        conn_id=CONN_ID,
        sql="begin otask.set_threads(p_instance_id => :i, p_threads => :t); end;",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}", "t": "{{ params.daytime_threads }}"},
    )
    wait = SqlSensor(
        task_id="wait_for_update",
        conn_id=CONN_ID,
        sql="select 1 from otask_instances_v where instance_id = :i and state in ('SUCCEEDED')",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
        poke_interval=30,
        timeout=timedelta(hours=12),
        mode="reschedule",
    )

    partition_tasks() >> create >> start >> [throttle, wait]
'''

PARSE_ONCE = textwrap.dedent(
    """
    import os, sys, time
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    import airflow.sdk
    from airflow.dag_processing.dagbag import DagBag
    path, warm = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    cold = time.perf_counter() - started
    assert not bag.import_errors and len(bag.dags) == 1, bag.import_errors
    times = []
    for _ in range(warm):
        started = time.perf_counter()
        bag.process_file(path, only_if_updated=False)
        times.append(time.perf_counter() - started)
    times.sort()
    print(cold, times[len(times) // 2])
    """
)


def measure(path: Path, repeat: int, warm: int) -> tuple[float, float]:
    colds, warms = [], []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PARSE_ONCE, str(path), str(warm)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
        colds.append(float(out[-2]))
        warms.append(float(out[-1]))
    return statistics.median(colds), statistics.median(warms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per DAG")
    parser.add_argument("--warm", type=int, default=20, help="warm re-parses per interpreter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        baseline = Path(folder) / "common_sql_partition_update.py"
        baseline.write_text(COMMON_SQL_DAG)
        measure(EXAMPLE, 1, 1)  # warm the OS file cache and .pyc files of both
        measure(baseline, 1, 1)
        ours = measure(EXAMPLE, args.repeat, args.warm)
        theirs = measure(baseline, args.repeat, args.warm)
    python = sys.version.split()[0]
    print(f"median of {args.repeat} fresh interpreters ({args.warm} warm re-parses each), Python {python}")
    print(f"{'':38} {'cold (first parse)':>20} {'warm (re-parse)':>18}")
    for label, (cold, warm) in (("example_dags/partition_update.py", ours), ("same DAG, common.sql", theirs)):
        print(f"{label:38} {cold * 1000:17.1f} ms {warm * 1000:15.1f} ms")
    ratios = (ours[0] / theirs[0], ours[1] / theirs[1])
    print(f"{'ratio (target <= 1.2x)':38} {ratios[0]:19.2f}x {ratios[1]:17.2f}x")


if __name__ == "__main__":
    main()

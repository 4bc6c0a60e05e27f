"""Quick start: install (or upgrade) the oracle-tasks engine in the schema of ``oracle_default``,
then run a small batch in it with one task.

``run_small_batch`` creates an instance of four tasks (two groups), starts it with two workers
(DBMS_SCHEDULER jobs) and waits for it; its XCom is the summary (counts by state, elapsed time,
failed tasks). Deferrable when ``[operators] default_deferrable`` is true: the wait then runs
in the triggerer and no worker slot is held. An Airflow retry reuses the same instance.

Run it without a scheduler (README, "Quick start"; Oracle running and the grants done):

    export AIRFLOW_HOME="$PWD/airflow-home"
    export ORACLE_TASKS_DSN=localhost:1521/FREEPDB1 ORACLE_TASKS_USER=OTASK ORACLE_TASKS_PASSWORD=...
    python example_dags/quick_start.py

When run as a script it runs ``airflow db migrate`` (idempotent: ``dag.test()`` needs Airflow's
metadata tables), builds the ``oracle_default`` connection from those three variables (unless
AIRFLOW_CONN_ORACLE_DEFAULT is set already), checks that it can log in - if not, it says why in
one paragraph and runs nothing - and runs the DAG once with ``dag.test()``. The install task is
idempotent and every run gets its own instance, so the DAG can run again and again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

if __name__ == "__main__":
    # dag.test() looks the DAG up in the DAGs folder; Airflow reads its config on import.
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pendulum
from airflow.sdk import DAG

from airflow_provider_oracle_tasks.operators.task_manager import (
    OracleTaskManagerInstallOperator,
    OracleTaskManagerRunOperator,
)

SMALL_BATCH = [
    {"sql": "begin dbms_session.sleep(1); end;", "name": "sleep 1"},
    {"sql": "begin dbms_session.sleep(:seconds); end;", "name": "sleep 2", "binds": {"seconds": 2}},
    {"sql": "begin null; end;", "name": "no-op"},
    {"sql": "begin null; end;", "name": "after the first group", "group": 2},
]

with DAG(
    dag_id="oracle_tasks_quick_start",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "example"],
    doc_md=__doc__,
) as dag:
    install = OracleTaskManagerInstallOperator(task_id="install_engine", oracle_conn_id="oracle_default")
    run_batch = OracleTaskManagerRunOperator(
        task_id="run_small_batch",
        oracle_conn_id="oracle_default",
        taskspace="QUICK_START",
        tasks=SMALL_BATCH,
        threads=2,
        poke_interval=5,
        timeout=600,
    )
    install >> run_batch


def _connection_from_environment() -> None:
    if os.environ.get("AIRFLOW_CONN_ORACLE_DEFAULT"):
        return
    missing = [
        name
        for name in ("ORACLE_TASKS_DSN", "ORACLE_TASKS_USER", "ORACLE_TASKS_PASSWORD")
        if not os.environ.get(name)
    ]
    if missing:
        sys.exit(
            f"quick start: set {', '.join(missing)} (the Oracle to install into), e.g.\n"
            "  export ORACLE_TASKS_DSN=localhost:1521/FREEPDB1 ORACLE_TASKS_USER=OTASK "
            "ORACLE_TASKS_PASSWORD=...\nor set AIRFLOW_CONN_ORACLE_DEFAULT. See README.md, 'Quick start'."
        )
    os.environ["AIRFLOW_CONN_ORACLE_DEFAULT"] = json.dumps(
        {
            "conn_type": "oracle",
            "login": os.environ["ORACLE_TASKS_USER"],
            "password": os.environ["ORACLE_TASKS_PASSWORD"],
            "extra": {"dsn": os.environ["ORACLE_TASKS_DSN"]},
        }
    )


NEXT_STEPS = """\
What to do next: start Oracle (README, "Quick start": the `docker run` command, then wait for
DATABASE IS READY TO USE!), check ORACLE_TASKS_DSN, ORACLE_TASKS_USER and ORACLE_TASKS_PASSWORD,
have a DBA run `oracle-tasks grants ... --owner OTASK` once, then run this script again."""


def _migrate_metadata_db() -> None:
    """``airflow db migrate``: dag.test() records its run in Airflow's metadata database."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"quick start: `airflow db migrate` failed: {last}\nCheck AIRFLOW_HOME and its airflow.cfg.")


def _can_log_in() -> bool:
    """One login before anything runs, so an unreachable database is one paragraph, not a log."""
    from airflow_provider_oracle_tasks.errors import ConnectionProblem
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    try:
        OracleTaskManagerHook(oracle_conn_id="oracle_default").get_conn().close()
    except ConnectionProblem as error:
        print(f"quick start: nothing ran, because the database cannot be reached.\n  {error}\n{NEXT_STEPS}")
        return False
    return True


def _failed_tasks(run: object) -> list[str]:
    try:
        return [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"]  # type: ignore[attr-defined]
    except Exception:  # the run object of this Airflow version cannot list them: say less
        return []


if __name__ == "__main__":
    _connection_from_environment()
    _migrate_metadata_db()
    if not _can_log_in():
        sys.exit(1)
    run = dag.test()
    if run is not None and str(run.state) == "success":
        print("quick start: succeeded; the summary of the batch is the XCom of run_small_batch.")
        sys.exit(0)
    failed = ", ".join(_failed_tasks(run)) or "a task"
    print(
        f"quick start: {failed} did not succeed; the reason is the last error in its log above "
        "(a line with 'Fix:' says what to change). Missing privileges: `oracle-tasks check "
        "--conn-id oracle_default` lists the GRANTs. A task after a failed one is not run "
        f"(upstream failed).\n{NEXT_STEPS}"
    )
    sys.exit(1)

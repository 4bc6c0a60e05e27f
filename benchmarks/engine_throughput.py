"""Engine throughput benchmark: OTASK workers vs one scheduler job per task (needs a real Oracle).

Measures, in ONE run against one database:

* no-op tasks per second through the engine for 1, 2, 4 and 8 threads (worker jobs that claim
  tasks in a loop), from the instance's start to its close, as the database timed them;
* the same number of no-op tasks run the way the seeds do it: one DBMS_SCHEDULER job per task
  (created enabled, auto-dropped), from the first CREATE_JOB call to the last job gone;
* dispatch latency: start_jobs -> first task RUNNING (database timestamps);
* thread-change latency: set_threads 1 -> 8 until 8 tasks run, and 8 -> 1 until one worker is
  left (client clock, polling the views every 20 ms).

Nothing is asserted and no figure is stored in the repository: the numbers depend on the
database, its JOB_QUEUE_PROCESSES and the machine, so they are printed for the run at hand.

Run (the engine must be installed in the schema, e.g. ``oracle-tasks install``)::

    export ORACLE_TASKS_TEST_DSN=localhost:1521/FREEPDB1
    export ORACLE_TASKS_TEST_USER=otask_owner ORACLE_TASKS_TEST_PASSWORD=...
    python benchmarks/engine_throughput.py --tasks 2000 --repeat 3

Without those variables it prints why it cannot run and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NOOP = "begin null; end;"
ENV = ("ORACLE_TASKS_TEST_DSN", "ORACLE_TASKS_TEST_USER", "ORACLE_TASKS_TEST_PASSWORD")
EXIT_NOT_CONFIGURED = 2


@dataclass
class EngineRun:
    threads: int
    tasks: int
    seconds: float  # instance started_at -> ended_at (database clock)
    dispatch: float  # instance started_at -> first task started_at (database clock)

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds > 0 else float("inf")


def connect() -> Any:
    import oracledb

    dsn, user, password = (os.environ[name] for name in ENV)
    return oracledb.connect(user=user, password=password, dsn=dsn)


def seconds(delta: Any) -> float:
    return float(delta.total_seconds())


def poll(predicate: Callable[[], Any], timeout: float, interval: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(interval)


class Bench:
    def __init__(self, conn: Any, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.taskspace = f"BENCH_{secrets.token_hex(4).upper()}"
        self.instances: list[int] = []

    # ---- engine -----------------------------------------------------------------------
    def new_instance(self, tasks: list[dict[str, Any]]) -> int:
        import oracledb

        with self.conn.cursor() as cursor:
            instance_id = int(
                cursor.callfunc(
                    "otask.create_instance", int, keyword_parameters={"p_taskspace": self.taskspace}
                )
            )
            self.instances.append(instance_id)
            document = cursor.var(oracledb.DB_TYPE_CLOB)
            document.setvalue(0, json.dumps(tasks))
            cursor.callfunc(
                "otask.add_tasks", int, keyword_parameters={"p_instance_id": instance_id, "p_tasks": document}
            )
        return instance_id

    def start(self, instance_id: int, threads: int) -> None:
        with self.conn.cursor() as cursor:  # start_jobs commits the instance and its tasks
            cursor.callproc(
                "otask.start_jobs", keyword_parameters={"p_instance_id": instance_id, "p_threads": threads}
            )

    def set_threads(self, instance_id: int, threads: int) -> None:
        with self.conn.cursor() as cursor:
            cursor.callproc(
                "otask.set_threads", keyword_parameters={"p_instance_id": instance_id, "p_threads": threads}
            )

    def state(self, instance_id: int) -> str:
        with self.conn.cursor() as cursor:
            return str(
                cursor.callfunc(
                    "otask.instance_state", str, keyword_parameters={"p_instance_id": instance_id}
                )
            )

    def view(self, instance_id: int) -> tuple[Any, ...]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select state, running_tasks, live_workers from otask_instances_v where instance_id = :i",
                i=instance_id,
            )
            return tuple(cursor.fetchone())

    def engine_run(self, tasks: int, threads: int) -> EngineRun:
        instance_id = self.new_instance([{"sql": NOOP} for _ in range(tasks)])
        self.start(instance_id, threads)
        state = poll(
            lambda: self.state(instance_id) in ("SUCCEEDED", "FAILED", "STOPPED"), self.timeout, 0.05
        )
        assert state
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select i.state, i.ended_at - i.started_at, "
                "       (select min(t.started_at) from otask_tasks t where t.instance_id = i.instance_id) "
                "       - i.started_at, i.closed_succeeded "
                "  from otask_instances i where i.instance_id = :i",
                i=instance_id,
            )
            final, elapsed, dispatch, succeeded = cursor.fetchone()
        if final != "SUCCEEDED" or succeeded != tasks:
            raise RuntimeError(
                f"instance {instance_id} ended {final} with {succeeded}/{tasks} tasks succeeded"
            )
        return EngineRun(threads, tasks, seconds(elapsed), seconds(dispatch))

    def thread_change(self, tasks: int) -> tuple[float, float]:
        """Seconds until set_threads(8) shows 8 running, and until set_threads(1) leaves 1 worker."""
        instance_id = self.new_instance(
            [{"sql": "begin dbms_session.sleep(0.2); end;"} for _ in range(tasks)]
        )
        self.start(instance_id, 1)
        poll(lambda: self.view(instance_id)[1] == 1, self.timeout, 0.02)
        raised = time.monotonic()
        self.set_threads(instance_id, 8)
        poll(lambda: self.view(instance_id)[1] == 8, self.timeout, 0.02)
        up = time.monotonic() - raised
        lowered = time.monotonic()
        self.set_threads(instance_id, 1)
        poll(lambda: self.view(instance_id)[2] == 1, self.timeout, 0.02)
        down = time.monotonic() - lowered
        with self.conn.cursor() as cursor:
            cursor.callproc("otask.stop", keyword_parameters={"p_instance_id": instance_id, "p_mode": "HARD"})
        return up, down

    # ---- the seeds' pattern: one scheduler job per task ---------------------------------
    def job_per_task(self, tasks: int) -> float:
        prefix = f"OTASK_BENCH_{secrets.token_hex(3).upper()}_"
        started = time.monotonic()
        with self.conn.cursor() as cursor:
            cursor.execute(
                """
                begin
                  for i in 1 .. :n loop
                    dbms_scheduler.create_job(
                      job_name   => :prefix || i,
                      job_type   => 'PLSQL_BLOCK',
                      job_action => 'begin null; end;',
                      enabled    => true,
                      auto_drop  => true);
                  end loop;
                end;""",
                n=tasks,
                prefix=prefix,
            )

        def remaining() -> int:
            with self.conn.cursor() as cursor:
                cursor.execute(
                    "select count(*) from user_scheduler_jobs where job_name like :p escape '\\'",
                    p=prefix.replace("_", "\\_") + "%",
                )
                return int(cursor.fetchone()[0])

        poll(lambda: remaining() == 0, self.timeout, 0.05)
        return time.monotonic() - started

    def cleanup(self) -> None:
        self.conn.rollback()
        with self.conn.cursor() as cursor:
            for instance_id in self.instances:
                cursor.callproc(
                    "otask.stop", keyword_parameters={"p_instance_id": instance_id, "p_mode": "HARD"}
                )
                cursor.callproc("otask.purge_instance", keyword_parameters={"p_instance_id": instance_id})
            cursor.callproc("otask.drop_taskspace", keyword_parameters={"p_taskspace": self.taskspace})


def describe(conn: Any, sql: str, *binds: Any) -> str:
    """One value for the report header, or why it is unknown (e.g. no access to V$ views)."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, binds)
            row = cursor.fetchone()
        return str(row[0]) if row else "unknown"
    except Exception as error:
        return f"unknown ({str(error).splitlines()[0]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks per measurement (default 1000)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8], help="thread counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one run")
    args = parser.parse_args(argv)

    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        print(
            "engine_throughput: no Oracle configured (set " + ", ".join(missing) + "); nothing measured. "
            "This benchmark needs a real database with the engine installed.",
            file=sys.stderr,
        )
        return EXIT_NOT_CONFIGURED

    conn = connect()
    version = describe(conn, "select product || ' ' || version_full from product_component_version")
    queue = describe(conn, "select value from v$parameter where name = :n", "job_queue_processes")
    print(f"database: {version}")
    print(f"job_queue_processes: {queue}")
    print(f"tasks per measurement: {args.tasks}, repeats: {args.repeat} (median shown)\n")

    bench = Bench(conn, args.timeout)
    try:
        baseline = statistics.median(bench.job_per_task(args.tasks) for _ in range(args.repeat))
        baseline_rate = args.tasks / baseline
        rows = []
        for threads in args.threads:
            runs = [bench.engine_run(args.tasks, threads) for _ in range(args.repeat)]
            rate = statistics.median(r.rate for r in runs)
            dispatch = statistics.median(r.dispatch for r in runs)
            rows.append((f"engine, {threads} thread(s)", rate, rate / baseline_rate, dispatch))
        ups, downs = zip(*(bench.thread_change(200) for _ in range(args.repeat)), strict=True)
    finally:
        bench.cleanup()

    print(f"{'how':<28}{'tasks/s':>12}{'vs job/task':>14}{'dispatch s':>13}")
    print(f"{'one scheduler job per task':<28}{baseline_rate:>12.1f}{1.0:>13.1f}x{'-':>13}")
    for name, rate, ratio, dispatch in rows:
        print(f"{name:<28}{rate:>12.1f}{ratio:>13.1f}x{dispatch:>13.3f}")
    print(f"\nthread change 1 -> 8 (until 8 running):      {statistics.median(ups):.3f} s")
    print(f"thread change 8 -> 1 (until 1 live worker):  {statistics.median(downs):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

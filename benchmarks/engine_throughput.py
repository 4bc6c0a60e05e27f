"""Engine throughput benchmark: OTASK workers against the scheduler's own ways (needs a real Oracle).

Measures, in ONE run against one database, each measurement ``--repeat`` times (min/median/max):

* no-op tasks per second through the engine for 1, 2, 4 and 8 threads, timed on the database
  clock from just before ``add_tasks`` (JSON parse and bulk insert included) to the instance's
  ``ended_at``; completion is polled with ``select state from otask_instances`` (a plain read:
  polling ``otask.instance_state`` would run the watchdog every poll and perturb the run);
* the same number of no-op tasks the way the seeds do it: one regular DBMS_SCHEDULER job per task
  (created enabled, auto-dropped), from before the first CREATE_JOB to the last run's end
  (USER_SCHEDULER_JOB_RUN_DETAILS, database clock);
* the same with **lightweight** jobs (``job_style => 'LIGHTWEIGHT'`` on one program);
* the same with DBMS_PARALLEL_EXECUTE (one chunk per task, ``parallel_level`` = 8);
* dispatch latency: start_jobs -> first task RUNNING (database timestamps);
* thread-change latency: set_threads 1 -> 8 until 8 tasks run, and 8 -> 1 until one worker is
  left (client clock, polling the instance table every 20 ms).

Goal (issue 14): >= 30x one job per task, and >= 3 000 no-op tasks/s at 8 threads.

Nothing is asserted and no figure is stored in the repository: the numbers depend on the
database, its JOB_QUEUE_PROCESSES and the machine, so they are printed for the run at hand.
Without a database it prints the paper estimate from the review (reviews/scale.md, section 3)
that a real run replaces, and exits with status 2.

Run (the engine must be installed in the schema, e.g. ``oracle-tasks install``)::

    export ORACLE_TASKS_TEST_DSN=localhost:1521/FREEPDB1
    export ORACLE_TASKS_TEST_USER=otask_owner ORACLE_TASKS_TEST_PASSWORD=...
    python benchmarks/engine_throughput.py --tasks 2000 --repeat 3 [--json]
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
FINAL_STATES = ("SUCCEEDED", "FAILED", "STOPPED")

PAPER_ESTIMATE = {
    "source": "reviews/scale.md section 3 (reading the PL/SQL; never measured)",
    "tasks_per_second": {
        "one regular scheduler job per task": "10-100",
        "lightweight scheduler jobs": "hundreds",
        "engine, 8 threads": "3000-6000 (2800 if every commit waits for log file sync)",
        "DBMS_PARALLEL_EXECUTE, 8 jobs": "same order as the engine",
    },
    "engine_cost_per_task": "7 statements + the task's parse/execute, 2 commits",
    "goal": ">= 30x one job per task and >= 3000 no-op tasks/s at 8 threads",
}


@dataclass
class EngineRun:
    threads: int
    tasks: int
    seconds: float  # before add_tasks -> ended_at (database clock)
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


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1]}


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

    def now(self) -> Any:
        """The database clock (UTC), so start and end of a measurement come from one clock."""
        with self.conn.cursor() as cursor:
            cursor.execute("select sys_extract_utc(systimestamp) from dual")
            return cursor.fetchone()[0]

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
        """A plain read of the instance row: no watchdog, no lock, no commit."""
        with self.conn.cursor() as cursor:
            cursor.execute("select state from otask_instances where instance_id = :i", i=instance_id)
            return str(cursor.fetchone()[0])

    def counts(self, instance_id: int) -> tuple[int, int]:
        """(running tasks, live workers) from the tables, not from the heavier view."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select (select count(*) from otask_tasks t"
                "         where t.instance_id = :i and t.state = 'RUNNING'),"
                "       (select count(*) from otask_workers w where w.instance_id = :i"
                "           and w.state in ('STARTING', 'ACTIVE')) from dual",
                i=instance_id,
            )
            running, live = cursor.fetchone()
            return int(running), int(live)

    def engine_run(self, tasks: int, threads: int) -> EngineRun:
        began = self.now()
        instance_id = self.new_instance([{"sql": NOOP} for _ in range(tasks)])
        self.start(instance_id, threads)
        poll(lambda: self.state(instance_id) in FINAL_STATES, self.timeout, 0.05)
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select i.state, sys_extract_utc(i.ended_at) - :began, "
                "       (select min(t.started_at) from otask_tasks t where t.instance_id = i.instance_id) "
                "       - i.started_at, i.closed_succeeded "
                "  from otask_instances i where i.instance_id = :i",
                i=instance_id,
                began=began,
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
        poll(lambda: self.counts(instance_id)[0] == 1, self.timeout, 0.02)
        raised = time.monotonic()
        self.set_threads(instance_id, 8)
        poll(lambda: self.counts(instance_id)[0] == 8, self.timeout, 0.02)
        up = time.monotonic() - raised
        lowered = time.monotonic()
        self.set_threads(instance_id, 1)
        poll(lambda: self.counts(instance_id)[1] == 1, self.timeout, 0.02)
        down = time.monotonic() - lowered
        with self.conn.cursor() as cursor:
            cursor.callproc("otask.stop", keyword_parameters={"p_instance_id": instance_id, "p_mode": "HARD"})
        return up, down

    # ---- the seeds' pattern and the scheduler's own alternatives --------------------------
    def scheduler_jobs(self, tasks: int, *, lightweight: bool) -> float:
        """Seconds (database clock) from before the first CREATE_JOB to the end of the last run."""
        prefix = f"OTASK_BENCH_{secrets.token_hex(3).upper()}_"
        program = f"{prefix}P"
        began = self.now()
        with self.conn.cursor() as cursor:
            if lightweight:  # a lightweight job runs a program: create one, enabled
                cursor.callproc(
                    "dbms_scheduler.create_program",
                    keyword_parameters={
                        "program_name": program,
                        "program_type": "PLSQL_BLOCK",
                        "program_action": NOOP,
                        "enabled": True,
                    },
                )
            cursor.execute(
                """
                begin
                  for i in 1 .. :n loop
                    if :lightweight = 1 then
                      dbms_scheduler.create_job(
                        job_name     => :prefix || i,
                        program_name => :program,
                        job_style    => 'LIGHTWEIGHT',
                        enabled      => true,
                        auto_drop    => true);
                    else
                      dbms_scheduler.create_job(
                        job_name   => :prefix || i,
                        job_type   => 'PLSQL_BLOCK',
                        job_action => 'begin null; end;',
                        enabled    => true,
                        auto_drop  => true);
                    end if;
                  end loop;
                end;""",
                n=tasks,
                prefix=prefix,
                program=program,
                lightweight=1 if lightweight else 0,
            )
        pattern = prefix.replace("_", "\\_") + "%"

        def remaining() -> int:
            with self.conn.cursor() as cursor:
                cursor.execute(
                    "select count(*) from user_scheduler_jobs where job_name like :p escape '\\'", p=pattern
                )
                return int(cursor.fetchone()[0])

        poll(lambda: remaining() == 0, self.timeout, 0.05)
        with self.conn.cursor() as cursor:
            cursor.execute(
                "select count(*), max(sys_extract_utc(log_date)) - :began from user_scheduler_job_run_details"
                " where job_name like :p escape '\\'",
                p=pattern,
                began=began,
            )
            runs, elapsed = cursor.fetchone()
            if lightweight:
                cursor.callproc("dbms_scheduler.drop_program", keyword_parameters={"program_name": program})
        if int(runs) != tasks or elapsed is None:
            raise RuntimeError(f"{runs} of {tasks} scheduler job runs were logged for {prefix}*")
        return seconds(elapsed)

    def parallel_execute(self, tasks: int, level: int) -> float:
        """DBMS_PARALLEL_EXECUTE: one chunk per no-op task, ``level`` jobs; run_task blocks."""
        name = f"OTASK_BENCH_{secrets.token_hex(3).upper()}"
        chunks = f"select level, level from dual connect by level <= {int(tasks)}"  # an int, not text
        began = self.now()
        with self.conn.cursor() as cursor:
            cursor.callproc("dbms_parallel_execute.create_task", keyword_parameters={"task_name": name})
            try:
                cursor.callproc(
                    "dbms_parallel_execute.create_chunks_by_sql",
                    keyword_parameters={"task_name": name, "sql_stmt": chunks, "by_rowid": False},
                )
                cursor.execute(
                    "begin dbms_parallel_execute.run_task(task_name => :t, sql_stmt => :s, "
                    "language_flag => dbms_sql.native, parallel_level => :l); end;",
                    t=name,
                    s="declare l_a number := :start_id; l_b number := :end_id; begin null; end;",
                    l=level,
                )
                ended = self.now()
                finished = cursor.var(int)
                cursor.execute(  # package constants are visible in PL/SQL only, not in SQL
                    "begin :ok := case when dbms_parallel_execute.task_status(:t) "
                    "= dbms_parallel_execute.finished then 1 else 0 end; end;",
                    ok=finished,
                    t=name,
                )
                if finished.getvalue() != 1:
                    raise RuntimeError(f"DBMS_PARALLEL_EXECUTE task {name} did not finish cleanly")
            finally:
                cursor.callproc("dbms_parallel_execute.drop_task", keyword_parameters={"task_name": name})
        return seconds(ended - began)

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
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (min/median/max)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        reason = f"no Oracle configured (set {', '.join(missing)}); nothing measured"
        if args.json:
            print(
                json.dumps({"measured": False, "reason": reason, "paper_estimate": PAPER_ESTIMATE}, indent=1)
            )
        else:
            print(
                f"engine_throughput: {reason}. "
                "This benchmark needs a real database with the engine installed."
            )
            print(f"Paper estimate it replaces ({PAPER_ESTIMATE['source']}):")
            for how, rate in PAPER_ESTIMATE["tasks_per_second"].items():
                print(f"  {how:<38} {rate} no-op tasks/s")
            print(f"  goal: {PAPER_ESTIMATE['goal']}")
        return EXIT_NOT_CONFIGURED

    conn = connect()
    header = {
        "database": describe(conn, "select product || ' ' || version_full from product_component_version"),
        "job_queue_processes": describe(
            conn, "select value from v$parameter where name = :n", "job_queue_processes"
        ),
        "tasks": args.tasks,
        "repeat": args.repeat,
    }
    bench = Bench(conn, args.timeout)
    n = args.tasks
    try:
        rates: dict[str, dict[str, float]] = {
            "one regular job per task": quantiles(
                [n / bench.scheduler_jobs(n, lightweight=False) for _ in range(args.repeat)]
            ),
            "lightweight job per task": quantiles(
                [n / bench.scheduler_jobs(n, lightweight=True) for _ in range(args.repeat)]
            ),
            "DBMS_PARALLEL_EXECUTE, 8 jobs": quantiles(
                [n / bench.parallel_execute(n, 8) for _ in range(args.repeat)]
            ),
        }
        dispatch: dict[str, dict[str, float]] = {}
        for threads in args.threads:
            runs = [bench.engine_run(n, threads) for _ in range(args.repeat)]
            rates[f"engine, {threads} thread(s)"] = quantiles([r.rate for r in runs])
            dispatch[f"engine, {threads} thread(s)"] = quantiles([r.dispatch for r in runs])
        ups, downs = zip(*(bench.thread_change(200) for _ in range(args.repeat)), strict=True)
    finally:
        bench.cleanup()
    baseline = rates["one regular job per task"]["median"]
    figures = {
        "measured": True,
        **header,
        "tasks_per_second": rates,
        "vs_one_job_per_task": {how: q["median"] / baseline for how, q in rates.items()},
        "dispatch_seconds": dispatch,
        "thread_change_up_seconds": quantiles(list(ups)),
        "thread_change_down_seconds": quantiles(list(downs)),
    }
    eight = rates.get("engine, 8 thread(s)")
    if eight is not None:
        figures["goal"] = {
            "ratio_at_8_threads": eight["median"] / baseline,
            "tasks_per_second_at_8_threads": eight["median"],
            "met": eight["median"] / baseline >= 30 and eight["median"] >= 3000,
        }
    if args.json:
        print(json.dumps(figures, indent=1, default=str))
        return 0
    print(f"database: {header['database']}\njob_queue_processes: {header['job_queue_processes']}")
    print(f"tasks per measurement: {n}, repeats: {args.repeat}: median [min-max]\n")
    print(f"{'how':<34}{'tasks/s':>28}{'vs job/task':>13}{'dispatch s':>24}")
    for how, q in rates.items():
        cell = f"{q['median']:.1f} [{q['min']:.1f}-{q['max']:.1f}]"
        d = dispatch.get(how)
        dcell = f"{d['median']:.3f} [{d['min']:.3f}-{d['max']:.3f}]" if d else "-"
        print(f"{how:<34}{cell:>28}{q['median'] / baseline:>12.1f}x{dcell:>24}")
    for label, key in (
        ("1 -> 8 (until 8 running)", "thread_change_up_seconds"),
        ("8 -> 1 (until 1 worker)", "thread_change_down_seconds"),
    ):
        q = figures[key]
        print(f"thread change {label:<26} {q['median']:.3f} s [{q['min']:.3f}-{q['max']:.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

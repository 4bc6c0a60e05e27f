"""Who finds a dead worker, on a real Oracle (DESIGN rules 5, 7, 12; engine.md E-1, E-2, E-5, E-43).

Each orphan-detection path is isolated: the schema watchdog job alone (nobody reads a status),
surviving workers alone, start_jobs alone, a status read alone (the other paths are switched off:
the schema job is disabled, threads = 1 leaves no surviving worker, and only the OTASK_*_V views
are read, which heal nothing). Needs a DBA connection to kill workers the way a crash would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_oracle_tasks.engine import status

from .engine_support import (
    NOOP,
    WATCHDOG_JOB,
    Engine,
    kill_by_stop_job,
    open_engine,
    owner_name,
    sleep_sql,
    wait_until,
    watchdog_job_paused,
)

FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")
# Runs 60 s on its first attempt, at once on the next one.
SLOW_FIRST = "begin if :otask_attempt = 1 then dbms_session.sleep(60); end if; end;"


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


@pytest.fixture(name="owner")
def owner_fixture(engine_conn: Any) -> str:
    return owner_name(engine_conn)


def _job(engine: Engine) -> dict[str, Any]:
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select enabled, repeat_interval, logging_level, auto_drop, job_action "
            "  from user_scheduler_jobs where job_name = :j",
            j=WATCHDOG_JOB,
        )
        row = cursor.fetchone()
    assert row is not None, "install did not create the schema watchdog job"
    return dict(
        zip(("enabled", "repeat_interval", "logging_level", "auto_drop", "job_action"), row, strict=True)
    )


def test_install_creates_one_repeating_watchdog_job_without_job_log(engine: Engine) -> None:
    """Item 3: one engine-owned job per schema; a repeating job survives a database restart."""
    job = _job(engine)
    assert job["enabled"] == "TRUE"
    assert job["repeat_interval"] == "FREQ=SECONDLY;INTERVAL=5"
    assert job["logging_level"] == "OFF"
    assert job["auto_drop"] == "FALSE"
    assert "otask_engine.watch_schema" in job["job_action"]
    # what `oracle-tasks status --taskspace` shows, through OTASK (role holders too)
    assert status.fetch_watchdog_job_state(engine.conn) in ("SCHEDULED", "RUNNING")


def test_install_enables_a_disabled_watchdog_job_and_keeps_one(engine: Engine) -> None:
    from airflow_provider_oracle_tasks.install import installer

    with engine.conn.cursor() as cursor:
        cursor.execute("begin dbms_scheduler.disable(name => :j, force => true); end;", j=WATCHDOG_JOB)
    installer.install(engine.conn, log=print)
    assert _job(engine)["enabled"] == "TRUE"
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select count(*) from user_scheduler_jobs where job_name like 'OTASK\\_WATCH%' escape '\\'"
        )
        assert cursor.fetchone()[0] == 1


def test_schema_job_alone_heals_an_instance_nobody_watches(
    engine: Engine, admin_conn: Any, owner: str
) -> None:
    """Item 3 / E-4: every worker killed (a restart, simulated), nobody reads a status: the
    schema job marks them LOST, puts the task back (budget), restarts a worker, and the
    instance finishes. Before the schema job existed nothing ever healed it."""
    instance_id = engine.run(engine.taskspace("UNWATCHED"), [{"sql": SLOW_FIRST, "retries": 1}], threads=1)
    engine.wait_view(instance_id, lambda v: v["running_tasks"] == 1, 30, "task running")
    (job_name,) = engine.running_worker_jobs(instance_id)
    kill_by_stop_job(admin_conn, owner, job_name)
    view = engine.wait_view(instance_id, lambda v: v["state"] in FINISHED, 60, "healed by the schema job")
    assert view["state"] == "SUCCEEDED"
    workers = {w["job_name"]: w["state"] for w in engine.workers(instance_id)}
    assert workers[job_name] == "LOST"
    assert len(engine.events(instance_id)) == 1


def test_status_read_alone_settles_the_orphan(engine: Engine, admin_conn: Any, owner: str) -> None:
    """E-43: threads = 1 (no surviving worker), schema job disabled: only the batched status
    read (status.fetch_statuses -> otask.heal_instances) can find the dead worker."""
    with watchdog_job_paused(engine.conn):
        instance_id = engine.run(engine.taskspace("READPATH"), [{"sql": SLOW_FIRST, "retries": 1}], threads=1)
        engine.wait_view(instance_id, lambda v: v["running_tasks"] == 1, 30, "task running")
        (job_name,) = engine.running_worker_jobs(instance_id)
        kill_by_stop_job(admin_conn, owner, job_name)
        wait_until(lambda: engine.running_worker_jobs(instance_id) == [], 30, what="job gone")
        time.sleep(6)  # longer than any throttle: nothing but a read may heal it
        assert engine.instance(instance_id)["running_tasks"] == 1  # nobody healed it
        statuses = status.fetch_statuses(engine.conn, [instance_id])
        assert statuses[instance_id].counts["RUNNING"] in (0, 1)
        workers = {w["job_name"]: w["state"] for w in engine.workers(instance_id)}
        assert workers[job_name] == "LOST"
        wait_until(
            lambda: status.fetch_statuses(engine.conn, [instance_id])[instance_id].is_finished,
            60,
            what="closed",
        )
        assert engine.instance(instance_id)["state"] == "SUCCEEDED"


def test_start_jobs_alone_settles_the_orphan(engine: Engine, admin_conn: Any, owner: str) -> None:
    """E-43: start_jobs on a RUNNING instance reconciles before it starts missing workers."""
    with watchdog_job_paused(engine.conn):
        instance_id = engine.run(
            engine.taskspace("STARTPATH"), [{"sql": SLOW_FIRST, "retries": 1}], threads=1
        )
        engine.wait_view(instance_id, lambda v: v["running_tasks"] == 1, 30, "task running")
        (job_name,) = engine.running_worker_jobs(instance_id)
        kill_by_stop_job(admin_conn, owner, job_name)
        wait_until(lambda: engine.running_worker_jobs(instance_id) == [], 30, what="job gone")
        assert engine.instance(instance_id)["running_tasks"] == 1
        engine.start(instance_id, None)
        (task,) = engine.tasks(instance_id)  # right after the call, no wait
        assert not (task["state"] == "RUNNING" and task["worker_job"] == job_name), task
        workers = {w["job_name"]: w["state"] for w in engine.workers(instance_id)}
        assert workers[job_name] == "LOST"
        engine.wait_view(instance_id, lambda v: v["state"] in FINISHED, 60, "closed")


def test_surviving_worker_alone_settles_the_orphan(engine: Engine, admin_conn: Any, owner: str) -> None:
    """E-43: two workers, one killed mid-task, schema job disabled, no status read: the
    surviving worker's own watchdog (throttled, every few seconds) settles the orphan."""
    with watchdog_job_paused(engine.conn):
        tasks = [{"sql": SLOW_FIRST, "retries": 1, "priority": 0}] + [
            {"sql": sleep_sql(1), "priority": 1} for _ in range(20)
        ]
        instance_id = engine.run(engine.taskspace("WORKERPATH"), tasks, threads=2)
        engine.wait_workers_active(instance_id, 2)
        wait_until(
            lambda: any(
                t["attempts"] == 1 and t["state"] == "RUNNING" for t in engine.tasks(instance_id)[:1]
            ),
            30,
            what="slow task running",
        )
        victim = engine.tasks(instance_id)[0]["worker_job"]
        kill_by_stop_job(admin_conn, owner, victim)
        view = engine.wait_view(instance_id, lambda v: v["state"] in FINISHED, 90, "closed by the survivor")
        assert view["state"] == "SUCCEEDED"
        assert {w["job_name"]: w["state"] for w in engine.workers(instance_id)}[victim] == "LOST"


def test_cap_is_not_held_by_dead_workers_of_an_unwatched_instance(
    engine: Engine, admin_conn: Any, owner: str
) -> None:
    """E-1 A: cap 2; instance X's two workers die (restart, simulated) and nobody watches X
    (schema job disabled, no read of X). Starting Y must count X's dead workers out: Y gets its
    2 workers at once. Before the fix Y stayed RUNNING with no worker."""
    taskspace = engine.taskspace("CAP", max_threads=2)
    with watchdog_job_paused(engine.conn):
        x = engine.run(taskspace, [{"sql": sleep_sql(120)} for _ in range(2)], threads=2)
        dead = engine.wait_workers_active(x, 2)
        for job_name in dead:
            kill_by_stop_job(admin_conn, owner, job_name)
        wait_until(lambda: engine.running_worker_jobs(x) == [], 30, what="X's jobs gone")
        y = engine.run(taskspace, [{"sql": NOOP} for _ in range(4)], threads=2)
        assert engine.instance(y)["live_workers"] == 2
        assert {w["job_name"]: w["state"] for w in engine.workers(x)} == dict.fromkeys(dead, "LOST")
        engine.wait_view(y, lambda v: v["state"] in FINISHED, 60, "Y finished")


def test_closed_instance_keeps_no_live_worker_rows(engine: Engine, admin_conn: Any, owner: str) -> None:
    """E-1 B: a worker killed while idle, then the instance closes before anybody heals it:
    its row must not stay ACTIVE (it would hold a cap slot and show as live for ever)."""
    with watchdog_job_paused(engine.conn):
        instance_id = engine.run(
            engine.taskspace("CLOSEIDLE"),
            [{"sql": sleep_sql(4), "priority": 0}, {"sql": NOOP, "priority": 1}],
            threads=2,
        )
        engine.wait_workers_active(instance_id, 2)
        wait_until(
            lambda: [t["state"] for t in engine.tasks(instance_id)] == ["RUNNING", "SUCCEEDED"],
            30,
            what="one idle",
        )
        busy = engine.tasks(instance_id)[0]["worker_job"]
        (idle,) = [w["job_name"] for w in engine.workers(instance_id) if w["job_name"] != busy]
        # E-47: OTASK_WORKERS_V says which task each worker runs
        running = {w["job_name"]: w["running_task_id"] for w in engine.workers(instance_id)}
        assert running == {busy: engine.tasks(instance_id)[0]["task_id"], idle: None}
        kill_by_stop_job(admin_conn, owner, idle)
        engine.wait_view(instance_id, lambda v: v["state"] in FINISHED, 60, "closed")
        workers = wait_until(
            lambda: (
                (ws := engine.workers(instance_id))
                and all(w["state"] not in ("STARTING", "ACTIVE") for w in ws)
            ),
            10,
            what="no live worker row after the close",
        )
        assert workers
        assert engine.instance(instance_id)["live_workers"] == 0


def test_hard_stop_during_status_reads_records_ora_20151(engine: Engine, connect: Any) -> None:
    """E-2 / E-5: whichever session settles an interrupted task (the interrupted worker, the
    stop's second phase, or a status read running meanwhile), it records ORA-20151."""
    instance_id = engine.run(
        engine.taskspace("HARDREAD"), [{"sql": sleep_sql(60)} for _ in range(6)], threads=3
    )
    engine.wait_workers_active(instance_id, 3)
    engine.wait_view(instance_id, lambda v: v["running_tasks"] == 3, 30, "3 running")
    reader = connect()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            status.fetch_statuses(reader, [instance_id])

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        engine.stop(instance_id, "HARD")
    finally:
        done.set()
        thread.join(timeout=30)
    rows = engine.tasks(instance_id)
    stopped = [r for r in rows if r["state"] == "STOPPED"]
    assert len(stopped) == 3
    assert [r["error_code"] for r in stopped] == [-20151] * 3, [r["error_message"] for r in stopped]
    assert all(r["error_message"].startswith("ORA-20151") for r in stopped)


def test_status_read_sends_one_watchdog_statement_for_many_instances(engine: Engine) -> None:
    """S-1: the read's statements do not grow with the instances read (the engine's work
    grows with the suspects only); measured with V$MYSTAT's execute count is out of reach
    without extra grants, so this checks the round trips and that idle instances are untouched."""
    taskspace = engine.taskspace("MANY")
    ids = [engine.run(taskspace, [{"sql": sleep_sql(30)}], threads=1) for _ in range(5)]
    for instance_id in ids:
        engine.wait_workers_active(instance_id, 1)
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select instance_id, last_watch_at from otask_instances where instance_id in "
            "(select column_value from table(sys.odcinumberlist(:a, :b, :c, :d, :e)))",
            a=ids[0],
            b=ids[1],
            c=ids[2],
            d=ids[3],
            e=ids[4],
        )
        before = dict(cursor.fetchall())
    result = status.fetch_statuses(engine.conn, ids)
    assert all(result[i].state == "RUNNING" for i in ids)
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select instance_id, last_watch_at from otask_instances where instance_id in "
            "(select column_value from table(sys.odcinumberlist(:a, :b, :c, :d, :e)))",
            a=ids[0],
            b=ids[1],
            c=ids[2],
            d=ids[3],
            e=ids[4],
        )
        after = dict(cursor.fetchall())
    # healthy instances (a live worker each, at target) were not healed by the read
    assert after == before
    for instance_id in ids:
        engine.stop(instance_id, "HARD")

"""Soft and hard stops, pause at 0 threads, killed workers (orphans) on a real Oracle
(DESIGN rules 4, 5, 6, 7).

The orphan tests need a DBA connection (ORACLE_TASKS_TEST_ADMIN_USER/_PASSWORD) to kill a
worker the way an operator or a crash would: DBMS_SCHEDULER.STOP_JOB with force, or
ALTER SYSTEM KILL SESSION.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .engine_support import (
    NOOP,
    Engine,
    open_engine,
    ora_code,
    ora_message,
    owner_name,
    sleep_sql,
    wait_until,
)


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


@pytest.fixture(name="owner")
def owner_fixture(engine_conn: Any) -> str:
    return owner_name(engine_conn)


def test_soft_stop_lets_running_tasks_finish_and_starts_nothing_new(engine: Engine) -> None:
    taskspace = engine.taskspace("SOFT")
    instance_id = engine.run(taskspace, [{"sql": sleep_sql(5)} for _ in range(10)], threads=2)
    engine.wait_workers_active(instance_id, 2)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 2, 30, what="2 running")
    requested = time.monotonic()
    engine.stop(instance_id, "SOFT")
    assert time.monotonic() - requested < 2.0  # a soft stop does not wait for the tasks
    view = engine.instance(instance_id)
    # E-26: the counts follow from what had finished when the stop came, not from timing.
    finished = view["succeeded_tasks"]
    assert (view["state"], view["running_tasks"], view["ready_tasks"], view["skipped_tasks"]) == (
        "STOPPING",
        2,
        0,
        8 - finished,
    )
    engine.stop(instance_id, "SOFT")  # idempotent
    assert engine.wait_closed(instance_id, timeout=30) == "STOPPED"
    rows = engine.tasks(instance_id)
    assert sorted(r["state"] for r in rows) == ["SKIPPED"] * (8 - finished) + ["SUCCEEDED"] * (2 + finished)
    assert all(r["started_at"] is None for r in rows if r["state"] == "SKIPPED")
    assert engine.instance(instance_id)["stop_mode"] == "SOFT"
    assert len(engine.events(instance_id)) == 1
    wait_until(lambda: engine.running_worker_jobs(instance_id) == [], 30, what="workers gone")


def test_hard_stop_stops_only_this_instance(engine: Engine) -> None:
    """Rule 6 (and 4): STOP HARD stops this instance's jobs by their exact names, marks their
    tasks STOPPED and the rest SKIPPED; a neighbour instance keeps running."""
    victim = engine.run(engine.taskspace("HARD"), [{"sql": sleep_sql(60)} for _ in range(5)], threads=2)
    bystander = engine.run(engine.taskspace("KEEP"), [{"sql": sleep_sql(60)} for _ in range(2)], threads=2)
    for instance_id in (victim, bystander):
        wait_until(lambda i=instance_id: engine.instance(i)["running_tasks"] == 2, 30, what="2 running")
    victim_jobs = [w["job_name"] for w in engine.workers(victim)]
    bystander_jobs = engine.running_worker_jobs(bystander)
    assert len(bystander_jobs) == 2

    requested = time.monotonic()
    engine.stop(victim, "HARD")
    took = time.monotonic() - requested
    assert took < 30, f"hard stop took {took:.1f} s"
    view = engine.instance(victim)
    assert (view["state"], view["stop_mode"]) == ("STOPPED", "HARD")
    rows = engine.tasks(victim)
    assert sorted(r["state"] for r in rows) == ["SKIPPED"] * 3 + ["STOPPED"] * 2
    stopped = [r for r in rows if r["state"] == "STOPPED"]
    assert all(r["error_code"] == -20151 and r["worker_job"] in victim_jobs for r in stopped)
    # LOST: a watchdog (the schema job, a status read) found a dropped job before phase 2 did
    assert all(w["state"] in ("STOPPED", "EXITED", "LOST") for w in engine.workers(victim))
    wait_until(lambda: engine.running_worker_jobs(victim) == [], 60, what="victim's jobs gone")
    # The bystander was not touched: same jobs still running, tasks still RUNNING.
    assert engine.running_worker_jobs(bystander) == bystander_jobs
    assert engine.instance(bystander)["running_tasks"] == 2
    assert all(re.fullmatch(rf"OTASK_W{victim}_\d+", name) for name in victim_jobs)
    assert len(engine.events(victim)) == 1
    engine.stop(victim, "HARD")  # stopping a finished instance changes nothing
    assert engine.instance(victim)["close_count"] == 1
    engine.stop(bystander, "HARD")
    assert engine.instance(bystander)["state"] == "STOPPED"


def test_zero_threads_pauses_and_later_groups_stay_shut(engine: Engine) -> None:
    """Rule 5: target 0 = running tasks finish, nothing new starts, later groups are not opened;
    raising the target resumes."""
    taskspace = engine.taskspace("PAUSE")
    # 5-s tasks: the second worker may start a few seconds after the first (E-27).
    tasks = [{"sql": sleep_sql(5)} for _ in range(2)] + [{"sql": NOOP, "group": 2} for _ in range(3)]
    instance_id = engine.run(taskspace, tasks, threads=2)
    engine.wait_workers_active(instance_id, 2)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 2, 30, what="2 running")
    engine.set_threads(instance_id, 0)
    wait_until(lambda: engine.instance(instance_id)["live_workers"] == 0, 20, what="workers left")
    time.sleep(1.5)
    view = engine.instance(instance_id)
    assert (view["state"], view["paused"], view["succeeded_tasks"], view["waiting_tasks"]) == (
        "RUNNING",
        "Y",
        2,
        3,
    )
    assert engine.state(instance_id) == "RUNNING"  # the watchdog does not close a paused instance
    engine.set_threads(instance_id, 2)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    assert engine.instance(instance_id)["current_group"] == 2


def _kill_by_stop_job(admin_conn: Any, owner: str, job_name: str) -> None:
    with admin_conn.cursor() as cursor:
        cursor.execute(
            "begin dbms_scheduler.stop_job(job_name => :j, force => true); end;", j=f"{owner}.{job_name}"
        )


def _kill_session(admin_conn: Any, engine: Engine, job_name: str) -> None:
    with engine.conn.cursor() as cursor:
        cursor.execute("select session_id from user_scheduler_running_jobs where job_name = :j", j=job_name)
        (sid,) = cursor.fetchone()
    with admin_conn.cursor() as cursor:
        cursor.execute("select serial# from v$session where sid = :s", s=sid)
        (serial,) = cursor.fetchone()
        # sid and serial# are numbers read from the dictionary: DDL cannot take binds.
        cursor.execute(f"alter system kill session '{int(sid)},{int(serial)}' immediate")


def test_killed_worker_orphan_is_retried_within_budget(engine: Engine, admin_conn: Any, owner: str) -> None:
    """Rule 7: a worker killed mid-task (STOP_JOB force) leaves a RUNNING task; the watchdog
    finds it, puts it back to READY (it has budget), a new worker runs it, the instance ends."""
    taskspace = engine.taskspace("ORPH")
    slow_first = (
        "begin if :otask_attempt = 1 then dbms_session.sleep(60); end if; "
        ":otask_output := 'attempt ' || :otask_attempt; end;"
    )
    instance_id = engine.run(taskspace, [{"sql": slow_first, "retries": 1}], threads=1)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 1, 30, what="task running")
    (job_name,) = engine.running_worker_jobs(instance_id)

    _kill_by_stop_job(admin_conn, owner, job_name)
    assert engine.wait_closed(instance_id, timeout=90) == "SUCCEEDED"
    (task,) = engine.tasks(instance_id)
    assert (task["state"], task["attempts"], task["output_value"]) == ("SUCCEEDED", 2, "attempt 2")
    assert task["worker_job"] != job_name
    # E-12: the success keeps the trace that an earlier attempt may have partly run.
    assert task["error_code"] == -20150
    assert task["error_message"].startswith("succeeded on attempt 2; an earlier attempt may have partly run")
    workers = {w["job_name"]: w for w in engine.workers(instance_id)}
    assert workers[job_name]["state"] == "LOST"
    orphan_logs = [e for e in engine.log(instance_id) if e["message"].startswith("orphaned task")]
    assert len(orphan_logs) == 1
    assert "READY" in orphan_logs[0]["message"]
    assert len(engine.events(instance_id)) == 1


def test_killed_worker_orphan_without_budget_fails_and_instance_finishes(
    engine: Engine, admin_conn: Any
) -> None:
    """Rule 7: with no retry budget the orphan becomes FAILED (ORA-20150, naming the worker) and
    is never run again; the other tasks go on and the instance still closes."""
    taskspace = engine.taskspace("ORPH0")
    instance_id = engine.create_instance(taskspace, stop_on_error="N", retries=0)
    victim = engine.add_task(instance_id, sleep_sql(60), name="victim", priority=0)
    rest = [engine.add_task(instance_id, sleep_sql(0.5), name=f"rest{i}", priority=1) for i in range(4)]
    engine.start(instance_id, 2)
    wait_until(
        lambda: any(t["task_id"] == victim and t["state"] == "RUNNING" for t in engine.tasks(instance_id)),
        30,
        what="victim running",
    )
    job_name = next(t["worker_job"] for t in engine.tasks(instance_id) if t["task_id"] == victim)

    _kill_session(admin_conn, engine, job_name)
    assert engine.wait_closed(instance_id, timeout=120) == "FAILED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[victim]["state"] == "FAILED"
    assert rows[victim]["attempts"] == 1
    assert rows[victim]["error_code"] == -20150
    assert job_name in rows[victim]["error_message"]
    assert "not run again" in rows[victim]["error_message"]
    assert all(rows[t]["state"] == "SUCCEEDED" for t in rest)
    assert engine.instance(instance_id)["close_count"] == 1
    assert len(engine.events(instance_id)) == 1


def test_repeated_hard_stop_finishes_a_hard_stop_that_died_half_way(engine: Engine) -> None:
    """Rule 6: a hard stop commits STOPPING/HARD, then stops the jobs. If its session dies in
    between, the workers run their tasks on; a second stop(HARD) must stop them and close the
    instance, not return early because the instance 'is already stopping'."""
    taskspace = engine.taskspace("HARD2")
    instance_id = engine.run(taskspace, [{"sql": sleep_sql(60)} for _ in range(3)], threads=2)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 2, 30, what="2 running")
    with engine.conn.cursor() as cursor:  # exactly what the first phase of a hard stop commits
        cursor.execute(
            "update otask_instances set state = 'STOPPING', stop_mode = 'HARD', target_threads = 0 "
            "where instance_id = :i",
            i=instance_id,
        )
        cursor.execute(
            "update otask_tasks set state = 'SKIPPED', ended_at = systimestamp "
            "where instance_id = :i and state in ('READY', 'WAITING')",
            i=instance_id,
        )
    engine.conn.commit()
    assert engine.running_worker_jobs(instance_id) != []

    requested = time.monotonic()
    engine.stop(instance_id, "HARD")
    assert time.monotonic() - requested < 30
    view = engine.instance(instance_id)
    assert (view["state"], view["stop_mode"], view["running_tasks"]) == ("STOPPED", "HARD", 0)
    rows = engine.tasks(instance_id)
    assert sorted(r["state"] for r in rows) == ["SKIPPED", "STOPPED", "STOPPED"]
    assert all(r["error_code"] == -20151 for r in rows if r["state"] == "STOPPED")
    assert all(w["state"] in ("STOPPED", "EXITED") for w in engine.workers(instance_id))
    assert view["live_workers"] == 0
    wait_until(lambda: engine.running_worker_jobs(instance_id) == [], 60, what="jobs gone")
    assert len(engine.events(instance_id)) == 1


def test_retry_failed_waits_for_a_worker_a_hard_stop_could_not_end(engine: Engine) -> None:
    """Rule 7: never run a task twice at once. A hard stop records the tasks of a worker it could
    not interrupt (no MANAGE SCHEDULER, an uninterruptible call) as STOPPED while that job still
    runs; retry_failed must refuse (ORA-20102 naming the job) until the job has ended."""
    import oracledb

    taskspace = engine.taskspace("ABAND")
    instance_id = engine.run(taskspace, [{"sql": sleep_sql(60)}], threads=1)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 1, 30, what="task running")
    (job_name,) = engine.running_worker_jobs(instance_id)
    with engine.conn.cursor() as cursor:  # the outcome of a hard stop whose STOP_JOB failed
        cursor.execute(
            "update otask_workers set state = 'STOPPED', ended_at = systimestamp where instance_id = :i",
            i=instance_id,
        )
        cursor.execute(
            "update otask_tasks set state = 'STOPPED', ended_at = systimestamp, error_code = -20151 "
            "where instance_id = :i and state = 'RUNNING'",
            i=instance_id,
        )
        cursor.execute(
            "update otask_instances set state = 'STOPPED', stop_mode = 'HARD', target_threads = 0, "
            "ended_at = systimestamp where instance_id = :i",
            i=instance_id,
        )
    engine.conn.commit()
    try:
        with pytest.raises(oracledb.DatabaseError) as caught:
            engine.retry_failed(instance_id)
        assert ora_code(caught.value) == 20102
        assert job_name in ora_message(caught.value)
        assert engine.tasks(instance_id)[0]["state"] == "STOPPED"  # nothing changed
        assert [w["state"] for w in engine.workers(instance_id)] == ["STOPPED"]
    finally:
        with engine.conn.cursor() as cursor:  # the owner may stop its own job (graceful stop)
            cursor.execute("begin dbms_scheduler.drop_job(job_name => :j, force => true); end;", j=job_name)
    wait_until(lambda: engine.running_worker_jobs(instance_id) == [], 60, what="abandoned job gone")
    engine.retry_failed(instance_id)  # accepted once the job has ended
    assert engine.instance(instance_id)["state"] == "RUNNING"
    engine.stop(instance_id, "HARD")


def test_a_worker_whose_job_is_stopped_gracefully_leaves(engine: Engine) -> None:
    """DBMS_SCHEDULER.STOP_JOB (force => FALSE, allowed to the job's owner) interrupts the task:
    the worker records that attempt (retried within budget) and LEAVES, so the stop takes effect;
    the watchdog starts a replacement and the instance still finishes."""
    taskspace = engine.taskspace("GSTOP")
    slow_first = (
        "begin if :otask_attempt = 1 then dbms_session.sleep(60); end if; "
        ":otask_output := 'attempt ' || :otask_attempt; end;"
    )
    instance_id = engine.run(taskspace, [{"sql": slow_first, "retries": 1}], threads=1)
    wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 1, 30, what="task running")
    (job_name,) = engine.running_worker_jobs(instance_id)

    with engine.conn.cursor() as cursor:
        cursor.execute("begin dbms_scheduler.stop_job(job_name => :j, force => false); end;", j=job_name)
    wait_until(lambda: job_name not in engine.running_worker_jobs(instance_id), 30, what="stopped job gone")
    assert engine.wait_closed(instance_id, timeout=90) == "SUCCEEDED"
    (task,) = engine.tasks(instance_id)
    assert (task["state"], task["attempts"], task["output_value"]) == ("SUCCEEDED", 2, "attempt 2")
    assert task["worker_job"] != job_name
    stopped = {w["job_name"]: w for w in engine.workers(instance_id)}[job_name]
    assert stopped["state"] in ("EXITED", "LOST"), stopped
    assert len(engine.events(instance_id)) == 1

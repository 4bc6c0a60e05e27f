"""Groups, priorities, stop_on_error, retries, retry_failed and task atomicity on a real Oracle
(DESIGN rules 1, 2, 8, 9, 12)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from .engine_support import FAIL, NOOP, Engine, open_engine, sleep_sql, wait_until


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


@pytest.fixture
def probe(engine_conn: Any) -> Iterator[str]:
    """A scratch table tasks write to (named in the product prefix; dropped afterwards)."""
    name = f"OTASK_IT_PROBE_{secrets.token_hex(3).upper()}"
    with engine_conn.cursor() as cursor:
        cursor.execute(f"create table {name} (task_id number, note varchar2(100))")
    yield name
    with engine_conn.cursor() as cursor:
        cursor.execute(f"drop table {name} purge")


def test_groups_are_barriers_that_never_overlap(engine: Engine) -> None:
    taskspace = engine.taskspace("GRP")
    tasks = [
        {"sql": sleep_sql(0.3), "group": group, "name": f"g{group}"} for group in (3, 1, 2) for _ in range(5)
    ]
    instance_id = engine.run(taskspace, tasks, threads=4)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    rows = engine.tasks(instance_id)
    assert all(r["state"] == "SUCCEEDED" for r in rows)
    for earlier, later in ((1, 2), (2, 3)):
        last_end = max(r["ended_at"] for r in rows if r["group_no"] == earlier)
        first_start = min(r["started_at"] for r in rows if r["group_no"] == later)
        assert first_start >= last_end, f"group {later} started before group {earlier} ended"
    assert engine.instance(instance_id)["current_group"] == 3


def test_priority_then_id_orders_the_claims(engine: Engine) -> None:
    """Rule 1: the claim takes the lowest priority value first, then the lowest task id."""
    taskspace = engine.taskspace("PRIO")
    instance_id = engine.create_instance(taskspace)
    ids = [
        engine.add_task(instance_id, sleep_sql(0.1), name=name, priority=priority)
        for name, priority in (("c", 5), ("a", 1), ("d", 5), ("b", 3))
    ]
    engine.start(instance_id, 1)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    rows = sorted(engine.tasks(instance_id), key=lambda r: r["started_at"])
    assert [r["name"] for r in rows] == ["a", "b", "c", "d"]
    assert sorted(r["task_id"] for r in rows) == sorted(ids)


def test_stop_on_error_y_starts_nothing_after_the_first_failure(engine: Engine) -> None:
    """Rule 9 'Y': after the first final failure nothing new starts (READY -> SKIPPED), the
    running task finishes, later groups are skipped, the instance FAILS."""
    taskspace = engine.taskspace("SOEY")
    instance_id = engine.create_instance(taskspace, stop_on_error="Y")
    # 'long' outlasts the scheduler's start stagger of the second worker (E-29).
    running = engine.add_task(instance_id, sleep_sql(8), name="long", priority=0)
    failing = engine.add_task(
        instance_id, "begin dbms_session.sleep(0.5); " + FAIL[6:], name="fail", priority=1
    )
    later = [engine.add_task(instance_id, NOOP, name=f"later{i}", priority=5) for i in range(4)]
    next_group = engine.add_task(instance_id, NOOP, name="group2", group=2)
    engine.start(instance_id, 2)
    assert engine.wait_closed(instance_id) == "FAILED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[running]["state"] == "SUCCEEDED"  # it was running: it finished
    assert rows[failing]["state"] == "FAILED"
    assert rows[failing]["error_code"] == -20999
    assert "task failed on purpose" in rows[failing]["error_message"]
    assert rows[failing]["error_backtrace"]  # rule 2: the backtrace is recorded
    for task_id in [*later, next_group]:
        assert rows[task_id]["state"] == "SKIPPED"
        assert rows[task_id]["started_at"] is None  # never started
        assert f"task {failing} failed" in rows[task_id]["error_message"]
    view = engine.instance(instance_id)
    assert (view["failed_tasks"], view["skipped_tasks"], view["succeeded_tasks"]) == (1, 5, 1)
    assert view["last_error_task_id"] == failing
    assert view["last_error_code"] == -20999


def test_stop_on_error_y_a_task_added_after_the_failure_never_starts(engine: Engine) -> None:
    """Rule 9 'Y': add_task on the still RUNNING instance after its first final failure adds a
    task that waits and is skipped, never started."""
    taskspace = engine.taskspace("SOEADD")
    instance_id = engine.create_instance(taskspace, stop_on_error="Y")
    engine.add_task(instance_id, sleep_sql(4), name="long", priority=0)
    failing = engine.add_task(instance_id, FAIL, name="fail", priority=1)
    engine.start(instance_id, 2)
    wait_until(
        lambda: any(t["task_id"] == failing and t["state"] == "FAILED" for t in engine.tasks(instance_id)),
        20,
        what="the failure",
    )
    assert engine.instance(instance_id)["state"] == "RUNNING"  # the long task still runs
    late = engine.add_task(instance_id, NOOP, name="late")
    engine.conn.commit()
    assert engine.wait_closed(instance_id) == "FAILED"
    row = next(r for r in engine.tasks(instance_id) if r["task_id"] == late)
    assert (row["state"], row["started_at"], row["attempts"]) == ("SKIPPED", None, 0)
    assert f"task {failing} failed" in row["error_message"]


def test_stop_on_error_n_finishes_the_group_and_skips_later_groups(engine: Engine) -> None:
    """Rule 9 'N': the current group runs to its end, later groups are SKIPPED."""
    taskspace = engine.taskspace("SOEN")
    instance_id = engine.create_instance(taskspace, stop_on_error="N")
    failing = engine.add_task(instance_id, FAIL, name="fail", priority=0)
    same_group = [engine.add_task(instance_id, sleep_sql(0.1), name=f"same{i}", priority=1) for i in range(3)]
    later_group = [engine.add_task(instance_id, NOOP, name=f"next{i}", group=2) for i in range(2)]
    engine.start(instance_id, 1)  # one thread: the failure comes before the rest of group 1
    assert engine.wait_closed(instance_id) == "FAILED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[failing]["state"] == "FAILED"
    for task_id in same_group:
        assert rows[task_id]["state"] == "SUCCEEDED"
        assert rows[task_id]["started_at"] > rows[failing]["ended_at"]  # started after the failure
    for task_id in later_group:
        assert rows[task_id]["state"] == "SKIPPED"
        assert rows[task_id]["started_at"] is None
        assert "later groups are skipped" in rows[task_id]["error_message"]


def test_retries_then_success_within_the_budget_and_delay(engine: Engine) -> None:
    """Rule 8: a task fails twice, then succeeds on its third attempt; the delay is honoured."""
    taskspace = engine.taskspace("RETRY")
    flaky = (
        "begin if :otask_attempt < 3 then raise_application_error(-20998, 'attempt ' || :otask_attempt); "
        "end if; :otask_output := 'done on attempt ' || :otask_attempt; end;"
    )
    # stop_on_error N: the hopeless task failing for good must not skip the flaky one's retries.
    instance_id = engine.create_instance(taskspace, stop_on_error="N", retries=2, retry_delay_seconds=1)
    flaky_id = engine.add_task(instance_id, flaky, name="flaky")
    hopeless = engine.add_task(instance_id, FAIL, name="hopeless", retries=1)
    engine.start(instance_id, 2)
    assert engine.wait_closed(instance_id) == "FAILED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert (rows[flaky_id]["state"], rows[flaky_id]["attempts"]) == ("SUCCEEDED", 3)
    assert rows[flaky_id]["output_value"] == "done on attempt 3"
    assert rows[flaky_id]["error_code"] is None  # cleared by the success
    assert (rows[hopeless]["state"], rows[hopeless]["attempts"], rows[hopeless]["max_attempts"]) == (
        "FAILED",
        2,
        2,
    )
    retried = [
        e for e in engine.log(instance_id) if e["task_id"] == flaky_id and "will retry" in e["message"]
    ]
    assert len(retried) == 2
    gap = (retried[1]["logged_at"] - retried[0]["logged_at"]).total_seconds()
    # Two autonomous log timestamps: a few ms of noise either way (E-30).
    assert gap >= 0.9, f"retry delay not honoured: {gap}"


def test_retry_failed_reruns_failed_and_skipped_tasks(engine: Engine, probe: str) -> None:
    """Rule 8: retry_failed puts FAILED (and the SKIPPED they caused) back to work and restarts
    workers; the instance closes a second time with its own completion event."""
    taskspace = engine.taskspace("RETRYF")
    gate = (
        f"declare n number; begin select count(*) into n from {probe} where note = 'go'; "
        "if n = 0 then raise_application_error(-20997, 'gate closed'); end if; end;"
    )
    instance_id = engine.create_instance(taskspace, stop_on_error="Y")
    gated = engine.add_task(instance_id, gate, name="gate")
    others = [engine.add_task(instance_id, NOOP, name=f"after{i}", group=2) for i in range(3)]
    engine.start(instance_id, 2)
    assert engine.wait_closed(instance_id) == "FAILED"
    assert [r["state"] for r in engine.tasks(instance_id)] == ["FAILED", "SKIPPED", "SKIPPED", "SKIPPED"]

    with engine.conn.cursor() as cursor:
        cursor.execute(f"insert into {probe} (task_id, note) values (0, 'go')")
    engine.conn.commit()
    engine.retry_failed(instance_id)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[gated]["state"] == "SUCCEEDED"
    assert rows[gated]["attempts"] == 1
    assert all(rows[t]["state"] == "SUCCEEDED" for t in others)
    view = engine.instance(instance_id)
    assert view["close_count"] == 2
    assert sorted((e["state"], e["close_count"]) for e in engine.events(instance_id)) == [
        ("FAILED", 1),
        ("SUCCEEDED", 2),
    ]
    # Nothing failed any more: a second retry_failed changes nothing.
    engine.retry_failed(instance_id)
    assert engine.instance(instance_id)["state"] == "SUCCEEDED"


def test_a_failed_task_rolls_back_its_own_work_a_successful_one_commits(engine: Engine, probe: str) -> None:
    """Rule 2: savepoint + rollback of the task's own work before FAILED is recorded; the work of
    a successful task commits together with SUCCEEDED."""
    taskspace = engine.taskspace("ATOM")
    instance_id = engine.create_instance(taskspace, stop_on_error="N")
    bad = engine.add_task(
        instance_id,
        f"begin insert into {probe} (task_id, note) values (:otask_task_id, 'must vanish'); "
        "raise_application_error(-20999, 'after the insert'); end;",
    )
    good = engine.add_task(
        instance_id, f"begin insert into {probe} (task_id, note) values (:otask_task_id, 'kept'); end;"
    )
    engine.start(instance_id, 2)
    assert engine.wait_closed(instance_id) == "FAILED"
    with engine.conn.cursor() as cursor:
        cursor.execute(f"select task_id, note from {probe} order by task_id")
        assert cursor.fetchall() == [(good, "kept")]
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[bad]["state"] == "FAILED"
    assert rows[bad]["error_code"] == -20999
    assert "ORA-06512" in rows[bad]["error_backtrace"] or "line" in rows[bad]["error_backtrace"].lower()


def test_a_task_that_commits_or_runs_ddl_does_not_confuse_the_worker(engine: Engine, probe: str) -> None:
    """A task's own COMMIT / DDL commits the worker's transaction: RUNNING was committed before
    it started and its outcome is written after, so the states stay exact."""
    taskspace = engine.taskspace("DDL")
    ddl_table = f"OTASK_IT_DDL_{secrets.token_hex(3).upper()}"
    instance_id = engine.create_instance(taskspace, stop_on_error="N")
    committing = engine.add_task(
        instance_id,
        f"begin insert into {probe} (task_id, note) values (:otask_task_id, 'committed'); commit; "
        "raise_application_error(-20999, 'failed after its own commit'); end;",
    )
    ddl = engine.add_task(instance_id, f"create table {ddl_table} (x number)")
    after = engine.add_task(instance_id, NOOP, priority=9)
    engine.start(instance_id, 1)
    try:
        assert engine.wait_closed(instance_id) == "FAILED"
        rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
        assert rows[committing]["state"] == "FAILED"  # what it committed stays (documented)
        assert rows[ddl]["state"] == "SUCCEEDED"
        assert rows[after]["state"] == "SUCCEEDED"
        with engine.conn.cursor() as cursor:
            cursor.execute(f"select note from {probe}")
            assert cursor.fetchall() == [("committed",)]
            cursor.execute("select count(*) from user_tables where table_name = :t", t=ddl_table)
            assert cursor.fetchone() == (1,)
    finally:
        with engine.conn.cursor() as cursor:
            cursor.execute(
                "begin execute immediate 'drop table " + ddl_table + " purge'; "
                "exception when others then null; end;"
            )


def test_views_show_counts_timings_errors_while_running(engine: Engine) -> None:
    """Rule 12: a DBA sees progress, timings and errors from the views alone, while it runs."""
    taskspace = engine.taskspace("VIEW")
    instance_id = engine.create_instance(
        taskspace, stop_on_error="N", dag_id="dag", run_id="run", task_id="t1"
    )
    for _ in range(3):
        # long enough that the third worker starts before the first finishes (E-28)
        engine.add_task(instance_id, sleep_sql(8), group=1)
    engine.add_task(instance_id, FAIL, group=1, priority=9)
    engine.add_task(instance_id, NOOP, group=2)
    engine.start(instance_id, 3)
    view = wait_until(
        lambda: (v := engine.instance(instance_id))["running_tasks"] == 3 and v,
        30,
        what="3 running in the view",
    )
    assert (view["state"], view["total_tasks"], view["waiting_tasks"], view["ready_tasks"]) == (
        "RUNNING",
        5,
        1,
        1,
    )
    assert view["live_workers"] == 3
    assert view["target_threads"] == 3
    assert view["paused"] == "N"
    assert (view["dag_id"], view["run_id"], view["airflow_task_id"]) == ("dag", "run", "t1")
    running = [t for t in engine.tasks(instance_id) if t["state"] == "RUNNING"]
    assert len(running) == 3
    assert all(t["worker_job"] and t["elapsed_seconds"] >= 0 for t in running)
    assert engine.wait_closed(instance_id) == "FAILED"
    view = engine.instance(instance_id)
    assert (view["succeeded_tasks"], view["failed_tasks"], view["skipped_tasks"]) == (3, 1, 1)
    assert view["elapsed_seconds"] >= 8
    assert view["tasks_per_second"] > 0
    assert "task failed on purpose" in view["last_error_message"]
    finished = [t for t in engine.tasks(instance_id) if t["state"] == "SUCCEEDED"]
    assert all(t["elapsed_seconds"] >= 7.9 for t in finished)

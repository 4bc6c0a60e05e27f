"""Parallelism and thread regulation on a real Oracle (DESIGN rules 1, 3, 4, 5, 12).

Every bound here is sampled from OTASK_INSTANCES_V on a second connection while the scheduler
jobs run, and cross-checked against USER_SCHEDULER_RUNNING_JOBS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .engine_support import (
    NOOP,
    RUNNING_SQL,
    Engine,
    Sampler,
    open_engine,
    sleep_sql,
    wait_until,
    watchdog_job_paused,
)


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


def test_forty_tasks_on_four_threads_all_succeed_never_more_than_four(engine: Engine, connect: Any) -> None:
    """Rules 1, 5, 12: 40 tasks, 4 threads: every task SUCCEEDED once, at most 4 ever RUNNING."""
    taskspace = engine.taskspace("PAR")
    tasks = [{"sql": sleep_sql(0.5), "name": f"t{i}"} for i in range(40)]
    started = time.monotonic()
    instance_id = engine.create_instance(taskspace)
    assert engine.add_tasks(instance_id, tasks) == 40
    with Sampler(connect(), RUNNING_SQL, {"i": instance_id}, interval=0.1) as sampler:
        engine.start(instance_id, 4)
        state = engine.wait_closed(instance_id, timeout=120)
    elapsed = time.monotonic() - started
    sampler.check()

    assert state == "SUCCEEDED"
    tasks_v = engine.tasks(instance_id)
    assert [t["state"] for t in tasks_v] == ["SUCCEEDED"] * 40
    assert all(t["attempts"] == 1 for t in tasks_v)  # rule 1: no task claimed twice
    running = sampler.values(0)
    live = sampler.values(1)
    scheduler_running = sampler.values(3)
    assert max(running) == 4, f"parallelism never reached 4: {sorted(set(running))}"
    assert max(live) <= 4
    assert max(scheduler_running) <= 4
    # 40 x 0.5 s on 4 threads is >= 5 s of work; serially it would be 20 s.
    assert 5.0 <= elapsed < 17.0, elapsed
    # Rule 4: one generated job name per worker, OTASK_W<instance>_<n>, unique.
    workers = engine.workers(instance_id)
    names = [w["job_name"] for w in workers]
    assert len(names) == len(set(names)) == 4
    assert all(re.fullmatch(rf"OTASK_W{instance_id}_\d+", n) for n in names), names
    assert {t["worker_job"] for t in tasks_v} <= set(names)
    assert all(w["state"] == "EXITED" for w in workers), workers
    view = engine.instance(instance_id)
    assert (view["total_tasks"], view["succeeded_tasks"], view["running_tasks"]) == (40, 40, 0)
    assert view["elapsed_seconds"] >= 5.0
    assert view["tasks_per_second"] > 0


def test_start_jobs_counts_starting_workers_and_never_overshoots(engine: Engine) -> None:
    """Rule 5: workers created but not yet started by the scheduler count as live, so repeated
    start_jobs / set_threads calls right after each other never start more than the target."""
    taskspace = engine.taskspace("OVR")
    instance_id = engine.run(taskspace, [{"sql": sleep_sql(0.5)} for _ in range(12)], threads=3)
    engine.start(instance_id, 3)  # idempotent on a RUNNING instance
    engine.set_threads(instance_id, 3)
    engine.start(instance_id, None)
    workers = engine.workers(instance_id)
    assert len(workers) == 3, workers
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    assert len(engine.workers(instance_id)) == 3


def test_set_threads_4_1_6_is_honoured_and_never_overshot(engine: Engine, connect: Any) -> None:
    """Rule 5: lowering lets workers leave after their current task; raising starts the missing
    workers at once; the running count never exceeds the target once the change took effect."""
    taskspace = engine.taskspace("THR")
    tasks = [{"sql": sleep_sql(0.5)} for _ in range(70)]
    instance_id = engine.create_instance(taskspace)
    engine.add_tasks(instance_id, tasks)
    with Sampler(connect(), RUNNING_SQL, {"i": instance_id}, interval=0.1) as sampler:
        engine.start(instance_id, 4)
        wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 4, 30, what="4 running")

        lowered = time.monotonic()
        engine.set_threads(instance_id, 1)
        # Each worker leaves after its current task (<= 0.5 s) plus at most one task it claimed
        # just before the change: 1 running within 2.5 s, and it stays at 1.
        wait_until(lambda: engine.instance(instance_id)["running_tasks"] <= 1, 5, what="drain to 1")
        drained = time.monotonic()
        assert drained - lowered < 2.5
        wait_until(lambda: engine.instance(instance_id)["live_workers"] == 1, 5, what="1 live worker")
        time.sleep(2.0)  # one thread works alone for a while
        raised = time.monotonic()
        engine.set_threads(instance_id, 6)
        wait_until(lambda: engine.instance(instance_id)["running_tasks"] == 6, 15, what="6 running")
        reached_six = time.monotonic()
        state = engine.wait_closed(instance_id, timeout=120)
    sampler.check()

    assert state == "SUCCEEDED"
    assert [t["state"] for t in engine.tasks(instance_id)] == ["SUCCEEDED"] * 70
    assert max(sampler.values(0, until=lowered)) <= 4
    at_one = sampler.values(0, since=drained, until=raised)
    assert at_one, "no sample while at 1 thread"
    assert max(at_one) <= 1, at_one
    assert max(sampler.values(1, since=drained + 0.6, until=raised)) <= 1  # live workers
    assert max(sampler.values(3, since=drained + 0.6, until=raised)) <= 1  # scheduler's running jobs
    assert max(sampler.values(0, since=raised)) <= 6
    assert max(sampler.values(1, since=raised)) <= 6
    # Thread-change latency (raise): jobs are created at once; the scheduler starts them.
    # E-32: the bound includes the scheduler's start latency; the figure is in the message.
    assert reached_six - raised < 10.0, f"6 workers after {reached_six - raised:.1f} s"
    workers = engine.workers(instance_id)
    assert len(workers) == 4 + 5, [w["job_name"] for w in workers]  # 4, then 5 more for 1 -> 6


def test_two_taskspaces_do_not_block_each_other(engine: Engine) -> None:
    """Taskspaces are isolated: a busy one never delays another."""
    busy_space = engine.taskspace("BUSY")
    quick_space = engine.taskspace("QUICK")
    busy = engine.run(busy_space, [{"sql": sleep_sql(15)} for _ in range(2)], threads=2)
    wait_until(lambda: engine.instance(busy)["running_tasks"] == 2, 30, what="busy instance running")

    started = time.monotonic()
    quick = engine.run(quick_space, [{"sql": sleep_sql(0.2)} for _ in range(6)], threads=2)
    assert engine.wait_closed(quick, timeout=30) == "SUCCEEDED"
    took = time.monotonic() - started
    assert took < 12, f"the quick taskspace took {took:.1f} s beside a busy one"
    busy_view = engine.instance(busy)
    assert (busy_view["state"], busy_view["running_tasks"]) == ("RUNNING", 2)
    engine.stop(busy, "HARD")


def test_taskspace_cap_bounds_all_instances_together(engine: Engine, connect: Any) -> None:
    """A taskspace's max_threads caps the live workers of all its instances; an instance that
    waited for room starts when the other frees it."""
    taskspace = engine.taskspace("CAP", max_threads=3)
    sql = (
        "select sum(running_tasks), sum(live_workers) from otask_instances_v "
        "where taskspace = :t and state in ('RUNNING', 'STOPPING')"
    )
    # E-34: the hand-over must come from the leaving workers (after_exit -> rebalance), so no
    # other path may start the second instance's workers: the schema watchdog job is paused
    # and only the views (which heal nothing) are read.
    with watchdog_job_paused(engine.conn):
        first = engine.run(taskspace, [{"sql": sleep_sql(0.4)} for _ in range(12)], threads=3)
        second = engine.run(taskspace, [{"sql": sleep_sql(0.4)} for _ in range(12)], threads=3)
        assert engine.instance(second)["live_workers"] == 0  # no room yet
        with Sampler(connect(), sql, {"t": taskspace}, interval=0.1) as sampler:
            engine.wait_view(first, lambda v: v["state"] == "SUCCEEDED", 90, "first finished")
            engine.wait_view(second, lambda v: v["succeeded_tasks"] > 0, 30, "second got room")
            engine.wait_view(second, lambda v: v["state"] == "SUCCEEDED", 90, "second finished")
    sampler.check()
    running = [v for v in sampler.values(0) if v is not None]
    live = [v for v in sampler.values(1) if v is not None]
    assert max(running) <= 3, running
    assert max(live) <= 3, live
    assert max(running) == 3


def test_no_op_tasks_and_output_bind(engine: Engine) -> None:
    """A bulk of no-op tasks runs; :otask_output (seed 000's :vvlog) comes back per task."""
    taskspace = engine.taskspace("OUT")
    tasks = [{"sql": "begin :otask_output := 'row ' || :n; end;", "binds": {"n": i}} for i in range(200)]
    tasks.append({"sql": NOOP, "name": "plain"})
    instance_id = engine.run(taskspace, tasks, threads=4)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    outputs = [t["output_value"] for t in engine.tasks(instance_id)]
    assert outputs == [f"row {i}" for i in range(200)] + [None]

"""The minor engine findings of engine.md, each on a real Oracle: a test that fails before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import oracledb
import pytest

from .engine_support import FAIL, NOOP, Engine, open_engine, ora_code, sleep_sql, unique_name


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


def test_stop_on_error_keeps_the_error_of_a_task_waiting_for_its_retry(engine: Engine) -> None:
    """E-8: a task that failed and waits for its retry delay becomes FAILED with its error,
    not SKIPPED ("never started") with its error overwritten."""
    instance_id = engine.create_instance(engine.taskspace("E8"), stop_on_error="Y", retry_delay_seconds=60)
    waiting = engine.add_task(instance_id, FAIL, name="retry-pending", priority=0, retries=2)
    final = engine.add_task(
        instance_id, "begin dbms_session.sleep(1); " + FAIL[6:], name="final", priority=1, retries=0
    )
    engine.start(instance_id, 1)
    assert engine.wait_closed(instance_id, timeout=60) == "FAILED"
    rows = {r["task_id"]: r for r in engine.tasks(instance_id)}
    assert rows[final]["state"] == "FAILED"
    assert (rows[waiting]["state"], rows[waiting]["attempts"], rows[waiting]["error_code"]) == (
        "FAILED",
        1,
        -20999,
    )
    assert "task failed on purpose" in rows[waiting]["error_message"]
    assert "not retried" in rows[waiting]["error_message"]


def test_a_task_for_a_closed_group_joins_the_current_group(engine: Engine) -> None:
    """E-9: the barrier order cannot be kept after the fact: the task runs in the open group and
    says so (group_no = current group)."""
    taskspace = engine.taskspace("E9")
    instance_id = engine.run(
        taskspace, [{"sql": NOOP, "group": 1}, {"sql": sleep_sql(30), "group": 2}], threads=1
    )
    engine.wait_view(instance_id, lambda v: v["current_group"] == 2, 30, "group 2 open")
    late = engine.add_task(instance_id, NOOP, group=1)
    engine.conn.commit()
    row = next(r for r in engine.tasks(instance_id) if r["task_id"] == late)
    assert row["group_no"] == 2
    assert row["state"] in ("READY", "RUNNING", "SUCCEEDED")
    engine.stop(instance_id, "HARD")


def test_zero_threads_set_while_created_is_kept_by_start_jobs(engine: Engine) -> None:
    """E-10: set_threads(id, 0) on a CREATED instance, then start_jobs without p_threads:
    the instance starts paused, not with the taskspace default."""
    instance_id = engine.create_instance(engine.taskspace("E10"))
    engine.add_task(instance_id, NOOP)
    engine.set_threads(instance_id, 0)
    engine.start(instance_id, None)
    view = engine.instance(instance_id)
    assert (view["state"], view["target_threads"], view["live_workers"], view["paused"]) == (
        "RUNNING",
        0,
        0,
        "Y",
    )
    engine.set_threads(instance_id, 1)
    assert engine.wait_closed(instance_id, timeout=60) == "SUCCEEDED"


def test_retry_of_an_instance_stopped_while_created_sets_its_start(engine: Engine) -> None:
    """E-11: retry_failed reopens it with started_at, so elapsed time and rate are shown."""
    instance_id = engine.create_instance(engine.taskspace("E11"))
    engine.add_task(instance_id, NOOP)
    engine.stop(instance_id, "SOFT")
    assert engine.instance(instance_id)["state"] == "STOPPED"
    assert engine.instance(instance_id)["started_at"] is None
    engine.retry_failed(instance_id, 1)
    assert engine.instance(instance_id)["started_at"] is not None
    assert engine.wait_closed(instance_id, timeout=60) == "SUCCEEDED"
    assert engine.instance(instance_id)["elapsed_seconds"] is not None


def _taskspace_exists(engine: Engine, name: str) -> bool:
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from otask_taskspaces where taskspace = :t", t=name)
        return bool(cursor.fetchone()[0])


def test_a_rolled_back_call_leaves_no_taskspace(engine: Engine) -> None:
    """E-13 (rule 14): the taskspace row of a first use is part of the caller's transaction."""
    name = unique_name("E13")
    with engine.conn.cursor() as cursor:
        cursor.callfunc(
            "otask.add_definition",
            int,
            keyword_parameters={"p_taskspace": name, "p_name": "a", "p_sql": NOOP},
        )
        with pytest.raises(oracledb.DatabaseError) as duplicate:
            cursor.callfunc(
                "otask.add_definition",
                int,
                keyword_parameters={"p_taskspace": name, "p_name": "a", "p_sql": NOOP},
            )
    assert ora_code(duplicate.value) == 20105
    engine.conn.rollback()
    assert not _taskspace_exists(engine, name)
    instance_name = unique_name("E13I")
    engine.create_instance(instance_name)
    engine.conn.rollback()
    engine.instances.clear()
    assert not _taskspace_exists(engine, instance_name)


def test_multibyte_values_are_checked_in_bytes(engine: Engine) -> None:
    """E-14: 100 euro signs are 300 bytes: more than the 256 of a task name, a documented
    ORA-20105 instead of a raw ORA-12899 from the insert."""
    instance_id = engine.create_instance(engine.taskspace("E14"))
    with pytest.raises(oracledb.DatabaseError) as raised:
        engine.add_task(instance_id, NOOP, name="\u20ac" * 100)
    assert ora_code(raised.value) == 20105
    assert "bytes" in str(raised.value)
    assert engine.add_task(instance_id, NOOP, name="\u20ac" * 85) > 0  # 255 bytes fit


def test_a_ready_task_locked_by_another_session_is_skipped_not_waited_for(
    engine: Engine, connect: Any
) -> None:
    """E-38 (rule 1): the claim uses SKIP LOCKED: a row a foreign session holds is passed over."""
    instance_id = engine.create_instance(engine.taskspace("E38"))
    held = engine.add_task(instance_id, NOOP, priority=0)
    free = engine.add_task(instance_id, NOOP, priority=1)
    engine.conn.commit()
    engine.start(instance_id, 0)  # tasks READY, no worker yet (start_jobs updates the task rows)
    other = connect()
    with other.cursor() as cursor:
        cursor.execute("select task_id from otask_tasks where task_id = :t for update", t=held)
        engine.set_threads(instance_id, 1)
        engine.wait_view(instance_id, lambda v: v["succeeded_tasks"] == 1, 30, "the free task ran")
        rows = {r["task_id"]: r["state"] for r in engine.tasks(instance_id)}
        assert (rows[held], rows[free]) == ("READY", "SUCCEEDED")
    other.rollback()  # the lock goes: the held task runs now
    engine.wait_view(instance_id, lambda v: v["state"] == "SUCCEEDED", 30, "all ran")


def test_a_task_that_rolls_back_succeeds_and_keeps_nothing(engine: Engine) -> None:
    """E-39 (rule 2): a task's own ROLLBACK undoes only its own work; RUNNING was committed
    before it started, so the engine still records its success."""
    taskspace = engine.taskspace("E39")
    table = unique_name("OTASK_IT_RB")  # created and dropped by this test only
    with engine.conn.cursor() as cursor:
        cursor.execute(f"create table {table} (n number)")
    try:
        instance_id = engine.run(
            taskspace, [{"sql": f"begin insert into {table} values (1); rollback; end;"}], threads=1
        )
        assert engine.wait_closed(instance_id, timeout=60) == "SUCCEEDED"
        (task,) = engine.tasks(instance_id)
        assert (task["state"], task["attempts"]) == ("SUCCEEDED", 1)
        with engine.conn.cursor() as cursor:
            cursor.execute(f"select count(*) from {table}")
            assert cursor.fetchone() == (0,)
    finally:
        with engine.conn.cursor() as cursor:
            cursor.execute(f"drop table {table} purge")

"""The Python side (engine_api, status, the CLI) on a REAL Oracle: the SQL the unit tests only
assert as text actually runs, binds as it should and reads what the engine wrote.

Skipped without ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD (see conftest.py).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_oracle_tasks.cli import status_view
from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import status
from airflow_provider_oracle_tasks.engine.errors import InvalidStateError, UnknownInstanceError

from .engine_support import FAIL, NOOP, Engine, open_engine

UNKNOWN_ID = 9_999_999_999_999


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


def wait_finished(connection: Any, instance_id: int, timeout: float = 90.0) -> status.InstanceStatus:
    deadline = time.monotonic() + timeout
    while True:
        current = status.fetch_status(connection, instance_id)
        if current.is_finished:
            return current
        assert time.monotonic() < deadline, f"still {current.progress_line()} after {timeout} s"
        time.sleep(0.2)


def test_submit_twice_with_one_run_key_gives_one_instance_with_its_tasks_once(engine: Engine) -> None:
    conn = engine.conn
    space = engine.taskspace("PY")
    run_key = f"it-dag/{space}/load/-1"
    bound = {"sql": "declare v varchar2(9) := :p1; begin null; end;", "name": "b", "binds": {"p1": "x'y"}}
    tasks: list[Any] = [NOOP, bound]
    first = engine_api.submit_batch(conn, taskspace=space, tasks=tasks, run_key=run_key, dag_id="it-dag")
    engine.instances.append(first.instance_id)
    assert first.created
    assert first.tasks_added == 2
    again = engine_api.submit_batch(conn, taskspace=space, tasks=tasks, run_key=run_key, dag_id="it-dag")
    assert (again.instance_id, again.created, again.tasks_added) == (first.instance_id, False, 0)
    created = status.fetch_status(conn, first.instance_id)
    assert created.state == "CREATED"
    assert created.total == 2
    assert created.run_key == run_key
    engine_api.start_jobs(conn, first.instance_id, 2)
    final = wait_finished(conn, first.instance_id)
    assert final.state == "SUCCEEDED"
    assert final.counts["SUCCEEDED"] == 2
    assert final.started_at is not None
    assert final.ended_at is not None
    assert final.elapsed_seconds >= 0


def test_one_batched_read_reports_failures_and_missing_ids(engine: Engine) -> None:
    conn = engine.conn
    space = engine.taskspace("PY")
    result = engine_api.submit_batch(conn, taskspace=space, tasks=[NOOP, FAIL], stop_on_error=False)
    engine.instances.append(result.instance_id)
    engine_api.start_jobs(conn, result.instance_id, 1)
    wait_finished(conn, result.instance_id)
    # 600 ids: the :ids JSON is longer than 4000 bytes, so it goes as a CLOB.
    ids = [result.instance_id, *range(UNKNOWN_ID, UNKNOWN_ID + 599)]
    statuses = status.fetch_statuses(conn, ids)
    assert set(statuses) == set(ids)
    assert statuses[UNKNOWN_ID].state == status.MISSING
    failed = statuses[result.instance_id]
    assert failed.state == "FAILED"
    assert failed.counts["FAILED"] == 1
    (problem,) = failed.failed_tasks
    assert problem.error_code == -20999
    assert "task failed on purpose" in problem.message_first_line
    assert "ORA-20999" in failed.failure_message()


async def test_async_read_matches_the_sync_read(engine: Engine) -> None:
    import oracledb

    from .conftest import DSN, PASSWORD, USER

    space = engine.taskspace("PY")
    result = engine_api.submit_batch(engine.conn, taskspace=space, tasks=[NOOP])
    engine.instances.append(result.instance_id)
    connection = await oracledb.connect_async(user=USER, password=PASSWORD, dsn=DSN)
    try:
        statuses = await status.fetch_statuses_async(connection, [result.instance_id, UNKNOWN_ID])
    finally:
        await connection.close()
    assert statuses[result.instance_id] == status.fetch_status(engine.conn, result.instance_id)
    assert statuses[UNKNOWN_ID].state == status.MISSING


def test_engine_errors_arrive_as_provider_exceptions(engine: Engine) -> None:
    conn = engine.conn
    with pytest.raises(UnknownInstanceError, match="ORA-20100"):
        engine_api.set_threads(conn, UNKNOWN_ID, 2)
    space = engine.taskspace("PY")
    result = engine_api.submit_batch(conn, taskspace=space, tasks=[NOOP])
    engine.instances.append(result.instance_id)
    engine_api.start_jobs(conn, result.instance_id, 1)
    wait_finished(conn, result.instance_id)
    with pytest.raises(InvalidStateError, match="ORA-20102"):
        engine_api.start_jobs(conn, result.instance_id, 1)


def test_cli_view_reads_running_tasks_and_errors(engine: Engine) -> None:
    from rich.console import Console

    conn = engine.conn
    space = engine.taskspace("PY")
    result = engine_api.submit_batch(conn, taskspace=space, tasks=[FAIL], stop_on_error=False)
    engine.instances.append(result.instance_id)
    engine_api.start_jobs(conn, result.instance_id, 1)
    wait_finished(conn, result.instance_id)
    view = status_view.fetch_instance_view(conn, result.instance_id)
    assert [problem.error_code for problem in view.errors] == [-20999]
    buffer = io.StringIO()
    Console(file=buffer, width=120, color_system=None).print(status_view.render_instance(view))
    assert "ORA-20999" in buffer.getvalue()
    assert [s.instance_id for s in status.fetch_taskspace_status(conn, space)] == [result.instance_id]

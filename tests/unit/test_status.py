"""The status model and the batched status read (fake DB: what is sent, and how rows are read)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import oracledb
import pytest

from airflow_provider_oracle_tasks.cli import status_view
from airflow_provider_oracle_tasks.db import binds
from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import status
from airflow_provider_oracle_tasks.engine.status import InstanceStatus, TaskProblem
from tests.unit.engine_fakes import (
    STATUS_PATTERN,
    AsyncFakeConnection,
    EngineFakeConnection,
    TypedVar,
    by_ids,
    status_row,
    watchdog_pattern,
)
from tests.unit.fakes import db_error

FAILED_ROWS = {
    42: [
        (
            42,
            17,
            "load_sales",
            "FAILED",
            -1476,
            "ORA-01476: divisor is equal to zero\nORA-06512: at line 3",
            3,
        ),
        (42, 18, None, "FAILED", -20999, "custom failure\nmore detail", 1),
    ]
}


def _binds_in(sql: str) -> set[str]:
    without_strings = re.sub(r"'[^']*'", "''", sql)
    return set(re.findall(r":(\w+)", without_strings))


def _connection(
    rows: dict[int, list[tuple[object, ...]]], failed: dict | None = None
) -> EngineFakeConnection:
    return (
        EngineFakeConnection()
        .on(watchdog_pattern(), [])
        .on(STATUS_PATTERN, by_ids(rows))
        .on(r"t\.state = 'FAILED'", by_ids(failed or {}))
    )


# --- SQL text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [status.STATUS_SQL, status.FAILED_TASKS_SQL])
def test_status_statements_take_one_bind_the_json_id_list(sql: str) -> None:
    assert _binds_in(sql) == {"ids"}
    assert "json_table(:ids, '$[*]' columns (id number path '$'))" in sql


def test_watchdog_is_one_set_based_call_whatever_the_number_of_ids() -> None:
    """S-1: no PL/SQL loop over the ids on the client's block; the engine finds the suspects."""
    assert _binds_in(status.WATCHDOG_SQL) == {"ids"}
    assert status.WATCHDOG_SQL.count("otask.") == 1
    assert "otask.heal_instances(p_instance_ids => :ids);" in status.WATCHDOG_SQL
    assert "loop" not in status.WATCHDOG_SQL.lower()


def test_status_sql_select_list_matches_the_parsed_columns() -> None:
    select_list = status.STATUS_SQL.split("select ", 1)[1].split("\n  from otask_instances_v i")[0]
    aliases = [line.strip().rstrip(",").split()[-1].split(".")[-1] for line in select_list.splitlines()]
    assert tuple(aliases) == status.STATUS_COLUMNS


def test_failed_tasks_sql_limit_is_the_documented_constant() -> None:
    assert f"f.rn <= {status.MAX_FAILED_TASKS}\n" in status.FAILED_TASKS_SQL


def test_watchdog_swallows_no_error() -> None:
    """Unknown ids are ignored by the engine itself; a real error (e.g. ORA-04068) must reach the read."""
    assert "exception" not in status.WATCHDOG_SQL.lower()


# --- rows -> InstanceStatus --------------------------------------------------------------------


def test_running_instance_counts_rate_eta_and_utc_times() -> None:
    row = status_row(42, counts={"SUCCEEDED": 9, "FAILED": 1, "RUNNING": 4, "READY": 26}, run_key="d/r/t")
    result = status.parse_statuses([42], [row], [])
    current = result[42]
    assert current.counts == {
        "WAITING": 0,
        "READY": 26,
        "RUNNING": 4,
        "SUCCEEDED": 9,
        "FAILED": 1,
        "SKIPPED": 0,
        "STOPPED": 0,
    }
    assert current.total == 40
    assert current.done == 10
    assert current.elapsed_seconds == 40.0
    assert current.tasks_per_second == 0.25
    assert current.eta_seconds == 120.0
    assert current.started_at == "2025-03-01T12:00:00+00:00"
    assert current.created_at == "2025-03-01T11:59:58+00:00"
    assert current.ended_at is None
    assert (current.run_key, current.taskspace, current.target_threads, current.live_workers) == (
        "d/r/t",
        "ETL",
        4,
        4,
    )
    assert not current.is_finished
    assert not current.succeeded
    assert (
        current.progress_line()
        == "instance 42 RUNNING: 10/40 done, 4 running, 1 failed, 0.2 tasks/s, ETA 2 min 00 s"
    )


def test_finished_instance_takes_elapsed_and_rate_from_the_view() -> None:
    row = status_row(
        7, "SUCCEEDED", counts={"SUCCEEDED": 20}, ended=datetime(2025, 3, 1, 12, 0, 10), elapsed=10.0
    )
    current = status.parse_statuses([7], [row], [])[7]
    assert current.elapsed_seconds == 10.0
    assert current.tasks_per_second == 2.0
    assert current.ended_at == "2025-03-01T12:00:10+00:00"
    assert current.is_finished
    assert current.succeeded
    assert current.eta_seconds is None
    assert (
        current.progress_line()
        == "instance 7 SUCCEEDED: 20/20 done, 0 running, 0 failed, 2.0 tasks/s, took 10 s"
    )


def test_created_instance_is_not_started() -> None:
    current = status.parse_statuses([5], [status_row(5, "CREATED", counts={"WAITING": 3}, started=None)], [])[
        5
    ]
    assert current.elapsed_seconds == 0.0
    assert current.tasks_per_second == 0.0
    assert current.progress_line().endswith("0/3 done, 0 running, 0 failed, 0.0 tasks/s, not started")


def test_unknown_ids_come_back_missing_never_dropped() -> None:
    result = status.parse_statuses([1, 2, 3], [status_row(1)], [])
    assert list(result) == [1, 2, 3]
    for instance_id in (2, 3):
        current = result[instance_id]
        assert current.state == status.MISSING
        assert current.is_finished
        assert not current.succeeded
        assert current.counts == dict.fromkeys(status.TASK_STATES, 0)
        assert "does not exist" in current.failure_message()
        assert (
            current.progress_line()
            == f"instance {instance_id} MISSING: no such instance (never created, or purged)"
        )


def test_aware_timestamps_are_converted_to_utc() -> None:
    from datetime import timedelta, timezone

    cet = timezone(timedelta(hours=1))
    row = status_row(3, started=datetime(2025, 3, 1, 13, 0, 0, tzinfo=cet))
    assert status.parse_statuses([3], [row], [])[3].started_at == "2025-03-01T12:00:00+00:00"


def test_failed_tasks_keep_first_line_and_order() -> None:
    row = status_row(
        42, "FAILED", counts={"FAILED": 2, "SUCCEEDED": 5}, ended=datetime(2025, 3, 1, 12, 0, 20)
    )
    current = status.parse_statuses([42], [row], FAILED_ROWS[42])[42]
    assert current.failed_tasks == (
        TaskProblem(17, "load_sales", "FAILED", -1476, "ORA-01476: divisor is equal to zero", 3),
        TaskProblem(18, None, "FAILED", -20999, "custom failure", 1),
    )


@pytest.mark.parametrize(
    ("code", "message", "described"),
    [
        (-1476, "ORA-01476: divisor is equal to zero", "ORA-01476: divisor is equal to zero"),
        (-20999, "custom failure", "ORA-20999: custom failure"),
        (100, "no data found", "ORA-01403: no data found"),
        (1, "User-Defined Exception", "User-Defined Exception"),
        (None, "", "no error message recorded"),
    ],
)
def test_task_problem_names_the_ora_code_once(code: int | None, message: str, described: str) -> None:
    problem = TaskProblem(17, "load", "FAILED", code, message, 2)
    assert problem.describe() == f"load (task 17, 2 attempts): {described}"


def test_task_problem_without_name() -> None:
    assert TaskProblem(9, None, "FAILED", -1, "ORA-00001: unique", 1).describe() == (
        "task 9 (1 attempt): ORA-00001: unique"
    )


def test_failure_message_is_capped_and_counts_the_rest() -> None:
    problems = tuple(TaskProblem(i, f"t{i}", "FAILED", -1476, f"ORA-01476: boom {i}", 1) for i in range(10))
    row = status_row(42, "FAILED", counts={"FAILED": 25, "SUCCEEDED": 5, "SKIPPED": 10})
    current = status.parse_statuses([42], [row], [])[42]
    current = InstanceStatus.from_dict({**current.to_dict(), "failed_tasks": [p.to_dict() for p in problems]})
    message = current.failure_message(limit=3)
    assert message.splitlines() == [
        "instance 42 FAILED: 25 of 40 tasks failed, 10 skipped, 0 stopped:",
        "  - t0 (task 0, 1 attempt): ORA-01476: boom 0",
        "  - t1 (task 1, 1 attempt): ORA-01476: boom 1",
        "  - t2 (task 2, 1 attempt): ORA-01476: boom 2",
        "  ... and 22 more (OTASK_TASKS_V where instance_id = 42 and state = 'FAILED')",
    ]


def test_stopped_instance_without_failures_says_so() -> None:
    row = status_row(8, "STOPPED", counts={"SUCCEEDED": 3, "SKIPPED": 7})
    assert status.parse_statuses([8], [row], [])[8].failure_message() == (
        "instance 8 STOPPED: 0 of 10 tasks failed, 7 skipped, 0 stopped."
    )


def test_to_dict_round_trips_exactly_through_json() -> None:
    row = status_row(42, "FAILED", counts={"FAILED": 2, "SUCCEEDED": 5}, run_key="dag/run/task")
    current = status.parse_statuses([42], [row], FAILED_ROWS[42])[42]
    data = json.loads(json.dumps(current.to_dict()))
    assert InstanceStatus.from_dict(data) == current
    assert data == current.to_dict()
    assert set(data["counts"]) == set(status.TASK_STATES)
    missing = InstanceStatus.missing(9)
    assert InstanceStatus.from_dict(json.loads(json.dumps(missing.to_dict()))) == missing


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (9.4, "9 s"),
        (119, "119 s"),
        (125, "2 min 05 s"),
        (7199, "119 min 59 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert status.format_duration(seconds) == text


def test_first_line_skips_blank_lines_and_cuts_long_ones() -> None:
    assert binds.first_line("\n  \nORA-1: x\nORA-06512") == "ORA-1: x"
    assert binds.first_line(None) == ""
    assert len(binds.first_line("x" * 2000)) == 500


# --- the read ---------------------------------------------------------------------------------


def test_fetch_statuses_runs_watchdog_then_two_reads_with_one_bind() -> None:
    connection = _connection({42: [status_row(42, "FAILED", counts={"FAILED": 2})]}, FAILED_ROWS)
    result = status.fetch_statuses(connection, [42, 7, 42])
    assert [e.sql for e in connection.executed] == [
        status.WATCHDOG_SQL,
        status.STATUS_SQL,
        status.FAILED_TASKS_SQL,
    ]
    assert [e.binds for e in connection.executed] == [{"ids": "[7,42]"}] * 3
    assert result[7].state == status.MISSING
    assert result[42].state == "FAILED"
    assert len(result[42].failed_tasks) == 2
    assert connection.commits == 0
    assert connection.rollbacks == 0


def test_instance_missing_from_the_rows_is_still_reported() -> None:
    connection = _connection({})
    assert status.fetch_status(connection, 5).state == status.MISSING


def test_long_id_lists_are_bound_as_clob() -> None:
    ids = list(range(10**9, 10**9 + 600))
    connection = _connection({})
    result = status.fetch_statuses(connection, ids)
    assert len(result) == 600
    for executed in connection.executed:
        bind = executed.binds["ids"]
        assert isinstance(bind, TypedVar)
        assert bind.type is oracledb.DB_TYPE_CLOB
        assert json.loads(bind.getvalue()) == ids


def test_no_ids_means_no_round_trip() -> None:
    connection = _connection({})
    assert status.fetch_statuses(connection, []) == {}
    assert connection.executed == []


@pytest.mark.parametrize("bad", [0, -1, True, "5", 1.5, None])
def test_bad_ids_are_refused_before_any_sql(bad: object) -> None:
    connection = _connection({})
    with pytest.raises(ValueError, match=r"instance_id=.* must be a whole number from 1"):
        status.fetch_statuses(connection, [1, bad])  # type: ignore[list-item]
    assert connection.executed == []


def test_database_errors_of_the_watchdog_are_not_swallowed() -> None:
    connection = EngineFakeConnection().on(
        watchdog_pattern(), db_error("ORA-00942: table or view does not exist")
    )
    with pytest.raises(oracledb.DatabaseError, match="ORA-00942"):
        status.fetch_statuses(connection, [1])


async def test_async_read_sends_the_same_statements() -> None:
    connection = _connection({42: [status_row(42)]})
    result = await status.fetch_statuses_async(AsyncFakeConnection(connection), [42, 43])
    assert [e.sql for e in connection.executed] == [
        status.WATCHDOG_SQL,
        status.STATUS_SQL,
        status.FAILED_TASKS_SQL,
    ]
    assert [e.binds for e in connection.executed] == [{"ids": "[42,43]"}] * 3
    assert result[42].state == "RUNNING"
    assert result[43].state == status.MISSING


def test_taskspace_status_lists_newest_first() -> None:
    connection = _connection({3: [status_row(3)], 9: [status_row(9, "SUCCEEDED")]}).on(
        r"where i\.taskspace = :taskspace", [(9,), (3,)]
    )
    result = status.fetch_taskspace_status(connection, "etl", limit=5)
    assert [s.instance_id for s in result] == [9, 3]
    assert connection.executed[0].sql == status.RECENT_INSTANCES_SQL
    assert connection.executed[0].binds == {"taskspace": "ETL", "max_rows": 5}


def test_taskspace_name_is_validated_before_sql() -> None:
    connection = _connection({})
    with pytest.raises(ValueError, match="taskspace='etl; drop' is not a valid Oracle name"):
        status.fetch_taskspace_status(connection, "etl; drop")
    assert connection.executed == []


# --- the SQL reads only columns the views declare --------------------------------------------

VIEWS = Path(__file__).resolve().parents[2] / "sql" / "engine" / "views"


def _view_columns(name: str) -> set[str]:
    """The column names of ``create or replace view NAME as select ... from`` (top level only)."""
    text = re.sub(r"--[^\n]*", "", (VIEWS / f"{name}.sql").read_text(encoding="utf-8")).lower()
    body = text.split("select", 1)[1]
    depth, items, current = 0, [], ""
    for token in re.findall(r"\(|\)|,|\bfrom\b|[^(),]+?(?=\(|\)|,|\bfrom\b|$)", body, re.S):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if depth == 0 and token in (",", "from"):
            items.append(current)
            current = ""
            if token == "from":
                break
            continue
        current += token
    return {re.findall(r"\w+", item)[-1] for item in items}


SQL_READING_VIEWS = [
    status.STATUS_SQL,
    status.FAILED_TASKS_SQL,
    status.RECENT_INSTANCES_SQL,
    status_view.RUNNING_TASKS_SQL,
    status_view.RECENT_ERRORS_SQL,
    engine_api.INSTANCE_FOR_RUN_KEY_SQL,
    engine_api.TASK_COUNT_SQL,
]


@pytest.mark.parametrize("sql", SQL_READING_VIEWS)
def test_status_sql_reads_only_columns_the_views_declare(sql: str) -> None:
    declared = {"i": _view_columns("otask_instances_v"), "t": _view_columns("otask_tasks_v")}
    assert "otask_instances " not in sql
    assert "otask_tasks " not in sql
    used = set(re.findall(r"\b([it])\.(\w+)", sql))
    assert used
    unknown = sorted(f"{alias}.{column}" for alias, column in used if column not in declared[alias])
    assert unknown == []


def test_view_column_parser_reads_aliases_not_inner_columns() -> None:
    columns = _view_columns("otask_instances_v")
    assert {"instance_id", "live_workers", "tasks_per_second", "waiting_tasks", "close_count"} <= columns
    assert "ws" not in columns
    assert "total" not in columns


@pytest.mark.parametrize(
    ("rows", "expected"), [([("SCHEDULED",)], "SCHEDULED"), ([("MISSING",)], "MISSING"), ([], "UNKNOWN")]
)
def test_watchdog_job_state_is_read_through_the_engine_package(rows: list[tuple[str]], expected: str) -> None:
    """Item 3: role holders cannot read the owner's scheduler views, so OTASK answers for them."""
    from tests.unit.fakes import FakeConnection

    connection = FakeConnection().on(re.escape(status.WATCHDOG_JOB_SQL), rows)
    assert status.fetch_watchdog_job_state(connection) == expected
    assert connection.sql() == ["select otask.watchdog_job_state from dual"]


@pytest.mark.parametrize("count", [1, 1000, 10_000])
def test_a_status_read_sends_three_statements_whatever_the_number_of_instances(count: int) -> None:
    """Item 4 / S-1: the statements of a read do not grow with the instances it reads."""
    from tests.unit.fakes import FakeConnection

    connection = FakeConnection()
    result = status.fetch_statuses(connection, range(1, count + 1))
    assert len(result) == count
    assert connection.sql() == [status.WATCHDOG_SQL, status.STATUS_SQL, status.FAILED_TASKS_SQL]

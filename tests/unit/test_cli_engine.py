"""``oracle-tasks status/threads/stop/retry/purge`` against a fake DB: calls, output, exit codes."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import oracledb
import pytest
from rich.console import Console

from airflow_provider_oracle_tasks.cli import engine_commands as cli_engine
from airflow_provider_oracle_tasks.cli import main as cli
from airflow_provider_oracle_tasks.cli import status_view
from airflow_provider_oracle_tasks.engine import status
from tests.unit.engine_fakes import (
    STARTED,
    STATUS_PATTERN,
    EngineFakeConnection,
    by_ids,
    sequence,
    status_row,
    watchdog_pattern,
)
from tests.unit.fakes import db_error

DSN = ("--dsn", "db-host:1521/FREEPDB1", "--user", "APP")
FAILED_ROW = (
    42,
    17,
    "load_sales",
    "FAILED",
    -1476,
    "ORA-01476: divisor is equal to zero\nORA-06512: at line 1",
    3,
)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Everything status draws goes to this buffer (a terminal, so --watch frames are kept)."""
    buffer = io.StringIO()
    monkeypatch.setattr(
        cli_engine,
        "make_console",
        lambda: Console(file=buffer, width=120, force_terminal=True, color_system=None, legacy_windows=False),
    )
    return buffer


def connect(monkeypatch: pytest.MonkeyPatch, connection: EngineFakeConnection) -> None:
    monkeypatch.setattr(oracledb, "connect", lambda **kwargs: connection)
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main([*argv, *DSN])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def instance(
    rows: dict[int, list[tuple[Any, ...]]], failed: list[tuple[Any, ...]] | None = None
) -> EngineFakeConnection:
    return (
        EngineFakeConnection()
        .on(watchdog_pattern(), [])
        .on(STATUS_PATTERN, by_ids(rows))
        .on(r"f\.rn <= 10", failed or [])
        .on(r"t\.state = 'RUNNING'\n", [(101, "load_sales", "OTASK_W42_7", STARTED, 1, 40.0)])
        .on(r"t\.error_code is not null", [])
    )


# --- status ------------------------------------------------------------------------------------


def test_status_of_a_running_instance_shows_counts_rate_eta_and_running_tasks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    rows = {42: [status_row(42, counts={"SUCCEEDED": 9, "FAILED": 1, "RUNNING": 4, "READY": 26})]}
    connection = instance(rows)
    connect(monkeypatch, connection)
    code, _, err = run(capsys, "status", "42")
    assert (code, err) == (cli.EXIT_OK, "")
    text = console.getvalue()
    for expected in (
        "instance 42",
        "RUNNING: 10/40 done, 4 running, 1 failed, 0.2 tasks/s, ETA 2 min 00 s",
        "threads: target 4, live 4",
        "running tasks",
        "OTASK_W42_7",
        "load_sales",
        "25% done",
    ):
        assert expected in text
    sql = connection.sql()
    assert sql[:3] == [status.WATCHDOG_SQL, status.STATUS_SQL, status.FAILED_TASKS_SQL]
    assert sql[3:] == [status_view.RUNNING_TASKS_SQL, status_view.RECENT_ERRORS_SQL]
    assert connection.executed[3].binds == {"instance_id": 42}
    assert connection.commits == 0
    assert connection.closed


def test_status_of_a_failed_instance_exits_7_and_lists_the_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    ended = datetime(2025, 3, 1, 12, 0, 30)
    connection = instance(
        {42: [status_row(42, "FAILED", counts={"FAILED": 1, "SKIPPED": 3}, ended=ended)]}, [FAILED_ROW]
    )
    connection.rules.insert(
        0, (r"t\.error_code is not null", [(17, "load_sales", "FAILED", -1476, "ORA-01476: x", 3)])
    )
    connect(monkeypatch, connection)
    code, _, _ = run(capsys, "status", "42")
    assert code == cli.EXIT_INSTANCE_FAILED == 7
    assert "latest errors" in console.getvalue()
    assert "ORA-01476: x" in console.getvalue()


def test_status_of_an_unknown_instance_exits_6(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    connection = instance({})
    connect(monkeypatch, connection)
    code, _, err = run(capsys, "status", "5")
    assert code == cli.EXIT_UNKNOWN_INSTANCE == 6
    assert "instance 5 does not exist" in err
    assert "ORA-20100" in err
    assert status_view.RUNNING_TASKS_SQL not in connection.sql()


def test_status_json_is_the_status_dict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = instance({42: [status_row(42, counts={"RUNNING": 2})]})
    connect(monkeypatch, connection)
    code, out, _ = run(capsys, "status", "42", "--json")
    assert code == cli.EXIT_OK
    data = json.loads(out)
    assert status.InstanceStatus.from_dict(data).counts["RUNNING"] == 2
    assert data["state"] == "RUNNING"
    assert data["instance_id"] == 42


def test_watch_redraws_until_the_instance_finishes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    polls = sequence(
        [status_row(42, counts={"RUNNING": 4, "READY": 6})],
        [status_row(42, counts={"RUNNING": 4, "SUCCEEDED": 6})],
        [
            status_row(
                42, "SUCCEEDED", counts={"SUCCEEDED": 10}, ended=datetime(2025, 3, 1, 12, 0, 20), elapsed=20.0
            )
        ],
    )
    connection = instance({})
    connection.rules.insert(0, (STATUS_PATTERN, polls))  # answers before instance()'s rule
    connect(monkeypatch, connection)
    waits: list[float] = []
    monkeypatch.setattr(status_view.time, "sleep", waits.append)
    code, _, _ = run(capsys, "status", "42", "--watch", "5")
    assert code == cli.EXIT_OK
    assert waits == [5.0, 5.0]
    assert connection.sql().count(status.WATCHDOG_SQL) == 3  # the watchdog runs on every refresh
    frames = console.getvalue()
    assert "0/10 done, 4 running" in frames
    assert "6/10 done, 4 running" in frames
    assert "SUCCEEDED: 10/10 done, 0 running, 0 failed, 0.5 tasks/s, took 20 s" in frames
    assert frames.index("0/10 done") < frames.index("6/10 done") < frames.index("took 20 s")


def test_watch_left_with_ctrl_c_exits_130_and_closes_the_connection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    connection = instance({42: [status_row(42, counts={"RUNNING": 4})]})
    connect(monkeypatch, connection)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(status_view.time, "sleep", interrupt)
    code, _, err = run(capsys, "status", "42", "--watch")
    assert code == cli.EXIT_INTERRUPTED == 130
    assert "stopped watching (Ctrl-C); nothing was changed in the database." in err
    assert connection.closed
    assert connection.commits == 0
    assert "4 running" in console.getvalue()


def test_taskspace_status_lists_its_newest_instances(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    rows = {9: [status_row(9, "SUCCEEDED", counts={"SUCCEEDED": 3}, run_key="dag/run/t")], 3: [status_row(3)]}
    connection = instance(rows).on(r"where i\.taskspace = :taskspace", [(9,), (3,)])
    connect(monkeypatch, connection)
    code, _, _ = run(capsys, "status", "--taskspace", "etl", "--limit", "2")
    assert code == cli.EXIT_OK
    text = console.getvalue()
    assert "taskspace ETL: newest instances" in text
    assert "dag/run/t" in text
    assert text.index("SUCCEEDED") < text.index("RUNNING")  # newest (9) first
    assert connection.executed[0].binds == {"taskspace": "ETL", "max_rows": 2}


def test_taskspace_without_instances(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, console: io.StringIO
) -> None:
    connect(monkeypatch, instance({}).on(r"where i\.taskspace = :taskspace", []))
    assert run(capsys, "status", "--taskspace", "ETL")[0] == cli.EXIT_OK
    assert "taskspace ETL has no instances" in console.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("status",), "name what to show: `status INSTANCE_ID`"),
        (("status", "4", "--taskspace", "ETL"), "not both"),
        (("status", "4", "--json", "--watch"), "--json prints one status for scripts"),
        (("status", "4", "--watch", "0.1"), "refresh every 0.5 to 3600 seconds"),
        (("status", "4", "--watch", "soon"), "'soon' is not a number of seconds"),
        (("status", "0"), "INSTANCE_ID=0 must be a whole number from 1"),
        (("status", "--taskspace", "a-b"), "--taskspace='a-b' is not a valid Oracle name"),
        (("threads", "42", "1001"), "N=1001 must be a whole number from 0 to 1000"),
        (("threads", "42", "-1"), "N=-1 must be a whole number from 0 to 1000"),
        (("threads", "42"), "the following arguments are required: N"),
        (("retry", "42", "--threads", "5000"), "--threads=5000 must be a whole number"),
        (("purge", "--older-than", "-3"), "--older-than=-3.0 must be a number of days >= 0"),
        (("purge",), "the following arguments are required: --older-than"),
        (("stop", "x"), "invalid int value: 'x'"),
    ],
)
def test_bad_usage_exits_2_before_any_sql(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], message: str
) -> None:
    connection = EngineFakeConnection()
    connect(monkeypatch, connection)
    code, _, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert message in err
    assert connection.executed == []


# --- threads, stop, retry, purge ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "call", "binds", "said"),
    [
        (
            ("threads", "42", "8"),
            "callproc otask.set_threads",
            {"p_instance_id": 42, "p_threads": 8},
            "target threads 8",
        ),
        (
            ("threads", "42", "0"),
            "callproc otask.set_threads",
            {"p_instance_id": 42, "p_threads": 0},
            "paused",
        ),
        (
            ("stop", "42"),
            "callproc otask.stop",
            {"p_instance_id": 42, "p_mode": "SOFT"},
            "soft stop requested",
        ),
        (
            ("stop", "42", "--hard"),
            "callproc otask.stop",
            {"p_instance_id": 42, "p_mode": "HARD"},
            "hard stop done",
        ),
        (
            ("retry", "42"),
            "callproc otask.retry_failed",
            {"p_instance_id": 42, "p_threads": None},
            "last thread target",
        ),
        (
            ("retry", "42", "--threads", "2"),
            "callproc otask.retry_failed",
            {"p_instance_id": 42, "p_threads": 2},
            "restarted with 2 threads",
        ),
    ],
)
def test_control_commands_make_one_engine_call_then_show_progress(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    call: str,
    binds: dict[str, Any],
    said: str,
) -> None:
    connection = instance({42: [status_row(42, counts={"RUNNING": 1, "READY": 1})]})
    connect(monkeypatch, connection)
    code, out, err = run(capsys, *argv)
    assert (code, err) == (cli.EXIT_OK, "")
    assert connection.calls()[0] == (call, binds)
    assert connection.sql()[1:] == [status.WATCHDOG_SQL, status.STATUS_SQL, status.FAILED_TASKS_SQL]
    assert said in out
    assert "instance 42 RUNNING: 0/2 done, 1 running" in out
    assert connection.commits == 0  # the engine commits control calls itself


def test_purge_reports_how_many(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    connection = EngineFakeConnection().on("callfunc otask.purge", [(3,)])
    connect(monkeypatch, connection)
    code, out, _ = run(capsys, "purge", "--older-than", "30")
    assert code == cli.EXIT_OK
    assert out.strip() == "purged 3 finished instances older than 30 days"
    assert connection.calls() == [("callfunc otask.purge", {"p_older_than": 30.0})]


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        ("ORA-20102: OTASK.SET_THREADS: instance 42 is SUCCEEDED; nothing to regulate", cli.EXIT_ERROR),
        ("ORA-20100: OTASK.SET_THREADS: instance 42 does not exist", cli.EXIT_UNKNOWN_INSTANCE),
        ("ORA-20104: OTASK.SET_THREADS: the owner lacks CREATE JOB", cli.EXIT_PRIVILEGES),
    ],
)
def test_engine_errors_exit_with_the_ora_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error: str, exit_code: int
) -> None:
    connection = EngineFakeConnection().on(
        "callproc otask.set_threads", db_error(f'{error}\nORA-06512: at "APP.OTASK", line 7')
    )
    connect(monkeypatch, connection)
    code, _, err = run(capsys, "threads", "42", "3")
    assert code == exit_code
    assert err.strip() == f"error: {error}"


def test_other_database_errors_exit_1_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = EngineFakeConnection().on(
        watchdog_pattern(), db_error("ORA-00942: table or view does not exist")
    )
    connect(monkeypatch, connection)
    code, _, err = run(capsys, "status", "42")
    assert code == cli.EXIT_ERROR
    assert "ORA-00942" in err
    assert "install the engine" in err


def test_help_lists_the_dba_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for text in ("status", "threads", "stop", "retry", "purge", "6 unknown instance", "7 status ID", "130"):
        assert text in out
    for command in cli.ENGINE_COMMANDS:
        code, out, _ = run(capsys, command, "--help")
        assert code == 0
        assert f"oracle-tasks {command}" in out
        assert "exit codes" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("threads", "42", "1001"), "N=1001 must be"),
        (("threads", "42", "-1"), "N=-1 must be"),
        (("threads", "0", "4"), "INSTANCE_ID=0 must be"),
        (("retry", "42", "--threads", "5000"), "--threads=5000 must be"),
        (("stop", "-7"), "INSTANCE_ID=-7 must be"),
        (("purge", "--older-than", "-1"), "--older-than=-1.0 must be"),
        (("purge", "--older-than", "nan"), "--older-than=nan must be"),
        (("purge", "--older-than", "inf"), "--older-than=inf must be"),
        (("status", "-5"), "INSTANCE_ID=-5 must be"),
        (("status", "0"), "INSTANCE_ID=0 must be"),
        (("status", "42", "--watch", "--json"), "does not go with --watch"),
        (("status", "--watch", "2"), "name what to show"),
        (("status", "--taskspace", "a b"), "is not a valid Oracle name"),
        (("status", "--taskspace", "ETL", "--limit", "0"), "--limit=0 must be"),
    ],
)
def test_bad_arguments_exit_2_before_the_password_prompt_and_the_connection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], message: str
) -> None:
    """A-12: no password in the environment and no terminal; a connect would exit 5 instead."""

    def refuse(**kwargs: object) -> None:
        raise AssertionError("must not connect")

    monkeypatch.setattr(oracledb, "connect", refuse)
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("prompted for a password"))
    code, _, err = run(capsys, *argv)
    assert (code, message in err) == (cli.EXIT_USAGE, True), err

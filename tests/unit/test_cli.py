"""``oracle-tasks``: usage, exit codes and error messages (fake DB; the real one is in integration)."""

from __future__ import annotations

import socket

import oracledb
import pytest
from oracledb.errors import _Error

from airflow_provider_oracle_tasks.cli import main as cli
from tests.unit.fakes import FakeConnection, db_error, installed


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: object) -> None:
        raise AssertionError("this command must not connect")

    monkeypatch.setattr(oracledb, "connect", refuse)


def test_help_explains_connections_privileges_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for text in (
        "grants",
        "check",
        "install",
        "uninstall",
        "version",
        "--conn-id",
        "--dsn",
        "exit codes",
        "5 cannot connect",
        "directly (not through a role)",
        "sql/grants.sql",
    ):
        assert text in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "required: COMMAND"),
        (("install",), "name the database: --conn-id ID, or --dsn DSN --user USER"),
        (("install", "--dsn", "h:1521/S"), "--dsn needs --user"),
        (("install", "--conn-id", "a", "--dsn", "b"), "not allowed with argument"),
        (("install", "--conn-id", "a", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("grants", "--conn-id", "a"), "the following arguments are required: --owner"),
    ],
)
def test_usage_errors_exit_2_and_say_what_to_do(
    capsys: pytest.CaptureFixture[str], no_database: None, argv: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert message in err


def test_dry_run_prints_statements_without_a_database(
    capsys: pytest.CaptureFixture[str], no_database: None
) -> None:
    code, out, _ = run(capsys, "install", "--dry-run")
    assert code == cli.EXIT_OK
    assert "preflight.sql" in out
    assert "core/otask_install.pks" in out


def test_version_without_database(capsys: pytest.CaptureFixture[str], no_database: None) -> None:
    code, out, _ = run(capsys, "version")
    assert code == cli.EXIT_OK
    assert "scripts schema version: 1" in out


def test_uninstall_without_yes_and_no_terminal_changes_nothing(
    capsys: pytest.CaptureFixture[str], no_database: None
) -> None:
    code, _, err = run(capsys, "uninstall", "--dsn", "h:1521/S", "--user", "APP")
    assert code == cli.EXIT_USAGE
    assert "--yes" in err


def test_bad_owner_name_is_a_usage_error(capsys: pytest.CaptureFixture[str], no_database: None) -> None:
    code, _, err = run(capsys, "grants", "--dsn", "h/S", "--user", "SYSTEM", "--owner", "app; drop")
    assert code == cli.EXIT_USAGE
    assert "--owner='app; drop' is not a valid Oracle name" in err


def test_missing_password_without_terminal(
    capsys: pytest.CaptureFixture[str], no_database: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    code, _, err = run(capsys, "check", "--dsn", "h:1521/S", "--user", "APP")
    assert code == cli.EXIT_CONNECT
    assert f"set ${cli.PASSWORD_ENV}" in err


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (db_error("ORA-01017: invalid username/password; logon denied"), "ORA-01017"),
        (
            oracledb.OperationalError(_Error("DPY-6005: cannot connect to database (CONNECTION_ID=x).")),
            "DPY-6005",
        ),
    ],
)
def test_connection_failures_exit_5_with_cause_and_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error: Exception, hint: str
) -> None:
    def connect(**kwargs: object) -> None:
        raise error

    monkeypatch.setattr(oracledb, "connect", connect)
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")
    code, _, err = run(capsys, "install", "--dsn", "db-host:1521/S", "--user", "APP")
    assert code == cli.EXIT_CONNECT
    assert hint in err
    assert "cannot connect to db-host:1521/S as APP" in err
    assert "Fix" in err or "check" in err.lower()


def test_unknown_airflow_connection_exits_5(capsys: pytest.CaptureFixture[str], no_database: None) -> None:
    code, _, err = run(capsys, "check", "--conn-id", "no_such_conn")
    assert code == cli.EXIT_CONNECT
    assert "Airflow connection 'no_such_conn' does not exist" in err
    assert "AIRFLOW_CONN_NO_SUCH_CONN" in err


def _connect_to(monkeypatch: pytest.MonkeyPatch, connection: FakeConnection) -> None:
    monkeypatch.setattr(oracledb, "connect", lambda **kwargs: connection)
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")


def test_check_with_missing_privileges_exits_3_and_lists_grants(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = installed(FakeConnection(), version=0).on(
        "check_sys_priv", db_error("ORA-20001: missing privileges ... GRANT CREATE JOB TO APP;")
    )
    _connect_to(monkeypatch, connection)
    code, _, err = run(capsys, "check", "--dsn", "h:1521/S", "--user", "APP")
    assert code == cli.EXIT_PRIVILEGES
    assert "GRANT CREATE JOB TO APP;" in err
    assert connection.closed


def test_install_into_the_wrong_schema_exits_4_before_any_change(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = installed(FakeConnection(), schema="OTHER")
    _connect_to(monkeypatch, connection)
    code, _, err = run(capsys, "install", "--dsn", "h:1521/S", "--user", "APP", "--expected-schema", "APP")
    assert code == cli.EXIT_VERSION
    assert "expected_schema is APP" in err
    assert len(connection.sql()) == 1  # only the schema lookup


def test_install_reports_the_installed_version(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = installed(FakeConnection())
    _connect_to(monkeypatch, connection)
    code, out, _ = run(capsys, "install", "--dsn", "h:1521/S", "--user", "APP")
    assert code == cli.EXIT_OK
    assert "oracle-tasks schema version 1 installed in APP" in out


def test_script_error_exits_1_with_file_line_and_ora_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = installed(FakeConnection()).on(
        "create table otask_version", db_error("ORA-01536: space quota exceeded for tablespace 'USERS'")
    )
    _connect_to(monkeypatch, connection)
    code, _, err = run(capsys, "install", "--dsn", "h:1521/S", "--user", "APP")
    assert code == cli.EXIT_ERROR
    assert "core/version_table.sql" in err
    assert "ORA-01536" in err


def _unresolvable(**kwargs: object) -> None:
    raise socket.gaierror(-2, "Name or service not known")  # python-oracledb does not wrap it


def test_an_unresolvable_dsn_host_exits_5_with_a_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A-8: a mistyped host is a connection problem (exit 5, one line), not a traceback."""
    monkeypatch.setattr(oracledb, "connect", _unresolvable)
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")
    code, _, err = run(capsys, "status", "42", "--dsn", "nosuchhost.invalid:1521/X", "--user", "OTASK")
    assert code == cli.EXIT_CONNECT
    assert err.strip() == (
        "error: cannot connect to nosuchhost.invalid:1521/X as OTASK: cannot resolve the host name "
        "(gaierror: [Errno -2] Name or service not known). "
        "Fix: check the host name in --dsn nosuchhost.invalid:1521/X (a typo?)."
    )


def test_an_unresolvable_host_of_an_airflow_connection_exits_5_with_a_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oracledb, "connect", _unresolvable)
    monkeypatch.setenv("AIRFLOW_CONN_TYPO_HOST", "oracle://OTASK:secret-pw@nosuchhost.invalid:1521/FREEPDB1")
    code, _, err = run(capsys, "check", "--conn-id", "typo_host")
    assert code == cli.EXIT_CONNECT
    assert "cannot connect with Airflow connection 'typo_host': cannot resolve the host name" in err
    assert "Fix: check the host name of Airflow connection 'typo_host'" in err
    assert "Traceback" not in err


def test_a_dsn_that_is_no_easy_connect_string_gets_a_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real driver: 'garbage(((' is read as a TNS alias (DPY-4027); no network needed."""
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")
    monkeypatch.delenv("TNS_ADMIN", raising=False)
    code, _, err = run(capsys, "check", "--dsn", "garbage(((", "--user", "OTASK")
    assert code == cli.EXIT_CONNECT
    assert "DPY-4027" in err
    assert "Fix: --dsn garbage((( is read as a TNS alias" in err
    assert "Airflow connection" not in err


def test_dsn_connect_hints_do_not_mention_an_airflow_connection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A-23: with --dsn no Airflow connection is involved, so the fix must not name one."""

    def refused(**kwargs: object) -> None:
        raise oracledb.OperationalError(_Error("DPY-6005: cannot connect to database (CONNECTION_ID=x)."))

    monkeypatch.setattr(oracledb, "connect", refused)
    monkeypatch.setenv(cli.PASSWORD_ENV, "pw")
    code, _, err = run(capsys, "check", "--dsn", "db-host:1521/S", "--user", "APP")
    assert code == cli.EXIT_CONNECT
    assert "Fix: check host and port of --dsn db-host:1521/S" in err
    assert "Airflow connection" not in err


@pytest.mark.parametrize("command", ["install", "uninstall", "grants", "version", "check", "status", "purge"])
def test_each_sub_command_help_shows_its_own_options_only(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A-23: the 25-line shared epilog lives in the main --help only."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "\nexit codes:" not in out
    assert "connection options, privileges and exit codes: oracle-tasks --help" in out
    assert len(out.splitlines()) < 40


def test_grants_help_asks_for_a_dba_connection(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "grants", "--help")
    assert "connection id of a DBA" in " ".join(out.split())
    assert "of the schema owner" not in out

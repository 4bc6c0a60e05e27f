"""Fixtures for the integration suite: a REAL Oracle Database, named by environment variables.

    ORACLE_TASKS_TEST_DSN        e.g. localhost:1521/FREEPDB1
    ORACLE_TASKS_TEST_USER       schema owner the engine is installed into
    ORACLE_TASKS_TEST_PASSWORD
    ORACLE_TASKS_TEST_ADMIN_USER / ORACLE_TASKS_TEST_ADMIN_PASSWORD   optional DBA account
        (e.g. SYSTEM) for tests that create throwaway schemas or kill sessions

Without the first three every test here is skipped with that reason; without the admin pair
only the tests that need a DBA are. Nothing in this folder uses a fake: these tests are the
only execution of the PL/SQL in sql/.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from airflow_provider_oracle_tasks.install import installer
from airflow_provider_oracle_tasks.install.script_runner import run_script, sql_root

T = TypeVar("T")

DSN = os.environ.get("ORACLE_TASKS_TEST_DSN")
USER = os.environ.get("ORACLE_TASKS_TEST_USER")
PASSWORD = os.environ.get("ORACLE_TASKS_TEST_PASSWORD")
ADMIN_USER = os.environ.get("ORACLE_TASKS_TEST_ADMIN_USER")
ADMIN_PASSWORD = os.environ.get("ORACLE_TASKS_TEST_ADMIN_PASSWORD")

NO_ORACLE = (
    "no Oracle configured: set ORACLE_TASKS_TEST_DSN, ORACLE_TASKS_TEST_USER, ORACLE_TASKS_TEST_PASSWORD"
)
NO_ADMIN = "needs a DBA account: set ORACLE_TASKS_TEST_ADMIN_USER and ORACLE_TASKS_TEST_ADMIN_PASSWORD"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DSN and USER and PASSWORD:
        return
    skip = pytest.mark.skip(reason=NO_ORACLE)
    for item in items:
        if "tests/integration" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


def _connect(user: str, password: str) -> Any:
    import oracledb

    return oracledb.connect(user=user, password=password, dsn=DSN)


@pytest.fixture(scope="session")
def connect() -> Iterator[Callable[[], Any]]:
    """Factory for NEW connections as the engine owner (e.g. to sample views while workers run)."""
    assert USER, NO_ORACLE
    assert PASSWORD, NO_ORACLE
    opened: list[Any] = []

    def factory() -> Any:
        connection = _connect(USER, PASSWORD)
        opened.append(connection)
        return connection

    yield factory
    for connection in opened:
        try:
            connection.close()
        except Exception:  # already closed by the test
            continue


@pytest.fixture(scope="session")
def engine_conn(connect: Callable[[], Any]) -> Any:
    """Owner connection with the engine installed (install is idempotent, so re-runs are cheap)."""
    connection = connect()
    installer.install(connection, log=print)
    return connection


@pytest.fixture(scope="session")
def admin_conn() -> Iterator[Any]:
    if not (ADMIN_USER and ADMIN_PASSWORD):
        pytest.skip(NO_ADMIN)
    connection = _connect(ADMIN_USER, ADMIN_PASSWORD)
    yield connection
    connection.close()


@pytest.fixture
def fresh_schema(admin_conn: Any) -> Iterator[Callable[..., tuple[str, str]]]:
    """Factory for a throwaway, empty schema granted by sql/grants.sql; dropped afterwards.

    ``fresh_schema(revoke=("CREATE JOB",))`` takes privileges back to test the preflight.
    """
    created: list[str] = []

    def factory(revoke: tuple[str, ...] = ()) -> tuple[str, str]:
        user = f"OTASK_IT_{secrets.token_hex(4).upper()}"
        password = "Pw_" + secrets.token_hex(8)
        with admin_conn.cursor() as cursor:
            # Name and password are generated above, never caller input; DDL cannot take binds.
            cursor.execute(f'create user {user} identified by "{password}"')
            created.append(user)
        run_script(admin_conn, sql_root() / "grants.sql", defines={"otask_owner": user})
        with admin_conn.cursor() as cursor:
            for privilege in revoke:
                cursor.execute(f"revoke {privilege} from {user}")
        return user, password

    yield factory
    for user in created:
        _drop_schema(admin_conn, user)


def _drop_schema(admin_conn: Any, user: str, timeout: float = 60.0) -> None:
    """Drop a throwaway schema even while its scheduler jobs run (E-37).

    Its jobs (workers, the schema watchdog job) are dropped first, so no new job session logs
    in; the remaining sessions are killed; ORA-01940 (a session is still connected, e.g. being
    killed) is retried until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        with admin_conn.cursor() as cursor:
            cursor.execute("select job_name from dba_scheduler_jobs where owner = :u", u=user)
            for (job_name,) in cursor.fetchall():
                try:
                    cursor.execute(
                        "begin dbms_scheduler.drop_job(job_name => :j, force => true); end;",
                        j=f'"{user}"."{job_name}"',
                    )
                except Exception as error:  # ended meanwhile, or still rolling back: next round
                    print(f"drop job {user}.{job_name}: {error}")
            cursor.execute("select sid, serial# from v$session where username = :u", u=user)
            for sid, serial in cursor.fetchall():
                try:
                    cursor.execute(f"alter system kill session '{int(sid)},{int(serial)}' immediate")
                except Exception as error:  # the session ended meanwhile
                    print(f"kill session {sid},{serial}: {error}")
            try:
                # The name was generated by the fixture, never caller input; DDL cannot take binds.
                cursor.execute(f"drop user {user} cascade")
                return
            except Exception as error:
                if time.monotonic() > deadline:
                    raise
                print(f"drop user {user}: {error}; retrying")
        time.sleep(2)


@pytest.fixture
def schema_connect() -> Iterator[Callable[[str, str], Any]]:
    """Connect as a throwaway schema; connections are closed before the schema is dropped."""
    opened: list[Any] = []

    def factory(user: str, password: str) -> Any:
        connection = _connect(user, password)
        opened.append(connection)
        return connection

    yield factory
    for connection in opened:
        try:
            connection.close()
        except Exception:
            continue


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, interval: float = 0.25) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail the test with a timeout otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for

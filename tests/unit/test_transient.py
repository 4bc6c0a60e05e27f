"""Transient-error classification, retry helpers and error messages, with real oracledb errors.

The errors are built the way python-oracledb builds them (``_Error`` -> ``exc_type(_Error)``, or
``errors._create_exception`` for driver DPY errors), so ``exc.args[0].full_code`` and the
ORA -> DPY translation (ORA-03113 becomes DPY-4011) are the driver's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import oracledb
import pytest
from airflow.sdk.exceptions import AirflowNotFoundException
from oracledb import errors as ora_errors

from airflow_provider_oracle_tasks.db.transient import (
    TRANSIENT_CODES,
    backoff_delay,
    describe_db_error,
    error_codes,
    is_transient,
    primary_code,
    retry,
    retry_async,
)
from tests.unit.driver_errors import driver_exception


def ora(code: int, text: str) -> oracledb.Error:
    """A database error as thin mode raises it for a server ``ORA-nnnnn``."""
    err = oracledb._Error(f"ORA-{code:05d}: {text}", code=code)
    exc = err.exc_type(err)
    assert isinstance(exc, oracledb.Error)
    return exc


def dpy(num: int, **args: Any) -> oracledb.Error:
    """A driver error (DPY-nnnn) as python-oracledb raises it."""
    exc = driver_exception(num, **args)
    assert isinstance(exc, oracledb.Error)
    return exc


def connect_failed() -> oracledb.Error:
    """DPY-6005 with the socket error as cause, like a connect to a closed port."""
    cause = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    exc = dpy(ora_errors.ERR_CONNECTION_FAILED, connection_id="abc", cause=cause)
    exc.__cause__ = cause
    return exc


def wrong_password() -> oracledb.Error:
    return ora(1017, "invalid username/password; logon denied")


def test_errors_look_like_the_drivers() -> None:
    exc = ora(3113, "end-of-file on communication channel")
    assert exc.args[0].full_code == "DPY-4011"
    assert exc.args[0].code == 3113
    assert error_codes(exc) == ["DPY-4011", "ORA-03113"]
    assert primary_code(exc) == "DPY-4011/ORA-03113"
    assert wrong_password().args[0].full_code == "ORA-01017"
    assert connect_failed().args[0].full_code == "DPY-6005"


@pytest.mark.parametrize(
    "make",
    [
        connect_failed,
        lambda: dpy(ora_errors.ERR_CONNECTION_CLOSED),
        lambda: dpy(ora_errors.ERR_CALL_TIMEOUT_EXCEEDED, timeout=60000),
        lambda: dpy(ora_errors.ERR_POOL_NO_CONNECTION_AVAILABLE),
        lambda: dpy(ora_errors.ERR_INVALID_SERVICE_NAME, service_name="FREEPDB1", host="h", port=1521),
        lambda: dpy(ora_errors.ERR_LISTENER_REFUSED_CONNECTION, error_code="12519"),
        lambda: ora(3113, "end-of-file on communication channel"),
        lambda: ora(3114, "not connected to ORACLE"),
        lambda: ora(3135, "connection lost contact"),
        lambda: ora(12170, "TNS:Connect timeout occurred"),
        lambda: ora(12514, "TNS:listener does not currently know of service"),
        lambda: ora(12541, "TNS:no listener"),
        lambda: ora(12543, "TNS:destination host unreachable"),
        lambda: ora(25408, "can not safely replay call"),
        lambda: ora(1033, "ORACLE initialization or shutdown in progress"),
        lambda: ora(1089, "immediate shutdown or close in progress"),
        lambda: ora(3156, "OCI call timed out"),
        lambda: ora(4068, "existing state of packages has been discarded"),
        lambda: ConnectionResetError(104, "Connection reset by peer"),
        lambda: TimeoutError("socket timed out"),
    ],
)
def test_transient(make: Callable[[], BaseException]) -> None:
    assert is_transient(make())


@pytest.mark.parametrize(
    "make",
    [
        wrong_password,
        lambda: ora(942, "table or view does not exist"),
        lambda: ora(1031, "insufficient privileges"),
        lambda: ora(28000, "The account is locked."),
        lambda: ora(20001, "OTASK: unknown instance 42"),
        lambda: ora(60, "deadlock detected while waiting for resource"),
        lambda: ora(1, "unique constraint violated"),
        lambda: dpy(ora_errors.ERR_NO_CREDENTIALS),
        lambda: ValueError("bad argument"),
    ],
)
def test_not_transient(make: Callable[[], BaseException]) -> None:
    assert not is_transient(make())


def test_every_listed_code_is_well_formed() -> None:
    assert all(code[:4] in {"ORA-", "DPY-"} and code[4:].isdigit() for code in TRANSIENT_CODES)


def test_error_raised_while_handling_a_transient_one_is_not_transient() -> None:
    def handler_with_bug() -> None:
        try:
            raise dpy(ora_errors.ERR_CONNECTION_CLOSED)
        except oracledb.Error:
            raise ValueError("bug in the handler")  # noqa: B904 - implicit __context__ on purpose

    with pytest.raises(ValueError, match="bug in the handler") as info:
        handler_with_bug()
    assert info.value.__context__ is not None
    assert not is_transient(info.value)


def test_wrapped_cause_counts() -> None:
    outer = RuntimeError("wrapper")
    outer.__cause__ = ora(3113, "end-of-file on communication channel")
    assert is_transient(outer)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    low = [backoff_delay(n, base_delay=1.0, max_delay=10.0, rand=lambda: 0.0) for n in range(1, 7)]
    high = [backoff_delay(n, base_delay=1.0, max_delay=10.0, rand=lambda: 1.0) for n in range(1, 7)]
    assert low == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert high == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert 0.5 <= backoff_delay(1, base_delay=1.0, max_delay=10.0) <= 1.0


def test_retry_transient_then_success(caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[BaseException | str] = [
        ora(3113, "end-of-file on communication channel"),
        connect_failed(),
        "ok",
    ]
    sleeps: list[float] = []

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    with caplog.at_level(logging.WARNING):
        result = retry(call, attempts=5, base_delay=1.0, max_delay=30.0, sleep=sleeps.append)
    assert result == "ok"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0
    messages = [r.getMessage() for r in caplog.records]
    assert any("DPY-4011/ORA-03113" in m and "attempt 1 of 5" in m for m in messages)
    assert any("DPY-6005" in m and "attempt 2 of 5" in m for m in messages)


def test_retry_raises_non_transient_at_once() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def call() -> None:
        calls.append(1)
        raise wrong_password()

    with pytest.raises(oracledb.DatabaseError) as info:
        retry(call, attempts=5, sleep=sleeps.append)
    assert info.value.args[0].full_code == "ORA-01017"
    assert calls == [1]
    assert sleeps == []


def test_retry_gives_up_after_attempts() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise connect_failed()

    with pytest.raises(oracledb.OperationalError) as info:
        retry(call, attempts=3, base_delay=0.0, sleep=lambda _: None)
    assert len(calls) == 3
    assert "Gave up after 3 attempts" in "\n".join(info.value.__notes__)


def test_retry_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="attempts"):
        retry(lambda: None, attempts=0)


@pytest.mark.asyncio
async def test_retry_async_transient_then_success(caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[BaseException | int] = [ora(12541, "TNS:no listener"), 42]
    sleeps: list[float] = []

    async def call() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    log = logging.getLogger("test.retry_async")
    with caplog.at_level(logging.WARNING, logger="test.retry_async"):
        result = await retry_async(
            call, attempts=4, base_delay=2.0, max_delay=30.0, log=log, what="status read", sleep=fake_sleep
        )
    assert result == 42
    assert len(sleeps) == 1
    assert 1.0 <= sleeps[0] <= 2.0
    assert "ORA-12541" in caplog.records[0].getMessage()
    assert "status read" in caplog.records[0].getMessage()


@pytest.mark.asyncio
async def test_retry_async_non_transient_at_once() -> None:
    calls: list[int] = []

    async def call() -> None:
        calls.append(1)
        raise wrong_password()

    with pytest.raises(oracledb.DatabaseError) as info:
        await retry_async(call, attempts=5, base_delay=0.0, max_delay=0.0, log=None)
    assert info.value.args[0].full_code == "ORA-01017"
    assert calls == [1]


@pytest.mark.asyncio
async def test_retry_async_never_swallows_cancellation() -> None:
    async def call() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry_async(call, attempts=5, base_delay=0.0, max_delay=0.0, log=None)


def test_describe_wrong_password() -> None:
    text = describe_db_error(wrong_password(), "oracle_default")
    assert text == (
        "ORA-01017: invalid username/password; logon denied. "
        "Fix: check login and password of Airflow connection 'oracle_default'."
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (connect_failed, "check host and port of Airflow connection 'c' (dsn db:1521/FREEPDB1)"),
        (lambda: ora(12541, "TNS:no listener"), "check host and port"),
        (lambda: ora(12514, "TNS:listener does not currently know of service"), "check the service name"),
        (
            lambda: dpy(ora_errors.ERR_INVALID_SERVICE_NAME, service_name="FREEPDB9", host="h", port=1521),
            "check the service name",
        ),
        (lambda: ora(1031, "insufficient privileges"), "sql/grants.sql"),
        (lambda: ora(28000, "The account is locked."), "ACCOUNT UNLOCK"),
        (lambda: ora(942, "table or view does not exist"), "sql/install.sql"),
        (lambda: ora(3113, "end-of-file on communication channel"), None),
    ],
)
def test_describe_hints(make: Callable[[], BaseException], expected: str | None) -> None:
    text = describe_db_error(make(), "c", dsn="db:1521/FREEPDB1")
    assert "Help:" not in text
    if expected is None:
        assert "Fix:" not in text
    else:
        assert expected in text


def test_describe_keeps_the_wrapped_ora_line() -> None:
    text = describe_db_error(ora(3113, "end-of-file on communication channel"))
    assert text.startswith("DPY-4011: the database or network closed the connection ORA-03113")


def test_describe_engine_error_is_passed_through() -> None:
    text = describe_db_error(ora(20001, "OTASK: unknown instance 42; list them in OTASK_INSTANCES_V"))
    assert text == "ORA-20001: OTASK: unknown instance 42; list them in OTASK_INSTANCES_V"


def test_describe_other_exceptions() -> None:
    assert describe_db_error(ValueError("bad")) == "ValueError: bad"
    missing = describe_db_error(AirflowNotFoundException("The conn_id `x` isn't defined"), "x")
    assert "Fix: create Airflow connection 'x'" in missing

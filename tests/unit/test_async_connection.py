"""Shared async pools for triggers, against a counting fake of the oracledb asyncio API.

Only ``oracledb.create_pool_async`` and ``oracledb.connect_async`` are faked; the Airflow side
is real. Connections come from ``AIRFLOW_CONN_<ID>`` environment variables in JSON form and are
read through the real Airflow 3 ``BaseHook.aget_connection``: outside a task or triggerer (no
``SUPERVISOR_COMMS``, no ``_AIRFLOW_PROCESS_CONTEXT``) the task SDK falls back to the
environment-variable secrets backend, so no supervisor channel is needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import oracledb
import pytest
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from oracledb import errors as ora_errors

from airflow_provider_oracle_tasks.db import async_connection
from airflow_provider_oracle_tasks.db.async_connection import (
    AsyncOraclePools,
    PoolSlotTimeout,
    dedicated_connection,
    oracle_async_connection,
)
from airflow_provider_oracle_tasks.db.connection_params import ThickModeNotSupportedError
from tests.unit.driver_errors import driver_exception

CONN_ID = "ora_test"


def ora(code: int, text: str) -> oracledb.Error:
    err = oracledb._Error(f"ORA-{code:05d}: {text}", code=code)
    exc = err.exc_type(err)
    assert isinstance(exc, oracledb.Error)
    return exc


def connect_failed() -> oracledb.Error:
    exc = driver_exception(ora_errors.ERR_CONNECTION_FAILED, connection_id="abc")
    assert isinstance(exc, oracledb.Error)
    return exc


class FakeConnection:
    def __init__(self, driver: FakeDriver, kwargs: dict[str, Any]) -> None:
        self.driver = driver
        self.kwargs = kwargs
        self.call_timeout = 0
        self.module = ""
        self.current_schema = ""
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        self.driver.closed_connections += 1


class FakePool:
    def __init__(self, driver: FakeDriver, kwargs: dict[str, Any]) -> None:
        self.driver = driver
        self.kwargs = kwargs
        self.busy = 0
        self.max_busy = 0
        self.acquires = 0
        self.closed = False

    async def acquire(self) -> FakeConnection:
        self.acquires += 1
        await asyncio.sleep(0)  # let other tasks interleave, as a network round trip would
        if self.closed:
            raise driver_exception(ora_errors.ERR_POOL_NOT_OPEN)
        if self.driver.acquire_failures:
            raise self.driver.acquire_failures.pop(0)
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)
        return FakeConnection(self.driver, self.kwargs)

    async def release(self, conn: FakeConnection) -> None:
        self.busy -= 1
        conn.closed = True
        self.driver.returned.append(("release", conn))

    async def drop(self, conn: FakeConnection) -> None:
        self.busy -= 1
        conn.closed = True
        self.driver.returned.append(("drop", conn))

    async def close(self, force: bool = False) -> None:
        self.closed = True


class FakeDriver:
    """Counts pools and connections; scripted failures are raised by the next acquires/connects."""

    def __init__(self) -> None:
        self.pools: list[FakePool] = []
        self.standalone: list[FakeConnection] = []
        self.acquire_failures: list[BaseException] = []
        self.connect_failures: list[BaseException] = []
        self.connect_calls = 0
        self.closed_connections = 0
        self.returned: list[tuple[str, FakeConnection]] = []

    def create_pool_async(self, **kwargs: Any) -> FakePool:
        asyncio.get_running_loop()  # the real one needs a running loop too
        pool = FakePool(self, kwargs)
        self.pools.append(pool)
        return pool

    async def connect_async(self, **kwargs: Any) -> FakeConnection:
        self.connect_calls += 1
        await asyncio.sleep(0)
        if self.connect_failures:
            raise self.connect_failures.pop(0)
        conn = FakeConnection(self, kwargs)
        self.standalone.append(conn)
        return conn


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = CONN_ID, **fields: Any) -> None:
    value = {
        "conn_type": "oracle",
        "host": "dbhost",
        "port": 1521,
        "login": "otask_user",
        "password": "s3cret-pw",
        **fields,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> FakeDriver:
    fake = FakeDriver()
    monkeypatch.setattr(oracledb, "create_pool_async", fake.create_pool_async)
    monkeypatch.setattr(oracledb, "connect_async", fake.connect_async)

    def no_blocking_sleep(_: float) -> None:
        raise AssertionError("time.sleep called: async code must not block the event loop")

    monkeypatch.setattr(time, "sleep", no_blocking_sleep)
    set_conn(monkeypatch, schema="FREEPDB1")
    return fake


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count real ``aget_connection`` calls (the real method still runs)."""
    calls: list[str] = []
    original = BaseHook.aget_connection

    async def counting(cls: type[BaseHook], conn_id: str) -> Any:
        calls.append(conn_id)
        return await original(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(counting))
    return calls


def make_pools(**kwargs: Any) -> AsyncOraclePools:
    return AsyncOraclePools(base_delay=0.0, max_delay=0.0, **kwargs)


@pytest.mark.asyncio
async def test_real_aget_connection_reads_env_var_outside_task_context(driver: FakeDriver) -> None:
    conn = await BaseHook.aget_connection(CONN_ID)
    assert (conn.host, conn.schema, conn.login) == ("dbhost", "FREEPDB1", "otask_user")
    params = await async_connection.aget_connect_params(CONN_ID)
    assert params.dsn == oracledb.makedsn("dbhost", 1521, service_name="FREEPDB1")


@pytest.mark.asyncio
async def test_thousand_concurrent_acquires_create_one_pool(driver: FakeDriver, lookups: list[str]) -> None:
    pools = make_pools()
    seen_timeouts: list[int] = []

    async def use() -> None:
        async with pools.acquire(CONN_ID) as conn:
            seen_timeouts.append(conn.call_timeout)
            await asyncio.sleep(0)

    await asyncio.gather(*(use() for _ in range(1000)))
    assert len(driver.pools) == 1
    assert lookups == [CONN_ID]
    pool = driver.pools[0]
    assert pool.acquires == 1000
    assert pool.max_busy <= 4
    assert pool.busy == 0
    assert seen_timeouts == [60_000] * 1000
    kwargs = pool.kwargs
    assert (kwargs["min"], kwargs["max"], kwargs["getmode"]) == (0, 4, oracledb.POOL_GETMODE_TIMEDWAIT)
    assert kwargs["user"] == "otask_user"
    assert kwargs["password"] == "s3cret-pw"
    assert kwargs["dsn"] == oracledb.makedsn("dbhost", 1521, service_name="FREEPDB1")
    assert pools.pool_count() == 1
    await pools.close_all()
    assert pool.closed
    assert pools.pool_count() == 0


@pytest.mark.asyncio
async def test_pool_size_from_connection_extra(driver: FakeDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "ora_small", extra={"service_name": "S", "oracle_tasks_async_pool_max": "2"})
    pools = make_pools()

    async def use() -> None:
        async with pools.acquire("ora_small"):
            await asyncio.sleep(0)

    await asyncio.gather(*(use() for _ in range(50)))
    assert driver.pools[0].kwargs["max"] == 2
    assert driver.pools[0].max_busy <= 2
    await pools.close_all()


@pytest.mark.asyncio
async def test_one_pool_per_connection_id(driver: FakeDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "ora_other", extra={"service_name": "OTHER"})
    pools = make_pools()
    async with pools.acquire(CONN_ID), pools.acquire("ora_other"), pools.acquire(CONN_ID):
        pass
    assert len(driver.pools) == 2
    await pools.close_all()


@pytest.mark.asyncio
async def test_session_settings_and_per_use_call_timeout(
    driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, schema="APP_OWNER", extra={"service_name": "FREEPDB1", "module": "otask"})
    pools = make_pools()
    async with pools.acquire(CONN_ID, call_timeout=615) as conn:
        assert conn.call_timeout == 615_000
        assert (conn.current_schema, conn.module) == ("APP_OWNER", "otask")
    with pytest.raises(ValueError, match="call_timeout"):
        async with pools.acquire(CONN_ID, call_timeout=0):
            pass
    await pools.close_all()


@pytest.mark.asyncio
async def test_transient_acquire_errors_are_retried(
    driver: FakeDriver, caplog: pytest.LogCaptureFixture
) -> None:
    driver.acquire_failures = [ora(3113, "end-of-file on communication channel"), connect_failed()]
    pools = make_pools()
    with caplog.at_level(logging.WARNING):
        async with pools.acquire(CONN_ID) as conn:
            assert conn.call_timeout == 60_000
    assert driver.pools[0].acquires == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("DPY-4011/ORA-03113" in m for m in messages)
    assert any("DPY-6005" in m for m in messages)
    await pools.close_all()


@pytest.mark.asyncio
async def test_wrong_password_is_raised_at_once_with_hint_and_pool_is_rebuilt(
    driver: FakeDriver, lookups: list[str]
) -> None:
    driver.acquire_failures = [ora(1017, "invalid username/password; logon denied")]
    pools = make_pools()
    with pytest.raises(oracledb.DatabaseError) as info:
        async with pools.acquire(CONN_ID):
            pass
    assert info.value.args[0].full_code == "ORA-01017"
    assert driver.pools[0].acquires == 1
    assert any(
        "Fix: check login and password of Airflow connection 'ora_test'" in n for n in info.value.__notes__
    )
    assert driver.pools[0].closed  # evicted: its last user closed it

    async with pools.acquire(CONN_ID):  # e.g. after the password was fixed in Airflow
        pass
    assert len(driver.pools) == 2
    assert lookups == [CONN_ID, CONN_ID]
    await pools.close_all()


@pytest.mark.asyncio
async def test_thick_mode_connection_is_rejected_before_any_pool(
    driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, extra={"service_name": "S", "thick_mode": True})
    pools = make_pools()
    with pytest.raises(ThickModeNotSupportedError, match="thick_mode"):
        async with pools.acquire(CONN_ID):
            pass
    assert driver.pools == []


@pytest.mark.asyncio
async def test_missing_connection_is_not_retried(driver: FakeDriver) -> None:
    pools = make_pools()
    with pytest.raises(AirflowNotFoundException):
        async with pools.acquire("no_such_conn"):
            pass
    assert driver.pools == []


@pytest.mark.asyncio
async def test_release_and_slot_on_error_in_body(driver: FakeDriver) -> None:
    pools = make_pools(pool_max=1)
    with pytest.raises(RuntimeError):
        async with pools.acquire(CONN_ID):
            raise RuntimeError("trigger bug")
    assert driver.pools[0].busy == 0
    async with pools.acquire(CONN_ID):  # the single slot was given back
        pass
    await pools.close_all()


@pytest.mark.asyncio
async def test_waiting_for_a_slot_is_bounded(driver: FakeDriver) -> None:
    pools = make_pools(pool_max=1, slot_timeout=0.05)
    async with pools.acquire(CONN_ID):
        with pytest.raises(PoolSlotTimeout, match="oracle_tasks_async_pool_max"):
            async with pools.acquire(CONN_ID):
                pass
    await pools.close_all()


def test_a_pool_is_never_shared_between_event_loops(driver: FakeDriver) -> None:
    pools = make_pools()

    async def use() -> int:
        async with pools.acquire(CONN_ID):
            pass
        return pools.pool_count()

    assert asyncio.run(use()) == 1
    assert asyncio.run(use()) == 1  # the closed loop's pool was dropped, a new one made
    assert len(driver.pools) == 2


@pytest.mark.asyncio
async def test_module_level_shared_pools(driver: FakeDriver) -> None:
    async with oracle_async_connection(CONN_ID) as first:
        pass
    async with oracle_async_connection(CONN_ID, call_timeout=5) as second:
        assert second.call_timeout == 5000
    assert first is not second
    assert len(driver.pools) == 1
    await async_connection.close_all()
    assert async_connection.default_pools.pool_count() == 0


@pytest.mark.asyncio
async def test_dedicated_connection_retries_and_closes(driver: FakeDriver) -> None:
    driver.connect_failures = [ora(12541, "TNS:no listener")]
    async with dedicated_connection(CONN_ID, call_timeout=630, base_delay=0.0, max_delay=0.0) as conn:
        assert isinstance(conn, FakeConnection)
        assert conn.call_timeout == 630_000
        assert conn.kwargs["dsn"] == oracledb.makedsn("dbhost", 1521, service_name="FREEPDB1")
        assert not conn.closed
    assert conn.closed
    assert driver.connect_calls == 2
    assert driver.pools == []


@pytest.mark.asyncio
async def test_dedicated_connection_wrong_password_at_once(driver: FakeDriver) -> None:
    driver.connect_failures = [ora(1017, "invalid username/password; logon denied")]
    with pytest.raises(oracledb.DatabaseError) as info:
        async with dedicated_connection(CONN_ID, base_delay=0.0, max_delay=0.0):
            pass
    assert driver.connect_calls == 1
    assert info.value.args[0].full_code == "ORA-01017"
    assert "Fix: check login and password" in "\n".join(info.value.__notes__)


def _closed_local_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.asyncio
async def test_real_driver_accepts_the_pool_arguments_and_reports_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real oracledb (no fake) against a closed local port: no database, just a refused TCP connect."""
    port = _closed_local_port()
    set_conn(
        monkeypatch,
        "ora_nowhere",
        host="127.0.0.1",
        port=port,
        extra={"service_name": "FREEPDB1", "events": False, "expire_time": 2, "module": "otask"},
    )
    pools = AsyncOraclePools(attempts=2, base_delay=0.0, max_delay=0.0, pool_wait_timeout=10)
    with pytest.raises(oracledb.OperationalError) as info:
        async with pools.acquire("ora_nowhere"):
            pass
    assert info.value.args[0].full_code == "DPY-6005"
    notes = "\n".join(info.value.__notes__)
    assert "Gave up after 2 attempts" in notes
    assert "Fix: check host and port of Airflow connection 'ora_nowhere'" in notes
    await pools.close_all()

    with pytest.raises(oracledb.OperationalError) as info:
        async with dedicated_connection("ora_nowhere", attempts=1):
            pass
    assert info.value.args[0].full_code == "DPY-6005"


@pytest.mark.asyncio
async def test_a_session_cut_by_cancellation_is_dropped_not_released(driver: FakeDriver) -> None:
    """A-17: a round trip cancelled half-way may leave the protocol out of step."""
    pools = make_pools()
    entered = asyncio.Event()

    async def use() -> None:
        async with pools.acquire(CONN_ID):
            entered.set()
            await asyncio.sleep(60)  # a server-side wait, cancelled by the last subscriber leaving

    task = asyncio.create_task(use())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [how for how, _ in driver.returned] == ["drop"]
    await pools.close_all()


@pytest.mark.asyncio
async def test_a_session_after_a_server_error_goes_back_to_the_pool(driver: FakeDriver) -> None:
    pools = make_pools()
    with pytest.raises(oracledb.DatabaseError):
        async with pools.acquire(CONN_ID):
            raise ora(942, "table or view does not exist")
    async with pools.acquire(CONN_ID):
        pass
    with pytest.raises(oracledb.DatabaseError):
        async with pools.acquire(CONN_ID):
            raise driver_exception(ora_errors.ERR_CALL_TIMEOUT_EXCEEDED, timeout=1000)
    assert [how for how, _ in driver.returned] == ["release", "release", "drop"]
    await pools.close_all()

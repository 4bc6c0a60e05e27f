"""Connection -> python-oracledb parameters, checked against OracleHook.get_conn itself.

No database: the parity tests replace ``oracledb.connect`` inside the Oracle provider with a
recorder and compare what OracleHook would pass with what ``build_connect_params`` returns.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import oracledb
import pytest
from airflow.providers.oracle.hooks.oracle import OracleHook
from airflow.sdk import Connection

from airflow_provider_oracle_tasks.db.connection_params import (
    ASYNC_POOL_MAX_EXTRA,
    OracleConnectParams,
    ThickModeNotSupportedError,
    build_connect_params,
)


def make_conn(
    *,
    host: str | None = "dbhost",
    port: int | None = None,
    schema: str | None = None,
    login: str | None = "otask_user",
    password: str | None = "s3cret-pw",
    extra: dict[str, Any] | None = None,
    conn_id: str = "ora_test",
) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="oracle",
        host=host,
        port=port,
        schema=schema,
        login=login,
        password=password,
        extra=json.dumps(extra) if extra is not None else None,
    )


class _RecordedConnection:
    """What OracleHook gets back from the patched ``oracledb.connect``."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs
        self.module: str | None = None
        self.current_schema: str | None = None


def oracle_hook_view(conn: Connection) -> _RecordedConnection:
    """Run the real OracleHook.get_conn against ``conn`` with a recording ``oracledb.connect``."""
    hook = OracleHook(oracle_conn_id=conn.conn_id)
    with (
        mock.patch.object(hook, "get_connection", return_value=conn),
        mock.patch(
            "airflow.providers.oracle.hooks.oracle.oracledb.connect",
            side_effect=lambda **kw: _RecordedConnection(kw),
        ),
    ):
        result = hook.get_conn()
    assert isinstance(result, _RecordedConnection)
    return result


PARITY_CASES: dict[str, dict[str, Any]] = {
    "service_name_extra_and_schema": {"schema": "APP", "extra": {"service_name": "FREEPDB1"}},
    "service_name_extra_port": {"port": 1522, "extra": {"service_name": "FREEPDB1"}},
    "sid_extra": {"port": 1522, "extra": {"sid": "FREE"}},
    "sid_extra_with_schema": {"schema": "APP", "extra": {"sid": "FREE"}},
    "dsn_extra_no_host": {"host": None, "extra": {"dsn": "tns_alias"}},
    "dsn_extra_no_host_with_schema": {"host": None, "schema": "APP", "extra": {"dsn": "tns_alias"}},
    "sid_and_service_name_use_dsn": {"extra": {"sid": "X", "service_name": "Y", "dsn": "db/Y"}},
    "sid_and_service_name_no_dsn": {"port": 1530, "extra": {"sid": "X", "service_name": "Y"}},
    "host_only": {},
    "host_and_port_only": {"port": 1600},
    "events_mode_purity": {
        "extra": {"service_name": "S", "events": True, "mode": "sysdba", "purity": "self"},
    },
    "unknown_mode_ignored": {"extra": {"service_name": "S", "mode": "nonsense", "purity": "nope"}},
    "expire_time_and_tls": {
        "extra": {
            "service_name": "S",
            "expire_time": 10,
            "wallet_location": "wallet-dir",
            "wallet_password": "wpw",
            "ssl_server_cert_dn": "CN=db",
            "ssl_server_dn_match": True,
            "cclass": "OTASK",
            "pool_name": "p1",
        }
    },
    "module": {"extra": {"service_name": "S", "module": "airflow-otask"}},
    "no_credentials": {"login": None, "password": None, "extra": {"service_name": "S"}},
}


REFERENCE_PROVIDER = (4, 7)
"""The OracleHook whose mapping these parity cases were written against. Thin mode does not use
OracleHook (its own mapping is the one under test); older providers (the floor is 4.0.0) map
fewer extras and are no reference, so the parity check is skipped there."""


def _oracle_provider_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("apache-airflow-providers-oracle").split(".")[:2])


@pytest.mark.skipif(
    _oracle_provider_version() < REFERENCE_PROVIDER,
    reason="parity reference is OracleHook 4.7+; older providers map fewer extras (thin mode ignores it)",
)
@pytest.mark.parametrize("case", list(PARITY_CASES), ids=list(PARITY_CASES))
def test_same_connect_kwargs_and_session_settings_as_oracle_hook(case: str) -> None:
    conn = make_conn(**PARITY_CASES[case])
    expected = oracle_hook_view(conn)
    params = build_connect_params(conn)
    assert dict(params.connect_kwargs) == expected.kwargs
    assert params.module == expected.module
    assert params.current_schema == expected.current_schema


def test_schema_is_the_service_name_when_no_service_name_or_sid() -> None:
    params = build_connect_params(make_conn(schema="FREEPDB1", port=1522))
    assert params.dsn == oracledb.makedsn("dbhost", 1522, service_name="FREEPDB1")
    assert params.connect_kwargs["user"] == "otask_user"
    assert params.connect_kwargs["password"] == "s3cret-pw"


def test_schema_used_as_service_name_is_not_also_the_current_schema() -> None:
    """OracleHook 4.7.1 would set current_schema='FREEPDB1' here (ORA-01435 on first use)."""
    conn = make_conn(schema="FREEPDB1")
    assert build_connect_params(conn).current_schema is None


def test_schema_is_current_schema_when_service_name_extra_is_set() -> None:
    params = build_connect_params(make_conn(schema="APP_OWNER", extra={"service_name": "FREEPDB1"}))
    assert params.dsn == oracledb.makedsn("dbhost", 1521, service_name="FREEPDB1")
    assert params.current_schema == "APP_OWNER"


def test_schema_with_sid_is_ignored_like_oracle_hook() -> None:
    params = build_connect_params(make_conn(schema="APP_OWNER", extra={"sid": "FREE"}))
    assert params.dsn == oracledb.makedsn("dbhost", 1521, "FREE")
    assert params.current_schema is None


def test_host_and_dsn_extra_with_schema_prefers_host_like_oracle_hook() -> None:
    params = build_connect_params(make_conn(schema="FREEPDB1", extra={"dsn": "ignored_alias"}))
    assert params.dsn == oracledb.makedsn("dbhost", 1521, service_name="FREEPDB1")
    assert params.current_schema is None


def test_string_booleans_become_booleans() -> None:
    params = build_connect_params(
        make_conn(extra={"service_name": "S", "events": "false", "ssl_server_dn_match": "True"})
    )
    assert params.connect_kwargs["events"] is False
    assert params.connect_kwargs["ssl_server_dn_match"] is True


def test_mode_and_purity_are_enums() -> None:
    params = build_connect_params(make_conn(extra={"service_name": "S", "mode": "SYSDBA", "purity": "new"}))
    assert params.connect_kwargs["mode"] == oracledb.AuthMode.SYSDBA
    assert params.connect_kwargs["purity"] == oracledb.Purity.NEW


def test_extras_argument_wins_over_extra_dejson() -> None:
    """Async callers pass ``await conn.aextra_dejson()`` instead of the sync property."""
    conn = make_conn(extra={"service_name": "FROM_PROPERTY"})
    params = build_connect_params(conn, {"service_name": "FROM_ARGUMENT"})
    assert params.dsn.endswith("(SERVICE_NAME=FROM_ARGUMENT)))")


def test_thick_mode_is_reported_and_rejected_for_async() -> None:
    conn = make_conn(extra={"service_name": "S", "thick_mode": "true", "thick_mode_lib_dir": "instantclient"})
    params = build_connect_params(conn)
    assert params.thick_mode is True
    assert params.thick_mode_lib_dir == "instantclient"
    with pytest.raises(ThickModeNotSupportedError, match=r"'ora_test'.*Remove the extra 'thick_mode'"):
        params.require_thin()


@pytest.mark.parametrize(("argument", "extra", "expected"), [(None, False, False), (True, False, True)])
def test_thick_mode_argument_overrides_extra(argument: bool | None, extra: bool, expected: bool) -> None:
    params = build_connect_params(make_conn(extra={"thick_mode": extra}), thick_mode=argument)
    assert params.thick_mode is expected


def test_thin_mode_passes_require_thin() -> None:
    build_connect_params(make_conn(extra={"thick_mode": "False"})).require_thin()


def test_thick_mode_dir_type_is_checked_like_oracle_hook() -> None:
    with pytest.raises(TypeError, match="thick_mode_lib_dir expected str or None"):
        build_connect_params(make_conn(extra={"thick_mode": True, "thick_mode_lib_dir": 1}))


def test_fetch_defaults_are_reported_not_applied() -> None:
    before = (oracledb.defaults.fetch_decimals, oracledb.defaults.fetch_lobs)
    params = build_connect_params(make_conn(extra={"fetch_decimals": "true", "fetch_lobs": False}))
    assert (params.fetch_decimals, params.fetch_lobs) == (True, False)
    assert (oracledb.defaults.fetch_decimals, oracledb.defaults.fetch_lobs) == before


@pytest.mark.parametrize(("raw", "expected"), [(None, None), (8, 8), ("3", 3), (" 2 ", 2)])
def test_async_pool_max_extra(raw: object, expected: int | None) -> None:
    extra = {} if raw is None else {ASYNC_POOL_MAX_EXTRA: raw}
    assert build_connect_params(make_conn(extra=extra)).async_pool_max == expected


@pytest.mark.parametrize("raw", [0, -1, "x", True, 2.5])
def test_bad_async_pool_max_extra_names_the_extra(raw: object) -> None:
    with pytest.raises(ValueError, match=ASYNC_POOL_MAX_EXTRA):
        build_connect_params(make_conn(extra={ASYNC_POOL_MAX_EXTRA: raw}))


def test_own_extras_are_not_passed_to_the_driver() -> None:
    params = build_connect_params(make_conn(extra={"service_name": "S", ASYNC_POOL_MAX_EXTRA: 2}))
    assert ASYNC_POOL_MAX_EXTRA not in params.connect_kwargs


def test_repr_never_shows_passwords() -> None:
    params = build_connect_params(make_conn(extra={"service_name": "S", "wallet_password": "wallet-pw"}))
    text = repr(params)
    assert "s3cret-pw" not in text
    assert "wallet-pw" not in text
    assert isinstance(params, OracleConnectParams)


def test_apply_session_settings() -> None:
    class Session:
        module = ""
        current_schema = ""

    session = Session()
    params = build_connect_params(
        make_conn(schema="APP_OWNER", extra={"service_name": "S", "module": "otask"})
    )
    params.apply_session_settings(session)
    assert (session.module, session.current_schema) == ("otask", "APP_OWNER")

    untouched = Session()
    build_connect_params(make_conn(schema="FREEPDB1")).apply_session_settings(untouched)
    assert (untouched.module, untouched.current_schema) == ("", "")

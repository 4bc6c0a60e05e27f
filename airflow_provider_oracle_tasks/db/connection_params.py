"""Map an Airflow ``oracle`` connection to python-oracledb connect keyword arguments, in one place.

The sync hook, the CLI and the async triggers must reach the same database as the same user as
``OracleHook.get_conn`` of apache-airflow-providers-oracle (4.7.x) does for the same connection,
so this module reproduces its thin-mode rules:

* DSN: extra ``sid`` with a host -> ``makedsn(host, port, sid)``; extra ``service_name`` with a
  host -> ``makedsn(host, port, service_name=...)``; otherwise extra ``dsn`` (a TNS alias, Easy
  Connect string or full descriptor); otherwise ``host[:port][/service_name]``. Port defaults
  to 1521 for ``makedsn``.
* The Schema field is the service name unless extra ``service_name`` or ``sid`` is set.
* ``current_schema`` is set to the Schema field after connecting only when the Schema field
  is *not* the service name in the DSN. OracleHook 4.7.1 also sets it when it has just used
  the Schema field as the service name (its own comment says it should not), which makes the
  first statement fail with ORA-01435 for the common ``schema=FREEPDB1`` setup; we follow the
  comment, not that slip. With extra ``sid`` set, the Schema field is ignored, as in OracleHook.
* Extras passed through: ``events`` (if present), ``mode`` (AuthMode name, e.g. ``sysdba``),
  ``purity`` (``new``/``self``/``default``), ``expire_time`` (if truthy), ``wallet_location``,
  ``wallet_password``, ``ssl_server_cert_dn``, ``ssl_server_dn_match``, ``cclass``,
  ``pool_name``; ``module`` is set on the connection after connecting. Unknown ``mode``/
  ``purity`` names are ignored, as in OracleHook. One deliberate difference: the strings
  ``"true"``/``"false"`` in ``events`` and ``ssl_server_dn_match`` become booleans (a JSON
  string ``"false"`` would otherwise be truthy).
* ``thick_mode`` / ``thick_mode_lib_dir`` / ``thick_mode_config_dir`` and ``fetch_decimals`` /
  ``fetch_lobs`` are reported, not applied: they change process-wide driver state, which only
  a sync caller may decide to do. The asyncio API exists only in thin mode, so the async path
  calls :meth:`OracleConnectParams.require_thin`, which names the extra to remove.

Provider-specific extra: ``oracle_tasks_async_pool_max`` (int >= 1), the size of the triggerer's
shared async pool for this connection id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import oracledb

__all__ = [
    "ASYNC_POOL_MAX_EXTRA",
    "DEFAULT_DB_PORT",
    "ConnectionLike",
    "OracleConnectParams",
    "ThickModeNotSupportedError",
    "build_connect_params",
]

DEFAULT_DB_PORT = 1521
ASYNC_POOL_MAX_EXTRA = "oracle_tasks_async_pool_max"

_PASSTHROUGH_EXTRAS = (
    "wallet_location",
    "wallet_password",
    "ssl_server_cert_dn",
    "ssl_server_dn_match",
    "cclass",
    "pool_name",
)
_BOOL_EXTRAS = frozenset({"events", "ssl_server_dn_match"})


class ThickModeNotSupportedError(ValueError):
    """The connection asks for thick mode where only thin mode can work (asyncio, triggers)."""


class ConnectionLike(Protocol):
    """The parts of an Airflow Connection (task SDK or core model) this module reads."""

    @property
    def conn_id(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def schema(self) -> str | None: ...

    @property
    def login(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


class SessionLike(Protocol):
    """A sync or async python-oracledb connection: both expose these as plain attributes."""

    module: str
    current_schema: str


@dataclass(frozen=True)
class OracleConnectParams:
    """Everything needed to open a session the way OracleHook would, minus any driver side effect.

    ``connect_kwargs`` go to ``oracledb.connect``, ``connect_async``, ``create_pool`` or
    ``create_pool_async`` unchanged; it holds the password, so it is left out of ``repr``.
    """

    conn_id: str | None
    connect_kwargs: Mapping[str, Any] = field(repr=False)
    current_schema: str | None = None
    module: str | None = None
    thick_mode: bool = False
    thick_mode_lib_dir: str | None = None
    thick_mode_config_dir: str | None = None
    fetch_decimals: bool | None = None
    fetch_lobs: bool | None = None
    async_pool_max: int | None = None

    @property
    def dsn(self) -> str:
        """The DSN only (no credentials), for messages such as 'check host and port'."""
        return str(self.connect_kwargs.get("dsn") or "")

    @property
    def user(self) -> str | None:
        return self.connect_kwargs.get("user")

    def require_thin(self) -> None:
        """Raise if the connection asks for thick mode: python-oracledb's asyncio API is thin only."""
        if self.thick_mode:
            name = f"'{self.conn_id}'" if self.conn_id else "of this task"
            raise ThickModeNotSupportedError(
                f"Airflow connection {name} sets extra 'thick_mode' to true, but triggers use "
                "python-oracledb's asyncio API, which exists only in thin mode. Remove the extra "
                "'thick_mode' (and 'thick_mode_lib_dir'/'thick_mode_config_dir') from the "
                "connection, or give deferrable tasks a separate thin-mode connection id."
            )

    def apply_session_settings(self, conn: SessionLike) -> None:
        """Set ``module`` and ``current_schema`` after connecting, as OracleHook does.

        Both are sent with the next round trip, so this costs no extra call; repeating it on
        every pool acquire is harmless and keeps reused sessions consistent.
        """
        if self.module is not None:
            conn.module = self.module
        if self.current_schema:
            conn.current_schema = self.current_schema


def _get_bool(value: Any) -> bool | None:
    """OracleHook's reading of a boolean extra: a bool, or the strings 'true'/'false'."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def _get_first_bool(*values: Any) -> bool | None:
    for value in values:
        converted = _get_bool(value)
        if converted is not None:
            return converted
    return None


def _optional_str(extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name)
    if not isinstance(value, str | None):
        raise TypeError(f"{name} expected str or None, got {type(value).__name__}")
    return value


def _pool_max(extras: Mapping[str, Any], conn_id: str | None) -> int | None:
    raw = extras.get(ASYNC_POOL_MAX_EXTRA)
    if raw is None or raw == "":
        return None
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    if value is None or value < 1:
        raise ValueError(
            f"Extra '{ASYNC_POOL_MAX_EXTRA}' of Airflow connection '{conn_id}' must be an integer "
            f">= 1, got {raw!r}."
        )
    return value


def _build_dsn(conn: ConnectionLike, extras: Mapping[str, Any]) -> tuple[str, str | None, bool]:
    """Return (dsn, service_name, schema_is_service_in_dsn) following OracleHook.get_conn."""
    sid = extras.get("sid")
    service_name = extras.get("service_name")
    schema = conn.schema
    schema_is_service = False
    if not service_name and not sid and schema:
        service_name = schema
        schema_is_service = True
    port = conn.port if conn.port else DEFAULT_DB_PORT
    if conn.host and sid and not service_name:
        return oracledb.makedsn(conn.host, port, sid), service_name, False
    if conn.host and service_name and not sid:
        dsn = oracledb.makedsn(conn.host, port, service_name=service_name)
        return dsn, service_name, schema_is_service
    extra_dsn = extras.get("dsn")
    if extra_dsn is not None:
        return str(extra_dsn), service_name, False
    dsn = conn.host or ""
    if conn.port is not None:
        dsn += f":{conn.port}"
    if service_name:
        dsn += f"/{service_name}"
    return dsn, service_name, schema_is_service


def build_connect_params(
    conn: ConnectionLike,
    extras: Mapping[str, Any] | None = None,
    *,
    thick_mode: bool | None = None,
) -> OracleConnectParams:
    """Translate ``conn`` into :class:`OracleConnectParams` without touching the network or driver.

    ``extras`` is the parsed extra dict. Async callers must pass ``await conn.aextra_dejson()``:
    the sync ``extra_dejson`` property masks secrets through a blocking supervisor call, which
    must not run on the triggerer's event loop. Sync callers may omit it.
    ``thick_mode`` overrides the extra of the same name, as the OracleHook argument does.
    """
    extra: Mapping[str, Any] = conn.extra_dejson if extras is None else extras
    kwargs: dict[str, Any] = {"user": conn.login, "password": conn.password}

    dsn, service_name, schema_is_service = _build_dsn(conn, extra)
    kwargs["dsn"] = dsn

    if "events" in extra:
        kwargs["events"] = extra.get("events")

    mode_name = extra.get("mode")
    if isinstance(mode_name, str) and mode_name:
        auth_mode = getattr(oracledb.AuthMode, mode_name.upper(), None)
        if auth_mode is not None:
            kwargs["mode"] = auth_mode

    purity_name = extra.get("purity")
    if isinstance(purity_name, str) and purity_name:
        purity = getattr(oracledb.Purity, purity_name.upper(), None)
        if purity is not None:
            kwargs["purity"] = purity

    expire_time = extra.get("expire_time")
    if expire_time:
        kwargs["expire_time"] = expire_time

    for name in _PASSTHROUGH_EXTRAS:
        value = extra.get(name)
        if value is not None:
            kwargs[name] = value

    for name in _BOOL_EXTRAS:
        if name in kwargs:
            converted = _get_bool(kwargs[name])
            if converted is not None:
                kwargs[name] = converted

    use_thick = _get_first_bool(thick_mode, extra.get("thick_mode")) is True
    lib_dir = _optional_str(extra, "thick_mode_lib_dir") if use_thick else None
    config_dir = _optional_str(extra, "thick_mode_config_dir") if use_thick else None

    schema = conn.schema
    current_schema = schema if schema and service_name and not schema_is_service else None
    module = extra.get("module")

    return OracleConnectParams(
        conn_id=conn.conn_id,
        connect_kwargs=kwargs,
        current_schema=current_schema,
        module=str(module) if module is not None else None,
        thick_mode=use_thick,
        thick_mode_lib_dir=lib_dir,
        thick_mode_config_dir=config_dir,
        fetch_decimals=_get_bool(extra.get("fetch_decimals")),
        fetch_lobs=_get_bool(extra.get("fetch_lobs")),
        async_pool_max=_pool_max(extra, conn.conn_id),
    )

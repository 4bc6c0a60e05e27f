"""Which Oracle errors are worth retrying, how to retry them, and how to explain any of them.

One classification serves the sync hook, the CLI, the operators and the triggers, so a code is
either retried everywhere or nowhere, and every user-facing error message is built by
:func:`describe_db_error`.

Transient errors
================

A transient error is one where the *same* call, made again on a fresh or re-acquired session a few
seconds later, can succeed without anyone changing anything. Everything else fails at once, so a
wrong password or a missing grant is reported in seconds instead of after a retry budget.

Retrying is only safe for idempotent work (connecting, acquiring, status reads, calls that the
engine makes idempotent on the run key). :func:`retry` and :func:`retry_async` do not know what
``fn`` does: callers must not wrap a non-idempotent call whose outcome is unknown (for example a
commit that failed with DPY-4011) in them.

============  ===============================================================================
Code          Why it is transient
============  ===============================================================================
DPY-4005      Pool wait timed out: every pooled connection was busy; one frees up shortly.
DPY-4011      The database or network closed the connection. The session is dead, a new one
              is the only way forward. python-oracledb maps ORA-00028 (session killed),
              ORA-01012, ORA-01041, ORA-01089, ORA-01092, ORA-02396 (idle time), ORA-03113,
              ORA-03114, ORA-03122, ORA-03135, ORA-12537, ORA-12547, ORA-12570, ORA-12583 and
              similar to this code (the ORA number stays in ``.code``).
DPY-4024      Call timeout exceeded: one round trip was slower than ``call_timeout`` (busy
              database, network stall); the next attempt usually fits.
DPY-4033      The database closed an idle connection; reconnecting fixes it.
DPY-6000      Listener refused the connection (thin-mode form of ORA-12516/12519/12520/12528:
              no free handler, or instance blocking new connections while it starts).
DPY-6001      Service not registered with the listener (thin-mode ORA-12514). Right after an
              instance (re)start the service registers up to a minute late. A misspelt service
              name fails the same way; the retry budget is small and the final message says
              to check the service name.
DPY-6003      SID not registered with the listener (thin-mode ORA-12505); same reasoning.
DPY-6005      Cannot connect (connection refused, unreachable, TCP timeout): listener or host
              restarting, network blip. A wrong host or port fails the same way; bounded
              retries, then the message says to check host and port.
ORA-00018     Maximum sessions exceeded: the database is saturated (e.g. many OTASK workers).
ORA-00020     Maximum processes exceeded: as above.
ORA-01033     Initialisation or shutdown in progress.
ORA-01034     Oracle not available (instance down, usually being restarted).
ORA-01089     Immediate shutdown in progress.
ORA-01090     Shutdown in progress.
ORA-01092     Instance terminated; the client reconnects to the restarted instance.
ORA-03113     End-of-file on communication channel (thick mode; thin reports DPY-4011).
ORA-03114     Not connected (thick mode; thin reports DPY-4011).
ORA-03135     Connection lost contact (thick mode; thin reports DPY-4011).
ORA-03136     Inbound connection timed out (server side connect timeout under load).
ORA-03156     OCI call timed out (thick-mode form of DPY-4024).
ORA-04068     Existing state of packages discarded: the first call in each old session after
              ``OTASK`` is upgraded or recompiled fails once; the package did not run, and the
              next call re-instantiates it.
ORA-12170     Connect timeout.
ORA-12505     SID unknown to the listener (thick-mode DPY-6003).
ORA-12514     Service unknown to the listener (thick-mode DPY-6001).
ORA-12516     Listener found no available handler.
ORA-12519     No appropriate service handler (process limit reached).
ORA-12520     No available handler for the requested server type.
ORA-12528     Instance blocks new connections (starting up or restricted).
ORA-12537     Connection closed.
ORA-12541     No listener (listener restarting).
ORA-12543     Destination host unreachable.
ORA-12547     Lost contact.
ORA-12571     Packet writer failure.
ORA-12757     Instance does not currently know of the requested service.
ORA-25408     Cannot safely replay call (after a failover): retry on a new session.
============  ===============================================================================

Also transient: any error that python-oracledb itself flags ``isrecoverable`` (its own list,
e.g. ORA-00376, ORA-01115), and the builtin :class:`ConnectionError` / :class:`TimeoutError`
for socket failures that reach us unwrapped.

Never transient (raised at once even if the driver flags them otherwise): ORA-01017 (wrong
login/password), ORA-28000 (account locked), ORA-28001 (password expired), ORA-01005 / DPY-4001
(no password), ORA-01031 (insufficient privileges), ORA-00942 (table or view does not exist),
ORA-00060 / ORA-00054 (deadlock, resource busy: the caller's transaction logic decides), every
``ORA-20xxx`` raised by the engine, and every configuration error (DPY-4000, DPY-4017, DPY-4026,
DPY-4027, DPY-6002, DPY-6006, thick-mode requests on the async path).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar, cast

import oracledb

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "NEVER_TRANSIENT_CODES",
    "TRANSIENT_CODES",
    "backoff_delay",
    "describe_db_error",
    "error_codes",
    "is_transient",
    "primary_code",
    "retry",
    "retry_async",
]

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
"""Total tries, first one included: about 1 + 2 + 4 + 8 s of waiting with the default delays."""
DEFAULT_BASE_DELAY = 1.0
"""Seconds before the first retry (before jitter); doubles on every further retry."""
DEFAULT_MAX_DELAY = 30.0
"""Upper bound of one wait in seconds, so a long outage is polled, not waited out blindly."""

TRANSIENT_CODES: frozenset[str] = frozenset(
    {
        "DPY-4005",
        "DPY-4011",
        "DPY-4024",
        "DPY-4033",
        "DPY-6000",
        "DPY-6001",
        "DPY-6003",
        "DPY-6005",
        "ORA-00018",
        "ORA-00020",
        "ORA-01033",
        "ORA-01034",
        "ORA-01089",
        "ORA-01090",
        "ORA-01092",
        "ORA-03113",
        "ORA-03114",
        "ORA-03135",
        "ORA-03136",
        "ORA-03156",
        "ORA-04068",
        "ORA-12170",
        "ORA-12505",
        "ORA-12514",
        "ORA-12516",
        "ORA-12519",
        "ORA-12520",
        "ORA-12528",
        "ORA-12537",
        "ORA-12541",
        "ORA-12543",
        "ORA-12547",
        "ORA-12571",
        "ORA-12757",
        "ORA-25408",
    }
)
"""Codes (``full_code`` form) that justify a retry; see the module docstring for each reason."""

NEVER_TRANSIENT_CODES: frozenset[str] = frozenset(
    {
        "ORA-01017",
        "ORA-28000",
        "ORA-28001",
        "ORA-01005",
        "DPY-4001",
        "ORA-01031",
        "ORA-00942",
        "ORA-00060",
        "ORA-00054",
    }
)
"""Codes that are raised at once, whatever else the error says about itself."""

_MAX_CHAIN = 8
_SIMILAR_TO_RE = re.compile(r"Similar to (ORA-\d{5})")
_ENGINE_ERROR_RE = re.compile(r"^ORA-20\d{3}$")


class _OracleErrorInfo(Protocol):
    """The attributes of ``oracledb._Error`` this module reads (``exc.args[0]``)."""

    @property
    def full_code(self) -> str: ...

    @property
    def code(self) -> int: ...

    @property
    def message(self) -> str: ...

    @property
    def isrecoverable(self) -> bool: ...


class RetryLogger(Protocol):
    """Anything with ``warning`` in the stdlib style: logging.Logger, LoggerAdapter, ``self.log``."""

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


_log = logging.getLogger(__name__)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and its causes: thin mode wraps e.g. DPY-4011 inside DPY-6005."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        # Only explicit causes: python-oracledb sets __cause__ when it wraps an error; an implicit
        # __context__ (an error raised while handling another) must not borrow its codes.
        current = current.__cause__


def _error_info(exc: BaseException) -> _OracleErrorInfo | None:
    """Return the ``_Error`` object of a python-oracledb exception, else None."""
    if isinstance(exc, oracledb.Error) and exc.args:
        info = exc.args[0]
        if hasattr(info, "full_code") and hasattr(info, "code"):
            return cast(_OracleErrorInfo, info)
    return None


def _codes_of(info: _OracleErrorInfo) -> list[str]:
    codes: list[str] = []
    if info.full_code:
        codes.append(info.full_code)
    if info.code:
        ora = f"ORA-{info.code:05d}"
        if ora not in codes:
            codes.append(ora)
    similar = _SIMILAR_TO_RE.search(info.message or "")
    if similar and similar.group(1) not in codes:
        codes.append(similar.group(1))
    return codes


def error_codes(exc: BaseException) -> list[str]:
    """All ORA/DPY codes carried by ``exc`` and its causes, outermost first.

    Thin mode reports ORA-03113 as ``full_code`` DPY-4011 with ``code`` 3113, and a failed
    connect as DPY-6005 caused by another error, so one exception can carry several codes.
    """
    codes: list[str] = []
    for item in _chain(exc):
        info = _error_info(item)
        if info is not None:
            codes.extend(code for code in _codes_of(info) if code not in codes)
    return codes


def primary_code(exc: BaseException) -> str | None:
    """The code to show in logs: the ``full_code`` plus the ORA number it maps, e.g. DPY-4011/ORA-03113."""
    info = _error_info(exc)
    if info is None:
        return None
    codes = _codes_of(info)
    return "/".join(codes[:2]) if codes else None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same idempotent call later can succeed (see the module table)."""
    codes = error_codes(exc)
    if any(code in NEVER_TRANSIENT_CODES or _ENGINE_ERROR_RE.match(code) for code in codes):
        return False
    if any(code in TRANSIENT_CODES for code in codes):
        return True
    for item in _chain(exc):
        info = _error_info(item)
        if info is not None and info.isrecoverable:
            return True
        if info is None and isinstance(item, ConnectionError | TimeoutError):
            return True
    return False


def backoff_delay(
    retry_number: int,
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based): exponential, capped, jittered.

    "Equal jitter": half of the capped exponential step is fixed, half random, so many triggers
    that lost the database at the same moment do not reconnect in lockstep, yet each still waits.
    """
    if retry_number < 1:
        raise ValueError(f"retry_number must be >= 1, got {retry_number}")
    step = min(max_delay, base_delay * (2.0 ** (retry_number - 1)))
    half = max(step, 0.0) / 2
    return half + half * rand()


def _check_retry_args(attempts: int, base_delay: float, max_delay: float) -> None:
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("base_delay and max_delay must be >= 0")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _log_retry(
    log: RetryLogger, what: str, exc: BaseException, *, attempt: int, attempts: int, delay: float
) -> None:
    log.warning(
        "Transient Oracle error %s during %s (attempt %d of %d), retrying in %.2f s: %s",
        primary_code(exc) or type(exc).__name__,
        what,
        attempt,
        attempts,
        delay,
        _first_line(exc),
    )


def _note_gave_up(exc: BaseException, attempts: int) -> None:
    note = f"Gave up after {attempts} attempts: the error stayed transient."
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def retry(
    fn: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    log: RetryLogger | None = None,
    what: str = "Oracle call",
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``fn()``; on a transient error wait with backoff and call again, up to ``attempts`` tries.

    A non-transient error is raised at once; the last transient one is raised when the budget is
    spent. Only for sync code (CLI, operators): it sleeps the calling thread.
    """
    _check_retry_args(attempts, base_delay, max_delay)
    logger = log or _log
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                _note_gave_up(exc, attempts)
                raise
            delay = backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay)
            _log_retry(logger, what, exc, attempt=attempt, attempts=attempts, delay=delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    log: RetryLogger | None = None,
    what: str = "Oracle call",
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Async twin of :func:`retry` for triggers: waits with ``asyncio.sleep``, never blocks the loop.

    ``fn`` is called anew for every attempt (an awaitable cannot be awaited twice), so pass
    ``lambda: pool.acquire()`` rather than ``pool.acquire()``. Cancellation is never swallowed.
    """
    _check_retry_args(attempts, base_delay, max_delay)
    logger = log or _log
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                _note_gave_up(exc, attempts)
                raise
            delay = backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay)
            _log_retry(logger, what, exc, attempt=attempt, attempts=attempts, delay=delay)
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _conn_label(conn_id: str | None) -> str:
    return f"Airflow connection '{conn_id}'" if conn_id else "the Airflow connection"


def _hint(codes: list[str], conn_id: str | None, dsn: str | None) -> str | None:
    """Map the first recognised code to a fix; order matters (the outermost code wins)."""
    if conn_id or not dsn:
        where, target = _conn_label(conn_id), (f" (dsn {dsn})" if dsn else "")
    else:  # the CLI's --dsn: no Airflow connection is involved
        where, target = f"--dsn {dsn}", ""
    for code in codes:
        if code in {"DPY-4000", "DPY-4026", "DPY-4027"}:
            return (
                f"{where}{target} is read as a TNS alias, and none was found: give an Easy Connect "
                "string host:port/service_name (e.g. db-host:1521/FREEPDB1), or set TNS_ADMIN "
                "(extra 'config_dir') to the directory of your tnsnames.ora."
            )
        if code in {"DPY-6005", "ORA-12541", "ORA-12543", "ORA-12170", "DPY-6000"}:
            return (
                f"check host and port of {where}{target}, that the listener runs and that no "
                "firewall blocks the port."
            )
        if code in {"DPY-6001", "ORA-12514"}:
            return (
                f"check the service name of {where}{target}: the Schema field or extra "
                "'service_name' (e.g. FREEPDB1); `lsnrctl services` lists the registered ones."
            )
        if code in {"DPY-6003", "ORA-12505"}:
            return f"check extra 'sid' of {where}{target}, or use a service name instead."
        if code == "ORA-01017":
            return f"check login and password of {where}."
        if code in {"ORA-01005", "DPY-4001"}:
            return f"set a password on {where}."
        if code == "ORA-28000":
            return f"the account of {where} is locked; a DBA must run ALTER USER <login> ACCOUNT UNLOCK."
        if code == "ORA-28001":
            return f"the password of {where} has expired; set a new one in the database and the connection."
        if code == "ORA-01031":
            return (
                "the user lacks a privilege; have a DBA run sql/grants.sql (shipped with the provider) "
                "for this user."
            )
        if code == "ORA-00942":
            return (
                "an OTASK object is missing or not visible to this user: install the engine "
                "(sql/install.sql) or grant the OTASK role and use the owner's schema."
            )
        if code in {"ORA-01033", "ORA-01034", "ORA-01089", "ORA-01090", "ORA-01092"}:
            return "the database is starting, stopping or down; retry later or ask a DBA to open it."
        if code in {"DPY-4024", "ORA-03156"}:
            return "the database answered slower than the call timeout; check its load or raise the timeout."
    return None


def _host_hint(conn_id: str | None, dsn: str | None) -> str:
    if conn_id or not dsn:
        return f"check the host name of {_conn_label(conn_id)}{f' (dsn {dsn})' if dsn else ''} (a typo?)."
    return f"check the host name in --dsn {dsn} (a typo?)."


def describe_db_error(exc: BaseException, conn_id: str | None = None, *, dsn: str | None = None) -> str:
    """One message for a database error, with the fix for the common bad-input cases.

    E.g. ``ORA-01017: invalid username/password; logon denied. Fix: check login and password of
    Airflow connection 'oracle_default'.`` Never includes a password: only the error text, the
    connection id and the DSN (which holds none) are used.
    """
    if type(exc).__name__ == "AirflowNotFoundException":
        return (
            f"{_first_line(exc)}. Fix: create {_conn_label(conn_id)} of type 'oracle' (UI, "
            "`airflow connections add`, or an AIRFLOW_CONN_<ID> environment variable)."
        )
    unresolved = next((item for item in _chain(exc) if isinstance(item, socket.gaierror)), None)
    if unresolved is not None:
        return f"cannot resolve the host name (gaierror: {unresolved}). Fix: {_host_hint(conn_id, dsn)}"
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.strip().startswith("Help:")
    ]
    message = " ".join(lines[:3]) if lines else type(exc).__name__
    if _error_info(exc) is None:
        message = f"{type(exc).__name__}: {message}"
    hint = _hint(error_codes(exc), conn_id, dsn)
    if hint is None:
        return message
    return f"{message.rstrip('. ')}. Fix: {hint}"

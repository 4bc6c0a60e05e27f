"""How the triggerer's AQ sessions come back after an error without locking the account.

A watcher (``AssetWatcher``) trigger has no task to fail: if it ended on an error, the triggerer
would create it again within seconds, for ever, and each new trigger logs in again. With a wrong or
rotated password (ORA-01017) Oracle's DEFAULT profile locks the account after 10 failed logins
(``FAILED_LOGIN_ATTEMPTS``), which takes down everything that uses that schema owner (review A-2).

So the AQ stream never ends on an error; it waits and reconnects, with a capped, jittered
exponential backoff that depends on the kind of error:

* **credential errors** (:data:`CREDENTIAL_CODES`): at least ``CREDENTIAL_BASE_DELAY / 2`` seconds
  (30 s) before the next login, doubling up to 10 minutes. The :class:`LoginGate` extends this to
  every AQ session of the same connection id in the triggerer process: after one failed login no
  other watcher or listener of that id logs in until the delay has passed, so the process makes at
  most about two login attempts per minute for that id, whatever the number of watchers;
* other **non-transient** errors (a missing queue, consumer or privilege): 5 s doubling up to 5 min;
* **transient** errors (database restarting, network): 1 s doubling up to 1 min.

Each distinct error is logged once at ERROR with its ORA/DPY code and the fix
(:func:`~airflow_provider_oracle_tasks.db.transient.describe_db_error`); while it repeats, one
WARNING per retry says how long the stream waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_oracle_tasks.db.transient import (
    backoff_delay,
    describe_db_error,
    error_codes,
    is_transient,
)

CREDENTIAL_CODES = frozenset(
    {
        "ORA-01017",  # invalid username/password
        "ORA-28000",  # account locked
        "ORA-28001",  # password expired
        "ORA-28009",  # connection as SYS should be as SYSDBA
        "ORA-01005",  # null password
        "ORA-01045",  # no CREATE SESSION privilege
        "ORA-28040",  # no matching authentication protocol
        "ORA-12638",  # credential retrieval failed
        "DPY-4001",  # no password given
    }
)
"""Login errors that another attempt with the same connection cannot fix (and that count as a
failed login towards the profile's FAILED_LOGIN_ATTEMPTS)."""

CREDENTIAL_BASE_DELAY = 60.0
CREDENTIAL_MAX_DELAY = 600.0
PERMANENT_BASE_DELAY = 5.0
PERMANENT_MAX_DELAY = 300.0
TRANSIENT_BASE_DELAY = 1.0
TRANSIENT_MAX_DELAY = 60.0


def is_credential_error(exc: BaseException) -> bool:
    return bool(CREDENTIAL_CODES.intersection(error_codes(exc)))


def reconnect_delay(exc: BaseException, failures: int, rand: Callable[[], float] | None = None) -> float:
    """Seconds to wait after the ``failures``-th error in a row (1-based), by kind of error."""
    if is_credential_error(exc):
        base, cap = CREDENTIAL_BASE_DELAY, CREDENTIAL_MAX_DELAY
    elif is_transient(exc):
        base, cap = TRANSIENT_BASE_DELAY, TRANSIENT_MAX_DELAY
    else:
        base, cap = PERMANENT_BASE_DELAY, PERMANENT_MAX_DELAY
    if rand is None:
        return backoff_delay(max(failures, 1), base_delay=base, max_delay=cap)
    return backoff_delay(max(failures, 1), base_delay=base, max_delay=cap, rand=rand)


@dataclass
class LoginGate:
    """Per connection id: the earliest moment (monotonic) another login may be tried."""

    clock: Callable[[], float] = time.monotonic
    _not_before: dict[str, float] = field(default_factory=dict)
    _reasons: dict[str, str] = field(default_factory=dict)

    def block(self, conn_id: str, seconds: float, reason: str) -> None:
        until = self.clock() + seconds
        if until > self._not_before.get(conn_id, 0.0):
            self._not_before[conn_id] = until
            self._reasons[conn_id] = reason

    def clear(self, conn_id: str) -> None:
        self._not_before.pop(conn_id, None)
        self._reasons.pop(conn_id, None)

    def remaining(self, conn_id: str) -> float:
        return max(0.0, self._not_before.get(conn_id, 0.0) - self.clock())

    def reason(self, conn_id: str) -> str:
        return self._reasons.get(conn_id, "")

    async def wait(self, conn_id: str) -> None:
        """Sleep until a login for ``conn_id`` is allowed (returns at once if it is)."""
        while (left := self.remaining(conn_id)) > 0:  # noqa: ASYNC110 - the deadline may move on
            await asyncio.sleep(left)


LOGIN_GATE = LoginGate()
"""The triggerer process's gate, shared by every AQ watcher and listener."""


@dataclass
class ErrorReporter:
    """Logs a new error once at ERROR (with code and fix), repeats at WARNING."""

    logger: logging.Logger
    where: str
    conn_id: str
    _last: str | None = None
    _repeats: int = 0

    def failed(self, exc: BaseException, delay: float) -> str:
        text = describe_db_error(exc, self.conn_id)
        if is_credential_error(exc):
            text += (
                f" No new login for '{self.conn_id}' from this triggerer for {delay:.0f} s, so that the "
                "account is not locked by repeated failed logins (FAILED_LOGIN_ATTEMPTS)."
            )
        if text != self._last:
            self._last, self._repeats = text, 0
            self.logger.error("%s: %s Retrying in %.0f s.", self.where, text, delay)
        else:
            self._repeats += 1
            self.logger.warning(
                "%s: still failing (%d times in a row, same error); retrying in %.0f s.",
                self.where,
                self._repeats + 1,
                delay,
            )
        return text

    def recovered(self) -> None:
        if self._last is not None:
            self.logger.info("%s: connected again after the error above.", self.where)
        self._last, self._repeats = None, 0

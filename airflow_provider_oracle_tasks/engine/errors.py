"""Exceptions for the errors the OTASK package raises on purpose (ORA-20100..20199).

The engine documents one code per outcome (``sql/engine/otask.pks``), so Python maps each code to
one class: a DAG author can catch :class:`UnknownInstanceError` without parsing messages, and the
CLI picks its exit code from the class. ``str()`` keeps the ORA code and the engine's message
(which names the object and the fix); the PL/SQL backtrace lines (ORA-06512) are dropped.
Any other database error is not mapped here: it reaches the caller as the driver raised it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, OracleTasksError

ENGINE_CODES = range(20100, 20200)
"""Error numbers reserved for the engine's own errors (raised by OTASK)."""


class EngineError(OracleTasksError):
    """An ORA-20100..20199 error raised by the OTASK package; nothing changed in the database.

    ``code`` is the ORA number as text (``"ORA-20100"``), ``engine_message`` the engine's text
    without the code prefix and without the PL/SQL backtrace.
    """

    def __init__(self, code: str, engine_message: str) -> None:
        super().__init__(f"{code}: {engine_message}")
        self.code = code
        self.engine_message = engine_message


class UnknownInstanceError(EngineError):
    """ORA-20100: no instance with that id (never created, or purged)."""


class InvalidThreadsError(EngineError):
    """ORA-20101: thread count outside 0..1000."""


class InvalidStateError(EngineError):
    """ORA-20102: the call is not allowed in the instance's state (e.g. start_jobs on a finished one)."""


class InvalidIdentifierError(EngineError):
    """ORA-20103: a taskspace, definition or job class name is not a valid Oracle name."""


class EnginePrivilegeError(EngineError, MissingPrivilegesError):
    """ORA-20104: the engine's owner lacks a privilege (e.g. CREATE JOB granted only via a role)."""


class InvalidArgumentError(EngineError):
    """ORA-20105: an argument the engine rejected (stop mode, retries, flags ...)."""


class UnknownJobClassError(EngineError):
    """ORA-20106: the taskspace's job class does not exist or the owner may not use it."""


class RunKeyConflictError(EngineError):
    """ORA-20107: the run key belongs to an instance created with other settings."""


class SourceQueryError(EngineError):
    """ORA-20108: a definition's source query failed while the engine expanded it into tasks."""


class InvalidJsonError(EngineError):
    """ORA-20109: the task list or binds JSON was rejected (all or nothing: no task was added)."""


class UnknownDefinitionError(EngineError):
    """ORA-20110: no task definition with that id."""


class UnknownTaskspaceError(EngineError):
    """ORA-20111: no taskspace with that name."""


ERROR_CLASSES: dict[int, type[EngineError]] = {
    20100: UnknownInstanceError,
    20101: InvalidThreadsError,
    20102: InvalidStateError,
    20103: InvalidIdentifierError,
    20104: EnginePrivilegeError,
    20105: InvalidArgumentError,
    20106: UnknownJobClassError,
    20107: RunKeyConflictError,
    20108: SourceQueryError,
    20109: InvalidJsonError,
    20110: UnknownDefinitionError,
    20111: UnknownTaskspaceError,
}
"""ORA number -> class; another number in ENGINE_CODES becomes a plain :class:`EngineError`."""


def _ora_number(exc: BaseException) -> int | None:
    info: Any = exc.args[0] if exc.args else None
    code = getattr(info, "code", None)
    return code if isinstance(code, int) else None


def _engine_text(exc: BaseException, code: str) -> str:
    """The engine's message: every line up to the PL/SQL backtrace, without the code prefix."""
    info: Any = exc.args[0] if exc.args else None
    text = str(getattr(info, "message", None) or exc)
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("ORA-06512") or line.startswith("Help:"):
            break
        lines.append(line.strip())
    message = " ".join(part for part in lines if part)
    return message.removeprefix(f"{code}:").strip() or text.strip()


def from_db_error(exc: BaseException) -> EngineError | None:
    """The provider exception for an engine error, or None for any other error."""
    number = _ora_number(exc)
    if number is None or number not in ENGINE_CODES:
        return None
    code = f"ORA-{number:05d}"
    return ERROR_CLASSES.get(number, EngineError)(code, _engine_text(exc, code))

"""Run the engine's SQL*Plus scripts through a python-oracledb connection, as SQL*Plus would.

The install operator and the CLI run the very files a DBA runs with ``@sql/install.sql``; this
module is the Python side of that promise. :func:`run_script` parses the whole script tree first
(see :mod:`.script_parser`), so a syntax slip anywhere is reported before the first DDL runs, then
executes statement by statement.

Transactions, matching SQL*Plus with ``WHENEVER SQLERROR EXIT FAILURE ROLLBACK``:

* the runner stops at the first failing statement, whatever ``WHENEVER`` says, calls
  ``connection.rollback()`` and raises :class:`ScriptError` with file, line and ORA code;
* otherwise it calls ``connection.commit()`` at the end, as SQL*Plus commits on a normal exit
  (``EXIT ROLLBACK`` rolls back instead; ``EXIT FAILURE``/``WARNING``/non-zero raises after that);
* no other commit or rollback is issued (DDL commits implicitly, as always).

PL/SQL units created with compilation errors do not raise in python-oracledb; the runner sees
``cursor.warning`` (DPY-7000), reads ``USER_ERRORS`` for that unit and raises, so ``SHOW ERRORS``
in a script is never needed (it is accepted and ignored).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import oracledb

from airflow_provider_oracle_tasks.install.script_lexer import mask_text
from airflow_provider_oracle_tasks.install.script_parser import (
    Command,
    Location,
    ScriptError,
    ScriptItem,
    Statement,
    parse_script,
    script_defines,
    sql_root,
)

__all__ = [
    "Command",
    "DbConnection",
    "DbCursor",
    "Location",
    "RunResult",
    "ScriptError",
    "ScriptItem",
    "Statement",
    "parse_script",
    "run_script",
    "script_defines",
    "sql_root",
]

logger = logging.getLogger(__name__)

_OUTPUT_CHUNK = 100  # DBMS_OUTPUT lines fetched per round trip
_OUTPUT_LINE_SIZE = 32767  # longest DBMS_OUTPUT line

_GET_LINES_SQL = "begin dbms_output.get_lines(:lines, :numlines); end;"
_USER_ERRORS_SQL = (
    "select line, position, text, attribute from user_errors "
    "where name = :name and type = :type order by sequence"
)
_ALL_ERRORS_SQL = (
    "select line, position, text, attribute from all_errors "
    "where owner = :owner and name = :name and type = :type order by sequence"
)


class DbCursor(Protocol):
    """The part of ``oracledb.Cursor`` the runner uses (lets tests pass a fake)."""

    @property
    def warning(self) -> Any: ...

    def execute(self, statement: str, parameters: Any = None) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def var(self, typ: Any, size: int = 0, arraysize: int = 1) -> Any: ...

    def arrayvar(self, typ: Any, value: Any, size: int = 0) -> Any: ...

    def close(self) -> None: ...


class DbConnection(Protocol):
    """The part of ``oracledb.Connection`` the runner uses."""

    def cursor(self) -> DbCursor: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@dataclass
class RunResult:
    """What a run did: statements executed and the text SQL*Plus would have shown."""

    statements_run: int
    output: list[str] = field(default_factory=list)
    """PROMPT text and DBMS_OUTPUT lines, in the order they were produced."""


def run_script(
    connection: DbConnection | None,
    path: str | Path,
    *,
    root: str | Path | None = None,
    defines: Mapping[str, str] | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Execute a SQL*Plus script (and its includes) statement by statement.

    ``root`` and ``defines`` are as for :func:`parse_script`. With ``dry_run`` nothing touches
    the database (``connection`` may be None): every statement is parsed and logged. ``log``
    receives one human-readable line per statement plus PROMPT/DBMS_OUTPUT text; by default it
    goes to this module's logger. Raises :class:`ScriptError` at the first failure, after
    rolling back (see the module docstring for the transaction rules).
    """
    emit = log if log is not None else _default_log
    items = parse_script(path, root=root, defines=defines)
    if dry_run:
        return _dry_run(items, emit)
    if connection is None:
        raise ValueError("run_script needs a connection unless dry_run=True")
    return _Run(connection, emit).run(items)


def _default_log(message: str) -> None:
    logger.info("%s", message)


def _summary(text: str, width: int = 80) -> str:
    first = text.strip().split("\n", 1)[0].strip()
    if len(first) > width:
        return first[: width - 1].rstrip() + "…"
    return first + ("…" if "\n" in text.strip() else "")


def _dry_run(items: list[ScriptItem], emit: Callable[[str], None]) -> RunResult:
    output: list[str] = []
    count = 0
    for item in items:
        if isinstance(item, Statement):
            count += 1
            emit(f"{item.file}:{item.line} {item.kind}: {_summary(item.text)}")
        else:
            emit(f"{item.file}:{item.line} {item.name} {item.argument}".rstrip())
            if item.name == "PROMPT":
                output.append(item.argument)
    emit(f"dry run: {count} statement(s) parsed, none executed")
    return RunResult(statements_run=0, output=output)


class _Run:
    """One execution of a parsed script on one connection."""

    def __init__(self, connection: DbConnection, emit: Callable[[str], None]) -> None:
        self.connection = connection
        self.emit = emit
        self.output: list[str] = []
        self.server_output = False
        self.statements_run = 0

    def run(self, items: list[ScriptItem]) -> RunResult:
        cursor = self.connection.cursor()
        exit_action = "COMMIT"
        exit_status = "SUCCESS"
        exit_at: Command | None = None
        try:
            for item in items:
                if isinstance(item, Statement):
                    self._execute(cursor, item)
                elif item.name == "EXIT":
                    exit_status, exit_action = item.argument.split()
                    exit_at = item
                else:
                    self._command(cursor, item)
        except BaseException:
            self._rollback()
            raise
        finally:
            cursor.close()
        if exit_action == "ROLLBACK":
            self.connection.rollback()
        else:
            self.connection.commit()
        if exit_at is not None and exit_status not in ("SUCCESS", "0"):
            raise ScriptError(
                f"script ended with EXIT {exit_status} (after {exit_action.lower()})",
                exit_at.file,
                exit_at.line,
                None,
                exit_at.included_from,
            )
        return RunResult(statements_run=self.statements_run, output=self.output)

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except Exception as exc:  # the original error matters more than a failed rollback
            logger.warning("rollback after a script error failed: %s", exc)

    # ---- commands ----------------------------------------------------------------------------

    def _command(self, cursor: DbCursor, command: Command) -> None:
        if command.name == "PROMPT":
            self.output.append(command.argument)
            self.emit(command.argument)
        elif command.name == "SET" and command.argument.startswith("SERVEROUTPUT "):
            on = command.argument.split()[1] == "ON"
            if on and not self.server_output:
                cursor.execute("begin dbms_output.enable(null); end;")
            elif not on and self.server_output:
                cursor.execute("begin dbms_output.disable; end;")
            self.server_output = on

    # ---- statements --------------------------------------------------------------------------

    def _execute(self, cursor: DbCursor, statement: Statement) -> None:
        self.emit(f"{statement.file}:{statement.line} {statement.kind}: {_summary(statement.text)}")
        try:
            cursor.execute(statement.text)
        except oracledb.Error as exc:
            if self.server_output:
                self._collect_output_quietly(cursor)
            raise _database_error(statement, exc) from exc
        warning = cursor.warning
        if warning is not None:
            self._compile_errors(cursor, statement, warning)
        if self.server_output:
            self._collect_output(cursor)
        self.statements_run += 1

    def _collect_output(self, cursor: DbCursor) -> None:
        """Fetch DBMS_OUTPUT lines the way SQL*Plus does after each statement."""
        lines_var = cursor.arrayvar(str, _OUTPUT_CHUNK, _OUTPUT_LINE_SIZE)
        count_var = cursor.var(int)
        while True:
            count_var.setvalue(0, _OUTPUT_CHUNK)
            cursor.execute(_GET_LINES_SQL, {"lines": lines_var, "numlines": count_var})
            count = int(count_var.getvalue() or 0)
            for line in lines_var.getvalue()[:count]:
                text = line or ""
                self.output.append(text)
                self.emit(text)
            if count < _OUTPUT_CHUNK:
                return

    def _collect_output_quietly(self, cursor: DbCursor) -> None:
        try:
            self._collect_output(cursor)
        except oracledb.Error as exc:  # keep the statement's error, not this one
            logger.debug("could not fetch DBMS_OUTPUT after a failed statement: %s", exc)

    def _compile_errors(self, cursor: DbCursor, statement: Statement, warning: Any) -> None:
        """Turn 'created with compilation errors' (a warning, not an exception) into a ScriptError."""
        warning_text = str(getattr(warning, "message", warning)).strip()
        unit = plsql_unit(statement.text)
        if unit is None:
            raise ScriptError(
                warning_text, statement.file, statement.line, _code_of(warning_text), statement.included_from
            )
        if unit.owner is None:
            cursor.execute(_USER_ERRORS_SQL, {"name": unit.name, "type": unit.type})
        else:
            cursor.execute(_ALL_ERRORS_SQL, {"owner": unit.owner, "name": unit.name, "type": unit.type})
        rows = cursor.fetchall()
        errors: list[tuple[int, str]] = []
        for row_line, position, text, attribute in rows:
            line = statement.line + unit.first_line + int(row_line) - 1
            entry = f"{statement.file}:{line}:{position}: {str(text).strip()}"
            if str(attribute).upper() == "ERROR":
                errors.append((line, entry))
            else:
                self.emit(f"{entry} (compiler warning)")
        if not rows:
            raise ScriptError(
                f"{unit.type} {unit.display} was created with compilation errors, but no error rows were "
                f"found for it ({warning_text})",
                statement.file,
                statement.line,
                _code_of(warning_text),
                statement.included_from,
            )
        if errors:
            first_text = errors[0][1].split(": ", 1)[1]
            raise ScriptError(
                f"{unit.type} {unit.display} created with compilation errors:\n"
                + "\n".join(f"  {entry}" for _, entry in errors),
                statement.file,
                errors[0][0],
                _code_of(first_text) or _code_of(warning_text),
                statement.included_from,
            )


_CODE = re.compile(r"\b([A-Z]{2,3}-\d{4,5})\b")


def _code_of(text: str) -> str | None:
    match = _CODE.search(text)
    return match.group(1) if match else None


def _database_error(statement: Statement, exc: oracledb.Error) -> ScriptError:
    """Build the ScriptError for a failed statement, on the line Oracle points at when it does."""
    error = exc.args[0] if exc.args else None
    message = str(getattr(error, "message", None) or exc).strip()
    code = getattr(error, "full_code", None) or _code_of(message)
    line = statement.line
    compile_at = re.search(r"ORA-06550: line (\d+), column \d+", message)
    runtime_at = re.search(r"ORA-06512: at line (\d+)", message)
    offset = getattr(error, "offset", 0)
    if statement.kind == "plsql" and compile_at:
        line += int(compile_at.group(1)) - 1
    elif isinstance(offset, int) and offset > 0:
        # the parse error position is a byte offset into the statement text
        line += statement.text.encode()[:offset].count(b"\n")
    elif statement.kind == "plsql" and runtime_at:
        line += int(runtime_at.group(1)) - 1
    return ScriptError(message, statement.file, line, code, statement.included_from)


# --------------------------------------------------------------------------------------------
# Which PL/SQL unit a CREATE statement makes (for USER_ERRORS)
# --------------------------------------------------------------------------------------------

_IDENT = r'"[^"]+"|[A-Za-z][A-Za-z0-9_$#]*'
_CREATE_UNIT = re.compile(
    rf"""\s*CREATE \s+ (?:OR\s+REPLACE\s+)? (?:(?:EDITIONABLE|NONEDITIONABLE)\s+)?
    (?P<type>PACKAGE\s+BODY|TYPE\s+BODY|PACKAGE|TYPE|PROCEDURE|FUNCTION|TRIGGER|LIBRARY
      |(?:AND\s+(?:COMPILE|RESOLVE)\s+)?(?:NOFORCE\s+)?JAVA\s+SOURCE\s+NAMED)
    \s+ (?:IF\s+NOT\s+EXISTS\s+)?
    (?P<first>{_IDENT}) (?:\s*\.\s*(?P<second>{_IDENT}))?""",
    re.IGNORECASE | re.VERBOSE,
)
_TRIGGER_BODY = re.compile(r"\b(?:DECLARE|BEGIN)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PlsqlUnit:
    """The object a CREATE statement makes, named as the data dictionary names it."""

    type: str  # USER_ERRORS.TYPE, e.g. "PACKAGE BODY"
    name: str
    owner: str | None
    first_line: int  # 0-based line of the statement text that USER_ERRORS counts as line 1

    @property
    def display(self) -> str:
        return f"{self.owner}.{self.name}" if self.owner else self.name


def _dictionary_name(identifier: str) -> str:
    return identifier[1:-1] if identifier.startswith('"') else identifier.upper()


def plsql_unit(text: str) -> PlsqlUnit | None:
    """Read the unit type, owner and name from a CREATE statement (None if it is not one)."""
    code, nocomment = mask_text(text)
    match = _CREATE_UNIT.match(nocomment)
    if match is None:
        return None
    kind = " ".join(match.group("type").upper().split())
    if kind.endswith("JAVA SOURCE NAMED"):
        kind = "JAVA SOURCE"
    first, second = match.group("first"), match.group("second")
    owner = _dictionary_name(first) if second else None
    name = _dictionary_name(second or first)
    # USER_SOURCE (and so USER_ERRORS) starts at the type keyword: "package x as ...".
    first_line = code.count("\n", 0, match.start("type"))
    if kind == "TRIGGER":
        # Trigger errors are counted from the trigger's PL/SQL block, not from CREATE.
        body = _TRIGGER_BODY.search(code, match.end())
        if body is not None:
            first_line = code.count("\n", 0, body.start())
    return PlsqlUnit(kind, name, owner, first_line)

"""Split SQL*Plus / SQLcl scripts into the exact statements those tools would send to Oracle.

The engine scripts in ``sql/`` are meant to be run by a DBA with SQL*Plus or SQLcl *and* by the
install operator / CLI through python-oracledb. Both paths must do the same thing, so this module
reproduces the client-side rules of SQL*Plus without a database connection: statement terminators,
PL/SQL mode, comments, string and q-quote literals, ``@``/``@@`` includes and substitution
variables. Where SQL*Plus would silently do something other than what the author meant (a ``/``
that runs a statement twice, a blank line that throws a statement away, a prompt for an undefined
variable), the parser refuses the script with a :class:`ScriptError` naming the file and line
instead of guessing. Anything that is not a recognised SQL*Plus command is treated as SQL, so a
typo surfaces as an error instead of being skipped.

This module has no dependency on ``oracledb``: a static test or a dry run only needs the files.
"""

from __future__ import annotations

import importlib.resources
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias, TypeVar, overload

from airflow_provider_oracle_tasks.install.script_lexer import Lex as _Lex
from airflow_provider_oracle_tasks.install.script_lexer import scan as _scan

__all__ = [
    "Command",
    "Location",
    "ScriptError",
    "ScriptItem",
    "Statement",
    "parse_script",
    "script_defines",
    "sql_root",
]

Location: TypeAlias = tuple[str, int]
"""A ``(file, line)`` pair; ``file`` is relative to the script root with ``/`` separators."""


@dataclass(frozen=True)
class Statement:
    """One SQL statement or PL/SQL unit, exactly as it is sent to Oracle."""

    kind: Literal["sql", "plsql"]
    text: str
    file: str
    line: int
    included_from: tuple[Location, ...] = ()
    """``@``/``@@`` directives that led here, outermost first (empty for the top-level script)."""


@dataclass(frozen=True)
class Command:
    """A SQL*Plus command kept for the runner (PROMPT, SET SERVEROUTPUT, EXIT) and for dry-run logs."""

    name: str
    argument: str
    file: str
    line: int
    included_from: tuple[Location, ...] = ()


ScriptItem: TypeAlias = Statement | Command


class ScriptError(Exception):
    """A script could not be parsed or one of its statements failed.

    ``file``/``line`` point at the offending line (for a failed statement: its first line, moved
    to the line Oracle reports when it reports one); ``included_from`` holds the include
    directives that led there, so ``str()`` reads
    ``install.sql:12 (core/version.sql:40): ORA-00955: name is already used ...``.
    """

    def __init__(
        self,
        message: str,
        file: str,
        line: int,
        ora_code: str | None = None,
        included_from: tuple[Location, ...] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.ora_code = ora_code
        self.included_from = tuple(included_from)
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ScriptError], tuple[object, ...]]:
        # Keyword-free so the error survives pickling (e.g. when a task result crosses processes).
        return (type(self), (self.message, self.file, self.line, self.ora_code, self.included_from))

    @property
    def location(self) -> str:
        """``file:line``, prefixed by the top-level include directive when there is one."""
        here = _format_location(self.file, self.line)
        if not self.included_from:
            return here
        outer, *middle = self.included_from
        inner = " > ".join([*(_format_location(f, n) for f, n in middle), here])
        return f"{_format_location(*outer)} ({inner})"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _format_location(file: str, line: int) -> str:
    return f"{file}:{line}" if line > 0 else file


def sql_root() -> Path:
    """Return the ``sql`` folder shipped with the package.

    A wheel carries it inside the package (pyproject force-includes the top-level ``sql/``);
    a source checkout or editable install has it next to the package directory.
    """
    packaged = importlib.resources.files("airflow_provider_oracle_tasks") / "sql"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "sql"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "the engine's sql/ folder is neither inside the installed package nor next to it; "
        "reinstall airflow-provider-oracle-tasks"
    )


def parse_script(
    path: str | Path,
    *,
    root: str | Path | None = None,
    defines: Mapping[str, str] | None = None,
) -> list[Statement | Command]:
    """Parse a script and everything it includes into statements and kept commands, in order.

    ``root`` (default: the script's folder) anchors ``@file`` includes and the relative names in
    ``Statement.file``; no include may resolve outside it. ``defines`` act like ``DEFINE``
    commands run before the script (parameters of a DBA script). Substitution variables are
    replaced here, so every ``Statement.text`` is final. Raises :class:`ScriptError`.
    """
    parser = _Parser(Path(root) if root is not None else None, defines or {}, lenient=False)
    parser.run(Path(path))
    return parser.items


def script_defines(path: str | Path, *, root: str | Path | None = None) -> dict[str, str]:
    """Return the substitution variables a script (and its includes) sets with ``DEFINE``.

    Used to read values such as the schema version without executing anything. Names come back
    upper-cased, as SQL*Plus lists them, and lookups ignore case as SQL*Plus does
    (``defines["otask_schema_version"]`` works). Undefined ``&variables`` (parameters a caller
    would pass) are tolerated here, and includes whose path depends on one are skipped.
    """
    parser = _Parser(Path(root) if root is not None else None, {}, lenient=True)
    parser.run(Path(path))
    return _Defines(parser.script_defines)


_T = TypeVar("_T")


class _Defines(dict[str, str]):
    """Upper-cased DEFINE names with case-insensitive lookups, like SQL*Plus variables."""

    def __missing__(self, key: str) -> str:
        upper = key.upper() if isinstance(key, str) else key
        if upper != key:
            return self[upper]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.upper() if isinstance(key, str) else key)

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        return super().get(key.upper(), default)


# --------------------------------------------------------------------------------------------
# Statement classification (SQL*Plus decides from the first words whether ';' ends a statement)
# --------------------------------------------------------------------------------------------

_PLSQL_HEAD = re.compile(
    r"""\s*(?:
        DECLARE | BEGIN
      | CREATE \s+ (?:OR\s+REPLACE\s+)? (?:(?:EDITIONABLE|NONEDITIONABLE)\s+)?
        (?:AND\s+(?:COMPILE|RESOLVE)\s+)? (?:NOFORCE\s+)?
        (?:PROCEDURE|FUNCTION|PACKAGE|TRIGGER|TYPE|LIBRARY|JAVA)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
_WITH_PLSQL_HEAD = re.compile(r"\s*WITH\s+(?:FUNCTION|PROCEDURE)\b", re.IGNORECASE)
_UNDECIDED_HEAD = re.compile(
    r"\s*(?:CREATE(?:\s+(?:OR|REPLACE|EDITIONABLE|NONEDITIONABLE|AND|COMPILE|RESOLVE|NOFORCE))*|WITH)\s*$",
    re.IGNORECASE,
)
_StmtMode: TypeAlias = Literal["undecided", "sql", "plsql", "with"]


@dataclass
class _Pending:
    """A statement being collected, line by line."""

    file: str
    line: int
    raw: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    mode: _StmtMode = "undecided"

    def classify(self) -> _StmtMode:
        """PL/SQL mode ('/' only) or SQL mode (';' too), known once the first words are read."""
        if self.mode == "undecided":
            head = "\n".join(self.code)
            if _PLSQL_HEAD.match(head):
                self.mode = "plsql"
            elif _WITH_PLSQL_HEAD.match(head):
                self.mode = "with"
            elif not _UNDECIDED_HEAD.match(head):
                self.mode = "sql"
        return self.mode


# --------------------------------------------------------------------------------------------
# SQL*Plus commands
# --------------------------------------------------------------------------------------------

# (full name, shortest abbreviation SQL*Plus accepts)
_COMMANDS: tuple[tuple[str, int], ...] = (
    ("REMARK", 3),
    ("PROMPT", 3),
    ("DEFINE", 3),
    ("UNDEFINE", 5),
    ("SET", 3),
    ("SHOW", 3),
    ("WHENEVER", 8),
    ("SPOOL", 3),
    ("EXIT", 4),
    ("QUIT", 4),
    ("COLUMN", 3),
    ("TTITLE", 3),
    ("BTITLE", 3),
    ("CLEAR", 2),
    ("BREAK", 3),
    ("COMPUTE", 4),
    ("EXECUTE", 4),
    ("START", 3),
    # recognised, but they need a terminal, another session or client-side state we do not have
    ("CONNECT", 4),
    ("DISCONNECT", 4),
    ("HOST", 2),
    ("ACCEPT", 3),
    ("PAUSE", 3),
    ("VARIABLE", 3),
    ("PRINT", 3),
    ("PASSWORD", 5),
    ("STARTUP", 7),
    ("SHUTDOWN", 8),
)
_UNSUPPORTED_COMMANDS = frozenset(
    {
        "CONNECT",
        "DISCONNECT",
        "HOST",
        "ACCEPT",
        "PAUSE",
        "VARIABLE",
        "PRINT",
        "PASSWORD",
        "STARTUP",
        "SHUTDOWN",
    }
)
# SET TRANSACTION / ROLE / CONSTRAINTS are SQL statements, not SQL*Plus SET.
_SQL_SET_WORDS = frozenset({"TRANSACTION", "ROLE", "CONSTRAINT", "CONSTRAINTS"})

# SET options: (full name, shortest abbreviation). The first three change what we do.
_SET_OPTIONS: tuple[tuple[str, int], ...] = (
    ("DEFINE", 3),
    ("SQLBLANKLINES", 5),
    ("SERVEROUTPUT", 9),
    # change parsing or transactions: accepted only with their default value
    ("AUTOCOMMIT", 4),
    ("BLOCKTERMINATOR", 3),
    ("CMDSEP", 4),
    ("CONCAT", 3),
    ("ESCAPE", 3),
    ("EXITCOMMIT", 5),
    ("SQLCASE", 4),
    ("SQLPREFIX", 6),
    ("SQLTERMINATOR", 4),
    ("SUFFIX", 3),
    # display / client-side only: accepted and ignored
    ("APPINFO", 4),
    ("ARRAYSIZE", 5),
    ("AUTOPRINT", 5),
    ("AUTOTRACE", 5),
    ("COLSEP", 6),
    ("DESCRIBE", 8),
    ("ECHO", 4),
    ("EMBEDDED", 3),
    ("ERRORLOGGING", 6),
    ("FEEDBACK", 4),
    ("FLUSH", 3),
    ("HEADING", 3),
    ("HEADSEP", 5),
    ("HISTORY", 4),
    ("LINESIZE", 3),
    ("LOBOFFSET", 5),
    ("LONG", 4),
    ("LONGCHUNKSIZE", 5),
    ("MARKUP", 4),
    ("NEWPAGE", 4),
    ("NULL", 4),
    ("NUMFORMAT", 4),
    ("NUMWIDTH", 3),
    ("PAGESIZE", 5),
    ("PAUSE", 3),
    ("RECSEP", 6),
    ("RECSEPCHAR", 10),
    ("SHOWMODE", 4),
    ("SQLPROMPT", 4),
    ("TAB", 3),
    ("TERMOUT", 4),
    ("TIME", 2),
    ("TIMING", 4),
    ("TRIMOUT", 4),
    ("TRIMSPOOL", 5),
    ("UNDERLINE", 3),
    ("VERIFY", 3),
    ("WRAP", 3),
)
_SET_DEFAULT_ONLY: dict[str, frozenset[str]] = {
    "AUTOCOMMIT": frozenset({"OFF"}),
    "BLOCKTERMINATOR": frozenset({"ON", "."}),
    "CMDSEP": frozenset({"OFF"}),
    "CONCAT": frozenset({"ON", "."}),
    "ESCAPE": frozenset({"OFF"}),
    "EXITCOMMIT": frozenset({"ON"}),
    "SQLCASE": frozenset({"MIXED"}),
    "SQLPREFIX": frozenset({"#"}),
    "SQLTERMINATOR": frozenset({"ON", ";"}),
    "SUFFIX": frozenset({"SQL"}),
}


def _resolve_abbreviation(word: str, table: tuple[tuple[str, int], ...]) -> str | None:
    word = word.upper()
    for full, shortest in table:
        if len(word) >= shortest and full.startswith(word):
            return full
    return None


_COMMAND_WORD = re.compile(r"\s*([A-Za-z]+)(?=\s|;|$)")
_NAME = r"[A-Za-z0-9_$#]+"
_DEFINE_ASSIGN = re.compile(rf"({_NAME})\s*=\s*(.*)$", re.DOTALL)


class _Parser:
    """Reads a script tree the way SQL*Plus would, producing statements and kept commands."""

    def __init__(self, root: Path | None, defines: Mapping[str, str], *, lenient: bool) -> None:
        self.root = root
        self.lenient = lenient
        self.defines: dict[str, str] = {name.upper(): value for name, value in defines.items()}
        self.script_defines: dict[str, str] = {}
        self.define_on = True
        self.define_char = "&"
        self.blank_lines = False
        self.items: list[Statement | Command] = []
        self.active: list[Path] = []
        self.trail: list[Location] = []
        self.previous_semicolon: Location | None = None
        self.root_dir = Path()
        self.stopped = False  # EXIT/QUIT seen: SQL*Plus ends the session, nothing more is read

    # ---- files -------------------------------------------------------------------------------

    def run(self, script: Path) -> None:
        root_dir = (self.root if self.root is not None else script.parent).resolve()
        resolved = script.resolve()
        if not resolved.is_relative_to(root_dir):
            raise ScriptError(f"script is outside the script root {root_dir.name}/", str(script), 0)
        self.root_dir = root_dir
        relative = resolved.relative_to(root_dir).as_posix()
        if not resolved.is_file():
            raise ScriptError("script not found", relative, 0)
        self._parse_file(resolved, relative)

    def _error(self, message: str, file: str, line: int) -> ScriptError:
        return ScriptError(message, file, line, None, tuple(self.trail))

    def _parse_file(self, path: Path, relative: str) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise self._error(f"cannot read script: {exc}", relative, 0) from exc
        lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        self.active.append(path)
        try:
            self._parse_lines(lines, path, relative)
        finally:
            self.active.pop()

    def _parse_lines(self, lines: list[str], path: Path, relative: str) -> None:
        lex = _Lex()
        opened_at = 0  # line where the comment/literal still open at EOF began
        pending: _Pending | None = None
        index = 0
        while index < len(lines):
            raw = lines[index]
            number = index + 1
            stripped = raw.strip()
            if pending is None and lex.mode == "code":
                if stripped == "":
                    index += 1
                    continue
                if stripped == "/":
                    raise self._double_run(relative, number)
                consumed = self._command(lines, index, path, relative)
                if self.stopped:
                    return
                if consumed:
                    index += consumed
                    continue
            code, _, after = _scan(raw, lex)
            if lex.mode == "code" and after.mode != "code":
                opened_at = number
            if pending is None:
                if code.strip() == "":  # comment-only line between statements
                    lex = after
                    index += 1
                    continue
                if lex.mode == "code" and code.strip() == "/":
                    raise self._error("'/' must be alone on its line (no comment after it)", relative, number)
                start = len(code) - len(code.lstrip())
                pending = _Pending(relative, number, [raw[start:]], [code[start:]])
            else:
                if stripped == "":
                    if pending.classify() in ("undecided", "sql") and not self.blank_lines:
                        raise self._error(
                            "blank line inside a SQL statement: SQL*Plus (SQLBLANKLINES OFF, the default) "
                            "silently discards the statement here; remove the blank line or add "
                            "'SET SQLBLANKLINES ON' before it",
                            relative,
                            number,
                        )
                    pending.raw.append(raw)
                    pending.code.append(code)
                    lex = after
                    index += 1
                    continue
                if lex.mode == "code" and stripped == "/":
                    self._finish(pending, by_slash=True)
                    pending = None
                    index += 1
                    continue
                if lex.mode == "code" and code.strip() == "/":
                    raise self._error("'/' must be alone on its line (no comment after it)", relative, number)
                pending.raw.append(raw)
                pending.code.append(code)
            lex = after
            index += 1
            if pending.classify() in ("undecided", "sql") and self._ends_with_semicolon(pending, number):
                self._finish(pending, by_slash=False)
                pending = None
        if lex.mode != "code":
            what = "a /* comment */" if lex.mode == "comment" else "a quoted string or name"
            raise self._error(f"file ends inside {what} opened here", relative, opened_at)
        if pending is not None:
            raise self._error(
                "statement is not terminated: end SQL with ';' and PL/SQL with a line holding only '/'"
                " (SQL*Plus would not run it)",
                relative,
                pending.line,
            )

    def _double_run(self, relative: str, number: int) -> ScriptError:
        if self.previous_semicolon is not None:
            file, line = self.previous_semicolon
            return self._error(
                f"'/' re-runs the statement at {file}:{line}, which its ';' already ran: "
                "SQL*Plus would run it twice; remove the '/'",
                relative,
                number,
            )
        return self._error(
            "'/' without a statement before it: SQL*Plus would re-run whatever is in its buffer; remove it",
            relative,
            number,
        )

    def _ends_with_semicolon(self, pending: _Pending, number: int) -> bool:
        """Does this SQL-mode line end the statement? Reject ';' forms SQL*Plus reads differently."""
        code = pending.code[-1]
        raw = pending.raw[-1]
        last = code.rfind(";")
        if last < 0:
            return False
        if code[last + 1 :].strip() or ";" in code[:last]:
            raise self._error(
                "';' in the middle of a line: SQL*Plus only ends a statement at a ';' that ends the line "
                "(one statement per line ending)",
                pending.file,
                number,
            )
        if raw[last + 1 :].strip():
            raise self._error(
                "comment after the ';' that ends a statement: SQL*Plus does not see that ';' as a "
                "terminator; put the comment on its own line",
                pending.file,
                number,
            )
        pending.raw[-1] = raw[:last]
        pending.code[-1] = code[:last]
        return True

    def _finish(self, pending: _Pending, *, by_slash: bool) -> None:
        mode = pending.classify()
        text = "\n".join(pending.raw).rstrip()
        if mode == "with":
            # WITH FUNCTION queries end with '/', but the query itself may carry a final ';'
            # (Oracle's own examples do); SQL*Plus does not send it.
            code = "\n".join(pending.code).rstrip()
            if code.endswith(";"):
                text = text[: len(code) - 1].rstrip()
        kind: Literal["sql", "plsql"] = "plsql" if mode == "plsql" else "sql"
        text = self._substitute(text, pending.file, pending.line)
        self.items.append(Statement(kind, text, pending.file, pending.line, tuple(self.trail)))
        self.previous_semicolon = None if by_slash else (pending.file, pending.line)

    # ---- substitution ------------------------------------------------------------------------

    def _substitute(self, text: str, file: str, line: int) -> str:
        """Replace ``&name``, ``&&name`` and ``&name.`` like SQL*Plus (inside literals too)."""
        if not self.define_on or self.define_char not in text:
            return text
        pattern = re.compile(re.escape(self.define_char) + r"{1,2}(" + _NAME + r")\.?")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).upper()
            if name in self.defines:
                return self.defines[name]
            if self.lenient:
                return match.group(0)
            at = line + text.count("\n", 0, match.start())
            raise self._error(
                f"substitution variable {match.group(0)!r} is not defined: SQL*Plus would prompt for it; "
                "DEFINE it (or pass it as a define), or SET DEFINE OFF if the character is meant literally",
                file,
                at,
            )

        return pattern.sub(replace, text)

    # ---- commands ----------------------------------------------------------------------------

    def _command(self, lines: list[str], index: int, path: Path, relative: str) -> int:
        """Handle a SQL*Plus command line; return how many lines it used (0: not a command)."""
        raw = lines[index]
        number = index + 1
        body = raw.strip()
        if body.startswith("@"):
            name = "@@" if body.startswith("@@") else "@"
            rest = body[len(name) :]
        else:
            match = _COMMAND_WORD.match(raw)
            if match is None:
                return 0
            resolved = _resolve_abbreviation(match.group(1), _COMMANDS)
            if resolved is None:
                return 0
            rest = raw[match.end() :]
            if resolved == "SET" and rest.split()[:1] and rest.split()[0].upper() in _SQL_SET_WORDS:
                return 0
            name = resolved
        if name == "REMARK":
            return 1
        consumed = 1
        if name == "PROMPT":
            if rest.rstrip().endswith("-"):
                raise self._error(
                    "PROMPT text ends with '-': SQL*Plus would continue the command on the next line; "
                    "end it with another character",
                    relative,
                    number,
                )
        else:  # SQL*Plus joins a command line ending with '-' to the next one
            while rest.rstrip().endswith("-") and index + consumed < len(lines):
                rest = rest.rstrip()[:-1].rstrip() + " " + lines[index + consumed].strip()
                consumed += 1
        if self.define_on:
            rest = self._substitute(rest, relative, number)
        rest = rest.strip()
        if name in _UNSUPPORTED_COMMANDS:
            raise self._error(
                f"SQL*Plus command {name} is not supported by the script runner (it needs an interactive "
                "session or client state); remove it from the script",
                relative,
                number,
            )
        if name in ("@", "@@", "START"):
            self._include("@@" if name == "@@" else "@", rest, path, relative, number)
        elif name == "PROMPT":
            self._keep("PROMPT", rest, relative, number)
        elif name == "DEFINE":
            self._define(rest, relative, number)
        elif name == "UNDEFINE":
            self._undefine(rest, relative, number)
        elif name == "SET":
            self._set(rest, relative, number)
        elif name == "WHENEVER":
            self._whenever(rest, relative, number)
        elif name in ("EXIT", "QUIT"):
            self._exit(rest, relative, number)
        elif name == "EXECUTE":
            self._execute(rest, relative, number)
        else:  # SHOW, SPOOL, COLUMN, TTITLE, ...: kept for the log, no effect
            self._keep(name, rest, relative, number)
        return consumed

    def _keep(self, name: str, argument: str, relative: str, number: int) -> None:
        self.items.append(Command(name, argument, relative, number, tuple(self.trail)))

    def _define(self, rest: str, relative: str, number: int) -> None:
        match = _DEFINE_ASSIGN.match(rest)
        if match is None:
            if rest and not re.fullmatch(_NAME, rest):
                raise self._error(f"cannot read DEFINE {rest!r}: use DEFINE name = value", relative, number)
            self._keep("DEFINE", rest, relative, number)  # DEFINE [name] only lists values
            return
        name, value = match.group(1).upper(), match.group(2).strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            if len(value) < 2 or not value.endswith(quote) or quote in value[1:-1]:
                raise self._error(f"cannot read DEFINE value {value}: unbalanced {quote}", relative, number)
            value = value[1:-1]
        elif not value or any(ch.isspace() for ch in value) or value.endswith(";"):
            raise self._error(
                f"ambiguous DEFINE {name} value {value!r}: put the value in double quotes", relative, number
            )
        self.defines[name] = value
        self.script_defines[name] = value
        self._keep("DEFINE", f"{name} = {value}", relative, number)

    def _undefine(self, rest: str, relative: str, number: int) -> None:
        for name in rest.replace(";", " ").split():
            self.defines.pop(name.upper(), None)
            self.script_defines.pop(name.upper(), None)
        self._keep("UNDEFINE", rest, relative, number)

    def _whenever(self, rest: str, relative: str, number: int) -> None:
        condition = rest.split(maxsplit=1)[0].upper() if rest.strip() else ""
        if condition not in ("SQLERROR", "OSERROR"):
            raise self._error("WHENEVER needs SQLERROR or OSERROR", relative, number)
        # Accepted for SQL*Plus; the runner always stops at the first error and rolls back.
        self._keep("WHENEVER", rest, relative, number)

    def _exit(self, rest: str, relative: str, number: int) -> None:
        status, action = "SUCCESS", "COMMIT"
        for token in rest.replace(";", " ").split():
            word = token.upper()
            if word in ("SUCCESS", "FAILURE", "WARNING") or re.fullmatch(r"-?\d+", word):
                status = word
            elif word in ("COMMIT", "ROLLBACK"):
                action = word
            else:
                raise self._error(
                    f"EXIT {token} is not supported (use SUCCESS, FAILURE, WARNING or a number)",
                    relative,
                    number,
                )
        self._keep("EXIT", f"{status} {action}", relative, number)
        self.stopped = True

    def _execute(self, rest: str, relative: str, number: int) -> None:
        body = rest.rstrip(";").strip()
        if not body:
            raise self._error("EXECUTE needs a PL/SQL statement", relative, number)
        # SQL*Plus wraps EXECUTE's argument in an anonymous block.
        self.items.append(Statement("plsql", f"BEGIN {body}; END;", relative, number, tuple(self.trail)))
        self.previous_semicolon = None

    def _set(self, rest: str, relative: str, number: int) -> None:
        try:
            tokens = shlex.split(rest.rstrip(";"), posix=True)
        except ValueError as exc:
            raise self._error(f"cannot read SET {rest}: {exc}", relative, number) from exc
        if not tokens:
            raise self._error("SET needs an option", relative, number)
        i = 0
        while i < len(tokens):
            option = _resolve_abbreviation(tokens[i], _SET_OPTIONS)
            if option is None:
                raise self._error(f"unknown SET option {tokens[i]!r}", relative, number)
            i += 1
            values: list[str] = []
            if option == "SERVEROUTPUT":
                values, i = self._take(tokens, i, 1, (relative, number))
                while i < len(tokens) and (
                    tokens[i].upper() == "SIZE" or _resolve_abbreviation(tokens[i], (("FORMAT", 3),))
                ):
                    more, i = self._take(tokens, i, 2, (relative, number))
                    values += more
                values = [v.upper() for v in values]
                if values[0] not in ("ON", "OFF"):
                    raise self._error("SET SERVEROUTPUT needs ON or OFF", relative, number)
            elif option in ("DEFINE", "SQLBLANKLINES") or option in _SET_DEFAULT_ONLY:
                values, i = self._take(tokens, i, 1, (relative, number))
                self._apply_setting(option, values[0], relative, number)
            else:  # display setting: its value runs up to the next option name
                while i < len(tokens) and _resolve_abbreviation(tokens[i], _SET_OPTIONS) is None:
                    values.append(tokens[i])
                    i += 1
            self._keep("SET", " ".join([option, *values]), relative, number)

    def _take(self, tokens: list[str], i: int, count: int, where: Location) -> tuple[list[str], int]:
        if i + count > len(tokens):
            raise self._error(f"SET {tokens[i - 1].upper()} is missing a value", *where)
        return tokens[i : i + count], i + count

    def _apply_setting(self, option: str, value: str, relative: str, number: int) -> None:
        upper = value.upper()
        if option == "DEFINE":
            if upper in ("ON", "OFF"):
                self.define_on = upper == "ON"
            elif len(value) == 1 and not value.isalnum() and not value.isspace():
                self.define_on, self.define_char = True, value
            else:
                raise self._error("SET DEFINE needs ON, OFF or a single character", relative, number)
        elif option == "SQLBLANKLINES":
            if upper not in ("ON", "OFF"):
                raise self._error("SET SQLBLANKLINES needs ON or OFF", relative, number)
            self.blank_lines = upper == "ON"
        elif upper not in _SET_DEFAULT_ONLY[option]:
            raise self._error(
                f"SET {option} {value} is not supported by the script runner: it changes how SQL*Plus "
                "reads or commits the script",
                relative,
                number,
            )

    # ---- includes ----------------------------------------------------------------------------

    def _include(self, how: str, rest: str, path: Path, relative: str, number: int) -> None:
        """``@file`` (relative to the root) / ``@@file`` (relative to the including file)."""
        try:
            words = shlex.split(rest, posix=True)
        except ValueError as exc:
            raise self._error(f"cannot read include {rest!r}: {exc}", relative, number) from exc
        if not words:
            raise self._error(f"{how} needs a file name", relative, number)
        name, arguments = words[0], words[1:]
        if self.lenient and self.define_on and self.define_char in name:
            return  # depends on a parameter the caller would pass
        if not Path(name).suffix:
            name += ".sql"
        base = path.parent if how == "@@" else self.root_dir
        target = (base / name).resolve()
        if not target.is_relative_to(self.root_dir):
            raise self._error(f"include {name!r} resolves outside the script root", relative, number)
        shown = target.relative_to(self.root_dir).as_posix()
        if not target.is_file():
            raise self._error(f"included script {shown} not found", relative, number)
        if target in self.active:
            chain = " -> ".join(p.relative_to(self.root_dir).as_posix() for p in [*self.active, target])
            raise self._error(f"include cycle: {chain}", relative, number)
        self._keep(how, shown, relative, number)
        for position, value in enumerate(arguments, start=1):
            self.defines[str(position)] = value  # SQL*Plus passes @file arguments as &1, &2, ...
        self.trail.append((relative, number))
        try:
            self._parse_file(target, shown)
        finally:
            self.trail.pop()

"""Fakes at the python-oracledb boundary: they record SQL and binds, and answer by pattern.

They prove the Python side only (what is sent, in which order, with which binds, and how
answers and errors are handled); nothing here says the PL/SQL works — tests/integration does.

They are strict: before recording, every statement and every ``callproc``/``callfunc`` is checked
against the catalog of tools/sqlcheck (tests/unit/strict_oracle.py) and refused with the error
Oracle would raise (ORA-00942, ORA-00904, PLS-00302, PLS-00306), so no test can enshrine a call
Oracle rejects. A test that deliberately sends made-up SQL (the script runner's tests) builds its
connection with ``strict=False``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import oracledb
from oracledb.errors import _Error  # the driver's own error payload, so tests see real .full_code

from tests.unit import strict_oracle


def db_error(message: str, *, kind: type[oracledb.Error] = oracledb.DatabaseError) -> oracledb.Error:
    """An oracledb error as the driver raises it, e.g. ``db_error("ORA-01017: invalid ...")``."""
    prefix, _, _ = message.partition(":")
    code = int(prefix.split("-")[1]) if prefix.startswith("ORA-") else 0
    return kind(_Error(message, code=code))


def record(text: str) -> None:
    """With SQLCHECK_RECORD=<file>, every statement the fakes accept is appended to it (JSON lines),
    for ``tools/sqlcheck --recorded <file>``: the full parse and semantic check of what was sent."""
    path = os.environ.get("SQLCHECK_RECORD")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": test, "text": text}) + "\n")


def refuse(check: Callable[[], None]) -> None:
    """Run a strict_oracle check; what it refuses is raised as the driver would raise it."""
    try:
        check()
    except strict_oracle.Refusal as refusal:
        raise db_error(str(refusal)) from None


Answer = list[tuple[Any, ...]] | Exception | Callable[[str, dict[str, Any]], Any]


@dataclass
class Executed:
    sql: str
    binds: dict[str, Any]


@dataclass
class FakeConnection:
    """Answers ``execute`` by the first rule whose regex matches the SQL (case-insensitive)."""

    rules: list[tuple[str, Answer]] = field(default_factory=list)
    executed: list[Executed] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0
    closed: bool = False
    strict: bool = True
    """Refuse what Oracle refuses (see strict_oracle); off only for deliberately made-up SQL."""

    def on(self, pattern: str, answer: Answer) -> FakeConnection:
        self.rules.append((pattern, answer))
        return self

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = True

    def sql(self) -> list[str]:
        """Statements sent, without the runner's DBMS_OUTPUT enable/fetch plumbing."""
        return [e.sql for e in self.executed if not re.search(r"dbms_output\.(enable|get_lines)\(", e.sql)]


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.rows: list[tuple[Any, ...]] = []
        self.warning: oracledb.Error | None = None

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def execute(self, sql: str, parameters: dict[str, Any] | None = None, **binds: Any) -> FakeCursor:
        all_binds = {**(parameters or {}), **binds}
        if self.connection.strict and not sql.startswith(("callproc ", "callfunc ")):
            refuse(lambda: strict_oracle.check_sql(sql))
            record(sql)
        self.connection.executed.append(Executed(sql, all_binds))
        self.rows = []
        if "dbms_output.get_lines" in sql:
            all_binds["numlines"].setvalue(0, 0)
            return self
        for pattern, answer in self.connection.rules:
            if re.search(pattern, sql, re.I | re.S):
                if isinstance(answer, Exception):
                    raise answer
                result = answer(sql, all_binds) if callable(answer) else answer
                self.rows = list(result or [])
                break
        return self

    def callproc(
        self, name: str, parameters: list[Any] | None = None, keyword_parameters: dict[str, Any] | None = None
    ) -> list[Any]:
        self.check_call(name, parameters, keyword_parameters)
        self.execute(f"callproc {name}", keyword_parameters or {})
        return list(parameters or [])

    def check_call(
        self, name: str, parameters: list[Any] | None, keyword_parameters: dict[str, Any] | None
    ) -> None:
        if self.connection.strict:
            refuse(
                lambda: strict_oracle.check_call(name, len(parameters or []), list(keyword_parameters or {}))
            )
            # The same call as PL/SQL text, as python-oracledb sends callproc/callfunc.
            args = [f":{i}" for i in range(len(parameters or []))]
            args += [f"{key} => :{key}" for key in keyword_parameters or {}]
            record(f"begin {name}({', '.join(args)}); end;")

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows.pop(0) if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows, []
        return rows

    def var(self, typ: Any = None, size: int = 0, arraysize: int = 1, **kwargs: Any) -> FakeVar:
        return FakeVar()

    def arrayvar(self, typ: Any, value: Any, size: int = 0) -> FakeArrayVar:
        return FakeArrayVar(value if isinstance(value, int) else len(value))


class FakeVar:
    """Bind variable; ``dbms_output.get_lines`` calls get ``numlines`` 0 (no output) by default."""

    def __init__(self, size: int = 1) -> None:
        self.values: list[Any] = [None] * size

    def setvalue(self, pos: int, value: Any) -> None:
        self.values[pos] = value

    def getvalue(self, pos: int = 0) -> Any:
        return self.values[pos]


def installed(connection: FakeConnection, *, schema: str = "APP", version: int = 1) -> FakeConnection:
    """Answers for the dictionary reads of installer.py: current schema and installed version."""
    return (
        connection.on(r"^select sys_context\('USERENV', 'CURRENT_SCHEMA'\) from dual$", [(schema,)])
        .on(r"^select count\(\*\) from user_tables where table_name = 'OTASK_VERSION'$", [(1,)])
        .on(r"^select nvl\(max\(version\), 0\) from otask_version$", [(version,)])
    )


class FakeArrayVar(FakeVar):
    def getvalue(self, pos: int = 0) -> Any:
        return list(self.values)

"""The fakes of tests/unit/fakes.py, plus ``callfunc``/``setinputsizes`` and an async twin.

engine_api calls PL/SQL functions with ``cursor.callfunc``; these record the call like
``callproc`` does (SQL text ``callfunc <name>``, binds = keyword parameters) and return the first
column of the first row of the matching rule. Like fakes.py they prove the Python side only.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import oracledb
import pytest

from tests.unit.fakes import Answer, FakeConnection, FakeCursor, FakeVar


class EngineFakeCursor(FakeCursor):
    def callfunc(
        self,
        name: str,
        return_type: Any,
        parameters: list[Any] | None = None,
        keyword_parameters: dict[str, Any] | None = None,
    ) -> Any:
        self.execute(f"callfunc {name}", keyword_parameters or {})
        row = self.fetchone()
        return row[0] if row else None

    def var(self, typ: Any = None, size: int = 0, arraysize: int = 1, **kwargs: Any) -> TypedVar:
        return TypedVar(typ)


class TypedVar(FakeVar):
    """A bind variable that remembers its database type (e.g. DB_TYPE_CLOB)."""

    def __init__(self, typ: Any) -> None:
        super().__init__()
        self.type = typ


class EngineFakeConnection(FakeConnection):
    def on(self, pattern: str, answer: Answer) -> EngineFakeConnection:
        super().on(pattern, answer)
        return self

    def cursor(self) -> EngineFakeCursor:
        return EngineFakeCursor(self)

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(SQL or 'callfunc/callproc name', binds) in order, for exact assertions."""
        return [(e.sql, e.binds) for e in self.executed]


class AsyncFakeCursor:
    """Just enough of ``oracledb.AsyncCursor`` for the status read: awaitable execute/fetchall."""

    def __init__(self, cursor: EngineFakeCursor) -> None:
        self._cursor = cursor

    def __enter__(self) -> AsyncFakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def var(self, typ: Any = None, **kwargs: Any) -> TypedVar:
        return self._cursor.var(typ, **kwargs)

    async def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._cursor.execute(sql, parameters)

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()


class AsyncFakeConnection:
    def __init__(self, connection: EngineFakeConnection) -> None:
        self.sync = connection

    def cursor(self) -> AsyncFakeCursor:
        return AsyncFakeCursor(self.sync.cursor())


STARTED = datetime(2025, 3, 1, 12, 0, 0)  # naive UTC, as sys_extract_utc returns it
CREATED = datetime(2025, 3, 1, 11, 59, 58)


def status_row(
    instance_id: int,
    state: str = "RUNNING",
    *,
    counts: dict[str, int] | None = None,
    taskspace: str = "ETL",
    run_key: str | None = None,
    target_threads: int = 4,
    live_workers: int = 4,
    started: datetime | None = STARTED,
    ended: datetime | None = None,
    elapsed: float | None = 40.0,
) -> tuple[Any, ...]:
    """One STATUS_SQL row (column order of status.STATUS_COLUMNS), rate as the view computes it."""
    c = {"WAITING": 0, "READY": 0, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 0, "SKIPPED": 0, "STOPPED": 0}
    c.update(counts or {})
    if started is None:
        elapsed = None
    rate = round((c["SUCCEEDED"] + c["FAILED"]) / elapsed, 3) if elapsed else None
    return (
        instance_id,
        state,
        taskspace,
        run_key,
        target_threads,
        live_workers,
        CREATED,
        started,
        ended,
        elapsed,
        rate,
        c["WAITING"],
        c["READY"],
        c["RUNNING"],
        c["SUCCEEDED"],
        c["FAILED"],
        c["SKIPPED"],
        c["STOPPED"],
    )


def by_ids(rows: dict[int, list[tuple[Any, ...]]]) -> Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """A rule answer that returns, for the ids in the ``:ids`` JSON bind, their rows (in id order)."""

    def answer(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        ids = binds["ids"]
        text = ids.getvalue() if isinstance(ids, FakeVar) else ids
        return [row for instance_id in json.loads(text) for row in rows.get(instance_id, [])]

    return answer


def watchdog_pattern() -> str:
    return re.escape("l_state := otask.instance_state(p_instance_id => r.id);")


STATUS_PATTERN = r"from otask_instances_v i\n where i\.instance_id in"
"""Matches status.STATUS_SQL only (not the taskspace list, which filters on taskspace)."""


def patch_connect(monkeypatch: pytest.MonkeyPatch, connection: FakeConnection) -> list[dict[str, Any]]:
    """``oracle_default`` exists and every ``oracledb.connect`` returns ``connection``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps(
            {
                "conn_type": "oracle",
                "login": "APP",
                "password": "secret-pw",
                "extra": {"dsn": "db-host:1521/FREEPDB1"},
            }
        ),
    )
    calls: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> FakeConnection:
        calls.append(kwargs)
        return connection

    monkeypatch.setattr(oracledb, "connect", connect)
    return calls


def sequence(*answers: Any) -> Callable[[str, dict[str, Any]], Any]:
    """A rule answer that gives the next item on every call (the last one repeats)."""
    items: Iterator[Any] = iter(answers)
    last: list[Any] = [None]

    def answer(sql: str, binds: dict[str, Any]) -> Any:
        with contextlib.suppress(StopIteration):
            last[0] = next(items)
        value = last[0]
        if isinstance(value, Exception):
            raise value
        return value(sql, binds) if callable(value) else value

    return answer

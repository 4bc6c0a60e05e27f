"""Bind and result helpers every domain's SQL shares: JSON id lists as binds, first error lines."""

from __future__ import annotations

from typing import Any

import oracledb

SQL_VARCHAR_BYTES = 4000
"""A VARCHAR2 bind in SQL holds at most 4000 bytes; a longer JSON list goes as a CLOB."""
MESSAGE_CHARS = 500
"""Default cut of an error line kept in a status reading."""


def first_line(message: str | None, limit: int = MESSAGE_CHARS) -> str:
    """The first non-empty line of an error stack, cut to ``limit`` characters ("" if none)."""
    for line in (message or "").splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return ""


def json_bind(cursor: Any, text: str) -> Any:
    """A JSON list bind (ids here, jobs in :mod:`~airflow_provider_oracle_tasks.chains.status`): up
    to 4000 bytes as text, a longer one as a CLOB (a VARCHAR2 bind is limited to 4000 bytes in SQL)."""
    if len(text.encode("utf-8")) <= SQL_VARCHAR_BYTES:
        return text
    variable = cursor.var(oracledb.DB_TYPE_CLOB)
    variable.setvalue(0, text)
    return variable

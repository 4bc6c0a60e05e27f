"""Argument checks shared by operators, sensors and the CLI.

They run before any database call, and each error names the argument and the fix, so a bad DAG
fails at parse or start time instead of half-way through a batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Oracle's simple (unquoted) SQL name: a letter, then letters, digits, _, $ or #; 128 bytes max
# (19c+; ASCII only, so characters are bytes). Quoted names are not accepted: nothing the
# provider creates needs them. Always fullmatch: "$" would also match before a trailing newline.
_SIMPLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$#]{0,127}")


def oracle_identifier(value: Any, argument: str, *, optional: bool = False) -> str | None:
    """Return ``value`` upper-cased if it is a simple Oracle name, else raise ValueError."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _SIMPLE_NAME.fullmatch(value):
        raise ValueError(
            f"{argument}={value!r} is not a valid Oracle name: use 1-128 characters, a letter first, "
            "then letters, digits, _, $ or # (no quotes, spaces or dots)."
        )
    return value.upper()


def job_class(value: Any, argument: str) -> str | None:
    """A Scheduler job class name, upper-cased, or None; a ``SYS.`` prefix is allowed and dropped
    (job classes always live in SYS), as the engine's ``checked_job_class`` does."""
    if isinstance(value, str) and value[:4].upper() == "SYS.":
        value = value[4:]
    return oracle_identifier(value, argument, optional=True)


def flag(value: Any, argument: str) -> bool:
    """Booleans only: a string like 'false' is truthy in Python and would silently do the opposite."""
    if not isinstance(value, bool):
        raise TypeError(f"{argument}={value!r} must be True or False (a bool, not {type(value).__name__}).")
    return value


# --- engine arguments ---------------------------------------------------------------------------
# The limits mirror the engine's (sql/engine/otask.pks and the table checks), so a bad value fails
# in Python with the argument's name instead of an ORA-201xx half-way through a DAG run.
MAX_THREADS = 1000  # OTASK.C_MAX_THREADS
MAX_RETRIES = 100  # OTASK.C_MAX_RETRIES
MAX_RETRY_DELAY_SECONDS = 86400  # OTASK_INSTANCES.RETRY_DELAY_SECONDS check
MAX_GROUP = 999_999_999  # OTASK_TASKS.GROUP_NO number(9)
MAX_TASK_NAME = 256  # OTASK_TASKS.NAME varchar2(256 byte)
MAX_BIND_VALUE_BYTES = 4000  # OTASK_TASK_BINDS.BIND_VALUE varchar2(4000)
TASK_KEYS = ("sql", "name", "group", "priority", "retries", "binds")
STOP_MODES = ("SOFT", "HARD")
MAX_BIND_NAME = 30  # otask_build.bind_name_or_null: at most 30 characters, OTASK_* reserved
_BIND_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9_$#]{{0,{MAX_BIND_NAME - 1}}}")
_RESERVED_BIND_PREFIX = "OTASK_"


def integer(value: Any, argument: str, *, low: int, high: int, fix: str = "") -> int:
    """An int in [low, high]; bool is refused (True would silently mean 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        hint = f" {fix}" if fix else ""
        raise ValueError(f"{argument}={value!r} must be a whole number from {low} to {high}.{hint}")
    return value


def threads(value: Any, argument: str) -> int:
    """Target workers of an instance: 0 (pause) to the engine's maximum of 1000."""
    return integer(
        value, argument, low=0, high=MAX_THREADS, fix="Use 0 to pause, or the number of parallel workers."
    )


def optional_threads(value: Any, argument: str) -> int | None:
    """Like :func:`threads`, but None means "the engine's default" (taskspace / last target)."""
    return None if value is None else threads(value, argument)


def instance_id(value: Any, argument: str) -> int:
    """An engine instance id: a positive whole number (see OTASK_INSTANCES_V)."""
    return integer(
        value, argument, low=1, high=10**19 - 1, fix="Pass the id returned by submit / create_instance."
    )


def retries(value: Any, argument: str) -> int:
    """A retry budget: how many times a failed task may start again (0-100)."""
    return integer(value, argument, low=0, high=MAX_RETRIES, fix="Use 0 for no retries.")


def retry_delay_seconds(value: Any, argument: str) -> int:
    return integer(value, argument, low=0, high=MAX_RETRY_DELAY_SECONDS, fix="Use 0 to retry at once.")


def days(value: Any, argument: str) -> float:
    """A non-negative age in days (fractions allowed, e.g. 0.5 for twelve hours)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise ValueError(f"{argument}={value!r} must be a number of days >= 0, e.g. 30 or 0.5.")
    return float(value)


def stop_mode(value: Any, argument: str) -> str:
    """SOFT (running tasks finish) or HARD (their jobs are stopped now), any case."""
    if not isinstance(value, str) or value.strip().upper() not in STOP_MODES:
        raise ValueError(
            f"{argument}={value!r} must be 'SOFT' (running tasks finish, nothing new starts) or "
            "'HARD' (running tasks are stopped at once)."
        )
    return value.strip().upper()


def text(value: Any, argument: str, *, max_length: int, optional: bool = True) -> str | None:
    """A string of at most ``max_length`` bytes in UTF-8 (None allowed when optional).

    Bytes, because the columns behind these values are VARCHAR2 with byte semantics: 200 x "é"
    is 200 characters but 400 bytes, and would fail the insert with ORA-12899.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value.encode("utf-8")) > max_length:
        raise ValueError(
            f"{argument}={value!r} must be a non-empty string of at most {max_length} bytes in UTF-8 "
            f"({max_length} characters if plain ASCII; accented letters take 2 bytes or more)."
        )
    return value


def _bind_value(value: Any, argument: str) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(
                f"{argument}={value!r}: NaN and infinity cannot be bound; pass a number or None."
            )
        return value
    if isinstance(value, str):
        if len(value.encode("utf-8")) > MAX_BIND_VALUE_BYTES:
            raise ValueError(
                f"{argument} is longer than {MAX_BIND_VALUE_BYTES} bytes (the engine binds VARCHAR2): "
                "pass a key and let the task's SQL read the large value from a table."
            )
        return value
    raise ValueError(
        f"{argument}={value!r} ({type(value).__name__}) cannot be bound: use str, int, float, bool or None "
        "(convert dates to text and use to_date(:name, 'YYYY-MM-DD') in the SQL)."
    )


def bind_values(value: Any, argument: str) -> dict[str, Any] | None:
    """A task's binds ``{'name': value}`` for the placeholders ``:name`` (None when there are none)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{argument} must be a dict {{'name': value}} of bind values, not {type(value).__name__}."
        )
    result: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _BIND_NAME.fullmatch(name):
            raise ValueError(
                f"{argument} has the bind name {name!r}: use the placeholder's name without the colon "
                f"(a letter, then letters, digits, _, $ or #; at most {MAX_BIND_NAME} characters), "
                "e.g. {'p1': 'x'} for :p1."
            )
        if name.upper().startswith(_RESERVED_BIND_PREFIX):
            raise ValueError(
                f"{argument} has the bind name {name!r}: names starting with {_RESERVED_BIND_PREFIX} are "
                "reserved for the engine's own binds; rename the placeholder."
            )
        result[name] = _bind_value(item, f"{argument}[{name!r}]")
    return result


def _task(item: Any, argument: str) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"sql": item}
    if not isinstance(item, dict):
        raise ValueError(
            f"{argument}={item!r} must be a SQL string or a dict with keys {', '.join(TASK_KEYS)}."
        )
    unknown = sorted(str(key) for key in item if key not in TASK_KEYS)
    if unknown:
        raise ValueError(
            f"{argument} has unknown key(s) {', '.join(unknown)}: allowed are {', '.join(TASK_KEYS)}."
        )
    sql = item.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError(
            f"{argument}.sql is missing or empty: give the SQL statement or PL/SQL block to run."
        )
    task: dict[str, Any] = {"sql": sql}
    if item.get("name") is not None:
        task["name"] = text(item["name"], f"{argument}.name", max_length=MAX_TASK_NAME)
    if item.get("group") is not None:
        task["group"] = integer(item["group"], f"{argument}.group", low=0, high=MAX_GROUP)
    if item.get("priority") is not None:
        task["priority"] = integer(
            item["priority"], f"{argument}.priority", low=-MAX_GROUP, high=MAX_GROUP, fix="Lower runs first."
        )
    if item.get("retries") is not None:
        task["retries"] = retries(item["retries"], f"{argument}.retries")
    binds = bind_values(item.get("binds"), f"{argument}.binds")
    if binds:
        task["binds"] = binds
    return task


def task_list(value: Any, argument: str, *, allow_empty: bool = False) -> list[dict[str, Any]]:
    """Ad-hoc tasks as the engine's add_tasks JSON wants them: a list of dicts, defaults left out.

    Each item is a SQL string or a dict with ``sql`` (required), ``name``, ``group``,
    ``priority``, ``retries`` and ``binds``; anything else is refused by name, so a misspelt key
    (``"retry"``) is not silently ignored.
    """
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"{argument} must be a list of SQL strings or task dicts, not {type(value).__name__}."
        )
    if not value and not allow_empty:
        raise ValueError(f"{argument} is empty: give at least one task (a SQL string or a dict with 'sql').")
    return [_task(item, f"{argument}[{index}]") for index, item in enumerate(value)]

"""Argument checks shared by the operators and sensors: at parse time unless templated, again
after rendering. Cheap to import (no ``oracledb``, no hook): DAG files import it while parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.waiting import progress

_DIGITS = re.compile(r"\s*[0-9]+\s*")


def is_late(value: Any) -> bool:
    """True for a value only known at run time (Jinja template, XComArg): checked in execute."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_late(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(is_late(item) for item in value)
    return not isinstance(value, bool | int | float | type(None))


def rendered_int(value: Any, argument: str, check: Callable[[Any, str], Any]) -> Any:
    """Apply ``check``; a rendered template is text, so digits-only text counts as its number."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    return check(value, argument)


def check_now(value: Any, argument: str, check: Callable[[Any, str], Any]) -> None:
    """At DAG parse time: check a value unless it is templated or an XComArg."""
    if not is_late(value):
        check(value, argument)


def stop_mode_or_none(value: Any, argument: str) -> str | None:
    return None if value is None else validation.stop_mode(value, argument)


def optional_seconds(value: Any, argument: str) -> float | None:
    """Like :func:`seconds`; None means "no limit"."""
    return None if value is None else seconds(value, argument)


def seconds(value: Any, argument: str) -> float:
    """A duration as float seconds (int, float or timedelta), >= 0."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise ValueError(f"{argument}={value!r} must be a number of seconds >= 0 or a timedelta.")
    return float(value)


def poll_interval(value: Any, argument: str) -> float:
    """A poll interval in seconds, at least :data:`progress.MIN_POLL_INTERVAL` (1 s)."""
    interval = seconds(value, argument)
    if interval < progress.MIN_POLL_INTERVAL:
        raise ValueError(
            f"{argument}={value!r} is below {progress.MIN_POLL_INTERVAL:g} s: every poke opens a "
            "connection and reads the status, so a tiny interval hammers the database. Use at least "
            f"{progress.MIN_POLL_INTERVAL:g} (the default is {progress.DEFAULT_POLL_INTERVAL:g}), or "
            "deferrable=True to wait in the triggerer."
        )
    return interval


def wait_failed(event: Mapping[str, Any]) -> str:
    """The task-log message of a trigger's ``error`` event (it carries the ORA/DPY code)."""
    return f"Waiting for instance {event.get('instance_id')} failed: {event.get('message')}"

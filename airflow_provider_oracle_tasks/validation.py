"""Argument checks shared by operators, sensors and the CLI.

They run before any database call, and each error names the argument and the fix, so a bad DAG
fails at parse or start time instead of half-way through a batch.
"""

from __future__ import annotations

import re
from typing import Any

# Oracle's simple (unquoted) SQL name: a letter, then letters, digits, _, $ or #; 128 bytes max
# (19c+). Quoted names are not accepted: nothing the provider creates needs them.
_SIMPLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_$#]{0,127}$")


def oracle_identifier(value: Any, argument: str, *, optional: bool = False) -> str | None:
    """Return ``value`` upper-cased if it is a simple Oracle name, else raise ValueError."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _SIMPLE_NAME.match(value):
        raise ValueError(
            f"{argument}={value!r} is not a valid Oracle name: use 1-128 characters, a letter first, "
            "then letters, digits, _, $ or # (no quotes, spaces or dots)."
        )
    return value.upper()


def flag(value: Any, argument: str) -> bool:
    """Booleans only: a string like 'false' is truthy in Python and would silently do the opposite."""
    if not isinstance(value, bool):
        raise TypeError(f"{argument}={value!r} must be True or False (a bool, not {type(value).__name__}).")
    return value

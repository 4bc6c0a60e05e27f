"""Defaults and limits of chain waiting, importable at DAG-parse time (no oracledb, no Airflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_STALL_GRACE = 60.0
DEFAULT_MISSING_GRACE = 120.0
MIN_STALL_GRACE = 5.0
"""A running chain is judged STALLED only after at least this many quiet seconds: between one step's
end and the next step's start no step is active for a moment, and that moment is not a stall."""


def stall_grace_seconds(value: Any, poke_interval: float, argument: str = "stall_grace") -> float | None:
    """None (trust Oracle's CHAIN_STALLED only), or seconds >= max(poke_interval, MIN_STALL_GRACE)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    floor = max(float(poke_interval), MIN_STALL_GRACE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not floor <= value < float("inf"):
        raise ValueError(
            f"{argument}={value!r} must be None or a number of seconds >= {floor:g} (the larger of "
            f"poke_interval and {MIN_STALL_GRACE:g} s): a shorter grace judges the quiet moment between "
            "two steps a stall and stops a healthy chain"
        )
    return float(value)

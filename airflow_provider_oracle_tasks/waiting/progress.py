"""What waiting tasks and their trigger share: defaults, progress logging, timeout wording, and
the polling loop of the operators' non-deferrable path (:func:`poll_until`).

Kept free of heavy imports (no ``oracledb``, no hook): the operators and the sensor import it
while the DAG processor parses DAG files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = 30.0
MIN_POLL_INTERVAL = 1.0
"""Floor of ``poke_interval`` on the worker: each read opens a connection and runs 3 statements,
so 0 would be a busy loop of thousands of status reads a second against the database."""
DEFAULT_PROGRESS_LOG_INTERVAL = 60.0
DEFER_TIMEOUT_MARGIN = 120.0
"""Seconds Airflow's deferral timeout is set after the trigger's own ``timeout_at``: the trigger's
timeout event (with the last status) then wins over the scheduler's ``__fail__``, which comes only
every ``trigger_timeout_check_interval``; the scheduler's timeout stays the backstop."""
HEARTBEAT_FACTOR = 10
"""An unchanged instance is still logged every HEARTBEAT_FACTOR x progress_log_interval."""


class ProgressLog:
    """Progress lines at a sane rate: the first reading, a change at most every ``interval``
    seconds, a heartbeat every ``HEARTBEAT_FACTOR x interval`` seconds, and the final state.

    Shared by the trigger and the operators' polling path so both modes log alike.
    """

    def __init__(
        self,
        logger: Any,
        interval: float = DEFAULT_PROGRESS_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.interval = max(float(interval), 0.0)
        self.clock = clock
        self._last_at: float | None = None
        self._last_key: tuple[Any, ...] | None = None
        self._problem_at: float | None = None

    def update(self, current: InstanceStatus) -> bool:
        """Log ``current`` if it is time to; returns whether a line was written."""
        now = self.clock()
        key = (current.state, tuple(sorted(current.counts.items())), current.target_threads)
        since = None if self._last_at is None else now - self._last_at
        due = (
            since is None
            or current.is_finished
            or (key != self._last_key and since >= self.interval)
            or since >= self.interval * HEARTBEAT_FACTOR
        )
        if due:
            self.log.info("%s", current.progress_line())
            self._last_at, self._last_key = now, key
        return due

    def problem(self, message: str) -> bool:
        """A transient read failure that is being retried, at most once per ``interval``."""
        now = self.clock()
        if self._problem_at is not None and now - self._problem_at < self.interval:
            return False
        self._problem_at = now
        self.log.warning("Status read failed, retrying (transient): %s", message)
        return True


def timeout_message(instance_id: int, limit: str, last: InstanceStatus | None) -> str:
    """``instance 7 did not finish within 10 s (instance 7 RUNNING: 3/9 done, ...)``."""
    where = last.progress_line() if last is not None else "no status read yet"
    return f"instance {instance_id} did not finish {limit} ({where})"


def poll_until(
    current: T,
    *,
    finished: Callable[[T], bool],
    read: Callable[[], T],
    interval: float,
    timeout: float | None,
    timed_out: Callable[[T], NoReturn],
    show: Callable[[T], Any],
) -> T:
    """Sleep ``interval`` and ``read()`` until ``finished``; each new reading goes to ``show``.

    ``interval`` is never taken below :data:`MIN_POLL_INTERVAL`. Once ``timeout`` seconds (None:
    no limit) have passed, ``timed_out`` gets the last reading and must raise; the last sleep is
    cut short so the limit is kept.
    """
    started = time.monotonic()
    while not finished(current):
        waited = time.monotonic() - started
        if timeout is not None and waited >= timeout:
            timed_out(current)
        left = float("inf") if timeout is None else timeout - waited
        time.sleep(max(min(max(interval, MIN_POLL_INTERVAL), left), 0.0))
        current = read()
        show(current)
    return current

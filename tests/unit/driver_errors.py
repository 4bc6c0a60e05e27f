"""Driver (DPY) errors as python-oracledb raises them, on every supported oracledb version.

``oracledb.errors._create_exception`` exists only from oracledb 3.3; ``_create_err`` plus the
error's ``exc_type`` is what it does, and works from the floor (3.2) on.
"""

from __future__ import annotations

from typing import Any

from oracledb import errors as ora_errors


def driver_exception(error_num: int, cause: Exception | None = None, **args: Any) -> Exception:
    error = ora_errors._create_err(error_num, None, cause, **args)
    exc: Exception = error.exc_type(error)
    if cause is not None:
        exc.__cause__ = cause
    return exc

"""Wait until the test database accepts the owner's and the DBA's logins (CI, E-24).

The Oracle container images report "healthy" once the PDB is open; their entrypoint sets the
passwords and creates APP_USER only afterwards. Run before anything logs in:

    python tests/integration/wait_for_database.py --timeout 600

Reads the same ORACLE_TASKS_TEST_* variables as the suite (conftest.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import oracledb


def _can_log_in(user: str, password: str, dsn: str) -> str | None:
    """None when a login and a query work, else the error text."""
    try:
        with (
            oracledb.connect(user=user, password=password, dsn=dsn) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("select 1 from dual")
            cursor.fetchone()
    except oracledb.Error as error:
        return str(error).splitlines()[0]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
    args = parser.parse_args()
    dsn = os.environ["ORACLE_TASKS_TEST_DSN"]
    accounts = [(os.environ["ORACLE_TASKS_TEST_USER"], os.environ["ORACLE_TASKS_TEST_PASSWORD"])]
    if os.environ.get("ORACLE_TASKS_TEST_ADMIN_USER"):
        accounts.append(
            (os.environ["ORACLE_TASKS_TEST_ADMIN_USER"], os.environ["ORACLE_TASKS_TEST_ADMIN_PASSWORD"])
        )
    deadline = time.monotonic() + args.timeout
    for user, password in accounts:
        while (problem := _can_log_in(user, password, dsn)) is not None:
            if time.monotonic() > deadline:
                print(f"{user}@{dsn} cannot log in after {args.timeout:.0f} s: {problem}", file=sys.stderr)
                return 1
            print(f"waiting for {user}@{dsn}: {problem}")
            time.sleep(5)
        print(f"{user}@{dsn} can log in")
    return 0


if __name__ == "__main__":
    sys.exit(main())

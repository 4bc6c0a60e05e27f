"""``oracle-tasks``: install the engine, and watch and regulate its instances, from a shell.

Exit codes (also in ``--help`` and docs/cli.md): 0 done; 1 database, script or engine error
(ORA-201xx with the engine's message); 2 bad usage; 3 missing privileges; 4 wrong schema or
installed schema newer than this package; 5 cannot connect (unknown connection id, unreachable
database, wrong password); 6 unknown instance (never created, or purged); 7 ``status ID``: the
instance ended FAILED or STOPPED; 130 ``status --watch`` left with Ctrl-C (nothing changed).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow_provider_oracle_tasks import __version__
from airflow_provider_oracle_tasks.cli.exit_codes import (
    EXIT_CONNECT,
    EXIT_ERROR,
    EXIT_INSTANCE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PRIVILEGES,
    EXIT_UNKNOWN_INSTANCE,
    EXIT_USAGE,
    EXIT_VERSION,
)
from airflow_provider_oracle_tasks.engine.errors import UnknownInstanceError
from airflow_provider_oracle_tasks.errors import (
    ConnectionProblem,
    MissingPrivilegesError,
    OracleTasksError,
    SchemaVersionError,
    WrongSchemaError,
)
from airflow_provider_oracle_tasks.validation import oracle_identifier

__all__ = [
    "EXIT_CONNECT",
    "EXIT_ERROR",
    "EXIT_INSTANCE_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PRIVILEGES",
    "EXIT_UNKNOWN_INSTANCE",
    "EXIT_USAGE",
    "EXIT_VERSION",
    "main",
]

ENGINE_COMMANDS = ("status", "threads", "stop", "retry", "purge")
DEFAULT_WATCH_SECONDS = 2.0
PASSWORD_ENV = "ORACLE_TASKS_PASSWORD"

_EPILOG = f"""\
connection (pick one):
  --conn-id ID            an Airflow 'oracle' connection (metadata DB, secrets backend or
                          AIRFLOW_CONN_<ID> environment variable), e.g. oracle_default
  --dsn DSN --user USER   connect directly; the password comes from ${PASSWORD_ENV} or a prompt

what is needed: the schema owner must hold CREATE SESSION, TABLE, SEQUENCE, PROCEDURE, VIEW,
TYPE and JOB directly (not through a role), EXECUTE on SYS.DBMS_AQ and SYS.DBMS_AQADM, and a
tablespace quota. `check` lists what is missing; a DBA grants it all with sql/grants.sql.
status, threads, stop, retry and purge need only the OTASK_USER_ROLE (or the owner).

exit codes:
  0 done   1 database, script or engine error (ORA-201xx: the message says what to fix)
  2 bad usage   3 missing privileges   4 wrong schema, or installed schema newer than this package
  5 cannot connect   6 unknown instance (never created, or purged)
  7 status ID: the instance ended FAILED or STOPPED   130 status --watch left with Ctrl-C

examples:
  oracle-tasks grants --dsn db-host:1521/ORCLPDB1 --user SYSTEM --owner APP_OWNER
  oracle-tasks check --conn-id oracle_default
  oracle-tasks install --dsn db-host:1521/ORCLPDB1 --user APP_OWNER
  oracle-tasks install --dry-run            (one line per statement; no database needed)
  oracle-tasks status 42 --watch --conn-id oracle_default
  oracle-tasks threads 42 8 --conn-id oracle_default
  oracle-tasks uninstall --conn-id oracle_default --yes
"""

_SEE_MAIN_HELP = "connection options, privileges and exit codes: oracle-tasks --help\n"

_COMMAND_EXAMPLES = {
    "install": """\
Runs sql/install.sql: checks privileges first (lists every missing GRANT, changes nothing), then
creates or upgrades the engine in the connection's schema. Safe to repeat.

  oracle-tasks install --dsn db-host:1521/FREEPDB1 --user OTASK
  oracle-tasks install --conn-id oracle_default --expected-schema OTASK
  oracle-tasks install --dry-run            (one line per statement; no database needed)
""",
    "grants": """\
Run once by a DBA, before install: grants the owner schema, directly (not through a role), what
the engine needs, and sets up OTASK_USER_ROLE. The same as running sql/grants.sql in SQL*Plus.

  oracle-tasks grants --dsn db-host:1521/FREEPDB1 --user SYSTEM --owner OTASK
""",
    "status": """\
Reads OTASK_INSTANCES_V / OTASK_TASKS_V and runs the engine's watchdog (a RUNNING task whose
worker job died becomes FAILED, or READY again within its retry budget), like every status read.
--watch redraws until the instance SUCCEEDED, FAILED or STOPPED; Ctrl-C leaves (exit 130) and
changes nothing. Times are shown in this machine's time zone.

  oracle-tasks status 42 --conn-id oracle_default
  oracle-tasks status 42 --watch 5 --conn-id oracle_default      (refresh every 5 s)
  oracle-tasks status --taskspace ETL --watch --conn-id oracle_default
  oracle-tasks status 42 --json --conn-id oracle_default          (for scripts)
""",
    "threads": """\
Raising the target starts the missing workers at once; lowering it lets workers exit after their
current task (running tasks are never interrupted); 0 pauses the instance until you raise it.
The taskspace cap (OTASK.SET_TASKSPACE) still applies.

  oracle-tasks threads 42 8 --conn-id oracle_default
  oracle-tasks threads 42 0 --conn-id oracle_default               (pause)
""",
    "stop": """\
Soft (default): running tasks finish, nothing new starts, the rest is SKIPPED; the instance ends
STOPPED when its last running task ends. --hard: also stops this instance's worker jobs now
(only these, by exact name); their tasks become STOPPED (ORA-20151). Stopping a finished
instance changes nothing.

  oracle-tasks stop 42 --conn-id oracle_default
  oracle-tasks stop 42 --hard --conn-id oracle_default
""",
    "retry": """\
Puts FAILED tasks (and the tasks skipped or stopped because of them) back to READY with a fresh
retry budget and restarts the workers: --threads N, or the last non-zero target. Allowed on
RUNNING, FAILED and STOPPED instances.

  oracle-tasks retry 42 --conn-id oracle_default
  oracle-tasks retry 42 --threads 2 --conn-id oracle_default
""",
    "purge": """\
Deletes finished instances (SUCCEEDED, FAILED, STOPPED; and CREATED ones never started) older
than DAYS, with their tasks, plus engine log entries older than that. Running instances are
never touched. Commits per instance, so it can run while the engine works (e.g. nightly).

  oracle-tasks purge --older-than 30 --conn-id oracle_default
""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oracle-tasks",
        description=(
            "Install, upgrade, check and remove the oracle-tasks engine in an Oracle schema; "
            "watch its instances and change their threads, stop, retry and purge them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oracle-tasks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *, who: str = "the schema owner") -> argparse.ArgumentParser:
        # Each sub-command's --help shows its own options and examples; the shared connection,
        # privilege and exit-code notes are in `oracle-tasks --help` only.
        examples = _COMMAND_EXAMPLES.get(name)
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=(f"{examples}\n" if examples else "") + _SEE_MAIN_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        target = sub.add_mutually_exclusive_group()
        target.add_argument("--conn-id", help=f"Airflow 'oracle' connection id of {who}")
        target.add_argument(
            "--dsn",
            help=f"connect directly as {who}: Easy Connect string or TNS alias, e.g. host:1521/SERVICE",
        )
        sub.add_argument(
            "--user", help=f"database user (with --dsn); password from ${PASSWORD_ENV} or a prompt"
        )
        return sub

    install = command("install", "install the engine, or upgrade it in place (safe to repeat)")
    install.add_argument("--dry-run", action="store_true", help="print the statements; no database")
    install.add_argument("--expected-schema", help="refuse unless the connection's schema is this one")
    uninstall = command("uninstall", "drop every engine object (OTASK, OTASK_*) and its history")
    uninstall.add_argument("--dry-run", action="store_true", help="print the statements; no database")
    uninstall.add_argument("--expected-schema", help="refuse unless the connection's schema is this one")
    uninstall.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    grants = command(
        "grants",
        "as a DBA: grant the owner schema what the engine needs (sql/grants.sql)",
        who="a DBA (e.g. SYSTEM), not the owner",
    )
    grants.add_argument("--owner", required=True, help="schema that will own the engine, e.g. APP_OWNER")
    command("version", "print the package, scripts and installed schema versions")
    command("check", "check privileges and versions without changing anything")
    _engine_commands(command)
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} s: refresh every 0.5 to 3600 seconds")
    return value


def _engine_commands(command: Any) -> None:
    status = command(
        "status", "show an instance (or a taskspace's newest instances); --watch for live progress"
    )
    status.add_argument(
        "instance_id", nargs="?", type=int, metavar="INSTANCE_ID", help="id from OTASK_INSTANCES_V"
    )
    status.add_argument(
        "--taskspace", metavar="NAME", help="show the newest instances of this taskspace instead"
    )
    status.add_argument(
        "--limit", type=int, default=20, metavar="N", help="with --taskspace: how many (default 20)"
    )
    status.add_argument(
        "--watch",
        nargs="?",
        type=_positive_seconds,
        const=DEFAULT_WATCH_SECONDS,
        metavar="SECONDS",
        help=f"redraw every SECONDS (default {DEFAULT_WATCH_SECONDS:g}) until it finishes or Ctrl-C",
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON (no --watch)")
    threads = command("threads", "change the number of workers of a running instance (0 pauses it)")
    threads.add_argument("instance_id", type=int, metavar="INSTANCE_ID")
    threads.add_argument("threads", type=int, metavar="N", help="target workers, 0-1000")
    stop = command("stop", "stop an instance: running tasks finish (soft), or are stopped now (--hard)")
    stop.add_argument("instance_id", type=int, metavar="INSTANCE_ID")
    stop.add_argument("--hard", action="store_true", help="stop the running tasks' worker jobs at once")
    retry = command("retry", "run the failed tasks of an instance again")
    retry.add_argument("instance_id", type=int, metavar="INSTANCE_ID")
    retry.add_argument(
        "--threads", type=int, metavar="N", help="workers to restart with (default: last target)"
    )
    purge = command("purge", "delete finished instances older than DAYS, with their tasks and log")
    purge.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="age in days, e.g. 30 or 0.5"
    )


@contextmanager
def _connect(args: argparse.Namespace) -> Iterator[Any]:
    if args.conn_id:
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

        connection = OracleTaskManagerHook(oracle_conn_id=args.conn_id).get_conn()
    else:
        import oracledb

        from airflow_provider_oracle_tasks.db.transient import describe_db_error

        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise ConnectionProblem(f"no password: set ${PASSWORD_ENV} (no terminal to prompt on).")
            password = getpass.getpass(f"password for {args.user}: ")
        try:
            connection = oracledb.connect(user=args.user, password=password, dsn=args.dsn)
        except (oracledb.Error, OSError) as error:  # OSError: socket.gaierror is not wrapped by oracledb
            raise ConnectionProblem(
                f"cannot connect to {args.dsn} as {args.user}: {describe_db_error(error, dsn=args.dsn)}"
            ) from error
    try:
        yield connection
    finally:
        connection.close()


def _needs_connection(args: argparse.Namespace) -> bool:
    return not getattr(args, "dry_run", False) and not (args.command == "version" and not _has_target(args))


def _has_target(args: argparse.Namespace) -> bool:
    return bool(args.conn_id or args.dsn)


def _run(args: argparse.Namespace) -> int:
    from airflow_provider_oracle_tasks.install import installer

    if args.command in ENGINE_COMMANDS:
        from airflow_provider_oracle_tasks.cli import engine_commands as cli_engine

        cli_engine.check_arguments(args)  # exit 2 before any password prompt or connection
        with _connect(args) as connection:
            return cli_engine.run(args, connection)

    if args.command == "version":
        print(f"package: airflow-provider-oracle-tasks {__version__}")
        print(f"scripts schema version: {installer.scripts_version()}")
        if _has_target(args):
            with _connect(args) as connection:
                print(
                    f"installed schema version: {installer.installed_version(connection)}"
                    f" (schema {installer.current_schema(connection)})"
                )
        return EXIT_OK

    if args.command == "check":
        with _connect(args) as connection:
            result = installer.check(connection, log=print)
        print(
            f"schema {result.schema}: installed version {result.installed_version}, "
            f"scripts version {result.scripts_version}"
        )
        result.raise_if_failed()
        print("check passed: install can proceed")
        return EXIT_OK

    if args.command == "grants":
        owner = oracle_identifier(args.owner, "--owner")
        with _connect(args) as connection:
            installer.grant(connection, str(owner), log=print)
        print(f"granted; now install as {owner}")
        return EXIT_OK

    if args.dry_run:
        if args.command == "install":
            installer.install(None, dry_run=True, log=print)
        else:
            installer.uninstall(None, dry_run=True, log=print)
        return EXIT_OK
    if args.command == "uninstall" and not args.yes:
        if not sys.stdin.isatty():
            print(
                "uninstall drops every engine object and its history: add --yes to confirm.", file=sys.stderr
            )
            return EXIT_USAGE
        if input("Drop every oracle-tasks object and its history from this schema? [y/N] ").lower() != "y":
            print("nothing changed")
            return EXIT_OK
    with _connect(args) as connection:
        schema = installer.check_expected_schema(connection, args.expected_schema)
        if args.command == "install":
            version = installer.install(connection, log=print)
            print(f"oracle-tasks schema version {version} installed in {schema}")
        else:
            installer.uninstall(connection, log=print)
            print(f"oracle-tasks removed from {schema}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oracle-tasks`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if _needs_connection(args) and not _has_target(args):
        parser.error("name the database: --conn-id ID, or --dsn DSN --user USER")
    if args.dsn and not args.user:
        parser.error("--dsn needs --user")
    import oracledb

    from airflow_provider_oracle_tasks.db.transient import describe_db_error

    # First match wins: subclasses (e.g. UnknownInstanceError) before their bases.
    exit_codes: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int], ...] = (
        (UnknownInstanceError, EXIT_UNKNOWN_INSTANCE),
        (ConnectionProblem, EXIT_CONNECT),
        (MissingPrivilegesError, EXIT_PRIVILEGES),
        ((SchemaVersionError, WrongSchemaError), EXIT_VERSION),
        (ValueError, EXIT_USAGE),
        (OracleTasksError, EXIT_ERROR),
        (oracledb.Error, EXIT_ERROR),
    )
    try:
        return _run(args)
    except (OracleTasksError, ValueError, oracledb.Error) as error:
        message = describe_db_error(error) if isinstance(error, oracledb.Error) else str(error)
        print(f"error: {message}", file=sys.stderr)
        return next(code for kinds, code in exit_codes if isinstance(error, kinds))


if __name__ == "__main__":
    raise SystemExit(main())

"""``oracle-tasks``: install, check and remove the engine from a shell, for DBAs and CI.

Exit codes (also in ``--help``): 0 done; 1 database or script error; 2 bad usage;
3 missing privileges; 4 wrong schema or installed schema newer than this package;
5 cannot connect (unknown connection id, unreachable database, wrong password).
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
from airflow_provider_oracle_tasks.validation import oracle_identifier
from airflow_provider_oracle_tasks.errors import (
    ConnectionProblem,
    MissingPrivilegesError,
    OracleTasksError,
    SchemaVersionError,
    WrongSchemaError,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PRIVILEGES, EXIT_VERSION, EXIT_CONNECT = 0, 1, 2, 3, 4, 5
PASSWORD_ENV = "ORACLE_TASKS_PASSWORD"

_EPILOG = f"""\
connection (pick one):
  --conn-id ID            an Airflow 'oracle' connection (metadata DB, secrets backend or
                          AIRFLOW_CONN_<ID> environment variable), e.g. oracle_default
  --dsn DSN --user USER   connect directly; the password comes from ${PASSWORD_ENV} or a prompt

what is needed: the schema owner must hold CREATE SESSION, TABLE, SEQUENCE, PROCEDURE, VIEW,
TYPE and JOB directly (not through a role), EXECUTE on SYS.DBMS_AQ and SYS.DBMS_AQADM, and a
tablespace quota. `check` lists what is missing; a DBA grants it all with sql/grants.sql.

exit codes:
  0 done   1 database or script error   2 bad usage   3 missing privileges
  4 wrong schema, or installed schema newer than this package   5 cannot connect

examples:
  oracle-tasks grants --dsn db-host:1521/ORCLPDB1 --user SYSTEM --owner APP_OWNER
  oracle-tasks check --conn-id oracle_default
  oracle-tasks install --dsn db-host:1521/ORCLPDB1 --user APP_OWNER
  oracle-tasks install --dry-run            (print the statements, no database needed)
  oracle-tasks uninstall --conn-id oracle_default --yes
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oracle-tasks",
        description="Install, upgrade, check and remove the oracle-tasks engine in an Oracle schema.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oracle-tasks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        target = sub.add_mutually_exclusive_group()
        target.add_argument("--conn-id", help="Airflow connection id of the schema owner")
        target.add_argument("--dsn", help="Easy Connect string or TNS alias, e.g. host:1521/SERVICE")
        sub.add_argument("--user", help="database user (with --dsn)")
        return sub

    install = command("install", "install the engine, or upgrade it in place (safe to repeat)")
    install.add_argument("--dry-run", action="store_true", help="print the statements; no database")
    install.add_argument("--expected-schema", help="refuse unless the connection's schema is this one")
    uninstall = command("uninstall", "drop every engine object (OTASK, OTASK_*) and its history")
    uninstall.add_argument("--dry-run", action="store_true", help="print the statements; no database")
    uninstall.add_argument("--expected-schema", help="refuse unless the connection's schema is this one")
    uninstall.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    grants = command("grants", "as a DBA: grant the owner schema what the engine needs (sql/grants.sql)")
    grants.add_argument("--owner", required=True, help="schema that will own the engine, e.g. APP_OWNER")
    command("version", "print the package, scripts and installed schema versions")
    command("check", "check privileges and versions without changing anything")
    return parser


@contextmanager
def _connect(args: argparse.Namespace) -> Iterator[Any]:
    if args.conn_id:
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

        connection = OracleTaskManagerHook(oracle_conn_id=args.conn_id).get_conn()
    else:
        import oracledb

        from airflow_provider_oracle_tasks.hooks.transient import describe_db_error

        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise ConnectionProblem(f"no password: set ${PASSWORD_ENV} (no terminal to prompt on).")
            password = getpass.getpass(f"password for {args.user}: ")
        try:
            connection = oracledb.connect(user=args.user, password=password, dsn=args.dsn)
        except oracledb.Error as error:
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
    from airflow_provider_oracle_tasks import installer

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

    from airflow_provider_oracle_tasks.hooks.transient import describe_db_error

    try:
        return _run(args)
    except oracledb.Error as error:
        print(f"error: {describe_db_error(error)}", file=sys.stderr)
        return EXIT_ERROR
    except ConnectionProblem as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONNECT
    except MissingPrivilegesError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_PRIVILEGES
    except (SchemaVersionError, WrongSchemaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_VERSION
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OracleTasksError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())

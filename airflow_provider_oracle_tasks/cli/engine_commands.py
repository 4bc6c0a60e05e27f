"""The DBA commands of ``oracle-tasks`` that act on instances: status, threads, stop, retry, purge.

``cli/main.py`` parses the arguments, has :func:`check_arguments` check them (before any password
prompt or connection) and opens the connection; each handler here makes one engine call through
:mod:`~airflow_provider_oracle_tasks.engine.api` (or the batched status read) and prints what
happened. Exit codes are the ones documented in ``cli.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.cli import status_view
from airflow_provider_oracle_tasks.cli.exit_codes import EXIT_INSTANCE_FAILED, EXIT_INTERRUPTED, EXIT_OK
from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import status
from airflow_provider_oracle_tasks.engine.errors import UnknownInstanceError


def make_console() -> Console:
    """The console status draws on (a function, so tests can hand in a recording one)."""
    return Console()


def check_arguments(args: argparse.Namespace) -> None:
    """Check and normalise the arguments of an engine command, before any prompt or connection.

    A bad value exits 2 (usage) at once, whether or not the database is reachable; the handlers
    below use the checked values.
    """
    if args.command in ("threads", "stop", "retry") or getattr(args, "instance_id", None) is not None:
        args.instance_id = validation.instance_id(args.instance_id, "INSTANCE_ID")
    if args.command == "status":
        if args.instance_id is None and args.taskspace is None:
            raise ValueError(
                "name what to show: `status INSTANCE_ID` (the id goes before --watch, e.g. "
                "`status 42 --watch`) or `status --taskspace NAME`."
            )
        if args.instance_id is not None and args.taskspace is not None:
            raise ValueError("give INSTANCE_ID or --taskspace NAME, not both.")
        if args.json and args.watch is not None:
            raise ValueError("--json prints one status for scripts; it does not go with --watch.")
        if args.taskspace is not None:
            args.taskspace = str(validation.oracle_identifier(args.taskspace, "--taskspace"))
            args.limit = validation.integer(args.limit, "--limit", low=1, high=1000)
    elif args.command == "threads":
        args.threads = validation.threads(args.threads, "N")
    elif args.command == "retry":
        args.threads = validation.optional_threads(args.threads, "--threads")
    elif args.command == "purge":
        args.older_than = validation.days(args.older_than, "--older-than")


def run(args: argparse.Namespace, connection: Any) -> int:
    """Run a command whose arguments :func:`check_arguments` has checked."""
    handlers = {"status": _status, "threads": _threads, "stop": _stop, "retry": _retry, "purge": _purge}
    return handlers[args.command](args, connection)


def _unknown(instance_id: int) -> UnknownInstanceError:
    return UnknownInstanceError(
        "ORA-20100",
        f"instance {instance_id} does not exist (never created, not committed yet, or purged): "
        "list the instances with `oracle-tasks status --taskspace NAME` or OTASK_INSTANCES_V.",
    )


def _instance_exit(current: status.InstanceStatus) -> int:
    if current.state == status.MISSING:
        raise _unknown(current.instance_id)
    if current.state in ("FAILED", "STOPPED"):
        return EXIT_INSTANCE_FAILED
    return EXIT_OK


def _status(args: argparse.Namespace, connection: Any) -> int:
    try:
        if args.taskspace is not None:
            return _taskspace_status(args, connection)
        return _instance_status(args, connection)
    except KeyboardInterrupt:
        print("stopped watching (Ctrl-C); nothing was changed in the database.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _instance_status(args: argparse.Namespace, connection: Any) -> int:
    instance_id = args.instance_id
    if args.json:
        current = status.fetch_status(connection, instance_id)
        print(json.dumps(current.to_dict(), indent=2))
        return _instance_exit(current)

    def poll() -> status_view.InstanceView:
        return status_view.fetch_instance_view(connection, instance_id)

    console = make_console()
    if args.watch is None:
        view = poll()
        if view.status.state != status.MISSING:
            console.print(status_view.render_instance(view))
    else:
        view = status_view.watch(
            poll,
            status_view.render_instance,
            lambda snapshot: snapshot.status.is_finished,
            console=console,
            interval=args.watch,
        )
    return _instance_exit(view.status)


def _taskspace_status(args: argparse.Namespace, connection: Any) -> int:
    name, limit = args.taskspace, args.limit

    def poll() -> list[status.InstanceStatus]:
        return status.fetch_taskspace_status(connection, name, limit)

    if args.json:
        print(json.dumps([current.to_dict() for current in poll()], indent=2))
        return EXIT_OK
    console = make_console()
    if args.watch is None:
        console.print(status_view.render_taskspace(name, poll()))
        return EXIT_OK
    # A taskspace never finishes: new instances may arrive at any time, so only Ctrl-C ends this.
    status_view.watch(
        poll,
        lambda statuses: status_view.render_taskspace(name, statuses),
        lambda _statuses: False,
        console=console,
        interval=args.watch,
    )
    return EXIT_OK  # pragma: no cover - the loop above ends only by KeyboardInterrupt


def _progress(connection: Any, instance_id: int) -> None:
    print(status.fetch_status(connection, instance_id).progress_line())


def _threads(args: argparse.Namespace, connection: Any) -> int:
    instance_id, threads = args.instance_id, args.threads
    engine_api.set_threads(connection, instance_id, threads)
    what = "paused: running tasks finish, nothing new starts" if threads == 0 else f"target threads {threads}"
    print(f"instance {instance_id}: {what}")
    _progress(connection, instance_id)
    return EXIT_OK


def _stop(args: argparse.Namespace, connection: Any) -> int:
    instance_id = args.instance_id
    mode = "HARD" if args.hard else "SOFT"
    engine_api.stop(connection, instance_id, mode)
    if args.hard:
        print(f"instance {instance_id}: hard stop done: its worker jobs were stopped, its tasks ended")
    else:
        print(f"instance {instance_id}: soft stop requested: running tasks finish, nothing new starts")
    _progress(connection, instance_id)
    return EXIT_OK


def _retry(args: argparse.Namespace, connection: Any) -> int:
    instance_id, threads = args.instance_id, args.threads
    engine_api.retry_failed(connection, instance_id, threads)
    workers = f"{threads} threads" if threads is not None else "its last thread target"
    print(f"instance {instance_id}: failed tasks are READY again; workers restarted with {workers}")
    _progress(connection, instance_id)
    return EXIT_OK


def _purge(args: argparse.Namespace, connection: Any) -> int:
    days = args.older_than
    purged = engine_api.purge(connection, days)
    print(f"purged {purged} finished instance{'s' if purged != 1 else ''} older than {days:g} days")
    return EXIT_OK

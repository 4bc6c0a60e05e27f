"""The FastAPI app the plugin mounts in Airflow's API server at ``/oracle-tasks`` (see docs/ui.md).

Pages (static files of this package; the script reads its arguments from the URL):

* ``/dags/{dag_id}/instances/{instance_id}?conn_id=`` - one batch, live;
* ``/dags/{dag_id}/taskspaces/{taskspace}?conn_id=`` - the DAG's instances in a taskspace;
* ``/dags/{dag_id}/chains/{job_name}?conn_id=&run_id=&task_id=&map_index=`` - one chain job.

JSON API under ``/api/...``: the same paths for reading, and POST ``.../threads``, ``.../stop``,
``.../retry`` on an instance, each one engine entry point through
:class:`~airflow_provider_oracle_tasks.hooks.task_manager.OracleTaskManagerHook`.

Every route first runs Airflow's ``requires_access_dag`` (an unauthorized user never reaches
the database), then checks its arguments, then the connection (it must exist and be of type
``oracle``), then that the instance belongs to the DAG in the URL, and only then acts. No SQL
text comes from the browser: every statement is a constant of :mod:`.reads` or
:mod:`~airflow_provider_oracle_tasks.engine.api` with binds.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import oracledb
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from airflow_provider_oracle_tasks.db.transient import describe_db_error, error_codes, primary_code
from airflow_provider_oracle_tasks.engine.errors import (
    EngineError,
    InvalidStateError,
    InvalidThreadsError,
    UnknownInstanceError,
)
from airflow_provider_oracle_tasks.errors import ConnectionProblem
from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook
from airflow_provider_oracle_tasks.ui import access, reads

T = TypeVar("T")

STATIC = Path(str(resources.files("airflow_provider_oracle_tasks.ui") / "static"))
POLL_SECONDS = 2.5
"""How often the page asks for a new reading (the page stops once the instance has ended)."""
SECURITY_HEADERS = {
    # Everything the page loads ships in this package: no CDN, no inline script.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

can_view = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))
can_edit = Depends(requires_access_dag("PUT", DagAccessEntity.TASK_INSTANCE))


def may_edit(dag_id: str, user: Any) -> bool:
    """Whether the auth manager lets ``user`` regulate this DAG (the page shows controls then)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.models.dag import DagModel

    return bool(
        get_auth_manager().is_authorized_dag(
            method="PUT",
            access_entity=DagAccessEntity.TASK_INSTANCE,
            details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)),
            user=user,
        )
    )


# --- errors -> responses ---------------------------------------------------------------------------


def _error(status_code: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"detail": message, "code": code})


def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    if isinstance(exc, UnknownInstanceError):
        status_code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, InvalidThreadsError):
        status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, InvalidStateError):
        status_code = status.HTTP_409_CONFLICT
    else:
        status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return _error(status_code, str(exc), exc.code)


def _value_error(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_400_BAD_REQUEST, str(exc))


def _code(exc: BaseException) -> str | None:
    """ORA/DPY code of the error or of its cause (a ConnectionProblem wraps the driver's error)."""
    codes = error_codes(exc)
    return primary_code(exc) or (codes[0] if codes else None)


def _connection_problem(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_502_BAD_GATEWAY, str(exc), _code(exc))


def _db_error(request: Request, exc: Exception) -> JSONResponse:
    conn_id = request.query_params.get("conn_id")
    return _error(status.HTTP_502_BAD_GATEWAY, describe_db_error(exc, conn_id), _code(exc))


# --- the connection ----------------------------------------------------------------------------


def oracle_hook(conn_id: str) -> OracleTaskManagerHook:
    """The hook for an existing Airflow connection of type ``oracle``; 404/400 otherwise."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    hook = OracleTaskManagerHook(oracle_conn_id=conn_id)
    try:
        connection = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"Airflow connection '{conn_id}' does not exist: pass the conn_id the task used.",
        ) from None
    if connection.conn_type != "oracle":
        raise access.bad_request(
            f"Airflow connection '{conn_id}' is of type '{connection.conn_type}', not 'oracle': pass the "
            "conn_id the task used."
        )
    return hook


@contextmanager
def session(hook: OracleTaskManagerHook) -> Iterator[Any]:
    connection = hook.get_conn()
    try:
        yield connection
    finally:
        connection.close()


def owned_identity(connection: Any, dag_id: str, instance_id: int) -> reads.InstanceIdentity:
    """The instance if it exists and was made by ``dag_id``; the same 404 otherwise (no probing)."""
    identity = reads.read_identity(connection, instance_id)
    if identity is None or not identity.belongs_to(dag_id):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=(
                f"instance {instance_id} does not exist for DAG {dag_id}: it was never created by this DAG, "
                "or OTASK.PURGE removed it. Open the page from the task's extra link."
            ),
        )
    return identity


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise access.bad_request('the request body is not JSON: send e.g. {"threads": 4}.') from None
    if not isinstance(body, dict):
        raise access.bad_request('the request body must be a JSON object, e.g. {"threads": 4}.')
    return body


def _page(request: Request) -> HTMLResponse:
    """The one page (its script picks the view from the URL); ``{{root}}`` is the mount path."""
    root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)
    text = (STATIC / "page.html").read_text(encoding="utf-8").replace("{{root}}", root)
    return HTMLResponse(text, headers=SECURITY_HEADERS)


# --- the app -------------------------------------------------------------------------------------


def create_app(poll_seconds: float = POLL_SECONDS) -> FastAPI:
    """The plugin's app; it holds no state and starts no service (``poll_seconds``: the page's pace)."""
    app = FastAPI(
        title="oracle-tasks",
        description="Watch and regulate oracle-tasks batches and chains (see docs/ui.md).",
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(ValueError, _value_error)
    app.add_exception_handler(ConnectionProblem, _connection_problem)
    app.add_exception_handler(oracledb.Error, _db_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    for path in (
        "/dags/{dag_id}/instances",
        "/dags/{dag_id}/instances/{instance_id}",
        "/dags/{dag_id}/taskspaces/{taskspace}",
        "/dags/{dag_id}/chains/{job_name}",
    ):
        app.add_api_route(path, _page, methods=["GET"], include_in_schema=False)

    @app.get("/api/dags/{dag_id}/instances/{instance_id}", dependencies=[can_view])
    def instance(
        dag_id: str, instance_id: str, user: GetUserDep, conn_id: str | None = None, timeline: bool = False
    ) -> dict[str, Any]:
        """The batch at one poll; ``timeline=true`` adds the Gantt data read in the same session."""
        dag, ident, hook = (
            access.dag_id(dag_id),
            access.instance_id(instance_id),
            oracle_hook(access.conn_id(conn_id)),
        )
        with session(hook) as connection:
            identity = owned_identity(connection, dag, ident)
            data = reads.batch_view(connection, ident, identity)
            if timeline:
                data["timeline"] = reads.timeline(connection, ident)
        data["can_edit"] = may_edit(dag, user)
        data["poll_seconds"] = poll_seconds
        return data

    @app.get("/api/dags/{dag_id}/instances/{instance_id}/timeline", dependencies=[can_view])
    def instance_timeline(
        dag_id: str,
        instance_id: str,
        conn_id: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        rows = access.limit(limit, reads.MAX_TIMELINE_TASKS, reads.MAX_TIMELINE_TASKS)
        dag, ident, hook = (
            access.dag_id(dag_id),
            access.instance_id(instance_id),
            oracle_hook(access.conn_id(conn_id)),
        )
        with session(hook) as connection:
            owned_identity(connection, dag, ident)
            return reads.timeline(connection, ident, rows)

    def regulate(
        dag_id: str,
        instance_id: str,
        conn_id: str | None,
        action: Callable[[OracleTaskManagerHook, int], None],
    ) -> dict[str, Any]:
        dag, ident, hook = (
            access.dag_id(dag_id),
            access.instance_id(instance_id),
            oracle_hook(access.conn_id(conn_id)),
        )
        with session(hook) as connection:
            owned_identity(connection, dag, ident)
        action(hook, ident)
        return {"instance_id": ident, "applied": True}

    @app.post(
        "/api/dags/{dag_id}/instances/{instance_id}/threads",
        dependencies=[can_edit, Depends(access.same_origin)],
    )
    async def set_threads(dag_id: str, instance_id: str, request: Request, conn_id: str | None = None) -> Any:
        body = await json_body(request)
        count = access.threads(body.get("threads"), optional=False)
        assert count is not None
        return await _in_thread(regulate, dag_id, instance_id, conn_id, lambda h, i: h.set_threads(i, count))

    @app.post(
        "/api/dags/{dag_id}/instances/{instance_id}/stop",
        dependencies=[can_edit, Depends(access.same_origin)],
    )
    async def stop(dag_id: str, instance_id: str, request: Request, conn_id: str | None = None) -> Any:
        body = await json_body(request)
        mode = access.stop_mode(body.get("mode"))
        return await _in_thread(regulate, dag_id, instance_id, conn_id, lambda h, i: h.stop(i, mode))

    @app.post(
        "/api/dags/{dag_id}/instances/{instance_id}/retry",
        dependencies=[can_edit, Depends(access.same_origin)],
    )
    async def retry_failed(
        dag_id: str, instance_id: str, request: Request, conn_id: str | None = None
    ) -> Any:
        body = await json_body(request)
        count = access.threads(body.get("threads"), optional=True)
        return await _in_thread(regulate, dag_id, instance_id, conn_id, lambda h, i: h.retry_failed(i, count))

    def listing(dag_id: str, taskspace: str | None, conn_id: str | None) -> dict[str, Any]:
        dag = access.dag_id(dag_id)
        space = None if taskspace is None else access.oracle_name(taskspace, "taskspace")
        hook = oracle_hook(access.conn_id(conn_id))
        with session(hook) as connection:
            instances = reads.instances_view(connection, dag, space)
        return {"taskspace": space, "dag_id": dag, "instances": instances, "poll_seconds": poll_seconds}

    @app.get("/api/dags/{dag_id}/instances", dependencies=[can_view])
    def dag_instances(dag_id: str, conn_id: str | None = None) -> dict[str, Any]:
        return listing(dag_id, None, conn_id)

    @app.get("/api/dags/{dag_id}/taskspaces/{taskspace}", dependencies=[can_view])
    def taskspace(dag_id: str, taskspace: str, conn_id: str | None = None) -> dict[str, Any]:
        return listing(dag_id, taskspace, conn_id)

    @app.get("/api/dags/{dag_id}/chains/{job_name}", dependencies=[can_view])
    def chain(
        dag_id: str,
        job_name: str,
        conn_id: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
        map_index: str | None = None,
        chain: str | None = None,
    ) -> dict[str, Any]:
        dag = access.dag_id(dag_id)
        index = access.map_index(map_index)
        if run_id is None and task_id is None and map_index is None:
            found = access.chain_task_of(dag, job_name)  # a link without the task instance
            if found is not None:
                run_id, task_id, index = found
        job = access.chain_job_of(dag, job_name, run_id, task_id, index)
        chain_name = access.oracle_name(chain, "chain") if chain else None
        hook = oracle_hook(access.conn_id(conn_id))
        with session(hook) as connection:
            data = reads.chain_view(connection, job, chain_name)
        data["poll_seconds"] = poll_seconds
        return data

    return app


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run the blocking hook call off the event loop (the API server serves other users meanwhile)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


app = create_app()

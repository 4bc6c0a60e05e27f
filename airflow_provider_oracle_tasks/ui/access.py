"""Who may see and change what, checked before the database is touched.

* **Authentication and authorization** are Airflow's own: the routes depend on
  ``requires_access_dag`` of ``airflow.api_fastapi.core_api.security`` (GET on the DAG's task
  instances to watch, PUT to regulate), so the configured auth manager decides.
* **Ownership**: an instance may be watched or regulated only through the DAG that made it
  (:meth:`~airflow_provider_oracle_tasks.ui.reads.InstanceIdentity.belongs_to`); a chain job only
  through the task instance whose identity its name hashes (:func:`chain_job_of`).
* **Arguments** are checked with full matches; the thread count and the stop mode with the very
  checks the operators use.
* **CSRF** (:func:`same_origin`): a state-changing request either carries a bearer token (which a
  browser never adds on its own) or comes from this origin (``Origin`` header, and
  ``Sec-Fetch-Site: same-origin`` when the browser sends it). Airflow's session cookie is
  ``SameSite=Lax`` and ``HttpOnly``; the check does not rely on that alone.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.chains.jobs import JOB_PREFIX, job_name_for
from airflow_provider_oracle_tasks.waiting.arguments import rendered_int

DEFAULT_CONN_ID = "oracle_default"
_CONN_ID = re.compile(r"[\w#!()\-.:/\\]{1,250}")
"""Airflow's own pattern of a connection id (airflow.models.connection.RE_SANITIZE_CONN_ID)."""
_DAG_ID = re.compile(r"[\w.-]{1,250}")
"""Airflow's KEY_REGEX for dag and task ids, with the 250-character limit of its tables."""
_MAP_INDEX = re.compile(r"-1|[0-9]{1,9}")
_RUN_ID = re.compile(r"[^\x00-\x1f]{1,250}")
_JOB_NAME = re.compile(re.escape(JOB_PREFIX) + r"[0-9A-F]{16}_([1-9][0-9]{0,8})")


def bad_request(message: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=message)


def dag_id(value: str) -> str:
    if not _DAG_ID.fullmatch(value):
        raise bad_request(f"dag_id={value!r} is not an Airflow DAG id (letters, digits, '_', '.', '-').")
    return value


def conn_id(value: str | None) -> str:
    """An Airflow connection id (full match of Airflow's own pattern); None -> oracle_default."""
    if value is None:
        return DEFAULT_CONN_ID
    if not _CONN_ID.fullmatch(value):
        raise bad_request(
            f"conn_id={value!r} is not an Airflow connection id: use the id of an 'oracle' connection, "
            f"e.g. {DEFAULT_CONN_ID}."
        )
    return value


def instance_id(value: str) -> int:
    return int(rendered_int(value, "instance_id", validation.instance_id))


def oracle_name(value: str, argument: str) -> str:
    """A simple Oracle name, upper-cased (validation's pattern ends in ``$``: a newline is refused here)."""
    if "\n" in value:
        raise ValueError(f"{argument}={value!r} is not a valid Oracle name: no line breaks.")
    return str(validation.oracle_identifier(value, argument))


def threads(value: Any, *, optional: bool) -> int | None:
    """The operators' check of ``threads``: a whole number 0-1000 (digits-only text counts)."""
    if value is None and optional:
        return None
    if value is None:
        raise bad_request('threads is missing: send {"threads": n} with n from 0 (pause) to 1000.')
    return int(rendered_int(value, "threads", validation.threads))


def limit(value: str | None, default: int, high: int) -> int:
    """A row limit from the query string: a whole number 1..high (default when absent)."""
    if value is None:
        return default
    return int(rendered_int(value, "limit", lambda v, a: validation.integer(v, a, low=1, high=high)))


def map_index(value: str | None) -> int:
    """Airflow's map index: -1 (not mapped, the default) or 0 and up."""
    if value is None:
        return -1
    if not _MAP_INDEX.fullmatch(value):
        raise bad_request(
            f"map_index={value!r} must be -1 (a task that is not mapped) or a whole number >= 0."
        )
    return int(value)


def stop_mode(value: Any) -> str:
    return validation.stop_mode("SOFT" if value is None else value, "mode")


def chain_job_of(dag: str, job_name: str, run_id: str | None, task_id: str | None, map_index: int) -> str:
    """``job_name`` if it is the chain job of that task instance of ``dag`` (any try), else 404.

    Chain job names are a hash of (dag_id, run_id, task_id, map_index) plus the try number
    (:mod:`~airflow_provider_oracle_tasks.chains.jobs`), so the link carries the task instance and
    the name is recomputed: a user who may read one DAG cannot read another DAG's chain job.
    """
    match = _JOB_NAME.fullmatch(job_name)
    if not match:
        raise bad_request(
            f"job_name={job_name!r} is not a chain job of oracle-tasks ({JOB_PREFIX}<16 hex digits>_<try>)."
        )
    if run_id is None or task_id is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=(
                f"chain job {job_name} was not started by a task of DAG {dag} (its name is a hash of the "
                "task instance): open the page from that task's extra link, or pass run_id and task_id."
            ),
        )
    if not _RUN_ID.fullmatch(run_id):
        raise bad_request(f"run_id={run_id!r} is not an Airflow run id.")
    if not _DAG_ID.fullmatch(task_id):
        raise bad_request(f"task_id={task_id!r} is not an Airflow task id.")
    if job_name != job_name_for(dag, run_id, task_id, map_index, int(match.group(1))):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"chain job {job_name} was not started by task {task_id} of DAG {dag} run {run_id}.",
        )
    return job_name


MAX_TASK_INSTANCES_SCANNED = 20_000


def chain_task_of(dag: str, job_name: str) -> tuple[str, str, int] | None:
    """(run_id, task_id, map_index) of the task instance of ``dag`` that started ``job_name``.

    For a link without ``run_id``/``task_id``: the newest task instances of the DAG (Airflow's
    metadata, at most :data:`MAX_TASK_INSTANCES_SCANNED`) whose try reached the job's try number
    are hashed as :func:`~airflow_provider_oracle_tasks.chains.jobs.job_name_for` does. None when
    no task of this DAG started it.
    """
    match = _JOB_NAME.fullmatch(job_name)
    if not match:
        return None
    attempt = int(match.group(1))
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    statement = (
        select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
        .where(TaskInstance.dag_id == dag, TaskInstance.try_number >= attempt)
        .order_by(TaskInstance.id.desc())
        .limit(MAX_TASK_INSTANCES_SCANNED)
    )
    with create_session() as session:
        for run_id, task_id, map_index in session.execute(statement):
            if job_name_for(dag, run_id, task_id, map_index, attempt) == job_name:
                return str(run_id), str(task_id), int(map_index)
    return None


def _origins(request: Request) -> set[str]:
    """host[:port] this server answers as: the Host header, and Airflow's [api] base_url."""
    allowed = {request.headers.get("host", "")}
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="") or ""
    if base_url:
        allowed.add(urlsplit(base_url).netloc)
    return {item.lower() for item in allowed if item}


def same_origin(request: Request) -> None:
    """Refuse a state-changing request that a page of another site could have made (CSRF)."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"refused a cross-site request (Sec-Fetch-Site: {fetch_site}): regulate from the page.",
        )
    origin = request.headers.get("origin")
    if not origin or urlsplit(origin).netloc.lower() not in _origins(request):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=(
                f"refused a request from origin {origin!r}: only this Airflow's own pages may regulate, "
                "or a client with an 'Authorization: Bearer <token>' header."
            ),
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="send the arguments as JSON (Content-Type: application/json).",
        )

"""Extra links: a button on the task that opens the oracle-tasks UI page of its batch or chain.

The pages are served by the oracle-tasks UI plugin, a FastAPI app mounted at ``/oracle-tasks`` in
the Airflow API server:

* batch: ``{base_url}/oracle-tasks/dags/{dag_id}/instances/{instance_id}?conn_id={conn_id}``
* chain: ``{base_url}/oracle-tasks/dags/{dag_id}/chains/{job_name}?conn_id={conn_id}``

``base_url`` is Airflow's ``[api] base_url``; when it is not set the link is relative to the API
server, which is where the UI runs. Airflow 3 computes links on the worker when the task ends or
defers and stores them as XCom, so a task that has not pushed its ``instance_id`` / ``job_name``
yet gets no link (""). Cheap to import: DAG files import the operators, which import this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

UI_MOUNT = "/oracle-tasks"
INSTANCE_ID_XCOM = "instance_id"
"""The XCom key under which the task-manager operators and the sensor push the instance id."""
JOB_NAME_XCOM = "job_name"
"""The XCom key under which the chain operator pushes its Scheduler job name."""


def base_url() -> str:
    """Airflow's ``[api] base_url`` without a trailing slash ("" when unset: a relative link)."""
    from airflow.sdk import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def _xcom(ti_key: Any, key: str) -> Any:
    """The task instance's own XCom ``key``; None when it has none yet.

    On the worker Airflow passes the running task instance (it has ``xcom_pull``); elsewhere a
    ``TaskInstanceKey``, read through the configured XCom backend.
    """
    pull = getattr(ti_key, "xcom_pull", None)
    if callable(pull):
        return pull(task_ids=ti_key.task_id, key=key, map_indexes=ti_key.map_index)
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


def page_url(dag_id: str, kind: str, item: Any, conn_id: str | None) -> str:
    """``{base_url}/oracle-tasks/dags/{dag_id}/{kind}/{item}?conn_id=...``, each part url-quoted."""
    path = f"{UI_MOUNT}/dags/{quote(str(dag_id), safe='')}/{kind}/{quote(str(item), safe='')}"
    query = f"?{urlencode({'conn_id': conn_id})}" if conn_id else ""
    return f"{base_url()}{path}{query}"


class _XComPageLink(BaseOperatorLink):
    xcom_name: str = ""
    kind: str = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = _xcom(ti_key, self.xcom_name)
        if value is None or value == "":
            return ""
        conn_id = getattr(operator, "oracle_conn_id", None)
        return page_url(ti_key.dag_id, self.kind, value, conn_id if isinstance(conn_id, str) else None)


class OracleTaskManagerInstanceLink(_XComPageLink):
    """The batch page of the instance this task created, started or waits for."""

    name = "Oracle Tasks batch"
    xcom_name = INSTANCE_ID_XCOM
    kind = "instances"


class OracleSchedulerChainLink(_XComPageLink):
    """The chain page of the Scheduler job this task started."""

    name = "Oracle Scheduler chain"
    xcom_name = JOB_NAME_XCOM
    kind = "chains"

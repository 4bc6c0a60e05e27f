"""Extra links: the URL contract with the oracle-tasks UI plugin, and which tasks carry them."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk.types import TaskInstanceKey

from airflow_provider_oracle_tasks import get_provider_info, links
from airflow_provider_oracle_tasks.links import OracleSchedulerChainLink, OracleTaskManagerInstanceLink
from airflow_provider_oracle_tasks.operators import task_manager as operators
from airflow_provider_oracle_tasks.sensors.task_manager import OracleTaskManagerInstanceSensor
from tests.unit.engine_fakes import EngineFakeConnection, by_ids, engine_answers, patch_connect, status_row


class RuntimeTI:
    """What Airflow's task runner hands get_link on the worker: the running task instance."""

    def __init__(self, xcoms: dict[str, Any], dag_id: str = "etl", map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, "run", "manual__1", map_index
        self.xcoms = xcoms
        self.pulls: list[dict[str, Any]] = []

    def xcom_pull(self, **kwargs: Any) -> Any:
        self.pulls.append(kwargs)
        return self.xcoms.get(kwargs["key"])


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    return connection


@pytest.fixture(autouse=True)
def no_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)


def run_operator(**kwargs: Any) -> operators.OracleTaskManagerRunOperator:
    return operators.OracleTaskManagerRunOperator(task_id="run", tasks=["begin null; end;"], **kwargs)


def test_no_xcom_yet_gives_no_link() -> None:
    assert OracleTaskManagerInstanceLink().get_link(run_operator(), ti_key=RuntimeTI({})) == ""  # type: ignore[arg-type]
    assert OracleSchedulerChainLink().get_link(run_operator(), ti_key=RuntimeTI({})) == ""  # type: ignore[arg-type]


def test_instance_link_follows_the_url_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    ti = RuntimeTI({"instance_id": 42}, map_index=3)
    link = OracleTaskManagerInstanceLink().get_link(run_operator(oracle_conn_id="ora_prod"), ti_key=ti)  # type: ignore[arg-type]
    assert link == "https://airflow.example.com/oracle-tasks/dags/etl/instances/42?conn_id=ora_prod"
    assert ti.pulls == [{"task_ids": "run", "key": "instance_id", "map_indexes": 3}]


def test_without_a_base_url_the_link_is_relative_to_the_api_server() -> None:
    ti = RuntimeTI({"instance_id": 7})
    link = OracleTaskManagerInstanceLink().get_link(run_operator(), ti_key=ti)  # type: ignore[arg-type]
    assert link == "/oracle-tasks/dags/etl/instances/7?conn_id=oracle_default"


def test_chain_link_quotes_every_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://h:8080/airflow")
    ti = RuntimeTI({"job_name": "OTC$PAY#1/x"}, dag_id="pay roll")
    operator = run_operator(oracle_conn_id="my conn&x=1")
    link = OracleSchedulerChainLink().get_link(operator, ti_key=ti)  # type: ignore[arg-type]
    assert (
        link
        == "http://h:8080/airflow/oracle-tasks/dags/pay%20roll/chains/OTC%24PAY%231%2Fx?conn_id=my+conn%26x%3D1"
    )


def test_a_task_instance_key_is_read_through_the_xcom_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time import xcom

    seen: list[Any] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        seen.append((ti_key, key))
        return 9

    monkeypatch.setattr(xcom.XCom, "get_value", get_value)
    key = TaskInstanceKey(dag_id="etl", task_id="run", run_id="r1", map_index=-1)
    assert (
        OracleTaskManagerInstanceLink()
        .get_link(run_operator(), ti_key=key)
        .endswith("/instances/9?conn_id=oracle_default")
    )
    assert seen == [(key, "instance_id")]


def test_every_task_that_starts_or_awaits_an_instance_carries_the_link() -> None:
    tasks = [
        run_operator(),
        operators.OracleTaskManagerCreateInstanceOperator(task_id="c", tasks=["x"]),
        operators.OracleTaskManagerStartJobsOperator(task_id="s", instance_id=1),
        operators.OracleTaskManagerSetThreadsOperator(task_id="t", instance_id=1, threads=2),
        operators.OracleTaskManagerStopOperator(task_id="p", instance_id=1),
        operators.OracleTaskManagerRetryOperator(task_id="r", instance_id=1),
        OracleTaskManagerInstanceSensor(task_id="w", instance_id=1),
    ]
    for task in tasks:
        assert [type(link) for link in task.operator_extra_links] == [OracleTaskManagerInstanceLink], task
        assert "oracle_conn_id" in task.template_fields, task


def test_control_operators_and_the_sensor_push_the_instance_id_for_the_link(db: EngineFakeConnection) -> None:
    engine_answers(db, by_ids({5: [status_row(5, "SUCCEEDED", counts={"SUCCEEDED": 1})]}))
    for task in (
        operators.OracleTaskManagerStopOperator(task_id="p", instance_id=5),
        OracleTaskManagerInstanceSensor(task_id="w", instance_id=5, deferrable=False),
    ):
        ti = RuntimeTI({})
        ti.xcom_push = lambda key, value, ti=ti: ti.xcoms.__setitem__(key, value)  # type: ignore[attr-defined]
        task.execute({"ti": ti})  # type: ignore[arg-type]
        assert ti.xcoms["instance_id"] == 5


def test_links_are_registered_in_provider_info_and_import() -> None:
    paths = get_provider_info()["extra-links"]
    assert paths == [
        "airflow_provider_oracle_tasks.links.OracleTaskManagerInstanceLink",
        "airflow_provider_oracle_tasks.links.OracleSchedulerChainLink",
    ]
    for path in paths:
        module, _, name = path.rpartition(".")
        assert getattr(sys.modules[module], name).name


def test_links_serialize_with_the_operator() -> None:
    """The API server shows the XCom the worker stored under the link's key."""
    from airflow.serialization.serialized_objects import OperatorSerialization

    data = OperatorSerialization.serialize_operator(run_operator())
    assert data["_operator_extra_links"] == {"Oracle Tasks batch": "_link_OracleTaskManagerInstanceLink"}


def test_links_module_is_cheap_to_import() -> None:
    code = "import sys, airflow_provider_oracle_tasks.links; print('oracledb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert links.UI_MOUNT == "/oracle-tasks"


def test_the_chain_operator_carries_the_chain_link_for_the_job_name_it_pushes() -> None:
    from airflow.serialization.serialized_objects import OperatorSerialization

    from airflow_provider_oracle_tasks.operators import chain as chain_operators

    task = chain_operators.OracleSchedulerChainOperator(task_id="pay", chain_name="PAYROLL")
    assert [type(link) for link in task.operator_extra_links] == [OracleSchedulerChainLink]
    assert OracleSchedulerChainLink.xcom_name == chain_operators.JOB_NAME_XCOM
    data = OperatorSerialization.serialize_operator(task)
    assert data["_operator_extra_links"] == {OracleSchedulerChainLink.name: "_link_OracleSchedulerChainLink"}
    ti = RuntimeTI({"job_name": "OTC$PAYROLL$7"}, dag_id="payroll")
    link = OracleSchedulerChainLink().get_link(task, ti_key=ti)  # type: ignore[arg-type]
    assert link == "/oracle-tasks/dags/payroll/chains/OTC%24PAYROLL%247?conn_id=oracle_default"

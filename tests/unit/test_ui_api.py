"""The UI plugin's FastAPI app against a fake batch at the oracledb boundary, with Airflow's real
auth (SimpleAuthManager JWTs): every endpoint, every permission case, and proof that a request
refused by auth, ownership or argument checks never reaches the driver.

The fakes prove the Python side only (statements, binds, calls, answers); the PL/SQL runs in
tests/integration.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_oracle_tasks.chains.jobs import job_name_for
from airflow_provider_oracle_tasks.ui import reads
from tests.unit.chain_fakes import T0, JobState
from tests.unit.fakes import db_error
from tests.unit.ui_fakes import DAG_ID, INSTANCE_ID, chain_database
from tests.unit.ui_fixtures import Auth, Database, auth, database, mounted_app

__all__ = ["auth", "database"]  # fixtures

BATCH = f"/oracle-tasks/api/dags/{DAG_ID}/instances/{INSTANCE_ID}"
ACTIONS = [("threads", {"threads": 8}), ("stop", {"mode": "SOFT"}), ("retry", {})]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(auth: Auth, database: Database) -> TestClient:
    return TestClient(mounted_app(), base_url="http://airflow.test")


def untouched(database: Database) -> None:
    assert database.connects == []
    assert database.connection.executed == []


def engine_calls(database: Database) -> list[tuple[str, dict[str, Any]]]:
    return [(sql, binds) for sql, binds in database.connection.calls() if sql.startswith("callproc")]


# --- pages and assets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/dags/{DAG_ID}/instances/{INSTANCE_ID}",
        f"/dags/{DAG_ID}/instances",
        f"/dags/{DAG_ID}/taskspaces/ETL",
        f"/dags/{DAG_ID}/chains/OTASK_CH_0123456789ABCDEF_1",
    ],
)
def test_pages_load_only_assets_of_the_package(client: TestClient, database: Database, path: str) -> None:
    page = client.get("/oracle-tasks" + path + "?conn_id=oracle_default")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == ["/oracle-tasks/static/style.css", "/oracle-tasks/static/page.js"]
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200
        text = asset.text.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace, not a URL
        assert "http://" not in text
        assert "https://" not in text
        assert "//cdn" not in text
    untouched(database)


# --- reading a batch -----------------------------------------------------------------------------


def test_viewer_sees_the_batch_read_only(client: TestClient, auth: Auth, database: Database) -> None:
    assert client.get(BATCH, headers=auth.header("viewer")).status_code == 200  # first tick: group 1 opens
    database.connection.executed.clear()
    response = client.get(BATCH, headers=auth.header("viewer"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["state"] == "RUNNING"
    assert data["can_edit"] is False
    assert data["total"] == 60
    assert data["counts"]["RUNNING"] == 4
    assert data["target_threads"] == 4
    assert data["live_workers"] == 4
    assert [t["worker"] for t in data["running"]] == [f"OTASK_W42_{n}" for n in range(1, 5)]
    assert len(data["workers"]) == 4
    assert data["instance"]["dag_id"] == DAG_ID
    assert data["instance"]["current_group"] == 1
    assert database.connects
    assert database.connection.closed
    statements = database.statements()
    assert statements[0] == reads.INSTANCE_SQL
    assert reads.RUNNING_SQL in statements
    assert reads.ERRORS_SQL in statements
    assert reads.WORKERS_SQL in statements
    for executed in database.connection.executed:
        if executed.sql in (reads.INSTANCE_SQL, reads.RUNNING_SQL, reads.ERRORS_SQL, reads.WORKERS_SQL):
            assert executed.binds == {"instance_id": INSTANCE_ID}


def test_the_page_gets_the_timeline_in_the_same_session(
    client: TestClient, auth: Auth, database: Database
) -> None:
    response = client.get(BATCH + "?timeline=true", headers=auth.header("viewer"))
    assert response.status_code == 200
    assert len(response.json()["timeline"]["tasks"]) == 4
    assert len(database.connects) == 1
    assert database.statements()[-1] == reads.TIMELINE_SQL


@pytest.mark.parametrize("role", ["user", "op", "admin"])
def test_editor_roles_may_edit(client: TestClient, auth: Auth, role: str) -> None:
    response = client.get(BATCH, headers=auth.header(role))
    assert response.status_code == 200
    assert response.json()["can_edit"] is True


def test_batch_shows_errors_with_ora_code_and_backtrace(
    client: TestClient, auth: Auth, database: Database
) -> None:
    for _ in range(2):  # task 7 fails its first attempt in the third tick and is claimed again
        client.get(BATCH, headers=auth.header("viewer"))
    data = client.get(BATCH, headers=auth.header("viewer")).json()
    errors = {e["task_id"]: e for e in data["errors"]}
    assert errors[7]["ora_code"] == "ORA-01476"
    assert errors[7]["state"] in ("READY", "RUNNING")  # retry pending or running again
    assert "divisor is equal to zero" in errors[7]["message"]
    assert "APP.LOAD_PART" in errors[7]["backtrace"]
    assert data["eta_seconds"] is None or data["eta_seconds"] >= 0


def test_progress_advances_to_the_end_and_says_finished(
    client: TestClient, auth: Auth, database: Database
) -> None:
    done = []
    for _ in range(40):
        data = client.get(BATCH, headers=auth.header("viewer")).json()
        done.append(data["done"])
        if data["finished"]:
            break
    assert done == sorted(done)
    assert done[-1] == 60
    assert data["state"] == "FAILED"
    assert data["counts"]["FAILED"] == 1
    assert data["failed_tasks"][0]["task_id"] == 50


def test_timeline_is_bounded_and_oldest_first(client: TestClient, auth: Auth, database: Database) -> None:
    for _ in range(5):
        client.get(BATCH, headers=auth.header("viewer"))
    response = client.get(BATCH + "/timeline?limit=6", headers=auth.header("viewer"))
    assert response.status_code == 200
    data = response.json()
    assert data["limit"] == 6
    assert data["truncated"] is True
    assert len(data["tasks"]) == 6
    starts = [task["started_at"] for task in data["tasks"]]
    assert starts == sorted(starts)
    timeline = [e for e in database.connection.executed if e.sql == reads.TIMELINE_SQL]
    assert timeline[-1].binds == {"instance_id": INSTANCE_ID, "max_rows": 6}
    assert {"worker", "group", "attempts", "max_attempts", "state"} <= set(data["tasks"][0])


def test_timeline_limit_above_the_bound_is_refused(
    client: TestClient, auth: Auth, database: Database
) -> None:
    for bad in (reads.MAX_TIMELINE_TASKS + 1, 0, "x"):
        response = client.get(BATCH + f"/timeline?limit={bad}", headers=auth.header("viewer"))
        assert response.status_code == 400
        assert response.json()["detail"].startswith(f"limit={bad!r}")
    untouched(database)


# --- who may read --------------------------------------------------------------------------------

READS = [
    BATCH,
    BATCH + "/timeline",
    f"/oracle-tasks/api/dags/{DAG_ID}/instances",
    f"/oracle-tasks/api/dags/{DAG_ID}/taskspaces/ETL",
    f"/oracle-tasks/api/dags/{DAG_ID}/chains/{job_name_for(DAG_ID, 'r1', 'c', -1, 1)}?run_id=r1&task_id=c",
]


@pytest.mark.parametrize("path", READS)
def test_no_token_no_database(client: TestClient, database: Database, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    untouched(database)


@pytest.mark.parametrize("path", READS)
def test_bad_token_no_database(client: TestClient, database: Database, path: str) -> None:
    response = client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code in (401, 403)
    untouched(database)


@pytest.mark.parametrize("path", READS)
def test_user_without_a_role_may_not_read(
    client: TestClient, auth: Auth, database: Database, path: str
) -> None:
    response = client.get(path, headers=auth.header(None))
    assert response.status_code == 403
    untouched(database)


# --- regulating ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "body"), ACTIONS)
def test_viewer_cannot_regulate(
    client: TestClient, auth: Auth, database: Database, action: str, body: dict[str, Any]
) -> None:
    response = client.post(f"{BATCH}/{action}", json=body, headers=auth.header("viewer"))
    assert response.status_code == 403
    untouched(database)


@pytest.mark.parametrize(("action", "body"), ACTIONS)
def test_anonymous_cannot_regulate(
    client: TestClient, database: Database, action: str, body: dict[str, Any]
) -> None:
    response = client.post(f"{BATCH}/{action}", json=body)
    assert response.status_code == 401
    untouched(database)


def test_editor_sets_threads(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.post(f"{BATCH}/threads", json={"threads": 8}, headers=auth.header("user"))
    assert response.status_code == 200, response.text
    assert response.json() == {"instance_id": INSTANCE_ID, "applied": True}
    assert engine_calls(database) == [
        ("callproc otask.set_threads", {"p_instance_id": INSTANCE_ID, "p_threads": 8})
    ]
    assert database.statements()[0] == reads.INSTANCE_SQL  # ownership checked before the call
    data = client.get(BATCH, headers=auth.header("user")).json()
    assert data["target_threads"] == 8
    assert data["live_workers"] == 8


def test_threads_zero_pauses(client: TestClient, auth: Auth, database: Database) -> None:
    assert (
        client.post(f"{BATCH}/threads", json={"threads": "0"}, headers=auth.header("user")).status_code == 200
    )
    assert engine_calls(database)[-1][1]["p_threads"] == 0
    data = client.get(BATCH, headers=auth.header("user")).json()
    assert data["instance"]["paused"] is True
    assert data["target_threads"] == 0


@pytest.mark.parametrize("mode", ["SOFT", "HARD", "hard"])
def test_editor_stops(client: TestClient, auth: Auth, database: Database, mode: str) -> None:
    response = client.post(f"{BATCH}/stop", json={"mode": mode}, headers=auth.header("user"))
    assert response.status_code == 200
    assert engine_calls(database) == [
        ("callproc otask.stop", {"p_instance_id": INSTANCE_ID, "p_mode": mode.upper()})
    ]


@pytest.mark.parametrize(("body", "threads"), [({}, None), ({"threads": 2}, 2), ({"threads": None}, None)])
def test_editor_retries_failed(
    client: TestClient, auth: Auth, database: Database, body: dict[str, Any], threads: int | None
) -> None:
    response = client.post(f"{BATCH}/retry", json=body, headers=auth.header("user"))
    assert response.status_code == 200
    assert engine_calls(database) == [
        ("callproc otask.retry_failed", {"p_instance_id": INSTANCE_ID, "p_threads": threads})
    ]


@pytest.mark.parametrize("threads", [-1, 1001, "many", True, 2.5, None, [4]])
def test_bad_thread_counts_are_400_naming_the_argument(
    client: TestClient, auth: Auth, database: Database, threads: Any
) -> None:
    response = client.post(f"{BATCH}/threads", json={"threads": threads}, headers=auth.header("user"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("threads")
    untouched(database)


def test_bad_retry_threads_are_400(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.post(f"{BATCH}/retry", json={"threads": 5000}, headers=auth.header("user"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("threads=5000")
    untouched(database)


def test_bad_stop_mode_is_400(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.post(f"{BATCH}/stop", json={"mode": "NOW"}, headers=auth.header("user"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("mode='NOW'")
    untouched(database)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_body_must_be_a_json_object(client: TestClient, auth: Auth, database: Database, body: bytes) -> None:
    headers = {**auth.header("user"), "Content-Type": "application/json"}
    response = client.post(f"{BATCH}/threads", content=body, headers=headers)
    assert response.status_code == 400
    untouched(database)


# --- which instance, which connection ---------------------------------------------------------------


def test_unknown_instance_is_404_with_a_clear_message(
    client: TestClient, auth: Auth, database: Database
) -> None:
    response = client.get(f"/oracle-tasks/api/dags/{DAG_ID}/instances/999", headers=auth.header("viewer"))
    assert response.status_code == 404
    assert "instance 999 does not exist for DAG nightly_load" in response.json()["detail"]
    assert database.statements() == [reads.INSTANCE_SQL]


@pytest.mark.parametrize(("action", "body"), ACTIONS)
def test_another_dags_instance_cannot_be_regulated(
    client: TestClient, auth: Auth, database: Database, action: str, body: dict[str, Any]
) -> None:
    """An editor of DAG other_dag may not regulate nightly_load's batch through other_dag's URL."""
    response = client.post(
        f"/oracle-tasks/api/dags/other_dag/instances/{INSTANCE_ID}/{action}",
        json=body,
        headers=auth.header("user"),
    )
    assert response.status_code == 404
    assert "does not exist for DAG other_dag" in response.json()["detail"]
    assert engine_calls(database) == []


def test_another_dags_instance_cannot_be_read(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.get(
        f"/oracle-tasks/api/dags/other_dag/instances/{INSTANCE_ID}", headers=auth.header("viewer")
    )
    assert response.status_code == 404
    assert database.statements() == [reads.INSTANCE_SQL]


def test_run_key_names_the_dag_when_dag_id_is_null(
    client: TestClient, auth: Auth, database: Database
) -> None:
    database.batch.dag_id = None
    assert client.get(BATCH, headers=auth.header("viewer")).status_code == 200
    # a DAG whose id is a prefix of the real one does not match: the run key is "nightly_load/..."
    assert (
        client.get(
            f"/oracle-tasks/api/dags/nightly/instances/{INSTANCE_ID}", headers=auth.header("viewer")
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("conn_id=has%20space", 400, "conn_id='has space' is not an Airflow connection id"),
        ("conn_id=missing_conn", 404, "Airflow connection 'missing_conn' does not exist"),
        ("conn_id=http_api", 400, "is of type 'http', not 'oracle'"),
    ],
)
def test_connection_is_checked_before_connecting(
    client: TestClient, auth: Auth, database: Database, query: str, status: int, text: str
) -> None:
    for method, path in (("get", BATCH), ("post", f"{BATCH}/threads")):
        kwargs: dict[str, Any] = {"json": {"threads": 2}} if method == "post" else {}
        response = getattr(client, method)(f"{path}?{query}", headers=auth.header("user"), **kwargs)
        assert response.status_code == status
        assert text in response.json()["detail"]
    untouched(database)


def test_the_connection_in_the_url_is_the_one_used(
    client: TestClient, auth: Auth, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORA_NIGHT",
        '{"conn_type": "oracle", "login": "NIGHT", "password": "pw", "extra": {"dsn": "night:1521/S"}}',
    )
    assert client.get(BATCH + "?conn_id=ora_night", headers=auth.header("viewer")).status_code == 200
    assert database.connects
    assert all("NIGHT" in kwargs.values() for kwargs in database.connects), database.connects


@pytest.mark.parametrize("instance", ["0", "abc", "-3", "1e3"])
def test_bad_instance_id_is_400(client: TestClient, auth: Auth, database: Database, instance: str) -> None:
    response = client.get(
        f"/oracle-tasks/api/dags/{DAG_ID}/instances/{instance}", headers=auth.header("viewer")
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("instance_id=")
    untouched(database)


def test_bad_dag_id_is_400(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.get(
        f"/oracle-tasks/api/dags/bad%20dag/instances/{INSTANCE_ID}", headers=auth.header("viewer")
    )
    assert response.status_code == 400
    untouched(database)


# --- engine and database errors reach the page with their ORA code ------------------------------------


def test_engine_error_is_shown_with_its_code(client: TestClient, auth: Auth, database: Database) -> None:
    database.connection.rules.insert(
        0,
        (
            r"callproc otask\.set_threads",
            db_error("ORA-20102: instance 42 is SUCCEEDED: set_threads needs a CREATED or RUNNING instance"),
        ),
    )
    response = client.post(f"{BATCH}/threads", json={"threads": 2}, headers=auth.header("user"))
    assert response.status_code == 409
    assert response.json()["code"] == "ORA-20102"
    assert "needs a CREATED or RUNNING instance" in response.json()["detail"]


def test_database_error_is_502_with_code_and_fix(client: TestClient, auth: Auth, database: Database) -> None:
    database.connection.rules.insert(
        0, (re.escape(reads.INSTANCE_SQL), db_error("ORA-00942: table or view does not exist"))
    )
    response = client.get(BATCH, headers=auth.header("viewer"))
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "ORA-00942"
    assert "ORA-00942" in body["detail"]


def test_connection_failure_is_502_with_the_drivers_code(
    client: TestClient, auth: Auth, monkeypatch: Any
) -> None:
    import oracledb

    def refuse(**kwargs: Any) -> Any:
        raise db_error("DPY-6005: cannot connect to database. [Errno 111] Connection refused")

    monkeypatch.setattr(oracledb, "connect", refuse)
    response = client.get(BATCH, headers=auth.header("viewer"))
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "DPY-6005"
    assert "cannot connect with Airflow connection 'oracle_default'" in body["detail"]


# --- CSRF ----------------------------------------------------------------------------------------


def cookie_client(auth: Auth, role: str = "user") -> TestClient:
    client = TestClient(mounted_app(), base_url="http://airflow.test")
    client.cookies.set("_token", auth.token(role))
    return client


def test_cookie_session_may_regulate_from_the_page_itself(auth: Auth, database: Database) -> None:
    client = cookie_client(auth)
    headers = {"Origin": "http://airflow.test", "Sec-Fetch-Site": "same-origin"}
    response = client.post(f"{BATCH}/threads", json={"threads": 3}, headers=headers)
    assert response.status_code == 200, response.text
    assert engine_calls(database)[-1][1]["p_threads"] == 3


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://evil.test"},
        {"Origin": "http://airflow.test", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://airflow.test", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
    ],
)
def test_cookie_session_cross_site_request_is_refused(
    auth: Auth, database: Database, headers: dict[str, str]
) -> None:
    client = cookie_client(auth)
    response = client.post(f"{BATCH}/stop", json={"mode": "HARD"}, headers=headers)
    assert response.status_code == 403
    untouched(database)


def test_cookie_session_form_post_is_refused(auth: Auth, database: Database) -> None:
    """A cross-site HTML form cannot send JSON: a form-encoded body is refused even from our origin."""
    client = cookie_client(auth)
    response = client.post(
        f"{BATCH}/stop",
        content=b"mode=HARD",
        headers={"Origin": "http://airflow.test", "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    untouched(database)


# --- taskspace and DAG lists --------------------------------------------------------------------


def test_taskspace_lists_the_dags_instances(client: TestClient, auth: Auth, database: Database) -> None:
    response = client.get(f"/oracle-tasks/api/dags/{DAG_ID}/taskspaces/etl", headers=auth.header("viewer"))
    assert response.status_code == 200
    data = response.json()
    assert data["taskspace"] == "ETL"
    assert [i["instance_id"] for i in data["instances"]] == [INSTANCE_ID]
    listing = [e for e in database.connection.executed if e.sql == reads.TASKSPACE_SQL]
    assert listing[0].binds == {
        "taskspace": "ETL",
        "dag_id": DAG_ID,
        "prefix_length": len(DAG_ID) + 1,
        "run_key_prefix": DAG_ID + "/",
        "max_rows": reads.MAX_TASKSPACE_INSTANCES,
    }


def test_dag_list_shows_only_that_dags_instances(client: TestClient, auth: Auth, database: Database) -> None:
    mine = client.get(f"/oracle-tasks/api/dags/{DAG_ID}/instances", headers=auth.header("viewer")).json()
    other = client.get("/oracle-tasks/api/dags/other_dag/instances", headers=auth.header("viewer")).json()
    assert [i["instance_id"] for i in mine["instances"]] == [INSTANCE_ID]
    assert other["instances"] == []


@pytest.mark.parametrize("taskspace", ["1BAD", "a-b", "x%24%23y%20z"])
def test_bad_taskspace_is_400(client: TestClient, auth: Auth, database: Database, taskspace: str) -> None:
    response = client.get(
        f"/oracle-tasks/api/dags/{DAG_ID}/taskspaces/{taskspace}", headers=auth.header("viewer")
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("taskspace=")
    untouched(database)


def test_oracle_names_refuse_a_trailing_newline() -> None:
    from airflow_provider_oracle_tasks.ui import access

    assert access.oracle_name("etl", "taskspace") == "ETL"
    with pytest.raises(ValueError, match="taskspace='ETL\\\\n'"):
        access.oracle_name("ETL\n", "taskspace")


# --- chains --------------------------------------------------------------------------------------

RUN_ID = "manual__2025-03-01"
JOB = job_name_for(DAG_ID, RUN_ID, "payroll_chain", -1, 2)
CHAIN_PATH = f"/oracle-tasks/api/dags/{DAG_ID}/chains/{JOB}?run_id={RUN_ID}&task_id=payroll_chain"


def test_chain_page_shows_steps_rules_and_stall(client: TestClient, auth: Auth, database: Database) -> None:
    chain_database(
        database.connection,
        JOB,
        JobState(
            state="CHAIN_STALLED",
            chain="PAYROLL",
            steps=[("EXTRACT", "SUCCEEDED", 0), ("LOAD", "FAILED", 1476), ("REPORT", "NOT_STARTED", None)],
        ),
    )
    response = client.get(CHAIN_PATH, headers=auth.header("viewer"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["state"] == "STALLED"
    assert data["stalled"] is True
    assert data["chain_name"] == "PAYROLL"
    assert data["finished"] is False  # the page keeps watching: a DBA may repair the chain
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["LOAD"]["state"] == "FAILED"
    assert steps["LOAD"]["ora_code"] == "ORA-01476"
    assert steps["EXTRACT"]["started_at"] == T0.isoformat() + "+00:00"
    edges = {(e["from"], e["to"], e["kind"]) for e in data["edges"]}
    assert edges == {
        ("(start)", "EXTRACT", "start"),
        ("EXTRACT", "LOAD", "start"),
        ("LOAD", "REPORT", "start"),
        ("EXTRACT", "(end)", "end"),
        ("LOAD", "(end)", "end"),
        ("REPORT", "(end)", "end"),
    }
    rules = [e for e in database.connection.executed if e.sql == reads.RULES_SQL]
    assert rules[0].binds == {"chain": "PAYROLL"}


def test_chain_job_of_another_task_is_404_without_database(
    client: TestClient, auth: Auth, database: Database
) -> None:
    path = CHAIN_PATH.replace("task_id=payroll_chain", "task_id=other_task")
    response = client.get(path, headers=auth.header("viewer"))
    assert response.status_code == 404
    assert "was not started by task other_task" in response.json()["detail"]
    other_dag = CHAIN_PATH.replace(f"/dags/{DAG_ID}/", "/dags/other_dag/")
    assert client.get(other_dag, headers=auth.header("viewer")).status_code == 404
    untouched(database)


@pytest.mark.parametrize(
    "path",
    [
        f"/oracle-tasks/api/dags/{DAG_ID}/chains/SYS_JOB?run_id=r&task_id=t",
        f"/oracle-tasks/api/dags/{DAG_ID}/chains/{JOB}?run_id={RUN_ID}&task_id=payroll_chain&chain=1x",
        f"/oracle-tasks/api/dags/{DAG_ID}/chains/{JOB}?run_id={RUN_ID}&task_id=payroll_chain&map_index=-2",
    ],
)
def test_bad_chain_arguments_are_400(client: TestClient, auth: Auth, database: Database, path: str) -> None:
    assert client.get(path, headers=auth.header("viewer")).status_code == 400
    untouched(database)


@pytest.fixture
def chain_task_instance(auth: Auth) -> Iterator[None]:
    """Airflow's metadata holds the task instance (try 2) that started JOB: a DAG run and a TI row."""
    import uuid
    from datetime import UTC, datetime

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy import delete, insert

    table = TaskInstance.__table__
    with create_session() as session:
        session.add(
            DagRun(dag_id=DAG_ID, run_id=RUN_ID, run_type=DagRunType.MANUAL, logical_date=datetime.now(UTC))
        )
    with create_session() as session:
        for task_id in ("load_sales", "payroll_chain"):
            session.execute(
                insert(table).values(
                    id=uuid.uuid4(),
                    dag_id=DAG_ID,
                    run_id=RUN_ID,
                    task_id=task_id,
                    map_index=-1,
                    try_number=2,
                    max_tries=1,
                    pool="default_pool",
                    pool_slots=1,
                    queue="default",
                    priority_weight=1,
                    operator="OracleSchedulerChainOperator",
                    custom_operator_name="",
                    hostname="",
                    unixname="",
                    executor_config=b"",
                )
            )
    yield
    with create_session() as session:
        session.execute(delete(table).where(table.c.dag_id == DAG_ID))
        session.execute(delete(DagRun.__table__).where(DagRun.__table__.c.dag_id == DAG_ID))


def test_chain_link_without_the_task_instance_is_resolved_from_airflows_metadata(
    client: TestClient, auth: Auth, database: Database, chain_task_instance: None
) -> None:
    """links.py may give only the job name: the task instance is found among the DAG's own TIs."""
    chain_database(database.connection, JOB, JobState(state="RUNNING", chain="PAYROLL", steps=[]))
    response = client.get(f"/oracle-tasks/api/dags/{DAG_ID}/chains/{JOB}", headers=auth.header("viewer"))
    assert response.status_code == 200, response.text
    assert response.json()["job_name"] == JOB
    other = client.get(f"/oracle-tasks/api/dags/other_dag/chains/{JOB}", headers=auth.header("viewer"))
    assert other.status_code == 404
    assert "was not started by a task of DAG other_dag" in other.json()["detail"]


def test_chain_job_no_task_of_the_dag_started_is_404_without_database(
    client: TestClient, auth: Auth, database: Database
) -> None:
    response = client.get(f"/oracle-tasks/api/dags/{DAG_ID}/chains/{JOB}", headers=auth.header("viewer"))
    assert response.status_code == 404
    assert f"chain job {JOB} was not started by a task of DAG {DAG_ID}" in response.json()["detail"]
    untouched(database)


def test_rule_edges_of_hand_written_conditions() -> None:
    """A SQL-syntax condition the grammar cannot read still links the steps it names."""
    edges = reads.rule_edges(
        [("R9", ":A.state = 'SUCCEEDED' and :B.error_code = 0", "START C"), ("R0", "TRUE", "START A")],
        ["A", "B", "C"],
    )
    assert {(e.source, e.target) for e in edges} == {("A", "C"), ("B", "C"), ("(start)", "A")}


# --- the plugin and the package -----------------------------------------------------------------


def test_plugin_mounts_the_app_at_oracle_tasks() -> None:
    from airflow_provider_oracle_tasks.ui.plugin import OracleTasksUIPlugin

    (entry,) = OracleTasksUIPlugin.fastapi_apps
    assert entry["url_prefix"] == "/oracle-tasks"
    assert entry["name"]
    (view,) = OracleTasksUIPlugin.external_views
    assert view["destination"] == "dag"
    assert view["href"] == "/oracle-tasks/dags/{DAG_ID}/instances"
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(
        r'\[project\.entry-points\."airflow\.plugins"\]\s*\n\s*'
        r'oracle_tasks_ui = "airflow_provider_oracle_tasks\.ui\.plugin:OracleTasksUIPlugin"',
        text,
    )


def test_airflow_loads_the_plugin_from_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from airflow import plugins_manager

    registered = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "oracle_tasks_ui"]
    if not registered and not os.environ.get("CI"):
        pytest.skip(
            "the installed distribution predates the entry point (editable install of another checkout)"
        )

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert any(app.get("url_prefix") == "/oracle-tasks" for app in apps), apps


def test_importing_the_package_does_not_import_the_ui() -> None:
    code = (
        "import sys, airflow_provider_oracle_tasks, airflow_provider_oracle_tasks.hooks.task_manager; "
        "print(sorted(m for m in sys.modules"
        " if m.startswith('airflow_provider_oracle_tasks.ui') or m == 'fastapi'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_nothing_in_the_package_imports_the_ui() -> None:
    package = ROOT / "airflow_provider_oracle_tasks"
    offenders = [
        str(path.relative_to(ROOT))
        for path in package.rglob("*.py")
        if "ui" not in path.relative_to(package).parts[:1]
        and re.search(r"^\s*(from|import) airflow_provider_oracle_tasks\.ui\b", path.read_text(), re.M)
    ]
    assert offenders == []

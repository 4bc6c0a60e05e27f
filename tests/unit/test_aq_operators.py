"""OracleAQCreateQueueOperator and OracleAQEnqueueOperator against fakes (SQL + binds, fake broker)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.errors import MissingPrivilegesError
from airflow_provider_oracle_tasks.operators.aq import (
    AQSetupError,
    OracleAQCreateQueueOperator,
    OracleAQEnqueueOperator,
)
from tests.unit.aq_fakes import FakeBroker, FakeObject, install_aq
from tests.unit.fakes import FakeConnection

CONTEXT: Any = {}


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeBroker, FakeConnection, list[Any]]:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG", "AUDIT"])
    sql = FakeConnection().on(AQADM_VISIBLE, [("APP", 1)])
    sessions = install_aq(monkeypatch, broker, sql)
    return broker, sql, sessions


AQADM_VISIBLE = r"from all_objects o\s+where o.owner = 'SYS' and o.object_name = 'DBMS_AQADM'"


def create(**overrides: Any) -> OracleAQCreateQueueOperator:
    kwargs: dict[str, Any] = {
        "task_id": "create_queue",
        "queue_name": "payroll_files",
        "subscribers": ["payroll_dag", "audit"],
    }
    kwargs.update(overrides)
    return OracleAQCreateQueueOperator(**kwargs)


def ddl(sql: FakeConnection) -> list[tuple[str, dict[str, Any]]]:
    return [(e.sql, e.binds) for e in sql.executed if "dbms_aqadm" in e.sql]


def test_first_run_creates_table_queue_starts_it_and_adds_subscribers(db: Any) -> None:
    _, sql, sessions = db
    result = create(comment="payroll file arrivals").execute(CONTEXT)
    steps = ddl(sql)
    assert next(s for s, _ in steps).strip().startswith("begin\n  dbms_aqadm.create_queue_table(")
    assert steps[0][1] == {
        "queue_table": "PAYROLL_FILES_QT",
        "payload_type": "RAW",
        "queue_comment": "payroll file arrivals",
    }
    assert "multiple_consumers => true" in steps[0][0]
    assert steps[1][1]["queue"] == "PAYROLL_FILES"
    assert steps[1][1]["queue_table"] == "PAYROLL_FILES_QT"
    assert "start_queue" in steps[2][0]
    assert [b["consumer"] for s, b in steps[3:]] == ["PAYROLL_DAG", "AUDIT"]
    assert result["created"] == [
        "queue table PAYROLL_FILES_QT",
        "queue PAYROLL_FILES",
        "subscriber PAYROLL_DAG",
        "subscriber AUDIT",
    ]
    assert sessions[0].commits == 1
    assert sessions[0].closed


def test_second_run_only_starts_the_queue(db: Any) -> None:
    _, sql, _ = db
    sql.on(r"from user_queue_tables", [("RAW", "SYS.RAW", "MULTIPLE")])
    sql.on(r"from user_queues", [("PAYROLL_FILES_QT", "  YES  ", "  YES  ")])
    sql.on(r"from user_queue_subscribers", [("PAYROLL_DAG",), ("AUDIT",)])
    result = create().execute(CONTEXT)
    assert [s for s, _ in ddl(sql)] == ["begin dbms_aqadm.start_queue(queue_name => :queue); end;"]
    assert result["created"] == []


def test_a_raw_queue_table_whose_object_type_is_null_is_reused(db: Any) -> None:
    """Q-4: OBJECT_TYPE is documented for TYPE = OBJECT only; the re-run must read TYPE too."""
    _, sql, _ = db
    sql.on(
        r'select q\."TYPE", q\.object_type, q\.recipients from user_queue_tables q',
        [("RAW", None, "MULTIPLE")],
    )
    sql.on(r"from user_queues", [("PAYROLL_FILES_QT", "YES", "YES")])
    sql.on(r"from user_queue_subscribers", [("PAYROLL_DAG",), ("AUDIT",)])
    assert create().execute(CONTEXT)["created"] == []


def test_a_raw_queue_table_is_not_reused_for_an_object_type(db: Any) -> None:
    _, sql, _ = db
    sql.on(r"from user_queue_tables", [("RAW", None, "MULTIPLE")])
    with pytest.raises(AQSetupError, match=r"payload type RAW, not APP\.BCKUP_MSGT"):
        create(payload_type="BCKUP_MSGT").execute(CONTEXT)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"payload": b"x" * 32768}, "at most 32767 bytes"),
        ({"payload": {"a": float("nan")}}, "not a JSON value"),
        ({"payload": {1, 2}, "payload_type": "JSON"}, "not a JSON value"),
        ({"payload": "x", "correlation": "é" * 65}, "at most 128 bytes"),
    ],
)
def test_enqueue_payload_and_correlation_are_checked_when_the_dag_is_parsed(
    kwargs: dict[str, Any], match: str
) -> None:
    """Q-8: checked before any connection (here: at construction)."""
    from airflow_provider_oracle_tasks.operators.aq import OracleAQEnqueueOperator

    args = {"task_id": "e", "queue_name": "Q", "payload": "x", **kwargs}
    with pytest.raises(ValueError, match=match):
        OracleAQEnqueueOperator(**args)


def test_a_builtin_type_is_not_a_payload_type_and_a_long_queue_name_asks_for_queue_table() -> None:
    from airflow_provider_oracle_tasks.operators.aq import OracleAQCreateQueueOperator

    with pytest.raises(ValueError, match="built-in SQL type"):
        OracleAQCreateQueueOperator(task_id="c", queue_name="Q", payload_type="varchar2")
    with pytest.raises(ValueError, match="pass queue_table="):
        OracleAQCreateQueueOperator(task_id="c", queue_name="Q" * 127)


def test_existing_queue_table_of_another_payload_type_is_refused(db: Any) -> None:
    _, sql, _ = db
    sql.on(r"from user_queue_tables", [("OBJECT", "APP.BCKUP_MSGT", "MULTIPLE")])
    with pytest.raises(AQSetupError, match=r"payload type APP\.BCKUP_MSGT, not SYS\.RAW"):
        create().execute(CONTEXT)
    assert ddl(sql) == []


def test_single_consumer_queue_table_is_refused(db: Any) -> None:
    _, sql, _ = db
    sql.on(r"from user_queue_tables", [("RAW", "SYS.RAW", "SINGLE")])
    with pytest.raises(AQSetupError, match="single-consumer"):
        create().execute(CONTEXT)


def test_json_payload_on_19c_fails_before_any_ddl(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, sql, _sessions = db
    from tests.unit import aq_fakes

    original = aq_fakes.SyncAQConnection.__init__

    def old_db(self: Any, *args: Any) -> None:
        original(self, *args)
        self.version = "19.24.0.0.0"

    monkeypatch.setattr(aq_fakes.SyncAQConnection, "__init__", old_db)
    with pytest.raises(AQSetupError, match=r"21c or later.*19\.24"):
        create(payload_type="json").execute(CONTEXT)
    assert ddl(sql) == []


def test_json_payload_on_23ai_creates_a_json_queue_table(db: Any) -> None:
    _, sql, _ = db
    create(payload_type="JSON").execute(CONTEXT)
    assert ddl(sql)[0][1]["payload_type"] == "JSON"


def test_object_payload_type_is_passed_as_given(db: Any) -> None:
    _, sql, _ = db
    create(payload_type="bckup_msgt", queue_name="bckup_q", queue_table="bckup_qt", subscribers=[]).execute(
        CONTEXT
    )
    assert ddl(sql)[0][1] == {"queue_table": "BCKUP_QT", "payload_type": "BCKUP_MSGT", "queue_comment": None}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"queue_name": "OTHER.PAYROLL_FILES"}, "without an owner"),
        ({"queue_name": "payroll-files"}, "not a valid queue name"),
        ({"queue_table": "x; drop"}, "queue_table"),
        ({"subscribers": "PAYROLL_DAG"}, "list of consumer names"),
        ({"subscribers": ["ok", "not ok"]}, r"subscribers\[1\]"),
        ({"payload_type": "varchar2(10) --"}, "payload_type"),
        ({"retention_seconds": -1}, "retention_seconds"),
    ],
)
def test_bad_create_arguments_fail_at_parse_time(db: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create(**kwargs)
    assert db[1].executed == []


def enqueue(**overrides: Any) -> OracleAQEnqueueOperator:
    kwargs: dict[str, Any] = {"task_id": "enqueue", "queue_name": "PAYROLL_FILES", "payload": "GO"}
    kwargs.update(overrides)
    return OracleAQEnqueueOperator(**kwargs)


def test_enqueue_commits_and_returns_the_msgid(db: Any) -> None:
    broker, _, sessions = db
    msgid = enqueue(payload={"file": "pay.csv"}, correlation="2025-03", recipients=["audit"]).execute(CONTEXT)
    (stored,) = broker.messages["PAYROLL_FILES"]
    assert msgid == stored.msgid.hex().upper()
    assert json.loads(stored.payload) == {"file": "pay.csv"}  # a dict on a RAW queue goes as JSON text
    assert stored.correlation == "2025-03"
    assert stored.recipients == ["AUDIT"]
    assert sessions[0].commits == 1
    assert sessions[0].closed
    assert broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG") == []  # addressed to AUDIT only


def test_enqueue_on_an_object_queue_sets_attributes(db: Any) -> None:
    broker, _, _ = db
    broker.add_queue("BCKUP_Q", ["B1"])
    enqueue(queue_name="BCKUP_Q", payload_type="BCKUP_MSGT", payload={"msg": "GO"}).execute(CONTEXT)
    (stored,) = broker.messages["BCKUP_Q"]
    assert isinstance(stored.payload, FakeObject)
    assert stored.payload.MSG == "GO"
    assert aq_messages.jsonable(stored.payload) == {"msg": "GO"}


def test_enqueue_refuses_unknown_object_attributes(db: Any) -> None:
    broker, _, _ = db
    broker.add_queue("BCKUP_Q", ["B1"])
    with pytest.raises(ValueError, match="'status' is not an attribute"):
        enqueue(queue_name="BCKUP_Q", payload_type="BCKUP_MSGT", payload={"status": "GO"}).execute(CONTEXT)
    assert broker.messages["BCKUP_Q"] == []


def test_enqueue_refuses_a_payload_a_raw_queue_cannot_hold_before_connecting(db: Any) -> None:
    with pytest.raises(ValueError, match="cannot go on a RAW queue"):
        enqueue(payload=12.5).execute(CONTEXT)
    assert db[2] == []


def test_payload_conversion_round_trip() -> None:
    assert aq_messages.decode_payload(aq_messages.encode_payload({"a": 1}, "RAW"), "RAW") == {"a": 1}
    assert aq_messages.decode_payload(b"\xff\x00", "RAW") == {"base64": "/wA="}
    assert aq_messages.msgid_bytes(aq_messages.msgid_hex(b"\x01" * 16) or "") == b"\x01" * 16
    with pytest.raises(ValueError, match="32 hex digits"):
        aq_messages.msgid_bytes("zz")


def test_without_execute_on_dbms_aqadm_nothing_is_created_and_the_grant_is_named(db: Any) -> None:
    """Q-9: checked before the first DBMS_AQADM call."""
    _, sql, _ = db
    sql.rules.insert(0, (AQADM_VISIBLE, [("APP", 0)]))
    with pytest.raises(MissingPrivilegesError, match="GRANT EXECUTE ON DBMS_AQADM TO APP;"):
        create().execute(CONTEXT)
    assert ddl(sql) == []

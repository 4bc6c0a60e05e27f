"""Tests that kill the Python mutants the review's mutation test left alive (verification.md,
V-7 to V-12), each named after its finding."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace

import oracledb
import pytest

from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import errors, status
from airflow_provider_oracle_tasks.operators import task_manager
from airflow_provider_oracle_tasks.operators.task_manager import OracleTaskManagerCreateInstanceOperator
from tests.unit.engine_fakes import EngineFakeConnection
from tests.unit.fakes import db_error


@pytest.mark.parametrize("state", ["SUCCEEDED", "FAILED", "STOPPED", status.MISSING])
def test_v7_every_final_state_ends_a_wait(state: str) -> None:
    # A hard-stopped instance (STOPPED) must end deferred waits, not hang until their timeout.
    assert state in status.FINISHED_STATES


@pytest.mark.parametrize("state", ["CREATED", "RUNNING", "STOPPING"])
def test_v7_live_states_do_not_end_a_wait(state: str) -> None:
    assert state not in status.FINISHED_STATES


def test_v8_create_instance_operator_stops_on_error_by_default() -> None:
    default = (
        inspect.signature(OracleTaskManagerCreateInstanceOperator.__init__)
        .parameters["stop_on_error"]
        .default
    )
    assert default is True  # DESIGN.md rule 9: default 'Y'
    operator = OracleTaskManagerCreateInstanceOperator(task_id="t", tasks=["begin null; end;"])
    assert operator.stop_on_error is True
    assert (
        engine_api._instance_binds("DEFAULT", operator.stop_on_error, 0, 0, None, False, None, None, None)[
            "p_stop_on_error"
        ]
        == "Y"
    )


def test_v9_json_over_32767_bytes_but_fewer_characters_is_bound_as_a_clob() -> None:
    cursor = EngineFakeConnection().cursor()
    text = "é" * 20_000  # 20 000 characters, 40 000 bytes in UTF-8
    bound = engine_api._clob(cursor, text)
    assert getattr(bound, "type", None) is oracledb.DB_TYPE_CLOB
    assert bound.getvalue() == text
    assert engine_api._clob(cursor, "e" * 32_767) == "e" * 32_767  # exactly at the limit: a str


@pytest.mark.parametrize("number", sorted(errors.ERROR_CLASSES), ids=lambda n: f"ORA-{n}")
def test_v10_each_engine_code_maps_to_its_class(number: int) -> None:
    expected = {
        20100: "UnknownInstanceError",
        20101: "InvalidThreadsError",
        20102: "InvalidStateError",
        20103: "InvalidIdentifierError",
        20104: "EnginePrivilegeError",
        20105: "InvalidArgumentError",
        20106: "UnknownJobClassError",
        20107: "RunKeyConflictError",
        20108: "SourceQueryError",
        20109: "InvalidJsonError",
        20110: "UnknownDefinitionError",
        20111: "UnknownTaskspaceError",
    }
    mapped = errors.from_db_error(db_error(f"ORA-{number}: engine says no"))
    assert type(mapped).__name__ == expected[number]
    assert set(expected) == set(errors.ERROR_CLASSES)


def test_v11_status_sql_aliases_name_the_column_they_read() -> None:
    pairs = re.findall(r"\bi\.(\w+)\)\s+as\s+(\w+)", status.STATUS_SQL)
    assert pairs, "STATUS_SQL no longer has 'fn(i.col) as alias' items"
    assert [alias for column, alias in pairs] == [column for column, alias in pairs], pairs


def test_v12_a_run_key_of_exactly_the_limit_is_kept_and_one_more_is_hashed() -> None:
    def context(run_id: str) -> dict[str, object]:
        return {"ti": SimpleNamespace(dag_id="d", run_id=run_id, task_id="t", map_index=0)}

    exact = context("r" * (task_manager.MAX_RUN_KEY - len("d//t/0")))
    key = task_manager.run_key(exact)  # type: ignore[arg-type]
    assert len(key) == task_manager.MAX_RUN_KEY == 512
    assert key == "d/" + "r" * 506 + "/t/0"
    longer = task_manager.run_key(context("r" * 507))  # type: ignore[arg-type]
    assert len(longer) == 512
    assert "#" in longer
    assert longer != "d/" + "r" * 507 + "/t/0"

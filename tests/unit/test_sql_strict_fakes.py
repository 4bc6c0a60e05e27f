"""The strict fakes refuse, like Oracle, what the catalog of tools/sqlcheck says is wrong (one test
per refusal), and let through what it says is right."""

from __future__ import annotations

import oracledb
import pytest

from tests.unit.engine_fakes import EngineFakeConnection
from tests.unit.fakes import FakeConnection
from tests.unit.strict_oracle import catalog


@pytest.fixture
def cursor():
    if not catalog().schema_known:
        pytest.skip("the schema catalog needs node and tools/sqlparse/node_modules")
    return EngineFakeConnection().cursor()


def _refused(call, code: str) -> str:
    with pytest.raises(oracledb.DatabaseError) as caught:
        call()
    assert code in str(caught.value), str(caught.value)
    return str(caught.value)


def test_run_chain_without_start_steps_is_pls_00306(cursor) -> None:
    message = _refused(
        lambda: cursor.callproc(
            "dbms_scheduler.run_chain", keyword_parameters={"chain_name": "C", "job_name": "J"}
        ),
        "PLS-00306",
    )
    assert "start_steps" in message
    assert message.startswith("ORA-06550")


def test_run_chain_with_start_steps_or_by_position_is_accepted(cursor) -> None:
    cursor.callproc(
        "dbms_scheduler.run_chain",
        keyword_parameters={"chain_name": "C", "start_steps": None, "job_name": "J"},
    )
    cursor.callproc("dbms_scheduler.run_chain", ["C", "S1,S2"])
    assert [e.sql for e in cursor.connection.executed] == ["callproc dbms_scheduler.run_chain"] * 2


def test_unknown_parameter_name_is_pls_00306(cursor) -> None:
    _refused(
        lambda: cursor.callproc(
            "dbms_scheduler.stop_job", keyword_parameters={"job_name": "J", "forse": True}
        ),
        "PLS-00306",
    )


def test_too_many_positional_arguments_is_pls_00306(cursor) -> None:
    _refused(lambda: cursor.callproc("dbms_scheduler.enable", ["A", "B", "C"]), "PLS-00306")


def test_unknown_member_is_pls_00302(cursor) -> None:
    _refused(
        lambda: cursor.callproc("dbms_scheduler.stop_jobs", keyword_parameters={"job_name": "J"}), "PLS-00302"
    )


def test_unknown_package_is_pls_00201(cursor) -> None:
    _refused(
        lambda: cursor.callproc("dbms_schedular.stop_job", keyword_parameters={"job_name": "J"}), "PLS-00201"
    )


def test_our_function_with_a_wrong_parameter_is_pls_00306(cursor) -> None:
    _refused(
        lambda: cursor.callfunc("otask.instance_state", str, keyword_parameters={"p_instance": 1}),
        "PLS-00306",
    )
    cursor.callfunc("otask.instance_state", str, keyword_parameters={"p_instance_id": 1})


def test_unknown_table_is_ora_00942(cursor) -> None:
    _refused(lambda: cursor.execute("select t.x from otask_nowhere t"), "ORA-00942")


def test_unknown_column_of_an_alias_is_ora_00904(cursor) -> None:
    _refused(lambda: cursor.execute("select i.live_worker from otask_instances_v i"), "ORA-00904")
    cursor.execute("select i.live_workers from otask_instances_v i where i.instance_id = :id", {"id": 1})


def test_unknown_column_of_a_dictionary_view_is_ora_00904(cursor) -> None:
    _refused(lambda: cursor.execute("select j.job_state from user_scheduler_jobs j"), "ORA-00904")


def test_misspelt_function_in_plsql_text_is_pls_00302(cursor) -> None:
    _refused(
        lambda: cursor.execute("begin :s := otask.instance_stat(:id); end;", {"s": None, "id": 1}),
        "PLS-00302",
    )


def test_misspelt_exception_in_plsql_text_is_pls_00302(cursor) -> None:
    _refused(
        lambda: cursor.execute("begin null; exception when otask.e_unknown_instanc then null; end;"),
        "PLS-00302",
    )


def test_wrong_named_argument_in_plsql_text_is_pls_00306(cursor) -> None:
    _refused(lambda: cursor.execute("begin :s := otask.instance_state(p_instance => :id); end;"), "PLS-00306")


def test_a_non_strict_connection_records_anything() -> None:
    connection = FakeConnection(strict=False)
    connection.cursor().execute("insert into made_up (x) values (1)")
    connection.cursor().callproc("made.up", keyword_parameters={"x": 1})
    assert [e.sql for e in connection.executed] == ["insert into made_up (x) values (1)", "callproc made.up"]

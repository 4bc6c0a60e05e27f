from __future__ import annotations

import pytest

from airflow_provider_oracle_tasks.validation import flag, oracle_identifier


@pytest.mark.parametrize("name", ["A", "app_owner", "X$1#", "a" * 128])
def test_simple_names_are_upper_cased(name: str) -> None:
    assert oracle_identifier(name, "schema") == name.upper()


@pytest.mark.parametrize("name", ["", "1abc", "a b", 'x"; drop table t; --', "a.b", "a" * 129, 5, None])
def test_bad_names_name_the_argument_and_the_fix(name: object) -> None:
    with pytest.raises(ValueError, match=r"expected_schema=.* is not a valid Oracle name: use 1-128"):
        oracle_identifier(name, "expected_schema")


def test_optional_name_accepts_none() -> None:
    assert oracle_identifier(None, "x", optional=True) is None


@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_flags_must_be_bools(value: object) -> None:
    with pytest.raises(TypeError, match=r"dry_run=.* must be True or False"):
        flag(value, "dry_run")


# --- full matches; A-11: the engine's limits, in bytes ------------------------------------

from airflow_provider_oracle_tasks import validation  # noqa: E402


@pytest.mark.parametrize("name", ["ETL\n", "ETL\r\n", "\nETL", " ETL", "ETL ", "ETL\t"])
def test_names_with_white_space_or_a_trailing_newline_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid Oracle name"):
        oracle_identifier(name, "taskspace")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p1\n", "at most 30 characters"),
        ("p" * 31, "at most 30 characters"),
        ("otask_id", "reserved for the engine's own binds"),
        ("OTASK_X", "reserved for the engine's own binds"),
    ],
)
def test_bind_names_follow_the_engine_rules(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validation.bind_values({name: 1}, "tasks[0].binds")


def test_bind_names_up_to_30_characters_and_otask_lookalikes_pass() -> None:
    assert validation.bind_values({"p" * 30: 1, "otaskx": 2}, "b") == {"p" * 30: 1, "otaskx": 2}


def test_task_names_are_measured_in_bytes() -> None:
    assert validation.task_list([{"sql": "x", "name": "é" * 128}], "tasks")[0]["name"] == "é" * 128
    with pytest.raises(ValueError, match=r"tasks\[0\]\.name=.* at most 256 bytes in UTF-8"):
        validation.task_list([{"sql": "x", "name": "é" * 200}], "tasks")  # 200 chars, 400 bytes


def test_text_counts_bytes() -> None:
    assert validation.text("a" * 512, "run_key", max_length=512) == "a" * 512
    with pytest.raises(ValueError, match="at most 512 bytes"):
        validation.text("€" * 171, "run_key", max_length=512)  # 171 characters, 513 bytes


@pytest.mark.parametrize(
    ("value", "expected"), [("SYS.ETL_CLASS", "ETL_CLASS"), ("sys.etl", "ETL"), ("X", "X")]
)
def test_job_classes_may_carry_the_sys_prefix_as_the_engine_allows(value: str, expected: str) -> None:
    assert validation.job_class(value, "job_class") == expected
    assert validation.job_class(None, "job_class") is None


@pytest.mark.parametrize("value", ["SYS.", "SYS.a.b", "OTHER.ETL", "SYS.ETL\n"])
def test_other_qualified_job_classes_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a valid Oracle name"):
        validation.job_class(value, "job_class")

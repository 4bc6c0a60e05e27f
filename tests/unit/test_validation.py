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

"""SQL*Plus-compatible script parsing and running, against a fake at the oracledb boundary.

No database is involved: the fake records the exact texts the runner sends and replays errors,
compile warnings, USER_ERRORS rows and DBMS_OUTPUT lines built like python-oracledb's own.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from textwrap import dedent
from typing import Any

import oracledb
import pytest
from oracledb import errors as oracledb_errors

from airflow_provider_oracle_tasks.install.script_runner import (
    Command,
    RunResult,
    ScriptError,
    Statement,
    parse_script,
    run_script,
    script_defines,
    sql_root,
)
from tests.unit.fakes import FakeArrayVar, FakeVar

ENABLE_OUTPUT = "begin dbms_output.enable(null); end;"
GET_LINES = "begin dbms_output.get_lines(:lines, :numlines); end;"


# ---- fakes ---------------------------------------------------------------------------------------


def ora_error(code: int, text: str, offset: int = 0) -> oracledb.DatabaseError:
    """Build the exception exactly as python-oracledb does for a server error."""
    error = oracledb_errors._Error(f"ORA-{code:05d}: {text}", code=code, offset=offset)
    exc = error.exc_type(error)
    assert isinstance(exc, oracledb.DatabaseError)
    return exc


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.warning: Any = None
        self.rows: list[Any] = []
        self.closed = False

    def execute(self, statement: str, parameters: Any = None) -> Any:
        conn = self.connection
        conn.executed.append(statement)
        conn.binds.append(parameters)
        self.warning = None
        if statement in conn.failures:
            conn.output_buffer += conn.output.get(statement, [])
            raise conn.failures[statement]
        if "from user_errors" in statement or "from all_errors" in statement:
            key = (parameters.get("owner"), parameters["name"], parameters["type"])
            self.rows = conn.error_rows.get(key, [])
        if statement in conn.compile_warnings:
            self.warning = oracledb_errors._create_warning(oracledb_errors.WRN_COMPILATION_ERROR)
        if statement == ENABLE_OUTPUT:
            conn.output_enabled = True
        if statement == GET_LINES:
            self._get_lines(parameters["lines"], parameters["numlines"])
            return None
        if conn.output_enabled:
            conn.output_buffer += conn.output.get(statement, [])
        return None

    def fetchall(self) -> list[Any]:
        return self.rows

    def _get_lines(self, lines_var: FakeVar, count_var: FakeVar) -> None:
        """dbms_output.get_lines: up to numlines lines, numlines set to how many were returned."""
        wanted = count_var.getvalue()
        taken = self.connection.output_buffer[:wanted]
        del self.connection.output_buffer[:wanted]
        for i, line in enumerate(taken):
            lines_var.setvalue(i, line)
        count_var.setvalue(0, len(taken))

    def var(self, typ: Any, size: int = 0, arraysize: int = 1) -> Any:
        assert typ is int
        return FakeVar()

    def arrayvar(self, typ: Any, value: Any, size: int = 0) -> Any:
        assert typ is str
        return FakeArrayVar(value)

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self) -> None:
        self.executed: list[str] = []
        self.binds: list[Any] = []
        self.failures: dict[str, oracledb.Error] = {}
        self.compile_warnings: set[str] = set()
        self.error_rows: dict[tuple[str | None, str, str], list[tuple[int, int, str, str]]] = {}
        self.output: dict[str, list[str | None]] = {}
        self.output_buffer: list[str | None] = []
        self.output_enabled = False
        self.commits = 0
        self.rollbacks = 0
        self.cursors: list[FakeCursor] = []

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self)
        self.cursors.append(cursor)
        return cursor

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1


# ---- helpers -------------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")
    return path


def statements(path: Path, **kwargs: Any) -> list[Statement]:
    return [item for item in parse_script(path, **kwargs) if isinstance(item, Statement)]


def texts(path: Path, **kwargs: Any) -> list[str]:
    return [s.text for s in statements(path, **kwargs)]


def parse_error(path: Path, **kwargs: Any) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        parse_script(path, **kwargs)
    return info.value


# ---- terminators, strings, comments ----------------------------------------------------------


def test_semicolon_inside_strings_and_quoted_names_does_not_end_statement(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        insert into t values ('a;b', 'it''s; fine', N'n;', "odd;name");
        insert into t values ('first line;
        second line;');
        """,
    )
    assert texts(script) == [
        "insert into t values ('a;b', 'it''s; fine', N'n;', \"odd;name\")",
        "insert into t values ('first line;\nsecond line;')",
    ]


@pytest.mark.parametrize(
    "literal",
    [
        "q'[it's; a ] ok]'",
        "q'{it's; a } ok}'",
        "q'(it's; a ) ok)'",
        "q'<it's; a > ok>'",
        "q'!it's; ok!'",
        "Q'#it's; ok#'",
        "nq'|it's; ok|'",
        "NQ'[multi;\n/ 2\nline;]'",  # a line holding only '/' is refused (E-20)
    ],
)
def test_q_quotes_with_each_delimiter_family(tmp_path: Path, literal: str) -> None:
    script = tmp_path / "a.sql"
    script.write_text(f"select {literal} from dual;\nselect 2 from dual;\n", encoding="utf-8")
    assert texts(script) == [f"select {literal} from dual", "select 2 from dual"]


def test_line_comment_with_semicolon_does_not_end_statement(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        -- a comment line; with a semicolon
        select 1 -- not the end;
        from dual;
        """,
    )
    assert texts(script) == ["select 1 -- not the end;\nfrom dual"]


def test_slash_line_inside_block_comment_is_refused(tmp_path: Path) -> None:
    """E-20: SQL*Plus would end (and run) the block at that '/'; the runner refuses the script."""
    script = write(
        tmp_path,
        "a.sql",
        """\
        begin
          /* old code;
        /
          */
          null;
        end;
        /
        """,
    )
    with pytest.raises(ScriptError, match="inside a /\\* comment \\*/: SQL\\*Plus ends and runs"):
        texts(script)


def test_multiline_string_containing_a_slash_line_is_refused(tmp_path: Path) -> None:
    """E-20: same for a '/' line inside a literal, in PL/SQL and in SQL."""
    script = write(
        tmp_path,
        "a.sql",
        """\
        begin
          dbms_output.put_line('before
        /
        after');
        end;
        /
        insert into t values ('x
        /
        y');
        """,
    )
    with pytest.raises(ScriptError, match="inside a quoted string") as raised:
        texts(script)
    assert raised.value.line == 3


def test_a_lone_dot_line_is_refused(tmp_path: Path) -> None:
    """E-20: SQL*Plus's block terminator '.' would end the block without running it."""
    script = write(tmp_path, "a.sql", "begin\n  null;\n.\nend;\n/\n")
    with pytest.raises(ScriptError, match=r"a line holding only '\.'"):
        texts(script)


def test_plsql_block_keeps_every_semicolon_and_ends_only_at_slash(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        declare
          n number;
        begin
          n := 1;
          if n = 1 then
            null;
          end if;
        end;
        /
        select 1 from dual;
        """,
    )
    items = statements(script)
    assert [(s.kind, s.text, s.line) for s in items] == [
        ("plsql", "declare\n  n number;\nbegin\n  n := 1;\n  if n = 1 then\n    null;\n  end if;\nend;", 1),
        ("sql", "select 1 from dual", 10),
    ]


def test_create_type_needs_slash(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        create or replace type otask_ids as table of number;
        /
        create type otask_pair as object (a number, b number);
        /
        """,
    )
    assert [(s.kind, s.text) for s in statements(script)] == [
        ("plsql", "create or replace type otask_ids as table of number;"),
        ("plsql", "create type otask_pair as object (a number, b number);"),
    ]
    unterminated = write(tmp_path, "b.sql", "create type t as object (a number);\nselect 1 from dual;\n")
    error = parse_error(unterminated)
    assert (error.file, error.line) == ("b.sql", 1)
    assert "not terminated" in error.message


@pytest.mark.parametrize(
    "head",
    [
        "CREATE PROCEDURE p",
        "create or replace procedure p",
        "Create Or Replace Function f return number",
        "create or replace package p",
        "create or replace package body p",
        "create or replace editionable package p",
        "create or replace noneditionable trigger t before insert on x",
        "create or replace type body t",
        "create library l",
        "create or replace and compile java source named j",
        "declare",
        "BEGIN",
    ],
)
def test_plsql_mode_heads(tmp_path: Path, head: str) -> None:
    script = tmp_path / "a.sql"
    script.write_text(f"/* lead */ -- comment\n{head}\n  x;\n  y;\nend;\n/\n", encoding="utf-8")
    [statement] = statements(script)
    assert statement.kind == "plsql"
    assert statement.text == f"{head}\n  x;\n  y;\nend;"
    assert statement.line == 2


def test_create_or_replace_split_over_lines_is_still_plsql(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "create or replace\n  package p as\n  procedure x;\nend;\n/\n")
    assert [(s.kind, s.text) for s in statements(script)] == [
        ("plsql", "create or replace\n  package p as\n  procedure x;\nend;")
    ]


def test_with_function_query_ends_at_slash(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        with
          function plus1(n number) return number is
          begin
            return n + 1;
          end;
        select plus1(1) from dual;
        /
        with function f return number is begin return 1; end;
        select f from dual
        /
        """,
    )
    assert [(s.kind, s.text) for s in statements(script)] == [
        (
            "sql",
            "with\n  function plus1(n number) return number is\n  begin\n    return n + 1;\n  end;\n"
            "select plus1(1) from dual",
        ),
        ("sql", "with function f return number is begin return 1; end;\nselect f from dual"),
    ]


def test_sql_statement_may_end_with_slash(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "select 1\nfrom dual\n/\ncreate table t (a number)\n;\n")
    assert texts(script) == ["select 1\nfrom dual", "create table t (a number)"]


def test_slash_after_semicolon_would_run_twice_and_is_rejected(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "create table t (a number);\n\n/\n")
    error = parse_error(script)
    assert (error.file, error.line) == ("a.sql", 3)
    assert "twice" in error.message
    assert str(error).startswith("a.sql:3: '/' re-runs the statement at a.sql:1")


def test_second_slash_after_plsql_is_rejected(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "begin\n  null;\nend;\n/\n/\n")
    error = parse_error(script)
    assert (error.file, error.line) == ("a.sql", 5)
    assert "re-run" in error.message


def test_blank_line_inside_sql_is_rejected_with_advice(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "select 1\n\nfrom dual;\n")
    error = parse_error(script)
    assert (error.file, error.line) == ("a.sql", 2)
    assert "SET SQLBLANKLINES ON" in error.message
    assert "discards" in error.message


def test_sqlblanklines_on_allows_blank_lines(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "set sqlblanklines on\nselect 1\n\nfrom dual;\nset sqlbl off\n")
    assert texts(script) == ["select 1\n\nfrom dual"]


def test_blank_line_inside_plsql_is_fine(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "begin\n  null;\n\n  null;\nend;\n/\n")
    assert texts(script) == ["begin\n  null;\n\n  null;\nend;"]


def test_comment_after_terminating_semicolon_is_rejected(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "a.sql", "select 1 from dual; -- trailing\n"))
    assert (error.line, "comment after the ';'" in error.message) == (1, True)


def test_two_statements_on_one_line_are_rejected(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "a.sql", "\nselect 1 from dual; select 2 from dual;\n"))
    assert error.line == 2
    assert "middle of a line" in error.message


def test_unterminated_comment_is_reported_where_it_opens(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "a.sql", "select 1 from dual;\n/* never\nclosed\n"))
    assert (error.line, "comment" in error.message) == (2, True)


def test_line_numbers_are_right_after_multiline_comments(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        /*
          header; with / and ;
        /
        */
        select 1 from dual;
        /* inline */ select 2
          from dual;
        rem a remark; with 'quote
        -- note
        begin
          null;
        end;
        /
        """,
    )
    assert [(s.line, s.text) for s in statements(script)] == [
        (5, "select 1 from dual"),
        (6, "select 2\n  from dual"),
        (10, "begin\n  null;\nend;"),
    ]


# ---- includes ------------------------------------------------------------------------------------


def test_nested_includes_resolve_relative_paths(tmp_path: Path) -> None:
    write(tmp_path, "install.sql", "prompt start\n@@core/all\n@tables/t2.sql\n")
    write(tmp_path, "core/all.sql", "@@one.sql\n@@../tables/t1\n")
    write(tmp_path, "core/one.sql", "create table one (a number);\n")
    write(tmp_path, "tables/t1.sql", "create table t1 (a number);\n")
    write(tmp_path, "tables/t2.sql", "create table t2 (a number);\n")
    items = parse_script(tmp_path / "install.sql")
    assert items == [
        Command("PROMPT", "start", "install.sql", 1),
        Command("@@", "core/all.sql", "install.sql", 2),
        Command("@@", "core/one.sql", "core/all.sql", 1, (("install.sql", 2),)),
        Statement(
            "sql", "create table one (a number)", "core/one.sql", 1, (("install.sql", 2), ("core/all.sql", 1))
        ),
        Command("@@", "tables/t1.sql", "core/all.sql", 2, (("install.sql", 2),)),
        Statement(
            "sql", "create table t1 (a number)", "tables/t1.sql", 1, (("install.sql", 2), ("core/all.sql", 2))
        ),
        Command("@", "tables/t2.sql", "install.sql", 3),
        Statement("sql", "create table t2 (a number)", "tables/t2.sql", 1, (("install.sql", 3),)),
    ]


def test_root_anchors_at_includes_and_file_names(tmp_path: Path) -> None:
    write(tmp_path, "sql/upgrade/u1.sql", "@core/v\n")
    write(tmp_path, "sql/core/v.sql", "select 1 from dual;\n")
    [statement] = statements(tmp_path / "sql/upgrade/u1.sql", root=tmp_path / "sql")
    assert (statement.file, statement.included_from) == ("core/v.sql", (("upgrade/u1.sql", 1),))


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.sql", "@@b\n")
    write(tmp_path, "b.sql", "select 1 from dual;\n@@a\n")
    error = parse_error(tmp_path / "a.sql")
    assert (error.file, error.line, error.included_from) == ("b.sql", 2, (("a.sql", 1),))
    assert "include cycle: a.sql -> b.sql -> a.sql" in error.message


def test_missing_include_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.sql", "select 1 from dual;\n@@core/missing\n")
    error = parse_error(tmp_path / "a.sql")
    assert (error.file, error.line) == ("a.sql", 2)
    assert "core/missing.sql not found" in error.message


def test_include_may_not_escape_the_root(tmp_path: Path) -> None:
    write(tmp_path, "outside.sql", "select 1 from dual;\n")
    write(tmp_path, "sql/a.sql", "@@../outside\n")
    error = parse_error(tmp_path / "sql/a.sql")
    assert (error.file, error.line) == ("a.sql", 1)
    assert "outside the script root" in error.message
    write(tmp_path, "sql/b.sql", f"@{tmp_path / 'outside.sql'}\n")
    assert "outside the script root" in parse_error(tmp_path / "sql/b.sql").message


def test_error_in_included_file_names_both_locations(tmp_path: Path) -> None:
    write(tmp_path, "install.sql", "\n@@core/version.sql\n")
    write(tmp_path, "core/version.sql", "select 1 from dual;\n/\n")
    error = parse_error(tmp_path / "install.sql")
    assert str(error).startswith("install.sql:2 (core/version.sql:2): ")


# ---- substitution variables --------------------------------------------------------------------


def test_define_and_substitution_forms(tmp_path: Path) -> None:
    write(tmp_path, "core/v1.sql", "select '&ver' from dual;\n")
    script = write(
        tmp_path,
        "a.sql",
        """\
        define schema = OTASK
        DEF ver = "1.2.0"
        define dir = 'core'
        select '&ver', &&schema..t, '&schema.x' from &schema..dual;
        @@&dir/v1
        """,
    )
    assert texts(script) == [
        "select '1.2.0', OTASK.t, 'OTASKx' from OTASK.dual",
        "select '1.2.0' from dual",
    ]


def test_set_define_off_and_on(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        set define off
        select 'R&D' from dual;
        set define on
        define x = 1
        select &x from dual;
        set define ^
        select '&x', ^x from dual;
        """,
    )
    assert texts(script) == ["select 'R&D' from dual", "select 1 from dual", "select '&x', 1 from dual"]


def test_undefined_variable_is_an_error_not_a_prompt(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "select 1,\n  '&missing' from dual;\n")
    error = parse_error(script)
    assert (error.file, error.line) == ("a.sql", 2)
    assert "&missing" in error.message
    assert "prompt" in error.message


def test_caller_defines_and_undefine(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        "grant execute on otask to &grantee;\nundefine grantee\nselect '&grantee' from dual;\n",
    )
    error = parse_error(script, defines={"GRANTEE": "app_user"})
    assert error.line == 3
    write(tmp_path, "b.sql", "grant execute on otask to &Grantee;\n")
    assert texts(tmp_path / "b.sql", defines={"grantee": "app_user"}) == [
        "grant execute on otask to app_user"
    ]


def test_include_arguments_become_positional_variables(tmp_path: Path) -> None:
    write(tmp_path, "grants.sql", "grant otask_user to &1;\n")
    write(tmp_path, "a.sql", "@@grants app_user\n")
    assert texts(tmp_path / "a.sql") == ["grant otask_user to app_user"]


def test_script_defines_reads_values_without_executing(tmp_path: Path) -> None:
    write(tmp_path, "core/version.sql", 'define otask_version = "1.4.0"\n')
    script = write(
        tmp_path,
        "install.sql",
        "define unused = x\nundefine unused\n@@core/version\n@@&param_dir/x\n"
        "select '&not_given' from dual;\n",
    )
    defines = script_defines(script)
    assert defines == {"OTASK_VERSION": "1.4.0"}
    assert defines["otask_version"] == defines.get("Otask_Version") == "1.4.0"
    assert "otask_version" in defines
    assert "unused" not in defines
    assert defines.get("missing") is None
    with pytest.raises(KeyError):
        defines["missing"]


def test_ambiguous_define_value_is_rejected(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "a.sql", "define title = two words\n"))
    assert "double quotes" in error.message


# ---- SQL*Plus commands -------------------------------------------------------------------------


def test_exit_stops_reading_even_from_an_include(tmp_path: Path) -> None:
    write(tmp_path, "inc.sql", "select 1 from dual;\nexit\nthis is not valid (\n")
    write(tmp_path, "a.sql", "@@inc\nselect 2 from dual;\n")
    items = parse_script(tmp_path / "a.sql")
    assert [type(i).__name__ for i in items] == ["Command", "Statement", "Command"]
    assert items[-1] == Command("EXIT", "SUCCESS COMMIT", "inc.sql", 2, (("a.sql", 1),))
    write(tmp_path, "b.sql", "select 1 from dual;\nquit;\nselect 2 from dual\n")
    assert texts(tmp_path / "b.sql") == ["select 1 from dual"]


def test_commands_are_recognised_with_abbreviations(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        REM header; with 'odd quote
        remark another
        pro Hello 'world'
        set serverout on size unlimited format wrapped
        set echo off feed off lin 200 pages 0 trims on verify off termout on timing off heading off
        sho errors
        show errors package body otask
        whenever sqlerror exit failure rollback
        WHENEVER OSERROR EXIT FAILURE
        spool install.log
        col name format a30
        ttitle off
        clear screen
        spool off
        """,
    )
    assert parse_script(script) == [
        Command("PROMPT", "Hello 'world'", "a.sql", 3),
        Command("SET", "SERVEROUTPUT ON SIZE UNLIMITED FORMAT WRAPPED", "a.sql", 4),
        Command("SET", "ECHO off", "a.sql", 5),
        Command("SET", "FEEDBACK off", "a.sql", 5),
        Command("SET", "LINESIZE 200", "a.sql", 5),
        Command("SET", "PAGESIZE 0", "a.sql", 5),
        Command("SET", "TRIMSPOOL on", "a.sql", 5),
        Command("SET", "VERIFY off", "a.sql", 5),
        Command("SET", "TERMOUT on", "a.sql", 5),
        Command("SET", "TIMING off", "a.sql", 5),
        Command("SET", "HEADING off", "a.sql", 5),
        Command("SHOW", "errors", "a.sql", 6),
        Command("SHOW", "errors package body otask", "a.sql", 7),
        Command("WHENEVER", "sqlerror exit failure rollback", "a.sql", 8),
        Command("WHENEVER", "OSERROR EXIT FAILURE", "a.sql", 9),
        Command("SPOOL", "install.log", "a.sql", 10),
        Command("COLUMN", "name format a30", "a.sql", 11),
        Command("TTITLE", "off", "a.sql", 12),
        Command("CLEAR", "screen", "a.sql", 13),
        Command("SPOOL", "off", "a.sql", 14),
    ]


def test_unknown_command_is_treated_as_sql(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "settle accounts;\nset transaction read only;\ndescr otask;\n")
    assert texts(script) == ["settle accounts", "set transaction read only", "descr otask"]


def test_unknown_set_option_and_semantic_settings_are_rejected(tmp_path: Path) -> None:
    assert "unknown SET option" in parse_error(write(tmp_path, "a.sql", "set frobnicate on\n")).message
    assert "not supported" in parse_error(write(tmp_path, "b.sql", "set autocommit on\n")).message
    assert "not supported" in parse_error(write(tmp_path, "c.sql", "connect scott/tiger\n")).message
    assert parse_script(write(tmp_path, "d.sql", "set autocommit off\n")) == [
        Command("SET", "AUTOCOMMIT off", "d.sql", 1)
    ]


def test_execute_command_becomes_an_anonymous_block(tmp_path: Path) -> None:
    script = write(
        tmp_path, "a.sql", "exec dbms_stats.gather_schema_stats(user);\nexecute otask.ping( -\n  1)\n"
    )
    assert [(s.kind, s.text, s.line) for s in statements(script)] == [
        ("plsql", "BEGIN dbms_stats.gather_schema_stats(user); END;", 1),
        ("plsql", "BEGIN otask.ping( 1); END;", 2),
    ]


def test_prompt_ending_with_hyphen_is_rejected(tmp_path: Path) -> None:
    assert "continue" in parse_error(write(tmp_path, "a.sql", "prompt ------\n")).message


# ---- running -------------------------------------------------------------------------------------


def test_run_executes_exact_texts_outputs_prompts_and_commits(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "install.sql",
        """\
        prompt Installing
        create table otask_t (a number);
        begin
          insert into otask_t values (1);
        end;
        /
        prompt Done
        """,
    )
    conn = FakeConnection()
    lines: list[str] = []
    result = run_script(conn, script, log=lines.append)
    assert result == RunResult(statements_run=2, output=["Installing", "Done"])
    assert conn.executed == [
        "create table otask_t (a number)",
        "begin\n  insert into otask_t values (1);\nend;",
    ]
    assert (conn.commits, conn.rollbacks) == (1, 0)
    assert conn.cursors[0].closed
    assert lines == [
        "Installing",
        "install.sql:2 sql: create table otask_t (a number)",
        "install.sql:3 plsql: begin…",
        "Done",
    ]


def test_serveroutput_lines_are_captured_in_order(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "a.sql",
        """\
        begin dbms_output.put_line('not shown'); end;
        /
        set serveroutput on size unlimited
        prompt before
        begin dbms_output.put_line('one'); end;
        /
        begin big_output; end;
        /
        set serveroutput off
        begin dbms_output.put_line('after off'); end;
        /
        """,
    )
    conn = FakeConnection()
    conn.output = {
        "begin dbms_output.put_line('not shown'); end;": ["not shown"],
        "begin dbms_output.put_line('one'); end;": ["one", None],
        "begin big_output; end;": [f"line {i}" for i in range(150)],
        "begin dbms_output.put_line('after off'); end;": ["after off"],
    }
    result = run_script(conn, script, log=lambda _: None)
    assert result.output == ["before", "one", "", *[f"line {i}" for i in range(150)]]
    assert conn.executed == [
        "begin dbms_output.put_line('not shown'); end;",
        ENABLE_OUTPUT,
        "begin dbms_output.put_line('one'); end;",
        GET_LINES,
        "begin big_output; end;",
        GET_LINES,  # 100 lines: the buffer may hold more
        GET_LINES,  # 50 lines: done
        "begin dbms_output.disable; end;",
        "begin dbms_output.put_line('after off'); end;",
    ]


def test_first_error_stops_the_run_with_location_code_and_rollback(tmp_path: Path) -> None:
    write(
        tmp_path,
        "install.sql",
        "create table a (x number);\n\n@@core/version.sql\ncreate table c (x number);\n",
    )
    write(tmp_path, "core/version.sql", "-- version table\ncreate table\n  otask_version (v number);\n")
    conn = FakeConnection()
    failing = "create table\n  otask_version (v number)"
    conn.failures[failing] = ora_error(955, "name is already used by an existing object", offset=15)
    with pytest.raises(ScriptError) as info:
        run_script(conn, tmp_path / "install.sql", log=lambda _: None)
    error = info.value
    assert conn.executed == ["create table a (x number)", failing]
    assert (conn.commits, conn.rollbacks) == (0, 1)
    assert (error.file, error.line, error.ora_code) == ("core/version.sql", 3, "ORA-00955")
    assert str(error).startswith(
        "install.sql:3 (core/version.sql:3): ORA-00955: name is already used by an existing object"
    )
    assert isinstance(error.__cause__, oracledb.DatabaseError)


def test_plsql_error_line_is_mapped_into_the_file(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "select 1 from dual;\nbegin\n  null;\n  otask.boom;\nend;\n/\n")
    conn = FakeConnection()
    conn.failures["begin\n  null;\n  otask.boom;\nend;"] = ora_error(
        20001, 'OTASK: boom\nORA-06512: at "APP.OTASK", line 12\nORA-06512: at line 3'
    )
    with pytest.raises(ScriptError) as info:
        run_script(conn, script, log=lambda _: None)
    assert (info.value.line, info.value.ora_code) == (4, "ORA-20001")
    assert conn.rollbacks == 1


def test_dbms_output_is_still_collected_when_a_statement_fails(tmp_path: Path) -> None:
    script = write(tmp_path, "a.sql", "set serveroutput on\nbegin step; end;\n/\n")
    conn = FakeConnection()
    conn.failures["begin step; end;"] = ora_error(1476, "divisor is equal to zero")
    conn.output["begin step; end;"] = ["reached step 2"]
    lines: list[str] = []
    with pytest.raises(ScriptError):
        run_script(conn, script, log=lines.append)
    assert conn.executed == [ENABLE_OUTPUT, "begin step; end;", GET_LINES]
    assert lines == ["a.sql:2 plsql: begin step; end;", "reached step 2"]


def test_compile_errors_become_a_script_error_with_user_errors_text(tmp_path: Path) -> None:
    body = "create or replace package body otask_core as\n  procedure p is begin x; end;\nend otask_core;"
    write(tmp_path, "install.sql", "@@core/otask_core.pkb\n")
    write(tmp_path, "core/otask_core.pkb", f"-- body\n{body}\n/\nselect 1 from dual;\n")
    conn = FakeConnection()
    conn.compile_warnings.add(body)
    conn.error_rows[(None, "OTASK_CORE", "PACKAGE BODY")] = [
        (2, 24, "PLS-00201: identifier 'X' must be declared\n", "ERROR"),
        (2, 24, "PL/SQL: Statement ignored", "ERROR"),
    ]
    with pytest.raises(ScriptError) as info:
        run_script(conn, tmp_path / "install.sql", log=lambda _: None)
    error = info.value
    assert conn.executed[0] == body
    assert "from user_errors" in conn.executed[1]
    assert conn.binds[1] == {"name": "OTASK_CORE", "type": "PACKAGE BODY"}
    assert len(conn.executed) == 2  # the select after it never ran
    assert (error.file, error.line, error.ora_code) == ("core/otask_core.pkb", 3, "PLS-00201")
    assert error.message == (
        "PACKAGE BODY OTASK_CORE created with compilation errors:\n"
        "  core/otask_core.pkb:3:24: PLS-00201: identifier 'X' must be declared\n"
        "  core/otask_core.pkb:3:24: PL/SQL: Statement ignored"
    )
    assert conn.rollbacks == 1


def test_compile_warning_for_quoted_name_with_schema_uses_all_errors(tmp_path: Path) -> None:
    text = (
        'create or replace\ntrigger app."Otask_Trg"\nbefore insert on t for each row\n'
        "begin\n  :new.x := y;\nend;"
    )
    script = write(tmp_path, "a.sql", text + "\n/\n")
    conn = FakeConnection()
    conn.compile_warnings.add(text)
    conn.error_rows[("APP", "Otask_Trg", "TRIGGER")] = [
        (2, 13, "PLS-00201: identifier 'Y' must be declared", "ERROR")
    ]
    with pytest.raises(ScriptError) as info:
        run_script(conn, script, log=lambda _: None)
    assert "from all_errors" in conn.executed[1]
    assert conn.binds[1] == {"owner": "APP", "name": "Otask_Trg", "type": "TRIGGER"}
    # trigger errors count from the trigger's own block (line 4 of the file is 'begin')
    assert info.value.line == 5
    assert "APP.Otask_Trg" in info.value.message


def test_compiler_warnings_only_are_logged_not_fatal(tmp_path: Path) -> None:
    text = "create or replace procedure otask_p is\nbegin\n  null;\nend;"
    script = write(tmp_path, "a.sql", text + "\n/\n")
    conn = FakeConnection()
    conn.compile_warnings.add(text)
    conn.error_rows[(None, "OTASK_P", "PROCEDURE")] = [(1, 1, "PLW-05018: unit has no AUTHID", "WARNING")]
    lines: list[str] = []
    assert run_script(conn, script, log=lines.append).statements_run == 1
    assert "a.sql:1:1: PLW-05018: unit has no AUTHID (compiler warning)" in lines
    assert conn.commits == 1


def test_exit_rollback_and_exit_failure(tmp_path: Path) -> None:
    conn = FakeConnection()
    run_script(conn, write(tmp_path, "a.sql", "delete from t;\nexit rollback\n"), log=lambda _: None)
    assert (conn.commits, conn.rollbacks) == (0, 1)
    conn = FakeConnection()
    with pytest.raises(ScriptError) as info:
        run_script(conn, write(tmp_path, "b.sql", "select 1 from dual;\nexit failure\n"), log=lambda _: None)
    assert (info.value.line, conn.commits) == (2, 1)  # SQL*Plus' EXIT FAILURE still commits by default


def test_dry_run_needs_no_connection(tmp_path: Path) -> None:
    write(tmp_path, "core/t.sql", "create table t (\n  a number\n);\n")
    script = write(tmp_path, "install.sql", "prompt Installing\n@@core/t\nbegin\n  null;\nend;\n/\n")
    lines: list[str] = []
    result = run_script(None, script, dry_run=True, log=lines.append)
    assert result == RunResult(statements_run=0, output=["Installing"])
    assert lines == [
        "install.sql:1 PROMPT Installing",
        "install.sql:2 @@ core/t.sql",
        "core/t.sql:1 sql: create table t (…",
        "install.sql:3 plsql: begin…",
        "dry run: 2 statement(s) parsed, none executed",
    ]


def test_run_without_connection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dry_run"):
        run_script(None, write(tmp_path, "a.sql", "select 1 from dual;\n"))


def test_parse_errors_surface_before_anything_runs(tmp_path: Path) -> None:
    conn = FakeConnection()
    with pytest.raises(ScriptError):
        run_script(conn, write(tmp_path, "a.sql", "create table t (a number);\nselect '&oops' from dual;\n"))
    assert conn.executed == []
    assert conn.commits == 0


# ---- misc ----------------------------------------------------------------------------------------


def test_script_error_pickles() -> None:
    error = ScriptError(
        "ORA-00942: table or view does not exist", "core/x.sql", 7, "ORA-00942", (("install.sql", 3),)
    )
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "install.sql:3 (core/x.sql:7): ORA-00942: table or view does not exist"
    assert (copy.file, copy.line, copy.ora_code) == ("core/x.sql", 7, "ORA-00942")


def test_sql_root_is_the_shipped_sql_folder() -> None:
    root = sql_root()
    assert root.is_dir()
    assert root.name == "sql"

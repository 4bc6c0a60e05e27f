"""Every object the install creates has a name no other object of the install uses.

Tables, views, sequences, packages, procedures, functions, types and synonyms share ONE
namespace per schema in Oracle: a table OTASK_LOG and a package OTASK_LOG cannot both exist
(CREATE PACKAGE fails with ORA-00955, and the install with it). No database runs here, so this
reads the names from the scripts themselves: the DDL in the files and the names passed to the
``otask_install.ensure_*`` helpers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql"

# Object kinds that share the schema's main namespace (indexes and constraints have their own).
_SHARED = {"TABLE", "VIEW", "SEQUENCE", "PACKAGE", "PROCEDURE", "FUNCTION", "TYPE", "SYNONYM"}

_DDL = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:(?:editionable|noneditionable|force)\s+)*"
    r"(table|view|sequence|package|procedure|function|type|synonym)\s+(body\s+)?\"?(\w+)\"?",
    re.I,
)
_ENSURE_OBJECT = re.compile(r"ensure_object\(\s*'(\w+)'\s*,\s*'(\w+)'", re.I)
_ENSURE_VIEW = re.compile(r"ensure_view\(\s*(?:p_name\s*=>\s*)?'(\w+)'", re.I)
_QUEUE_TABLE = re.compile(r"p_queue_table\s*=>\s*'(\w+)'", re.I)


def _without_comments(text: str) -> str:
    """Drops ``--`` comments (the DDL of the install lives in q'[...]' literals, which stay)."""
    return re.sub(r"--[^\n]*", "", text)


def created_objects(root: Path = SQL) -> dict[str, set[str]]:
    """Object name (upper case) -> the kinds the scripts create under that name."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in {".sql", ".pks", ".pkb"}:
            continue
        text = _without_comments(path.read_text(encoding="utf-8"))
        for kind, body, name in _DDL.findall(text):
            if not body:  # a package or type body shares its spec's name on purpose
                kinds[name.upper()].add(kind.upper())
        for kind, name in _ENSURE_OBJECT.findall(text):
            if kind.upper() in _SHARED:
                kinds[name.upper()].add(kind.upper())
        for name in _ENSURE_VIEW.findall(text):
            kinds[name.upper()].add("VIEW")
        for name in _QUEUE_TABLE.findall(text):
            kinds[name.upper()].add("TABLE")  # DBMS_AQADM.CREATE_QUEUE_TABLE makes a table
    return kinds


def test_no_two_objects_of_the_install_share_a_name() -> None:
    kinds = created_objects()
    assert {"OTASK", "OTASK_LOG", "OTASK_TASKS", "OTASK_INSTANCES_V", "OTASK_EVENT_T"} <= set(kinds)
    clashes = {name: sorted(found) for name, found in kinds.items() if len(found & _SHARED) > 1}
    assert clashes == {}, f"these names are used by two kinds of object in one namespace: {clashes}"


def test_the_check_finds_a_clash(tmp_path: Path) -> None:
    (tmp_path / "t.sql").write_text(
        "begin\n  otask_install.ensure_object('TABLE', 'OTASK_X', q'[create table otask_x (a number)]');\n"
        "end;\n/\n",
        encoding="utf-8",
    )
    (tmp_path / "x.pks").write_text(
        "-- create table otask_comment_only (a number)\ncreate or replace package otask_x as\nend;\n/\n",
        encoding="utf-8",
    )
    (tmp_path / "x.pkb").write_text("create or replace package body otask_x as\nend;\n/\n", encoding="utf-8")
    kinds = created_objects(tmp_path)
    assert kinds["OTASK_X"] == {"TABLE", "PACKAGE"}
    assert "OTASK_COMMENT_ONLY" not in kinds

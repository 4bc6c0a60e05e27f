"""What the strict fakes refuse, like Oracle: the same catalog as tools/sqlcheck.

Every statement and ``callproc``/``callfunc`` that reaches the fakes of fakes.py is checked here
before it is recorded or answered:

* ``callproc``/``callfunc``: the package and member must exist (our package specs as the install
  creates them, or the Oracle-supplied packages of ``tools/sqlparse/catalog/oracle-19c.json``), and
  the positional and keyword parameters must match one overload: an unknown name, a positional
  after a named one, or a missing parameter without a default is PLS-00306 (inside ORA-06550, as
  the driver reports it);
* SQL and PL/SQL text: every table or view after FROM/JOIN/UPDATE/INSERT INTO/MERGE INTO/DELETE
  FROM must exist (ORA-00942), every ``alias.column`` of such a source must be one of its columns
  (ORA-00904), and every ``package.member`` of a known package must be declared (PLS-00302), with
  its named arguments matched like a call.

It is a reader, not a parser: string literals and comments are blanked, names are matched by
tokens. That is enough for the provider's SQL (written with aliases, see docs/development/sqlcheck.md)
and it fails closed on what it reads; what it cannot read (no alias, unknown columns) passes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.sql_static_parse import running_in_ci, tool_unavailable_reason
from tests.sqlcheck import CATALOG, schema_catalog


@dataclass(frozen=True)
class Param:
    name: str
    has_default: bool


@dataclass(frozen=True)
class Member:
    name: str
    kind: str
    params: tuple[Param, ...] = ()


@dataclass
class Catalog:
    tables: dict[str, list[str] | None] = field(default_factory=dict)
    packages: dict[str, list[Member]] = field(default_factory=dict)
    sequences: set[str] = field(default_factory=set)
    schema_known: bool = False


def _supplied_param(text: str) -> Param:
    m = re.match(r"^(\w+)\s+(?:IN\s+OUT|IN|OUT)?\s*(.*?)(\s+DEFAULT\s+.+)?$", text.strip(), re.I)
    if not m:
        raise ValueError(f"catalog: cannot read parameter {text!r}")
    return Param(m.group(1).upper(), m.group(3) is not None)


def _supplied_members(entry: Mapping[str, Any]) -> list[Member]:
    members: list[Member] = []
    for kind in ("procedures", "functions"):
        for name, overloads in entry.get(kind, {}).items():
            members += [
                Member(name, kind[:-1], tuple(_supplied_param(p) for p in params)) for params in overloads
            ]
    members += [Member(name, "constant") for name in entry.get("constants", [])]
    members += [Member(name, "exception") for name in entry.get("exceptions", [])]
    members += [Member(name, "type") for name in entry.get("types", {})]
    return members


@cache
def catalog() -> Catalog:
    raw = json.loads(CATALOG.read_text(encoding="utf-8"))
    result = Catalog()
    for name, entry in raw["packages"].items():
        result.packages[name] = _supplied_members(entry)
    for name, view in raw["views"].items():
        result.tables[name] = list(view["columns"])
    reason = tool_unavailable_reason()
    if reason is not None or os.environ.get("ORACLE_TASKS_STRICT_SCHEMA") == "off":
        if running_in_ci():
            raise RuntimeError(f"the strict fakes need the schema catalog of tools/sqlcheck, but {reason}")
        return result  # locally without node: supplied packages and views only
    schema = schema_catalog()
    for name, columns in schema["tables"].items():
        result.tables[name] = columns
    for name, members in schema["packages"].items():
        result.packages[name] = [
            Member(m["name"], m["kind"], tuple(Param(p["name"], p["hasDefault"]) for p in m["params"]))
            for m in members
        ]
    result.sequences = set(schema["sequences"])
    result.schema_known = True
    return result


class Refusal(Exception):
    """What Oracle would raise; fakes.py turns it into an ``oracledb`` error."""


def _mismatch(params: Sequence[Param], positional: int, named: Sequence[str]) -> str | None:
    names = [p.name for p in params]
    if positional > len(params):
        return f"{positional} positional argument(s) for {len(params)} parameter(s)"
    if len(set(named)) != len(named):
        return "a parameter named twice"
    for name in named:
        if name not in names:
            return f"no parameter named {name.lower()}"
        if names.index(name) < positional:
            return f"{name.lower()} passed by position and by name"
    missing = [p.name.lower() for p in params[positional:] if not p.has_default and p.name not in named]
    return f"no value for {', '.join(missing)} (no default)" if missing else None


def check_call(target: str, positional: int, named: Iterable[str]) -> None:
    """A ``callproc``/``callfunc`` (or a call in PL/SQL text) of ``package.member``."""
    parts = target.upper().replace('"', "").split(".")
    if len(parts) == 3 and parts[0] == "SYS":
        parts = parts[1:]
    if len(parts) != 2:
        raise Refusal(
            f"ORA-06550: line 1, column 7:\nPLS-00201: identifier '{target.upper()}' must be declared"
        )
    package, member = parts
    members = catalog().packages.get(package)
    if members is None:
        lacks = (
            " (and tools/sqlparse/catalog/oracle-19c.json lacks it)"
            if re.match(r"^(DBMS|UTL)_", package)
            else ""
        )
        raise Refusal(
            f"ORA-06550: line 1, column 7:\nPLS-00201: identifier '{package}.{member}' "
            f"must be declared{lacks}"
        )
    overloads = [m for m in members if m.name == member and m.kind in ("procedure", "function")]
    if not overloads:
        raise Refusal(f"ORA-06550: line 1, column 7:\nPLS-00302: component '{member}' must be declared")
    named_list = [n.upper() for n in named]
    why = [_mismatch(m.params, positional, named_list) for m in overloads]
    if all(w is not None for w in why):
        raise Refusal(
            f"ORA-06550: line 1, column 7:\nPLS-00306: wrong number or types of arguments in call to "
            f"'{member}' ({package.lower()}.{member.lower()}: {why[0]})"
        )


_BLANK = re.compile(
    r"--[^\n]*|/\*.*?\*/|[nN]?[qQ]'\[.*?\]'|[nN]?[qQ]'\{.*?\}'|[nN]?[qQ]'\(.*?\)'|'(?:[^']|'')*'", re.S
)
_TOKEN = re.compile(r"\"[^\"]+\"|''|[A-Za-z_][\w$#]*|:\w+|=>|\S")
_STOP = {
    "WHERE",
    "GROUP",
    "ORDER",
    "HAVING",
    "CONNECT",
    "START",
    "UNION",
    "MINUS",
    "INTERSECT",
    "FETCH",
    "FOR",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "CROSS",
    "FULL",
    "ON",
    "USING",
    "SET",
    "VALUES",
    "RETURNING",
    "WHEN",
    "THEN",
    "LOOP",
    "OFFSET",
    "MODEL",
    "PIVOT",
    "UNPIVOT",
    "NATURAL",
    "APPLY",
    "LATERAL",
    "SELECT",
    "AS",
    "INTO",
    "BULK",
    "WINDOW",
    "QUALIFY",
    "LIMIT",
    "END",
    "EXCEPTION",
    "IS",
    "AND",
    "OR",
}


# FROM inside EXTRACT(day FROM x) or TRIM(leading 'x' FROM y) is not a FROM clause.
_NOT_A_SOURCE = {
    "YEAR",
    "MONTH",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "TIMEZONE_HOUR",
    "TIMEZONE_MINUTE",
    "TIMEZONE_REGION",
    "TIMEZONE_ABBR",
    "LEADING",
    "TRAILING",
    "BOTH",
    "''",
}


def _tokens(text: str) -> list[str]:
    return [t if t.startswith('"') else t.upper() for t in _TOKEN.findall(_BLANK.sub("''", text))]


def _name(tok: str) -> str:
    return tok[1:-1] if tok.startswith('"') else tok


def _is_name(tok: str | None) -> bool:
    return tok is not None and (tok.startswith('"') or re.match(r"^[A-Z_][\w$#]*$", tok) is not None)


def _closing(tokens: Sequence[str], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == "(":
            depth += 1
        elif tokens[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def _sources(tokens: Sequence[str], ctes: set[str]) -> tuple[dict[str, str], list[str]]:
    """alias -> table for every named source; and the names of tables referenced."""
    aliases: dict[str, str] = {}
    tables: list[str] = []

    def item(i: int) -> int:
        tok = tokens[i] if i < len(tokens) else None
        if tok is None:
            return i
        if tok == "(" or tok in ("JSON_TABLE", "TABLE", "XMLTABLE", "LATERAL"):
            j = _closing(tokens, i if tok == "(" else i + 1)
            k = j + 1
            if k < len(tokens) and _is_name(tokens[k]) and tokens[k] not in _STOP:
                k += 1
            return k
        if not _is_name(tok) or tok in _STOP:
            return i
        name = _name(tok)
        k = i + 1
        while k + 1 < len(tokens) and tokens[k] == "." and _is_name(tokens[k + 1]):  # schema.table
            name = _name(tokens[k + 1])
            k += 2
        if k < len(tokens) and tokens[k] == "(":  # a function call, not a table
            return _closing(tokens, k) + 1
        if name not in ctes:
            tables.append(name)
        aliases.setdefault(name, name)
        if k < len(tokens) and _is_name(tokens[k]) and tokens[k] not in _STOP:
            aliases[_name(tokens[k])] = name
            k += 1
        return k

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        prev = tokens[i - 1] if i else ""
        if (tok in ("FROM", "JOIN") and prev not in _NOT_A_SOURCE) or (tok == "UPDATE" and prev != "FOR"):
            i = item(i + 1)
            while tok == "FROM" and i < len(tokens) and tokens[i] == ",":
                i = item(i + 1)
            continue
        if tok == "INTO" and prev in ("INSERT", "MERGE"):
            i = item(i + 1)
            continue
        i += 1
    return aliases, tables


def _ctes(tokens: Sequence[str]) -> set[str]:
    return {
        _name(tokens[i])
        for i in range(len(tokens) - 2)
        if _is_name(tokens[i])
        and tokens[i + 1] == "AS"
        and tokens[i + 2] == "("
        and (i == 0 or tokens[i - 1] in ("WITH", ","))
    }


def _arguments(tokens: Sequence[str], open_at: int) -> tuple[int, list[str]]:
    close = _closing(tokens, open_at)
    positional, named, depth, start = 0, [], 0, True
    for j in range(open_at + 1, close):
        tok = tokens[j]
        if tok in ("(",):
            depth += 1
        elif tok == ")":
            depth -= 1
        elif tok == "," and depth == 0:
            start = True
            continue
        if start and depth == 0:
            if j + 1 < close and tokens[j + 1] == "=>" and _is_name(tok):
                named.append(_name(tok))
            else:
                positional += 1
            start = False
    return positional, named


def check_sql(sql: str) -> None:
    """SQL or PL/SQL text as the driver sends it."""
    cat = catalog()
    tokens = _tokens(sql)
    # A stored unit (package body, ...) has many statements with their own scopes, which this
    # reader does not track: tools/sqlcheck resolves those; here only what a flat read can prove.
    stored = len(tokens) > 1 and tokens[0] == "CREATE"
    aliases, tables = _sources(tokens, _ctes(tokens))
    if cat.schema_known:
        for table in tables:
            if table not in cat.tables:
                lacks = (
                    "; tools/sqlparse/catalog/oracle-19c.json lacks it: add it from the 19c reference"
                    if re.match(r"^(USER|ALL|DBA|CDB)_|^G?V\$|^AQ\$", table)
                    else ""
                )
                raise Refusal(f"ORA-00942: table or view does not exist ({table.lower()}{lacks})")
    for i in range(len(tokens) - 2):
        head, dot, member = tokens[i], tokens[i + 1], tokens[i + 2]
        if dot != "." or not _is_name(head) or not _is_name(member) or (i and tokens[i - 1] == "."):
            continue
        head, member = _name(head), _name(member)
        if head in aliases and head not in cat.packages and stored:
            continue
        if head in aliases and head not in cat.packages:
            columns = cat.tables.get(aliases[head])
            if columns is not None and member not in columns and member not in ("NEXTVAL", "CURRVAL"):
                raise Refusal(f'ORA-00904: "{head}"."{member}": invalid identifier')
            continue
        members = cat.packages.get(head)
        if members is None or (i + 3 < len(tokens) and tokens[i + 3] == "."):
            continue
        if not any(m.name == member for m in members):
            raise Refusal(f"ORA-06550: line 1, column 7:\nPLS-00302: component '{member}' must be declared")
        if (
            i + 3 < len(tokens)
            and tokens[i + 3] == "("
            and any(m.name == member and m.kind in ("procedure", "function") for m in members)
        ):
            positional, named = _arguments(tokens, i + 3)
            check_call(f"{head}.{member}", positional, named)

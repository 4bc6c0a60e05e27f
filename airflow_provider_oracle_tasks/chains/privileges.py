"""Check, before changing anything, that the schema may define and run Scheduler chains.

Chains are built on Rules Engine objects: ``CREATE_CHAIN`` creates a rule set and an evaluation
context, every ``DEFINE_CHAIN_RULE`` a rule. So defining a chain needs, besides ``CREATE JOB``
(programs, chains and the chain job), the Rules Engine system privileges ``CREATE RULE``,
``CREATE RULE SET`` and ``CREATE EVALUATION CONTEXT`` - granted with
``DBMS_RULE_ADM.GRANT_SYSTEM_PRIVILEGE``. Running an existing chain needs ``CREATE JOB`` only; a
forced ``STOP_JOB`` needs ``MANAGE SCHEDULER``.

Without them the operator would fail half-way: programs created, then ``CREATE_CHAIN`` refused.
:func:`check_chain_privileges` reads ``USER_SYS_PRIVS`` (direct grants) and ``SESSION_PRIVS``
(all, roles included) in one statement and returns every missing privilege with the statement
a DBA must run. The chain operator calls ``DBMS_SCHEDULER`` from anonymous blocks, where enabled
roles count (review C-6), so a privilege held through a role is enough here; it is reported as
advice (``role_only``), because the engine's definer-rights PL/SQL (``sql/preflight.sql``) does
need direct grants. ``sql/grants.sql`` grants all of them directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, WrongSchemaError

RUN_PRIVILEGES = ("CREATE JOB",)
DEFINE_PRIVILEGES = ("CREATE JOB", "CREATE RULE", "CREATE RULE SET", "CREATE EVALUATION CONTEXT")
FORCE_STOP_PRIVILEGE = "MANAGE SCHEDULER"

_RULE_OBJECTS = {
    "CREATE RULE": "CREATE_RULE_OBJ",
    "CREATE RULE SET": "CREATE_RULE_SET_OBJ",
    "CREATE EVALUATION CONTEXT": "CREATE_EVALUATION_CONTEXT_OBJ",
}

PRIVILEGES_SQL = """\
select sys_context('USERENV', 'SESSION_USER') as session_user,
       sys_context('USERENV', 'CURRENT_SCHEMA') as current_schema,
       p.privilege,
       (select count(*) from user_sys_privs u where u.privilege = p.privilege) as direct_grants,
       (select count(*) from session_privs s where s.privilege = p.privilege) as in_session
  from json_table(:privileges, '$[*]' columns (privilege varchar2(128) path '$')) p"""


def grant_statement(privilege: str, user: str) -> str:
    """The statement a DBA runs (SQL*Plus syntax) to grant ``privilege`` directly to ``user``."""
    rule_object = _RULE_OBJECTS.get(privilege)
    if rule_object:
        return f"EXEC DBMS_RULE_ADM.GRANT_SYSTEM_PRIVILEGE(DBMS_RULE_ADM.{rule_object}, '{user}');"
    return f"GRANT {privilege} TO {user};"


@dataclass(frozen=True)
class PrivilegeCheck:
    """Result of :func:`check_chain_privileges`; ``missing`` is empty when all is well."""

    user: str
    missing: tuple[tuple[str, str], ...]
    """(privilege, why) pairs; why is "not granted" or "granted only through a role"."""
    schema: str | None = None
    """The session's current schema; chains are created there, so it must be the user's own."""
    role_only: tuple[str, ...] = ()
    """Privileges held only through a role: enough for the chain calls, not for the engine."""

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def grants(self) -> tuple[str, ...]:
        return tuple(grant_statement(privilege, self.user) for privilege, _ in self.missing)

    def message(self, purpose: str) -> str:
        lines = [
            f"  {grant} -- {privilege}: {why}"
            for (privilege, why), grant in zip(self.missing, self.grants, strict=True)
        ]
        return (
            f"schema {self.user} lacks privileges to {purpose}. Nothing was changed. Ask a DBA to run "
            "sql/grants.sql for this user, or these statements:\n" + "\n".join(lines)
        )

    def raise_if_missing(self, purpose: str) -> None:
        """Raise for a foreign current schema (WrongSchemaError) or missing privileges."""
        if self.schema and self.schema != self.user:
            raise WrongSchemaError(
                f"current schema {self.schema} differs from the session user {self.user}: chains and "
                "programs are created in, and read from, the session user's schema. Connect as the "
                "schema owner (remove the connection's Schema field or ALTER SESSION SET CURRENT_SCHEMA)."
            )
        if self.missing:
            raise MissingPrivilegesError(self.message(purpose))


def required_privileges(*, define: bool, force_stop: bool = False) -> tuple[str, ...]:
    """What an operation needs: defining a chain, or only running one; plus a forced stop."""
    needed = DEFINE_PRIVILEGES if define else RUN_PRIVILEGES
    return (*needed, FORCE_STOP_PRIVILEGE) if force_stop else needed


def parse_privilege_rows(
    rows: Sequence[Sequence[Any]], fallback_user: str = "<user>", *, roles_count: bool = True
) -> PrivilegeCheck:
    """Rows of PRIVILEGES_SQL -> :class:`PrivilegeCheck` (pure, for tests and reuse).

    ``roles_count`` (the chain operator's anonymous blocks): a privilege in SESSION_PRIVS through a
    role is enough and only listed in ``role_only``; False demands direct grants (definer rights).
    """
    user = str(rows[0][0]) if rows and rows[0][0] else fallback_user
    schema = str(rows[0][1]) if rows and rows[0][1] else None
    missing: list[tuple[str, str]] = []
    role_only: list[str] = []
    for _, _, privilege, direct, in_session in rows:
        if int(direct or 0) > 0:
            continue
        if int(in_session or 0) > 0:
            if roles_count:
                role_only.append(str(privilege))
                continue
            missing.append((str(privilege), "granted only through a role; grant it directly"))
            continue
        missing.append((str(privilege), "not granted"))
    return PrivilegeCheck(user, tuple(missing), schema, tuple(role_only))


def check_chain_privileges(
    connection: Any, *, define: bool, force_stop: bool = False, roles_count: bool = True
) -> PrivilegeCheck:
    """Read-only: which of the privileges for this operation the session's user lacks."""
    privileges = required_privileges(define=define, force_stop=force_stop)
    with connection.cursor() as cursor:
        cursor.execute(PRIVILEGES_SQL, {"privileges": json.dumps(list(privileges))})
        rows = cursor.fetchall()
    return parse_privilege_rows(rows, roles_count=roles_count)

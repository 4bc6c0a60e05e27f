"""Check AQ privileges before the first AQ call, so a missing grant is named with its GRANT.

Without the check, a missing privilege surfaces in the middle of a run as a bare ORA-00942 /
PLS-00201 (no EXECUTE on DBMS_AQADM) or ORA-24047 / ORA-01031 (no DEQUEUE on another owner's
queue) - review Q-9. Both checks are one read-only query each, and count privileges through
enabled roles too: the provider calls DBMS_AQADM and DBMS_AQ from anonymous blocks and the
driver's AQ API, where roles count.

* :func:`check_aqadm`: ``EXECUTE`` on ``SYS.DBMS_AQADM`` (``GRANT EXECUTE ON DBMS_AQADM`` or the
  ``AQ_ADMINISTRATOR_ROLE``), needed by ``OracleAQCreateQueueOperator``;
* :func:`check_dequeue`: ``DEQUEUE`` on the queues of other owners (a chain event step's queue),
  directly, through a role or PUBLIC, or the ``DEQUEUE ANY QUEUE`` system privilege.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from airflow_provider_oracle_tasks.errors import MissingPrivilegesError

AQADM_SQL = """\
select sys_context('USERENV', 'SESSION_USER'),
       (select count(*) from all_objects o
         where o.owner = 'SYS' and o.object_name = 'DBMS_AQADM' and o.object_type = 'PACKAGE')
  from dual"""

DEQUEUE_SQL = """\
select sys_context('USERENV', 'SESSION_USER'), q.owner, q.name,
       (select count(*) from all_tab_privs p
         where p.table_schema = q.owner and p.table_name = q.name and p.privilege = 'DEQUEUE')
       + (select count(*) from session_privs s where s.privilege = 'DEQUEUE ANY QUEUE') as granted
  from json_table(:queues, '$[*]' columns (owner varchar2(128) path '$.owner',
                                           name  varchar2(128) path '$.name')) q"""


def check_aqadm(connection: Any, purpose: str) -> None:
    """Raise MissingPrivilegesError unless the session may execute DBMS_AQADM."""
    with connection.cursor() as cursor:
        cursor.execute(AQADM_SQL)
        row = cursor.fetchone()
    user, visible = (str(row[0]), int(row[1] or 0)) if row else ("<user>", 0)
    if visible == 0:
        raise MissingPrivilegesError(
            f"schema {user} cannot execute DBMS_AQADM, which {purpose} needs. Nothing was changed. Ask a "
            f"DBA to run: GRANT EXECUTE ON DBMS_AQADM TO {user};  (or GRANT AQ_ADMINISTRATOR_ROLE TO {user};)"
        )


def check_dequeue(connection: Any, queues: Iterable[str], purpose: str) -> None:
    """Raise MissingPrivilegesError for each ``OWNER.QUEUE`` of another owner the session may not dequeue."""
    wanted = sorted({q for q in queues if "." in q})
    if not wanted:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            DEQUEUE_SQL,
            {
                "queues": json.dumps(
                    [dict(zip(("owner", "name"), q.split(".", 1), strict=True)) for q in wanted]
                )
            },
        )
        rows = cursor.fetchall()
    missing = [
        (str(user), f"{owner}.{name}") for user, owner, name, granted in rows if int(granted or 0) == 0
    ]
    missing = [(user, queue) for user, queue in missing if not queue.startswith(f"{user}.")]
    if missing:
        user = missing[0][0]
        grants = "\n".join(
            f"  EXEC DBMS_AQADM.GRANT_QUEUE_PRIVILEGE('DEQUEUE', '{queue}', '{user}');"
            for _, queue in missing
        )
        raise MissingPrivilegesError(
            f"schema {user} may not dequeue from {', '.join(q for _, q in missing)}, which {purpose} needs. "
            f"Nothing was changed. Ask the queue owner or a DBA to run:\n{grants}"
        )

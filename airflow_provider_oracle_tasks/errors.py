"""The provider's exception types: one per outcome a DAG author or DBA must act on differently."""

from __future__ import annotations


class OracleTasksError(Exception):
    """Base class; its message always names the cause and the fix."""


class MissingPrivilegesError(OracleTasksError):
    """The schema lacks privileges the engine needs (ORA-20001); the message lists the GRANTs."""


class SchemaVersionError(OracleTasksError):
    """The installed schema is newer than this package's scripts (ORA-20002)."""


class WrongSchemaError(OracleTasksError):
    """The connection would install into another schema than the one the DAG expects."""


class ConnectionProblem(OracleTasksError):
    """The Airflow connection is missing, or the database refuses or cannot be reached."""

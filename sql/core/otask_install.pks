create or replace package otask_install authid definer as
  -- Install-time helpers that make every install step idempotent: each ensure_* checks the
  -- dictionary and runs its DDL only when the object is missing, so running install.sql twice
  -- changes nothing and an older schema is brought up to date by the same calls.
  --
  -- The DDL text always comes from the shipped scripts in sql/, never from callers at run time.
  -- This package is deliberately NOT granted to OTASK_USER_ROLE.
  --
  -- Errors: ORA-20003 a name outside the product prefix or not a simple SQL name;
  --         ORA-20006 objects still invalid after install (listed in the message);
  --         ORA-20002 recording a schema version older than the installed one.

  c_role constant varchar2(30) := 'OTASK_USER_ROLE';

  e_invalid_name     exception;
  pragma exception_init(e_invalid_name, -20003);
  e_newer_installed  exception;
  pragma exception_init(e_newer_installed, -20002);
  e_invalid_objects  exception;
  pragma exception_init(e_invalid_objects, -20006);

  -- p_type: TABLE, INDEX, SEQUENCE, TYPE (anything USER_OBJECTS knows by that type name).
  procedure ensure_object(p_type varchar2, p_name varchar2, p_ddl varchar2);

  -- Adds a column to an existing table (upgrade steps); p_ddl is the full ALTER TABLE.
  procedure ensure_column(p_table varchar2, p_column varchar2, p_ddl varchar2);

  -- Adds a named constraint to an existing table; p_ddl is the full ALTER TABLE.
  procedure ensure_constraint(p_table varchar2, p_name varchar2, p_ddl varchar2);

  -- Creates or replaces a view only when its shipped DDL changed. CREATE OR REPLACE VIEW is DDL
  -- even with an identical text (LAST_DDL_TIME moves, dependants such as a role holder's code
  -- are invalidated), so a second install must not run it. Oracle does not keep a view's text
  -- verbatim (USER_VIEWS.TEXT may be rewritten), so the view's comment carries a fingerprint of
  -- p_ddl (length + hash) and the DDL runs when the view is missing or the fingerprint differs.
  -- p_ddl is the full CREATE OR REPLACE VIEW statement from the shipped script.
  procedure ensure_view(p_name varchar2, p_ddl varchar2);

  -- Creates the queue table and queue when missing and makes sure the queue is started.
  procedure ensure_queue(
    p_queue_table        varchar2,
    p_queue              varchar2,
    p_payload_type       varchar2,
    p_multiple_consumers boolean default true,
    p_retention_seconds  number  default 0,
    p_comment            varchar2 default null);

  -- Grants p_privilege on p_object to OTASK_USER_ROLE when the DBA has created that role
  -- (sql/grants.sql); otherwise says so and carries on, because the role is optional.
  procedure grant_to_role(p_object varchar2, p_privilege varchar2);

  -- Recompiles invalid product objects, then raises ORA-20006 listing any still invalid.
  procedure validate_objects;

  -- Highest schema version recorded in OTASK_VERSION (0 when none).
  function installed_version return number;

  -- Records p_version once; recording the installed version again changes nothing.
  procedure set_version(p_version number, p_description varchar2);
end otask_install;
/

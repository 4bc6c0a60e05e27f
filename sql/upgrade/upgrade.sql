-- Upgrade steps for schemas installed by an older release, applied in order by install.sql.
--
-- Convention (see docs/install.md, "Upgrades"): one file per schema version, vNNN.sql, added
-- here as one line `@@vNNN.sql`. A step only uses the idempotent otask_install.ensure_* calls,
-- or guards a data change with `if otask_install.installed_version < NNN then ... end if;`,
-- so it is safe on a fresh install (where the tables already have the new shape) and on a
-- second run. Schema version 1 is the first release, so this file holds no versioned step yet.
--
-- Ordering rule (E-19): install.sql runs engine/tables.sql BEFORE this file, and
-- ensure_object never alters an existing object. So a new column goes HERE (ensure_column),
-- never only into tables/*.sql; and an index or constraint on a new column goes here too,
-- after its ensure_column, not into tables/*.sql (on an old schema the column does not exist
-- yet when tables/*.sql runs: ORA-00904). A queue payload type (OTASK_EVENT_T) cannot evolve in
-- place: a change needs a new type and queue.
--
-- Columns added during the development of schema version 1 (a schema installed from an
-- earlier development build gets them here; a fresh install has them from tables/*.sql).
begin
  otask_install.ensure_column('OTASK_INSTANCES', 'LAST_WATCH_AT',
    'alter table otask_instances add (last_watch_at timestamp(6) with time zone)');
end;
/
prompt oracle-tasks: upgrade steps done up to schema version &otask_schema_version

-- Upgrade steps for schemas installed by an older release, applied in order by install.sql.
--
-- Convention (see docs/install.md, "Upgrades"): one file per schema version, vNNN.sql, added
-- here as one line `@@vNNN.sql`. A step only uses the idempotent otask_install.ensure_* calls,
-- or guards a data change with `if otask_install.installed_version < NNN then ... end if;`,
-- so it is safe on a fresh install (where the tables already have the new shape) and on a
-- second run. Schema version 1 is the first release: no steps yet.
prompt oracle-tasks: no upgrade steps up to schema version &otask_schema_version

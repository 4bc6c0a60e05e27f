-- oracle-tasks: install or upgrade the in-database engine in the CURRENT schema.
--
-- Run as the schema owner, from this folder:
--   sql  owner/password@//host:1521/service @install.sql      (SQLcl)
--   sqlplus owner/password@//host:1521/service @install.sql   (SQL*Plus)
-- or from Python: `oracle-tasks install --conn-id oracle_default`.
--
-- Safe to run again: every object is created only when missing, packages are replaced with the
-- same source, and an older schema is upgraded in place by the steps in upgrade/. Nothing is
-- changed before preflight.sql has checked the privileges and the installed version.
whenever sqlerror exit failure rollback
set verify off
set define on
set sqlblanklines on
set serveroutput on size unlimited

-- The one place the schema version is written; Python reads it from here too.
define otask_schema_version = 1

prompt oracle-tasks: checking privileges and installed version
@@preflight.sql

prompt oracle-tasks: core objects
@@core/version_table.sql
@@core/otask_install.pks
@@core/otask_install.pkb

prompt oracle-tasks: engine tables and queue
@@engine/tables.sql

prompt oracle-tasks: upgrade steps for older installations
@@upgrade/upgrade.sql

prompt oracle-tasks: engine packages and views
@@engine/code.sql

prompt oracle-tasks: validating and recording the schema version
@@core/finish.sql

-- E-23: leave the DBA's SQL*Plus session as SQL*Plus starts it (the settings above were only
-- for this script).
whenever sqlerror continue none
set verify on

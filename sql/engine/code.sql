-- oracle-tasks engine: packages and views. A second install changes nothing: PL/SQL units are
-- `create or replace` with identical source (Oracle then skips the compilation), and views go
-- through otask_install.ensure_view, which runs their DDL only when the shipped text changed.
--
-- Specs first, in dependency order, then the views, then the bodies (a body may use any spec),
-- then the grants to OTASK_USER_ROLE. core/finish.sql recompiles and checks them afterwards.
--
--   OTASK         the public API: the only package Python (or OTASK_USER_ROLE) calls
--   OTASK_ENGINE  instance state machine: groups, close, orphans, threads, stops, retries
--   OTASK_WORKER  the body of every worker job: claim, run, record
--   OTASK_BUILD   input checks and task creation (ad-hoc, JSON bulk, definitions)
--   OTASK_JOBS    DBMS_SCHEDULER calls and the scheduler views
--   OTASK_NOTIFY  the completion event on queue OTASK_EVENTS
--   OTASK_AQ      AQ events raised by producers (OTASK.RAISE_EVENT)
--   OTASK_LOGGER  writes the engine log, table OTASK_LOG (autonomous, never fails the caller)
@@otask_logger.pks
@@otask.pks
@@otask_jobs.pks
@@otask_notify.pks
@@otask_aq.pks
@@otask_engine.pks
@@otask_build.pks
@@otask_worker.pks

@@views/otask_instances_v.sql
@@views/otask_tasks_v.sql
@@views/otask_workers_v.sql

@@otask_logger.pkb
@@otask_jobs.pkb
@@otask_notify.pkb
@@otask_aq.pkb
@@otask_engine.pkb
@@otask_build.pkb
@@otask_worker.pkb
@@otask.pkb

@@role_grants.sql

@@watchdog_job.sql

-- The schema watchdog job OTASK_WATCHDOG (one per schema): every few seconds it heals the
-- RUNNING/STOPPING instances that need it (OTASK_ENGINE.WATCH_SCHEMA), so an instance nobody
-- watches (started from SQL*Plus, its Airflow waiter gone, its workers killed by a database
-- restart) still progresses, closes and restarts missing workers. A repeating job with a
-- repeat_interval runs again by itself after a restart of the database. Created when missing,
-- enabled when disabled, otherwise left alone; uninstall drops it with the other OTASK_* jobs.
begin
  otask_jobs.ensure_watchdog_job;
end;
/

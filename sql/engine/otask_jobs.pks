create or replace package otask_jobs authid definer as
  -- Everything the engine does with DBMS_SCHEDULER, and everything it reads from the scheduler
  -- views. Worker jobs are named OTASK_W<instance id>_<OTASK_WORKER_SEQ>: unique per instance
  -- (DESIGN rule 4). Every call below names one exact job that the engine generated and
  -- registered in OTASK_WORKERS; nothing is ever matched with LIKE, so no call can reach a job
  -- of another instance or of another schema.

  type t_names is table of varchar2(128);

  -- A new, unused worker job name for the instance.
  function new_job_name(p_instance_id number) return varchar2;

  -- Creates and enables the worker job in an AUTONOMOUS transaction: DBMS_SCHEDULER.CREATE_JOB
  -- commits, and this way it commits only itself, never the caller's transaction (rule 3).
  -- The job action contains only the numeric instance id and the generated job name.
  -- Raises ORA-20104 (the owner lacks CREATE JOB) or ORA-20106 (job class unusable).
  procedure create_worker(p_job_name varchar2, p_instance_id number, p_job_class varchar2);

  -- Stops (if running) and drops one worker job, autonomously. Never raises: a failure is
  -- logged with the fix (MANAGE SCHEDULER for a forced stop).
  procedure stop_worker(p_job_name varchar2, p_instance_id number);

  -- Marks LOST every STARTING/ACTIVE worker of the instance whose job the scheduler no longer
  -- runs and no longer holds as scheduled (session killed, STOP_JOB/DROP_JOB by hand, database
  -- restart). Runs in the caller's transaction, which must hold the instance row lock.
  -- Returns the names it marked.
  function mark_lost(p_instance_id number) return t_names;

  -- E-1: the same check for every STARTING/ACTIVE worker of a taskspace, whatever its instance
  -- (another instance nobody watches, or one that closed while a dead worker was still
  -- registered): marks them LOST so they stop filling the taskspace cap. Settling their
  -- orphaned tasks stays per instance (under that instance's row, by its next heal). Never
  -- waits: worker rows another session holds are skipped (their holder is reconciling them).
  -- Runs in the caller's transaction, which must hold the taskspace row lock.
  procedure mark_lost_in_taskspace(p_taskspace varchar2);

  -- The name of the schema watchdog job (one per schema, created by install).
  c_watchdog_job constant varchar2(30) := 'OTASK_WATCHDOG';
  -- How often it runs, in seconds.
  c_watchdog_seconds constant pls_integer := 5;

  -- Creates the schema watchdog job when it is missing, enables it when it is disabled
  -- (install; idempotent). It runs OTASK_ENGINE.WATCH_SCHEMA every c_watchdog_seconds; a
  -- repeating job survives a database restart (the scheduler runs it again when the database
  -- opens). Logging off: a run every few seconds must not fill the scheduler's job log.
  procedure ensure_watchdog_job;

  -- The first worker job of the instance that the engine gave up on (STOPPED by a hard stop,
  -- or LOST) but that the scheduler still runs, or NULL. Such a job may still be running a task
  -- the engine recorded as ended: nothing may hand that task to another worker meanwhile.
  function abandoned_running_job(p_instance_id number) return varchar2;

  -- TRUE when the owner can see (and so use) the job class SYS.<p_job_class>.
  function job_class_usable(p_job_class varchar2) return boolean;
end otask_jobs;
/

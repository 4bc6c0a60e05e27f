create or replace package otask authid definer as
  -- oracle-tasks: the public API of the in-database task engine, and the ONLY unit that Python
  -- (or a person with OTASK_USER_ROLE) calls. The internal packages OTASK_ENGINE, OTASK_WORKER,
  -- OTASK_BUILD, OTASK_JOBS, OTASK_NOTIFY and OTASK_LOGGER are not granted to anybody.
  --
  -- Definer rights: every task runs as the schema owner, with the owner's privileges. Whoever
  -- may call this package may run any SQL as the owner (see docs/engine.md, "Security").
  --
  -- Transactions (a contract with callers):
  --   * "building" calls leave the caller's transaction open, so an instance and its tasks
  --     become visible together or not at all: create_instance, add_task, add_tasks,
  --     add_definition, remove_definition, enable_definition;
  --   * "control" calls COMMIT the caller's transaction (DBMS_SCHEDULER.CREATE_JOB commits, and
  --     workers must see the state they start on): start_jobs, set_threads, set_taskspace,
  --     stop, retry_failed, purge, purge_instance, drop_taskspace.
  --   The usual sequence is create_instance, add_task(s), start_jobs: if the caller dies before
  --   start_jobs, nothing is left behind, and an Airflow retry with the same run key starts over.
  --   instance_state may run housekeeping in an autonomous transaction; it never touches the
  --   caller's transaction and may be called from SQL.
  --
  -- Errors: every error this package raises on purpose is one of the ORA-20100..20199 codes
  -- below (docs/engine.md has the table). A rejected call changes nothing. Oracle's own errors
  -- from the database (e.g. a lost session) reach the caller unchanged.

  -- ---------------------------------------------------------------------------------------
  -- Error codes (raised). The message always names the object and the fix.
  -- ---------------------------------------------------------------------------------------
  c_unknown_instance     constant pls_integer := -20100;
  c_invalid_threads      constant pls_integer := -20101;
  c_invalid_state        constant pls_integer := -20102;
  c_invalid_identifier   constant pls_integer := -20103;
  c_missing_privilege    constant pls_integer := -20104;
  c_invalid_argument     constant pls_integer := -20105;
  c_unknown_job_class    constant pls_integer := -20106;
  c_run_key_conflict     constant pls_integer := -20107;
  c_source_query_failed  constant pls_integer := -20108;
  c_invalid_json         constant pls_integer := -20109;
  c_unknown_definition   constant pls_integer := -20110;
  c_unknown_taskspace    constant pls_integer := -20111;

  e_unknown_instance     exception;
  pragma exception_init(e_unknown_instance, -20100);
  e_invalid_threads      exception;
  pragma exception_init(e_invalid_threads, -20101);
  e_invalid_state        exception;
  pragma exception_init(e_invalid_state, -20102);
  e_invalid_identifier   exception;
  pragma exception_init(e_invalid_identifier, -20103);
  e_missing_privilege    exception;
  pragma exception_init(e_missing_privilege, -20104);
  e_invalid_argument     exception;
  pragma exception_init(e_invalid_argument, -20105);
  e_unknown_job_class    exception;
  pragma exception_init(e_unknown_job_class, -20106);
  e_run_key_conflict     exception;
  pragma exception_init(e_run_key_conflict, -20107);
  e_source_query_failed  exception;
  pragma exception_init(e_source_query_failed, -20108);
  e_invalid_json         exception;
  pragma exception_init(e_invalid_json, -20109);
  e_unknown_definition   exception;
  pragma exception_init(e_unknown_definition, -20110);
  e_unknown_taskspace    exception;
  pragma exception_init(e_unknown_taskspace, -20111);
  -- AQ events (raise_event)
  c_unknown_queue        constant pls_integer := -20112;
  c_queue_not_allowed    constant pls_integer := -20113;
  c_payload_mismatch     constant pls_integer := -20114;
  e_unknown_queue        exception;
  pragma exception_init(e_unknown_queue, -20112);
  e_queue_not_allowed    exception;
  pragma exception_init(e_queue_not_allowed, -20113);
  e_payload_mismatch     exception;
  pragma exception_init(e_payload_mismatch, -20114);

  -- Codes the engine RECORDS in OTASK_TASKS.ERROR_CODE (never raised to a caller).
  c_task_orphaned        constant pls_integer := -20150;  -- its worker job stopped running
  c_task_hard_stopped    constant pls_integer := -20151;  -- OTASK.STOP(p_mode => 'HARD')

  -- ---------------------------------------------------------------------------------------
  -- States (the words used in tables, views, Python and docs).
  -- ---------------------------------------------------------------------------------------
  c_created   constant varchar2(16) := 'CREATED';
  c_running   constant varchar2(16) := 'RUNNING';
  c_stopping  constant varchar2(16) := 'STOPPING';
  c_succeeded constant varchar2(16) := 'SUCCEEDED';
  c_failed    constant varchar2(16) := 'FAILED';
  c_stopped   constant varchar2(16) := 'STOPPED';
  c_waiting   constant varchar2(16) := 'WAITING';
  c_ready     constant varchar2(16) := 'READY';
  c_skipped   constant varchar2(16) := 'SKIPPED';

  c_default_taskspace constant varchar2(128) := 'DEFAULT';
  c_max_threads       constant pls_integer := 1000;
  c_max_retries       constant pls_integer := 100;

  -- ---------------------------------------------------------------------------------------
  -- Taskspaces
  -- ---------------------------------------------------------------------------------------

  -- Creates or updates a taskspace (COMMITS). p_max_threads caps the live workers of all its
  -- instances together (NULL = no cap, 0 = nothing starts); lowering it makes workers exit after
  -- their current task, raising it starts the workers that waited for room. p_job_class is a
  -- DBMS_SCHEDULER job class the owner may use (EXECUTE granted directly), or NULL for
  -- DEFAULT_JOB_CLASS. p_default_threads is the target of start_jobs without p_threads.
  procedure set_taskspace(
    p_taskspace        varchar2,
    p_max_threads      number   default null,
    p_job_class        varchar2 default null,
    p_default_threads  number   default 4);

  -- Deletes an empty taskspace (no instances, no definitions) (COMMITS).
  procedure drop_taskspace(p_taskspace varchar2);

  -- ---------------------------------------------------------------------------------------
  -- Task definitions (templates, seed 000 style)
  -- ---------------------------------------------------------------------------------------

  -- p_sql: any SQL statement or PL/SQL block; it may use binds :p1..:pn / :<column alias>
  -- filled from each row of p_source_query (a SELECT or WITH query), plus the engine binds
  -- (:otask_output out, :otask_attempt, :otask_task_id, :otask_instance_id).
  -- p_retries NULL = the instance default. Does not commit.
  function add_definition(
    p_taskspace     varchar2,
    p_name          varchar2,
    p_sql           clob,
    p_source_query  clob     default null,
    p_group         number   default 1,
    p_priority      number   default 0,
    p_retries       number   default null,
    p_enabled       varchar2 default 'Y') return number;

  procedure enable_definition(p_definition_id number, p_enabled varchar2 default 'Y');
  procedure remove_definition(p_definition_id number);

  -- ---------------------------------------------------------------------------------------
  -- Instances
  -- ---------------------------------------------------------------------------------------

  -- Creates an instance in p_taskspace (created on first use) and returns its id. Does not
  -- commit. Idempotent on p_run_key: when an instance with that key exists, its id is returned
  -- and nothing else happens; a concurrent call with the same key waits for the first caller's
  -- transaction and then returns the same id. p_stop_on_error 'Y' | 'N'; p_retries is the
  -- default retry budget of its tasks; p_retry_delay_seconds the wait before a retry.
  -- p_from_definitions 'Y' adds one task per enabled definition (per source-query row).
  -- p_dag_id, p_run_id, p_task_id: the Airflow identity, shown in the views and the event.
  function create_instance(
    p_taskspace            varchar2 default 'DEFAULT',
    p_stop_on_error        varchar2 default 'Y',
    p_retries              number   default 0,
    p_run_key              varchar2 default null,
    p_from_definitions     varchar2 default 'N',
    p_dag_id               varchar2 default null,
    p_run_id               varchar2 default null,
    p_task_id              varchar2 default null,
    p_retry_delay_seconds  number   default 0) return number;

  -- Adds one ad-hoc task (AHOY style) to a CREATED or RUNNING instance; returns the task id.
  -- Lower p_priority runs first; p_group orders tasks as barriers; p_retries NULL = the
  -- instance default. p_binds: NULL or a JSON object {"name": value, ...}; each value is bound
  -- to the placeholder :name as VARCHAR2 (JSON null -> NULL, numbers and booleans as their
  -- JSON text). Does not commit; on a RUNNING instance it locks the instance row until the
  -- caller commits.
  function add_task(
    p_instance_id  number,
    p_sql          clob,
    p_name         varchar2 default null,
    p_group        number   default 1,
    p_priority     number   default 0,
    p_retries      number   default null,
    p_binds        clob     default null) return number;

  -- Bulk form of add_task: p_tasks is a JSON array of objects
  --   [{"sql": "...", "name": "...", "group": 1, "priority": 0, "retries": 2,
  --     "binds": {"p1": "x", "n": 5}}, ...]
  -- ("sql" required, the rest optional with add_task's defaults). All or nothing: one bad
  -- element rejects the whole array. Returns the number of tasks added. Does not commit.
  function add_tasks(p_instance_id number, p_tasks clob) return number;

  -- Starts a CREATED instance with p_threads workers (NULL = the taskspace default_threads):
  -- opens its first group and creates the worker jobs. On a RUNNING instance it is idempotent:
  -- it sets the target when p_threads is given and starts only missing workers (e.g. after a
  -- database restart). An instance without tasks closes at once as SUCCEEDED. COMMITS.
  procedure start_jobs(p_instance_id number, p_threads number default null);

  -- Changes the target threads of a CREATED or RUNNING instance (COMMITS). Raising it starts
  -- the missing workers at once; lowering it lets workers exit after their current task;
  -- 0 pauses the instance (running tasks finish, nothing new starts, no group opens) until a
  -- later set_threads / start_jobs raises it again.
  procedure set_threads(p_instance_id number, p_threads number);

  -- p_mode 'SOFT': running tasks finish, nothing new starts (READY/WAITING -> SKIPPED), the
  -- instance ends STOPPED when the last running task ends. 'HARD': additionally stops this
  -- instance's worker jobs at once (by their exact names), marks their tasks STOPPED and the
  -- instance STOPPED before returning. Stopping a finished instance changes nothing. COMMITS.
  procedure stop(p_instance_id number, p_mode varchar2 default 'SOFT');

  -- Puts FAILED tasks (and the tasks skipped or stopped because of them or of a stop) back to
  -- work with a fresh retry budget and restarts the workers (p_threads NULL = the last
  -- non-zero target). Allowed on RUNNING, FAILED and STOPPED instances. COMMITS.
  procedure retry_failed(p_instance_id number, p_threads number default null);

  -- The instance's state (CREATED, RUNNING, STOPPING, SUCCEEDED, FAILED, STOPPED). Also the
  -- engine's watchdog: detects dead workers and orphaned tasks, closes an instance whose last
  -- worker died, restarts missing workers (autonomous transaction; never blocks on a busy
  -- instance). Raises ORA-20100 for an unknown id.
  function instance_state(p_instance_id number) return varchar2;

  -- The watchdog of a batched status read (S-1): p_instance_ids is a JSON array of instance
  -- ids ([1, 2, 3]). One set-based query finds those of them that need a heal (a registered
  -- worker the scheduler no longer runs, an orphaned RUNNING task, or, at most every few
  -- seconds, fewer live workers than the target) and heals only those, each in an autonomous
  -- transaction that never waits for a lock. Unknown or finished ids are ignored; never raises
  -- for a heal that fails (it is logged). Does not touch the caller's transaction.
  -- ORA-20109 when p_instance_ids is not valid JSON (elements that are no numbers are ignored).
  procedure heal_instances(p_instance_ids clob);

  -- The schema watchdog job OTASK_WATCHDOG as the scheduler reports it: its state (SCHEDULED,
  -- RUNNING, ...), DISABLED when it is disabled, or MISSING when it does not exist (run install
  -- again). Readable by OTASK_USER_ROLE holders, who cannot see the owner's scheduler views.
  function watchdog_job_state return varchar2;

  -- Deletes finished instances (SUCCEEDED, FAILED, STOPPED; and CREATED ones never started)
  -- that ended / were created more than p_older_than days ago (a CREATED one also at least an
  -- hour ago), with their tasks, binds and workers, plus log entries (except those of unfinished
  -- instances) and expired events older than that. Returns the number of instances deleted.
  -- COMMITS (per instance), so call it from PL/SQL (`exec :n := otask.purge(30)`), not from a
  -- query (ORA-14552).
  function purge(p_older_than number) return number;

  -- Deletes one finished (or never started) instance now. COMMITS.
  procedure purge_instance(p_instance_id number);

  -- ---------------------------------------------------------------------------------------
  -- AQ events (docs/operators/aq.md)
  -- ---------------------------------------------------------------------------------------

  -- Enqueues one event message on p_queue (QUEUE or OWNER.QUEUE, the owner's schema only; not
  -- OTASK_EVENTS) in the CALLER'S transaction (visibility ON_COMMIT; does not commit), so a
  -- load job can make "the file arrived" part of the same commit as the load. The payload is
  -- converted by the queue's payload type: RAW (text as AL32UTF8 bytes, at most 8000
  -- characters), JSON (a JSON document; 21c+), or an object type with exactly one character
  -- attribute (e.g. BCKUP_MSGT('GO')). p_correlation: the message's correlation id;
  -- p_consumers: comma-separated consumer names (NULL = every subscriber);
  -- p_expiration_seconds: NULL = never expires. Errors: ORA-20103 (bad name), ORA-20105,
  -- ORA-20112 (no such queue), ORA-20113 (queue not allowed), ORA-20114 (payload/type).
  procedure raise_event(
    p_queue               varchar2,
    p_payload             clob,
    p_correlation         varchar2 default null,
    p_consumers           varchar2 default null,
    p_expiration_seconds  number   default null);
end otask;
/

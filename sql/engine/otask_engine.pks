create or replace package otask_engine authid definer as
  -- The instance state machine: groups, closing, orphans, thread regulation, stops, retries.
  -- Internal: called by OTASK (after it validated the arguments) and by OTASK_WORKER.
  --
  -- Locking protocol (one order everywhere, so no two engine sessions can deadlock):
  --     instance row  ->  taskspace row  ->  task / worker rows
  --   (instance first because a caller's open transaction may hold its instance row already:
  --   add_task locks it, and start_jobs in the same transaction then takes the taskspace);
  --   * every decision about an instance as a whole (open a group, close, count workers to
  --     start or to stop, orphan handling, a final failure, a stop) is taken while holding its
  --     OTASK_INSTANCES row lock, so two workers cannot both close an instance, and a thread
  --     change cannot race a worker that is leaving;
  --   * starting workers also holds the taskspace row, so the taskspace cap is never overshot;
  --     a session holding a taskspace row never waits for an instance row (watchdogs and
  --     rebalancing only try-lock: FOR UPDATE SKIP LOCKED);
  --   * the hot path (claim a task, record a success) locks only the task row and never the
  --     instance row: workers do not queue behind each other (no table-level mutex).
  -- Procedures named *_locked expect the caller to hold the instance row lock (and, for
  -- spawn_missing_locked, the taskspace row lock) and do not commit.

  -- Locks the instance row (waits) and returns it; ORA-20100 when it does not exist.
  function lock_instance(p_instance_id number) return otask_instances%rowtype;
  -- Locks the taskspace row (waits) and returns it.
  function lock_taskspace(p_taskspace varchar2) return otask_taskspaces%rowtype;

  -- Live workers (STARTING or ACTIVE) of an instance, and of a taskspace.
  function live_workers(p_instance_id number) return pls_integer;
  function live_taskspace_workers(p_taskspace varchar2) return pls_integer;

  -- Rule 7: marks dead workers LOST, then settles the RUNNING tasks they held: READY again
  -- while the task has retry budget (and the instance may still start work), else FAILED
  -- (ORA-20150), or STOPPED during a hard stop.
  procedure reconcile_locked(p_instance_id number);

  -- When nothing is READY or RUNNING: opens the next group (unless a failure or a stop forbids
  -- it, or the instance is paused at 0 threads) or closes the instance.
  -- Returns 'OPENED', 'CLOSED' (closed now or already) or 'WAIT'.
  function advance_locked(p_instance_id number) return varchar2;

  -- Final state, end time, counts and the completion event, exactly once per close (rule 11).
  procedure close_locked(p_instance_id number);

  -- A task FAILED for good: remembers the failure; with stop_on_error 'Y' nothing new starts.
  procedure final_failure_locked(p_instance_id number, p_task_id number);

  -- READY and WAITING tasks become SKIPPED with p_reason.
  procedure skip_pending_locked(p_instance_id number, p_reason varchar2);

  -- Starts the workers the instance lacks (target - live, within the taskspace cap, at most one
  -- per task left to start). Holds taskspace + instance rows; jobs are created autonomously,
  -- their registry rows in the caller's transaction, which commits them.
  procedure spawn_missing_locked(p_instance_id number);

  -- Own transactions (they COMMIT):
  function advance(p_instance_id number) return varchar2;
  -- Locks instance + taskspace, reconciles, starts missing workers. With p_wait FALSE it gives
  -- up at once when another session holds either row (watchdogs, rebalancing).
  procedure ensure_workers(p_instance_id number, p_wait boolean);
  -- Lets instances of a capped taskspace that wait for room start their workers. Best effort:
  -- never raises (a failure is logged), never waits for a lock.
  procedure rebalance_taskspace(p_taskspace varchar2);
  -- The watchdog (rule 7) for status reads, surviving workers and the schema watchdog job:
  -- AUTONOMOUS, never waits for a lock, never raises. Reconciles, closes an instance that has no
  -- live worker left and nothing left to run, and restarts missing workers. With p_throttle
  -- TRUE it does nothing when the instance was healed less than c_watch_seconds ago (S-2: the
  -- idle workers of one instance heal it once per interval between them, not each every 2 s).
  procedure heal(p_instance_id number, p_throttle boolean default false);

  -- Seconds between two throttled heals of one instance.
  c_watch_seconds constant pls_integer := 5;

  -- S-1: the set-based watchdog. One query finds, among p_ids (a JSON array of instance ids;
  -- NULL = none), the instances that need a heal: a registered live worker that the scheduler
  -- no longer runs, a RUNNING task without a live worker, or (at most once per c_watch_seconds)
  -- no live worker at all or fewer live workers than the target; only those are healed. The
  -- cost of a call grows with the suspects, not with the instances asked for.
  procedure heal_suspects(p_ids clob);

  -- The body of the schema watchdog job OTASK_WATCHDOG (item 3): heal_suspects over every
  -- RUNNING/STOPPING instance, so an instance nobody watches (started from SQL*Plus, its
  -- Airflow waiter gone, every worker killed by a database restart) still progresses.
  procedure watch_schema;

  -- API operations, called by OTASK after validation. They COMMIT.
  procedure start_jobs(p_instance_id number, p_threads number);
  procedure set_threads(p_instance_id number, p_threads number);
  procedure stop(p_instance_id number, p_mode varchar2);
  procedure retry_failed(p_instance_id number, p_threads number);
end otask_engine;
/

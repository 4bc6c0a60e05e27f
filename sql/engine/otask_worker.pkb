create or replace package body otask_worker as

  e_no_such_bind exception;
  pragma exception_init(e_no_such_bind, -1006);    -- bind variable does not exist

  -- The interrupt of DBMS_SCHEDULER.STOP_JOB (force => FALSE; also DROP_JOB with force): the
  -- scheduler asks this job to end. It surfaces inside the running task as ORA-01013.
  c_interrupted constant pls_integer := -1013;

  c_owner constant varchar2(128) := $$plsql_unit_owner;

  -- Idle waits grow from c_idle_min to c_idle_max seconds while nothing is claimable, so an
  -- idle worker costs a few cheap index probes per second and a new group still starts fast.
  c_idle_min        constant number := 0.05;
  c_idle_max        constant number := 0.5;
  -- The watchdog duty (rule 7) of a surviving worker: how often it looks for dead colleagues.
  c_watch_busy_secs constant number := 10;
  c_watch_idle_secs constant number := 2;

  type t_task is record (
    task_id        otask_tasks.task_id%type,
    instance_id    otask_tasks.instance_id%type,
    definition_id  otask_tasks.definition_id%type,
    sql_text       otask_tasks.sql_text%type,
    attempts       otask_tasks.attempts%type,
    retries        otask_tasks.retries%type);

  -- ---------------------------------------------------------------------------------------
  -- Helpers
  -- ---------------------------------------------------------------------------------------

  function seconds_between(p_from timestamp with time zone, p_to timestamp with time zone) return number is
    l_interval interval day(9) to second(6) := p_to - p_from;
  begin
    return extract(day from l_interval) * 86400 + extract(hour from l_interval) * 3600
         + extract(minute from l_interval) * 60 + extract(second from l_interval);
  end seconds_between;

  procedure nap(p_seconds number) is
  begin
    dbms_session.sleep(greatest(least(p_seconds, c_idle_max), 0.01));
  end nap;

  procedure mark_exited(p_job_name varchar2, p_reason varchar2) is
  begin
    update otask_workers
       set state = 'EXITED', ended_at = systimestamp, exit_reason = substr(p_reason, 1, 4000)
     where job_name = p_job_name and state in ('STARTING', 'ACTIVE');
    commit;
  end mark_exited;

  -- ---------------------------------------------------------------------------------------
  -- Start: register in OTASK_WORKERS
  -- ---------------------------------------------------------------------------------------

  function register(p_instance_id number, p_job_name varchar2) return boolean is
    l_inst   otask_instances%rowtype;
    l_wstate otask_workers.state%type;
    l_live   pls_integer;
  begin
    -- Waits until the session that created this job commits (it holds the instance row), so
    -- the worker's registry row is visible, or gone if that session rolled back.
    begin
      l_inst := otask_engine.lock_instance(p_instance_id);
    exception
      when otask.e_unknown_instance then
        rollback;
        return false;
    end;
    begin
      select state into l_wstate from otask_workers where job_name = p_job_name for update;
    exception
      when no_data_found then
        rollback;
        otask_logger.info('worker job exits at once: its creator rolled back (no registry row)',
                          p_instance_id, null, p_job_name);
        return false;
    end;
    if l_wstate <> 'STARTING' then
      rollback;  -- LOST or STOPPED while it waited to start: the engine has moved on
      return false;
    end if;
    if l_inst.state <> 'RUNNING' then
      mark_exited(p_job_name, 'not needed: the instance is ' || l_inst.state);
      return false;
    end if;
    l_live := otask_engine.live_workers(p_instance_id);  -- includes this one
    if l_live > l_inst.target_threads then
      -- The target went down between this job's creation and its start (rule 5).
      mark_exited(p_job_name, 'not needed: ' || l_live || ' live workers for a target of '
        || l_inst.target_threads);
      return false;
    end if;
    update otask_workers
       set state = 'ACTIVE', started_at = systimestamp,
           session_id = to_number(sys_context('USERENV', 'SID')),
           db_instance = to_number(sys_context('USERENV', 'INSTANCE'))
     where job_name = p_job_name;
    commit;
    return true;
  end register;

  -- ---------------------------------------------------------------------------------------
  -- Claim (rule 1) and "am I still wanted" (rule 5)
  -- ---------------------------------------------------------------------------------------

  -- Locks and marks RUNNING the first claimable task, WITHOUT committing: the caller commits
  -- only after checking that this worker may start it, and rolls back otherwise (the task
  -- stays READY, untouched). Returns a record with task_id NULL when nothing is claimable.
  function claim(p_instance_id number, p_job_name varchar2) return t_task is
    -- One row is fetched and locked; rows other workers hold are skipped, not waited for.
    -- OTASK_TASKS_CLAIM_IX (instance_id, state, priority, task_id) returns them in order.
    cursor c_claim is
      select /*+ index_asc(t otask_tasks_claim_ix) */
             t.task_id, t.instance_id, t.definition_id, t.sql_text, t.attempts, t.retries
        from otask_tasks t
       where t.instance_id = p_instance_id
         and t.state = 'READY'
         and (t.not_before is null or t.not_before <= systimestamp)
       order by t.priority, t.task_id
         for update skip locked;
    l_task t_task;
  begin
    open c_claim;
    fetch c_claim into l_task;
    if c_claim%found then
      update otask_tasks
         set state = 'RUNNING', attempts = attempts + 1, worker_job = p_job_name,
             started_at = systimestamp, ended_at = null, not_before = null
       where current of c_claim;
      l_task.attempts := l_task.attempts + 1;
    else
      l_task.task_id := null;
    end if;
    close c_claim;
    return l_task;
  end claim;

  -- 'GO', 'OVER' (instance above target), 'OVER_CAP' (taskspace above cap) or 'EXIT'.
  function verdict(p_instance_id number, p_job_name varchar2, p_reason out varchar2) return varchar2 is
    l_state     otask_instances.state%type;
    l_target    otask_instances.target_threads%type;
    l_taskspace otask_instances.taskspace%type;
    l_cap       otask_taskspaces.max_threads%type;
    l_wstate    otask_workers.state%type;
    l_live      pls_integer;
  begin
    select i.state, i.target_threads, i.taskspace, s.max_threads
      into l_state, l_target, l_taskspace, l_cap
      from otask_instances i
      join otask_taskspaces s on s.taskspace = i.taskspace
     where i.instance_id = p_instance_id;
    if l_state <> 'RUNNING' then
      p_reason := 'the instance is ' || l_state;
      return 'EXIT';
    end if;
    select state into l_wstate from otask_workers where job_name = p_job_name;
    if l_wstate <> 'ACTIVE' then
      p_reason := 'the engine marked this worker ' || l_wstate;
      return 'EXIT';
    end if;
    -- Live = STARTING + ACTIVE in the register, which spawns and the watchdog keep in step
    -- with the scheduler (a STARTING worker is a job the scheduler has not started yet).
    l_live := otask_engine.live_workers(p_instance_id);
    if l_live > l_target then
      p_reason := l_live || ' live workers for a target of ' || l_target;
      return 'OVER';
    end if;
    if l_cap is not null then
      l_live := otask_engine.live_taskspace_workers(l_taskspace);
      if l_live > l_cap then
        p_reason := 'taskspace ' || l_taskspace || ' has ' || l_live || ' live workers for a cap of '
          || l_cap;
        return 'OVER_CAP';
      end if;
    end if;
    return 'GO';
  exception
    when no_data_found then
      p_reason := 'the instance or this worker''s register row no longer exists (purged)';
      return 'EXIT';
  end verdict;

  -- Serialized exit decision: re-counts under the instance row lock (target) or the taskspace
  -- row lock (cap), so of N workers above target exactly the surplus leaves, never more; a
  -- concurrent set_threads (same lock) either sees this worker gone or this worker sees the new
  -- target. TRUE when this worker left.
  function leave_if_over(p_instance_id number, p_job_name varchar2, p_cap boolean) return boolean is
    l_inst otask_instances%rowtype;
    l_ts   otask_taskspaces%rowtype;
    l_live pls_integer;
  begin
    if p_cap then
      select * into l_inst from otask_instances where instance_id = p_instance_id;
      l_ts := otask_engine.lock_taskspace(l_inst.taskspace);
      -- E-1: dead workers of other instances do not count against the cap.
      otask_jobs.mark_lost_in_taskspace(l_inst.taskspace);
      l_live := otask_engine.live_taskspace_workers(l_inst.taskspace);
      if l_ts.max_threads is not null and l_live > l_ts.max_threads then
        mark_exited(p_job_name, 'left: taskspace ' || l_inst.taskspace || ' had ' || l_live
          || ' live workers for a cap of ' || l_ts.max_threads);
        return true;
      end if;
    else
      l_inst := otask_engine.lock_instance(p_instance_id);
      l_live := otask_engine.live_workers(p_instance_id);
      if l_live > l_inst.target_threads then
        mark_exited(p_job_name, 'left: ' || l_live || ' live workers for a target of '
          || l_inst.target_threads);
        return true;
      end if;
    end if;
    commit;  -- still needed: release the lock and go on
    return false;
  end leave_if_over;

  -- ---------------------------------------------------------------------------------------
  -- Running one task (rule 2)
  -- ---------------------------------------------------------------------------------------

  -- Binds a value if the statement has that placeholder; ORA-01006 means it does not.
  procedure bind_if_present(p_cursor integer, p_name varchar2, p_value varchar2) is
  begin
    dbms_sql.bind_variable(p_cursor, ':' || p_name, p_value);
  exception
    when e_no_such_bind then
      null;
  end bind_if_present;

  procedure bind_number_if_present(p_cursor integer, p_name varchar2, p_value number) is
  begin
    dbms_sql.bind_variable(p_cursor, ':' || p_name, p_value);
  exception
    when e_no_such_bind then
      null;
  end bind_number_if_present;

  procedure bind_task(p_cursor integer, p_task t_task, p_has_output out boolean) is
    l_output varchar2(4000);
  begin
    p_has_output := false;
    for b in (select bind_no, bind_name, bind_value
                from otask_task_binds
               where task_id = p_task.task_id
               order by bind_no) loop
      -- Values are bound, never pasted into the SQL text (rule 10). Positional :p<n> exist for
      -- tasks generated from a definition's source query; named binds for every task.
      if p_task.definition_id is not null then
        bind_if_present(p_cursor, 'p' || b.bind_no, b.bind_value);
      end if;
      if b.bind_name is not null then
        bind_if_present(p_cursor, b.bind_name, b.bind_value);
      end if;
    end loop;
    if regexp_instr(p_task.sql_text, ':otask_', 1, 1, 0, 'i') > 0 then
      bind_number_if_present(p_cursor, 'otask_attempt', p_task.attempts);
      bind_number_if_present(p_cursor, 'otask_task_id', p_task.task_id);
      bind_number_if_present(p_cursor, 'otask_instance_id', p_task.instance_id);
      begin
        -- seed 000's :vvlog: an OUT bind the task may set; stored in OUTPUT_VALUE
        dbms_sql.bind_variable(p_cursor, ':otask_output', l_output, 4000);
        p_has_output := true;
      exception
        when e_no_such_bind then
          null;
      end;
    end if;
  end bind_task;

  -- Undo the task's own work after it failed. If the task committed (its own COMMIT, or DDL),
  -- the savepoint no longer exists (ORA-01086): then only what it did after its last commit
  -- can be, and is, rolled back.
  procedure undo_task_work is
  begin
    rollback to savepoint otask_task;
  exception
    when others then
      rollback;
  end undo_task_work;

  -- A task may ALTER SESSION SET CURRENT_SCHEMA; the next task must not inherit that.
  procedure restore_session is
  begin
    if sys_context('USERENV', 'CURRENT_SCHEMA') <> c_owner then
      execute immediate 'alter session set current_schema = '
        || dbms_assert.enquote_name(c_owner, false);
    end if;
  exception
    when others then
      otask_logger.warn('could not restore CURRENT_SCHEMA after a task: ' || sqlerrm);
  end restore_session;

  function record_success(p_task t_task, p_job_name varchar2, p_output varchar2) return varchar2 is
  begin
    -- Conditional on this very attempt: if the engine already ended it (hard stop, or this
    -- worker was declared lost), nothing is recorded twice.
    -- E-12: an earlier attempt that was orphaned (ORA-20150) may have partly run: that note
    -- stays on the task (rule 7's traceability), any other earlier error is cleared.
    update otask_tasks
       set state = 'SUCCEEDED', ended_at = systimestamp, output_value = p_output,
           error_code = case when error_code = otask.c_task_orphaned then error_code end,
           error_message = case when error_code = otask.c_task_orphaned
                                then substrb('succeeded on attempt ' || p_task.attempts
                                             || '; an earlier attempt may have partly run: '
                                             || error_message, 1, 4000) end,
           error_backtrace = null
     where task_id = p_task.task_id and state = 'RUNNING' and worker_job = p_job_name
       and attempts = p_task.attempts;
    if sql%rowcount = 0 then
      undo_task_work;
      commit;
      otask_logger.warn('result of task ' || p_task.task_id || ' attempt ' || p_task.attempts
        || ' discarded: the engine had already ended this attempt (hard stop, or this worker '
        || 'was declared lost); its uncommitted work was rolled back', p_task.instance_id,
        p_task.task_id, p_job_name);
      return 'DISCARDED';
    end if;
    -- The task's work and its SUCCEEDED state commit together.
    commit;
    return 'DONE';
  end record_success;

  function record_failure(
    p_task       t_task,
    p_job_name   varchar2,
    p_code       number,
    p_message    varchar2,
    p_backtrace  varchar2) return varchar2 is
    l_inst   otask_instances%rowtype;
    l_state  otask_tasks.state%type;
    l_prefix varchar2(200);
    l_suffix varchar2(10);
    l_code   number := p_code;
  begin
    -- Instance row first (the engine's lock order): a failure may change the instance (final
    -- failure, stop_on_error) and must not interleave with a stop or a close.
    l_inst := otask_engine.lock_instance(p_task.instance_id);
    if l_inst.state = 'STOPPING' and l_inst.stop_mode = 'HARD' then
      -- E-2: interrupted by the hard stop (ORA-01013 from DROP_JOB's interrupt, or any error
      -- while the stop is under way): recorded as ORA-20151 like the tasks phase 2 of the stop
      -- settles, whichever session gets there first. The original error stays in the message.
      l_state := 'STOPPED';
      l_code := otask.c_task_hard_stopped;
      l_prefix := 'ORA-20151: stopped by OTASK.STOP(p_mode => ''HARD'') (';
      l_suffix := ')';
    elsif l_inst.state = 'RUNNING' and p_task.attempts <= p_task.retries
          and not (l_inst.stop_on_error = 'Y' and l_inst.failure_seen = 'Y') then
      l_state := 'READY';  -- rule 8: retry within the budget, after the delay
    else
      l_state := 'FAILED';
    end if;
    update otask_tasks
       set state = l_state,
           ended_at = case when l_state = 'READY' then null else systimestamp end,
           not_before = case
                          when l_state = 'READY' and l_inst.retry_delay_seconds > 0
                          then systimestamp + numtodsinterval(l_inst.retry_delay_seconds, 'SECOND')
                        end,
           error_code = l_code,
           error_message = substrb(l_prefix || substrb(p_message, 1, 3900) || l_suffix, 1, 4000),
           error_backtrace = p_backtrace
     where task_id = p_task.task_id and state = 'RUNNING' and worker_job = p_job_name
       and attempts = p_task.attempts;
    if sql%rowcount = 0 then
      commit;
      return 'DISCARDED';
    end if;
    if l_state = 'FAILED' then
      otask_engine.final_failure_locked(p_task.instance_id, p_task.task_id);
    end if;
    commit;
    if l_state = 'READY' then
      otask_logger.warn('task ' || p_task.task_id || ' attempt ' || p_task.attempts || ' of '
        || (p_task.retries + 1) || ' failed, will retry' || case when l_inst.retry_delay_seconds > 0
        then ' in ' || l_inst.retry_delay_seconds || ' s' end || ': ' || substr(p_message, 1, 3000),
        p_task.instance_id, p_task.task_id, p_job_name, p_backtrace);
    elsif l_state = 'FAILED' then
      otask_logger.warn('task ' || p_task.task_id || ' FAILED after ' || p_task.attempts
        || ' attempt(s): ' || substr(p_message, 1, 3000), p_task.instance_id, p_task.task_id,
        p_job_name, p_backtrace);
    end if;
    return case l_state when 'STOPPED' then 'STOPPED' else 'DONE' end;
  end record_failure;

  -- Runs the claimed task (its RUNNING state is committed) and records the outcome.
  -- Returns 'DONE', 'STOPPED' (hard stop), 'DISCARDED' (the engine ended the attempt) or
  -- 'INTERRUPTED' (the scheduler was asked to stop this job: the attempt is recorded like any
  -- failed attempt, and the worker must leave instead of claiming the next task, or the
  -- STOP_JOB of a DBA or of uninstall would never take effect).
  function execute_task(p_task t_task, p_job_name varchar2) return varchar2 is
    l_cursor     integer;
    l_rows       integer;
    l_has_output boolean := false;
    l_output     varchar2(4000);
    l_code       number;
    l_message    varchar2(4000);
    l_backtrace  varchar2(4000);
    l_outcome    varchar2(12);
  begin
    dbms_application_info.set_action('task ' || p_task.task_id);
    savepoint otask_task;
    begin
      l_cursor := dbms_sql.open_cursor;
      -- DDL runs at parse time in DBMS_SQL; that is fine: RUNNING is committed already.
      dbms_sql.parse(l_cursor, p_task.sql_text, dbms_sql.native);
      bind_task(l_cursor, p_task, l_has_output);
      l_rows := dbms_sql.execute(l_cursor);
      if l_has_output then
        dbms_sql.variable_value(l_cursor, ':otask_output', l_output);
      end if;
      dbms_sql.close_cursor(l_cursor);
    exception
      when others then
        l_code := sqlcode;
        l_message := substr(dbms_utility.format_error_stack, 1, 4000);
        l_backtrace := substr(dbms_utility.format_error_backtrace, 1, 4000);
        if l_cursor is not null and dbms_sql.is_open(l_cursor) then
          dbms_sql.close_cursor(l_cursor);
        end if;
        undo_task_work;  -- rule 2: the task's own work goes before its failure is recorded
        restore_session;
        dbms_application_info.set_action('idle');
        l_outcome := record_failure(p_task, p_job_name, l_code, l_message, l_backtrace);
        if l_code = c_interrupted and l_outcome = 'DONE' then
          l_outcome := 'INTERRUPTED';
        end if;
        return l_outcome;
    end;
    restore_session;
    dbms_application_info.set_action('idle');
    return record_success(p_task, p_job_name, l_output);
  end execute_task;

  -- ---------------------------------------------------------------------------------------
  -- Nothing claimable
  -- ---------------------------------------------------------------------------------------

  -- FALSE when the instance is closed (the worker leaves), TRUE to go on claiming.
  function idle(p_instance_id number, p_sleep in out number) return boolean is
    l_ready   pls_integer;
    l_next    timestamp with time zone;
    l_running pls_integer;
    l_outcome varchar2(10);
  begin
    -- Lock-free looks first (index probes); only "nothing READY and nothing RUNNING" needs the
    -- instance lock, to open the next group or to close the instance exactly once.
    select count(*), min(not_before) into l_ready, l_next
      from otask_tasks
     where instance_id = p_instance_id and state = 'READY';
    if l_ready > 0 then
      -- READY tasks exist but were held by other claimers or wait for their retry delay.
      if l_next is not null and l_next > systimestamp then
        nap(seconds_between(systimestamp, l_next));
      else
        nap(c_idle_min);
      end if;
      return true;
    end if;
    select count(*) into l_running
      from otask_tasks
     where instance_id = p_instance_id and state = 'RUNNING' and rownum = 1;
    if l_running = 0 then
      l_outcome := otask_engine.advance(p_instance_id);
      if l_outcome = 'CLOSED' then
        return false;
      elsif l_outcome = 'OPENED' then
        p_sleep := c_idle_min;
        return true;
      end if;
    end if;
    -- The current group's last tasks run elsewhere: wait for the barrier, backing off.
    nap(p_sleep);
    p_sleep := least(p_sleep * 2, c_idle_max);
    return true;
  end idle;

  -- After leaving: close the instance if this was its last piece of work, and hand a freed
  -- taskspace slot to instances waiting for room. Never raises.
  procedure after_exit(p_instance_id number, p_job_name varchar2) is
    l_outcome   varchar2(10);
    l_taskspace otask_instances.taskspace%type;
    l_cap       otask_taskspaces.max_threads%type;
  begin
    l_outcome := otask_engine.advance(p_instance_id);
    select i.taskspace, s.max_threads into l_taskspace, l_cap
      from otask_instances i
      join otask_taskspaces s on s.taskspace = i.taskspace
     where i.instance_id = p_instance_id;
    if l_cap is not null then
      otask_engine.rebalance_taskspace(l_taskspace);
    end if;
  exception
    when no_data_found then
      rollback;
    when others then
      rollback;
      otask_logger.warn('worker clean-up after exit failed: ' || sqlerrm, p_instance_id, null, p_job_name);
  end after_exit;

  -- ---------------------------------------------------------------------------------------
  -- The worker
  -- ---------------------------------------------------------------------------------------

  procedure run(p_instance_id number, p_job_name varchar2) is
    l_task       t_task;
    l_verdict    varchar2(10);
    l_reason     varchar2(4000);
    l_outcome    varchar2(12);
    l_sleep      number := c_idle_min;
    l_last_watch timestamp with time zone := systimestamp;
    l_stop_mode  otask_instances.stop_mode%type;
    l_error      varchar2(4000);
  begin
    dbms_application_info.set_module('oracle-tasks ' || p_job_name, 'starting');
    if not register(p_instance_id, p_job_name) then
      return;
    end if;
    dbms_application_info.set_action('idle');
    <<work>>
    loop
      l_task := claim(p_instance_id, p_job_name);  -- uncommitted: the task row is locked
      l_verdict := verdict(p_instance_id, p_job_name, l_reason);
      if l_verdict <> 'GO' then
        rollback;  -- hands the claimed task back untouched (still READY)
        if l_verdict in ('OVER', 'OVER_CAP') then
          exit work when leave_if_over(p_instance_id, p_job_name, l_verdict = 'OVER_CAP');
          continue work;  -- another worker left first: this one is still needed
        end if;
        mark_exited(p_job_name, 'left: ' || l_reason);
        exit work;
      end if;

      if l_task.task_id is not null then
        commit;  -- RUNNING is durable before the task's own work starts (rule 2)
        l_outcome := execute_task(l_task, p_job_name);
        l_sleep := c_idle_min;
        if l_outcome in ('STOPPED', 'DISCARDED') then
          mark_exited(p_job_name, 'left: the engine ended task ' || l_task.task_id
            || ' under this worker (' || lower(l_outcome) || ')');
          exit work;
        elsif l_outcome = 'INTERRUPTED' then
          mark_exited(p_job_name, 'left: its scheduler job was asked to stop (ORA-01013) while it '
            || 'ran task ' || l_task.task_id || ', whose attempt is recorded as failed');
          exit work;
        end if;
      else
        commit;  -- ends the read-only transaction of the empty claim
        if not idle(p_instance_id, l_sleep) then
          mark_exited(p_job_name, 'left: the instance is closed');
          exit work;
        end if;
      end if;

      -- Rule 7 by surviving workers: look for dead colleagues and their orphaned tasks.
      if seconds_between(l_last_watch, systimestamp)
         >= case when l_task.task_id is null then c_watch_idle_secs else c_watch_busy_secs end then
        -- Throttled (S-2): the workers of one instance heal it once per interval between them.
        otask_engine.heal(p_instance_id, p_throttle => true);
        l_last_watch := systimestamp;
      end if;
    end loop;
    after_exit(p_instance_id, p_job_name);
    dbms_application_info.set_module(null, null);
  exception
    when others then
      l_error := substr(dbms_utility.format_error_stack || dbms_utility.format_error_backtrace, 1, 4000);
      begin
        rollback;
        select stop_mode into l_stop_mode from otask_instances where instance_id = p_instance_id;
        mark_exited(p_job_name, 'ended by an error: ' || l_error);
        if l_stop_mode = 'HARD' then
          otask_logger.info('worker interrupted by the hard stop', p_instance_id, null, p_job_name);
        else
          otask_logger.error('worker ended by an unexpected error; its running task, if any, is '
            || 'settled as an orphan', p_instance_id, null, p_job_name, l_error);
          -- The task this worker was running (if any) is now an orphan: settle it now.
          otask_engine.heal(p_instance_id);
        end if;
      exception
        when others then
          rollback;
      end;
      raise;  -- the scheduler's job log (USER_SCHEDULER_JOB_RUN_DETAILS) shows the failure too
  end run;
end otask_worker;
/

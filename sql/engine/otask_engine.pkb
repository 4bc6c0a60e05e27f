create or replace package body otask_engine as

  -- ---------------------------------------------------------------------------------------
  -- Row locks and counts
  -- ---------------------------------------------------------------------------------------

  procedure unknown_instance(p_instance_id number) is
  begin
    raise_application_error(otask.c_unknown_instance, 'OTASK instance '
      || nvl(to_char(p_instance_id), 'NULL') || ' does not exist (never created, not committed '
      || 'yet, or purged): pass an INSTANCE_ID from OTASK_INSTANCES_V.');
  end unknown_instance;

  function lock_instance(p_instance_id number) return otask_instances%rowtype is
    l_row otask_instances%rowtype;
  begin
    select * into l_row from otask_instances where instance_id = p_instance_id for update;
    return l_row;
  exception
    when no_data_found then
      unknown_instance(p_instance_id);  -- raises
      raise;
  end lock_instance;

  -- Like lock_instance, but returns FALSE instead of waiting when another session holds it.
  function try_lock_instance(p_instance_id number, p_row out otask_instances%rowtype) return boolean is
    cursor c_instance is
      select * from otask_instances where instance_id = p_instance_id for update skip locked;
    l_found boolean;
  begin
    open c_instance;
    fetch c_instance into p_row;
    l_found := c_instance%found;
    close c_instance;  -- the lock stays until commit/rollback
    return l_found;
  end try_lock_instance;

  function lock_taskspace(p_taskspace varchar2) return otask_taskspaces%rowtype is
    l_row otask_taskspaces%rowtype;
  begin
    select * into l_row from otask_taskspaces where taskspace = p_taskspace for update;
    return l_row;
  end lock_taskspace;

  function try_lock_taskspace(p_taskspace varchar2, p_row out otask_taskspaces%rowtype) return boolean is
    cursor c_taskspace is
      select * from otask_taskspaces where taskspace = p_taskspace for update skip locked;
    l_found boolean;
  begin
    open c_taskspace;
    fetch c_taskspace into p_row;
    l_found := c_taskspace%found;
    close c_taskspace;
    return l_found;
  end try_lock_taskspace;

  function live_workers(p_instance_id number) return pls_integer is
    l_count pls_integer;
  begin
    select count(*) into l_count
      from otask_workers
     where instance_id = p_instance_id and state in ('STARTING', 'ACTIVE');
    return l_count;
  end live_workers;

  function live_taskspace_workers(p_taskspace varchar2) return pls_integer is
    l_count pls_integer;
  begin
    select count(*) into l_count
      from otask_workers
     where taskspace = p_taskspace and state in ('STARTING', 'ACTIVE');
    return l_count;
  end live_taskspace_workers;

  function task_exists(p_instance_id number, p_state varchar2) return boolean is
    l_count pls_integer;
  begin
    select count(*) into l_count
      from otask_tasks
     where instance_id = p_instance_id and state = p_state and rownum = 1;
    return l_count > 0;
  end task_exists;

  -- READY + WAITING tasks, counted up to p_limit only (S-8: an instance of 10^6 tasks must
  -- not be counted in full on every spawn check).
  function pending_tasks(p_instance_id number, p_limit pls_integer) return pls_integer is
    l_count pls_integer;
  begin
    select count(*) into l_count
      from otask_tasks
     where instance_id = p_instance_id and state in ('READY', 'WAITING') and rownum <= p_limit;
    return l_count;
  end pending_tasks;

  function retry_time(p_delay_seconds number) return timestamp with time zone is
  begin
    if nvl(p_delay_seconds, 0) <= 0 then
      return null;
    end if;
    return systimestamp + numtodsinterval(p_delay_seconds, 'SECOND');
  end retry_time;

  -- ---------------------------------------------------------------------------------------
  -- State machine pieces (instance row locked by the caller)
  -- ---------------------------------------------------------------------------------------

  procedure skip_pending_locked(p_instance_id number, p_reason varchar2) is
  begin
    -- A READY row that a worker is claiming right now is locked by it: this update waits the
    -- few statements until the claim commits, then sees the row RUNNING and leaves it alone
    -- (the claim happened before this decision).
    -- E-8: a READY task that already failed and waits for its retry delay (attempts > 0) ran
    -- and failed: it becomes FAILED and keeps its last error, instead of SKIPPED ("never
    -- started") with its error overwritten.
    update otask_tasks
       set state = 'FAILED', ended_at = systimestamp, not_before = null,
           error_message = substr(error_message || ' [not retried: ' || p_reason || ']', 1, 4000)
     where instance_id = p_instance_id and state = 'READY' and attempts > 0;
    update otask_tasks
       set state = 'SKIPPED', ended_at = systimestamp, not_before = null,
           error_message = substr(p_reason, 1, 4000)
     where instance_id = p_instance_id and state in ('READY', 'WAITING');
  end skip_pending_locked;

  procedure final_failure_locked(p_instance_id number, p_task_id number) is
    l_soe otask_instances.stop_on_error%type;
  begin
    update otask_instances
       set failure_seen = 'Y', first_failed_task_id = nvl(first_failed_task_id, p_task_id)
     where instance_id = p_instance_id
    returning stop_on_error into l_soe;
    -- Rule 9, 'Y': after the first final failure nothing new starts. ('N' is handled when the
    -- group ends: see advance_locked.)
    if l_soe = 'Y' then
      skip_pending_locked(p_instance_id, 'not started: task ' || p_task_id
        || ' failed and the instance has stop_on_error = Y');
    end if;
  end final_failure_locked;

  procedure close_locked(p_instance_id number) is
    l_state     otask_instances.state%type;
    l_final     otask_instances.state%type;
    l_total     pls_integer;
    l_succeeded pls_integer;
    l_failed    pls_integer;
    l_skipped   pls_integer;
    l_stopped   pls_integer;
    l_lost      otask_jobs.t_names;
  begin
    select state into l_state from otask_instances where instance_id = p_instance_id;
    if l_state not in ('CREATED', 'RUNNING', 'STOPPING') then
      return;  -- closed already: a close happens exactly once
    end if;
    select count(*),
           count(case when state = 'SUCCEEDED' then 1 end),
           count(case when state = 'FAILED' then 1 end),
           count(case when state = 'SKIPPED' then 1 end),
           count(case when state = 'STOPPED' then 1 end)
      into l_total, l_succeeded, l_failed, l_skipped, l_stopped
      from otask_tasks
     where instance_id = p_instance_id;
    l_final := case
                 when l_state = 'STOPPING' then 'STOPPED'
                 when l_failed > 0 then 'FAILED'
                 else 'SUCCEEDED'
               end;
    update otask_instances
       set state = l_final, ended_at = systimestamp, close_count = close_count + 1,
           closed_total = l_total, closed_succeeded = l_succeeded, closed_failed = l_failed,
           closed_skipped = l_skipped, closed_stopped = l_stopped
     where instance_id = p_instance_id;
    -- E-1: a closed instance keeps no live worker rows. Dead ones become LOST (a worker killed
    -- while idle, a STARTING job a DBA dropped), the remaining ones (idle workers that leave on
    -- their next look) EXITED: otherwise they would fill the taskspace cap and show as live
    -- workers of a finished instance until purge.
    l_lost := otask_jobs.mark_lost(p_instance_id);
    update otask_workers
       set state = 'EXITED', ended_at = systimestamp,
           exit_reason = 'the instance closed ' || l_final || ' while this worker was idle'
     where instance_id = p_instance_id and state in ('STARTING', 'ACTIVE');
    -- Rule 11: the event is enqueued in this same transaction (visibility ON_COMMIT).
    otask_notify.instance_closed(p_instance_id);
    otask_logger.info('instance closed ' || l_final || ': ' || l_total || ' tasks, ' || l_succeeded
      || ' succeeded, ' || l_failed || ' failed, ' || l_skipped || ' skipped, ' || l_stopped
      || ' stopped', p_instance_id);
  end close_locked;

  function advance_locked(p_instance_id number) return varchar2 is
    l_inst  otask_instances%rowtype;
    l_group otask_tasks.group_no%type;
    l_count pls_integer;
  begin
    select * into l_inst from otask_instances where instance_id = p_instance_id;
    if l_inst.state not in ('RUNNING', 'STOPPING') then
      return 'CLOSED';
    end if;
    -- Under the instance lock no task can become READY behind our back (only locked paths
    -- create READY tasks), so "nothing READY and nothing RUNNING" is stable here.
    if task_exists(p_instance_id, 'RUNNING') or task_exists(p_instance_id, 'READY') then
      return 'WAIT';
    end if;
    if l_inst.state = 'STOPPING' then
      skip_pending_locked(p_instance_id, 'not started: the instance was stopped ('
        || l_inst.stop_mode || ')');
    elsif task_exists(p_instance_id, 'WAITING') then
      if l_inst.failure_seen = 'Y' then
        -- Rule 9, 'N': the group of the failure ran to its end; later groups never start.
        skip_pending_locked(p_instance_id, 'not started: task ' || l_inst.first_failed_task_id
          || ' failed in group ' || l_inst.current_group
          || ', so later groups are skipped (stop_on_error = ' || l_inst.stop_on_error || ')');
      elsif l_inst.target_threads = 0 then
        return 'WAIT';  -- paused (rule 5): later groups are not opened at 0 threads
      else
        select min(group_no) into l_group
          from otask_tasks
         where instance_id = p_instance_id and state = 'WAITING';
        update otask_tasks
           set state = 'READY'
         where instance_id = p_instance_id and state = 'WAITING' and group_no = l_group;
        l_count := sql%rowcount;
        update otask_instances set current_group = l_group where instance_id = p_instance_id;
        otask_logger.info('group ' || l_group || ' opened: ' || l_count || ' tasks READY', p_instance_id);
        return 'OPENED';
      end if;
    end if;
    close_locked(p_instance_id);
    return 'CLOSED';
  end advance_locked;

  procedure settle_orphan_locked(
    p_inst        otask_instances%rowtype,
    p_task_id     number,
    p_attempts    number,
    p_retries     number,
    p_worker_job  varchar2) is
    cursor c_task is
      select task_id
        from otask_tasks
       where task_id = p_task_id and state = 'RUNNING' and worker_job = p_worker_job
         and attempts = p_attempts
         for update skip locked;
    l_state      otask_tasks.state%type;
    l_message    varchar2(4000);
    l_not_before timestamp with time zone;
    l_task_id    otask_tasks.task_id%type;
    l_found      boolean;
  begin
    l_message := 'attempt ' || p_attempts || ' of ' || (p_retries + 1) || ' was RUNNING on worker job '
      || p_worker_job || ', which stopped running (session killed, job stopped, or database '
      || 'restart): the attempt may have partly run';
    if p_inst.state = 'STOPPING' and p_inst.stop_mode = 'HARD' then
      -- E-5: the hard stop ended this worker (or it died during the stop): the task is
      -- recorded as hard-stopped, ORA-20151, whichever session settles it.
      l_state := 'STOPPED';
    elsif p_inst.state = 'RUNNING' and p_attempts <= p_retries
          and not (p_inst.stop_on_error = 'Y' and p_inst.failure_seen = 'Y') then
      l_state := 'READY';
      l_not_before := retry_time(p_inst.retry_delay_seconds);
      l_message := l_message || '; it runs again within its retry budget';
    else
      l_state := 'FAILED';
      l_message := l_message || '; its outcome is unknown and it is not run again ('
        || case
             when p_attempts > p_retries then 'no retry budget left'
             when p_inst.state <> 'RUNNING' then 'the instance is ' || p_inst.state
             else 'an earlier task failed and stop_on_error = Y'
           end || ')';
    end if;
    -- E-6: never wait for the row lock of a dead session's transaction (it died inside
    -- record_success; PMON rolls it back): skip the row now, a later heal settles it.
    open c_task;
    fetch c_task into l_task_id;
    l_found := c_task%found;
    close c_task;
    if not l_found then
      return;
    end if;
    update otask_tasks
       set state = l_state,
           ended_at = case when l_state = 'READY' then null else systimestamp end,
           not_before = l_not_before,
           error_code = case when l_state = 'STOPPED' then otask.c_task_hard_stopped
                             else otask.c_task_orphaned end,
           error_message = substr(case when l_state = 'STOPPED'
                                       then 'ORA-20151: stopped by OTASK.STOP(p_mode => ''HARD''): '
                                       else 'ORA-20150: ' end || l_message, 1, 4000),
           error_backtrace = null
     where task_id = p_task_id and state = 'RUNNING' and worker_job = p_worker_job
       and attempts = p_attempts;
    if sql%rowcount = 1 then
      otask_logger.warn('orphaned task ' || p_task_id || ' -> ' || l_state || ': ' || l_message,
                        p_inst.instance_id, p_task_id, p_worker_job);
      if l_state = 'FAILED' then
        final_failure_locked(p_inst.instance_id, p_task_id);
      end if;
    end if;
  end settle_orphan_locked;

  procedure reconcile_locked(p_instance_id number) is
    l_lost otask_jobs.t_names;
    l_inst otask_instances%rowtype;
  begin
    l_lost := otask_jobs.mark_lost(p_instance_id);
    select * into l_inst from otask_instances where instance_id = p_instance_id;
    -- A RUNNING task whose worker is no longer live is an orphan, whatever made it so (lost
    -- just now, or an earlier worker that failed before settling its task).
    for r in (select t.task_id, t.attempts, t.retries, t.worker_job
                from otask_tasks t
               where t.instance_id = p_instance_id
                 and t.state = 'RUNNING'
                 and not exists (select null
                                   from otask_workers w
                                  where w.job_name = t.worker_job
                                    and w.state in ('STARTING', 'ACTIVE'))
               order by t.task_id) loop
      -- re-read: an earlier orphan of this loop may have set failure_seen
      select * into l_inst from otask_instances where instance_id = p_instance_id;
      settle_orphan_locked(l_inst, r.task_id, r.attempts, r.retries, r.worker_job);
    end loop;
  end reconcile_locked;

  procedure spawn_missing_locked(p_instance_id number) is
    l_inst    otask_instances%rowtype;
    l_ts      otask_taskspaces%rowtype;
    l_need    pls_integer;
    l_job     varchar2(128);
    l_created otask_jobs.t_names := otask_jobs.t_names();
  begin
    select * into l_inst from otask_instances where instance_id = p_instance_id;
    if l_inst.state <> 'RUNNING' or l_inst.target_threads = 0 then
      return;
    end if;
    select * into l_ts from otask_taskspaces where taskspace = l_inst.taskspace;
    -- Rule 5: STARTING workers (created, not yet running: the scheduler's start delay) count
    -- as live, so a repeated call never starts more than the target.
    l_need := l_inst.target_threads - live_workers(p_instance_id);
    if l_need <= 0 then
      return;  -- S-8: nothing to start, nothing to count
    end if;
    l_need := least(l_need, pending_tasks(p_instance_id, l_need));
    if l_need > 0 and l_ts.max_threads is not null then
      -- E-1: dead workers of other instances of the taskspace (unwatched after a restart, or
      -- left by a closed instance) must not hold cap slots. The caller holds the taskspace row.
      otask_jobs.mark_lost_in_taskspace(l_inst.taskspace);
      l_need := least(l_need, l_ts.max_threads - live_taskspace_workers(l_inst.taskspace));
    end if;
    if l_need <= 0 then
      return;
    end if;
    for i in 1 .. l_need loop
      l_job := otask_jobs.new_job_name(p_instance_id);
      -- Registry row first, in the caller's transaction: the new job blocks on the instance
      -- row (which we hold) until this transaction commits and its row becomes visible; if the
      -- caller rolls back instead, the job finds no row and exits without doing anything.
      insert into otask_workers (job_name, instance_id, taskspace, state)
      values (l_job, p_instance_id, l_inst.taskspace, 'STARTING');
      otask_jobs.create_worker(l_job, p_instance_id, l_ts.job_class);
      l_created.extend;
      l_created(l_created.count) := l_job;
    end loop;
    otask_logger.info('started ' || l_need || ' worker(s) for target ' || l_inst.target_threads,
                      p_instance_id);
  exception
    when others then
      -- The caller rolls back; jobs already created must not outlive that.
      for i in 1 .. l_created.count loop
        otask_jobs.stop_worker(l_created(i), p_instance_id);
      end loop;
      raise;
  end spawn_missing_locked;

  -- ---------------------------------------------------------------------------------------
  -- Own transactions
  -- ---------------------------------------------------------------------------------------

  function advance(p_instance_id number) return varchar2 is
    l_inst    otask_instances%rowtype;
    l_outcome varchar2(10);
  begin
    begin
      l_inst := lock_instance(p_instance_id);
    exception
      when otask.e_unknown_instance then
        rollback;
        return 'CLOSED';  -- purged under a worker: nothing left to do
    end;
    l_outcome := advance_locked(p_instance_id);
    commit;
    return l_outcome;
  end advance;

  procedure ensure_workers(p_instance_id number, p_wait boolean) is
    l_ts   otask_taskspaces%rowtype;
    l_inst otask_instances%rowtype;
  begin
    if p_wait then
      l_inst := lock_instance(p_instance_id);
      l_ts := lock_taskspace(l_inst.taskspace);
    elsif not try_lock_instance(p_instance_id, l_inst) then
      return;
    elsif not try_lock_taskspace(l_inst.taskspace, l_ts) then
      commit;  -- releases the instance row; nothing was changed
      return;
    end if;
    if l_inst.state = 'RUNNING' then
      reconcile_locked(p_instance_id);
      spawn_missing_locked(p_instance_id);
    end if;
    commit;
  end ensure_workers;

  procedure rebalance_taskspace(p_taskspace varchar2) is
  begin
    for r in (select i.instance_id
                from otask_instances i
               where i.taskspace = p_taskspace
                 and i.state = 'RUNNING'
                 and i.target_threads > 0
               order by i.instance_id) loop
      -- Never waits: a busy instance is being changed by its holder (who starts its workers
      -- itself), and waiting here could deadlock with a caller holding that instance row.
      -- Best effort, one instance at a time: its callers (set_taskspace, a worker leaving) have
      -- committed their own work already, so a failure here (e.g. CREATE JOB revoked) must
      -- neither reach them nor leave this instance's row locks held in their session.
      begin
        savepoint otask_rebalance;
        ensure_workers(r.instance_id, p_wait => false);
      exception
        when others then
          begin
            rollback to savepoint otask_rebalance;
          exception
            when others then
              rollback;
          end;
          otask_logger.error('could not start the workers of instance ' || r.instance_id
            || ' that waited for room in taskspace ' || p_taskspace || ': ' || sqlerrm,
            r.instance_id, null, null,
            dbms_utility.format_error_stack || dbms_utility.format_error_backtrace);
      end;
    end loop;
  end rebalance_taskspace;

  -- S-11: a watchdog that fails (CREATE JOB revoked, a job class dropped) would otherwise log
  -- an ERROR row on every status poll and every worker look; once per instance per 10 minutes.
  procedure log_heal_failure(p_instance_id number, p_error varchar2, p_detail varchar2) is
    l_recent pls_integer;
  begin
    select count(*) into l_recent
      from otask_log
     where instance_id = p_instance_id
       and log_level = 'ERROR'
       and message like 'watchdog of instance %'
       and logged_at > systimestamp - interval '10' minute
       and rownum = 1;
    if l_recent = 0 then
      otask_logger.error('watchdog of instance ' || p_instance_id || ' failed: ' || p_error
        || ' (repeats of this failure are logged at most every 10 minutes)',
        p_instance_id, null, null, p_detail);
    end if;
  end log_heal_failure;

  procedure heal(p_instance_id number, p_throttle boolean default false) is
    pragma autonomous_transaction;
    l_inst    otask_instances%rowtype;
    l_ts      otask_taskspaces%rowtype;
    l_outcome varchar2(10);
    l_error   varchar2(4000);
    l_detail  varchar2(4000);
    l_recent  pls_integer;
  begin
    if p_throttle then
      -- S-2: a lock-free look first; healed by anybody within the interval: nothing to do.
      select count(*) into l_recent
        from otask_instances
       where instance_id = p_instance_id
         and last_watch_at > systimestamp - numtodsinterval(c_watch_seconds, 'SECOND');
      if l_recent > 0 then
        return;
      end if;
    end if;
    -- Never make a status read wait: whoever holds the row is changing the instance already.
    if not try_lock_instance(p_instance_id, l_inst) then
      rollback;
      return;
    end if;
    if l_inst.state not in ('RUNNING', 'STOPPING') then
      rollback;
      return;
    end if;
    update otask_instances set last_watch_at = systimestamp where instance_id = p_instance_id;
    reconcile_locked(p_instance_id);
    -- With no live worker left, nobody else would ever close or advance this instance.
    if live_workers(p_instance_id) = 0 then
      l_outcome := advance_locked(p_instance_id);
    end if;
    -- Restart missing workers under the same instance lock: one look at the scheduler views
    -- per call, and the instance row is held only once. The taskspace row (lock order:
    -- instance, then taskspace) is only try-locked, so a status read never waits for it.
    if l_inst.state = 'RUNNING' and (l_outcome is null or l_outcome <> 'CLOSED')
       and try_lock_taskspace(l_inst.taskspace, l_ts) then
      spawn_missing_locked(p_instance_id);
    end if;
    commit;
  exception
    when others then
      l_error := substr(sqlerrm, 1, 2000);
      l_detail := substr(dbms_utility.format_error_stack || dbms_utility.format_error_backtrace,
                         1, 4000);
      rollback;
      log_heal_failure(p_instance_id, l_error, l_detail);
  end heal;

  -- p_all 'Y': every RUNNING/STOPPING instance of the schema (the schema watchdog job); else
  -- those listed in p_ids (a JSON array, read in the query itself: no collection size limit).
  procedure find_and_heal(p_ids clob, p_all varchar2) is
    type t_ids is table of number;
    l_suspect t_ids;
  begin
    -- One statement for all the instances asked for (lock-free reads). The scheduler views
    -- are probed only for workers registered live; the rest are index looks.
    select i.instance_id
      bulk collect into l_suspect
      from otask_instances i
     where i.state in ('RUNNING', 'STOPPING')
       and (p_all = 'Y'
            or i.instance_id in (select j.id
                                   from json_table(p_ids, '$[*]' columns (id number path '$')) j))
       and (
             -- a worker registered live that the scheduler no longer runs nor holds (rule 7)
             exists (select null
                       from otask_workers w
                      where w.instance_id = i.instance_id
                        and w.state in ('STARTING', 'ACTIVE')
                        and not exists (select null
                                          from user_scheduler_running_jobs r
                                         where r.job_name = w.job_name)
                        and not exists (select null
                                          from user_scheduler_jobs j
                                         where j.job_name = w.job_name
                                           and j.state not in ('COMPLETED', 'SUCCEEDED', 'FAILED',
                                                               'BROKEN', 'STOPPED', 'DISABLED')))
             -- a RUNNING task whose worker is no longer live (an orphan left to settle)
          or exists (select null
                       from otask_tasks t
                      where t.instance_id = i.instance_id
                        and t.state = 'RUNNING'
                        and not exists (select null
                                          from otask_workers w
                                         where w.job_name = t.worker_job
                                           and w.state in ('STARTING', 'ACTIVE')))
             -- at most once per interval (these can stay true for a while):
          or ((i.last_watch_at is null
               or i.last_watch_at < systimestamp - numtodsinterval(c_watch_seconds, 'SECOND'))
              and (
                    -- nobody left who would advance or close it (a paused instance with no
                    -- worker just waits for set_threads)
                    (not exists (select null
                                   from otask_workers w
                                  where w.instance_id = i.instance_id
                                    and w.state in ('STARTING', 'ACTIVE'))
                     and not (i.state = 'RUNNING' and i.target_threads = 0))
                    -- fewer live workers than it could use (target, bounded by the tasks left),
                    -- and room for them in its taskspace
                 or (i.state = 'RUNNING'
                     and (select count(*)
                            from otask_workers w
                           where w.instance_id = i.instance_id
                             and w.state in ('STARTING', 'ACTIVE'))
                         < least(i.target_threads,
                                 (select count(*)
                                    from otask_tasks t
                                   where t.instance_id = i.instance_id
                                     and t.state in ('READY', 'WAITING')
                                     and rownum <= i.target_threads))
                     and exists (select null
                                   from otask_taskspaces s
                                  where s.taskspace = i.taskspace
                                    and (s.max_threads is null
                                         or s.max_threads > (select count(*)
                                                               from otask_workers w
                                                              where w.taskspace = s.taskspace
                                                                and w.state in ('STARTING', 'ACTIVE')))))
                  ))
           );
    for k in 1 .. l_suspect.count loop
      heal(l_suspect(k));  -- autonomous; never raises, never waits
    end loop;
  end find_and_heal;

  procedure heal_suspects(p_ids clob) is
  begin
    if p_ids is not null then
      find_and_heal(p_ids, 'N');
    end if;
  end heal_suspects;

  procedure watch_schema is
  begin
    find_and_heal(null, 'Y');
  end watch_schema;

  -- ---------------------------------------------------------------------------------------
  -- API operations
  -- ---------------------------------------------------------------------------------------

  procedure invalid_state(p_api varchar2, p_instance_id number, p_state varchar2, p_fix varchar2) is
  begin
    raise_application_error(otask.c_invalid_state, 'OTASK.' || p_api || ': instance '
      || p_instance_id || ' is ' || p_state || '; ' || p_fix);
  end invalid_state;

  procedure start_jobs(p_instance_id number, p_threads number) is
    l_ts     otask_taskspaces%rowtype;
    l_inst   otask_instances%rowtype;
    l_target pls_integer;
    l_group  otask_tasks.group_no%type;
    l_ready  pls_integer;
  begin
    l_inst := lock_instance(p_instance_id);
    l_ts := lock_taskspace(l_inst.taskspace);
    if l_inst.state = 'CREATED' then
      -- Without p_threads: a target set by set_threads while CREATED (requested_threads is then
      -- set), else the taskspace default.
      l_target := nvl(p_threads, case when l_inst.requested_threads is not null
                                      then l_inst.target_threads
                                      else l_ts.default_threads end);
      select min(group_no) into l_group
        from otask_tasks
       where instance_id = p_instance_id and state = 'WAITING';
      -- (requested_threads 0 only marks "set_threads(0) while CREATED", E-10: not kept.)
      update otask_instances
         set state = 'RUNNING', started_at = systimestamp, target_threads = l_target,
             requested_threads = case when l_target > 0 then l_target
                                      else nullif(requested_threads, 0) end,
             current_group = l_group
       where instance_id = p_instance_id;
      if l_group is null then
        otask_logger.info('started without tasks: closes at once', p_instance_id);
        close_locked(p_instance_id);
        commit;
        return;
      end if;
      update otask_tasks
         set state = 'READY'
       where instance_id = p_instance_id and state = 'WAITING' and group_no = l_group;
      l_ready := sql%rowcount;
      otask_logger.info('started: target ' || l_target || ' threads, group ' || l_group || ' opened ('
        || l_ready || ' tasks READY)', p_instance_id);
    elsif l_inst.state = 'RUNNING' then
      if p_threads is not null and p_threads <> l_inst.target_threads then
        update otask_instances
           set target_threads = p_threads,
               requested_threads = case when p_threads > 0 then p_threads else requested_threads end
         where instance_id = p_instance_id;
        otask_logger.info('start_jobs on a running instance: target ' || l_inst.target_threads
          || ' -> ' || p_threads, p_instance_id);
      end if;
      reconcile_locked(p_instance_id);
    else
      invalid_state('START_JOBS', p_instance_id, l_inst.state, 'only a CREATED or RUNNING instance '
        || 'can be started. Use OTASK.RETRY_FAILED to run its failed tasks again, or create a new '
        || 'instance (with a new run key).');
    end if;
    spawn_missing_locked(p_instance_id);
    commit;
  end start_jobs;

  procedure set_threads(p_instance_id number, p_threads number) is
    l_ts   otask_taskspaces%rowtype;
    l_inst otask_instances%rowtype;
  begin
    l_inst := lock_instance(p_instance_id);
    l_ts := lock_taskspace(l_inst.taskspace);
    if l_inst.state not in ('CREATED', 'RUNNING') then
      invalid_state('SET_THREADS', p_instance_id, l_inst.state, 'threads can change only while '
        || 'it is CREATED or RUNNING.'
        || case when l_inst.state = 'STOPPING' then ' It is being stopped.'
                else ' Use OTASK.RETRY_FAILED(p_threads => n) to run failed tasks again.' end);
    end if;
    -- E-10: on a CREATED instance even 0 is recorded (requested_threads = 0), so a pause set
    -- before the start is kept by start_jobs without p_threads.
    update otask_instances
       set target_threads = p_threads,
           requested_threads = case when p_threads > 0 or l_inst.state = 'CREATED' then p_threads
                                    else requested_threads end
     where instance_id = p_instance_id;
    otask_logger.info('threads ' || l_inst.target_threads || ' -> ' || p_threads, p_instance_id);
    if l_inst.state = 'RUNNING' then
      reconcile_locked(p_instance_id);
      -- Raising: the missing workers start now. Lowering: workers leave after their current
      -- task (OTASK_WORKER counts live workers against the target before each claim).
      spawn_missing_locked(p_instance_id);
    end if;
    commit;
  end set_threads;

  procedure stop_created_locked(p_instance_id number, p_mode varchar2) is
  begin
    update otask_instances set state = 'STOPPING', stop_mode = p_mode where instance_id = p_instance_id;
    skip_pending_locked(p_instance_id, 'not started: the instance was stopped (' || p_mode
      || ') before it started');
    close_locked(p_instance_id);
  end stop_created_locked;

  procedure stop(p_instance_id number, p_mode varchar2) is
    l_inst    otask_instances%rowtype;
    l_stopped otask_jobs.t_names := otask_jobs.t_names();
  begin
    l_inst := lock_instance(p_instance_id);
    if l_inst.state in ('SUCCEEDED', 'FAILED', 'STOPPED')
       or (l_inst.state = 'STOPPING' and p_mode = 'SOFT') then
      commit;  -- finished or already stopping: stop is idempotent (Airflow on_kill)
      return;
    end if;
    if l_inst.state = 'CREATED' then
      stop_created_locked(p_instance_id, p_mode);
      commit;
      return;
    end if;

    if l_inst.state = 'STOPPING' and l_inst.stop_mode = 'HARD' then
      -- HARD again while a hard stop is under way: the earlier call may have died between its
      -- two phases (session lost while it stopped the jobs), leaving workers that run on.
      -- Run the second phase again: it only touches what is still live.
      otask_logger.info('stop HARD repeated: stopping the workers that are still live', p_instance_id);
    else
      -- RUNNING, or STOPPING (SOFT) escalated to HARD.
      update otask_instances
         set state = 'STOPPING', stop_mode = p_mode, target_threads = 0
       where instance_id = p_instance_id;
      skip_pending_locked(p_instance_id, 'not started: the instance was stopped (' || p_mode || ')');
      otask_logger.info('stop ' || p_mode || ' requested', p_instance_id);
      if p_mode = 'SOFT' then
        -- Running tasks finish; the last worker to leave closes the instance as STOPPED.
        reconcile_locked(p_instance_id);
        if not task_exists(p_instance_id, 'RUNNING') then
          close_locked(p_instance_id);
        end if;
        commit;
        return;
      end if;
    end if;

    -- HARD. Commit STOPPING first: from now on no worker starts a task, and a worker whose
    -- task is interrupted records it as STOPPED instead of retrying it. Nothing is locked while
    -- the jobs are stopped (an interrupted worker needs the instance row to record its task).
    commit;
    -- Rule 6: stop THIS instance's workers, by their exact registered names.
    for w in (select job_name
                from otask_workers
               where instance_id = p_instance_id and state in ('STARTING', 'ACTIVE')
               order by job_name) loop
      otask_jobs.stop_worker(w.job_name, p_instance_id);
      l_stopped.extend;
      l_stopped(l_stopped.count) := w.job_name;
    end loop;
    l_inst := lock_instance(p_instance_id);
    -- The jobs stopped above are no live workers any more, even when a leaving worker closed
    -- the instance meanwhile (a register row left ACTIVE would count as a live worker forever).
    -- Only these names: a retry_failed in between may have started new, legitimate workers.
    -- A job that could not be stopped stays visible to OTASK_JOBS.ABANDONED_RUNNING_JOB.
    forall i in 1 .. l_stopped.count
      update otask_workers
         set state = 'STOPPED', ended_at = systimestamp, exit_reason = 'stopped by OTASK.STOP HARD'
       where job_name = l_stopped(i) and state in ('STARTING', 'ACTIVE');
    if l_inst.state = 'STOPPING' then
      update otask_tasks
         set state = 'STOPPED', ended_at = systimestamp, error_code = otask.c_task_hard_stopped,
             error_message = substr('ORA-20151: stopped by OTASK.STOP(p_mode => ''HARD'') while '
                                    || 'running on worker job ' || worker_job, 1, 4000)
       where instance_id = p_instance_id and state = 'RUNNING';
      skip_pending_locked(p_instance_id, 'not started: the instance was stopped (HARD)');
      close_locked(p_instance_id);
    end if;
    commit;
  end stop;

  procedure retry_failed(p_instance_id number, p_threads number) is
    l_ts     otask_taskspaces%rowtype;
    l_inst   otask_instances%rowtype;
    l_busy   varchar2(128);
    l_count  pls_integer;
    l_group  otask_tasks.group_no%type;
    l_target pls_integer;
  begin
    l_inst := lock_instance(p_instance_id);
    l_ts := lock_taskspace(l_inst.taskspace);
    if l_inst.state in ('CREATED', 'STOPPING') then
      invalid_state('RETRY_FAILED', p_instance_id, l_inst.state,
        case l_inst.state
          when 'CREATED' then 'it has not run yet: start it with OTASK.START_JOBS.'
          else 'wait until it is STOPPED (OTASK_INSTANCES_V), then retry.'
        end);
    end if;
    if l_inst.state = 'RUNNING' then
      reconcile_locked(p_instance_id);
    end if;
    select count(*) into l_count
      from otask_tasks
     where instance_id = p_instance_id and state in ('FAILED', 'SKIPPED', 'STOPPED');
    if l_count = 0 then
      commit;  -- nothing failed: nothing to do (idempotent)
      return;
    end if;
    -- Never run a task twice at once (rule 7): a worker that a hard stop could not interrupt
    -- (no MANAGE SCHEDULER, an uninterruptible call) may still be running a task this call
    -- would hand to a new worker. Refuse until that job has ended.
    l_busy := otask_jobs.abandoned_running_job(p_instance_id);
    if l_busy is not null then
      invalid_state('RETRY_FAILED', p_instance_id, l_inst.state, 'its worker job ' || l_busy
        || ' was given up by the engine (hard stop or lost) but the scheduler still runs it, so '
        || 'its task may still be running. Wait until it ends (USER_SCHEDULER_RUNNING_JOBS), or '
        || 'end its session as a DBA, then retry.');
    end if;

    if l_inst.state = 'RUNNING' then
      l_group := l_inst.current_group;
      l_target := nvl(p_threads, l_inst.target_threads);
    else
      -- Reopen a closed instance at the first group that has unfinished work.
      select min(group_no) into l_group
        from otask_tasks
       where instance_id = p_instance_id and state <> 'SUCCEEDED';
      l_target := nvl(p_threads, nvl(nullif(l_inst.requested_threads, 0), l_ts.default_threads));
    end if;
    update otask_tasks
       set state = case when group_no <= l_group then 'READY' else 'WAITING' end,
           attempts = 0, not_before = null, worker_job = null, started_at = null, ended_at = null,
           error_code = null, error_message = null, error_backtrace = null, output_value = null
     where instance_id = p_instance_id and state in ('FAILED', 'SKIPPED', 'STOPPED');
    update otask_instances
       set state = 'RUNNING', ended_at = null, failure_seen = 'N', first_failed_task_id = null,
           started_at = nvl(started_at, systimestamp),  -- E-11: stopped while CREATED
           stop_mode = null, current_group = l_group, target_threads = l_target,
           requested_threads = case when l_target > 0 then l_target else requested_threads end
     where instance_id = p_instance_id;
    otask_logger.info('retry_failed: ' || l_count || ' tasks back to work from group ' || l_group
      || ', target ' || l_target || ' threads', p_instance_id);
    spawn_missing_locked(p_instance_id);
    commit;
  end retry_failed;
end otask_engine;
/

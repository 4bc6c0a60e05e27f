create or replace package body otask_jobs as

  e_insufficient_privileges exception;
  pragma exception_init(e_insufficient_privileges, -27486);
  e_no_privilege            exception;
  pragma exception_init(e_no_privilege, -1031);
  e_object_missing          exception;
  pragma exception_init(e_object_missing, -27476);  -- "<object> does not exist"
  e_unknown_job             exception;
  pragma exception_init(e_unknown_job, -27475);     -- unknown job (already finished and dropped)
  e_job_exists              exception;
  pragma exception_init(e_job_exists, -27477);      -- the job already exists (concurrent install)
  e_not_running             exception;
  pragma exception_init(e_not_running, -27366);     -- job is not running (E-15: it ended)

  -- Terminal states of ALL_SCHEDULER_JOBS.STATE ('STOPPED' is not in 19c's documented list
  -- (E-16) but is kept: a stopped one-time job that stayed registered runs no more, and the
  -- running-jobs view is checked separately). A job in any other state (SCHEDULED,
  -- RETRY SCHEDULED, RUNNING, BLOCKED, READY TO RUN, RESOURCE_UNAVAILABLE, ...) is alive: an
  -- unknown state counts as alive, because declaring a live worker dead could run a task twice.

  function new_job_name(p_instance_id number) return varchar2 is
  begin
    return 'OTASK_W' || to_char(trunc(p_instance_id)) || '_' || to_char(otask_worker_seq.nextval);
  end new_job_name;

  function abandoned_running_job(p_instance_id number) return varchar2 is
    l_name otask_workers.job_name%type;
  begin
    select min(w.job_name) into l_name
      from otask_workers w
     where w.instance_id = p_instance_id
       and w.state in ('STOPPED', 'LOST')
       and exists (select null
                     from user_scheduler_running_jobs r
                    where r.job_name = w.job_name);
    return l_name;
  end abandoned_running_job;

  function job_class_usable(p_job_class varchar2) return boolean is
    l_count pls_integer;
  begin
    -- ALL_SCHEDULER_JOB_CLASSES lists the classes the current user (the owner, in this
    -- definer-rights unit, so only DIRECT grants count) may use.
    select count(*) into l_count
      from all_scheduler_job_classes
     where owner = 'SYS' and job_class_name = upper(p_job_class);
    return l_count > 0;
  end job_class_usable;

  procedure create_worker(p_job_name varchar2, p_instance_id number, p_job_class varchar2) is
    pragma autonomous_transaction;
    l_owner constant varchar2(128) := sys_context('USERENV', 'CURRENT_SCHEMA');
  begin
    -- Rule 10: the job action is built from a number and a name this package generated; check
    -- the name's shape anyway, so nothing else can ever reach the action text.
    if p_job_name is null or not regexp_like(p_job_name, '^OTASK_W[0-9]+_[0-9]+$')
       or p_instance_id is null or p_instance_id <> trunc(p_instance_id) then
      raise_application_error(otask.c_invalid_identifier, 'OTASK_JOBS.CREATE_WORKER: "'
        || substr(p_job_name, 1, 60) || '" is not an engine worker job name; '
        || 'worker names come from OTASK_JOBS.NEW_JOB_NAME only (report this as a bug).');
    end if;
    dbms_scheduler.create_job(
      job_name   => p_job_name,
      job_type   => 'PLSQL_BLOCK',
      job_action => 'begin otask_worker.run(p_instance_id => ' || to_char(p_instance_id)
                    || ', p_job_name => ''' || p_job_name || '''); end;',
      job_class  => nvl(p_job_class, 'DEFAULT_JOB_CLASS'),
      enabled    => true,
      auto_drop  => true,
      comments   => 'oracle-tasks worker of instance ' || to_char(p_instance_id));
    commit;
  exception
    when e_insufficient_privileges or e_no_privilege then
      rollback;
      if p_job_class is not null and not job_class_usable(p_job_class) then
        raise_application_error(otask.c_unknown_job_class, 'cannot start worker job ' || p_job_name
          || ': job class SYS.' || p_job_class || ' does not exist or schema ' || l_owner
          || ' may not use it. Fix: GRANT EXECUTE ON SYS.' || p_job_class || ' TO ' || l_owner
          || ' (directly, not through a role), or OTASK.SET_TASKSPACE with another job class.');
      end if;
      raise_application_error(otask.c_missing_privilege, 'cannot start worker job ' || p_job_name
        || ': schema ' || l_owner || ' lacks the CREATE JOB privilege (' || sqlerrm || '). Fix: '
        || 'GRANT CREATE JOB TO ' || l_owner || ' (directly, not through a role: the engine is '
        || 'definer-rights PL/SQL); sql/grants.sql does it.');
    when e_object_missing then
      rollback;
      raise_application_error(otask.c_unknown_job_class, 'cannot start worker job ' || p_job_name
        || ': ' || sqlerrm || ' (the job class SYS.' || nvl(p_job_class, 'DEFAULT_JOB_CLASS')
        || ' was dropped?). Fix: OTASK.SET_TASKSPACE with an existing job class, or NULL.');
    when others then
      rollback;
      raise;
  end create_worker;

  procedure stop_worker(p_job_name varchar2, p_instance_id number) is
    pragma autonomous_transaction;
    l_first_error varchar2(4000);
  begin
    begin
      -- DROP_JOB with force: stops a running job first (the scheduler's graceful STOP_JOB,
      -- an interrupt), and also removes a job that the scheduler has not started yet.
      dbms_scheduler.drop_job(job_name => p_job_name, force => true);
    exception
      when e_unknown_job then
        null;  -- it ended and auto-dropped meanwhile: nothing to stop
      when others then
        l_first_error := sqlerrm;
        -- The job did not stop at once (e.g. ORA-27365 while it rolls back): a forced stop
        -- kills its slave process; that needs MANAGE SCHEDULER, which is optional.
        begin
          dbms_scheduler.stop_job(job_name => p_job_name, force => true);
        exception
          when e_unknown_job or e_not_running then
            -- E-15: it ended between the two calls: nothing is left to stop.
            l_first_error := null;
          when others then
            otask_logger.warn('worker job ' || p_job_name || ' could not be stopped: ' || l_first_error
              || ' / forced stop: ' || sqlerrm || '. Grant MANAGE SCHEDULER to the owner to allow '
              || 'forced stops, or end the session as a DBA (see USER_SCHEDULER_RUNNING_JOBS).',
              p_instance_id, null, p_job_name);
            l_first_error := null;
        end;
        if l_first_error is not null then
          otask_logger.info('worker job ' || p_job_name || ' force-stopped after: ' || l_first_error,
                            p_instance_id, null, p_job_name);
        end if;
    end;
    commit;
  exception
    when others then
      rollback;
      otask_logger.warn('stopping worker job ' || p_job_name || ' failed: ' || sqlerrm,
                        p_instance_id, null, p_job_name);
  end stop_worker;

  function mark_lost(p_instance_id number) return t_names is
    l_names t_names;
  begin
    update otask_workers w
       set w.state       = 'LOST',
           w.ended_at    = systimestamp,
           w.exit_reason = 'the scheduler no longer runs job ' || w.job_name
                           || ' (session killed, job stopped or dropped by hand, or database restart)'
     where w.instance_id = p_instance_id
       and w.state in ('STARTING', 'ACTIVE')
       and not exists (select null
                         from user_scheduler_running_jobs r
                        where r.job_name = w.job_name)
       and not exists (select null
                         from user_scheduler_jobs j
                        where j.job_name = w.job_name
                          and j.state not in ('COMPLETED', 'SUCCEEDED', 'FAILED', 'BROKEN',
                                              'STOPPED', 'DISABLED'))
    returning job_name bulk collect into l_names;
    for i in 1 .. l_names.count loop
      otask_logger.warn('worker job ' || l_names(i) || ' is lost: the scheduler no longer runs it '
        || 'although it never exited (session killed, job stopped by hand, database restart). '
        || 'Its running task, if any, is an orphan.', p_instance_id, null, l_names(i));
    end loop;
    return l_names;
  end mark_lost;

  procedure mark_lost_in_taskspace(p_taskspace varchar2) is
    -- Same test as mark_lost.
    cursor c_dead is
      select w.job_name, w.instance_id
        from otask_workers w
       where w.taskspace = p_taskspace
         and w.state in ('STARTING', 'ACTIVE')
         and not exists (select null
                           from user_scheduler_running_jobs r
                          where r.job_name = w.job_name)
         and not exists (select null
                           from user_scheduler_jobs j
                          where j.job_name = w.job_name
                            and j.state not in ('COMPLETED', 'SUCCEEDED', 'FAILED', 'BROKEN',
                                                'STOPPED', 'DISABLED'))
         for update skip locked;
    l_job      otask_workers.job_name%type;
    l_instance otask_workers.instance_id%type;
  begin
    open c_dead;
    loop
      fetch c_dead into l_job, l_instance;
      exit when c_dead%notfound;
      update otask_workers
         set state = 'LOST', ended_at = systimestamp,
             exit_reason = 'the scheduler no longer runs job ' || l_job || ' (session killed, job '
                           || 'stopped or dropped by hand, or database restart); found while '
                           || 'counting the live workers of taskspace ' || p_taskspace
       where current of c_dead;
      otask_logger.warn('worker job ' || l_job || ' is lost (found by the taskspace cap check of '
        || p_taskspace || '): it no longer counts against the cap; its running task, if any, is '
        || 'settled by the next watchdog run of its instance', l_instance, null, l_job);
    end loop;
    close c_dead;
  end mark_lost_in_taskspace;

  procedure ensure_watchdog_job is
    pragma autonomous_transaction;
    l_enabled user_scheduler_jobs.enabled%type;
  begin
    begin
      select enabled into l_enabled from user_scheduler_jobs where job_name = c_watchdog_job;
    exception
      when no_data_found then
        l_enabled := null;
    end;
    if l_enabled is null then
      dbms_scheduler.create_job(
        job_name        => c_watchdog_job,
        job_type        => 'PLSQL_BLOCK',
        job_action      => 'begin otask_engine.watch_schema; end;',
        start_date      => systimestamp,
        repeat_interval => 'FREQ=SECONDLY;INTERVAL=' || c_watchdog_seconds,
        enabled         => false,
        auto_drop       => false,
        comments        => 'oracle-tasks schema watchdog: heals RUNNING/STOPPING instances '
                           || 'nobody watches (dead workers, orphaned tasks, missing workers)');
      dbms_scheduler.set_attribute(
        name      => c_watchdog_job,
        attribute => 'logging_level',
        value     => dbms_scheduler.logging_off);
      dbms_scheduler.enable(name => c_watchdog_job);
      dbms_output.put_line('created scheduler job ' || c_watchdog_job || ' (every '
        || c_watchdog_seconds || ' s)');
    elsif l_enabled <> 'TRUE' then
      dbms_scheduler.enable(name => c_watchdog_job);
      dbms_output.put_line('enabled scheduler job ' || c_watchdog_job);
    end if;
    commit;
  exception
    when e_job_exists then
      rollback;  -- E-18: a concurrent install created it in between
    when others then
      rollback;
      raise;
  end ensure_watchdog_job;
end otask_jobs;
/

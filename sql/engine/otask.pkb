create or replace package body otask as
  -- Validation, transaction boundaries and error mapping of the public API; the work is done
  -- by OTASK_BUILD (task creation) and OTASK_ENGINE (the state machine).
  --
  -- "A rejected call changes nothing": arguments are checked before anything is written, and
  -- a call that fails half-way rolls back to a savepoint taken at its start (never the whole
  -- caller's transaction).

  e_dup_value exception;
  pragma exception_init(e_dup_value, -1);

  -- ---------------------------------------------------------------------------------------
  -- Helpers
  -- ---------------------------------------------------------------------------------------

  function checked_threads(p_api varchar2, p_what varchar2, p_threads number, p_null_ok boolean)
    return number is
  begin
    return otask_build.checked_int(p_api, p_what, p_threads, 0, c_max_threads, p_null_ok,
                                   c_invalid_threads);
  end checked_threads;

  function checked_instance_id(p_api varchar2, p_instance_id number) return number is
  begin
    if p_instance_id is null or p_instance_id <> trunc(p_instance_id) or p_instance_id < 1 then
      raise_application_error(c_unknown_instance, 'OTASK.' || p_api || ': instance '
        || nvl(to_char(p_instance_id), 'NULL') || ' does not exist: pass an INSTANCE_ID from '
        || 'OTASK_INSTANCES_V (the value OTASK.CREATE_INSTANCE returned).');
    end if;
    return p_instance_id;
  end checked_instance_id;

  -- The instance that owns p_run_key, or NULL; ORA-20107 when it lives in another taskspace.
  function instance_for_run_key(p_run_key varchar2, p_taskspace varchar2) return number is
    l_id        otask_instances.instance_id%type;
    l_taskspace otask_instances.taskspace%type;
  begin
    select instance_id, taskspace into l_id, l_taskspace
      from otask_instances
     where run_key = p_run_key;
    if l_taskspace <> p_taskspace then
      raise_application_error(c_run_key_conflict, 'OTASK.CREATE_INSTANCE: run key "'
        || substr(p_run_key, 1, 200) || '" already belongs to instance ' || l_id
        || ' in taskspace ' || l_taskspace || ', not ' || p_taskspace
        || '. Use another run key, or taskspace ' || l_taskspace || '.');
    end if;
    return l_id;
  exception
    when no_data_found then
      return null;
  end instance_for_run_key;

  -- ---------------------------------------------------------------------------------------
  -- Taskspaces
  -- ---------------------------------------------------------------------------------------

  procedure set_taskspace(
    p_taskspace        varchar2,
    p_max_threads      number   default null,
    p_job_class        varchar2 default null,
    p_default_threads  number   default 4) is
    l_taskspace varchar2(128) := otask_build.checked_taskspace('SET_TASKSPACE', p_taskspace);
    l_max       number := checked_threads('SET_TASKSPACE', 'p_max_threads of taskspace '
                                          || l_taskspace, p_max_threads, true);
    l_default   number := checked_threads('SET_TASKSPACE', 'p_default_threads of taskspace '
                                          || l_taskspace, p_default_threads, false);
    l_class     varchar2(128) := otask_build.checked_job_class('SET_TASKSPACE', p_job_class);
  begin
    otask_build.ensure_taskspace(l_taskspace);
    update otask_taskspaces
       set max_threads = l_max, job_class = l_class, default_threads = l_default,
           updated_at = systimestamp
     where taskspace = l_taskspace;
    commit;
    otask_logger.info('taskspace ' || l_taskspace || ': max_threads ' || nvl(to_char(l_max), 'none')
      || ', default_threads ' || l_default || ', job class ' || nvl(l_class, 'DEFAULT_JOB_CLASS'));
    -- A raised cap lets instances that waited for room start their workers now.
    otask_engine.rebalance_taskspace(l_taskspace);
  end set_taskspace;

  procedure drop_taskspace(p_taskspace varchar2) is
    l_taskspace   varchar2(128) := otask_build.checked_taskspace('DROP_TASKSPACE', p_taskspace);
    l_row         otask_taskspaces%rowtype;
    l_instances   pls_integer;
    l_definitions pls_integer;
  begin
    commit;  -- a control call; the rollback below then releases only this call's lock
    begin
      l_row := otask_engine.lock_taskspace(l_taskspace);
    exception
      when no_data_found then
        raise_application_error(c_unknown_taskspace, 'OTASK.DROP_TASKSPACE: taskspace '
          || l_taskspace || ' does not exist; see OTASK_INSTANCES_V.TASKSPACE for the names in use.');
    end;
    select count(*) into l_instances from otask_instances where taskspace = l_taskspace;
    select count(*) into l_definitions from otask_task_defs where taskspace = l_taskspace;
    if l_instances > 0 or l_definitions > 0 then
      rollback;
      raise_application_error(c_invalid_state, 'OTASK.DROP_TASKSPACE: taskspace ' || l_taskspace
        || ' still has ' || l_instances || ' instance(s) and ' || l_definitions || ' definition(s); '
        || 'purge the instances (OTASK.PURGE_INSTANCE) and remove the definitions '
        || '(OTASK.REMOVE_DEFINITION) first.');
    end if;
    delete from otask_taskspaces where taskspace = l_taskspace;
    commit;
  end drop_taskspace;

  -- ---------------------------------------------------------------------------------------
  -- Task definitions
  -- ---------------------------------------------------------------------------------------

  function add_definition(
    p_taskspace     varchar2,
    p_name          varchar2,
    p_sql           clob,
    p_source_query  clob     default null,
    p_group         number   default 1,
    p_priority      number   default 0,
    p_retries       number   default null,
    p_enabled       varchar2 default 'Y') return number is
    l_taskspace varchar2(128) := otask_build.checked_taskspace('ADD_DEFINITION', p_taskspace);
    l_name      varchar2(128) := otask_build.checked_text('ADD_DEFINITION', 'p_name', trim(p_name),
                                                          128, p_required => true);
    l_group     number := otask_build.checked_int('ADD_DEFINITION', 'p_group', p_group, 0, 999999999);
    l_priority  number := otask_build.checked_int('ADD_DEFINITION', 'p_priority', p_priority,
                                                  -999999999, 999999999);
    l_retries   number := otask_build.checked_int('ADD_DEFINITION', 'p_retries', p_retries, 0,
                                                  c_max_retries, p_null_ok => true);
    l_enabled   varchar2(1) := otask_build.checked_flag('ADD_DEFINITION', 'p_enabled', p_enabled);
    l_id        number;
  begin
    otask_build.check_sql('ADD_DEFINITION', 'p_sql', p_sql);
    if p_source_query is not null then
      otask_build.check_query('ADD_DEFINITION', 'p_source_query', p_source_query);
    end if;
    savepoint otask_add_definition;
    otask_build.ensure_taskspace(l_taskspace);
    l_id := otask_definition_seq.nextval;
    insert into otask_task_defs (definition_id, taskspace, name, sql_text, source_query, group_no,
                                 priority, retries, enabled)
    values (l_id, l_taskspace, l_name, p_sql, p_source_query, l_group, l_priority, l_retries,
            l_enabled);
    return l_id;
  exception
    when e_dup_value then
      rollback to savepoint otask_add_definition;  -- E-13: a new taskspace row goes too
      raise_application_error(c_invalid_argument, 'OTASK.ADD_DEFINITION: taskspace ' || l_taskspace
        || ' already has a definition named "' || l_name || '"; remove it first '
        || '(OTASK.REMOVE_DEFINITION) or choose another name.');
  end add_definition;

  procedure enable_definition(p_definition_id number, p_enabled varchar2 default 'Y') is
    l_enabled varchar2(1) := otask_build.checked_flag('ENABLE_DEFINITION', 'p_enabled', p_enabled);
  begin
    update otask_task_defs set enabled = l_enabled where definition_id = p_definition_id;
    if sql%rowcount = 0 then
      raise_application_error(c_unknown_definition, 'OTASK.ENABLE_DEFINITION: task definition '
        || nvl(to_char(p_definition_id), 'NULL') || ' does not exist; pass a DEFINITION_ID that '
        || 'OTASK.ADD_DEFINITION returned (table OTASK_TASK_DEFS).');
    end if;
  end enable_definition;

  procedure remove_definition(p_definition_id number) is
  begin
    delete from otask_task_defs where definition_id = p_definition_id;
    if sql%rowcount = 0 then
      raise_application_error(c_unknown_definition, 'OTASK.REMOVE_DEFINITION: task definition '
        || nvl(to_char(p_definition_id), 'NULL') || ' does not exist; pass a DEFINITION_ID that '
        || 'OTASK.ADD_DEFINITION returned (table OTASK_TASK_DEFS).');
    end if;
  end remove_definition;

  -- ---------------------------------------------------------------------------------------
  -- Instances
  -- ---------------------------------------------------------------------------------------

  function create_instance(
    p_taskspace            varchar2 default 'DEFAULT',
    p_stop_on_error        varchar2 default 'Y',
    p_retries              number   default 0,
    p_run_key              varchar2 default null,
    p_from_definitions     varchar2 default 'N',
    p_dag_id               varchar2 default null,
    p_run_id               varchar2 default null,
    p_task_id              varchar2 default null,
    p_retry_delay_seconds  number   default 0) return number is
    c_api constant varchar2(30) := 'CREATE_INSTANCE';
    l_taskspace varchar2(128) := otask_build.checked_taskspace(c_api, nvl(p_taskspace, c_default_taskspace));
    l_soe       varchar2(1) := otask_build.checked_flag(c_api, 'p_stop_on_error', p_stop_on_error);
    l_retries   number := otask_build.checked_int(c_api, 'p_retries', p_retries, 0, c_max_retries);
    l_delay     number := otask_build.checked_int(c_api, 'p_retry_delay_seconds',
                                                  p_retry_delay_seconds, 0, 86400);
    l_from      varchar2(1) := otask_build.checked_flag(c_api, 'p_from_definitions', p_from_definitions);
    l_run_key   varchar2(512) := otask_build.checked_text(c_api, 'p_run_key', p_run_key, 512);
    l_dag_id    varchar2(250) := otask_build.checked_text(c_api, 'p_dag_id', p_dag_id, 250);
    l_run_id    varchar2(250) := otask_build.checked_text(c_api, 'p_run_id', p_run_id, 250);
    l_task_id   varchar2(250) := otask_build.checked_text(c_api, 'p_task_id', p_task_id, 250);
    l_id        number;
    l_inst      otask_instances%rowtype;
    l_count     pls_integer;
  begin
    if l_run_key is not null then
      l_id := instance_for_run_key(l_run_key, l_taskspace);
      if l_id is not null then
        return l_id;  -- idempotent: an Airflow retry gets the same instance back
      end if;
    end if;
    savepoint otask_create_instance;
    otask_build.ensure_taskspace(l_taskspace);
    l_id := otask_instance_seq.nextval;
    begin
      -- With a run key, a concurrent caller inserting the same key makes this insert WAIT on
      -- the unique index until that caller commits (then ORA-00001 below) or rolls back (then
      -- this insert succeeds): exactly one instance per run key, whatever the timing.
      insert into otask_instances (instance_id, taskspace, stop_on_error, default_retries,
                                   retry_delay_seconds, run_key, dag_id, run_id, airflow_task_id)
      values (l_id, l_taskspace, l_soe, l_retries, l_delay, l_run_key, l_dag_id, l_run_id,
              l_task_id);
    exception
      when dup_val_on_index then
        return instance_for_run_key(l_run_key, l_taskspace);
    end;
    if l_from = 'Y' then
      select * into l_inst from otask_instances where instance_id = l_id;
      begin
        l_count := otask_build.expand_definitions(l_inst);
      exception
        when others then
          rollback to savepoint otask_create_instance;
          raise;
      end;
    end if;
    return l_id;
  end create_instance;

  function add_task(
    p_instance_id  number,
    p_sql          clob,
    p_name         varchar2 default null,
    p_group        number   default 1,
    p_priority     number   default 0,
    p_retries      number   default null,
    p_binds        clob     default null) return number is
    c_api constant varchar2(30) := 'ADD_TASK';
    l_instance_id number := checked_instance_id(c_api, p_instance_id);
    l_name     varchar2(256) := otask_build.checked_text(c_api, 'p_name', p_name, 256);
    l_group    number := otask_build.checked_int(c_api, 'p_group', p_group, 0, 999999999);
    l_priority number := otask_build.checked_int(c_api, 'p_priority', p_priority, -999999999, 999999999);
    l_retries  number := otask_build.checked_int(c_api, 'p_retries', p_retries, 0, c_max_retries,
                                                 p_null_ok => true);
    l_inst     otask_instances%rowtype;
    l_task_id  number;
  begin
    savepoint otask_add_task;
    otask_build.check_sql(c_api, 'p_sql', p_sql);
    -- The instance row lock keeps a closing worker from missing this task (a close checks
    -- for pending tasks under the same lock).
    l_inst := otask_engine.lock_instance(l_instance_id);
    if l_inst.state not in (c_created, c_running) then
      raise_application_error(c_invalid_state, 'OTASK.ADD_TASK: instance ' || l_instance_id
        || ' is ' || l_inst.state || '; tasks can be added only while it is CREATED or RUNNING. '
        || 'Create a new instance for more work.');
    end if;
    l_task_id := otask_build.add_task(l_inst, p_sql, l_name, l_group, l_priority, l_retries, p_binds);
    return l_task_id;
  exception
    when others then
      rollback to savepoint otask_add_task;
      raise;
  end add_task;

  function add_tasks(p_instance_id number, p_tasks clob) return number is
    c_api constant varchar2(30) := 'ADD_TASKS';
    l_instance_id number := checked_instance_id(c_api, p_instance_id);
    l_inst  otask_instances%rowtype;
    l_count number;
  begin
    savepoint otask_add_tasks;
    l_inst := otask_engine.lock_instance(l_instance_id);
    if l_inst.state not in (c_created, c_running) then
      raise_application_error(c_invalid_state, 'OTASK.ADD_TASKS: instance ' || l_instance_id
        || ' is ' || l_inst.state || '; tasks can be added only while it is CREATED or RUNNING. '
        || 'Create a new instance for more work.');
    end if;
    l_count := otask_build.add_tasks(l_inst, p_tasks);
    return l_count;
  exception
    when others then
      rollback to savepoint otask_add_tasks;
      raise;
  end add_tasks;

  procedure start_jobs(p_instance_id number, p_threads number default null) is
    l_instance_id number := checked_instance_id('START_JOBS', p_instance_id);
    l_threads     number := checked_threads('START_JOBS', 'p_threads of instance ' || p_instance_id,
                                            p_threads, true);
  begin
    savepoint otask_start_jobs;
    otask_engine.start_jobs(l_instance_id, l_threads);
  exception
    when others then
      rollback to savepoint otask_start_jobs;
      raise;
  end start_jobs;

  procedure set_threads(p_instance_id number, p_threads number) is
    l_instance_id number := checked_instance_id('SET_THREADS', p_instance_id);
    l_threads     number := checked_threads('SET_THREADS', 'p_threads of instance ' || p_instance_id,
                                            p_threads, false);
  begin
    savepoint otask_set_threads;
    otask_engine.set_threads(l_instance_id, l_threads);
  exception
    when others then
      rollback to savepoint otask_set_threads;
      raise;
  end set_threads;

  procedure stop(p_instance_id number, p_mode varchar2 default 'SOFT') is
    l_instance_id number := checked_instance_id('STOP', p_instance_id);
    -- Wide enough for any text a caller passes, so a long wrong mode gets ORA-20105, not ORA-06502.
    l_mode        varchar2(32767) := upper(trim(p_mode));
  begin
    if l_mode is null or l_mode not in ('SOFT', 'HARD') then
      raise_application_error(c_invalid_argument, 'OTASK.STOP: p_mode = "' || substr(p_mode, 1, 30)
        || '" for instance ' || p_instance_id || ' is not allowed; pass ''SOFT'' (running tasks '
        || 'finish) or ''HARD'' (running tasks are stopped now).');
    end if;
    savepoint otask_stop;
    otask_engine.stop(l_instance_id, l_mode);
  exception
    when others then
      -- the savepoint is gone once a hard stop committed its first phase
      begin
        rollback to savepoint otask_stop;
      exception
        when others then
          null;
      end;
      raise;
  end stop;

  procedure retry_failed(p_instance_id number, p_threads number default null) is
    l_instance_id number := checked_instance_id('RETRY_FAILED', p_instance_id);
    l_threads     number := checked_threads('RETRY_FAILED', 'p_threads of instance ' || p_instance_id,
                                            p_threads, true);
  begin
    savepoint otask_retry_failed;
    otask_engine.retry_failed(l_instance_id, l_threads);
  exception
    when others then
      rollback to savepoint otask_retry_failed;
      raise;
  end retry_failed;

  function instance_state(p_instance_id number) return varchar2 is
    l_state otask_instances.state%type;
  begin
    select state into l_state from otask_instances where instance_id = p_instance_id;
    if l_state in (c_running, c_stopping) then
      otask_engine.heal(p_instance_id);  -- autonomous; never raises, never waits
      select state into l_state from otask_instances where instance_id = p_instance_id;
    end if;
    return l_state;
  exception
    when no_data_found then
      raise_application_error(c_unknown_instance, 'OTASK.INSTANCE_STATE: instance '
        || nvl(to_char(p_instance_id), 'NULL') || ' does not exist (never created, not committed '
        || 'yet, or purged): pass an INSTANCE_ID from OTASK_INSTANCES_V.');
  end instance_state;

  procedure heal_instances(p_instance_ids clob) is
    l_bad pls_integer;
  begin
    if p_instance_ids is null then
      return;
    end if;
    -- Checked first, so a wrong argument gets ORA-20109 rather than no heal at all.
    select count(*) into l_bad
      from dual
     where p_instance_ids is not json;
    if l_bad > 0 then
      raise_application_error(c_invalid_json, 'OTASK.HEAL_INSTANCES: p_instance_ids is not valid '
        || 'JSON; pass a JSON array of instance ids, e.g. [1, 2, 3].');
    end if;
    otask_engine.heal_suspects(p_instance_ids);
  end heal_instances;

  function watchdog_job_state return varchar2 is
    l_state varchar2(30);
  begin
    select case when enabled = 'TRUE' then state else 'DISABLED' end
      into l_state
      from user_scheduler_jobs
     where job_name = otask_jobs.c_watchdog_job;
    return l_state;
  exception
    when no_data_found then
      return 'MISSING';
  end watchdog_job_state;

  function purge(p_older_than number) return number is
    -- A CREATED instance is at least this old before purge takes it, whatever p_older_than: the
    -- provider commits an instance and its tasks, then calls start_jobs, and a purge(0) in
    -- between must not delete the work it is about to start.
    c_created_min_age constant interval day to second := interval '1' hour;
    l_cutoff  timestamp with time zone;
    l_created timestamp with time zone;
    l_purged  pls_integer := 0;
    c_batch     constant pls_integer := 1000;
    c_log_batch constant pls_integer := 10000;
    l_ids     sys.odcinumberlist;
    l_last_id number := 0;
    l_deleted pls_integer;
  begin
    if p_older_than is null or p_older_than < 0 then
      raise_application_error(c_invalid_argument, 'OTASK.PURGE: p_older_than = '
        || nvl(to_char(p_older_than), 'NULL') || ' is not allowed; pass an age in days >= 0 '
        || '(e.g. 30; 0 purges every finished instance).');
    end if;
    commit;  -- a control call: the caller's pending work is committed before purging
    l_cutoff := systimestamp - numtodsinterval(p_older_than, 'DAY');
    l_created := least(l_cutoff, systimestamp - c_created_min_age);
    -- S-10: the ids are collected in bounded batches by a cursor that is closed before
    -- anything is committed (no fetch across commit, so no ORA-01555 on the driving query of a
    -- large first purge); each instance goes with its tasks in its own transaction.
    loop
      select instance_id
        bulk collect into l_ids
        from (select instance_id
                from otask_instances
               where ((state in (c_succeeded, c_failed, c_stopped) and ended_at < l_cutoff)
                      or (state = c_created and created_at < l_created))
                 and instance_id > l_last_id
               order by instance_id)
       where rownum <= c_batch;
      exit when l_ids.count = 0;
      for k in 1 .. l_ids.count loop
        -- Re-checked in the delete: retry_failed or start_jobs may have moved it meanwhile.
        delete from otask_instances
         where instance_id = l_ids(k)
           and ((state in (c_succeeded, c_failed, c_stopped) and ended_at < l_cutoff)
                or (state = c_created and created_at < l_created));
        l_purged := l_purged + sql%rowcount;
        commit;  -- one instance (with its tasks) per transaction
      end loop;
      l_last_id := l_ids(l_ids.count);
    end loop;
    -- Log entries of instances that are still unfinished stay: they explain what is running.
    -- Deleted in batches, one commit each: bounded undo however large the history is.
    loop
      delete from otask_log l
       where l.logged_at < l_cutoff
         and not exists (select null
                           from otask_instances i
                          where i.instance_id = l.instance_id
                            and i.state in (c_created, c_running, c_stopping))
         and rownum <= c_log_batch;
      l_deleted := sql%rowcount;
      commit;
      exit when l_deleted < c_log_batch;
    end loop;
    otask_notify.purge_expired(l_cutoff);
    commit;
    otask_logger.info('purge: ' || l_purged || ' instance(s) older than ' || p_older_than || ' day(s)');
    return l_purged;
  end purge;

  procedure purge_instance(p_instance_id number) is
    l_instance_id number := checked_instance_id('PURGE_INSTANCE', p_instance_id);
    l_inst otask_instances%rowtype;
  begin
    commit;  -- a control call
    l_inst := otask_engine.lock_instance(l_instance_id);
    if l_inst.state in (c_running, c_stopping) then
      rollback;
      raise_application_error(c_invalid_state, 'OTASK.PURGE_INSTANCE: instance ' || l_instance_id
        || ' is ' || l_inst.state || '; stop it first (OTASK.STOP) and purge it once it is STOPPED.');
    end if;
    delete from otask_instances where instance_id = l_instance_id;
    commit;
  end purge_instance;

  procedure raise_event(
    p_queue               varchar2,
    p_payload             clob,
    p_correlation         varchar2 default null,
    p_consumers           varchar2 default null,
    p_expiration_seconds  number   default null) is
  begin
    otask_aq.raise_event(
      p_queue              => p_queue,
      p_payload            => p_payload,
      p_correlation        => p_correlation,
      p_consumers          => p_consumers,
      p_expiration_seconds => p_expiration_seconds);
  end raise_event;
end otask;
/

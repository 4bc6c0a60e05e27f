-- oracle-tasks: remove every object of the product from the CURRENT schema.
--
-- Run as the schema owner, from this folder:  sql owner/password@db @uninstall.sql
-- or `oracle-tasks uninstall --conn-id oracle_default`.
--
-- Drops exactly what carries the product's reserved names, OTASK and OTASK_*: unfinished
-- instances are put into a hard stop first (so no worker starts another), then the worker jobs
-- are stopped and dropped (their running tasks are interrupted and rolled back), then scheduler
-- objects, queues, views, packages, types, tables and sequences. History in the tables is lost.
-- Running it on a schema without the product changes nothing.
whenever sqlerror exit failure rollback
set verify off
set serveroutput on size unlimited
set define on
set sqlblanklines on

prompt oracle-tasks: removing product objects
declare
  e_no_job      exception;
  pragma exception_init(e_no_job, -27475);        -- unknown job
  l_left        varchar2(4000);
  l_count       pls_integer;

  function ours(p_name varchar2) return boolean is
  begin
    return p_name = 'OTASK' or p_name like 'OTASK\_%' escape '\';
  end ours;

  procedure exec(p_sql varchar2) is
  begin
    execute immediate p_sql;
    dbms_output.put_line(p_sql);
  end exec;
begin
  -- 0. Tell every worker to leave, and stop any worker from starting others. A worker that is
  --    interrupted or ends by an error would otherwise settle its task and start a replacement
  --    job (the watchdog keeps RUNNING instances at their target) while this script drops the
  --    jobs. An instance in STOPPING with mode HARD starts no worker, a starting worker leaves
  --    at once, and a worker whose task is interrupted records it STOPPED and leaves.
  --    Dynamic SQL: on a schema without the engine the table does not exist.
  -- The schema watchdog job goes first, so it does not heal (and close, and announce) the
  -- instances this script is about to stop and drop.
  begin
    dbms_scheduler.drop_job(job_name => 'OTASK_WATCHDOG', force => true);
    dbms_output.put_line('dropped job OTASK_WATCHDOG');
  exception
    when e_no_job then
      null;  -- not installed (or an older install without it)
  end;
  select count(*) into l_count from user_tables where table_name = 'OTASK_INSTANCES';
  if l_count > 0 then
    execute immediate q'[
      update otask_instances
         set state = 'STOPPING', stop_mode = 'HARD', target_threads = 0
       where state in ('CREATED', 'RUNNING', 'STOPPING')]';
    dbms_output.put_line('stopping ' || sql%rowcount || ' unfinished instance(s)');
    commit;
  end if;

  -- 1. Worker jobs: stopped and dropped before the tables, so no worker is left writing into a
  --    dropped table. DROP_JOB with force stops a running job first (an interrupt); a job that
  --    does not stop at once (ORA-27365/27478, e.g. while it rolls back) gets a forced stop
  --    (needs MANAGE SCHEDULER) and is retried for up to half a minute before uninstall gives up
  --    with the names of the jobs still running.
  for l_round in 1 .. 15 loop
    l_left := null;
    for j in (select job_name from user_scheduler_jobs
               where job_name = 'OTASK' or job_name like 'OTASK\_%' escape '\') loop
      begin
        dbms_scheduler.drop_job(job_name => dbms_assert.enquote_name(j.job_name, false), force => true);
        dbms_output.put_line('dropped job ' || j.job_name);
      exception
        when e_no_job then
          null;  -- an auto_drop job that ended meanwhile
        when others then
          l_left := substr(l_left || ' ' || j.job_name || ' (' || sqlerrm || ');', 1, 3000);
          begin
            dbms_scheduler.stop_job(job_name => dbms_assert.enquote_name(j.job_name, false), force => true);
          exception
            when others then
              null;  -- no MANAGE SCHEDULER, or it ended: the next round sees
          end;
      end;
    end loop;
    exit when l_left is null;
    dbms_session.sleep(2);
  end loop;
  if l_left is not null then
    raise_application_error(-20007, 'uninstall could not stop these worker jobs:' || l_left
      || ' Wait until they end (USER_SCHEDULER_RUNNING_JOBS), or end their sessions as a DBA, '
      || 'then run uninstall again.');
  end if;

  -- 2. Scheduler chains and programs created by the product.
  for c in (select chain_name from user_scheduler_chains
             where chain_name like 'OTASK\_%' escape '\') loop
    dbms_scheduler.drop_chain(chain_name => dbms_assert.enquote_name(c.chain_name, false), force => true);
    dbms_output.put_line('dropped chain ' || c.chain_name);
  end loop;
  for p in (select program_name from user_scheduler_programs
             where program_name like 'OTASK\_%' escape '\') loop
    dbms_scheduler.drop_program(program_name => dbms_assert.enquote_name(p.program_name, false), force => true);
    dbms_output.put_line('dropped program ' || p.program_name);
  end loop;
  -- Job classes live in SYS and belong to the DBA: uninstall never drops them (docs/install.md).

  -- 3. Queues: drop_queue_table with force stops and drops its queues and AQ$ objects.
  for q in (select queue_table from user_queue_tables
             where queue_table like 'OTASK\_%' escape '\') loop
    dbms_aqadm.drop_queue_table(queue_table => q.queue_table, force => true);
    dbms_output.put_line('dropped queue table ' || q.queue_table);
  end loop;

  -- 4. Schema objects, dependants first; tables without the recycle bin so nothing is left.
  for o in (select object_name, object_type
              from user_objects
             where (object_name = 'OTASK' or object_name like 'OTASK\_%' escape '\')
               and object_type in ('VIEW', 'PACKAGE', 'PROCEDURE', 'FUNCTION', 'TRIGGER',
                                   'TABLE', 'SEQUENCE', 'TYPE', 'SYNONYM')
             order by case object_type
                        when 'VIEW' then 1 when 'TRIGGER' then 2 when 'PACKAGE' then 3
                        when 'PROCEDURE' then 3 when 'FUNCTION' then 3 when 'SYNONYM' then 4
                        when 'TABLE' then 5 when 'SEQUENCE' then 6 else 7 end,
                      object_name) loop
    exec('drop ' || lower(o.object_type) || ' ' || dbms_assert.enquote_name(o.object_name, false)
         || case o.object_type when 'TABLE' then ' cascade constraints purge'
                               when 'TYPE' then ' force' end);
  end loop;

  for o in (select object_type || ' ' || object_name as what
              from user_objects
             where object_name = 'OTASK' or object_name like 'OTASK\_%' escape '\') loop
    l_left := substr(l_left || ' ' || o.what || ';', 1, 3000);
  end loop;
  if l_left is not null then
    raise_application_error(-20007, 'uninstall left objects behind:' || l_left
      || ' Drop them by hand or report the problem.');
  end if;
  dbms_output.put_line('oracle-tasks removed');
end;
/

-- E-23: leave the DBA's SQL*Plus session as SQL*Plus starts it (the settings above were only
-- for this script).
whenever sqlerror continue none
set verify on

-- oracle-tasks preflight: read-only checks run before install changes anything, and by
-- `oracle-tasks check`. Lists EVERY missing privilege with the GRANT a DBA must run
-- (sql/grants.sql does all of them), then refuses an installed schema newer than these scripts.
--
-- Why direct grants: the engine is definer-rights PL/SQL, and Oracle ignores privileges that
-- come through roles inside definer-rights units (CREATE JOB via a role would let install
-- succeed and every start_jobs fail later). A privilege held only through a role is reported.
--
-- Errors: ORA-20001 missing privileges, ORA-20002 newer schema installed, ORA-20004 database
-- older than 19c, ORA-20005 current schema differs from the session user.
set serveroutput on size unlimited
declare
  c_scripts_version constant pls_integer := &otask_schema_version;
  l_user      varchar2(128) := sys_context('USERENV', 'SESSION_USER');
  l_schema    varchar2(128) := sys_context('USERENV', 'CURRENT_SCHEMA');
  l_missing   varchar2(4000);
  l_count     pls_integer;
  l_installed number;
  l_value     varchar2(4000);

  procedure add_missing(p_what varchar2, p_grant varchar2) is
  begin
    dbms_output.put_line('MISSING: ' || p_what || '  ->  ' || p_grant);
    l_missing := substr(l_missing || chr(10) || '  ' || p_grant || '  -- ' || p_what, 1, 3500);
  end add_missing;

  procedure check_sys_priv(p_priv varchar2) is
    l_direct  pls_integer;
    l_session pls_integer;
  begin
    select count(*) into l_direct from user_sys_privs where privilege = p_priv;
    select count(*) into l_session from session_privs where privilege = p_priv;
    if l_direct = 0 and l_session > 0 then
      add_missing(p_priv || ' is granted only through a role (definer-rights PL/SQL needs a direct grant)',
                  'GRANT ' || p_priv || ' TO ' || l_user || ';');
    elsif l_direct = 0 then
      add_missing(p_priv, 'GRANT ' || p_priv || ' TO ' || l_user || ';');
    end if;
  end check_sys_priv;

  procedure check_execute(p_package varchar2) is
  begin
    select count(*) into l_count
      from all_tab_privs
     where table_schema = 'SYS' and table_name = p_package and privilege = 'EXECUTE'
       and grantee in (l_user, 'PUBLIC');
    if l_count = 0 then
      add_missing('EXECUTE on SYS.' || p_package,
                  'GRANT EXECUTE ON SYS.' || p_package || ' TO ' || l_user || ';');
    end if;
  end check_execute;
begin
  if dbms_db_version.version < 19 then
    raise_application_error(-20004, 'oracle-tasks needs Oracle Database 19c or later; this database is '
      || dbms_db_version.version || '.' || dbms_db_version.release || '. Install on a 19c+ database.');
  end if;
  if l_schema <> l_user then
    raise_application_error(-20005, 'current schema ' || l_schema || ' differs from the session user '
      || l_user || '; connect as the schema owner instead of ALTER SESSION SET CURRENT_SCHEMA, '
      || 'because privileges are checked and objects owned by the session user.');
  end if;

  for p in (select column_value as priv
              from table(sys.odcivarchar2list('CREATE SESSION', 'CREATE TABLE', 'CREATE SEQUENCE',
                                              'CREATE PROCEDURE', 'CREATE VIEW', 'CREATE TYPE',
                                              'CREATE JOB'))) loop
    check_sys_priv(p.priv);
  end loop;
  check_execute('DBMS_AQ');
  check_execute('DBMS_AQADM');

  -- Scheduler chains (OracleSchedulerChainOperator) also need the Rules Engine privileges. The
  -- engine does not, so a missing one is a note, not a reason to refuse the install.
  for p in (select column_value as priv
              from table(sys.odcivarchar2list('CREATE RULE', 'CREATE RULE SET',
                                              'CREATE EVALUATION CONTEXT'))) loop
    select count(*) into l_count from user_sys_privs where privilege = p.priv;
    if l_count = 0 then
      dbms_output.put_line('NOTE: Scheduler chains need ' || p.priv || ' granted directly  ->  GRANT '
        || p.priv || ' TO ' || l_user || ';');
    end if;
  end loop;

  -- E-17: optional, but worth knowing before the first hard stop: without MANAGE SCHEDULER a
  -- task that ignores the stop's interrupt cannot be force-stopped (it runs on, its result is
  -- discarded, and retry_failed waits for it).
  select count(*) into l_count from user_sys_privs where privilege = 'MANAGE SCHEDULER';
  if l_count = 0 then
    dbms_output.put_line('NOTE: without MANAGE SCHEDULER, OTASK.STOP(p_mode => ''HARD'') cannot '
      || 'force-stop a task that ignores the interrupt  ->  GRANT MANAGE SCHEDULER TO ' || l_user
      || ';  (optional)');
  end if;
  -- E-17: with JOB_QUEUE_PROCESSES = 0 the scheduler runs no job: every worker would stay
  -- STARTING for ever and no instance would progress; the schema watchdog job would not run.
  -- V$PARAMETER is readable only with SELECT on it (SELECT_CATALOG_ROLE, ...): else say nothing.
  declare
    e_not_readable exception;
    pragma exception_init(e_not_readable, -942);  -- table or view does not exist (no grant)
  begin
    execute immediate 'select value from v$parameter where name = ''job_queue_processes'''
      into l_value;
    if l_value = '0' then
      dbms_output.put_line('NOTE: JOB_QUEUE_PROCESSES = 0: the scheduler runs no job, so workers '
        || 'would stay STARTING for ever and no instance would progress. A DBA must run: ALTER '
        || 'SYSTEM SET JOB_QUEUE_PROCESSES = 20 (or more) before oracle-tasks can run work.');
    end if;
  exception
    when e_not_readable then
      null;  -- not readable by this user: the check is a note, never a reason to refuse
  end;

  -- Deferred segment creation lets CREATE TABLE pass without quota and the first insert fail,
  -- so check the quota on the default tablespace explicitly.
  select count(*) into l_count from session_privs where privilege = 'UNLIMITED TABLESPACE';
  if l_count = 0 then
    select count(*) into l_count
      from user_ts_quotas q
      join user_users u on u.default_tablespace = q.tablespace_name
     where q.max_bytes = -1 or q.max_bytes > q.bytes;
    if l_count = 0 then
      for t in (select default_tablespace from user_users) loop
        add_missing('quota on default tablespace ' || t.default_tablespace,
                    'ALTER USER ' || l_user || ' QUOTA UNLIMITED ON ' || t.default_tablespace || ';');
      end loop;
    end if;
  end if;

  if l_missing is not null then
    raise_application_error(-20001, 'oracle-tasks cannot install in schema ' || l_user
      || ': missing privileges. Ask a DBA to run sql/grants.sql, or these statements:' || l_missing);
  end if;

  select count(*) into l_count from user_tables where table_name = 'OTASK_VERSION';
  if l_count > 0 then
    -- Dynamic because the table does not exist on a first install.
    execute immediate 'select nvl(max(version), 0) from otask_version' into l_installed;
  else
    l_installed := 0;
  end if;
  if l_installed > c_scripts_version then
    raise_application_error(-20002, 'schema ' || l_user || ' has oracle-tasks schema version '
      || l_installed || ', newer than these scripts (version ' || c_scripts_version
      || '). Upgrade the airflow-provider-oracle-tasks package; downgrades are not supported.');
  end if;

  dbms_output.put_line('OK: privileges present; installed schema version ' || l_installed
    || ', scripts version ' || c_scripts_version);
end;
/

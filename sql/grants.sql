-- oracle-tasks: privileges for the schema that owns the engine, and the role for submitters.
--
-- Run ONCE as a DBA (a user with GRANT ANY PRIVILEGE, CREATE ROLE and ALTER USER, e.g. SYSTEM):
--   sql system@//host:1521/service
--   SQL> define otask_owner = APP_OWNER
--   SQL> @grants.sql
-- (SQL*Plus/SQLcl ask for otask_owner when it is not defined.)
--
-- Every privilege is granted DIRECTLY: the engine is definer-rights PL/SQL, and Oracle ignores
-- role privileges inside definer-rights units, so CREATE JOB through a role would not work.
--
-- OTASK_USER_ROLE lets other users submit work without owning the schema: `install` grants it
-- EXECUTE on the OTASK package, SELECT on the OTASK_*_V views, EXECUTE on the event type and
-- DEQUEUE on the event queue; this script grants it EXECUTE on DBMS_AQ. Beware: the engine runs task
-- SQL as the owner, so a holder of this role can run any SQL with the owner's privileges.
-- Grant the role only to users you would trust with the owner's password.
--
-- Not granted here, add it only if you want `stop(mode => 'HARD')` to force-stop jobs that
-- ignore a normal stop:  GRANT MANAGE SCHEDULER TO <owner>;
whenever sqlerror exit failure rollback
set verify off
set define on
set serveroutput on size unlimited
set sqlblanklines on

declare
  e_role_exists exception;
  pragma exception_init(e_role_exists, -1921);  -- role name conflicts with another user or role
  l_owner      varchar2(128);
  l_quoted     varchar2(130);
  l_tablespace varchar2(128);

  procedure exec(p_sql varchar2) is
  begin
    execute immediate p_sql;
    dbms_output.put_line(p_sql || ';');
  end exec;
begin
  -- The owner's name is substituted as text into the q-quoted literal below (SQL*Plus cannot
  -- bind a DEFINE), then DBMS_ASSERT checks it. Type a plain name: a name containing ]' would
  -- end the literal early. Python (`oracle-tasks grants`, installer.grant) refuses anything but
  -- a simple name before it substitutes.
  l_owner := dbms_assert.simple_sql_name(upper(trim(q'[&&otask_owner]')));
  l_quoted := dbms_assert.enquote_name(l_owner, false);
  begin
    select default_tablespace into l_tablespace from dba_users where username = l_owner;
  exception
    when no_data_found then
      raise_application_error(-20008, 'user ' || l_owner || ' does not exist: create the owner '
        || 'schema first (CREATE USER ... IDENTIFIED BY ...), then run grants.sql again.');
  end;

  for p in (select column_value as priv
              from table(sys.odcivarchar2list('CREATE SESSION', 'CREATE TABLE', 'CREATE SEQUENCE',
                                              'CREATE PROCEDURE', 'CREATE VIEW', 'CREATE TYPE',
                                              'CREATE JOB',
                                              -- Scheduler chains: CREATE_CHAIN makes a rule set and
                                              -- an evaluation context, DEFINE_CHAIN_RULE a rule.
                                              'CREATE RULE', 'CREATE RULE SET',
                                              'CREATE EVALUATION CONTEXT'))) loop
    exec('grant ' || p.priv || ' to ' || l_quoted);
  end loop;
  exec('grant execute on sys.dbms_aq to ' || l_quoted);
  exec('grant execute on sys.dbms_aqadm to ' || l_quoted);
  exec('alter user ' || l_quoted || ' quota unlimited on '
       || dbms_assert.enquote_name(l_tablespace, false));

  begin
    exec('create role otask_user_role');
  exception
    when e_role_exists then
      dbms_output.put_line('role OTASK_USER_ROLE exists already');
  end;
  -- A role holder's sensor dequeues completion events itself (an anonymous block in its own
  -- session, where role privileges count): it needs DBMS_AQ, which PUBLIC need not have.
  -- Install grants the role DEQUEUE on OTASK_EVENTS and EXECUTE on the payload type.
  exec('grant execute on sys.dbms_aq to otask_user_role');
  dbms_output.put_line('Done. Now install as ' || l_owner || ' (oracle-tasks install), then '
    || 'grant OTASK_USER_ROLE to the users who submit work.');
end;
/

-- E-23: leave the DBA's SQL*Plus session as SQL*Plus starts it (the settings above were only
-- for this script).
whenever sqlerror continue none
set verify on

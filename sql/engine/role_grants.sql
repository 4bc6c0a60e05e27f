-- Grants for OTASK_USER_ROLE (created by a DBA with sql/grants.sql): submit and watch work
-- without owning the schema. SECURITY: OTASK runs task SQL as the owner, so a holder of this
-- role can run any SQL with the owner's privileges (docs/engine.md, "Security").
-- Each grant is made once (checked in USER_TAB_PRIVS_MADE), so a second install changes nothing.
declare
  l_role constant varchar2(30) := 'OTASK_USER_ROLE';

  function granted(p_object varchar2, p_privilege varchar2) return boolean is
    l_count pls_integer;
  begin
    select count(*) into l_count
      from user_tab_privs_made
     where grantee = l_role and table_name = p_object and privilege = p_privilege;
    return l_count > 0;
  end granted;

  procedure grant_once(p_object varchar2, p_privilege varchar2) is
  begin
    if not granted(p_object, p_privilege) then
      otask_install.grant_to_role(p_object, p_privilege);
    end if;
  end grant_once;
begin
  grant_once('OTASK', 'EXECUTE');
  grant_once('OTASK_INSTANCES_V', 'SELECT');
  grant_once('OTASK_TASKS_V', 'SELECT');
  grant_once('OTASK_WORKERS_V', 'SELECT');
  -- Sensors of a role holder dequeue completion events: the payload type and the queue.
  grant_once('OTASK_EVENT_T', 'EXECUTE');
  if not granted('OTASK_EVENTS', 'DEQUEUE') then
    begin
      dbms_aqadm.grant_queue_privilege(
        privilege    => 'DEQUEUE',
        queue_name   => 'OTASK_EVENTS',
        grantee      => l_role,
        grant_option => false);
      dbms_output.put_line('granted DEQUEUE on OTASK_EVENTS to ' || l_role);
    exception
      when others then
        -- Same rule as otask_install.grant_to_role: the role is optional, install goes on.
        dbms_output.put_line('note: DEQUEUE on OTASK_EVENTS was not granted to ' || l_role
          || ' (' || sqlerrm || '). Create the role with sql/grants.sql, then run install again.');
    end;
  end if;
end;
/

create or replace package otask_build authid definer as
  -- Input checks and task creation: ad-hoc tasks (one, or thousands from a JSON array) and
  -- tasks generated from task definitions. Internal: called by OTASK.
  --
  -- Rule 10: caller-supplied identifiers (taskspace, job class, bind names) go through
  -- DBMS_ASSERT; values produced by a definition's source query are stored in OTASK_TASK_BINDS
  -- and BOUND when the task runs, never pasted into the task's SQL text.

  -- ---- checks: each raises a documented ORA-201xx naming the argument and the fix ----------
  -- Upper-cased simple SQL name (DBMS_ASSERT.SIMPLE_SQL_NAME, no quotes), at most 128 chars.
  function checked_taskspace(p_api varchar2, p_taskspace varchar2) return varchar2;
  -- NULL, or an existing job class the owner may use (name of SYS.<class>, upper case).
  function checked_job_class(p_api varchar2, p_job_class varchar2) return varchar2;
  -- An integer within [p_min, p_max] (NULL allowed only when p_null_ok).
  function checked_int(
    p_api     varchar2,
    p_what    varchar2,
    p_value   number,
    p_min     number,
    p_max     number,
    p_null_ok boolean     default false,
    p_code    pls_integer default otask.c_invalid_argument) return number;
  -- 'Y' or 'N' (case-insensitive).
  function checked_flag(p_api varchar2, p_what varchar2, p_value varchar2) return varchar2;
  -- Text of at most p_max characters (NULL allowed unless p_required).
  function checked_text(
    p_api      varchar2,
    p_what     varchar2,
    p_value    varchar2,
    p_max      pls_integer,
    p_required boolean default false) return varchar2;
  -- Non-blank SQL text.
  procedure check_sql(p_api varchar2, p_what varchar2, p_sql clob);
  -- A query (starts with SELECT or WITH): source queries are executed, never any other kind.
  procedure check_query(p_api varchar2, p_what varchar2, p_sql clob);

  -- ---- taskspaces ---------------------------------------------------------------------------
  -- Creates the taskspace row when missing, in the caller's transaction (E-13: a rejected or
  -- rolled-back call leaves no taskspace behind). Two callers that first use the same NEW
  -- taskspace at the same moment: the second waits until the first one's transaction ends.
  procedure ensure_taskspace(p_taskspace varchar2);

  -- ---- tasks (the instance row is locked by the caller; nothing here commits) ---------------
  -- READY when the instance runs and the group is open already, else WAITING (also after a
  -- final failure with stop_on_error 'Y': such a task is skipped, never started).
  function initial_state(p_inst otask_instances%rowtype, p_group number) return varchar2;

  function add_task(
    p_inst      otask_instances%rowtype,
    p_sql       clob,
    p_name      varchar2,
    p_group     number,
    p_priority  number,
    p_retries   number,
    p_binds     clob) return number;

  -- p_tasks: JSON array of {"sql", "name", "group", "priority", "retries", "binds"}; all or
  -- nothing (ORA-20109 names the element and the key at fault). Returns the count added.
  function add_tasks(p_inst otask_instances%rowtype, p_tasks clob) return number;

  -- One task per enabled definition of the instance's taskspace, or one per row of its source
  -- query (binds :p1..:pn and :<column alias>, except aliases shaped like Pn, which would clash
  -- with the positional names). An empty source query adds no task. Returns the
  -- count added; ORA-20108 names the definition whose query failed.
  function expand_definitions(p_inst otask_instances%rowtype) return number;
end otask_build;
/

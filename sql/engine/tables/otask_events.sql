-- The completion event: when an instance closes, the worker that closes it enqueues one
-- OTASK_EVENT_T message on the multi-consumer queue OTASK_EVENTS in the same transaction as the
-- final state, so a waiting sensor can wake at once (blocking dequeue) instead of polling.
--
-- Payload: an object type, because the JSON payload type needs 21c and the engine targets 19c.
-- Times are UTC (TIMESTAMP without zone keeps the type simple for every client).
-- Correlation of each message = the instance id (TO_CHAR), so a consumer can dequeue exactly
-- the instance it waits for. Messages expire (see OTASK_NOTIFY) so nothing piles up.
begin
  otask_install.ensure_object('TYPE', 'OTASK_EVENT_T', q'[
    create type otask_event_t as object (
      event_type       varchar2(30),
      instance_id      number,
      taskspace        varchar2(128),
      state            varchar2(16),
      run_key          varchar2(512),
      dag_id           varchar2(250),
      run_id           varchar2(250),
      airflow_task_id  varchar2(250),
      total_tasks      number,
      succeeded_tasks  number,
      failed_tasks     number,
      skipped_tasks    number,
      stopped_tasks    number,
      close_count      number,
      event_time_utc   timestamp(6)
    )]');
  otask_install.ensure_queue(
    p_queue_table        => 'OTASK_EVENTS_QT',
    p_queue              => 'OTASK_EVENTS',
    p_payload_type       => 'OTASK_EVENT_T',
    p_multiple_consumers => true,
    p_retention_seconds  => 0,
    p_comment            => 'oracle-tasks: one message per instance close (OTASK_EVENT_T)');
end;
/
-- The default subscriber. A multi-consumer queue refuses a message that has no recipient
-- (ORA-24033), so the engine needs at least one subscriber; OTASK_WATCH is the one the
-- provider's sensors and triggers dequeue as (by correlation = instance id). DBAs may add their
-- own subscribers with DBMS_AQADM.ADD_SUBSCRIBER: each gets its own copy of every event.
declare
  e_subscriber_exists exception;
  pragma exception_init(e_subscriber_exists, -24034);  -- E-18: added by a concurrent install
  l_count pls_integer;
begin
  select count(*) into l_count
    from user_queue_subscribers
   where queue_name = 'OTASK_EVENTS' and consumer_name = 'OTASK_WATCH';
  if l_count = 0 then
    dbms_aqadm.add_subscriber(
      queue_name => 'OTASK_EVENTS',
      subscriber => sys.aq$_agent('OTASK_WATCH', null, null));
    dbms_output.put_line('added subscriber OTASK_WATCH to queue OTASK_EVENTS');
  end if;
exception
  when e_subscriber_exists then
    null;
end;
/

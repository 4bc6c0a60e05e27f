create or replace package body otask_notify as

  procedure instance_closed(p_instance_id number) is
    l_inst    otask_instances%rowtype;
    l_options dbms_aq.enqueue_options_t;
    l_props   dbms_aq.message_properties_t;
    l_msgid   raw(16);
  begin
    select * into l_inst from otask_instances where instance_id = p_instance_id;
    l_options.visibility := dbms_aq.on_commit;  -- part of the closing transaction
    l_props.correlation  := to_char(p_instance_id);
    l_props.expiration   := c_expiration_seconds;
    dbms_aq.enqueue(
      queue_name         => c_queue,
      enqueue_options    => l_options,
      message_properties => l_props,
      payload            => otask_event_t(
                              'INSTANCE_CLOSED',
                              l_inst.instance_id,
                              l_inst.taskspace,
                              l_inst.state,
                              l_inst.run_key,
                              l_inst.dag_id,
                              l_inst.run_id,
                              l_inst.airflow_task_id,
                              l_inst.closed_total,
                              l_inst.closed_succeeded,
                              l_inst.closed_failed,
                              l_inst.closed_skipped,
                              l_inst.closed_stopped,
                              l_inst.close_count,
                              sys_extract_utc(systimestamp)),
      msgid              => l_msgid);
  exception
    when others then
      otask_logger.warn('completion event of instance ' || p_instance_id || ' was not enqueued on '
        || c_queue || ': ' || sqlerrm || '. The instance is closed anyway and sensors see it on '
        || 'their next status poll. Fix: check USER_QUEUES (enqueue_enabled) and that queue '
        || c_queue || ' has subscriber ' || c_subscriber || ' (re-run install).', p_instance_id);
  end instance_closed;

  procedure purge_expired(p_before timestamp with time zone) is
    l_options dbms_aqadm.aq$_purge_options_t;
  begin
    l_options.block := false;
    -- The condition is built from a date this package formats itself, never from caller text.
    dbms_aqadm.purge_queue_table(
      queue_table     => c_queue_table,
      purge_condition => 'qtview.msg_state = ''EXPIRED'' and qtview.enq_time < to_date('''
                         || to_char(sys_extract_utc(p_before), 'YYYY-MM-DD HH24:MI:SS')
                         || ''', ''YYYY-MM-DD HH24:MI:SS'')',
      purge_options   => l_options);
  exception
    when others then
      otask_logger.warn('expired events in ' || c_queue_table || ' were not purged: ' || sqlerrm
        || '. They are harmless; purge them with DBMS_AQADM.PURGE_QUEUE_TABLE.');
  end purge_expired;
end otask_notify;
/

-- oracle-tasks engine: tables, sequences, the event payload type and the event queue.
--
-- Included by install.sql after the install helper OTASK_INSTALL exists. Every object is
-- created through otask_install.ensure_*, which looks in the dictionary first: a second install
-- creates nothing, and a table that exists is never re-created (schema changes of later
-- releases go to upgrade/vNNN.sql as ensure_column / ensure_constraint calls).
--
-- Order matters only for foreign keys: taskspaces, then the tables that reference them.
@@tables/otask_sequences.sql
@@tables/otask_taskspaces.sql
@@tables/otask_task_defs.sql
@@tables/otask_instances.sql
@@tables/otask_tasks.sql
@@tables/otask_task_binds.sql
@@tables/otask_workers.sql
@@tables/otask_log.sql
@@tables/otask_events.sql

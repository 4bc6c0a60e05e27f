"""common.sql twins of the example DAGs for ``benchmarks/dag_parse_time.py`` (not DAGs of the provider).

Each file builds the same DAG as ``example_dags/<same name>`` (same tasks, dependencies and database
calls) with ``SQLExecuteQueryOperator`` and ``SqlSensor`` of apache-airflow-providers-common-sql,
as a user could write it without this provider. They are parsed, never run.
"""

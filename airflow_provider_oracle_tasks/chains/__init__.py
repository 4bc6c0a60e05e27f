"""Oracle Scheduler job chains: the typed chain spec and its steps, rule conditions, stall
analysis, the idempotent sync into DBMS_SCHEDULER, chain jobs, status reads and the privilege
check.

Domain: imports only the shared layer (``db``, ``errors``, ``validation``); no Airflow.
"""

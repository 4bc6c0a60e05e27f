"""Python face of the in-database task engine (sql/engine, package ``OTASK``): one function per
entry point with binds (``api``), the ORA-201xx error types (``errors``), the batched status
read of many instances (``status``).

Domain: imports only the shared layer (``db``, ``errors``, ``validation``); no Airflow.
"""

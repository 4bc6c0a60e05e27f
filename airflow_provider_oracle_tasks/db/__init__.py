"""Database plumbing every layer shares: connect arguments from an Airflow connection, the
async pool of the triggers, transient-error retry and ORA-code descriptions, bind helpers.

Shared layer: imports only ``errors`` and ``validation`` of this package (and python-oracledb).
"""

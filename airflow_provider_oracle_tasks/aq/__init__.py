"""Oracle Advanced Queuing: queue and consumer names, payload kinds and their encoding,
message ids, and the queues themselves (create idempotently, open, enqueue).

Domain: imports only the shared layer (``db``, ``errors``, ``validation``); no Airflow.
"""

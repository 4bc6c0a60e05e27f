"""Airflow triggers (public import paths, stored by Airflow as classpaths: never move them).

The underscored modules are the triggerer-side machinery the triggers share: one poller per
connection id and event loop (``_shared_poller``), the instance and chain watchers.
"""

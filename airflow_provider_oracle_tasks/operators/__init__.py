"""Airflow operators (public import paths). Thin: check arguments, make one engine, Scheduler
or AQ call through the hook, defer to a trigger when waiting.
"""

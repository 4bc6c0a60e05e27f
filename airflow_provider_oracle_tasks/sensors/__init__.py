"""Airflow sensors (public import paths): poke once, then defer to a trigger."""

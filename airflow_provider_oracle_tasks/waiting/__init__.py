"""What the Airflow face shares for waiting tasks: argument checks at parse time, progress
logging, the non-deferrable polling loop, and the stop on a deferral timeout.

Part of the Airflow face (used by operators, sensors and triggers); may import the hook, the
domains and the shared layer. Cheap to import: DAG files import it while they are parsed.
"""

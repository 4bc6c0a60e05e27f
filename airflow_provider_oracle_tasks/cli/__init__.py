"""``oracle-tasks``, the command line for DBAs: install, check, grants, and watch and regulate
instances (status --watch with the live view, threads, stop, retry, purge).

A front end beside the Airflow face: may import the hook, the domains and the shared layer;
nothing in the package imports it (the console script calls ``cli.main.main``).
"""

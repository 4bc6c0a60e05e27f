"""Installing the engine: the installer (install, upgrade, dry run, uninstall, grants) and the
SQL*Plus-compatible script lexer, parser and runner that send the very files in sql/.

Domain: imports only the shared layer (``db``, ``errors``, ``validation``); no Airflow.
"""

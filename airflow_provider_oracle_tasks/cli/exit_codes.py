"""Exit codes of ``oracle-tasks`` (documented in ``--help`` and docs/cli.md); one place, so the
entry point and the engine commands agree without importing each other."""

EXIT_OK = 0
EXIT_ERROR = 1  # database, script or engine error (ORA-201xx with the engine's message)
EXIT_USAGE = 2
EXIT_PRIVILEGES = 3
EXIT_VERSION = 4  # wrong schema, or an installed schema newer than this package
EXIT_CONNECT = 5
EXIT_UNKNOWN_INSTANCE = 6
EXIT_INSTANCE_FAILED = 7  # ``status ID``: the instance ended FAILED or STOPPED
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT: scripts can tell "left" from "finished"

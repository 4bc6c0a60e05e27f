"""Airflow provider that hands parallel batches, Scheduler chains and AQ waits to Oracle Database.

This module must stay cheap to import: Airflow calls ``get_provider_info`` while discovering
providers, so nothing here imports ``oracledb`` or Airflow.
"""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"

_PACKAGE = "airflow_provider_oracle_tasks"


def get_provider_info() -> dict:
    """Describe the provider to Airflow's provider manager (``airflow providers list``)."""
    info = {
        "package-name": "airflow-provider-oracle-tasks",
        "name": "Oracle Tasks",
        "description": (
            "Operators, sensors and triggers that let Oracle Database run parallel batches "
            "(Oracle Scheduler workers), Scheduler chains and AQ event waits while Airflow orchestrates."
        ),
        "versions": [__version__],
        "project-urls": {
            "Documentation": "https://github.com/oracle-tasks/airflow-provider-oracle-tasks#readme",
        },
        "hooks": [
            {
                "integration-name": "Oracle Tasks",
                "python-modules": [f"{_PACKAGE}.hooks.task_manager"],
            }
        ],
        "operators": [
            {
                "integration-name": "Oracle Tasks",
                "python-modules": [
                    f"{_PACKAGE}.operators.task_manager",
                    f"{_PACKAGE}.operators.chain",
                    f"{_PACKAGE}.operators.aq",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Oracle Tasks",
                "python-modules": [
                    f"{_PACKAGE}.sensors.task_manager",
                    f"{_PACKAGE}.sensors.chain",
                    f"{_PACKAGE}.sensors.aq",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Oracle Tasks",
                "python-modules": [
                    f"{_PACKAGE}.triggers.task_manager",
                    f"{_PACKAGE}.triggers.chain",
                    f"{_PACKAGE}.triggers.aq",
                ],
            }
        ],
        "extra-links": [
            f"{_PACKAGE}.links.OracleTaskManagerInstanceLink",
            f"{_PACKAGE}.links.OracleSchedulerChainLink",
        ],
        "integrations": [
            {
                "integration-name": "Oracle Tasks",
                "external-doc-url": "https://github.com/oracle-tasks/airflow-provider-oracle-tasks#readme",
                "tags": ["software"],
            }
        ],
    }
    if _has_common_messaging():  # the [messaging] extra: Oracle AQ for MessageQueueTrigger
        info["queues"] = [f"{_PACKAGE}.triggers.aq_message_queue.OracleAQMessageQueueProvider"]
    return info


def _has_common_messaging() -> bool:
    """Whether apache-airflow-providers-common-messaging is installed (metadata only, no import)."""
    try:
        metadata.version("apache-airflow-providers-common-messaging")
    except metadata.PackageNotFoundError:
        return False
    return True

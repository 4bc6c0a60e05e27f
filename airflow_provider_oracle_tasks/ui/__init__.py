"""The Airflow UI plugin: live pages of one batch, one taskspace and one chain job, and the controls.

Nothing in the package imports this subpackage except the ``airflow.plugins`` entry point
(:mod:`.plugin`), so ``import airflow_provider_oracle_tasks`` stays cheap and FastAPI is loaded
only by the API server. See docs/ui.md.
"""

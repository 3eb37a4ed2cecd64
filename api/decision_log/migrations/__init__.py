"""Alembic migrations of the decision log, run programmatically (api.decision_log.database.migrate)."""

"""Database access: engine and sessions, models, Alembic migrations."""

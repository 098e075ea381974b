"""Alembic migrations: the only writer of the schema."""

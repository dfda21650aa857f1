"""Alembic environment of the service's state, run programmatically by `service.stores.migrate` (no
alembic.ini): the connection comes in `config.attributes["connection"]`, already in a transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

# Any constant shared by every process of the service: the advisory lock N workers queue on.
ADVISORY_LOCK = 7_151_514_015

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

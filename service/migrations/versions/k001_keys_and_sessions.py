"""API keys and browser sessions (keys.db on SQLite). A key file written before the migrations (no
`alembic_version`, perhaps without `expires_at` and `origin`) is brought up to date: only what is missing
is created, its keys are kept.

Revision ID: k001
Branch: keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k001"
down_revision = None
branch_labels = ("keys",)
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "api_keys" not in tables:
        op.create_table(
            "api_keys",
            sa.Column("key_id", sa.Text, primary_key=True),
            sa.Column("key_hash", sa.Text, nullable=False, unique=True),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("chamber", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("revoked_at", sa.Text),
            sa.Column("expires_at", sa.Text),
            sa.Column("origin", sa.Text),
        )
    else:  # key files written before keys could expire
        present = {column["name"] for column in inspector.get_columns("api_keys")}
        for name in ("expires_at", "origin"):
            if name not in present:
                op.add_column("api_keys", sa.Column(name, sa.Text))
    if "sessions" not in tables:
        op.create_table(
            "sessions",
            sa.Column("token_hash", sa.Text, primary_key=True),
            sa.Column("key_id", sa.Text, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("api_keys")

"""Audit log (audit.db on SQLite). An audit file written before the migrations keeps its entries. On
PostgreSQL an identity column orders the entries (SQLite has its rowid).

Revision ID: a001
Branch: audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a001"
down_revision = None
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "audit" in sa.inspect(bind).get_table_names():
        return
    order = (
        []
        if bind.dialect.name == "sqlite"
        else [sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)]
    )
    op.create_table(
        "audit",
        *order,
        sa.Column("at", sa.Text),
        sa.Column("key_id", sa.Text),
        sa.Column("chamber", sa.Text),
        sa.Column("route", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("version", sa.Text),
        sa.Column("rows", sa.Integer),
        sa.Column("status", sa.Integer),
        sa.Column("latency_ms", sa.Float),
    )
    if bind.dialect.name != "sqlite":
        op.create_index("audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_table("audit")

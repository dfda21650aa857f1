"""Rate-limit counters (ratelimit.db on SQLite): one row per bucket name and one-minute window, counted by
an atomic UPSERT. The token buckets of earlier versions (table `buckets`) are dropped: the limits start
afresh once, at the upgrade.

Revision ID: r001
Branch: rate_limit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r001"
down_revision = None
branch_labels = ("rate_limit",)
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "buckets" in tables:
        op.drop_table("buckets")
    if "rate_windows" not in tables:
        op.create_table(
            "rate_windows",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("hits", sa.Integer, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("rate_windows")

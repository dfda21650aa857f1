"""Monitoring (monitoring.db on SQLite): what was scored, free of personal data, and the outcomes that came
back, joined to it by the prediction id.

- `predictions`: one row per record scored (role `champion`, and `challenger` for a shadow score under the
  same prediction id): model, version, the chamber of the key that scored it (outcomes are joined within
  it), when, the record's scoring date (`as_of`, a date), the month it
  counts in (`period`), the pseudonymous record key (HMAC of its identifier), the probability, the bins of
  its inputs (the indices of the reference profile's bins, never the values) and its groups (département,
  NAF section, the model card's groups).
- `outcomes`: what happened after a score (1/0, when, the action taken), sent by agents or read from a
  file, with the sender's chamber; `prediction_id` is the prediction it was joined to, null for an outcome
  none was found for (kept and counted, never lost): its `claimed_id` (the id it gave) is joined again
  when it is read, once the prediction is there (a score kept after its outcome came, by another worker).
- `monitoring_secret`: the deployment's secret of the record keys when `CMA_PSEUDONYM_KEY` is not set (one
  row, made at the first start, shared by every worker).

Revision ID: m001
Branch: monitoring
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "m001"
down_revision = None
branch_labels = ("monitoring",)
depends_on = None


def _order() -> sa.Column[int]:
    """An increasing row number (SQLite's INTEGER PRIMARY KEY is its rowid)."""
    if op.get_bind().dialect.name == "sqlite":
        return sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True)
    return sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True)


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "predictions" not in tables:
        op.create_table(
            "predictions",
            _order(),
            sa.Column("prediction_id", sa.Text, nullable=False),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("version", sa.Text, nullable=False),
            sa.Column("scored_at", sa.Text, nullable=False),
            sa.Column("as_of", sa.Text),
            sa.Column("period", sa.Text, nullable=False),
            sa.Column("record_key", sa.Text),
            sa.Column("probability", sa.Float, nullable=False),
            sa.Column("band", sa.Text),
            sa.Column("score_bin", sa.Integer),
            sa.Column("bins", sa.Text),
            sa.Column("groups", sa.Text),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("chamber", sa.Text),
            sa.UniqueConstraint("prediction_id", "role", name="predictions_id_role"),
        )
        op.create_index("predictions_model", "predictions", ["model", "role", "version", "seq"])
        op.create_index("predictions_key", "predictions", ["model", "record_key"])
    if "outcomes" not in tables:
        op.create_table(
            "outcomes",
            _order(),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("prediction_id", sa.Text),
            sa.Column("claimed_id", sa.Text),
            sa.Column("record_key", sa.Text),
            sa.Column("outcome", sa.Integer, nullable=False),
            sa.Column("outcome_date", sa.Text),
            sa.Column("action", sa.Text),
            sa.Column("received_at", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("key_id", sa.Text),
            sa.Column("chamber", sa.Text),
        )
        op.create_index("outcomes_prediction", "outcomes", ["prediction_id"])
        op.create_index("outcomes_claimed", "outcomes", ["claimed_id"])
    if "monitoring_secret" not in tables:
        table = op.create_table(
            "monitoring_secret",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("secret", sa.Text, nullable=False),
        )
        op.bulk_insert(table, [{"id": 1, "secret": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("monitoring_secret")
    op.drop_table("outcomes")
    op.drop_table("predictions")

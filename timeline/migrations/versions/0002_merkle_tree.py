"""The log's Merkle tree (RFC 9162) replaces the linear hash chain: leaves and nodes tables,
the leaves of an existing log added in position order, the chain table dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVENTS = "timeline_events"
POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    if "timeline_log_leaves" not in have:
        op.create_table(
            "timeline_log_leaves",
            sa.Column("position", POSITION, primary_key=True, autoincrement=False),
            sa.Column("leaf_index", sa.BigInteger(), nullable=False, unique=True),
            sa.Column("stream", sa.String(240), nullable=False),
            sa.Column("salt", sa.LargeBinary(16), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("root", sa.LargeBinary(32), nullable=False),
        )
        op.create_index(
            "ix_timeline_log_leaves_recorded_at", "timeline_log_leaves", ["recorded_at", "position"]
        )
    if "timeline_log_nodes" not in have:
        op.create_table(
            "timeline_log_nodes",
            sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
            sa.Column("hash", sa.LargeBinary(32), nullable=False),
        )
    if EVENTS in have and "timeline_streams" in have:
        # An existing log gets its leaves now, so that `timeline verify` and proofs cover it.
        from timeline import integrity, store

        events = sa.Table(EVENTS, sa.MetaData(), autoload_with=bind)
        integrity.backfill(bind, events, store.streams)
    if "timeline_log_hashes" in have:
        op.drop_table("timeline_log_hashes")


def downgrade() -> None:
    raise NotImplementedError("the hash chain cannot be restored from the tree")

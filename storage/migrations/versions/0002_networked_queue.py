"""Networked queue: replies waiting for workers (an outbox) and the workers' stored answers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_replies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_external_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("reply_to", sa.String(255), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("job_ids", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("frontend", sa.String(32), nullable=False),
        sa.Column("delivered", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_replies"),
    )
    op.create_index("ix_pending_replies_frontend", "pending_replies", ["frontend"])
    op.create_index("ix_pending_replies_delivered", "pending_replies", ["delivered"])
    op.create_index("ix_pending_replies_created_at", "pending_replies", ["created_at"])
    op.create_table(
        "job_results",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_results"),
    )
    op.create_index("ix_job_results_created_at", "job_results", ["created_at"])


def downgrade() -> None:
    op.drop_table("job_results")
    op.drop_table("pending_replies")

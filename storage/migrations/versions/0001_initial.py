"""Initial schema: chats, images, turns, message links and user settings.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE_IMAGE_FK = "fk_chats_active_image_id_images"


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("conversation", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active_image_id", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        # chats and images point at each other. A database with ALTER skips this use_alter key
        # here and gets it below, once images exists; SQLite writes it inline, as it may name
        # a table created later.
        sa.ForeignKeyConstraint(
            ["active_image_id"], ["images.id"], name=ACTIVE_IMAGE_FK, ondelete="SET NULL", use_alter=True
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        sa.UniqueConstraint("platform", "external_id", name="uq_chats_platform_external_id"),
    )
    op.create_index("ix_chats_active_image_id", "chats", ["active_image_id"])

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_images_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("chat_id", "content_hash", name="uq_images_chat_id_content_hash"),
    )
    op.create_index("ix_images_created_at", "images", ["created_at"])
    if op.get_context().dialect.supports_alter:
        op.create_foreign_key(
            ACTIVE_IMAGE_FK, "chats", "images", ["active_image_id"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("conversation", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name="fk_turns_chat_id_chats", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name="fk_turns_image_id_images", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
    )
    op.create_index("ix_turns_chat_id", "turns", ["chat_id"])
    op.create_index("ix_turns_image_id", "turns", ["image_id"])
    op.create_index("ix_turns_created_at", "turns", ["created_at"])

    op.create_table(
        "message_images",
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_message_images_chat_id_chats", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name="fk_message_images_image_id_images", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "message_id", name="pk_message_images"),
    )
    op.create_index("ix_message_images_image_id", "message_images", ["image_id"])

    op.create_table(
        "user_settings",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("settings", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "user_id", name="pk_user_settings"),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
    op.drop_table("message_images")
    op.drop_table("turns")
    if op.get_context().dialect.supports_alter:
        op.drop_constraint(ACTIVE_IMAGE_FK, "chats", type_="foreignkey")
    op.drop_table("images")
    op.drop_table("chats")

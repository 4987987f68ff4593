"""invite links and guests: invite_links, guests, chat_messages.guest_id

A teacher's invite link for one class (schedule_id NULL) or one occurrence; only the hashes
of its token and access code are stored. A guest is the person who came in through a link:
their own session token's hash, and their place in the waiting room (guests always wait).

Revision ID: 0009_invite_links_guests
Revises: 0008_accounts_room_settings
Create Date: 2026-12-01 14:50:00

"""

import sqlalchemy as sa
from alembic import op

import portal.core.types

# revision identifiers, used by Alembic.
revision = "0009_invite_links_guests"
down_revision = "0008_accounts_room_settings"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invite_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=True),
        sa.Column("viewer_only", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("expires_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_invite_links_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_invite_links_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_invite_links_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invite_links_token_hash")),
    )
    with op.batch_alter_table("invite_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_links_class_id"), ["class_id"], unique=False)
    op.create_table(
        "guests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invite_link_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("requested_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("decided_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("left_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status in ('new', 'waiting', 'admitted', 'refused')", name=op.f("ck_guests_status")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_guests_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invite_link_id"],
            ["invite_links.id"],
            name=op.f("fk_guests_invite_link_id_invite_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_guests_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guests")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_guests_session_hash")),
    )
    with op.batch_alter_table("guests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guests_invite_link_id"), ["invite_link_id"], unique=False
        )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guest_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_chat_messages_guest_id_guests"),
            "guests",
            ["guest_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_chat_messages_guest_id_guests"), type_="foreignkey")
        batch_op.drop_column("guest_id")
    with op.batch_alter_table("guests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guests_invite_link_id"))
    op.drop_table("guests")
    with op.batch_alter_table("invite_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_links_class_id"))
    op.drop_table("invite_links")

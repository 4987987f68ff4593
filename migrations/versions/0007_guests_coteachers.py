"""class staff (co-teachers, assistants), the per-class waiting room and its lobby

Revision ID: 0007_guests_coteachers
Revises: 0006_rec_assembly_visibility
Create Date: 2026-12-01 13:30:00

"""

import sqlalchemy as sa
from alembic import op

import portal.core.types

# revision identifiers, used by Alembic.
revision = "0007_guests_coteachers"
down_revision = "0006_rec_assembly_visibility"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "class_staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("role in ('co_teacher', 'assistant')", name=op.f("ck_class_staff_role")),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_class_staff_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_class_staff_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_class_staff_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_staff")),
        sa.UniqueConstraint("class_id", "user_id", name=op.f("uq_class_staff_class_id_user_id")),
    )
    with op.batch_alter_table("class_staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_class_staff_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("waiting_room", sa.Boolean(), server_default="0", nullable=False)
        )
    op.create_table(
        "lobby_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("requested_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.Column("decided_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status in ('waiting', 'admitted', 'refused')", name=op.f("ck_lobby_entries_status")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_lobby_entries_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_lobby_entries_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lobby_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lobby_entries")),
        sa.UniqueConstraint(
            "schedule_id", "user_id", name=op.f("uq_lobby_entries_schedule_id_user_id")
        ),
    )


def downgrade():
    op.drop_table("lobby_entries")
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.drop_column("waiting_room")
    with op.batch_alter_table("class_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_class_staff_user_id"))
    op.drop_table("class_staff")

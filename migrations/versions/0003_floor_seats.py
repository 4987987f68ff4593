"""floor seats: raised hands and microphone/camera/screen grants per class occurrence

Revision ID: 0003_floor_seats
Revises: 0002_token_generation
Create Date: 2026-12-01 10:10:00

"""

import sqlalchemy as sa
from alembic import op

import portal.core.types

# revision identifiers, used by Alembic.
revision = "0003_floor_seats"
down_revision = "0002_token_generation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "floor_seats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("hand_raised_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.Column("mic", sa.Boolean(), nullable=False),
        sa.Column("camera", sa.Boolean(), nullable=False),
        sa.Column("screen", sa.Boolean(), nullable=False),
        sa.Column("mic_muted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_floor_seats_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_floor_seats_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_floor_seats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floor_seats")),
        sa.UniqueConstraint(
            "schedule_id", "user_id", name=op.f("uq_floor_seats_schedule_id_user_id")
        ),
    )


def downgrade():
    op.drop_table("floor_seats")

"""presentations and whiteboard strokes per class occurrence; slides keep their content hash

Revision ID: 0005_presentation_board
Revises: 0004_channel_preferences
Create Date: 2026-12-01 13:30:00

"""

import sqlalchemy as sa
from alembic import op

import portal.core.types

# revision identifiers, used by Alembic.
revision = "0005_presentation_board"
down_revision = "0004_channel_preferences"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("slides") as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "live_presentations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("slide_id", sa.Integer(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("board_pages", sa.Integer(), nullable=False),
        sa.Column("co_presenting", sa.Boolean(), nullable=False),
        sa.Column("updated_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_live_presentations_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slide_id"],
            ["slides.id"],
            name=op.f("fk_live_presentations_slide_id_slides"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_live_presentations_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_presentations")),
        sa.UniqueConstraint("schedule_id", name=op.f("uq_live_presentations_schedule_id")),
    )
    op.create_table(
        "board_strokes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("slide_id", sa.Integer(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_board_strokes_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slide_id"],
            ["slides.id"],
            name=op.f("fk_board_strokes_slide_id_slides"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_board_strokes_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_strokes")),
    )
    op.create_index(
        "ix_board_strokes_surface", "board_strokes", ["schedule_id", "slide_id", "page"]
    )


def downgrade():
    op.drop_index("ix_board_strokes_surface", table_name="board_strokes")
    op.drop_table("board_strokes")
    op.drop_table("live_presentations")
    with op.batch_alter_table("slides") as batch_op:
        batch_op.drop_column("content_sha256")

"""poll and floor revisions: polls.revision and floor_states.revision

A room page receives polls and the floor from its join ack, pushes and REST refreshes, which
can arrive in another order than they were computed; it keeps the newest
(portal/core/polls.py, portal/core/floor.py). A poll's revision grows with the teacher's
changes (not with votes); an occurrence's floor revision with every change of a seat.

Revision ID: 0014_poll_floor_revisions
Revises: 0013_presentation_revision
Create Date: 2026-12-02 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_poll_floor_revisions"
down_revision = "0013_presentation_revision"
branch_labels = None
depends_on = None


def upgrade():
    # Existing polls start at 1, as new ones do; the pages hold no revision across a deploy.
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "floor_states",
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_floor_states_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_floor_states")),
    )


def downgrade():
    op.drop_table("floor_states")
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.drop_column("revision")

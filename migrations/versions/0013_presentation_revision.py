"""presentation revision: live_presentations.revision, raised by every change of the row

A room page receives the presentation state from its join ack, pushes and REST refreshes,
which can arrive in another order than they were computed; it keeps the state with the
highest revision (portal/core/presentations.py).

Revision ID: 0013_presentation_revision
Revises: 0012_class_totals
Create Date: 2026-12-02 07:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_presentation_revision"
down_revision = "0012_class_totals"
branch_labels = None
depends_on = None


def upgrade():
    # A row that exists has been presented at least once: 1 orders it after the state of
    # an occurrence with nothing presented (0).
    with op.batch_alter_table("live_presentations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE live_presentations SET revision = 1")


def downgrade():
    with op.batch_alter_table("live_presentations", schema=None) as batch_op:
        batch_op.drop_column("revision")

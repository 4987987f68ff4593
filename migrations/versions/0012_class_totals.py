"""class totals: class_totals, the number of active classes kept beside them

The admin's unfiltered class list (every class of the school) read its page total with a
count over all classes on every request; it now reads this one row, which the transaction
that creates or cancels a class keeps up to date (portal/core/class_totals.py).

Revision ID: 0012_class_totals
Revises: 0011_user_locale
Create Date: 2026-12-01 19:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_class_totals"
down_revision = "0011_user_locale"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "class_totals",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_totals")),
    )
    # Nothing else runs during a migration: the count is exact.
    op.execute(
        "INSERT INTO class_totals (id, active) "
        "SELECT 1, count(*) FROM classes WHERE status = 'active'"
    )


def downgrade():
    op.drop_table("class_totals")

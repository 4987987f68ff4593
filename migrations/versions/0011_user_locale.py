"""user locale: users.locale, the user's own language

NULL means automatic: the browser's Accept-Language, else the site's default language.

Revision ID: 0011_user_locale
Revises: 0010_privacy
Create Date: 2026-12-01 16:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_user_locale"
down_revision = "0010_privacy"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("locale")

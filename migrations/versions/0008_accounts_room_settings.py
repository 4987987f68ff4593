"""accounts and room settings: users.account_status, classes.room_settings

users.account_status says why an inactive account is inactive when it is not simply
disabled: "invited" (waits for the invitee to set a password), "pending" (a sign-up waiting
for an administrator), "refused" (a sign-up an administrator turned down). NULL for every
ordinary account. classes.room_settings holds the per-class room settings (NULL: the site
defaults apply).

Revision ID: 0008_accounts_room_settings
Revises: 0007_guests_coteachers
Create Date: 2026-12-01 13:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_accounts_room_settings"
down_revision = "0007_guests_coteachers"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_status", sa.String(length=16), nullable=True))
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room_settings", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.drop_column("room_settings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("account_status")

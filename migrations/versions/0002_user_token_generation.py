"""users.token_generation: end every session of a user at once

Tokens carry the generation they were issued under; a password change or a deactivation
raises it, so every earlier access and refresh token is refused (portal/core/auth_tokens.py).

Revision ID: 0002_token_generation
Revises: 0001
Create Date: 2026-12-01 10:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_token_generation"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_generation")

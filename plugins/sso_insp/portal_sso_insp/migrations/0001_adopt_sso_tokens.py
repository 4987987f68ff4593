"""sso_insp owns sso_tokens: create it where it does not exist yet.

The table was created by the core's first revision (0001) while the model lived in the
core, so every existing install already has it, with rows that must survive: this revision
adopts it as it is. An install whose core history no longer creates it gets it here.
Downgrade leaves the table alone for the same reason (the core's 0001 downgrade drops it).

Revision ID: sso_insp_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from portal.plugins.tables import UTCDateTime

revision = "sso_insp_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    if "sso_tokens" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "sso_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sso_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_tokens")),
        sa.UniqueConstraint("provider", "jti", name=op.f("uq_sso_tokens_provider_jti")),
    )
    with op.batch_alter_table("sso_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade():
    pass

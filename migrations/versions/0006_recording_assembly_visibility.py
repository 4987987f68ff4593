"""recording visibility (teachers / members / link / published) replaces the published flag;
a hashed share-link token per recording

Revision ID: 0006_rec_assembly_visibility
Revises: 0005_presentation_board
Create Date: 2026-12-01 13:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic (version_num is VARCHAR(32): the id is shorter
# than the file name).
revision = "0006_rec_assembly_visibility"
down_revision = "0005_presentation_board"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "visibility", sa.String(length=16), nullable=False, server_default="published"
            )
        )
        batch_op.add_column(sa.Column("share_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_recordings_share_token_hash"), ["share_token_hash"]
        )
    # Existing rows keep who could watch them: unpublished ones were for teachers only.
    op.execute("UPDATE recordings SET visibility = 'teachers' WHERE NOT published")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column("visibility", server_default=None)
        batch_op.drop_column("published")


def downgrade():
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute("UPDATE recordings SET published = (visibility = 'published')")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column("published", server_default=None)
        batch_op.drop_constraint(batch_op.f("uq_recordings_share_token_hash"), type_="unique")
        batch_op.drop_column("share_token_hash")
        batch_op.drop_column("visibility")

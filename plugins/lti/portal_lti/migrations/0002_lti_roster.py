"""Names and Role Provisioning: each link's membership container and the learners the LMS
put in the class.

Revision ID: lti_0002_roster
Revises: lti_0001
"""

import sqlalchemy as sa
from alembic import op

from portal.plugins.tables import UTCDateTime

revision = "lti_0002_roster"
down_revision = "lti_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lti_resource_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("memberships_url", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("roster_synced_at", UTCDateTime(), nullable=True))
    op.create_table(
        "lti_roster_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lti_sub", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["lti_resource_links.id"],
            name=op.f("fk_lti_roster_members_link_id_lti_resource_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lti_roster_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_roster_members")),
        sa.UniqueConstraint(
            "link_id", "user_id", name=op.f("uq_lti_roster_members_link_id_user_id")
        ),
    )
    with op.batch_alter_table("lti_roster_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_roster_members_link_id"), ["link_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lti_roster_members_user_id"), ["user_id"], unique=False
        )


def downgrade():
    op.drop_table("lti_roster_members")
    with op.batch_alter_table("lti_resource_links", schema=None) as batch_op:
        batch_op.drop_column("roster_synced_at")
        batch_op.drop_column("memberships_url")

"""Assignment and Grade Services: each link's line items and the scores waiting to be
posted to the LMS gradebook.

Revision ID: lti_0003_grades
Revises: lti_0002_roster
"""

import sqlalchemy as sa
from alembic import op

from portal.plugins.tables import UTCDateTime

revision = "lti_0003_grades"
down_revision = "lti_0002_roster"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lti_resource_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lineitems_url", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("ags_scopes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lineitem_url", sa.String(length=1000), nullable=True))
    op.create_table(
        "lti_pending_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lti_sub", sa.String(length=255), nullable=False),
        sa.Column("score_given", sa.Integer(), nullable=False),
        sa.Column("score_maximum", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["lti_resource_links.id"],
            name=op.f("fk_lti_pending_scores_link_id_lti_resource_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_lti_pending_scores_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lti_pending_scores_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_pending_scores")),
        sa.UniqueConstraint(
            "link_id",
            "schedule_id",
            "user_id",
            name=op.f("uq_lti_pending_scores_link_id_schedule_id_user_id"),
        ),
    )
    with op.batch_alter_table("lti_pending_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_pending_scores_link_id"), ["link_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lti_pending_scores_state"), ["state"], unique=False)


def downgrade():
    op.drop_table("lti_pending_scores")
    with op.batch_alter_table("lti_resource_links", schema=None) as batch_op:
        batch_op.drop_column("lineitem_url")
        batch_op.drop_column("ags_scopes")
        batch_op.drop_column("lineitems_url")

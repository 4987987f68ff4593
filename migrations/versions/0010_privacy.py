"""privacy: export_jobs, classes.recordings_legal_hold

A user's data export is prepared in the background: one export_jobs row per request, its
zip in storage. A class's recordings can be put on legal hold, which retention respects.
Retention periods and the erasure policy are site settings (site_settings rows, no schema);
the audit log (audit_log) already exists.

Revision ID: 0010_privacy
Revises: 0009_invite_links_guests
Create Date: 2026-12-01 16:40:00

"""

import sqlalchemy as sa
from alembic import op

import portal.core.types

# revision identifiers, used by Alembic.
revision = "0010_privacy"
down_revision = "0009_invite_links_guests"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", portal.core.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", portal.core.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status in ('queued', 'running', 'ready', 'failed')",
            name=op.f("ck_export_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_export_jobs_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_export_jobs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_jobs_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recordings_legal_hold", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.drop_column("recordings_legal_hold")
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_jobs_user_id"))
    op.drop_table("export_jobs")

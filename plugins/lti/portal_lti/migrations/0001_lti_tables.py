"""The LTI tool's tables: platforms, the tool's keys, resource links, launch storage.

Revision ID: lti_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from portal.plugins.tables import UTCDateTime

revision = "lti_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lti_platforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("auth_login_url", sa.String(length=1000), nullable=False),
        sa.Column("auth_token_url", sa.String(length=1000), nullable=False),
        sa.Column("key_set_url", sa.String(length=1000), nullable=False),
        sa.Column("deployment_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_platforms")),
        sa.UniqueConstraint("issuer", "client_id", name=op.f("uq_lti_platforms_issuer_client_id")),
    )
    op.create_table(
        "lti_tool_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_tool_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_lti_tool_keys_kid")),
    )
    op.create_table(
        "lti_resource_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("resource_link_id", sa.String(length=255), nullable=False),
        sa.Column("context_id", sa.String(length=255), nullable=True),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_lti_resource_links_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["lti_platforms.id"],
            name=op.f("fk_lti_resource_links_platform_id_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_resource_links")),
        sa.UniqueConstraint(
            "platform_id",
            "deployment_id",
            "resource_link_id",
            name=op.f("uq_lti_resource_links_platform_id_deployment_id_resource_link_id"),
        ),
    )
    with op.batch_alter_table("lti_resource_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_resource_links_class_id"), ["class_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lti_resource_links_platform_id"), ["platform_id"], unique=False
        )
    op.create_table(
        "lti_cache",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_lti_cache")),
    )
    with op.batch_alter_table("lti_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lti_cache_expires_at"), ["expires_at"], unique=False)


def downgrade():
    op.drop_table("lti_cache")
    op.drop_table("lti_resource_links")
    op.drop_table("lti_tool_keys")
    op.drop_table("lti_platforms")

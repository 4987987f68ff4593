"""channel preferences: one per-user choice for every notification channel, a plugin's too

The users' notify_email / notify_sms columns become entries of users.channel_preferences
({"email": ..., "sms": ...}), so everyone keeps the choice they made.

Revision ID: 0004_channel_preferences
Revises: 0003_floor_seats
Create Date: 2026-12-01 13:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_channel_preferences"
down_revision = "0003_floor_seats"
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("notify_email", sa.Boolean),
    sa.column("notify_sms", sa.Boolean),
    sa.column("channel_preferences", sa.JSON),
)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("channel_preferences", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.notify_email, users.c.notify_sms)).all()
    for user_id, email, sms in rows:
        bind.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(channel_preferences={"email": bool(email), "sms": bool(sms)})
        )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("channel_preferences", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("notify_email")
        batch.drop_column("notify_sms")


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("notify_email", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("notify_sms", sa.Boolean(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.channel_preferences)).all()
    for user_id, chosen in rows:
        chosen = chosen or {}
        bind.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                notify_email=bool(chosen.get("email", True)),
                notify_sms=bool(chosen.get("sms", False)),
            )
        )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("notify_email", existing_type=sa.Boolean(), nullable=False)
        batch.alter_column("notify_sms", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("channel_preferences")

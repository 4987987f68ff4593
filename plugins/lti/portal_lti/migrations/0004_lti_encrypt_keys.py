"""Tool keys stored before encryption at rest was added are encrypted in place: until now
they were only read as they were, so a database dump of an older install still held a
usable signing key.

Revision ID: lti_0004_encrypt_keys
Revises: lti_0003_grades
"""

import sqlalchemy as sa
from alembic import op

from portal.plugins import services

revision = "lti_0004_encrypt_keys"
down_revision = "lti_0003_grades"
branch_labels = None
depends_on = None

_keys = sa.table("lti_tool_keys", sa.column("id", sa.Integer), sa.column("private_pem", sa.Text))


def upgrade():
    connection = op.get_bind()
    for key_id, stored in connection.execute(sa.select(_keys.c.id, _keys.c.private_pem)).all():
        # decrypt_secret hands a value without the encryption marker back unchanged.
        if services.decrypt_secret(stored) == stored:
            connection.execute(
                _keys.update()
                .where(_keys.c.id == key_id)
                .values(private_pem=services.encrypt_secret(stored))
            )


def downgrade():
    # Nothing to undo: every revision's code reads encrypted and plaintext keys alike, and
    # writing the keys back in plaintext would only weaken the install.
    pass

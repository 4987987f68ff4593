"""For plugins that own tables (see "Plugins own their tables" in docs/plugins.md).

    from portal.plugins.tables import Model, UTCDateTime, mapped_column, Mapped

    class SeenToken(Model):
        __tablename__ = "myplugin_seen_tokens"
        ...

A plugin's models share the portal's metadata, so foreign keys to core tables (users.id)
work and the migration drift test checks them; the plugin's Alembic revisions, registered
with the `register_migrations` hook, create them. Query them through
`portal.plugins.services.session()` inside a `services.unit_of_work()`.
"""

from sqlalchemy.orm import Mapped, mapped_column

from portal.core.types import UTCDateTime
from portal.extensions import Base

# The core's declarative base: typed rows (Mapped[...]) and the portal's one metadata, which
# Flask-SQLAlchemy's db.Model shares (SQLAlchemy(model_class=Base)).
Model = Base

__all__ = ["Mapped", "Model", "UTCDateTime", "mapped_column"]

"""Translations for plugins: each plugin has its own catalogue domain.

    from portal.plugins.i18n import domain

    translations = domain("portal_bbb_backend")  # <package>/translations/<lang>/LC_MESSAGES
    _ = translations.gettext
    ngettext = translations.ngettext
    lazy_gettext = translations.lazy_gettext

The plugin's templates translate with `{{ _("...") }}` as the core's do (the app's default
domain includes every plugin domain), and its page scripts with `Portal.t("...")`.
See docs/plugins.md.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask_babel import Domain

from portal.i18n import force_locale, gettext, recipient_locale, register_domain, text_direction

# `gettext` is the core's catalogue: a plugin without a catalogue of its own translates its
# API error messages with values there (`Conflict(gettext("... %(n)s", n=n))`).
__all__ = ["Domain", "domain", "force_locale", "gettext", "recipient_locale", "text_direction"]


def domain(package: str, directory: Path | None = None) -> Domain:
    """The gettext callables of `package`'s own catalogue (domain named after the package),
    read from `directory`, by default the package's translations/ folder."""
    where = directory if directory is not None else Path(str(files(package))) / "translations"
    return register_domain(package, where)

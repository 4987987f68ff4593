"""This plugin's own catalogue (portal.plugins.i18n, domain portal_lti): its templates find
it; Python code translates with `_` from here."""

from __future__ import annotations

from portal.plugins.i18n import domain

translations = domain("portal_lti")
_ = translations.gettext
lazy_gettext = translations.lazy_gettext

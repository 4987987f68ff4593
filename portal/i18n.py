"""Translations: Flask-Babel set up once, and the gettext callables the code uses.

Core code and templates translate through these names (`_`, `ngettext`, `lazy_gettext`);
templates get `_` and `ngettext` from Jinja's i18n extension, which Flask-Babel installs.
Which language a request gets is decided by `select_locale` alone.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import Babel, gettext, lazy_gettext, ngettext, pgettext

__all__ = ["_", "gettext", "init_i18n", "lazy_gettext", "ngettext", "pgettext", "select_locale"]

_ = gettext


def select_locale() -> str:
    """The language of the current request: today the site's default language."""
    return str(current_app.config.get("DEFAULT_LOCALE", "en"))


def init_i18n(app: Flask) -> None:
    app.config.setdefault("DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["DEFAULT_LOCALE"])
    Babel(app, locale_selector=select_locale)

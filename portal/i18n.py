"""Translations: Flask-Babel set up once, the gettext callables the code uses, and the one
place that decides a request's language.

Core code and templates translate through these names (`_`, `ngettext`, `lazy_gettext`);
templates get `_` and `ngettext` from Jinja's i18n extension, which Flask-Babel installs.
Which language a request gets is decided by `select_locale` alone: the signed-in user's own
choice (users.locale), else the browser's Accept-Language among LANGUAGES, else the site's
default language (an admin site setting, falling back to DEFAULT_LOCALE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from gettext import c2py
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import (
    Babel,
    Domain,
    force_locale,
    get_locale,
    gettext,
    lazy_gettext,
    ngettext,
    pgettext,
    refresh,
)

__all__ = [
    "LANGUAGES",
    "_",
    "format_local",
    "force_locale",
    "gettext",
    "init_i18n",
    "lazy_gettext",
    "ngettext",
    "pgettext",
    "recipient_locale",
    "select_locale",
    "text_direction",
]

_ = gettext

# The languages the portal ships catalogues for; English is the source language.
LANGUAGES = ("en", "fr", "es", "ar")
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

# One time format per locale everywhere: Babel's patterns by name ("short" time is "HH:mm"
# in French, "h:mm a" in English...), never a strftime pattern.
_FORMATS = {"datetime": "medium", "date": "medium", "time": "short"}


def available(code: str | None) -> str | None:
    """`code` if the portal speaks it ("fr-CA" counts as "fr"), else None."""
    if not code:
        return None
    base = str(code).replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def site_locale() -> str:
    """The school's default language: the admin's site setting, else DEFAULT_LOCALE."""
    from portal.core.settings import get_setting

    try:
        chosen = get_setting("default_locale")
    except Exception:  # no database (a CLI command before `db upgrade`)
        chosen = None
    return available(chosen) or available(current_app.config.get("DEFAULT_LOCALE")) or "en"


def recipient_locale(user: Any) -> str:
    """The language of a message sent to `user` (email, SMS): theirs, else the site's."""
    return available(getattr(user, "locale", None)) or site_locale()


def _request_user() -> Any:
    user = g.get("page_user")
    if user is not None:
        return user
    from portal.auth_setup import request_user

    return request_user()


def select_locale() -> str:
    """The language of the current request (see the module's docstring)."""
    if not has_request_context():
        return site_locale()
    chosen = g.get("forced_locale") or available(getattr(_request_user(), "locale", None))
    if chosen:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or site_locale()


def current_locale() -> str:
    return str(get_locale() or "en")


def text_direction(locale: str | None = None) -> str:
    """ "rtl" for right-to-left languages (Arabic), else "ltr"."""
    order = Locale.parse(locale or current_locale()).character_order
    return "rtl" if order == "right-to-left" else "ltr"


def format_local(value: Any, zone: ZoneInfo | None = None, kind: str = "datetime") -> str:
    """`value` in `zone`, formatted the current locale's way: kind is datetime, date, time,
    weekday (e.g. "lun. 07") or a Babel pattern name ("full", "long"...) of a datetime."""
    if value is None:
        return ""
    locale = current_locale()
    if isinstance(value, datetime) and zone is not None:
        value = value.astimezone(zone)
    if kind == "time":
        return babel_format_time(value, _FORMATS["time"], locale=locale)
    if kind == "date":
        return babel_format_date(value, _FORMATS["date"], locale=locale)
    if kind == "weekday":
        return babel_format_date(value, "EEE d", locale=locale)
    if kind == "month":
        return babel_format_date(value, "d MMMM y", locale=locale)
    if kind == "full_datetime":  # emails: "lundi 7 décembre 2026, 09:30"
        pattern = Locale.parse(locale).date_formats["full"].pattern
        return babel_format_datetime(value, f"{pattern}, {_time_pattern(locale)}", locale=locale)
    if kind == "datetime":
        return babel_format_datetime(value, "EEE " + _datetime_pattern(locale), locale=locale)
    return babel_format_datetime(value, kind, locale=locale)


def _time_pattern(locale: str) -> str:
    return Locale.parse(locale).time_formats[_FORMATS["time"]].pattern


def _datetime_pattern(locale: str) -> str:
    date_pattern = Locale.parse(locale).date_formats[_FORMATS["date"]].pattern
    return f"{date_pattern}, {_time_pattern(locale)}"


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Compose in `locale` (a recipient's language), inside a request or not (an app
    context is enough: the Celery tasks have one)."""
    with force_locale(locale):
        yield


# Plugins' own catalogue domains, {domain name: translations directory}, registered when the
# plugin is imported (portal.plugins.i18n.domain) and attached to the app once plugins are
# loaded, so the templates' `_` and the pages' scripts find a plugin's strings too.
_PLUGIN_DOMAINS: dict[str, Path] = {}


def register_domain(name: str, directory: Path) -> Domain:
    _PLUGIN_DOMAINS[name] = directory
    return Domain(translation_directories=[str(directory)], domain=name)


def attach_plugin_domains(app: Flask) -> None:
    """Every plugin domain joins the app's default domain (merged after the core's own)."""
    babel = app.extensions["babel"]
    for name, directory in sorted(_PLUGIN_DOMAINS.items()):
        if str(directory) in babel.translation_directories:
            continue
        domains = babel.default_domain.split(";")
        if len(domains) == 1:
            domains = domains * len(babel.translation_directories)
        babel.translation_directories.append(str(directory))
        babel.default_domain = ";".join([*domains, name])


def script_catalog(locale: str) -> dict[str, Any]:
    """The translations the pages' scripts need, for /i18n/<locale>.json: every message of
    the core's and the plugins' catalogues, and the locale's plural rule."""
    from babel.support import Translations

    babel = current_app.extensions["babel"]
    domains = babel.default_domain.split(";")
    messages: dict[str, Any] = {}
    plural = "(n != 1)"
    for index, directory in enumerate(babel.translation_directories):
        domain = domains[index] if len(domains) > 1 else domains[0]
        found = Translations.load(directory, [locale], domain)
        catalog = getattr(found, "_catalog", {})
        for key, text in catalog.items():
            if not key or not text:
                continue  # the header, or untranslated
            if isinstance(key, tuple):  # (msgid, plural index)
                messages.setdefault(key[0], [])
                forms = messages[key[0]]
                if isinstance(forms, list):
                    forms.extend([""] * (key[1] + 1 - len(forms)))
                    forms[key[1]] = text
            else:
                messages.setdefault(key, text)
        header = catalog.get("", "")
        for line in str(header).splitlines():
            if line.lower().startswith("plural-forms:") and "plural=" in line:
                plural = line.split("plural=", 1)[1].strip().rstrip(";")
    form_of = c2py(plural)
    return {
        "locale": locale,
        "dir": text_direction(locale),
        "plurals": [int(form_of(n)) for n in range(200)],
        "messages": messages,
    }


def init_i18n(app: Flask) -> None:
    app.config.setdefault("DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    # Plugins add their own directories through portal.plugins.i18n.domain.
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DOMAIN", "messages")
    Babel(app, locale_selector=select_locale)
    # Flask-Babel caches the locale on `g`, which outlives one request when an app context
    # was already pushed (the CLI, tests, a worker): each request decides anew.
    app.before_request(refresh)
    app.jinja_env.globals["html_lang"] = current_locale
    app.jinja_env.globals["html_dir"] = text_direction
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["role_name"] = role_name


ROLE_NAMES = {
    "admin": lazy_gettext("administrator"),
    "teacher": lazy_gettext("teacher"),
    "student": lazy_gettext("student"),
}


def role_name(role: str) -> str:
    """A role shown to people, in their language (the stored value stays "teacher")."""
    return str(ROLE_NAMES.get(role, role))

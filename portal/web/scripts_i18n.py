"""The pages' scripts get their strings from the same catalogues as the templates:
GET /i18n/<locale>.js sets window.PORTAL_I18N, which Portal.t (api.js) reads. The page
includes it with a version in its URL; the ETag lets a browser revalidate cheaply."""

from __future__ import annotations

import hashlib
import json

from flask import Response, abort, current_app, request

from portal.i18n import LANGUAGES, script_catalog
from portal.web.pages import web


def _script(locale: str) -> tuple[str, str]:
    cache = current_app.extensions.setdefault("portal.web.i18n_scripts", {})
    if locale not in cache:
        catalog = script_catalog(locale)
        body = "window.PORTAL_I18N = " + json.dumps(catalog, ensure_ascii=False) + ";\n"
        cache[locale] = (body, hashlib.sha256(body.encode()).hexdigest()[:20])
    return cache[locale]


def script_version(locale: str) -> str:
    """The catalogue's hash, put in the script's URL so a new catalogue is fetched anew."""
    return _script(locale)[1]


@web.get("/i18n/<locale>.js")
def i18n_script(locale: str):
    if locale not in LANGUAGES:
        abort(404)
    body, etag = _script(locale)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="text/javascript")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response

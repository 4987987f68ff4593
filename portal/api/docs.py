from __future__ import annotations

from flask import jsonify

from portal.api import api
from portal.api.openapi import build_openapi


@api.get("/openapi.json")
def openapi_document():
    return jsonify(build_openapi())

"""OpenAPI 3.1 Path Items of the WHIP/WHEP routes, contributed to /api/openapi.json.

Kept beside views.py: a route or status added there is described here (the plugin's tests
compare both).
"""

from __future__ import annotations

from typing import Any

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
SDP_BODY = {
    "application/sdp": {"schema": {"type": "string", "description": "an SDP offer (RFC 8866)"}}
}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ROOM = {"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}
SESSION = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
LINK = {
    "description": 'one `<stun:...>; rel="ice-server"` per ICE server the clients should use '
    "(RFC 9725 4.6)",
    "schema": {"type": "string"},
}

ERROR_TEXT = {
    400: "not an SDP offer, unparseable, or a WHIP offer that only receives (`bad_sdp`)",
    401: "no, invalid or expired token (JSON, with `WWW-Authenticate: Bearer`)",
    403: "may not publish here, or blocked",
    404: "not a member of the class, or no such session",
    406: "too many tracks, or no kind of media the stream has",
    409: "the class is not running, nothing is published yet, or the room is full",
    413: "the SDP offer is larger than 64 KiB",
    415: "the body is not `application/sdp` (the answer carries `Accept-Post`)",
    429: "this person already has too many sessions in the room",
    501: "trickle ICE and ICE restarts are not supported: send a complete offer",
    503: "the media worker is unreachable (`Retry-After`)",
}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": ERROR_TEXT[code], "content": ERROR} for code in codes}


def _options(summary: str, operation_id: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["sfu"],
        "operationId": operation_id,
        "description": "A token is optional; with a member's token the answer lists the ICE "
        "servers as `Link`.",
        "responses": {
            "204": {
                "description": "Allowed methods",
                "headers": {
                    "Accept-Post": {"schema": {"type": "string", "const": "application/sdp"}},
                    "Allow": {"schema": {"type": "string"}},
                    "Link": LINK,
                },
            }
        },
    }


def _negotiate(summary: str, operation_id: str, query: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["sfu"],
        "operationId": operation_id,
        "parameters": [query],
        "requestBody": {"required": True, "content": SDP_BODY},
        "security": SECURITY,
        "responses": {
            "201": {
                "description": "The SDP answer; the session's URL is in Location",
                "headers": {
                    "Location": {"required": True, "schema": {"type": "string"}},
                    "ETag": {"required": True, "schema": {"type": "string"}},
                    "Link": LINK,
                },
                "content": {"application/sdp": {"schema": {"type": "string"}}},
            },
            **_errors(400, 401, 403, 404, 406, 409, 413, 415, 429, 503),
        },
    }


def api_paths() -> dict[str, dict[str, Any]]:
    publisher_row = {
        "type": "object",
        "required": ["id", "user_id", "name", "label", "kinds"],
        "properties": {
            "id": {"type": "string"},
            "user_id": {"type": ["integer", "null"]},
            "name": {"type": "string"},
            "label": {"type": "string"},
            "kinds": {"type": "array", "items": {"type": "string"}},
        },
    }
    assembly_state = {
        "type": "object",
        "required": ["state", "percent", "message"],
        "properties": {
            "state": {
                "type": "string",
                "enum": ["none", "queued", "assembling", "ready", "failed"],
            },
            "percent": {"type": "integer"},
            "message": {"type": "string"},
            "recording_id": {"type": "integer"},
        },
    }
    return {
        "/sfu/rooms/{room}/whip": {
            "parameters": [ROOM],
            "options": _options("Ask what WHIP accepts", "options_sfu_whip"),
            "post": _negotiate(
                "Publish a stream (WHIP, RFC 9725)",
                "post_sfu_whip",
                {
                    "name": "label",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 40, "default": "camera"},
                },
            ),
        },
        "/sfu/rooms/{room}/whep": {
            "parameters": [ROOM],
            "options": _options("Ask what WHEP accepts", "options_sfu_whep"),
            "post": _negotiate(
                "Watch a stream (WHEP)",
                "post_sfu_whep",
                {
                    "name": "publisher",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "a publisher id from /publishers; default: the first with video",
                },
            ),
        },
        "/sfu/rooms/{room}/sessions/{session_id}": {
            "parameters": [ROOM, SESSION],
            "options": _options("Ask what a session accepts", "options_sfu_session"),
            "delete": {
                "summary": "End a WHIP or WHEP session",
                "tags": ["sfu"],
                "operationId": "delete_sfu_session",
                "security": SECURITY,
                "responses": {"200": {"description": "Ended"}, **_errors(401, 403, 404, 503)},
            },
            "patch": {
                "summary": "Trickle ICE or ICE restart (not supported)",
                "tags": ["sfu"],
                "operationId": "patch_sfu_session",
                "security": SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {"application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}},
                },
                "responses": _errors(401, 404, 501, 503),
            },
        },
        "/sfu/rooms/{room}/publishers": {
            "parameters": [ROOM],
            "get": {
                "summary": "The streams a member can watch",
                "tags": ["sfu"],
                "operationId": "get_sfu_publishers",
                "security": SECURITY,
                "responses": {
                    "200": {
                        "description": "Publishers",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["publishers", "allowed_publishers", "can_publish"],
                                    "properties": {
                                        "publishers": {"type": "array", "items": publisher_row},
                                        "allowed_publishers": {
                                            "type": "array",
                                            "items": {"type": "integer"},
                                        },
                                        "can_publish": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 404, 409, 503),
                },
            },
        },
        "/sfu/rooms/{room}/publishers/allow": {
            "parameters": [ROOM],
            "post": {
                "summary": "Let a student publish, or take it back (the class's teacher)",
                "tags": ["sfu"],
                "operationId": "post_sfu_publishers_allow",
                "security": SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["user_id"],
                                "properties": {
                                    "user_id": {"type": "integer"},
                                    "allowed": {"type": "boolean", "default": True},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The students allowed now",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["allowed_publishers"],
                                    "properties": {
                                        "allowed_publishers": {
                                            "type": "array",
                                            "items": {"type": "integer"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 403, 404, 409, 503),
                },
            },
        },
        "/sfu/rooms/{room}/assembly": {
            "parameters": [ROOM],
            "get": {
                "summary": "The lesson's recording assembly (the class's teacher)",
                "tags": ["sfu"],
                "operationId": "get_sfu_assembly",
                "security": SECURITY,
                "responses": {
                    "200": {
                        "description": "State: none, queued, assembling, ready or failed",
                        "content": {"application/json": {"schema": assembly_state}},
                    },
                    **_errors(401, 403, 404),
                },
            },
        },
        "/sfu/rooms/{room}/assembly/retry": {
            "parameters": [ROOM],
            "post": {
                "summary": "Queue a failed assembly again (the class's teacher)",
                "tags": ["sfu"],
                "operationId": "post_sfu_assembly_retry",
                "security": SECURITY,
                "responses": {
                    "202": {
                        "description": "Queued again",
                        "content": {"application/json": {"schema": assembly_state}},
                    },
                    **_errors(401, 403, 404, 409),
                },
            },
        },
    }

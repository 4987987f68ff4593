"""Per-person rate limits for expensive endpoints (uploads), on top of the per-IP ones.

The key is the signed-in user, so one account cannot flood storage from many addresses and
a school behind one NAT address is not throttled as a whole. Anonymous callers fall back to
their address (they are refused by the endpoint anyway).
"""

from __future__ import annotations

from flask import current_app
from flask_jwt_extended import get_jwt_identity
from flask_limiter.util import get_remote_address

from portal.auth_setup import verify_request_token
from portal.extensions import limiter


def _person_key() -> str:
    try:
        verify_request_token(optional=True)
        identity = get_jwt_identity()
    except Exception:  # an invalid token is refused by the endpoint itself, with 401
        identity = None
    return f"user:{identity}" if identity else f"ip:{get_remote_address()}"


# One budget for every kind of upload (slides and media), per person.
upload_limit = limiter.shared_limit(
    lambda: current_app.config["UPLOAD_RATE_LIMIT"], scope="uploads", key_func=_person_key
)

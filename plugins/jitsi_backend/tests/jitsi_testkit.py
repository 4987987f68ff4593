"""Constants and helpers shared by the Jitsi plugin's tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_SECRET = "prosody-app-secret-0123456789-abcdef"
EVENTS_TOKEN = "events-token-abcdefghijklmnop"
UPLOAD_TOKEN = "upload-token-abcdefghijklmnop"
JAAS_APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
WEBHOOK_SECRET = "whsec-jaas-0123456789"


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def self_hosted_settings(**extra) -> dict:
    settings = {
        "domain": "meet.school.test",
        "mode": "self_hosted",
        "app_id": "portal",
        "app_secret": APP_SECRET,
        "events_token": EVENTS_TOKEN,
        "recording_upload_token": UPLOAD_TOKEN,
    }
    settings.update(extra)
    return settings


def jaas_settings(private_key: str, **extra) -> dict:
    settings = {
        "domain": "8x8.vc",
        "mode": "jaas",
        "app_id": JAAS_APP_ID,
        "jaas_key_id": "key-1",
        "jaas_private_key": private_key,
        "jaas_webhook_secret": WEBHOOK_SECRET,
    }
    settings.update(extra)
    return settings


def use_jitsi(school, settings: dict, name: str = "Jitsi"):
    from portal.core import backends
    from portal.extensions import db

    config = backends.create_config(school.admin, name=name, backend="jitsi", settings=settings)
    school.klass.backend_config_id = config.id
    db.session.commit()
    school.jitsi_config = config
    return school


def start_class(school, login) -> Any:
    from portal.core.models import Meeting
    from portal.extensions import db

    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    return db.session.execute(db.select(Meeting)).scalar_one()


def jaas_signed(
    body: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None, scheme: str = "v1"
) -> dict:
    t = int(time.time()) if t is None else t
    sig = base64.b64encode(
        hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return {"X-Jaas-Signature": f"t={t},{scheme}={sig}", "Content-Type": "application/json"}


def jaas_event(meeting: Any, event_type: str, data: dict, key: str | None = None) -> bytes:
    return json.dumps(
        {
            "idempotencyKey": key or str(uuid.uuid4()),
            "customerId": "0123456789abcdef",
            "appId": JAAS_APP_ID,
            "eventType": event_type,
            "sessionId": str(uuid.uuid4()),
            "timestamp": int(time.time() * 1000),
            "fqn": meeting.backend_meeting_id,
            "data": data,
        }
    ).encode()

"""Helpers and fixtures for the content tests (slides, media, storage, recordings, ...).

`storage_kind` runs a test once on the local folder and once on S3 served by moto's
real HTTP server on 127.0.0.1, so both storage implementations see the same scenarios.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from portal.core.types import utcnow
from portal.extensions import db


def make_pdf(pages: int = 1, *, encrypt: bool = False) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_png(size: tuple[int, int] = (8, 8)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


# The start of a Windows executable ("MZ" header and DOS stub), as a renamed .exe would be.
FAKE_EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"This program cannot be run in DOS mode."
    + bytes(400)
)


def upload(api, url: str, data: bytes, filename: str, **form):
    """POST a multipart upload with the bearer token of `api` (tests' Api client)."""
    payload = {"file": (io.BytesIO(data), filename), **{k: str(v) for k, v in form.items()}}
    return api.client.post(
        url, data=payload, headers=api._headers(), content_type="multipart/form-data"
    )


def fetch(client, url: str) -> tuple[int, bytes]:
    """Follow a download link: local links go through the Flask test client, S3 presigned
    links to the moto server over real HTTP."""
    parts = urlsplit(url)
    if parts.path.startswith("/files/"):
        response = client.get(parts.path)
        return response.status_code, response.data
    response = requests.get(url, timeout=10)
    return response.status_code, response.content


# Fixtures are registered under `name=` so test modules can import them without the
# import shadowing the test functions' parameters.
@pytest.fixture(scope="session", name="moto_s3")
def moto_s3_fixture():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_CREDENTIALS = {
    "S3_ACCESS_KEY_ID": "testing",
    "S3_SECRET_ACCESS_KEY": "testing",
    "S3_REGION": "us-east-1",
}


@pytest.fixture(params=["local", "s3"], name="storage_kind")
def storage_kind_fixture(request, app):
    """Switch the app's storage to the parametrised implementation (fresh bucket per test)."""
    if request.param == "s3":
        import boto3

        endpoint = request.getfixturevalue("moto_s3")
        bucket = f"portal-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        app.config.update(
            STORAGE="s3", S3_BUCKET=bucket, S3_ENDPOINT_URL=endpoint, **S3_CREDENTIALS
        )
    else:
        app.config.update(STORAGE="local")
    app.extensions.pop("portal.storage", None)
    yield request.param
    app.extensions.pop("portal.storage", None)


def past_class(teacher, students, *, hours_ago: int = 2, title: str = "History"):
    """A class whose only occurrence started `hours_ago` hours ago, with students enrolled."""
    from portal.core import classes

    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=title,
            starts_at=utcnow() - timedelta(hours=hours_ago),
            duration_minutes=60,
            timezone="UTC",
        ),
        allow_past_start=True,
    )
    if students:
        classes.enrol(teacher, klass.id, [s.id for s in students])
    db.session.commit()
    return klass, classes.list_schedules(teacher, klass.id)[0]

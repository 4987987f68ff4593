"""The storage layer on both implementations: local folder and S3 (moto server)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from content_utils import fetch, moto_s3_fixture, storage_kind_fixture  # noqa: F401  (fixtures)

from portal.core import storage
from portal.core.errors import NotFound


def test_save_read_link_and_delete_round_trip(app, client, storage_kind):
    store = storage.get_storage()
    key = storage.new_key("media/1", "pdf")
    store.save(key, b"%PDF-1.4 hello", "application/pdf")
    assert store.read(key) == b"%PDF-1.4 hello"

    status, body = fetch(client, store.download_url(key, 60, "notes.pdf"))
    assert (status, body) == (200, b"%PDF-1.4 hello")

    store.delete(key)
    with pytest.raises(NotFound):
        store.read(key)
    store.delete(key)  # deleting twice is harmless


def test_missing_key_is_not_found(app, storage_kind):
    with pytest.raises(NotFound):
        storage.get_storage().read("media/1/" + "0" * 32 + ".pdf")


def test_crafted_keys_cannot_escape_the_storage_root(app, storage_kind):
    store = storage.get_storage()
    for key in ("../etc/passwd", "media/../../x.pdf", "/abs/path.pdf", "media/a b.pdf"):
        with pytest.raises(NotFound):
            store.save(key, b"x", "text/plain")


def test_storage_is_chosen_by_configuration(app, storage_kind):
    from portal.core.s3storage import S3Storage

    store = storage.get_storage()
    assert isinstance(store, S3Storage if storage_kind == "s3" else storage.LocalStorage)


@pytest.mark.parametrize("storage_kind", ["s3"], indirect=True)
def test_s3_links_are_presigned_with_the_configured_lifetime(app, storage_kind):
    app.config["FILE_LINK_SECONDS"] = 120
    store = storage.get_storage()
    key = storage.new_key("slides/1", "pdf")
    store.save(key, b"%PDF-", "application/pdf")
    query = parse_qs(urlsplit(store.download_url(key, 120, "deck.pdf")).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert "X-Amz-Signature" in query
    assert query["response-content-disposition"] == ['attachment; filename="deck.pdf"']


def test_local_links_expire_and_cannot_be_forged(app, client, monkeypatch):
    import itsdangerous.timed

    store = storage.get_storage()
    key = storage.new_key("media/1", "txt")
    store.save(key, b"hello", "text/plain")
    url = store.download_url(key, 60, "a.txt")
    path = urlsplit(url).path
    assert client.get(path).status_code == 200

    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(forged).status_code == 404

    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() + 61)
    expired = client.get(path)
    assert expired.status_code == 404
    assert "expired" in expired.get_json()["error"]["message"]


def test_unknown_storage_setting_fails_loudly(app):
    with pytest.raises(RuntimeError, match="PORTAL_STORAGE"):
        storage.make_storage({"STORAGE": "ftp", "STORAGE_DIR": "/tmp"})
    with pytest.raises(RuntimeError, match="S3_BUCKET"):
        storage.make_storage({"STORAGE": "s3"})


def test_unreachable_object_store_is_503_and_leaves_no_row(app, school, login):

    from content_utils import S3_CREDENTIALS, make_png, upload
    from portal_testing import free_port

    from portal.core.models import Media
    from portal.extensions import db

    dead_port = free_port()  # a port nobody listens on
    app.config.update(
        STORAGE="s3",
        S3_BUCKET="portal-missing",
        S3_ENDPOINT_URL=f"http://127.0.0.1:{dead_port}",
        **S3_CREDENTIALS,
    )
    app.extensions.pop("portal.storage", None)
    response = upload(
        login(school.student), f"/api/classes/{school.klass.id}/media", make_png(), "a.png"
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert db.session.execute(db.select(db.func.count(Media.id))).scalar_one() == 0


def test_two_writers_of_the_same_key_both_succeed(app, monkeypatch):
    """Two requests rendering the same slide page at once both store it (a shared temporary
    name let the first writer move the second's file away: a 500 and a blank slide)."""
    import os
    import threading

    store = storage.get_storage()
    key = storage.new_key("slide-pages/abc", "png")
    both_written = threading.Barrier(2, timeout=10)
    real_replace = os.replace

    def replace_once_both_have_written(src, dst):
        both_written.wait()
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace_once_both_have_written)
    failures: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            store.save(key, data, "image/png")
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(b"page",)) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert failures == []
    assert store.read(key) == b"page"
    folder = store.file_path(key).parent
    assert [p.name for p in folder.iterdir()] == [store.file_path(key).name]

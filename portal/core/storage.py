"""File storage: a local folder by default; other implementations plug in by configuration.

Keys are portal-generated ("slides/12/3f2a....pdf"), never user file names, so a crafted
name cannot escape the storage root.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.core.errors import NotFound

KEY_PATTERN = re.compile(r"^[a-z0-9_-]+(/[A-Za-z0-9_-]+)*\.[a-z0-9]{1,8}$")


class Storage(Protocol):
    def save(self, key: str, data: bytes, content_type: str) -> None: ...
    def read(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def download_url(self, key: str, expires_in: int, filename: str | None = None) -> str: ...


def new_key(prefix: str, extension: str) -> str:
    extension = re.sub(r"[^a-z0-9]", "", extension.lower())[:8] or "bin"
    return f"{prefix}/{secrets.token_hex(16)}.{extension}"


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key) or ".." in key:
        raise NotFound("no such file")
    return key


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal-file-link")


class LocalStorage:
    def __init__(self, root: str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary name of its own per writer: two requests rendering the same slide
        # page at once must not move each other's half-written file away.
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("no such file") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def file_path(self, key: str) -> Path:
        """The file on disk, for streaming and Range requests (NotFound when missing)."""
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such file")
        return path

    def download_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        token = _signer().dumps({"k": check_key(key), "f": filename, "e": expires_in})
        # BASE_URL, not the request's host: links are also made outside requests (tasks,
        # backends fetching slides) and must point at the public address.
        return f"{current_app.config['BASE_URL'].rstrip('/')}/files/{token}"


def resolve_download_token(token: str) -> tuple[str, str | None]:
    """Key and file name of a signed local download link, or NotFound when forged/expired."""
    try:
        payload = _signer().loads(token, max_age=7 * 24 * 3600)
        payload = _signer().loads(token, max_age=int(payload["e"]))
    except (BadSignature, SignatureExpired, KeyError, ValueError) as exc:
        raise NotFound("this download link is invalid or has expired") from exc
    return check_key(payload["k"]), payload.get("f")


def get_storage() -> Storage:
    storage = current_app.extensions.get("portal.storage")
    if storage is None:
        storage = make_storage(current_app.config)
        current_app.extensions["portal.storage"] = storage
    return storage


def make_storage(config: Mapping[str, Any]) -> Storage:
    """The implementation named by STORAGE: "local" (default) or "s3"."""
    kind = str(config.get("STORAGE") or "local").lower()
    if kind == "local":
        return LocalStorage(config["STORAGE_DIR"])
    if kind == "s3":
        from portal.core.s3storage import S3Storage

        return S3Storage.from_config(config)
    raise RuntimeError(f"PORTAL_STORAGE must be 'local' or 's3', not {kind!r}")


def local_path(key: str) -> Path | None:
    """The stored file's path when the storage is a local folder, else None."""
    target = get_storage()
    return target.file_path(key) if isinstance(target, LocalStorage) else None


def read_bytes(key: str) -> bytes:
    return get_storage().read(key)


def public_url(key: str, expires_in: int = 3600, filename: str | None = None) -> str:
    return get_storage().download_url(key, expires_in, filename)


def delete_row_and_file(row: Any, storage_key: str | None) -> None:
    """Remove a row that owns a stored file (a slide deck, a class file, a recording).

    The row goes in this transaction; the file goes once it commits, so a rollback leaves
    both and a failed commit never leaves a row pointing at a deleted file.
    """
    from portal.core import unit_of_work
    from portal.extensions import db

    db.session.delete(row)
    db.session.flush()
    if storage_key:
        unit_of_work.after_commit(lambda: get_storage().delete(storage_key))

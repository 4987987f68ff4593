"""S3 (or any S3-compatible service: MinIO, Ceph, moto) implementation of the storage layer.

Download links are presigned GET URLs: the object store itself checks the expiry, so the
portal never streams large files. Selected with PORTAL_STORAGE=s3 (see docs/content.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.core.errors import NotFound, ServiceUnavailable
from portal.core.storage import check_key

log = logging.getLogger(__name__)

_MISSING = {"NoSuchKey", "404", "NotFound"}


def _safe_filename(name: str) -> str:
    cleaned = "".join(ch for ch in name if ch.isalnum() or ch in "._- ")[:100]
    return cleaned or "download"


class S3Storage:
    def __init__(self, bucket: str, *, client: Any, prefix: str = ""):
        self.bucket = bucket
        self.client = client
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Storage:
        bucket = config.get("S3_BUCKET")
        if not bucket:
            raise RuntimeError("PORTAL_STORAGE=s3 needs PORTAL_S3_BUCKET")
        client = boto3.client(
            "s3",
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region_name=config.get("S3_REGION") or None,
            aws_access_key_id=config.get("S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or None,
            # SigV4 presigned URLs work with every S3-compatible server; bounded retries and
            # timeouts so a dead object store fails a request instead of hanging it.
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 2},
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": "path"},
            ),
        )
        return cls(bucket, client=client, prefix=str(config.get("S3_PREFIX") or ""))

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            log.warning("S3 put of %s failed: %s", key, exc)
            raise ServiceUnavailable(
                "the file store is not available right now; try again", code="storage_unavailable"
            ) from exc

    def read(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound("no such file") from exc
            raise ServiceUnavailable(
                "the file store is not available right now", code="storage_unavailable"
            ) from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable(
                "the file store is not available right now", code="storage_unavailable"
            ) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            # The row goes anyway; an orphaned object is harmless and can be swept later.
            log.warning("S3 delete of %s failed: %s", key, exc)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def download_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = (
                f'attachment; filename="{_safe_filename(filename)}"'
            )
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=int(expires_in)
        )

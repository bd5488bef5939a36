"""An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Ceph), through boto3: the one module that talks to it.

Credentials never come from ``catalog/config.yaml``: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN`` or ``AWS_PROFILE`` from the environment the CLI passes in, else boto3's own chain
(``~/.aws``, a web identity token such as GitHub's OIDC role, instance metadata). ``AWS_ENDPOINT_URL`` is
honoured when the config names no ``endpoint_url``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.config import S3Target
from curate.errors import CurateError

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

MULTIPART_FROM = 64 * 1024 * 1024  # bigger files go up in parts (boto3's managed transfer)
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


class BucketError(CurateError):
    """The bucket refused or failed a request; the message names the bucket, the key and the reason."""


def _describe(exc: BaseException) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code, message = err.get("Code", ""), err.get("Message", "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode", "")
        return " ".join(str(p) for p in (status, code, message) if p) or str(exc)
    return str(exc) or type(exc).__name__


class Bucket:
    """One bucket and key prefix. Thread-safe: boto3 clients may be shared between threads."""

    def __init__(self, target: S3Target, env: Mapping[str, str], *, jobs: int = 16) -> None:
        import boto3  # only when publishing to a bucket
        from botocore.config import Config as BotoConfig

        self.target = target
        self.name = target.bucket
        self.prefix = target.prefix
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            profile_name=env.get("AWS_PROFILE") or None,
            region_name=target.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        )
        self.client: S3Client = session.client(
            "s3",
            endpoint_url=target.endpoint_url or env.get("AWS_ENDPOINT_URL") or None,
            config=BotoConfig(
                max_pool_connections=max(10, jobs),
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=120,
            ),
        )

    def where(self, key: str = "") -> str:
        return f"s3://{self.name}/{self.prefix}{key}"

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""
        try:
            answer = self.client.get_object(Bucket=self.name, Key=self.prefix + key)
            return answer["Body"].read()
        except Exception as exc:  # botocore raises ClientError subclasses built at run time
            code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise BucketError(f"{self.where(key)}: cannot read: {_describe(exc)}") from exc

    def put(
        self,
        key: str,
        *,
        path: Path | None = None,
        data: bytes | None = None,
        sha256: str,
        size: int,
        content_type: str,
        cache_control: str,
    ) -> None:
        """Store ``data`` or the file at ``path`` under ``key``; S3 checks the bytes against ``sha256``
        (``x-amz-checksum-sha256``) and keeps it as the object's checksum."""
        extra: dict[str, Any] = {
            "ContentType": content_type,
            "CacheControl": cache_control,
            "Metadata": {"sha256": sha256},
        }
        try:
            checksum = base64.b64encode(binascii.unhexlify(sha256)).decode("ascii")
            if data is not None:
                self.client.put_object(
                    Bucket=self.name, Key=self.prefix + key, Body=data, ChecksumSHA256=checksum, **extra
                )
            elif path is not None and size < MULTIPART_FROM:
                with path.open("rb") as fh:
                    self.client.put_object(
                        Bucket=self.name, Key=self.prefix + key, Body=fh, ChecksumSHA256=checksum, **extra
                    )
            elif path is not None:
                self.client.upload_file(
                    str(path),
                    self.name,
                    self.prefix + key,
                    ExtraArgs={**extra, "ChecksumAlgorithm": "SHA256"},
                )
            else:
                raise ValueError("put needs data or a path")
        except (OSError, ValueError):
            raise
        except Exception as exc:
            raise BucketError(f"{self.where(key)}: upload failed: {_describe(exc)}") from exc

    def delete(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` (in batches of 1,000); a key that is already gone is not an error."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": self.prefix + k} for k in batch], "Quiet": True},
                )
            except Exception as exc:
                raise BucketError(f"{self.where()}: delete failed: {_describe(exc)}") from exc
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise BucketError(
                    f"{self.where(str(first.get('Key', '')).removeprefix(self.prefix))}: delete failed: "
                    f"{first.get('Code', '')} {first.get('Message', '')} ({len(errors)} key(s) not deleted)"
                )

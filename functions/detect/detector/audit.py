"""Optional audit trail (off by default): each verdict as JSON in S3, the image only if asked.

Enabled by ``AUDIT_BUCKET``; ``AUDIT_STORE_IMAGES=true`` also stores the uploaded bytes. The bucket
(template.yaml ``AuditBucket``) is encrypted, private and expires objects after N days. Writing is
best-effort: a failed write is logged and never changes the answer.
"""
from __future__ import annotations

import json
import time

from .preprocess import MIME_TYPES

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


class AuditLog:
    def __init__(self, bucket: str, *, store_images: bool = False, prefix: str = "", client=None):
        self.bucket = bucket
        self.store_images = store_images
        self.prefix = (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3  # only when auditing is on

            self._client = boto3.client("s3")
        return self._client

    def keys(self, request_id: str, fmt: str | None, when: float | None = None) -> tuple[str, str]:
        day = time.strftime("%Y/%m/%d", time.gmtime(when or time.time()))
        safe = "".join(c for c in request_id if c.isalnum() or c in "-_.") or "unknown"
        base = f"{self.prefix}{{kind}}/{day}/{safe}"
        return (base.format(kind="verdicts") + ".json",
                base.format(kind="images") + "." + EXTENSIONS.get(fmt or "", "bin"))

    def record(self, request_id: str, verdict: dict, image: bytes | None = None) -> dict:
        """Write the verdict (and maybe the image); returns the keys written."""
        fmt = (verdict.get("image") or {}).get("format")
        verdict_key, image_key = self.keys(request_id, fmt)
        written = {}
        doc = dict(verdict)
        if self.store_images and image is not None:
            self.client.put_object(Bucket=self.bucket, Key=image_key, Body=image,
                                   ContentType=MIME_TYPES.get(fmt, "application/octet-stream"))
            written["image"] = image_key
            doc["audit_image_key"] = image_key
        self.client.put_object(Bucket=self.bucket, Key=verdict_key,
                               Body=json.dumps(doc, separators=(",", ":")).encode(),
                               ContentType="application/json")
        written["verdict"] = verdict_key
        return written

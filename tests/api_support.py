"""Helpers for the detection-API tests: real REST proxy events, real faces, odd images."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO_ROOT.parent / "shared" / "data" / "faces"

_spec = importlib.util.spec_from_file_location("detect_make_events", REPO_ROOT / "events" / "make_events.py")
make_events = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_events)
rest_event = make_events.rest_event
multipart_body = make_events.multipart_body


def face_files(n_per_set: int = 1, label: str | None = None) -> list[Path]:
    """The first n images of each shared set (real and fake), sorted: deterministic picks."""
    out = []
    for folder in sorted(SHARED_FACES.glob("*/*")):
        if not folder.is_dir() or (label and folder.name != label):
            continue
        out += sorted(folder.glob("*.jpg"))[:n_per_set]
    assert out, f"no shared faces under {SHARED_FACES}"
    return out


def face_bytes(index: int = 0) -> bytes:
    return face_files(1)[index].read_bytes()


def face_image(index: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(face_bytes(index))).convert("RGB")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def call(app, event: dict) -> tuple[int, dict, dict]:
    """Invoke the handler; check the proxy response shape; return (status, json body, headers)."""
    resp = app.lambda_handler(event, None)
    assert set(resp) >= {"statusCode", "headers", "body"}
    assert isinstance(resp["statusCode"], int)
    assert resp.get("isBase64Encoded") is False
    assert "Traceback" not in resp["body"]
    body = json.loads(resp["body"]) if resp["body"] else {}
    return resp["statusCode"], body, resp["headers"]


def post_json(app, payload, **kw):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return call(app, rest_event("POST", "/predict", body=body, content_type="application/json", **kw))


def post_raw(app, data: bytes, content_type: str = "image/jpeg", **kw):
    return call(app, rest_event("POST", "/predict", body=data, content_type=content_type, **kw))


def post_multipart(app, data: bytes, **kw):
    body, ctype = multipart_body(data, **kw)
    return call(app, rest_event("POST", "/predict", body=body, content_type=ctype))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR claims ``width`` x ``height`` (a decompression-bomb header)."""
    small = encode(Image.new("RGB", (32, 32), (10, 20, 30)), "PNG")
    ihdr = struct.pack(">II", width, height) + small[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return small[:16] + ihdr + crc + small[33:]


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))

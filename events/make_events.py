#!/usr/bin/env python3
"""Write API Gateway REST (v1) proxy events for ``sam local invoke`` (``make events``).

The committed events carry a SYNTHETIC face-like image drawn here with Pillow (never a shared
image or a derivative of one). ``--image PATH`` builds the same events from any real file (the
tests do that with the shared faces, into a temporary directory).

    python events/make_events.py                 # -> events/*.json (synthetic face)
    python events/make_events.py --image face.jpg --out /tmp/events
    sam local invoke DetectFunction -e events/predict-json.json

``rest_event()`` is also what the tests use to call the handler with real event shapes.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STAGE = "prod"
BOUNDARY = "----detectFormBoundary7MA4YWxkTrZu0gW"
# API Gateway base64-encodes bodies whose Content-Type is one of the API's binary media types
# (template.yaml DetectApi.BinaryMediaTypes); JSON stays text.
BINARY_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp",
                      "application/octet-stream", "multipart/form-data")


def rest_event(method: str, path: str, *, body: bytes | str | None = None, content_type: str | None = None,
               headers: dict | None = None, request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
               binary_media_types=BINARY_MEDIA_TYPES) -> dict:
    """An API Gateway REST API proxy-integration event (payload v1.0) for ``/{proxy+}``."""
    hdrs = {
        "Accept": "application/json",
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if content_type:
        hdrs["Content-Type"] = content_type
    hdrs.update(headers or {})
    is_b64 = False
    if body is not None:
        media = (content_type or "").split(";")[0].strip().lower()
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if media in binary_media_types:
            body, is_b64 = base64.b64encode(raw).decode("ascii"), True
        else:
            body = raw.decode("utf-8", "replace")
        hdrs.setdefault("Content-Length", str(len(raw)))
    proxy = path.lstrip("/")
    return {
        "resource": "/{proxy+}" if proxy else "/",
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "2gxmpl",
            "resourcePath": "/{proxy+}" if proxy else "/",
            "httpMethod": method,
            "extendedRequestId": "JJbxmplHYosFVYQ=",
            "requestTime": "22/Nov/2026:01:00:00 +0000",
            "path": f"/{STAGE}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": "abcdef1234",
            "requestTimeEpoch": 1795309200000,
            "requestId": request_id,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": hdrs["User-Agent"], "apiKey": None,
                         "accessKey": None, "accountId": None, "caller": None, "user": None,
                         "userArn": None, "cognitoIdentityId": None},
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "apiId": "abcdef1234",
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


def multipart_body(data: bytes, *, field: str = "image", filename: str = "face.jpg",
                   content_type: str = "image/jpeg", boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """What ``curl -F image=@face.jpg`` sends: (body, Content-Type header)."""
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def synthetic_face(size: int = 96) -> bytes:
    """A small face-like JPEG drawn with Pillow (skin oval, eyes, brows, nose, mouth)."""
    from PIL import Image, ImageDraw, ImageFilter

    s = size / 96.0
    img = Image.new("RGB", (size, size), (92, 116, 142))
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(70 * s), size, size], fill=(60, 64, 90))  # shoulders
    d.ellipse([int(22 * s), int(8 * s), int(74 * s), int(80 * s)], fill=(224, 180, 150))  # face
    d.chord([int(20 * s), int(2 * s), int(76 * s), int(44 * s)], 180, 360, fill=(70, 44, 30))  # hair
    for cx in (38, 58):
        d.ellipse([int((cx - 6) * s), int(36 * s), int((cx + 6) * s), int(43 * s)], fill=(250, 250, 250))
        d.ellipse([int((cx - 3) * s), int(37 * s), int((cx + 3) * s), int(42 * s)], fill=(60, 40, 30))
        d.line([int((cx - 7) * s), int(32 * s), int((cx + 7) * s), int(31 * s)], fill=(70, 44, 30),
               width=max(1, int(2 * s)))
    d.line([int(48 * s), int(42 * s), int(46 * s), int(55 * s), int(50 * s), int(56 * s)],
           fill=(190, 140, 115), width=max(1, int(2 * s)))
    d.arc([int(38 * s), int(56 * s), int(58 * s), int(68 * s)], 20, 160, fill=(160, 70, 70),
          width=max(1, int(2 * s)))
    img = img.filter(ImageFilter.GaussianBlur(0.6 * s))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def make_events(image: bytes, content_type: str = "image/jpeg") -> dict:
    """name -> event: the five ready events for ``sam local invoke``."""
    b64 = base64.b64encode(image).decode("ascii")
    mp_body, mp_type = multipart_body(image, content_type=content_type)
    return {
        "predict-json.json": rest_event("POST", "/predict", body=json.dumps({"image": b64}),
                                        content_type="application/json"),
        "predict-dataurl.json": rest_event("POST", "/predict",
                                           body=json.dumps({"image": f"data:{content_type};base64,{b64}"}),
                                           content_type="application/json"),
        "predict-binary.json": rest_event("POST", "/predict", body=image, content_type=content_type),
        "predict-multipart.json": rest_event("POST", "/predict", body=mp_body, content_type=mp_type),
        "predict-bad-body.json": rest_event("POST", "/predict", body='{"image": "not base64 at all!"',
                                            content_type="application/json"),
        "get-model.json": rest_event("GET", "/model"),
    }


def write_events(out_dir: str, image: bytes, content_type: str = "image/jpeg") -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, event in make_events(image, content_type).items():
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(event, fh, indent=2)
            fh.write("\n")
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", help="build the events from this file instead of the synthetic face")
    ap.add_argument("--out", default=HERE, help="directory for the *.json events (default: events/)")
    args = ap.parse_args(argv)
    if args.image:
        with open(args.image, "rb") as fh:
            image = fh.read()
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "functions", "detect"))
        from detector.preprocess import MIME_TYPES, sniff_format

        content_type = MIME_TYPES.get(sniff_format(image) or "", "application/octet-stream")
    else:
        image, content_type = synthetic_face(), "image/jpeg"
    for path in write_events(args.out, image, content_type):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

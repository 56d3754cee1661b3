"""API Gateway REST proxy events in, proxy responses out: routing facts, the three body forms, CORS.

Pure functions: no model, no AWS. ``app.lambda_handler`` and the local gateway share them.

Body forms of ``POST /predict``:
1. ``application/json`` ``{"image": "<base64>"}`` (plain base64 or a ``data:`` URL);
2. raw image bytes (``image/*`` or ``application/octet-stream``; API Gateway's binary media types
   hand them over base64-encoded with ``isBase64Encoded``);
3. ``multipart/form-data`` with a file (or text) field ``image``.
The image format is always sniffed from the bytes later; the Content-Type only picks the form.
"""
from __future__ import annotations

import base64
import binascii
import io
import json

from .errors import BadRequest, DetectError, PayloadTooLarge, UnsupportedMediaType

try:  # SIMD base64 (make bench: the stdlib took ~1/3 of a 12 MP request; this is ~20x faster)
    from pybase64 import b64decode as _simd_b64decode
except ImportError:  # pragma: no cover - the layer and .venv install it; stay correct without
    _simd_b64decode = None


def b64decode(data, *, validate: bool) -> bytes:
    """``base64.b64decode`` with the same results: the SIMD decoder answers only for strictly valid
    base64 (where every decoder agrees); anything else goes to the stdlib, which decides."""
    if _simd_b64decode is not None:
        try:
            return _simd_b64decode(data, validate=True)
        except (binascii.Error, ValueError, TypeError):
            pass
    return base64.b64decode(data, validate=validate)

JSON_TYPES = ("application/json",)
# Raw-body form: these (and image/*) reach the function intact (the API's binary media types).
RAW_TYPES = ("application/octet-stream",)
MULTIPART_TYPE = "multipart/form-data"
IMAGE_FIELD = "image"
ALLOWED_METHODS = {"/predict": ("POST",), "/model": ("GET", "HEAD")}
CORS_ALLOW_HEADERS = "Content-Type,X-Api-Key,Authorization"
CORS_MAX_AGE = "600"


class Request:
    def __init__(self, method: str, path: str, headers: dict | None = None, body: bytes = b"",
                 has_body: bool = False, request_id: str = "local", query: dict | None = None,
                 options: dict | None = None) -> None:
        self.method = method
        self.path = path
        self.headers = headers if headers is not None else {}  # lower-case names
        self.body = body
        self.has_body = has_body
        self.request_id = request_id
        self.query = query if query is not None else {}  # query string (last value of each name)
        self.options = options if options is not None else {}  # request options from a JSON body ("explain")

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path}, {len(self.body)} bytes, id={self.request_id})"

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")


# --------------------------------------------------------------------------- events
def _headers(event: dict) -> dict:
    headers: dict = {}
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(key).lower()] = str(values[-1])
    for key, value in (event.get("headers") or {}).items():
        if value is not None:
            headers[str(key).lower()] = str(value)
    return headers


def normalize_path(path: str) -> str:
    path = "/" + (path or "/").strip("/")
    return path.lower() if path.lower() in ALLOWED_METHODS else path


def parse_event(event: dict, context=None) -> Request:
    """A REST API (v1) proxy event → ``Request``. Raises ``BadRequest`` if the gateway's base64 is bad."""
    if not isinstance(event, dict):
        raise BadRequest("The event is not an API Gateway proxy event.", code="bad_event")
    ctx = event.get("requestContext") or {}
    request_id = ctx.get("requestId") or getattr(context, "aws_request_id", None) or "local"
    method = str(event.get("httpMethod") or ctx.get("httpMethod") or "GET").upper()
    path = normalize_path(event.get("path") or ctx.get("resourcePath") or "/")
    raw = event.get("body")
    has_body = raw is not None
    if raw is None:
        body = b""
    elif event.get("isBase64Encoded"):
        try:
            body = b64decode(raw, validate=False)
        except (binascii.Error, ValueError, TypeError):
            raise BadRequest("The gateway's base64 body could not be decoded.", code="invalid_base64")
    elif isinstance(raw, bytes):
        body = raw
    else:
        # Text bodies (application/json and anything not in the binary media types).
        body = str(raw).encode("utf-8", "surrogateescape")
    query: dict = {}
    for key, values in (event.get("multiValueQueryStringParameters") or {}).items():
        if values:
            query[str(key)] = str(values[-1])
    for key, value in (event.get("queryStringParameters") or {}).items():
        if value is not None:
            query[str(key)] = str(value)
    return Request(
        method=method,
        path=path,
        headers=_headers(event),
        body=body,
        has_body=has_body,
        request_id=str(request_id),
        query=query,
    )


def route(request: Request) -> str:
    """``"predict"``, ``"model"`` or ``"options"``; ``NotFound``/``MethodNotAllowed`` otherwise."""
    from .errors import MethodNotAllowed, NotFound

    allowed = ALLOWED_METHODS.get(request.path)
    if allowed is None:
        raise NotFound(f"No route for {request.path}; use POST /predict or GET /model.")
    if request.method == "OPTIONS":
        return "options"
    if request.method not in allowed:
        err = MethodNotAllowed(f"{request.method} is not allowed on {request.path}; use {allowed[0]}.")
        err.allow = ",".join(allowed + ("OPTIONS",))
        raise err
    return request.path.strip("/")


# --------------------------------------------------------------------------- bodies
def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Plain base64 (standard or URL-safe, padding optional) or a ``data:...;base64,`` URL."""
    if not isinstance(text, str):
        raise BadRequest('"image" must be a base64 string.', code="invalid_field")
    text = text.strip()
    if text[:5].lower() == "data:":
        header, sep, payload = text.partition(",")
        if not sep or ";base64" not in header.lower():
            raise BadRequest("A data: URL must be base64-encoded (data:image/...;base64,...).",
                             code="invalid_base64")
        text = payload
    text = "".join(text.split())  # line-wrapped base64
    if not text:
        raise BadRequest('"image" is empty.', code="missing_field")
    # Refuse obviously oversized payloads before allocating the decoded bytes.
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"The decoded image is over the {max_bytes:,}-byte limit.")
    if "-" in text or "_" in text:
        text = text.translate(str.maketrans("-_", "+/"))
    text += "=" * (-len(text) % 4)
    try:
        data = b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest('"image" is not valid base64.', code="invalid_base64")
    if not data:
        raise BadRequest('"image" is empty.', code="missing_field")
    return data


def _json_image(body: bytes, max_bytes: int, options: dict | None = None) -> bytes:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[... nesting bombs
        raise BadRequest("The body is not valid JSON.", code="invalid_json")
    if not isinstance(doc, dict):
        raise BadRequest('The JSON body must be an object like {"image": "<base64>"}.', code="invalid_json")
    if IMAGE_FIELD not in doc or doc[IMAGE_FIELD] in (None, ""):
        raise BadRequest('The JSON body has no "image" field.', code="missing_field")
    if options is not None and "explain" in doc:
        options["explain"] = doc["explain"]
    return decode_base64_image(doc[IMAGE_FIELD], max_bytes)


def _multipart_image(request: Request, max_bytes: int) -> bytes:
    # Imported here: ~13 ms that only multipart requests pay.
    from multipart import MultipartError, MultipartParser, parse_options_header

    _, options = parse_options_header(request.content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary parameter.", code="malformed_multipart")
    body = request.body
    limit = len(body) + 1  # the body is already in memory: never spool to disk
    parser = MultipartParser(
        io.BytesIO(body),
        boundary,
        content_length=len(body),
        part_limit=32,
        spool_limit=limit,
        memory_limit=limit,
        disk_limit=0,
    )
    try:
        part = parser.get(IMAGE_FIELD)
    except MultipartError as exc:
        raise BadRequest(f"The multipart body is malformed: {exc}", code="malformed_multipart")
    if part is None:
        raise BadRequest('The multipart body has no "image" field.', code="missing_field")
    data = part.raw
    if not part.filename and part.content_type.split(";")[0].strip().lower() in ("", "text/plain"):
        # A text field: accept base64 / data: URL as in the JSON form.
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = None
        if text is not None and text.strip():
            from .preprocess import sniff_format

            if text.strip()[:5].lower() == "data:" or sniff_format(data) is None:
                return decode_base64_image(text, max_bytes)
    if not data:
        raise BadRequest('The "image" field is empty.', code="missing_field")
    return data


def extract_image(request: Request, max_bytes: int) -> bytes:
    """The uploaded image's bytes from any of the three body forms (format not yet checked)."""
    if not request.has_body or not request.body:
        raise BadRequest("The request has no body; send an image.", code="missing_body")
    media = request.media_type
    if media in JSON_TYPES or media.endswith("+json") or (not media and request.body.lstrip()[:1] == b"{"):
        data = _json_image(request.body, max_bytes, request.options)
    elif media == MULTIPART_TYPE:
        data = _multipart_image(request, max_bytes)
    elif media.startswith("image/") or media in RAW_TYPES:
        data = request.body  # raw bytes: sniffed later, whatever image/* type the header claims
    else:
        # text/plain, form-urlencoded (curl --data-binary's default), no Content-Type...: API Gateway
        # hands such bodies over as text, so binary bytes arrive mangled. Say what to send instead.
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'} is not accepted; send the image as image/* or "
            'application/octet-stream, as application/json {"image": "<base64>"}, or as '
            'multipart/form-data with the field "image".',
            code="unsupported_media_type",
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The image is {len(data):,} bytes; the limit is {max_bytes:,} bytes.")
    return data


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def explain_requested(request: Request) -> bool:
    """``"explain": true`` in a JSON body, else ``?explain=1`` (true/yes/on) in the query string.
    Anything else than a boolean (JSON) or one of those words (query) is 400 invalid_option."""
    if "explain" in request.options:
        value = request.options["explain"]
        if not isinstance(value, bool):
            raise BadRequest('"explain" must be true or false.', code="invalid_option")
        return value
    raw = request.query.get("explain")
    if raw is None:
        return False
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadRequest("explain must be 1 or 0 (true/false).", code="invalid_option")


# --------------------------------------------------------------------------- responses
def cors_headers(allow_origin: str, request_origin: str | None = None) -> dict:
    """``allow_origin`` is ``*``, one origin, or a comma-separated list (the request's is echoed)."""
    allowed = [o.strip() for o in (allow_origin or "*").split(",") if o.strip()] or ["*"]
    headers = {
        "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": CORS_MAX_AGE,
    }
    if "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
    elif len(allowed) == 1:
        headers["Access-Control-Allow-Origin"] = allowed[0]
    else:
        headers["Access-Control-Allow-Origin"] = request_origin if request_origin in allowed else allowed[0]
        headers["Vary"] = "Origin"
    return headers


def response(status: int, body: dict | None, *, cors: dict, request_id: str | None = None) -> dict:
    headers = {**cors, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if request_id:
        headers["X-Request-Id"] = request_id
    if body is None:
        return {"statusCode": status, "headers": headers, "body": "", "isBase64Encoded": False}
    headers["Content-Type"] = "application/json; charset=utf-8"
    return {
        "statusCode": status,
        "headers": headers,
        # ASCII-escaped: text chunks echoed in metadata can't break the UTF-8 encoding of the body
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False),
        "isBase64Encoded": False,
    }


def error_response(err: DetectError, *, cors: dict, request_id: str | None = None) -> dict:
    body = err.to_body()
    if request_id:
        body["error"]["request_id"] = request_id
    resp = response(err.status, body, cors=cors, request_id=request_id)
    if getattr(err, "allow", None):
        resp["headers"]["Allow"] = err.allow
    return resp

"""Drive the Lambda handler in-process the way API Gateway (REST, proxy integration) calls it.

``load_handler()`` imports ``functions/detect/app.py`` once per process (module scope, as Lambda
does: the model is loaded once and stays warm). ``event_for()`` builds the REST proxy event for a
request; ``call()`` invokes the handler and checks the answer's shape (a dict with an int
statusCode, headers, a JSON body — never a traceback).
"""
from __future__ import annotations

import base64
import fnmatch
import functools
import importlib.util
import json
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_PATH = os.path.join(ROOT, "functions", "detect", "app.py")
SHIPPED_MODEL = os.path.join(ROOT, "layers", "model", "model.tflite")
FACE_MODELS = os.path.join(ROOT, "layers", "model", "faces")  # make face-models

# API Gateway base64-encodes a body when its Content-Type matches one of the API's binary media
# types; template.yaml is the source of truth (read by binary_media_types()).
DEFAULT_BINARY_MEDIA_TYPES = ("*/*",)


def model_path() -> str | None:
    """The model to serve: DETECT_TEST_MODEL or MODEL_PATH if set (and present), else the shipped
    one (the same order as tests/conftest.py)."""
    for path in (os.environ.get("DETECT_TEST_MODEL"), os.environ.get("MODEL_PATH"), SHIPPED_MODEL):
        if path and os.path.exists(path):
            return path
    return None


def template_environment() -> dict:
    """The function's environment from template.yaml (parameter defaults resolved), if readable."""
    try:
        return {k: str(v) for k, v in _settings().environment.items()}
    except Exception:  # no gateway package / unreadable template: config.py's defaults apply
        return {}


_HANDLER = None


def load_handler(model: str | None = None):
    """Import app.py once per process (a cold start, then warm calls, as Lambda does) with the
    template's environment and ``MODEL_PATH`` set to ``model`` (default: ``model_path()``)."""
    global _HANDLER
    if _HANDLER is None:
        model = model or model_path()
        if not model:
            raise FileNotFoundError("no model: set MODEL_PATH or build layers/model/model.tflite")
        for key, value in template_environment().items():
            if key not in ("MODEL_PATH", "FACE_MODEL_DIR"):  # Lambda's /opt/model paths
                os.environ.setdefault(key, value)
        os.environ["MODEL_PATH"] = model
        os.environ.setdefault("FACE_MODEL_DIR", FACE_MODELS)
        spec = importlib.util.spec_from_file_location("detect_app_under_test", APP_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        if getattr(module, "MODEL_ERROR", None) is not None:
            raise RuntimeError(f"the handler could not load {model}: {module.MODEL_ERROR.message}")
        _HANDLER = module.lambda_handler
    return _HANDLER


def _settings():
    """template.yaml read by the local gateway's reader (one reader of the template for both)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from gateway.template import load_settings

    return load_settings(os.path.join(ROOT, "template.yaml"))


@functools.lru_cache(maxsize=1)
def binary_media_types() -> tuple[str, ...]:
    """BinaryMediaTypes of the REST API in template.yaml, or the default."""
    try:
        return tuple(_settings().binary_media_types) or DEFAULT_BINARY_MEDIA_TYPES
    except (OSError, ValueError):
        return DEFAULT_BINARY_MEDIA_TYPES


def _is_binary(content_type: str | None, types: tuple[str, ...]) -> bool:
    # API Gateway matches the Content-Type's media type (parameters dropped) against the list;
    # a request with no Content-Type is matched as if it were the first entry's wildcard only.
    ctype = (content_type or "").split(";")[0].strip().lower()
    return any(fnmatch.fnmatch(ctype or "x/x", t.lower()) for t in types)


def event_for(method: str, path: str, headers: dict | None, body: bytes | None, *,
              binary_types: tuple[str, ...] | None = None, stage: str = "Prod") -> dict:
    """The API Gateway REST proxy event (payload 1.0) for one HTTP request."""
    headers = dict(headers or {})
    types = binary_types if binary_types is not None else binary_media_types()
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if body:
        if _is_binary(ctype, types):
            text, b64 = base64.b64encode(body).decode(), True
        else:
            text, b64 = body.decode("utf-8", errors="replace"), False
    else:
        text, b64 = None, False
    request_id = str(uuid.uuid4())
    resource = path if path in ("/predict", "/model") else "/{proxy+}"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None if resource != "/{proxy+}" else {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "hardening"},
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": b64,
    }


class Answer:
    """The handler's answer, decoded and shape-checked."""

    def __init__(self, raw: dict):
        if not isinstance(raw, dict):
            raise AssertionError(f"handler returned {type(raw).__name__}, not a dict")
        self.raw = raw
        self.status = raw.get("statusCode")
        if not isinstance(self.status, int):
            raise AssertionError(f"statusCode is {self.status!r}")
        self.headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        body = raw.get("body") or ""
        if raw.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        self.text = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def code(self) -> str | None:
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.code or ''} {self.text[:160]!r}>"


def call(handler, event: dict, context=None) -> Answer:
    return Answer(handler(event, context if context is not None else LambdaContext()))


class LambdaContext:
    """The bits of the Lambda context object a handler may read."""

    function_name = "DetectFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:DetectFunction"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/DetectFunction"
    log_stream_name = "local"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# --------------------------------------------------------------------------- the local gateway
def local_gateway(handler=None, *, rate: float = 1e9, burst: float = 1e9):
    """gateway.apigw.Gateway (API Gateway's semantics: 10 MB limit, throttle, gateway responses
    from template.yaml) in front of ``handler``, in-process; throttle opened up unless told."""
    settings = _settings()
    from gateway.apigw import Gateway, TokenBucket

    return Gateway(handler=handler or load_handler(), settings=settings, bucket=TokenBucket(rate, burst))


def through_gateway(gw, method: str, path: str, headers: dict | None, body: bytes | None) -> Answer:
    """One HTTP request through the in-process gateway, answered as an ``Answer``."""
    resp = gw.invoke(method=method, target=path, headers=list((headers or {}).items()), body=body,
                     source_ip="127.0.0.1", content_length=len(body or b""))
    return Answer({"statusCode": resp.status, "headers": dict(resp.headers), "body": resp.body.decode("utf-8", "replace")})

"""API Gateway (REST, Lambda proxy integration) semantics, without HTTP plumbing.

``build_event`` turns a request into the proxy event API Gateway sends to Lambda
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html),
``map_response`` turns the function's answer back into status, headers and body, and
``TokenBucket`` is the stage throttle (steady rate + burst). ``Gateway`` ties them together.
"""
from __future__ import annotations

import base64
import fnmatch
import json
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from .template import ApiSettings, Route

log = logging.getLogger("gateway")

# API Gateway REST quota: 10 MB request payload (not configurable, so not in the template).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
API_ID = "local000ap"
ACCOUNT_ID = "123456789012"

# Gateway responses: (response type, default status, message, x-amzn-ErrorType) as API Gateway
# sends them; the template's x-amazon-apigateway-gateway-responses can restyle each (see gateway_error).
THROTTLED = ("THROTTLED", 429, "Too Many Requests", "ThrottlingException")
TOO_LARGE = ("REQUEST_TOO_LARGE", 413, "Request Too Long", "RequestTooLongException")
MISSING_TOKEN = ("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token",
                 "MissingAuthenticationTokenException")
INTERNAL = ("DEFAULT_5XX", 502, "Internal server error", None)


def media_type_matches(content_type: str | None, patterns: list[str]) -> bool:
    """True when a Content-Type/Accept value matches one of the binary media types (wildcards ok)."""
    if not content_type:
        return False
    mt = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(mt, p.strip().lower()) for p in patterns)


def build_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    route: Route,
    path_parameters: dict | None,
    settings: ApiSettings,
    source_ip: str,
    request_id: str,
    now: float | None = None,
    protocol: str = "HTTP/1.1",
) -> dict:
    """The REST API proxy event for one request (``target`` is the raw request-target)."""
    now = time.time() if now is None else now
    parts = urlsplit(target)
    path = unquote(parts.path) or "/"

    # Headers API Gateway adds on its way to the function (edge/ALB style forwarding headers).
    lower = {k.lower() for k, _ in headers}
    headers = list(headers)
    if "x-forwarded-for" not in lower:
        headers.append(("X-Forwarded-For", source_ip))
    if "x-forwarded-proto" not in lower:
        headers.append(("X-Forwarded-Proto", "http"))
    if "x-amzn-trace-id" not in lower:
        headers.append(("X-Amzn-Trace-Id", "Root=1-%08x-%s" % (int(now), request_id.replace("-", "")[:24])))

    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        # API Gateway keeps the client's header-name case; a repeated header's last value wins in `headers`.
        existing = next((k for k in multi if k.lower() == name.lower()), None)
        key = existing or name
        multi.setdefault(key, []).append(value)
        single[key] = value

    qs_single: dict[str, str] = {}
    qs_multi: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        qs_multi.setdefault(k, []).append(v)
        qs_single[k] = v

    content_type = next((v for k, v in single.items() if k.lower() == "content-type"), None)
    accept_binary = media_type_matches(content_type, settings.binary_media_types)
    if not body:
        body_out, is_b64 = None, False
    elif accept_binary:
        body_out, is_b64 = base64.b64encode(body).decode("ascii"), True
    else:
        body_out, is_b64 = body.decode("utf-8", errors="replace"), False

    user_agent = next((v for k, v in single.items() if k.lower() == "user-agent"), None)
    host = next((v for k, v in single.items() if k.lower() == "host"), "localhost")
    stamp = datetime.fromtimestamp(now, tz=timezone.utc)
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": qs_single or None,
        "multiValueQueryStringParameters": qs_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local1",
            "resourcePath": route.resource,
            "httpMethod": method.upper(),
            "extendedRequestId": request_id.replace("-", "")[:16] + "=",
            "requestTime": stamp.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{settings.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": protocol,
            "stage": settings.stage,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host.split(":", 1)[0],
            "apiId": API_ID,
        },
        "body": body_out,
        "isBase64Encoded": is_b64,
    }


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponse(ValueError):
    pass


def map_response(result, *, accept: str | None, binary_media_types: list[str]) -> HttpResponse:
    """Lambda proxy answer -> HTTP response, as API Gateway does (MalformedResponse -> 502)."""
    if not isinstance(result, dict):
        raise MalformedResponse("function answer is not a JSON object")
    allowed = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
    extra = set(result) - allowed
    if extra:
        raise MalformedResponse(f"unexpected fields {sorted(extra)}")
    status = result.get("statusCode", 200)
    try:
        status = int(status)
    except (TypeError, ValueError):
        raise MalformedResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise MalformedResponse("statusCode out of range")
    headers = result.get("headers") or {}
    mv = result.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(mv, dict):
        raise MalformedResponse("headers must be objects")
    # Docs: values in both are merged; a name in multiValueHeaders wins over the same name in headers.
    merged: list[tuple[str, str]] = []
    mv_lower = {k.lower() for k in mv}
    for k, v in headers.items():
        if k.lower() not in mv_lower:
            merged.append((str(k), str(v)))
    for k, values in mv.items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders values must be lists")
        merged.extend((str(k), str(v)) for v in values)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        raise MalformedResponse("body must be a string")
    if result.get("isBase64Encoded") and body:
        first_accept = (accept or "").split(",", 1)[0]
        if media_type_matches(first_accept, binary_media_types):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise MalformedResponse("isBase64Encoded body is not base64") from None
    if not any(k.lower() == "content-type" for k, _ in merged):
        merged.append(("Content-Type", "application/json"))
    return HttpResponse(status, merged, data)


class TokenBucket:
    """API Gateway's throttle: ``burst`` tokens, refilled at ``rate`` per second; starts full."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        if rate < 0 or burst < 0:
            raise ValueError("rate and burst must be >= 0")
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class LambdaContext:
    """The context object a Python Lambda handler receives."""

    def __init__(self, settings: ApiSettings, request_id: str):
        self.function_name = settings.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{settings.function_name}")
        self.memory_limit_in_mb = str(settings.memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{settings.function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + settings.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def gateway_error(spec, request_id: str, settings: ApiSettings | None = None) -> HttpResponse:
    """API Gateway's own answer (throttled, too large, no route, function failed).

    Without a customisation the body is ``{"message": "..."}``. A gateway response of that type in the
    template (else DEFAULT_4XX/DEFAULT_5XX) sets the status, headers and body template, where
    ``$context.error.messageString`` is the quoted message.
    """
    rtype, status, message, error_type = spec
    custom = None
    if settings is not None:
        responses = settings.gateway_responses or {}
        custom = responses.get(rtype) or responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    headers = [("Content-Type", "application/json")]
    body = json.dumps({"message": message})
    if custom is not None:
        if custom.status and rtype in (settings.gateway_responses or {}):
            status = custom.status
        headers.extend((k, v) for k, v in custom.headers.items())
        if custom.template is not None:
            body = (custom.template
                    .replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.error.message", message)
                    .replace("$context.error.responseType", rtype)
                    .replace("$context.requestId", request_id))
    headers.append(("x-amzn-RequestId", request_id))
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return HttpResponse(status, headers, body.encode())


@dataclass
class Gateway:
    """A REST API stage in front of one Lambda handler."""

    handler: Callable[[dict, object], dict]
    settings: ApiSettings
    bucket: TokenBucket = None
    max_payload: int = MAX_PAYLOAD_BYTES
    # One function instance: calls are serialised like a Lambda with one concurrent execution.
    _invoke_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.bucket is None:
            self.bucket = TokenBucket(self.settings.rate, self.settings.burst)

    def strip_stage(self, target: str) -> str:
        """``/<stage>/predict`` (the execute-api URL form, what a published config.js uses) -> ``/predict``."""
        prefix = "/" + self.settings.stage
        if target == prefix or target.startswith((prefix + "/", prefix + "?")):
            rest = target[len(prefix):]
            return rest if rest.startswith("/") else "/" + rest
        return target

    def route(self, method: str, target: str, *, greedy: bool | None = None):
        path = unquote(urlsplit(target).path) or "/"
        for r in self.settings.routes:
            if greedy is not None and r.greedy != greedy:
                continue
            params = r.match(method, path)
            if params is not None:
                return r, params
        return None

    def invoke(self, *, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None,
               source_ip: str, content_length: int | None = None) -> HttpResponse:
        request_id = str(uuid.uuid4())
        target = self.strip_stage(target)
        hit = self.route(method, target)
        if hit is None:
            return gateway_error(MISSING_TOKEN, request_id, self.settings)
        size = content_length if content_length is not None else len(body or b"")
        if size > self.max_payload:
            return gateway_error(TOO_LARGE, request_id, self.settings)
        if not self.bucket.take():
            return gateway_error(THROTTLED, request_id, self.settings)
        route, params = hit
        event = build_event(method=method, target=target, headers=headers, body=body, route=route,
                            path_parameters=params, settings=self.settings, source_ip=source_ip,
                            request_id=request_id)
        accept = next((v for k, v in headers if k.lower() == "accept"), None)
        try:
            with self._invoke_lock:
                result = self.handler(event, LambdaContext(self.settings, request_id))
            # The answer crosses the Lambda boundary as JSON.
            result = json.loads(json.dumps(result))
            resp = map_response(result, accept=accept, binary_media_types=self.settings.binary_media_types)
        except MalformedResponse as exc:
            log.error("Execution failed due to configuration error: Malformed Lambda proxy response (%s)", exc)
            return gateway_error(INTERNAL, request_id, self.settings)
        except Exception:  # the function crashed: API Gateway answers 502, the log gets the traceback
            log.error("Lambda execution failed:\n%s", traceback.format_exc())
            return gateway_error(INTERNAL, request_id, self.settings)
        resp.headers.append(("x-amzn-RequestId", request_id))
        return resp

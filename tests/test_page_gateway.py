"""The local gateway (gateway/): template reading, REST proxy event mapping, response mapping,
throttle and payload limit, static files, and the real handler behind it over HTTP."""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway import cfnyaml  # noqa: E402
from gateway.apigw import (  # noqa: E402
    MAX_PAYLOAD_BYTES, Gateway, MalformedResponse, TokenBucket, build_event, map_response,
    media_type_matches,
)
from gateway.server import config_js, make_server  # noqa: E402
from gateway.template import Route, load_settings  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
FACES = ROOT.parent / "shared" / "data" / "faces"


# --------------------------------------------------------------------------- helpers
class CfnLoader(yaml.SafeLoader):
    """PyYAML with CloudFormation's short-form tags, as the reference for gateway/cfnyaml.py."""


def _construct(tag):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return cfnyaml._apply_tag("!" + tag, value)
    return construct


for _tag in ("Ref GetAtt Sub Join If Equals Not And Or Condition Select Split FindInMap Base64 "
             "ImportValue GetAZs Cidr Transform").split():
    CfnLoader.add_constructor("!" + _tag, _construct(_tag))


def reference_template() -> dict:
    return yaml.load(TEMPLATE.read_text(), CfnLoader)


class Recorder:
    """A stand-in Lambda handler that records events and answers what it is told."""

    def __init__(self, answer=None):
        self.events = []
        self.answer = answer or {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                                 "body": json.dumps({"ok": True})}

    def __call__(self, event, context):
        self.events.append((event, context))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def settings():
    return load_settings(TEMPLATE)


def serve(gateway):
    httpd = make_server("127.0.0.1", 0, gateway)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


@pytest.fixture
def http_gateway():
    """(gateway, recorder, port) over real HTTP, throttle from the template."""
    rec = Recorder()
    s = settings()
    gw = Gateway(handler=rec, settings=s, bucket=TokenBucket(s.rate, s.burst))
    httpd, thread = serve(gw)
    yield gw, rec, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


# --------------------------------------------------------------------------- the template reader
def test_yaml_reader_equals_pyyaml_on_the_real_template():
    assert cfnyaml.load(TEMPLATE) == reference_template()


TRICKY = """\
Description: >
  folded text
  on two lines

  and a paragraph
Literal: |-
  keep: this
    indented # not a comment
Quoted: 'it''s "x"'   # comment
Double: "a \\"b\\" \\u00e9"
Flow: [a, 'b, c', !Ref X, {k: v, n: [1, 2.5, true, null]}]
Multi: [a,
  b]
Tagged: !If
  - Cond
  - !Sub "${AWS::Region}-x"
  - !Ref AWS::NoValue
List:
- x
- - nested
  - list
- k: v
  k2: !GetAtt A.B
Empty:
Plain: a plain
  scalar continued
"""


def test_yaml_reader_equals_pyyaml_on_tricky_constructs():
    assert cfnyaml.loads(TRICKY) == yaml.load(TRICKY, CfnLoader)


def test_settings_come_from_the_template_defaults():
    tpl = reference_template()
    params = tpl["Parameters"]
    api = next(r["Properties"] for r in tpl["Resources"].values() if r["Type"] == "AWS::Serverless::Api")
    method = api["MethodSettings"][0]
    s = settings()
    # The throttle is whatever the stage's MethodSettings point at (a parameter default here).
    assert s.rate == float(params[method["ThrottlingRateLimit"]["Ref"]]["Default"])
    assert s.burst == int(params[method["ThrottlingBurstLimit"]["Ref"]]["Default"])
    assert s.binary_media_types == [t.replace("~1", "/") for t in api["BinaryMediaTypes"]]
    assert s.stage == params[api["StageName"]["Ref"]]["Default"]
    env = tpl["Resources"][s.function_name]["Properties"]["Environment"]["Variables"]
    assert s.environment["MAX_IMAGE_BYTES"] == str(params[env["MAX_IMAGE_BYTES"]["Ref"]]["Default"])
    assert s.max_image_bytes == int(params[env["MAX_IMAGE_BYTES"]["Ref"]]["Default"])
    assert "AUDIT_BUCKET" not in s.environment  # an !If is not static: left unset
    # Every path of the OpenAPI body that integrates with the function is a route.
    paths = api["DefinitionBody"]["paths"]
    assert {r.resource for r in s.routes} == set(paths)
    throttled = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["THROTTLED"]
    assert s.gateway_responses["THROTTLED"].status == throttled["statusCode"]


def test_route_matching():
    assert Route("ANY", "/{proxy+}").match("POST", "/predict") == {"proxy": "predict"}
    assert Route("ANY", "/{proxy+}").match("GET", "/a/b") == {"proxy": "a/b"}
    assert Route("ANY", "/{proxy+}").match("GET", "/") is None
    assert Route("ANY", "/").match("GET", "/") == {}
    assert Route("POST", "/predict").match("GET", "/predict") is None
    assert Route("GET", "/items/{id}").match("GET", "/items/7") == {"id": "7"}


# --------------------------------------------------------------------------- request -> event
def _event(method="POST", target="/predict", headers=(), body=None, source_ip="127.0.0.1"):
    s = settings()
    gw = Gateway(handler=Recorder(), settings=s)
    route, params = gw.route(method, target)
    return build_event(method=method, target=target, headers=list(headers), body=body, route=route,
                       path_parameters=params, settings=s, source_ip=source_ip,
                       request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef", now=1795309200.0)


def _shape(value):
    """The key structure of an event (values replaced by their JSON type)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize("name", ["predict-json.json", "predict-binary.json", "get-model.json"])
def test_event_has_the_shape_of_the_committed_rest_events(name):
    """Every key (and nesting) of the handler engineer's REST proxy events is in ours."""
    ref = json.loads((EVENTS / name).read_text())
    ct = ref["headers"].get("Content-Type") if ref.get("headers") else None
    body = None
    if ref["body"] is not None:
        body = base64.b64decode(ref["body"]) if ref["isBase64Encoded"] else ref["body"].encode()
    ev = _event(ref["httpMethod"], ref["path"], [(k, v) for k, v in ref["headers"].items() if k != "Host"]
                + [("Host", "127.0.0.1:3000")], body)

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict) and k not in ("headers", "multiValueHeaders", "pathParameters",
                                                   "queryStringParameters", "multiValueQueryStringParameters"):
                out |= keys(v, prefix + k + ".")
        return out

    missing = keys(ref) - keys(ev)
    assert not missing, f"keys of {name} the gateway does not send: {sorted(missing)}"
    for k in ("resource", "path", "httpMethod", "pathParameters", "isBase64Encoded"):
        assert ev[k] == ref[k], k
    assert ev["requestContext"]["resourcePath"] == ref["requestContext"]["resourcePath"]
    assert ev["requestContext"]["path"] == ref["requestContext"]["path"]
    assert ev["requestContext"]["stage"] == ref["requestContext"]["stage"]
    assert ev["requestContext"]["httpMethod"] == ref["requestContext"]["httpMethod"]
    if body is not None:
        got = base64.b64decode(ev["body"]) if ev["isBase64Encoded"] else ev["body"].encode()
        assert got == body
        assert ev["headers"]["Content-Type"] == ct


def test_event_matches_the_documented_proxy_format():
    """AWS's documented REST proxy input format (Lambda proxy integration, 'Input format')."""
    ev = _event("POST", "/predict?x=1&x=2&y=", [("Content-Type", "application/json"),
                                                  ("X-Tag", "a"), ("x-tag", "b"), ("User-Agent", "t/1")],
                b'{"image": "abc"}', source_ip="10.1.2.3")
    documented = {"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                  "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext",
                  "body", "isBase64Encoded"}
    assert set(ev) == documented
    rc = ev["requestContext"]
    for key in ("accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId", "httpMethod",
                "identity", "path", "protocol", "requestId", "requestTime", "requestTimeEpoch",
                "resourceId", "resourcePath", "stage"):
        assert key in rc, key
    assert rc["requestId"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert rc["identity"]["sourceIp"] == "10.1.2.3"
    assert rc["identity"]["userAgent"] == "t/1"
    assert rc["requestTime"] == "22/Nov/2026:01:00:00 +0000"
    assert rc["requestTimeEpoch"] == 1795309200000
    assert ev["body"] == '{"image": "abc"}' and ev["isBase64Encoded"] is False
    # Repeated header and query parameter: last value in the single map, all in the multi map.
    assert ev["headers"]["X-Tag"] == "b" and ev["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert ev["queryStringParameters"] == {"x": "2", "y": ""}
    assert ev["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert ev["headers"]["X-Forwarded-For"] == "10.1.2.3"
    assert ev["pathParameters"] == {"proxy": "predict"} and ev["resource"] == "/{proxy+}"


@pytest.mark.parametrize("content_type,binary", [
    ("image/jpeg", True), ("image/png", True), ("multipart/form-data; boundary=x", True),
    ("application/octet-stream", True), ("application/json", False), ("text/plain", False), (None, False),
])
def test_binary_media_types_decide_isBase64Encoded(content_type, binary):
    data = bytes(range(256)) * 4
    headers = [("Content-Type", content_type)] if content_type else []
    ev = _event(headers=headers, body=data)
    assert ev["isBase64Encoded"] is binary
    if binary:
        assert base64.b64decode(ev["body"]) == data
    else:
        assert isinstance(ev["body"], str)  # text: non-UTF-8 bytes are replaced, as API Gateway does


def test_empty_body_is_null_and_no_query_is_null():
    ev = _event("GET", "/model", [], b"")
    assert ev["body"] is None and ev["isBase64Encoded"] is False
    assert ev["queryStringParameters"] is None and ev["multiValueQueryStringParameters"] is None


def test_media_type_wildcards():
    assert media_type_matches("image/png", ["image/*"])
    assert media_type_matches("IMAGE/PNG; q=1", ["image/png"])
    assert not media_type_matches("text/html", ["image/*"])
    assert media_type_matches("text/html", ["*/*"])


# --------------------------------------------------------------------------- answer -> response
def test_response_mapping_merges_headers_as_documented():
    r = map_response({"statusCode": 201, "headers": {"A": "1", "B": "2"},
                      "multiValueHeaders": {"B": ["3", "4"], "C": ["5"]}, "body": "hi"},
                     accept=None, binary_media_types=[])
    assert r.status == 201 and r.body == b"hi"
    assert ("A", "1") in r.headers and ("B", "2") not in r.headers
    assert [v for k, v in r.headers if k == "B"] == ["3", "4"]
    assert ("Content-Type", "application/json") in r.headers  # API Gateway's default


def test_base64_answer_is_decoded_only_when_accept_is_binary():
    raw = b"\x89PNG\r\n\x1a\n\x00\x01"
    ans = {"statusCode": 200, "headers": {"Content-Type": "image/png"},
           "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    assert map_response(ans, accept="image/png", binary_media_types=["image/png"]).body == raw
    assert map_response(ans, accept="application/json", binary_media_types=["image/png"]).body == ans["body"].encode()


@pytest.mark.parametrize("bad", [None, "x", {"statusCode": "abc"}, {"statusCode": 200, "body": {"a": 1}},
                                 {"statusCode": 200, "extra": 1}, {"statusCode": 700}])
def test_malformed_answers_are_rejected(bad):
    with pytest.raises(MalformedResponse):
        map_response(bad, accept=None, binary_media_types=[])


def test_function_failure_and_malformed_answer_are_502_without_traceback(caplog):
    s = settings()
    for answer in (RuntimeError("boom secret"), {"statusCode": 200, "body": {"not": "a string"}}):
        gw = Gateway(handler=Recorder(answer), settings=s)
        r = gw.invoke(method="POST", target="/predict", headers=[], body=b"{}", source_ip="127.0.0.1")
        assert r.status == 502
        body = json.loads(r.body)
        assert "Internal server error" in json.dumps(body)
        assert b"boom" not in r.body and b"Traceback" not in r.body


# --------------------------------------------------------------------------- throttle and limits
def test_token_bucket_burst_then_rate():
    now = [0.0]
    b = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.49
    assert not b.take()  # 0.98 of a token
    now[0] += 0.02
    assert b.take() and not b.take()
    now[0] += 100
    assert [b.take() for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_throttle_answers_the_templates_429_and_spares_the_function():
    s = settings()
    now = [0.0]
    rec = Recorder()
    gw = Gateway(handler=rec, settings=s, bucket=TokenBucket(s.rate, s.burst, clock=lambda: now[0]))
    statuses = [gw.invoke(method="POST", target="/predict", headers=[], body=b"{}", source_ip="1.2.3.4").status
                for _ in range(s.burst + 1)]
    assert statuses == [200] * s.burst + [429]
    assert len(rec.events) == s.burst
    r = gw.invoke(method="POST", target="/predict", headers=[], body=b"{}", source_ip="1.2.3.4")
    assert r.status == 429
    body = json.loads(r.body)
    # The body is the template's THROTTLED gateway response with the gateway's message in it.
    tpl = reference_template()
    api = next(x["Properties"] for x in tpl["Resources"].values() if x["Type"] == "AWS::Serverless::Api")
    template = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["THROTTLED"]["responseTemplates"]["application/json"]
    assert body == json.loads(template.replace("$context.error.messageString", '"Too Many Requests"'))
    assert "Too Many Requests" in json.dumps(body)
    headers = dict(r.headers)
    assert headers["Access-Control-Allow-Origin"] == tpl["Parameters"]["CorsAllowOrigin"]["Default"]
    now[0] += 1.0 / s.rate
    assert gw.invoke(method="POST", target="/predict", headers=[], body=b"{}", source_ip="1.2.3.4").status == 200


def test_without_a_gateway_response_the_429_body_is_api_gateways_default():
    s = settings()
    s.gateway_responses = {}
    gw = Gateway(handler=Recorder(), settings=s, bucket=TokenBucket(0, 0))
    r = gw.invoke(method="POST", target="/predict", headers=[], body=b"{}", source_ip="1.2.3.4")
    assert r.status == 429 and json.loads(r.body) == {"message": "Too Many Requests"}


def test_payload_over_10_mb_is_413_over_http_without_reaching_the_function(http_gateway):
    gw, rec, port = http_gateway
    assert gw.max_payload == MAX_PAYLOAD_BYTES == 10 * 1024 * 1024
    # Announce 10 MB + 1 and send only a little: the gateway must answer without reading it all.
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                 b"Content-Length: %d\r\n\r\n" % (MAX_PAYLOAD_BYTES + 1) + b"\xff\xd8" * 100)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 413")
    assert b"Request Too Long" in data
    assert rec.events == []
    # Exactly 10 MB is still passed on.
    status, _, _ = request(port, "POST", "/predict", body=b"\0" * MAX_PAYLOAD_BYTES,
                           headers={"Content-Type": "application/octet-stream"})
    assert status == 200 and len(rec.events) == 1
    assert len(base64.b64decode(rec.events[0][0]["body"])) == MAX_PAYLOAD_BYTES


def test_http_round_trip_maps_everything(http_gateway):
    gw, rec, port = http_gateway
    rec.answer = {"statusCode": 418, "headers": {"Content-Type": "application/json", "X-One": "1"},
                  "multiValueHeaders": {"Set-Thing": ["a", "b"]}, "body": '{"error": {"code": "teapot"}}'}
    status, headers, body = request(port, "POST", "/predict?q=1", body=b'{"image": "x"}',
                                    headers={"Content-Type": "application/json", "X-Custom": "v"})
    assert status == 418 and json.loads(body) == {"error": {"code": "teapot"}}
    assert headers["x-one"] == "1" and "x-amzn-requestid" in headers
    event, context = rec.events[-1]
    assert event["httpMethod"] == "POST" and event["path"] == "/predict"
    assert event["headers"]["X-Custom"] == "v" and event["queryStringParameters"] == {"q": "1"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert context.aws_request_id == event["requestContext"]["requestId"] == headers["x-amzn-requestid"]
    assert context.memory_limit_in_mb == str(gw.settings.memory_mb)
    assert 0 < context.get_remaining_time_in_millis() <= gw.settings.timeout_s * 1000


def test_static_files_config_and_no_escape(http_gateway):
    gw, rec, port = http_gateway
    status, headers, body = request(port, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'id="file"' in body and "connect-src 'self'" in headers["content-security-policy"]
    status, headers, body = request(port, "GET", "/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    status, headers, body = request(port, "GET", "/config.js")
    assert status == 200 and body.decode() == config_js(gw.settings)
    assert f'"maxImageBytes": {gw.settings.max_image_bytes}' in body.decode()
    assert rec.events == []  # the page's files never reach the function
    for path in ("/../template.yaml", "/%2e%2e/template.yaml", "/..%2ftemplate.yaml"):
        status, _, body = request(port, "GET", path)
        assert b"ThrottleRateLimit" not in body
    # Anything else is an API request: the function sees it.
    status, _, _ = request(port, "GET", "/model")
    assert status == 200 and rec.events[-1][0]["path"] == "/model"


# --------------------------------------------------------------------------- the real handler
@pytest.fixture(scope="module")
def real_gateway(model_path):
    """The real functions/detect/app.py behind the gateway over HTTP (template throttle)."""
    from gateway.server import build_gateway

    old = os.environ.get("MODEL_PATH")
    os.environ["MODEL_PATH"] = str(model_path)
    try:
        gw = build_gateway(TEMPLATE)
    finally:
        if old is None:
            os.environ.pop("MODEL_PATH", None)
        else:
            os.environ["MODEL_PATH"] = old
    httpd, thread = serve(gw)
    yield gw, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _face(kind="real"):
    files = sorted((FACES / "mesonet-df" / kind).glob("*.jpg"))
    assert files, f"no shared faces under {FACES}"
    return files[0]


def test_real_handler_through_the_gateway(real_gateway):
    gw, port = real_gateway
    face = _face().read_bytes()
    # JSON with a data: URL, as the page sends it.
    payload = json.dumps({"image": "data:image/jpeg;base64," + base64.b64encode(face).decode()})
    status, headers, body = request(port, "POST", "/predict", body=payload, headers={"Content-Type": "application/json"})
    assert status == 200, body
    ans = json.loads(body)
    assert ans["label"] in ("REAL", "FAKE") and 0 <= ans["fake_probability"] <= 1
    assert ans["image"]["format"] == "JPEG" and ans["metadata"]["bytes"] == len(face)
    assert ans["request_id"] == headers["x-amzn-requestid"]
    # Raw bytes (a binary media type: base64-encoded by the gateway, decoded by the handler).
    status, _, body = request(port, "POST", "/predict", body=face, headers={"Content-Type": "image/jpeg"})
    assert status == 200 and json.loads(body)["fake_probability"] == ans["fake_probability"]
    # A text file pretending to be a JPEG: the API's own 4xx.
    fake = json.dumps({"image": "data:image/jpeg;base64," + base64.b64encode(b"just some text\n").decode()})
    status, _, body = request(port, "POST", "/predict", body=fake, headers={"Content-Type": "application/json"})
    assert status == 415 and json.loads(body)["error"]["code"] == "not_an_image"
    status, _, body = request(port, "GET", "/model")
    assert status == 200 and json.loads(body)["name"] == ans["model"]["name"]
    # A browser's CORS preflight (the published page calls the API cross-origin).
    status, headers, _ = request(port, "OPTIONS", "/predict", headers={
        "Origin": "https://d111111abcdef8.cloudfront.net", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status in (200, 204) and headers.get("access-control-allow-origin")
    assert "POST" in headers.get("access-control-allow-methods", "")


def test_make_run_cli_prints_the_url_and_serves(model_path):
    """`python -m gateway` (what `make run` starts): prints its URL, serves the page and the API."""
    env = dict(os.environ, MODEL_PATH=str(model_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", "0", "--rate", "5", "--burst", "7", "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for _ in range(50):  # the handler's own JSON log lines may come first
            line = proc.stdout.readline()
            seen.append(line)
            if line.startswith("Deepfake detector: ") or not line:
                break
        assert line.startswith("Deepfake detector: http://127.0.0.1:"), "".join(seen)
        assert "throttle 5/s burst 7" in line and str(model_path) in line
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        status, _, body = request(port, "GET", "/")
        assert status == 200 and b"Deepfake image detector" in body
        status, _, body = request(port, "GET", "/model")
        assert status == 200 and "sha256" in json.loads(body)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_chunked_request_body_is_reassembled(http_gateway):
    gw, rec, port = http_gateway
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    parts = [b"\xff\xd8\xff", b"\x00" * 5000, b"end"]
    conn.request("POST", "/predict", body=iter(parts), headers={"Content-Type": "image/jpeg"}, encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200
    assert base64.b64decode(rec.events[-1][0]["body"]) == b"".join(parts)


def test_gateway_needs_only_the_standard_library():
    """`make run` has only the runtime requirements: the gateway itself must import nothing else."""
    code = ("import sys; import gateway.server, gateway.apigw, gateway.template, gateway.cfnyaml; "
            "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    foreign = [m for m in out.split() if m not in sys.stdlib_module_names and m != "gateway" and not m.startswith("_")]
    assert not foreign, foreign


def test_bad_content_length_is_400_not_a_crash(http_gateway):
    gw, rec, port = http_gateway
    for value in (b"abc", b"-5"):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n")
        data = sock.recv(65536)
        sock.close()
        assert data.startswith(b"HTTP/1.1 400"), data
    assert rec.events == []


def test_make_run_passes_port_and_throttle_and_uses_only_the_run_venv():
    out = subprocess.run(["make", "-n", "-W", ".venv-run/.stamp", "run", "PORT=8080", "RATE=5", "BURST=10"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    cmd = out.replace("\\\n", " ")
    line = next(ln for ln in cmd.splitlines() if "-m gateway" in ln)
    assert ".venv-run/bin/python -m gateway" in line
    assert "--port 8080" in line and "--rate 5" in line and "--burst 10" in line
    assert f'MODEL_PATH="{ROOT / "layers" / "model" / "model.tflite"}"' in line
    default = subprocess.run(["make", "-n", "-W", ".venv-run/.stamp", "run"], cwd=ROOT, capture_output=True,
                             text=True, check=True, env={k: v for k, v in os.environ.items()
                                                         if k not in ("PORT", "RATE", "BURST", "MODEL_PATH")}).stdout
    default = default.replace("\\\n", " ")
    assert "--port 3000" in default and "--rate" not in default and "--burst" not in default


def test_stage_prefixed_urls_reach_the_same_routes(http_gateway):
    """Deployed, the API lives under /<stage>/ (execute-api); the local gateway accepts both forms."""
    gw, rec, port = http_gateway
    stage = gw.settings.stage
    status, _, _ = request(port, "POST", f"/{stage}/predict?a=1", body=b"{}", headers={"Content-Type": "application/json"})
    assert status == 200
    event = rec.events[-1][0]
    assert event["path"] == "/predict" and event["requestContext"]["path"] == f"/{stage}/predict"
    assert event["queryStringParameters"] == {"a": "1"}
    assert gw.strip_stage(f"/{stage}") == "/" and gw.strip_stage(f"/{stage}x/predict") == f"/{stage}x/predict"

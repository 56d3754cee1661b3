"""docs/openapi.yaml is the API's single description: it is a valid OpenAPI 3 document, the README
links it, and the handler's real answers, for every route, body form and documented status, fit it.
"""
from __future__ import annotations

import base64
import json
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hardening import harness, images as im  # noqa: E402
from hardening.contract import OPENAPI_PATH, Contract  # noqa: E402
from hardening.corpus import multipart  # noqa: E402

JPEG = im.jpeg()
PNG = im.png(im.photo(120, 90))


@pytest.fixture(scope="module")
def contract():
    return Contract()


def _call(app, method, path, headers=None, body=b""):
    event = harness.event_for(method, path, headers or {}, body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return event, harness.call(app.lambda_handler, event)


def test_document_is_valid_openapi_3():
    doc = yaml.safe_load(Path(OPENAPI_PATH).read_text())
    validate(doc)
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/predict"]["post"]
    assert set(post["requestBody"]["content"]) >= {"application/json", "multipart/form-data", "image/jpeg", "image/png"}
    assert {"200", "400", "413", "415", "422"} <= set(post["responses"])


def test_readme_links_the_document():
    readme = (ROOT / "README.md").read_text()
    assert "docs/openapi.yaml" in readme, "README.md must link docs/openapi.yaml"


def test_raw_body_types_match_the_gateway_binary_media_types():
    """A raw image/* form documented but not in BinaryMediaTypes would arrive mangled."""
    doc = yaml.safe_load(Path(OPENAPI_PATH).read_text())
    documented = {t for t in doc["paths"]["/predict"]["post"]["requestBody"]["content"] if t.startswith("image/")}
    binary = set(harness.binary_media_types())
    assert documented <= binary, f"not binary in template.yaml: {sorted(documented - binary)}"
    assert "multipart/form-data" in binary


CASES = [
    # (name, method, path, headers, body, status)
    ("json_base64", "POST", "/predict", {"Content-Type": "application/json"}, json.dumps({"image": base64.b64encode(PNG).decode()}).encode(), 200),
    ("raw_jpeg", "POST", "/predict", {"Content-Type": "image/jpeg"}, JPEG, 200),
    ("multipart", "POST", "/predict", None, None, 200),
    ("model_card", "GET", "/model", {}, b"", 200),
    ("model_head", "HEAD", "/model", {}, b"", 200),
    ("preflight_predict", "OPTIONS", "/predict", {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}, b"", 204),
    ("preflight_model", "OPTIONS", "/model", {"Origin": "https://example.org"}, b"", 204),
    ("bad_json", "POST", "/predict", {"Content-Type": "application/json"}, b"{", 400),
    ("too_large", "POST", "/predict", {"Content-Type": "image/jpeg"}, JPEG + b"\0" * 5_000_000, 413),
    ("not_image", "POST", "/predict", {"Content-Type": "image/png"}, b"hello", 415),
    ("corrupt", "POST", "/predict", {"Content-Type": "image/jpeg"}, JPEG[:300], 422),
    ("get_predict", "GET", "/predict", {}, b"", 405),
    ("post_model", "POST", "/model", {"Content-Type": "image/jpeg"}, JPEG, 405),
    ("unknown", "GET", "/nope", {}, b"", 404),
]


@pytest.mark.parametrize("name,method,path,headers,body,status", CASES, ids=[c[0] for c in CASES])
def test_real_answers_fit_the_document(api_app, contract, name, method, path, headers, body, status):
    if name == "multipart":
        body, ctype = multipart([("image", "face.jpg", "image/jpeg", JPEG)])
        headers = {"Content-Type": ctype}
    event, answer = _call(api_app, method, path, headers, body)
    assert answer.status == status, answer
    contract.check(method, path, answer.status, answer.json, answer.headers)
    if status == 204:
        assert answer.headers.get("access-control-allow-origin")


def test_model_unavailable_is_a_documented_503(contract):
    """With no model the function still answers, in the documented shape (not a crash)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import load_app_module

    broken = load_app_module({"MODEL_PATH": str(ROOT / "no-such-model.tflite")})
    for method, path in (("POST", "/predict"), ("GET", "/model")):
        headers = {"Content-Type": "image/jpeg"} if method == "POST" else {}
        _, answer = _call(broken, method, path, headers, JPEG if method == "POST" else b"")
        assert (answer.status, answer.code) == (503, "model_unavailable"), answer
        contract.check(method, path, answer.status, answer.json, answer.headers)


def test_contract_checker_rejects_what_does_not_fit(contract):
    """The checker itself can fail: undocumented statuses and wrong bodies are caught."""
    with pytest.raises(AssertionError, match="does not list"):
        contract.check("GET", "/model", 418, {"error": {"code": "teapot", "message": "x"}})
    with pytest.raises(AssertionError, match="does not fit"):
        contract.check("POST", "/predict", 200, {"label": "MAYBE"}, {"X-Request-Id": "r"})
    with pytest.raises(AssertionError, match="does not fit"):
        contract.check("POST", "/predict", 415, {"message": "Unsupported Media Type"})
    with pytest.raises(AssertionError, match="unknown path must be 404"):
        contract.check("GET", "/nope", 500, {"error": {"code": "internal_error", "message": "x"}})


def test_gateway_answers_fit_the_document_too(api_app, contract):
    """API Gateway's own errors (template gateway responses, emulated by gateway/) use the error shape."""
    gw = harness.local_gateway(api_app.lambda_handler, rate=0, burst=1)
    first = harness.through_gateway(gw, "GET", "/model", {}, b"")
    throttled = harness.through_gateway(gw, "POST", "/predict", {"Content-Type": "image/jpeg"}, JPEG)
    assert first.status == 200 and (throttled.status, throttled.code) == (429, "throttled"), throttled
    contract.check("POST", "/predict", throttled.status, throttled.json, throttled.headers)
    contract.check("GET", "/model", first.status, first.json, first.headers)

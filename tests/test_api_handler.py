"""The Lambda handler with real API Gateway REST proxy events: every route, body form and status."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from api_support import (
    b64,
    call,
    encode,
    face_bytes,
    face_files,
    multipart_body,
    noise,
    post_json,
    post_multipart,
    png_with_declared_size,
    post_raw,
    rest_event,
)
from conftest import load_app_module

pytestmark = pytest.mark.timeout(120)


def _card(model_path):
    return json.loads(model_path.with_suffix(".json").read_text())


def _check_verdict(body, card, *, width, height, fmt, request_id=None):
    assert body["label"] in ("REAL", "FAKE")
    p = body["fake_probability"]
    assert 0.0 <= p <= 1.0
    assert body["threshold"] == card["threshold"]
    assert body["label"] == ("FAKE" if p >= card["threshold"] else "REAL")
    expected_conf = p if body["label"] == "FAKE" else 1.0 - p
    assert body["confidence"] == pytest.approx(expected_conf, abs=2e-6)
    assert body["model"] == {"name": card["name"], "version": card["version"], "sha256": card["sha256"]}
    assert body["image"]["format"] == fmt
    assert (body["image"]["width"], body["image"]["height"]) == (width, height)
    assert set(body["timings_ms"]) >= {"decode", "inference", "total"}
    assert all(v >= 0 for v in body["timings_ms"].values())
    assert body["timings_ms"]["total"] >= body["timings_ms"]["inference"]
    assert isinstance(body["metadata"], dict) and body["metadata"]["format"] == fmt
    if request_id:
        assert body["request_id"] == request_id


# --------------------------------------------------------------------------- the three body forms
@pytest.mark.parametrize("path", face_files(1), ids=lambda p: f"{p.parent.parent.name}-{p.parent.name}")
def test_predict_json_base64_real_faces(api_app, model_path, path):
    data = path.read_bytes()
    w, h = Image.open(path).size
    status, body, headers = post_json(api_app, {"image": b64(data)}, request_id="req-json-1")
    assert status == 200, body
    _check_verdict(body, _card(model_path), width=w, height=h, fmt="JPEG", request_id="req-json-1")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"].startswith("application/json")


def test_all_three_forms_give_the_same_answer(api_app):
    data = face_bytes(0)
    forms = {
        "json": post_json(api_app, {"image": b64(data)}),
        "data_url": post_json(api_app, {"image": "data:image/jpeg;base64," + b64(data)}),
        "url_safe_unpadded": post_json(api_app, {"image": b64(data).replace("+", "-").replace("/", "_").rstrip("=")}),
        "line_wrapped": post_json(api_app, {"image": "\n".join(b64(data)[i:i + 76] for i in range(0, len(b64(data)), 76))}),
        "raw": post_raw(api_app, data, "image/jpeg"),
        "octet_stream": post_raw(api_app, data, "application/octet-stream"),
        "multipart": post_multipart(api_app, data),
    }
    probs = {}
    for name, (status, body, _) in forms.items():
        assert status == 200, (name, body)
        probs[name] = body["fake_probability"]
    assert len(set(probs.values())) == 1, probs


def test_raw_body_format_is_sniffed_not_taken_from_the_header(api_app):
    png = encode(Image.open(io.BytesIO(face_bytes(0))), "PNG")
    status, body, _ = post_raw(api_app, png, "image/jpeg")  # lies about the type
    assert status == 200 and body["image"]["format"] == "PNG"


def test_multipart_with_other_fields_and_a_lying_filename(api_app):
    data = face_bytes(1)
    boundary = "xYzZy-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.gif\"\r\n"
        "Content-Type: image/gif\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=body,
                                              content_type=f"multipart/form-data; boundary={boundary}"))
    assert status == 200, out
    assert out["image"]["format"] == "JPEG"


def test_multipart_text_field_with_data_url(api_app):
    data = face_bytes(0)
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n"
            f"data:image/jpeg;base64,{b64(data)}\r\n--{boundary}--\r\n").encode()
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=body,
                                              content_type=f"multipart/form-data; boundary={boundary}"))
    assert status == 200, out


@pytest.mark.parametrize("fmt,ctype", [("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
                                       ("BMP", "image/bmp"), ("JPEG", "image/jpeg")])
def test_every_accepted_format_as_raw_body(api_app, model_path, fmt, ctype):
    img = Image.open(io.BytesIO(face_bytes(2))).convert("RGB")
    status, body, _ = post_raw(api_app, encode(img, fmt), ctype)
    assert status == 200, body
    _check_verdict(body, _card(model_path), width=img.width, height=img.height, fmt=fmt)


# --------------------------------------------------------------------------- GET /model, OPTIONS
def test_get_model_returns_the_public_card(api_app, model_path):
    status, body, headers = call(api_app, rest_event("GET", "/model"))
    assert status == 200
    card = _card(model_path)
    for key in ("name", "version", "input", "threshold", "metrics"):
        assert body[key] == card[key]
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_options_preflight(api_app):
    resp = api_app.lambda_handler(rest_event("OPTIONS", "/predict", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "POST"}), None)
    assert resp["statusCode"] == 204 and resp["body"] == ""
    assert "POST" in resp["headers"]["Access-Control-Allow-Methods"]
    assert "Content-Type" in resp["headers"]["Access-Control-Allow-Headers"]


def test_trailing_slash_and_case_of_known_paths(api_app):
    assert call(api_app, rest_event("GET", "/model/"))[0] == 200
    assert post_raw(api_app, face_bytes(0), "image/jpeg")[0] == 200


# --------------------------------------------------------------------------- errors
BAD_JSON_CASES = {
    "truncated_json": ('{"image": "abc', 400, "invalid_json"),
    "not_json": ("image=abc", 400, "invalid_json"),
    "json_array": ('["abc"]', 400, "invalid_json"),
    "missing_field": ('{"picture": "abc"}', 400, "missing_field"),
    "empty_field": ('{"image": ""}', 400, "missing_field"),
    "null_field": ('{"image": null}', 400, "missing_field"),
    "number_field": ('{"image": 42}', 400, "invalid_field"),
    "bad_base64": ('{"image": "this is *not* base64!!"}', 400, "invalid_base64"),
    "bad_base64_length": ('{"image": "QUJDR"}', 400, "invalid_base64"),
    "data_url_not_base64": ('{"image": "data:image/png,%89PNG"}', 400, "invalid_base64"),
    "base64_of_text": ('{"image": "' + b64(b"just some text, not an image") + '"}', 415, "not_an_image"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSON_CASES))
def test_bad_json_bodies(api_app, case):
    body, status, code = BAD_JSON_CASES[case]
    got, out, headers = post_json(api_app, body)
    assert (got, out["error"]["code"]) == (status, code), out
    assert out["error"]["message"]
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_missing_body(api_app):
    status, out, _ = call(api_app, rest_event("POST", "/predict", content_type="image/jpeg"))
    assert (status, out["error"]["code"]) == (400, "missing_body")


def test_multipart_errors(api_app):
    data = face_bytes(0)
    body, _ = multipart_body(data, field="file")
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=body,
                                              content_type=f"multipart/form-data; boundary={'x' * 10}"))
    assert status == 400 and out["error"]["code"] in ("missing_field", "malformed_multipart")
    body, ctype = multipart_body(data, field="file")
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=body, content_type=ctype))
    assert (status, out["error"]["code"]) == (400, "missing_field")
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=body, content_type="multipart/form-data"))
    assert (status, out["error"]["code"]) == (400, "malformed_multipart")
    good, ctype = multipart_body(data)
    status, out, _ = call(api_app, rest_event("POST", "/predict", body=good[: len(good) // 2], content_type=ctype))
    assert (status, out["error"]["code"]) == (400, "malformed_multipart")


def test_gateway_base64_that_is_not_base64(api_app):
    event = rest_event("POST", "/predict", body=b"x", content_type="image/jpeg")
    event["body"] = "%%%not-base64%%%"
    status, out, _ = call(api_app, event)
    assert status == 400 and out["error"]["code"] == "invalid_base64"


@pytest.fixture(scope="module")
def small_limit_app(model_path):
    return load_app_module({"MODEL_PATH": str(model_path), "MAX_IMAGE_BYTES": "60000",
                            "CORS_ALLOW_ORIGIN": "https://detector.example.org"})


def test_413_over_the_limit_in_every_form(small_limit_app):
    big = encode(noise(300, 300), "PNG")  # ~270 kB of incompressible pixels
    assert len(big) > 60000
    for status, out, headers in (post_json(small_limit_app, {"image": b64(big)}),
                                 post_raw(small_limit_app, big, "image/png"),
                                 post_multipart(small_limit_app, big, content_type="image/png")):
        assert (status, out["error"]["code"]) == (413, "image_too_large"), out
        assert headers["Access-Control-Allow-Origin"] == "https://detector.example.org"
    status, body, headers = post_raw(small_limit_app, face_bytes(0), "image/jpeg")  # under the limit
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://detector.example.org"


def test_cors_origin_list_echoes_an_allowed_origin(model_path):
    app = load_app_module({"MODEL_PATH": str(model_path),
                           "CORS_ALLOW_ORIGIN": "https://a.example.org, https://b.example.org"})
    _, _, headers = call(app, rest_event("GET", "/model", headers={"Origin": "https://b.example.org"}))
    assert headers["Access-Control-Allow-Origin"] == "https://b.example.org"
    assert headers["Vary"] == "Origin"
    _, _, headers = call(app, rest_event("GET", "/nope", headers={"Origin": "https://evil.example.com"}))
    assert headers["Access-Control-Allow-Origin"] == "https://a.example.org"


UNSUPPORTED = {
    "text_named_jpg": (b"Hello, I am a text file renamed face.jpg\n", 415, "not_an_image"),
    "html": (b"<!doctype html><html><body>hi</body></html>", 415, "not_an_image"),
    "bm_text": (b"BMW and BMX are not bitmaps, though they start with BM" * 3, 415, "not_an_image"),
    "pdf": (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", 415, "unsupported_format"),
    "svg": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>', 415,
            "unsupported_format"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_415_not_an_image(api_app, case):
    data, status, code = UNSUPPORTED[case]
    for got, out, _ in (post_raw(api_app, data, "image/jpeg"), post_multipart(api_app, data),
                        post_json(api_app, {"image": b64(data)})):
        assert (got, out["error"]["code"]) == (status, code), out


def test_415_tiff(api_app):
    tiff = encode(Image.open(io.BytesIO(face_bytes(0))), "TIFF")
    status, out, _ = post_raw(api_app, tiff, "image/jpeg")
    assert (status, out["error"]["code"]) == (415, "unsupported_format")
    assert "TIFF" in out["error"]["message"]


def test_415_non_image_content_type(api_app):
    status, out, _ = call(api_app, rest_event("POST", "/predict", body="abc", content_type="text/plain"))
    assert status == 415


def test_422_corrupt_tiny_and_bombs(api_app):
    jpeg = face_bytes(0)
    cases = {
        "truncated_jpeg": (jpeg[: len(jpeg) // 3], "corrupt_image"),
        "tiny": (encode(Image.new("RGB", (15, 200), "gray"), "PNG"), "image_too_small"),
        "declared_bomb": (png_with_declared_size(60000, 60000), "too_many_pixels"),
        "declared_over_limit": (png_with_declared_size(8000, 6000), "too_many_pixels"),
        "real_bomb": (encode(Image.new("L", (8000, 6000)), "PNG"), "too_many_pixels"),
    }
    for name, (data, code) in cases.items():
        status, out, headers = post_raw(api_app, data, "image/png")
        assert (status, out["error"]["code"]) == (422, code), (name, out)
        assert headers["Access-Control-Allow-Origin"] == "*"


def test_404_and_405(api_app):
    for method, path, status, code in (("GET", "/nope", 404, "not_found"), ("GET", "/", 404, "not_found"),
                                       ("POST", "/predict/extra", 404, "not_found"),
                                       ("GET", "/predict", 405, "method_not_allowed"),
                                       ("PUT", "/predict", 405, "method_not_allowed"),
                                       ("POST", "/model", 405, "method_not_allowed"),
                                       ("DELETE", "/model", 405, "method_not_allowed")):
        got, out, headers = call(api_app, rest_event(method, path))
        assert (got, out["error"]["code"]) == (status, code), (method, path, out)
        assert headers["Access-Control-Allow-Origin"] == "*"
        if status == 405:
            assert method not in headers["Allow"].split(",")


def test_500_is_json_without_traceback(model_path):
    app = load_app_module({"MODEL_PATH": str(model_path)})

    def boom(*a, **kw):
        raise RuntimeError("secret internal detail /var/task/x.py")

    app.DETECTOR.analyze = boom
    status, out, headers = post_raw(app, face_bytes(0), "image/jpeg")
    assert status == 500
    assert out["error"]["code"] == "internal_error"
    assert "secret" not in json.dumps(out)
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_not_a_proxy_event_is_400(api_app):
    resp = api_app.lambda_handler("hello", None)
    assert resp["statusCode"] == 400


# --------------------------------------------------------------------------- model unavailable
def test_missing_model_answers_503_not_a_crash(tmp_path):
    app = load_app_module({"MODEL_PATH": str(tmp_path / "nope.tflite")})
    assert app.MODEL is None
    for event in (rest_event("POST", "/predict", body=face_bytes(0), content_type="image/jpeg"),
                  rest_event("GET", "/model")):
        status, out, headers = call(app, event)
        assert (status, out["error"]["code"]) == (503, "model_unavailable")
        assert headers["Access-Control-Allow-Origin"] == "*"
    assert call(app, rest_event("GET", "/nope"))[0] == 404  # routing still works


def test_model_with_wrong_checksum_refuses_to_serve(tmp_path, model_path):
    (tmp_path / "model.tflite").write_bytes(model_path.read_bytes())
    card = json.loads(model_path.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(card))
    app = load_app_module({"MODEL_PATH": str(tmp_path / "model.tflite")})
    status, out, _ = post_raw(app, face_bytes(0), "image/jpeg")
    assert (status, out["error"]["code"]) == (503, "model_unavailable")
    assert "sha256" in out["error"]["message"]


def test_bad_settings_answer_503(model_path):
    app = load_app_module({"MODEL_PATH": str(model_path), "MAX_IMAGE_BYTES": "lots"})
    status, out, _ = call(app, rest_event("GET", "/model"))
    assert (status, out["error"]["code"]) == (503, "model_unavailable")


# --------------------------------------------------------------------------- request id, logs
def test_request_id_falls_back_to_the_lambda_context(api_app):
    class Ctx:
        aws_request_id = "lambda-ctx-id-42"

    event = rest_event("POST", "/predict", body=face_bytes(0), content_type="image/jpeg")
    del event["requestContext"]["requestId"]
    resp = api_app.lambda_handler(event, Ctx())
    assert json.loads(resp["body"])["request_id"] == "lambda-ctx-id-42"
    assert resp["headers"]["X-Request-Id"] == "lambda-ctx-id-42"


def test_structured_logs_cold_start_and_no_image_bytes(model_path, capsys):
    capsys.readouterr()
    app = load_app_module({"MODEL_PATH": str(model_path)})
    data = face_bytes(0)
    post_json(app, {"image": b64(data)}, request_id="log-req-1")
    post_raw(app, b"not an image at all", "image/jpeg", request_id="log-req-2")
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert records[0]["message"] == "model loaded" and records[0]["init_ms"] > 0
    requests = [r for r in records if r["message"] == "request"]
    assert [r["request_id"] for r in requests] == ["log-req-1", "log-req-2"]
    assert requests[0]["cold_start"] is True and requests[1]["cold_start"] is False
    assert requests[0]["status"] == 200 and set(requests[0]["timings_ms"]) >= {"decode", "inference", "total"}
    assert requests[1]["status"] == 415 and requests[1]["error_code"] == "not_an_image"
    assert b64(data)[:40] not in out and "not an image at all" not in out
    # CloudWatch Embedded Metric Format on each request line: every declared metric is a number
    for rec, fake_declared in ((requests[0], True), (requests[1], False)):
        (directive,) = rec["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "DeepfakeDetector" and directive["Dimensions"] == [["Service"]]
        names = {m["Name"] for m in directive["Metrics"]}
        assert {"Requests", "ColdStart", "DurationMs", "ClientErrors", "ServerErrors"} <= names
        assert ("FakeVerdicts" in names) is fake_declared and ("InferenceMs" in names) is fake_declared
        assert all(isinstance(rec[n], (int, float)) for n in names) and rec["Service"] == "detect"
    assert requests[0]["ColdStart"] == 1 and requests[1]["ColdStart"] == 0
    assert requests[1]["ClientErrors"] == 1 and requests[0]["ClientErrors"] == 0

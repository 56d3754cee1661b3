"""The hostile-input corpus through the real Lambda handler: every case gets exactly its status and
error code, every answer fits docs/openapi.yaml, and nothing leaks a traceback.

The corpus is generated in memory by hardening/corpus.py (nothing downloaded); the events are
built the way API Gateway builds them from template.yaml's binary media types.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hardening import corpus, harness  # noqa: E402
from hardening.contract import Contract  # noqa: E402

CASES = corpus.cases()


@pytest.fixture(scope="module")
def handler(api_app):
    """The warm handler of tests/conftest.py (the shipped model, or DETECT_TEST_MODEL)."""
    assert api_app.MODEL_ERROR is None, api_app.MODEL_ERROR.message
    return api_app.lambda_handler


@pytest.fixture(scope="module")
def contract():
    return Contract()


def test_corpus_is_large_and_covers_the_issue_list():
    names = {c.name for c in CASES}
    assert len(CASES) >= 30
    required = {
        "zero_bytes_raw", "truncated_jpeg", "truncated_png", "bomb_png_30000", "bomb_jpeg_65000",
        "exif_huge", "gif_animated", "apng", "cmyk_jpeg", "png_16bit_gray", "png_palette_transparency",
        "jpeg_grayscale", "png_1x1", "png_1x5000", "tiff", "bmp", "ico", "webp", "heic_random", "svg",
        "html", "jpeg_zip_polyglot", "pdf", "base64_newlines", "base64_spaces", "base64_urlsafe",
        "data_url_wrong_mime", "json_extra_fields", "json_image_null", "json_image_number",
        "json_image_nested", "raw_over_limit", "json_over_limit", "gateway_body_over_10mb", "content_type_text",
        "content_type_missing", "multipart_wrong_field",
    }
    assert not required - names, f"missing cases: {sorted(required - names)}"
    # every class of answer is represented
    statuses = {c.status for c in CASES}
    assert {200, 400, 404, 405, 413, 415, 422} <= statuses


@pytest.fixture(scope="module")
def gateway(handler):
    return harness.local_gateway(handler)


@pytest.mark.timeout(60)  # a hang guard (regex and decompression bombs), not a speed check
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_gets_its_exact_answer(handler, gateway, contract, case):
    event = harness.event_for(case.method, case.path, case.request_headers(), case.body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt EXIF on purpose
        if case.layer == "gateway":
            answer = harness.through_gateway(gateway, case.method, case.path, case.request_headers(), case.body)
        else:
            answer = harness.call(handler, event)
    assert (answer.status, answer.code) == (case.status, case.code), f"{case.name}: {case.what}: {answer!r}"
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    contract.check(case.method, case.path, answer.status, answer.json, answer.headers)
    if case.layer == "gateway":
        return  # the gateway's own answer: no request id of the function
    if answer.status >= 400:
        assert answer.json["error"]["message"].strip()
        assert answer.json["error"]["request_id"] == event["requestContext"]["requestId"]
    elif case.path == "/predict":
        assert answer.json["request_id"] == event["requestContext"]["requestId"]
        assert answer.json["label"] in ("REAL", "FAKE")


def test_generator_writes_bodies_and_the_expected_table(tmp_path):
    out = tmp_path / "corpus"
    assert corpus.main(["--out", str(out)]) == 0
    index = json.loads((out / "corpus.json").read_text())
    assert [row["name"] for row in index] == [c.name for c in CASES]
    for row, case in zip(index, CASES):
        assert (out / row["file"]).read_bytes() == case.body
        assert (row["status"], row["code"]) == (case.status, case.code)
    table = (out / "corpus.md").read_text()
    assert table.count("\n| ") == len(CASES) + 1  # header + one row per case
    assert "| handler | 413 | image_too_large |" in table and "| gateway | 413 | request_too_large |" in table

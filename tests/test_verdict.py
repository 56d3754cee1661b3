"""The verdict a person reads: real / uncertain / fake with a reason (detector/verdict.py), through
the pure policy and through the real handler with a card whose band is set."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import faces_support as fs
from api_support import b64, post_json
from test_faces_api import CONTRACT, _load

from detector.verdict import FAKE, REAL, UNCERTAIN, Policy, decide, image_verdict

POLICY = Policy(threshold=0.5, low=0.4, high=0.62, min_face_side=48)


@pytest.mark.parametrize("p,want", [(0.0, REAL), (0.399, REAL), (0.4, UNCERTAIN), (0.5, UNCERTAIN),
                                    (0.6199, UNCERTAIN), (0.62, FAKE), (1.0, FAKE)])
def test_band_edges(p, want):
    verdict, reason = decide(p, POLICY, face_side=200)
    assert verdict == want
    assert f"{100 * p:.1f}%" in reason


def test_small_face_and_no_face_are_uncertain_whatever_the_probability():
    for p in (0.01, 0.99):
        verdict, reason = decide(p, POLICY, face_side=30)
        assert verdict == UNCERTAIN and "too small" in reason and "30 px" in reason
        verdict, reason = decide(p, POLICY, no_face=True)
        assert verdict == UNCERTAIN and "No face" in reason
    assert decide(0.99, POLICY, face_side=48)[0] == FAKE  # the limit itself is judged


def test_a_card_without_a_policy_has_no_band():
    policy = Policy.from_card({"threshold": 0.566})
    assert (policy.low, policy.high, policy.min_face_side) == (0.566, 0.566, 0)
    assert decide(0.566, policy, face_side=10)[0] == FAKE
    assert decide(0.5659, policy, face_side=10)[0] == REAL


def test_the_image_speaks_through_its_most_fake_judgeable_face():
    faces = [{"fake_probability": 0.3, "side": 120}, {"fake_probability": 0.9, "side": 20},
             {"fake_probability": 0.5, "side": 60}]
    assert image_verdict(faces, POLICY) == 2  # the 20 px face is too small to speak for the image
    assert image_verdict(faces[1:2], POLICY) == 0  # ... unless it is the only face
    assert image_verdict([], POLICY) is None


@pytest.fixture(scope="module")
def banded_app(model_path, tmp_path_factory):
    """The shipped .tflite served with its card's band widened to [0.01, 0.99]: every face with
    P(fake) inside it is uncertain."""
    d = tmp_path_factory.mktemp("banded")
    shutil.copyfile(model_path, d / "model.tflite")
    card = json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))
    card["verdict_policy"] = {"uncertain_band": [0.01, 0.99], "min_face_side": 40, "rule": "test"}
    (d / "model.json").write_text(json.dumps(card), encoding="utf-8")
    app = _load({"MODEL_PATH": str(d / "model.tflite"), "FACE_MODEL_DIR": fs.FACE_MODELS, "LOG_LEVEL": "ERROR"})
    assert app.MODEL_ERROR is None, app.MODEL_ERROR
    return app


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_uncertain_answer_through_the_handler(banded_app, shared_faces):
    data = (shared_faces / "lfw-faceswap" / "real" / sorted(p.name for p in (shared_faces / "lfw-faceswap" / "real").iterdir())[0]).read_bytes()
    status, body, headers = post_json(banded_app, {"image": b64(data)})
    assert status == 200, body
    CONTRACT.check("POST", "/predict", status, body, headers)  # docs/openapi.yaml documents verdict
    assert body["uncertain_band"] == [0.01, 0.99]
    assert 0.01 <= body["fake_probability"] < 0.99
    assert body["verdict"] == UNCERTAIN and "close to the threshold" in body["verdict_reason"]
    assert body["label"] == ("FAKE" if body["fake_probability"] >= body["threshold"] else "REAL")
    assert [f["verdict"] for f in body["faces"]] == [UNCERTAIN]


def test_a_face_too_small_to_judge_is_uncertain(banded_app, shared_faces):
    face = Image.open(next((shared_faces / "ffhq-stylegan" / "real").iterdir())).convert("RGB")
    # a 36 px face box: the face (about 0.6 of the file) pasted at 60 px on a plain photo
    canvas = fs.background(640, 480, np.random.default_rng(3))
    canvas.paste(face.resize((60, 60), Image.Resampling.LANCZOS), (300, 200))
    status, body, _ = post_json(banded_app, {"image": b64(_jpeg(canvas))})
    assert status == 200, body
    if not body["faces"]:
        pytest.fail("the face detector missed the 60 px face")
    side = max(body["faces"][0]["box"][2] - body["faces"][0]["box"][0], body["faces"][0]["box"][3] - body["faces"][0]["box"][1])
    assert side < 40
    assert body["verdict"] == UNCERTAIN and "too small to judge" in body["verdict_reason"]


def test_no_face_is_uncertain(banded_app):
    img = fs.background(900, 700, np.random.default_rng(9))
    status, body, _ = post_json(banded_app, {"image": b64(_jpeg(img))})
    assert status == 200 and body["faces"] == []
    assert body["verdict"] == UNCERTAIN and body["verdict_reason"].startswith("No face was found")


def test_get_model_shows_the_policy(banded_app):
    from api_support import call, rest_event

    status, body, headers = call(banded_app, rest_event("GET", "/model"))
    assert status == 200
    CONTRACT.check("GET", "/model", status, body, headers)
    assert body["verdict_policy"]["uncertain_band"] == [0.01, 0.99]

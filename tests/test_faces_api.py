"""The face stage through the real Lambda handler: `faces` in the answer, the verdict is the
most-fake face, `explain` from the JSON body or ?explain=1, 400 on a bad explain value, no-face
images judged whole, GET /model states the rule, a missing FACE_MODEL_DIR is a 503."""
from __future__ import annotations

import io
import json
import os
import shutil
import sys

import numpy as np
import pytest

import faces_support as fs
from api_support import b64, call, post_json, rest_event
from conftest import load_app_module
from detector import faces as F

if fs.REPO not in sys.path:
    sys.path.insert(0, fs.REPO)
from hardening.contract import Contract  # noqa: E402

CONTRACT = Contract()


def _load(env: dict):
    """A cold start with ``env`` (FACE_MODEL_DIR: the repo's face models unless ``env`` says)."""
    return load_app_module(env)


@pytest.fixture(scope="module")
def face_app(model_path):
    app = _load({"MODEL_PATH": str(model_path), "FACE_MODEL_DIR": fs.FACE_MODELS, "LOG_LEVEL": "ERROR"})
    assert app.MODEL_ERROR is None, app.MODEL_ERROR
    assert app.FACES is not None
    return app


@pytest.fixture(scope="module")
def group_photo():
    rng = np.random.default_rng(42)
    pool = [item for item in fs.test_split(("ffhq-stylegan", "lfw-faceswap", "mesonet-df")) if rng.random() < 0.05]
    return fs.compose(fs.pick_faces(rng, 3, pool), (1600, 1200), rng, side_range=(220, 400))


def _post_raw(app, data: bytes, query: dict | None = None):
    event = rest_event("POST", "/predict", body=data, content_type="image/jpeg")
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(app, event)


def test_answer_lists_faces_and_the_verdict_is_the_most_fake(face_app, group_photo, model_card):
    status, body, headers = post_json(face_app, {"image": b64(group_photo.jpeg())})
    assert status == 200, body
    CONTRACT.check("POST", "/predict", status, body, headers)  # docs/openapi.yaml documents faces
    faces = body["faces"]
    crop_rule = model_card["input"].get("face_crop")
    assert len(faces) == 3 and None not in fs.match([f["box"] for f in faces], group_photo.pasted)
    for f in faces:
        x0, y0, x1, y1 = f["box"]
        assert 0 <= x0 < x1 <= 1600 and 0 <= y0 < y1 <= 1200
        assert 0.5 <= f["score"] <= 1 and 0 <= f["fake_probability"] <= 1
        assert f["label"] == ("FAKE" if f["fake_probability"] >= body["threshold"] else "REAL")
        cx0, cy0, cx1, cy1 = f["crop"]
        if crop_rule:  # the card's face square: scale x the box's larger side, centred on the box
            scale, shift_y = crop_rule["scale"], crop_rule["shift_y"]
            assert cx1 - cx0 == cy1 - cy0 == pytest.approx(scale * max(x1 - x0, y1 - y0), abs=2)
            assert (cx0 + cx1) / 2 == pytest.approx((x0 + x1) / 2, abs=1.5)
            assert (cy0 + cy1) / 2 == pytest.approx((y0 + y1) / 2 + shift_y * (y1 - y0), abs=1.5)
        else:  # model 1.0.0's crop rule: the crop holds the face
            assert cx0 <= x0 and cy0 <= y0 and cx1 >= x1 - 1 and cy1 >= y1 - 1
    worst = max(range(3), key=lambda i: faces[i]["fake_probability"])
    assert body["fake_probability"] == faces[worst]["fake_probability"]
    assert body["label"] == faces[worst]["label"]
    assert body["verdict_source"]["rule"] == "most_fake_face" and body["verdict_source"]["face"] == worst
    assert "explain" not in body
    # existing fields are kept
    for key in ("confidence", "threshold", "model", "image", "metadata", "timings_ms", "request_id"):
        assert key in body
    assert body["timings_ms"]["faces"] > 0 and body["timings_ms"]["total"] >= body["timings_ms"]["faces"]


def test_explain_from_json_body_and_from_query(face_app, group_photo):
    data = group_photo.jpeg()
    status, body, headers = post_json(face_app, {"image": b64(data), "explain": True})
    assert status == 200, body
    CONTRACT.check("POST", "/predict", status, body, headers)
    ex = body["explain"]
    assert ex["face"] == body["verdict_source"]["face"]
    assert ex["base_probability"] == pytest.approx(body["fake_probability"], abs=1e-5)
    grid = ex["grid"]
    assert len(ex["values"]) == grid and all(len(row) == grid for row in ex["values"])
    assert ex["max_abs"] == pytest.approx(max(abs(v) for row in ex["values"] for v in row), abs=1e-4)
    assert body["timings_ms"]["explain"] > 0
    status, raw_body, _ = _post_raw(face_app, data, {"explain": "1"})
    assert status == 200 and raw_body["explain"]["values"] == ex["values"]
    status, off, _ = _post_raw(face_app, data, {"explain": "0"})
    assert status == 200 and "explain" not in off
    status, off, _ = post_json(face_app, {"image": b64(data), "explain": False})
    assert status == 200 and "explain" not in off


@pytest.mark.parametrize("payload,query", [({"explain": "yes"}, None), ({"explain": 1}, None),
                                           (None, {"explain": "maybe"})])
def test_bad_explain_values_are_400(face_app, group_photo, payload, query):
    data = group_photo.jpeg()
    if payload is not None:
        status, body, _ = post_json(face_app, {"image": b64(data), **payload})
    else:
        status, body, _ = _post_raw(face_app, data, query)
    CONTRACT.check("POST", "/predict", status, body, None)
    assert status == 400
    assert body["error"]["code"] == "invalid_option"


def test_no_face_image_is_judged_whole_with_a_note(face_app, model_path):
    from detector.model import Model
    from detector.preprocess import decode_image, preprocess

    img = fs.background(900, 700, np.random.default_rng(9))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    status, body, _ = post_json(face_app, {"image": b64(data), "explain": True})
    assert status == 200, body
    assert body["faces"] == []
    assert body["verdict_source"] == {"rule": "whole_image", "face": None,
                                      "note": "No face was found; the whole image was judged."}
    model = Model.load(str(model_path))
    assert body["fake_probability"] == pytest.approx(
        model.probability(preprocess(decode_image(data, model.spec), model.spec)), abs=2e-6)
    assert body["explain"]["face"] is None and body["explain"]["grid"] >= 2


def test_get_model_states_the_verdict_rule(face_app):
    status, body, headers = call(face_app, rest_event("GET", "/model"))
    assert status == 200
    CONTRACT.check("GET", "/model", status, body, headers)
    assert "most-fake face" in body["verdict_rule"]
    assert "No face" in body["verdict_rule"] or "no face" in body["verdict_rule"]
    faces = body["faces"]
    assert faces["detector"]["models"] == ["face_detection_short_range.tflite", "face_detection_full_range.tflite"]
    assert "MediaPipe" in faces["detector"]["source"]
    squares = body["input"].get("face_crop")
    # the crop rule GET /model states is the card's (face squares) or, for an older card, the 1.43x rule
    assert (squares["rule"] if squares else "1.43") in faces["crop_rule"]


def _model_layer(root, model_path):
    """A copy of the model layer's layout (/opt/model): model.tflite, model.json and faces/."""
    layer = root / "model"
    (layer / "faces").mkdir(parents=True)
    shutil.copy(model_path, layer / "model.tflite")
    shutil.copy(model_path.with_suffix(".json"), layer / "model.json")
    for name in (F.SHORT_RANGE, F.FULL_RANGE):
        shutil.copy(os.path.join(fs.FACE_MODELS, name), layer / "faces" / name)
    return layer


def _start(env: dict, capsys):
    """A cold start with ``env``; returns (app, the JSON log lines it wrote)."""
    capsys.readouterr()
    app = _load(env)
    return app, [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_missing_face_models_are_a_503_and_get_model_lists_their_files(model_path, tmp_path, capsys, group_photo):
    """With the face models where FACE_MODEL_DIR (template.yaml: /opt/model/faces) says, GET /model
    lists them with their sha256 beside the classifier's. Removed, the function does not silently
    judge whole frames: it logs the error once at start and answers every request 503
    face_models_unavailable, naming the folder and the missing files - also when FACE_MODEL_DIR is
    unset and faces/ beside the model is gone, and when only the full-range model is missing."""
    import hashlib

    layer = _model_layer(tmp_path, model_path)
    env = {"MODEL_PATH": str(layer / "model.tflite"), "FACE_MODEL_DIR": str(layer / "faces")}
    app, logs = _start(env, capsys)
    assert app.MODEL_ERROR is None and [r["message"] for r in logs] == ["model loaded"]
    status, body, _ = post_json(app, {"image": b64(group_photo.jpeg())})
    assert status == 200 and len(body["faces"]) == 3
    status, card, headers = call(app, rest_event("GET", "/model"))
    assert status == 200
    CONTRACT.check("GET", "/model", status, card, headers)
    assert card["sha256"] == hashlib.sha256((layer / "model.tflite").read_bytes()).hexdigest()
    files = card["faces"]["detector"]["files"]
    assert [f["name"] for f in files] == [F.SHORT_RANGE, F.FULL_RANGE]
    for f in files:
        data = (layer / "faces" / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)
    assert card["faces"]["detector"]["search_min_face_side"] == (
        card.get("verdict_policy", {}).get("min_face_side") or F.DEFAULT_MIN_FACE_SIDE)
    assert card["faces"]["detector"]["search_mode"] == "fast"

    (layer / "faces" / F.FULL_RANGE).unlink()
    only_full = _start(env, capsys)
    (layer / "faces" / F.SHORT_RANGE).unlink()
    both = _start(env, capsys)
    unset = _start({"MODEL_PATH": str(layer / "model.tflite"), "FACE_MODEL_DIR": None}, capsys)
    for (app, logs), missing in ((only_full, [F.FULL_RANGE]), (both, [F.SHORT_RANGE, F.FULL_RANGE]),
                                 (unset, [F.SHORT_RANGE, F.FULL_RANGE])):
        assert app.DETECTOR is None and app.MODEL_ERROR.code == "face_models_unavailable"
        # logged once, at start, with the code
        assert [(r["level"], r["message"], r["error_code"]) for r in logs] == [
            ("ERROR", "model unavailable", "face_models_unavailable")]
        for method, path, request in (("POST", "/predict", lambda: post_json(app, {"image": b64(group_photo.jpeg())})),
                                      ("GET", "/model", lambda: call(app, rest_event("GET", "/model")))):
            capsys.readouterr()
            status, body, headers = request()
            CONTRACT.check(method, path, status, body, headers)
            assert status == 503, body
            assert body["error"]["code"] == "face_models_unavailable"
            message = body["error"]["message"]
            assert str(layer / "faces") in message and all(name in message for name in missing), message
            assert "FACE_MODEL_DIR" in message
            lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
            assert [(r["message"], r["status"], r["error_code"]) for r in lines] == [
                ("request", 503, "face_models_unavailable")]


def test_face_search_is_set_by_the_environment(model_path, group_photo):
    """FACE_SEARCH (template parameter FaceSearch): thorough tiles every photo and GET /model says
    so; a value that is neither fast nor thorough is a misconfiguration (503), not a default."""
    app = _load({"MODEL_PATH": str(model_path), "FACE_SEARCH": "thorough", "LOG_LEVEL": "ERROR"})
    assert app.FACES.search == "thorough"
    status, card, headers = call(app, rest_event("GET", "/model"))
    CONTRACT.check("GET", "/model", status, card, headers)
    assert card["faces"]["detector"]["search_mode"] == "thorough" and "thorough" in card["faces"]["detector"]["search"]
    status, body, _ = post_json(app, {"image": b64(group_photo.jpeg())})
    assert status == 200 and None not in fs.match([f["box"] for f in body["faces"]], group_photo.pasted)
    bad = _load({"MODEL_PATH": str(model_path), "FACE_SEARCH": "quick", "LOG_LEVEL": "ERROR"})
    status, body, _ = post_json(bad, {"image": b64(group_photo.jpeg())})
    assert status == 503 and body["error"]["code"] == "model_unavailable" and "FACE_SEARCH" in body["error"]["message"]


def test_face_models_match_the_pinned_wheel_files():
    import hashlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("fetch_face_models", os.path.join(fs.REPO, "scripts", "fetch_face_models.py"))
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    for name, sha in fetch.FILES.values():
        with open(os.path.join(fs.FACE_MODELS, name), "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == sha, name
    notice = open(os.path.join(fs.FACE_MODELS, "NOTICE"), encoding="utf-8").read()
    assert "Apache License, Version 2.0" in notice and "MIT" in notice and "MediaPipe" in notice
    # never committed: git ignores the fetched files
    ignore = open(os.path.join(fs.FACE_MODELS, ".gitignore"), encoding="utf-8").read()
    assert "*.tflite" in ignore

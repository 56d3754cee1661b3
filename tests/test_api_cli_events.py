"""The `detect` CLI (same path as the API) and the sam-local events in events/."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from api_support import REPO_ROOT, call, face_files, make_events
from detector import cli

EVENTS = REPO_ROOT / "events"
EXPECTED = {
    "predict-json.json": 200,
    "predict-dataurl.json": 200,
    "predict-binary.json": 200,
    "predict-multipart.json": 200,
    "predict-bad-body.json": 400,
    "get-model.json": 200,
}


# --------------------------------------------------------------------------- CLI
def test_cli_table(model_path, model_card, capsys):
    files = [str(p) for p in face_files(1)]
    assert cli.main(["--model", str(model_path), *files]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:5] == ["image", "label", "p(fake)", "confidence", "faces"]
    assert len(lines) == 1 + len(files) + 1
    for line, path in zip(lines[1:], files):
        assert line.startswith(path) and (" REAL " in line or " FAKE " in line)
        # an aligned face crop: one face (the shipped model layer has the face models), judged as its
        # face square (card input.face_crop) or, with an older card, whole
        assert (" 1 (face 0) " if model_card["input"].get("face_crop") else " 1 (crop) ") in line, line


def test_cli_json_matches_the_api(model_path, api_app, capsys):
    path = face_files(1)[0]
    assert cli.main(["--json", "--model", str(model_path), str(path)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    status, body, _ = call(api_app, make_events.rest_event("POST", "/predict", body=path.read_bytes(),
                                                           content_type="image/jpeg"))
    assert status == 200
    for key in ("label", "fake_probability", "confidence", "threshold", "model", "image"):
        assert line[key] == body[key], key


def test_cli_refused_and_missing_files(model_path, tmp_path, capsys):
    text = tmp_path / "face.jpg"
    text.write_text("not really a jpeg")
    rc = cli.main(["--json", "--model", str(model_path), str(text), str(tmp_path / "missing.png"),
                   str(face_files(1)[0])])
    assert rc == 1
    rows = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert rows[0]["error"]["code"] == "not_an_image" and rows[0]["status"] == 415
    assert rows[1]["error"]["code"] == "unreadable_file"
    assert rows[2]["label"] in ("REAL", "FAKE")


def test_cli_without_a_model(tmp_path, capsys):
    assert cli.main(["--model", str(tmp_path / "none.tflite"), "x.jpg"]) == 2
    assert "unreadable" in capsys.readouterr().err


def test_cli_entry_point_runs_as_a_program(model_path):
    out = subprocess.run([sys.executable, "-m", "detector.cli", "--model", str(model_path),
                          str(face_files(1)[0])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "REAL" in out.stdout or "FAKE" in out.stdout


# --------------------------------------------------------------------------- events
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_events_answer_as_expected(api_app, name):
    event = json.loads((EVENTS / name).read_text())
    assert event["requestContext"]["requestId"] and event["resource"] in ("/", "/{proxy+}")
    status, body, _ = call(api_app, event)
    assert status == EXPECTED[name], body
    if status == 200 and name.startswith("predict"):
        assert body["image"]["format"] == "JPEG"


def test_committed_events_are_regenerated_by_the_script(tmp_path):
    """events/*.json are exactly what `make events` writes (synthetic face, no shared image)."""
    subprocess.run([sys.executable, str(EVENTS / "make_events.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in EXPECTED:
        assert json.loads((tmp_path / name).read_text()) == json.loads((EVENTS / name).read_text()), name
    committed = json.loads((EVENTS / "predict-binary.json").read_text())
    image = base64.b64decode(committed["body"])
    assert image == make_events.synthetic_face()
    shared = {p.read_bytes() for p in face_files(3)}
    assert image not in shared


def test_events_from_real_shared_faces(api_app, tmp_path):
    for path in face_files(1, label="fake")[:2]:
        out = tmp_path / path.stem
        subprocess.run([sys.executable, str(EVENTS / "make_events.py"), "--image", str(path), "--out", str(out)],
                       check=True, capture_output=True)
        probs = set()
        for name, want in EXPECTED.items():
            status, body, _ = call(api_app, json.loads((out / name).read_text()))
            assert status == want, (path, name, body)
            if name.startswith("predict") and status == 200:
                probs.add(body["fake_probability"])
        assert len(probs) == 1  # every body form gives the same answer

"""What a cold start imports and loads (issue #7: keep everything else off the import path).

Not a timing test: it checks, in a fresh interpreter, that importing the handler and answering a
face crop leaves out the modules a request does not need (each measured at 4-20 ms of a cold start
on this machine, docs/bench.md), that the full-range face model stays unloaded for an aligned
face crop and that the face models are not hashed (GET /model does that, on its first call). `make bench` measures the time itself.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from api_support import REPO_ROOT, make_events

# module -> why it must stay off the cold path
NOT_AT_COLD_START = {
    "dataclasses": "imports inspect/dis and exec()s every class's methods",
    "inspect": "pulled in by dataclasses",
    "hashlib": "loads OpenSSL for one sha256 of the model file",
    "_hashlib": "OpenSSL",
    # (subprocess is not listed: Pillow's JPEG plugin itself imports it, ~6 ms here)
    "PIL.GifImagePlugin": "only the sniffed format's Pillow plugin is loaded (GIF imports subprocess)",
    "PIL.PngImagePlugin": "only the sniffed format's Pillow plugin is loaded",
    "boto3": "only with MODEL_S3_URI or AUDIT_BUCKET",
    "botocore": "only with MODEL_S3_URI or AUDIT_BUCKET",
    "multipart": "only for multipart/form-data bodies",
    "detector.explain": "only for ?explain=1",
}

PROBE = textwrap.dedent("""
    import json, sys
    with open(sys.argv[2], encoding="utf-8") as fh:  # json is imported by Lambda's runtime anyway
        event = json.load(fh)
    sys.path.insert(0, sys.argv[1])
    import app
    after_import = sorted(sys.modules)
    response = app.lambda_handler(event, None)
    print(json.dumps({"after_import": after_import, "after_request": sorted(sys.modules),
                      "status": response["statusCode"], "rule": json.loads(response["body"]).get("verdict_source"),
                      "faces_loaded": app.FACES is not None,
                      "full_range_loaded": app.FACES is not None and app.FACES._full is not None,
                      "face_models_hashed": app.FACES is not None and app.FACES._files is not None}))
""")


def test_cold_start_imports_only_what_a_face_crop_request_needs(model_path, model_card, shared_faces, tmp_path):
    crop = shared_faces / "ffhq-stylegan" / "real" / "00600.jpg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIT_", "MODEL_S3"))}
    env.update(MODEL_PATH=str(model_path), OPENBLAS_NUM_THREADS="1", LOG_LEVEL="ERROR",
               FACE_MODEL_DIR=os.path.join(REPO_ROOT, "layers", "model", "faces"))
    env.pop("MODEL_CARD_PATH", None)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(make_events.rest_event("POST", "/predict", body=crop.read_bytes(),
                                                       content_type="image/jpeg")))
    proc = subprocess.run([sys.executable, str(probe), os.path.join(REPO_ROOT, "functions", "detect"), str(event)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["status"] == 200 and got["faces_loaded"]
    # a face-square model cuts the crop's face like any face; an older card judges a face crop whole
    assert got["rule"]["rule"] == ("most_fake_face" if model_card["input"].get("face_crop") else "face_crop_whole")
    for stage in ("after_import", "after_request"):
        loaded = {m: why for m, why in NOT_AT_COLD_START.items() if m in got[stage]}
        assert not loaded, f"{stage}: {loaded}"
    assert "PIL.JpegImagePlugin" in got["after_request"]  # the probe did decode a JPEG
    assert not got["full_range_loaded"], "an aligned face crop loaded the full-range face model"
    assert not got["face_models_hashed"], "the face models' sha256 (GET /model) was computed at a cold start"

"""Snapshot of the face boxes FaceDetector.detect gives a sample of the shared training files.

The classifier is trained on the face squares of exactly these boxes (converter: faces.file_face_pixels,
the largest face of each file), so a change of the face search must leave them as they are;
tests/test_faces.py::test_training_files_keep_their_face_boxes compares the detector with this
snapshot. Regenerate only when boxes change on purpose (and retrain):

    .venv/bin/python scripts/face_box_snapshot.py [--data ../shared/data/faces] [--per-set 60]

The sample: ``--per-set`` files of each set under --data (every image below it, sorted, then
``random.Random(SEED).sample``), each decoded as the face path decodes uploads.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "functions", "detect"))

SEED = 15
OUT = os.path.join(ROOT, "tests", "data", "face_boxes.json")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def sample(data: str, per_set: int, seed: int = SEED) -> list[str]:
    """Paths relative to ``data``: ``per_set`` files of each set (folder) under it."""
    out = []
    for name in sorted(os.listdir(data)):
        root = os.path.join(data, name)
        if not os.path.isdir(root):
            continue
        files = sorted(os.path.relpath(os.path.join(d, f), data) for d, _, names in os.walk(root)
                       for f in names if f.lower().endswith(IMAGE_EXTENSIONS))
        out += random.Random(seed).sample(files, min(per_set, len(files)))
    return out


def boxes(detector, spec, path: str) -> list[list[float]]:
    """The file's faces as the serving and training code find them (file_face_pixels' decode)."""
    from detector.faces import face_decode_spec, upright_rgb
    from detector.preprocess import decode_image

    with open(path, "rb") as fh:
        data = fh.read()
    upright = upright_rgb(decode_image(data, face_decode_spec(spec)))
    return [[round(v, 2) for v in face.box] for face in detector.detect(upright)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "faces"))
    ap.add_argument("--per-set", type=int, default=60)
    ap.add_argument("--model", default=os.path.join(ROOT, "layers", "model", "model.tflite"))
    ap.add_argument("--faces", default=os.path.join(ROOT, "layers", "model", "faces"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    from detector.faces import FaceDetector
    from detector.model import Model

    spec = Model.load(args.model).spec
    detector = FaceDetector(args.faces)
    files = sample(args.data, args.per_set)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    snapshot = {
        "what": "FaceDetector.detect boxes (image px, best first) of shared training files, decoded as "
                "faces.file_face_pixels decodes them; scripts/face_box_snapshot.py",
        "commit": commit, "seed": SEED, "per_set": args.per_set,
        "files": {rel: boxes(detector, spec, os.path.join(args.data, rel)) for rel in files},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:  # one file a line
        head = json.dumps({k: v for k, v in snapshot.items() if k != "files"}, sort_keys=True)[:-1]
        fh.write(head + ', "files": {\n' + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v
                                                        in sorted(snapshot["files"].items())) + "\n}}\n")
    print(f"{len(files)} files, {sum(len(b) for b in snapshot['files'].values())} faces -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

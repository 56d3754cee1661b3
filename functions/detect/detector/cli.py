"""``detect IMAGE...``: the same path as ``POST /predict`` (decode, preprocess, LiteRT, metadata).

Prints a table, or the API's JSON answers with ``--json``. Exit status 0 if every image got a
verdict, 1 if any image was refused (its row says why), 2 for a usage or model error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

from .config import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MIN_SIDE
from .errors import DetectError

REPO_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "layers", "model", "model.tflite")
LAYER_MODEL = "/opt/model/model.tflite"


def default_model_path() -> str:
    for path in (os.environ.get("MODEL_PATH"), REPO_MODEL, LAYER_MODEL):
        if path and os.path.exists(path):
            return path
    return os.environ.get("MODEL_PATH") or REPO_MODEL


def _row(name: str, result: dict) -> list[str]:
    if "error" in result:
        err = result["error"]
        return [name, "-", "-", "-", "-", "-", "-", f"{err['code']}: {err['message']}"]
    img = result["image"]
    signals = ", ".join(s["code"] for s in result["metadata"]["signals"]) or "-"
    return [name, result["label"], f"{result['fake_probability']:.3f}", f"{result['confidence']:.3f}",
            _faces_cell(result), f"{img['format']} {img['width']}x{img['height']}",
            f"{result['timings_ms']['total']:.1f}", signals]


def _faces_cell(result: dict) -> str:
    """Faces found and how the verdict was reached: "2 (face 1)", "1 (crop)", "0 (whole)";
    "-" without face detection."""
    if "faces" not in result:
        return "-"
    source = result.get("verdict_source") or {}
    how = {"most_fake_face": f"face {source.get('face')}", "face_crop_whole": "crop",
           "whole_image": "whole"}.get(source.get("rule"), "?")
    return f"{len(result['faces'])} ({how})"


def format_table(rows: list[list[str]]) -> str:
    header = ["image", "label", "p(fake)", "confidence", "faces", "format", "ms", "signals / error"]
    table = [header] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    lines = []
    for r in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="detect", description="Is this image a deepfake? (same code as the API)")
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    ap.add_argument("--json", action="store_true", help="print the API's JSON answer per image (JSON lines)")
    ap.add_argument("--model", default=None, help="model .tflite (its card is the .json beside it); "
                    "default $MODEL_PATH, layers/model/model.tflite, /opt/model/model.tflite")
    ap.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_IMAGE_BYTES)
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS)
    args = ap.parse_args(argv)

    from .model import Model
    from .service import Detector

    model_path = args.model or default_model_path()
    try:
        model = Model.load(model_path)
    except DetectError as err:
        print(f"detect: {err.message} ({model_path})", file=sys.stderr)
        return 2
    from .faces import FaceDetector, face_model_dir

    faces_dir = face_model_dir(model_path, os.environ.get("FACE_MODEL_DIR"))
    try:
        faces = FaceDetector(faces_dir, search=(os.environ.get("FACE_SEARCH") or "fast").strip().lower())
    except DetectError as err:
        print(f"detect: {err.message}", file=sys.stderr)
        return 2
    except ValueError as exc:  # FACE_SEARCH
        print(f"detect: {exc}", file=sys.stderr)
        return 2
    detector = Detector(model, max_bytes=args.max_bytes, max_pixels=args.max_pixels, min_side=DEFAULT_MIN_SIDE,
                        faces=faces)

    failures = 0
    rows = []
    for path in args.images:
        try:
            with open(path, "rb") as fh:
                data = fh.read(args.max_bytes + 1)
            result = detector.analyze(data, request_id=f"cli-{uuid.uuid4()}")
        except DetectError as err:
            result = {**err.to_body(), "status": err.status}
        except OSError as exc:
            result = {"error": {"code": "unreadable_file", "message": exc.strerror or str(exc)}, "status": None}
        if "error" in result:
            failures += 1
        if args.json:
            print(json.dumps({"file": path, **result}, separators=(",", ":")))
        else:
            rows.append(_row(path, result))
    if not args.json:
        print(format_table(rows))
        print(f"model {model.identity['name']} {model.identity['version']}  threshold {model.threshold}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Warm latency of the face path: a 12 MP photo (4000x3000 JPEG) with 3 shared faces, through the
real Lambda handler in this process (API Gateway REST event, binary body), with and without
``?explain=1``. The first call of each kind is the warm-up and is not counted.

    python scripts/bench_faces.py [--model layers/model/model.tflite] [--repeats 15] [--json]

From Python (for make bench):  ``from bench_faces import measure; measure(model_path)`` returns
{"image": {...}, "faces_found", "plain": {"median_ms", "p90_ms", "min_ms", "runs"},
 "explain": {...}, "targets_ms": {"plain": 150, "explain": 500}}.
"""
from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import statistics
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

TARGET_PLAIN_MS = 150.0
TARGET_EXPLAIN_MS = 500.0


def _load_handler(model_path: str, face_dir: str):
    saved = dict(os.environ)
    try:
        os.environ["MODEL_PATH"] = model_path
        os.environ["FACE_MODEL_DIR"] = face_dir
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        os.environ.setdefault("LOG_LEVEL", "ERROR")
        name = f"bench_faces_app_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "functions", "detect", "app.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if module.MODEL_ERROR is not None:
        raise SystemExit(f"bench_faces: model unavailable: {module.MODEL_ERROR.message}")
    return module


def photo_12mp(seed: int = 2026) -> tuple[bytes, list[dict]]:
    """A 4000x3000 JPEG (q90) with three shared test-split faces pasted 500-900 px wide."""
    import numpy as np

    import faces_support as fs

    rng = np.random.default_rng(seed)
    pool = [item for item in fs.test_split(("ffhq-stylegan", "lfw-faceswap")) if rng.random() < 0.1]
    comp = fs.compose(fs.pick_faces(rng, 3, pool), (4000, 3000), rng, side_range=(500, 900))
    return comp.jpeg(90), comp.pasted


def _event(data: bytes, explain: bool) -> dict:
    return {
        "resource": "/{proxy+}", "path": "/predict", "httpMethod": "POST",
        "headers": {"Content-Type": "image/jpeg"},
        "queryStringParameters": {"explain": "1"} if explain else None,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "prod"},
        "body": base64.b64encode(data).decode("ascii"), "isBase64Encoded": True,
    }


def measure(model_path: str | None = None, face_dir: str | None = None, repeats: int = 15) -> dict:
    import faces_support as fs

    model_path = model_path or fs.model_path()
    if not model_path:
        raise SystemExit("bench_faces: no model (layers/model/model.tflite)")
    face_dir = face_dir or fs.FACE_MODELS
    app = _load_handler(model_path, face_dir)
    data, pasted = photo_12mp()
    out = {"image": {"width": 4000, "height": 3000, "bytes": len(data), "faces_pasted": len(pasted)},
           "model": app.MODEL.identity, "repeats": repeats,
           "targets_ms": {"plain": TARGET_PLAIN_MS, "explain": TARGET_EXPLAIN_MS}}
    for kind, explain in (("plain", False), ("explain", True)):
        resp = app.lambda_handler(_event(data, explain), None)  # warm-up
        body = json.loads(resp["body"])
        if resp["statusCode"] != 200:
            raise SystemExit(f"bench_faces: {resp['statusCode']} {body}")
        out["faces_found"] = len(body["faces"])
        walls, cpus, inner = [], [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            resp = app.lambda_handler(_event(data, explain), None)
            walls.append((time.perf_counter() - t0) * 1000)
            cpus.append((time.process_time() - c0) * 1000)
            inner.append(json.loads(resp["body"])["timings_ms"])
        walls.sort()
        out[kind] = {
            "median_ms": round(statistics.median(walls), 1),
            "p90_ms": round(walls[max(0, int(round(0.9 * len(walls))) - 1)], 1),
            "min_ms": round(walls[0], 1),
            "cpu_median_ms": round(statistics.median(cpus), 1),
            "stages_median_ms": {k: round(statistics.median(t.get(k, 0.0) for t in inner), 1)
                                 for k in ("decode", "faces", "inference", "explain", "metadata", "total")
                                 if any(k in t for t in inner)},
        }
    out["within_target"] = {"plain": out["plain"]["median_ms"] <= TARGET_PLAIN_MS,
                            "explain": out["explain"]["median_ms"] <= TARGET_EXPLAIN_MS}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Warm latency of the face path on a 12 MP, 3-face photo.")
    ap.add_argument("--model", default=None)
    ap.add_argument("--faces", default=None, help="face model folder (default layers/model/faces)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = measure(args.model, args.faces, args.repeats)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for kind in ("plain", "explain"):
            r = result[kind]
            print(f"12 MP, {result['faces_found']} faces, {kind:7s}: median {r['median_ms']} ms, p90 {r['p90_ms']} ms,"
                  f" cpu {r['cpu_median_ms']} ms (target {result['targets_ms'][kind]:.0f} ms) stages {r['stages_median_ms']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark worker for OUR stack: the Lambda handler (functions/detect/app.py) on LiteRT + int8.

Run under a bare CPython 3.11 whose path holds only the built runtime layer and the function code
(PYTHONPATH=<layer>/python:<function dir>), with MODEL_PATH and OPENBLAS_NUM_THREADS=1 set as the
template does; requests are real API Gateway REST proxy events (JSON files). See _worker.py.
"""
import time

T0 = time.perf_counter()

import json  # noqa: E402

import _worker  # noqa: E402  (stdlib only; beside this file)

_app = None


class _Context:
    function_name = "DetectFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    aws_request_id = "bench-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DetectFunction"
    log_group_name = "/aws/lambda/DetectFunction"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30000


CONTEXT = _Context()


def prepare(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def import_service():
    global _app
    import app  # module scope: settings, LiteRT, the model loaded and verified

    _app = app


def call(event, parse=True):
    resp = _app.lambda_handler(event, CONTEXT)
    body = json.loads(resp["body"]) if parse and resp.get("body") else None
    return resp["statusCode"], body


def answer(event, cmd):
    """One warm request, and what the face path answered: the face boxes, the handler's own
    timings_ms, whether an explain map came back."""
    status, body = call(event)
    body = body or {}
    return {"status": status, "label": body.get("label"), "fake_probability": body.get("fake_probability"),
            "face_boxes": [f.get("box") for f in body.get("faces") or []], "timings_ms": body.get("timings_ms"),
            "explained": "explain" in body}


def stages(event, cmd):
    """Where a warm request's time goes: the handler's own steps, timed one by one (median ms)."""
    from detector import http
    from detector.preprocess import decode_image, preprocess

    det, model = _app.DETECTOR, _app.MODEL
    clock = time.perf_counter
    rows = {"parse_event_base64": [], "decode_jpeg": [], "preprocess": [], "model": [], "handler_total": []}
    for _ in range(int(cmd["n"])):
        a = clock()
        req = http.parse_event(event, CONTEXT)
        data = http.extract_image(req, det.max_bytes)
        b = clock()
        img = decode_image(data, model.spec, max_pixels=det.max_pixels, min_side=det.min_side)
        c = clock()
        x = preprocess(img, model.spec)
        d = clock()
        model.probability(x)
        e = clock()
        _app.lambda_handler(event, CONTEXT)
        f = clock()
        for k, v in zip(rows, (b - a, c - b, d - c, e - d, f - e)):
            rows[k].append(v * 1000.0)
    out = {k: sorted(v)[len(v) // 2] for k, v in rows.items()}
    out["rest"] = out["handler_total"] - sum(out[k] for k in rows if k != "handler_total")
    return out


if __name__ == "__main__":
    _worker.run(T0, prepare, import_service, call, extra={"stages": stages, "answer": answer})

"""Benchmark worker for OUR stack: the Lambda handler (functions/detect/app.py) on LiteRT + int8.

Run under a bare CPython 3.11 whose path holds only the built runtime layer and the function code
(PYTHONPATH=<layer>/python:<function dir>), with MODEL_PATH, FACE_MODEL_DIR, FACE_SEARCH and
OPENBLAS_NUM_THREADS=1 set as the template does; requests are real API Gateway REST proxy events (JSON files). See _worker.py.
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


if __name__ == "__main__":
    _worker.run(T0, prepare, import_service, call, extra={"answer": answer})

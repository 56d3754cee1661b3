"""Benchmark worker for THE BASELINE: bench/baseline_app.py (Flask + full TensorFlow/Keras).

Runs in .venv-baseline. A request is the multipart/form-data body a browser sends (field ``file``),
built once from an image file; each call goes through Flask's WSGI stack via its test client
(parse the form, decode, ``model.predict``, JSON response). See _worker.py.
"""
import time

T0 = time.perf_counter()

import os  # noqa: E402

import _worker  # noqa: E402

BOUNDARY = "----benchFormBoundary7MA4YWxkTrZu0gW"
_client = None


def prepare(path):
    with open(path, "rb") as fh:
        data = fh.read()
    name = os.path.basename(path)
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: image/jpeg\r\n\r\n"
    ).encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body


def import_service():
    global _client
    import baseline_app  # TensorFlow + Keras + load_model at module scope

    _client = baseline_app.app.test_client()


def call(body, parse=True):
    resp = _client.post("/predict", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    return resp.status_code, (resp.get_json() if parse else None)


if __name__ == "__main__":
    _worker.run(T0, prepare, import_service, call)

"""The floor on this machine, measured in the same run as our handler: what any LiteRT face
handler must pay, nothing of ours (this file imports numpy, Pillow and LiteRT only).

``bare``: the interpreter alone (cold mode only). ``floor``: numpy + Pillow + LiteRT imported, the
classifier and the short-range face model loaded with tensors allocated; a request draft-decodes
the JPEG as our face path does (no side under ``BENCH_FLOOR_DRAFT`` px, which the parent sets to
detector.faces.FACE_DECODE_SIDE), reduces it once (box filter) to a long side of about twice the
classifier input, letterboxes that to 128 px for one short-range invoke and resizes it to the
classifier's 256x256 for one classifier invoke. No event, no base64, no box decoding, no
JSON answer: a request is the JPEG's bytes. Same line protocol as the other workers (_worker.py):
``worker_floor.py bare|floor cold IMAGE`` or ``worker_floor.py floor serve``.
"""
import time

T0 = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402

import _worker  # noqa: E402  (stdlib only; beside this file)

KIND = sys.argv.pop(1)  # bare | floor; _worker reads the mode and the request after it
_state = {}


def prepare(path):
    if KIND == "bare":
        return b""
    with open(path, "rb") as fh:
        return fh.read()


def import_service():
    if KIND == "bare":
        return
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image, JpegImagePlugin  # noqa: F401  (the one format the requests are)

    Image._initialized = max(Image._initialized, 1)  # only the JPEG plugin, as our decode does
    interpreters = {}
    for name, path in (("classifier", os.environ["MODEL_PATH"]), ("short", os.environ["BENCH_FLOOR_FACE_MODEL"])):
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        interpreters[name] = (interp, interp.get_input_details()[0], interp.get_output_details())
    _state.update(np=np, Image=Image, models=interpreters, draft=int(os.environ.get("BENCH_FLOOR_DRAFT", "1200")))


def _invoke(model, x):
    interp, inp, outputs = model
    if inp["dtype"] != x.dtype:  # an int8-input graph: quantize as detector.model does
        np = _state["np"]
        scale, zero = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    return [interp.get_tensor(o["index"]) for o in outputs]


def call(data, parse=True):
    if KIND == "bare":
        return 200, {}
    import io

    np, Image, models = _state["np"], _state["Image"], _state["models"]
    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    img.draft("RGB", (_state["draft"], _state["draft"]))
    img.load()
    if img.mode != "RGB":
        img = img.convert("RGB")
    side = tuple(int(v) for v in models["classifier"][1]["shape"][1:3])  # (h, w) of the classifier input
    # one box-filter reduction to a long side of about twice the classifier input serves both
    # resizes (the fastest of the ways measured: 2.9 ms on the 1 MP photo, 5.4 ms on the 12 MP one)
    w, h = img.size
    k = max(1, max(w, h) // (2 * max(side)))
    if k > 1:
        img = img.reduce(k)
        w, h = img.size
    size = int(models["short"][1]["shape"][1])
    r = size / max(w, h)
    small = img.resize((max(1, round(w * r)), max(1, round(h * r))), Image.Resampling.BILINEAR, reducing_gap=2.0)
    x = np.full((1, size, size, 3), -1.0, np.float32)
    x[0, :small.size[1], :small.size[0]] = np.asarray(small, np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    _invoke(models["short"], x)
    y = np.asarray(img.resize(side[::-1], Image.Resampling.BILINEAR, reducing_gap=2.0), np.float32)
    logit = float(_invoke(models["classifier"], (y * np.float32(1.0 / 255.0))[np.newaxis])[0].reshape(-1)[0])
    return 200, {"fake_probability": logit}


if __name__ == "__main__":
    _worker.run(T0, prepare, import_service, call)

"""Bytes → verdict. Shared by the Lambda handler, the local gateway and the ``detect`` CLI."""
from __future__ import annotations

import time

from . import metadata as meta
from .errors import PayloadTooLarge, UnprocessableImage, UnsupportedMediaType
from .model import Model
from .preprocess import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, decode_image, preprocess, sniff_format
from .verdict import decide

EXIF_ORIENTATION = 274


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


class Detector:
    def __init__(self, model: Model, max_bytes: int = 4_500_000, max_pixels: int = DEFAULT_MAX_PIXELS,
                 min_side: int = DEFAULT_MIN_SIDE, faces: object | None = None) -> None:
        self.model = model
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.min_side = min_side
        self.faces = faces  # detector.faces.FaceDetector: judge faces, not frames

    def analyze(self, data: bytes, *, request_id: str | None = None, explain: bool = False) -> dict:
        """One image's bytes → the 200 answer of ``POST /predict`` (``timings_ms`` included).

        With a face detector (``faces``) the answer lists the faces and the verdict is the
        most-fake face's (detector/faces.py); ``explain`` adds an occlusion map of the judged crop.

        Raises ``PayloadTooLarge`` (413), ``UnsupportedMediaType`` (415), ``UnprocessableImage`` (422).
        """
        t0 = time.perf_counter()
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"The image is {len(data):,} bytes; the limit is {self.max_bytes:,} bytes.")
        if not data:
            raise UnsupportedMediaType("The upload is empty, not an image.", code="not_an_image")
        if sniff_format(data) == "WEBP":
            # Register the WebP plugin directly: otherwise Image.open's lookup runs Image.init(),
            # importing all ~40 Pillow plugins on the first WebP request of a sandbox.
            from PIL import WebPImagePlugin  # noqa: F401
        decode_spec = self.model.spec
        if self.faces is not None:  # face crops need more pixels than the model input
            from .faces import face_decode_spec

            decode_spec = face_decode_spec(self.model.spec)
        img = decode_image(data, decode_spec, max_pixels=self.max_pixels, min_side=self.min_side)
        fmt = img.format or sniff_format(data)
        width, height = getattr(img, "source_size", None) or img.size
        try:
            orientation = int(img.getexif().get(EXIF_ORIENTATION) or 1)
        except Exception:
            orientation = 1
        if orientation in (5, 6, 7, 8):  # shown rotated by 90°: report what a viewer displays
            width, height = height, width
        judged = None
        try:
            if self.faces is None:
                x = preprocess(img, self.model.spec)
            else:
                from .faces import judge_upload

                judged = judge_upload(self, data, img, (width, height))
                x = judged["input"]
        except (OSError, ValueError, SyntaxError) as exc:  # e.g. a frame that fails on conversion
            raise UnprocessableImage(f"The {fmt} file could not be converted: {type(exc).__name__}.",
                                     code="corrupt_image")
        t1 = time.perf_counter()
        p_fake = self.model.probability(x) if judged is None else judged["fake_probability"]
        t2 = time.perf_counter()
        metadata = meta.extract(img, data, fmt, width=width, height=height)
        p_fake = round(p_fake, 6)
        label = self.model.label(p_fake)  # from the reported value, so they always agree
        if judged is not None:
            word, reason = judged["verdict"], judged["verdict_reason"]
        else:
            word, reason = decide(p_fake, self.model.policy)
        verdict = {
            "verdict": word,
            "verdict_reason": reason,
            "label": label,
            "confidence": round(p_fake if label == "FAKE" else 1.0 - p_fake, 6),
            "fake_probability": p_fake,
            "threshold": self.model.threshold,
            "uncertain_band": [self.model.policy.low, self.model.policy.high],
            "model": self.model.identity,
            "image": {"format": fmt, "width": width, "height": height, "mode": img.mode,
                      "bytes": len(data)},
            "metadata": metadata,
            "timings_ms": {"decode": _ms(t1 - t0), "inference": _ms(t2 - t1), "metadata": 0.0,
                           "total": 0.0},
        }
        t3 = time.perf_counter()
        verdict["timings_ms"]["metadata"] = _ms(t3 - t2)
        if judged is not None:
            verdict["faces"] = judged["faces"]
            verdict["verdict_source"] = judged["verdict_source"]
            timings = verdict["timings_ms"]
            timings["faces"] = _ms(judged["seconds"]["faces"])
            timings["inference"] = _ms(judged["seconds"]["inference"])
            timings["decode"] = _ms(max(0.0, t1 - t0 - judged["seconds"]["faces"] - judged["seconds"]["inference"]))
            if explain:
                from .explain import occlusion_map

                verdict["explain"] = {"face": judged["verdict_source"]["face"], **occlusion_map(self.model, x)}
                t4 = time.perf_counter()
                timings["explain"] = _ms(t4 - t3)
                t3 = t4
        verdict["timings_ms"]["total"] = _ms(t3 - t0)
        if request_id is not None:
            verdict["request_id"] = request_id
        return verdict

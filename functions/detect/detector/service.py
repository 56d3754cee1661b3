"""Bytes → verdict. Shared by the Lambda handler, the local gateway and the ``detect`` CLI."""
from __future__ import annotations

import time
from dataclasses import dataclass

from . import metadata as meta
from .errors import PayloadTooLarge, UnprocessableImage, UnsupportedMediaType
from .model import Model
from .preprocess import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, decode_image, preprocess, sniff_format

EXIF_ORIENTATION = 274


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


@dataclass
class Detector:
    model: Model
    max_bytes: int = 4_500_000
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE

    def analyze(self, data: bytes, *, request_id: str | None = None) -> dict:
        """One image's bytes → the 200 answer of ``POST /predict`` (``timings_ms`` included).

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
        img = decode_image(data, self.model.spec, max_pixels=self.max_pixels, min_side=self.min_side)
        fmt = img.format or sniff_format(data)
        width, height = getattr(img, "source_size", None) or img.size
        try:
            orientation = int(img.getexif().get(EXIF_ORIENTATION) or 1)
        except Exception:
            orientation = 1
        if orientation in (5, 6, 7, 8):  # shown rotated by 90°: report what a viewer displays
            width, height = height, width
        try:
            x = preprocess(img, self.model.spec)
        except (OSError, ValueError, SyntaxError) as exc:  # e.g. a frame that fails on conversion
            raise UnprocessableImage(f"The {fmt} file could not be converted: {type(exc).__name__}.",
                                     code="corrupt_image")
        t1 = time.perf_counter()
        p_fake = self.model.probability(x)
        t2 = time.perf_counter()
        metadata = meta.extract(img, data, fmt, width=width, height=height)
        p_fake = round(p_fake, 6)
        label = self.model.label(p_fake)  # from the reported value, so they always agree
        verdict = {
            "label": label,
            "confidence": round(p_fake if label == "FAKE" else 1.0 - p_fake, 6),
            "fake_probability": p_fake,
            "threshold": self.model.threshold,
            "model": self.model.identity,
            "image": {"format": fmt, "width": width, "height": height, "mode": img.mode,
                      "bytes": len(data)},
            "metadata": metadata,
            "timings_ms": {"decode": _ms(t1 - t0), "inference": _ms(t2 - t1), "metadata": 0.0,
                           "total": 0.0},
        }
        t3 = time.perf_counter()
        verdict["timings_ms"]["metadata"] = _ms(t3 - t2)
        verdict["timings_ms"]["total"] = _ms(t3 - t0)
        if request_id is not None:
            verdict["request_id"] = request_id
        return verdict

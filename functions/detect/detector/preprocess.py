"""Image decoding and THE preprocessing function.

Training (converter/), evaluation and serving (app.py) all go through ``decode_image`` and
``preprocess`` so the model sees the same arrays everywhere. How the input is prepared (size,
resize filter, scale) comes from the model card's ``input`` block, never from constants here.
"""
from __future__ import annotations

import importlib
import io
from typing import NamedTuple  # not dataclasses (cold start: see config.py)

import numpy as np
from PIL import Image, ImageFile

from .errors import UnprocessableImage, UnsupportedMediaType

ImageFile.LOAD_TRUNCATED_IMAGES = False
# We enforce our own pixel limit before decoding; Pillow's own check stays as a second fence.
Image.MAX_IMAGE_PIXELS = 100_000_000

# Formats the service accepts (Pillow format names).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}
DEFAULT_MIN_SIDE = 16
DEFAULT_MAX_PIXELS = 24_000_000  # = config.DEFAULT_MAX_IMAGE_PIXELS (memory of pixel floods)

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


class InputSpec(NamedTuple):
    """How an image becomes a model input; built from the model card's ``input`` block."""

    width: int = 256
    height: int = 256
    resize: str = "bilinear"
    scale: float = 1.0 / 255.0
    mode: str = "RGB"
    # (scale, shift_y) when the model judges canonical face squares (detector/faces.py
    # ``face_input``): training, evaluation and serving then cut every face the same way.
    face_crop: tuple[float, float] | None = None
    face_pad: str = "edge"  # what fills a face square outside its image: "edge" pixels, the image
                            # mirrored about its edge ("reflect") or the "mean" colour

    @classmethod
    def from_card(cls, card: dict) -> "InputSpec":
        block = card["input"]
        width, height = block["size"]
        face = block.get("face_crop")
        return cls(
            width=int(width),
            height=int(height),
            resize=str(block.get("resize", "bilinear")),
            scale=float(block.get("scale", 1.0 / 255.0)),
            mode=str(block.get("mode", "RGB")),
            face_crop=(float(face["scale"]), float(face["shift_y"])) if face else None,
            face_pad=str(face.get("pad", "edge")) if face else "edge",
        )

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def to_card(self) -> dict:
        card = {
            "size": [self.width, self.height],
            "shape": [1, self.height, self.width, 3],
            "mode": self.mode,
            "layout": "NHWC",
            "dtype": "float32",
            "resize": self.resize,
            "fit": "stretch (no crop, aspect ratio not kept)",
            "exif_transpose": True,
            "scale": self.scale,
            "range": [0.0, 1.0],
        }
        if self.face_crop:
            scale, shift_y = self.face_crop
            card["face_crop"] = {
                "scale": scale,
                "shift_y": shift_y,
                "pad": self.face_pad,
                "rule": (f"each face BlazeFace finds is cut as a square of {scale} x its box's larger side, "
                         f"centred {shift_y} x box height below the box centre (negative: above); the parts "
                         "outside the image are filled with "
                         + {"edge": "its edge pixels", "reflect": "the image mirrored about its edge",
                            "mean": "the mean colour of the part inside"}.get(self.face_pad, self.face_pad)
                         + "; the square is then resized like any image "
                         "(training: the largest face of each image; no face: the whole image)"),
            }
        return card


# --------------------------------------------------------------------------- sniffing
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"%PDF", 0, "PDF"),
    (b"8BPS", 0, "PSD"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG2000"),
)


_BMP_DIB_HEADER_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)


def _looks_like_bmp(data: bytes) -> bool:
    """A BITMAPFILEHEADER ("BM") must be followed by a known DIB header size at offset 14."""
    return len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_DIB_HEADER_SIZES


def sniff_format(data: bytes) -> str | None:
    """The container format from the leading bytes (never from a name or a header)."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        return "HEIF"
    for magic, offset, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if name == "BMP" and not _looks_like_bmp(data):
                continue  # "BM" alone is too weak: text starting with "BM" is not a bitmap
            return name
    head = data[:256].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower():
        return "SVG"
    return None


# --------------------------------------------------------------------------- decoding
_PLUGINS = {"JPEG": "JpegImagePlugin", "PNG": "PngImagePlugin", "WEBP": "WebPImagePlugin",
            "GIF": "GifImagePlugin", "BMP": "BmpImagePlugin"}


def _load_plugin(fmt: str) -> None:
    """Import only the sniffed format's Pillow plugin (make bench, cold start).

    Given bytes (no file name to choose by), ``Image.open`` first imports the BMP, GIF, JPEG, PPM
    and PNG plugins (``Image.preinit``; GIF pulls in ``subprocess``): over half of a sandbox's
    first request. The format is known here, so register just its plugin and mark that step done;
    Pillow's full ``Image.init`` still runs for anything not registered (e.g. saving another format).
    """
    if fmt not in Image.OPEN:
        importlib.import_module(f"PIL.{_PLUGINS[fmt]}")
    if Image._initialized < 1:
        Image._initialized = 1


def decode_image(
    data: bytes,
    spec: InputSpec,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Image.Image:
    """Bytes → a loaded Pillow image (first frame), checked against the limits.

    Large JPEGs are decoded at a reduced DCT scale (``Image.draft``) that still covers the model
    input. Raises ``UnsupportedMediaType`` (415) or ``UnprocessableImage`` (422).
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaType("The upload is not an image.", code="not_an_image")
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedMediaType(
            f"{fmt} images are not supported; send JPEG, PNG, WebP, GIF or BMP.",
            code="unsupported_format",
        )
    _load_plugin(fmt)
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise UnprocessableImage("The image declares too many pixels.", code="too_many_pixels")
    except Exception:  # Pillow raises many types for a bad header
        raise UnprocessableImage(f"The {fmt} file is corrupt or truncated.", code="corrupt_image")
    width, height = img.size
    if width * height > max_pixels:
        raise UnprocessableImage(
            f"The image has {width}x{height} pixels; the limit is {max_pixels:,} pixels.",
            code="too_many_pixels",
        )
    if min(width, height) < min_side:
        raise UnprocessableImage(
            f"The image is {width}x{height}; each side must be at least {min_side} px.",
            code="image_too_small",
        )
    # The size as stored in the file, before any draft reduction (callers report it).
    img.source_size = (width, height)
    if fmt == "JPEG":
        # Reduced DCT decode that still covers the model input whichever way EXIF rotates it.
        side = max(spec.size)
        img.draft(None, (side, side))
    try:
        img.seek(0)
        img.load()
    except Image.DecompressionBombError:
        raise UnprocessableImage("The image declares too many pixels.", code="too_many_pixels")
    except Exception:
        raise UnprocessableImage(f"The {fmt} file is corrupt or truncated.", code="corrupt_image")
    _drop_oversized_exif(img)
    return img


# A JPEG APP1 segment holds at most 64 KB of EXIF. PNG (eXIf, "Raw profile type exif") and WebP
# carry any size, and Pillow copies every tag's data as it parses: a 406 KB PNG whose 5,000 IFD
# entries all point at one 400 KB blob took 2 GB of memory in getexif(). Larger blocks are
# dropped unparsed (the pixels are served without EXIF orientation or metadata).
MAX_EXIF_BYTES = 65_535


def _drop_oversized_exif(img: Image.Image) -> None:
    exif = img.info.get("exif")
    if exif is not None and len(exif) > MAX_EXIF_BYTES:
        del img.info["exif"]
    raw = img.info.get("Raw profile type exif")
    if raw is not None and len(raw) > 2 * MAX_EXIF_BYTES + 256:  # hex text, two characters a byte
        del img.info["Raw profile type exif"]


_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transposition that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB. Transparency is composited over white; 16-bit is scaled, not clipped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode == "F":
            arr = np.clip(arr, 0, 255)
        elif mode.startswith("I;16") or arr.max(initial=0) > 255:
            # float32, in place: 4 bytes a pixel instead of 3 float64 temporaries (24 bytes); the
            # truncated result is the same (x/257 is never within float32 error of an integer).
            arr = arr.astype(np.float32)
            arr /= np.float32(257.0)
            np.clip(arr, 0, 255, out=arr)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        # alpha_composite does not modify its inputs: no RGBA copy of an RGBA image (memory).
        rgba = img if mode == "RGBA" else img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def upright(img: Image.Image) -> Image.Image:
    """The image as displayed: its EXIF orientation applied (the same pixels as
    ``ImageOps.exif_transpose``), or the image itself when no transposition is due.

    Not exif_transpose itself: it copies the image when nothing is due (160 MB for a 40 MP RGBA
    image) and re-serialises the EXIF, which is quadratic in Pillow (a 50 KB JPEG whose 2,700
    tags share one 32 KB blob took 291 s there).
    """
    try:
        method = _ORIENTATION_TRANSPOSE.get(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # unreadable EXIF (or an unhashable value): the pixels as stored
        method = None
    return img if method is None else img.transpose(method)


def prepare_pixels(img: Image.Image, spec: InputSpec) -> np.ndarray:
    """EXIF orientation, RGB, resize → uint8 (H, W, 3). Training caches these."""
    img = upright(img)
    img = to_rgb(img)
    if img.size != spec.size:
        img = img.resize(spec.size, resample=_RESAMPLE[spec.resize])
    return np.asarray(img, dtype=np.uint8)


def scale_pixels(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 pixels → float32 model input (``pixels * scale``, in float32)."""
    return pixels.astype(np.float32) * np.float32(spec.scale)


def preprocess(img: Image.Image, spec: InputSpec) -> np.ndarray:
    """THE preprocessing function: EXIF orientation, RGB, resize, scale → float32 (H, W, 3)."""
    return scale_pixels(prepare_pixels(img, spec), spec)


def load_file_pixels(path: str, spec: InputSpec) -> np.ndarray:
    """A file on disk → uint8 pixels through exactly the serving path (training caches these)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return prepare_pixels(decode_image(data, spec), spec)


def load_file(path: str, spec: InputSpec) -> np.ndarray:
    """A file on disk → float32 model input, through exactly the serving path."""
    return scale_pixels(load_file_pixels(path, spec), spec)

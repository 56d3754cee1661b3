"""What the file itself says: format, size, DPI, camera EXIF, generator text chunks, provenance.

These are *signals reported beside* the model's probability, never blended into it: metadata is
trivially stripped or forged, so it can only add context (e.g. "a PNG with Stable Diffusion
``parameters``", "a C2PA manifest is present", "XMP declares trainedAlgorithmicMedia").
"""
from __future__ import annotations

import math
import re
import struct

from PIL import Image

from .preprocess import MIME_TYPES

TEXT_LIMIT = 300  # characters kept per text value (prompts can be long; never echo whole files)

# Text chunk / comment keys that image generators write (PNG tEXt/iTXt/zTXt, GIF/JPEG comments).
GENERATOR_TEXT_KEYS = {
    "parameters": "Stable Diffusion web UI (A1111/Forge) generation parameters",
    "prompt": "ComfyUI prompt graph",
    "workflow": "ComfyUI workflow",
    "dream": "InvokeAI (legacy) prompt",
    "sd-metadata": "InvokeAI metadata",
    "invokeai_metadata": "InvokeAI metadata",
    "invokeai_graph": "InvokeAI graph",
    "generation_data": "generation data",
    "negative_prompt": "negative prompt",
    "fooocus_scheme": "Fooocus metadata",
}
REPORTED_TEXT_KEYS = set(GENERATOR_TEXT_KEYS) | {
    "software", "comment", "description", "title", "source", "author", "creation time",
}
GENERATOR_SOFTWARE = re.compile(
    r"stable.?diffusion|novelai|midjourney|dall.?e|comfyui|invokeai|automatic1111|fooocus|"
    r"firefly|imagen|leonardo|flux|stylegan|diffusers|sdxl|nightcafe|dreamstudio|craiyon",
    re.IGNORECASE,
)
AI_SOURCE_TYPES = {
    "trainedalgorithmicmedia",
    "compositewithtrainedalgorithmicmedia",
    "algorithmicmedia",
    "compositesynthetic",
}
# Every repeat is bounded and none can backtrack into another (possessive: Python >= 3.11): with
# unbounded ones ([^>]*?, [^<]+?) a 78 KB XMP packet of repeated "DigitalSourceType " took 11 s
# and a 294 KB one 267 s, each match attempt scanning to the end of the packet.
_DST = re.compile(
    r"DigitalSourceType(?:\s{0,64}+=\s{0,64}+[\"']([^\"']{1,200}+)[\"']|\s{0,64}+>\s{0,64}+([^<\s]{1,200}+)\s{0,64}+<|"
    r"[^>]{0,200}?rdf:resource\s{0,64}+=\s{0,64}+[\"']([^\"']{1,200}+)[\"'])",
    re.IGNORECASE,
)
_CREATOR_TOOL = re.compile(
    r"CreatorTool(?:\s{0,64}+=\s{0,64}+[\"']([^\"']{1,200}+)[\"']|\s{0,64}+>([^<]{1,200}+)<)", re.IGNORECASE
)
XMP_SCAN_LIMIT = 256 * 1024  # bytes of an XMP packet searched (real packets are a few KB)

EXIF_BASE_TAGS = {271: "make", 272: "model", 305: "software", 306: "datetime", 270: "description",
                  315: "artist", 274: "orientation"}
EXIF_IFD = 0x8769
EXIF_SUB_TAGS = {36867: "datetime_original", 36868: "datetime_digitized", 37510: "user_comment",
                 42036: "lens_model"}


def _clip(value, limit: int = TEXT_LIMIT):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "").strip()
    return value if len(value) <= limit else value[:limit] + "…"


def _user_comment(raw) -> str | None:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    code, payload = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                text = payload.decode(enc)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or "\n" in text:
                return text
        return payload.decode("utf-16-be", "replace")
    return payload.decode("utf-8", "replace")


def _exif(img: Image.Image) -> dict:
    try:
        exif = img.getexif()
    except Exception:  # malformed EXIF: report nothing rather than fail the request
        return {}
    out: dict = {}
    for tag, name in EXIF_BASE_TAGS.items():
        value = exif.get(tag)
        if value not in (None, "", b""):
            out[name] = _clip(value)
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:
        sub = {}
    for tag, name in EXIF_SUB_TAGS.items():
        value = sub.get(tag)
        if tag == 37510:
            value = _user_comment(value)
        if value not in (None, "", b""):
            out[name] = _clip(value)
    return {k: (v if isinstance(v, (str, int)) or (isinstance(v, float) and math.isfinite(v)) else str(v))
            for k, v in out.items()}


def _text_chunks(img: Image.Image) -> dict:
    chunks: dict = {}
    text = getattr(img, "text", None)  # PNG tEXt/iTXt/zTXt
    try:
        items = dict(text).items() if text else ()
    except Exception:
        items = ()
    for key, value in items:
        chunks[str(key)] = value
    for key in ("comment", "Comment", "Software", "parameters", "prompt", "workflow"):
        if key in img.info and key not in chunks and isinstance(img.info[key], (str, bytes)):
            chunks[key] = img.info[key]
    return {k: _clip(v) for k, v in chunks.items() if k.lower() in REPORTED_TEXT_KEYS}


# --------------------------------------------------------------------------- provenance (bytes)
def _jpeg_segments(data: bytes):
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        yield marker, data[i + 4 : i + 2 + length]
        i += 2 + length


def _png_chunks(data: bytes):
    i = 8
    while i + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[i : i + 8])
        yield ctype, data[i + 8 : i + 8 + length]
        if ctype == b"IEND":
            return
        i += 12 + length


def _riff_chunks(data: bytes):
    i = 12
    while i + 8 <= len(data):
        ctype, length = struct.unpack("<4sI", data[i : i + 8])
        yield ctype, data[i + 8 : i + 8 + length]
        i += 8 + length + (length & 1)


def provenance(data: bytes, fmt: str) -> dict:
    """C2PA/JUMBF boxes and the XMP packet, found by walking the container (not a blind grep)."""
    c2pa = jumbf = False
    xmp: bytes | None = None
    try:
        if fmt == "JPEG":
            for marker, payload in _jpeg_segments(data):
                if marker == 0xEB and b"jumb" in payload[:64]:  # APP11 JUMBF (ISO 19566-5)
                    jumbf = True
                    c2pa = c2pa or b"c2pa" in payload
                elif marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
                    xmp = payload[29:]
        elif fmt == "PNG":
            for ctype, payload in _png_chunks(data):
                if ctype == b"caBX":  # C2PA's PNG chunk holds a JUMBF box
                    jumbf = True
                    c2pa = c2pa or b"c2pa" in payload
                elif ctype == b"iTXt" and payload.startswith(b"XML:com.adobe.xmp\x00"):
                    xmp = payload
        elif fmt == "WEBP":
            for ctype, payload in _riff_chunks(data):
                if ctype == b"C2PA":
                    jumbf = True
                    c2pa = True
                elif ctype == b"XMP ":
                    xmp = payload
    except struct.error:  # a damaged container: report what was found so far
        pass
    out = {"c2pa": c2pa, "jumbf": jumbf, "xmp": xmp is not None, "digital_source_type": None,
           "creator_tool": None}
    if xmp is not None:
        text = xmp[:XMP_SCAN_LIMIT].decode("utf-8", "replace")
        match = _DST.search(text)
        if match:
            out["digital_source_type"] = _clip(next(g for g in match.groups() if g), 200)
        match = _CREATOR_TOOL.search(text)
        if match:
            out["creator_tool"] = _clip(next(g for g in match.groups() if g), 200)
    return out


# --------------------------------------------------------------------------- everything
def extract(img: Image.Image, data: bytes, fmt: str, *, width: int, height: int) -> dict:
    """The ``metadata`` block of a verdict. ``img`` is the decoded (first-frame) image."""
    dpi = img.info.get("dpi")
    try:
        dpi = [round(float(dpi[0]), 2), round(float(dpi[1]), 2)] if dpi else None
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        dpi = None
    if dpi and not all(math.isfinite(v) for v in dpi):  # e.g. a 0/0 resolution: no NaN in JSON
        dpi = None
    exif = _exif(img)
    text = _text_chunks(img)
    prov = provenance(data, fmt)
    try:
        frames = int(getattr(img, "n_frames", 1)) if getattr(img, "is_animated", False) else 1
    except Exception:
        frames = 1

    signals: list[dict] = []
    for key in text:
        if key.lower() in GENERATOR_TEXT_KEYS:
            signals.append({"code": "generator_text", "detail": f"text chunk '{key}': {GENERATOR_TEXT_KEYS[key.lower()]}"})
    candidates = [("EXIF Software", exif.get("software")), ("XMP CreatorTool", prov["creator_tool"])]
    candidates += [(f"text {k}", v) for k, v in text.items() if k.lower() in ("software", "comment", "description", "source")]
    for source, value in candidates:
        if isinstance(value, str) and GENERATOR_SOFTWARE.search(value):
            signals.append({"code": "generator_software", "detail": f"{source}: {value[:80]}"})
    comment = exif.get("user_comment")
    if isinstance(comment, str) and re.search(r"steps:\s*\d+.*sampler:", comment, re.IGNORECASE | re.DOTALL):
        signals.append({"code": "generator_text", "detail": "EXIF UserComment holds generation parameters"})
    if prov["c2pa"] or prov["jumbf"]:
        signals.append({"code": "c2pa_manifest", "detail": "a C2PA/JUMBF manifest is embedded (not verified)"})
    dst = prov["digital_source_type"]
    if dst:
        name = dst.rstrip("/").rsplit("/", 1)[-1]
        code = "declared_ai_source" if name.lower() in AI_SOURCE_TYPES else "declared_source"
        signals.append({"code": code, "detail": f"XMP DigitalSourceType {name}"})
    if exif.get("make") or exif.get("model"):
        signals.append({"code": "camera_exif", "detail": " ".join(str(exif.get(k, "")) for k in ("make", "model")).strip()})

    return {
        "format": fmt,
        "mime_type": MIME_TYPES.get(fmt),
        "bytes": len(data),
        "width": width,
        "height": height,
        "megapixels": round(width * height / 1e6, 3),
        "mode": img.mode,
        "frames": frames,
        "dpi": dpi,
        "exif": exif,
        "text": text,
        "provenance": prov,
        "signals": signals,
        "note": "metadata signals are reported beside fake_probability and never change it",
    }

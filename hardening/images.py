"""Builders for odd and hostile image files, all generated in memory (nothing is downloaded).

Every builder is deterministic (fixed seeds), so the corpus is the same on every machine.
"""
from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

SEED = 20261122


# --------------------------------------------------------------------------- plain images
def photo(width: int = 320, height: int = 240, seed: int = SEED) -> Image.Image:
    """A photo-like RGB picture: smooth gradients, a disc and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 120 + 100 * np.sin(x / max(width, 1) * 3.1)
    g = 90 + 80 * np.cos(y / max(height, 1) * 2.3)
    b = 60 + 60 * np.sin((x + y) / max(width + height, 1) * 5.0)
    disc = ((x - width * 0.55) ** 2 + (y - height * 0.45) ** 2) < (min(width, height) * 0.3) ** 2
    r = np.where(disc, 220, r)
    g = np.where(disc, 180, g)
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg(img: Image.Image | None = None, **params) -> bytes:
    return encode(img if img is not None else photo(), "JPEG", quality=90, **params)


def png(img: Image.Image | None = None, **params) -> bytes:
    return encode(img if img is not None else photo(), "PNG", **params)


# --------------------------------------------------------------------------- PNG by hand
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes, extra: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_16bit_rgb(width: int = 96, height: int = 64) -> bytes:
    """48-bit RGB PNG (Pillow can read but not write these): big-endian uint16 samples."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 65535 // max(width - 1, 1), y * 65535 // max(height - 1, 1), (x * y) % 65536], axis=-1)
    rows = b"".join(b"\x00" + rgb[i].astype(">u2").tobytes() for i in range(height))
    return png_raw(width, height, 16, 2, zlib.compress(rows, 9))


def png_16bit_gray(width: int = 96, height: int = 64) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    arr = ((x * 977 + y * 331) % 65536).astype(np.uint16)
    img = Image.fromarray(arr)
    assert img.mode == "I;16"
    return encode(img, "PNG")


def png_declared_bomb(width: int = 30000, height: int = 30000, rows: int = 64) -> bytes:
    """A few KB declaring width x height 8-bit grey: the IDAT holds only the first ``rows`` rows."""
    comp = zlib.compressobj(9)
    data = comp.compress((b"\x00" + b"\x00" * width) * rows) + comp.flush(zlib.Z_SYNC_FLUSH)
    return png_raw(width, height, 8, 0, data)


# --------------------------------------------------------------------------- JPEG surgery
def jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("JPEG segments hold at most 65533 bytes")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_insert_segments(data: bytes, segments: list[bytes]) -> bytes:
    """Insert segments right after SOI (before JFIF/APP0 is fine for decoders)."""
    assert data[:2] == b"\xff\xd8"
    return data[:2] + b"".join(segments) + data[2:]


def jpeg_set_declared_size(data: bytes, width: int, height: int) -> bytes:
    """Patch the SOFn header so the JPEG declares width x height (the scan data stays small)."""
    i = 2
    while i < len(data) - 9:
        if data[i] != 0xFF:
            raise ValueError("not at a marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]
        i += 2 + length
    raise ValueError("no SOF marker")


def exif_huge(size: int = 60000) -> bytes:
    """A valid EXIF block of ``size`` bytes (most of it in ImageDescription and UserComment)."""
    exif = Image.Exif()
    exif[0x010E] = "D" * (size // 2)  # ImageDescription
    exif[0x0112] = 1  # Orientation
    exif[0x013B] = "A" * (size // 4)  # Artist
    return exif.tobytes()


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def exif_malformed() -> bytes:
    """EXIF whose IFD claims 65535 entries and whose next-IFD offset points far past the end."""
    entry = struct.pack("<HHII", 0x0112, 3, 1, 6)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + entry * 3 + struct.pack("<I", 0x7FFFFFF0)


def exif_shared_blob(entries: int, blob: int, orientation: int | None = None) -> bytes:
    """A TIFF/EXIF block whose ``entries`` IFD entries all point at one ``blob``-byte region:
    tiny on disk, ``entries x blob`` bytes once a parser copies every tag's data."""
    rows = [struct.pack("<HHII", 1000 + i, 7, blob, 8) for i in range(entries)]
    if orientation is not None:
        rows[0] = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", entries) + b"".join(rows) + struct.pack("<I", 0)
    return ifd + b"\x00" * max(0, blob + 8 - len(ifd))


def png_with_exif(exif: bytes) -> bytes:
    """A small PNG with an eXIf chunk (no size limit, unlike a JPEG APP1 segment)."""
    data = png(photo(64, 48))
    return data[:33] + png_chunk(b"eXIf", exif) + data[33:]


def jpeg_with_exif(exif: bytes, img: Image.Image | None = None) -> bytes:
    if not exif.startswith(b"Exif"):
        exif = b"Exif\x00\x00" + exif
    return jpeg_insert_segments(jpeg(img), [jpeg_segment(0xE1, exif)])


def jpeg_many_app_segments(count: int, size: int = 65000) -> bytes:
    rng = random.Random(SEED)
    segs = [jpeg_segment(0xEF, rng.randbytes(size)) for _ in range(count)]
    return jpeg_insert_segments(jpeg(photo(64, 64)), segs)


# --------------------------------------------------------------------------- other containers
def gif_animated(frames: int = 4) -> bytes:
    base = photo(120, 90)
    imgs = [Image.eval(base, lambda v, k=k: (v + 40 * k) % 256).convert("P") for k in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:], duration=80, loop=0)
    return buf.getvalue()


def gif_declared_bomb() -> bytes:
    """GIF89a whose logical screen is 65535x65535, holding a single 1x1 frame."""
    header = b"GIF89a" + struct.pack("<HH", 0xFFFF, 0xFFFF) + bytes([0x80, 0, 0]) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return header + frame + b";"


def gif_many_frames(count: int, width: int = 64, height: int = 64) -> bytes:
    """A GIF whose first frame is followed by ``count`` 1x1 frames of 15 bytes each (a CPU bomb
    for anything that walks every frame)."""
    head = encode(Image.new("P", (width, height)), "GIF")[:-1]  # without the trailer
    frame = b"\x21\xf9\x04\x00\x00\x00\x00\x00" + b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return head + frame * count + b";"


def webp_declared_bomb(width: int = 16383, height: int = 16383) -> bytes:
    """A lossy WebP whose VP8 frame header declares width x height (the largest WebP allows)."""
    data = bytearray(encode(photo(64, 48), "WEBP", quality=80))
    at = data.index(b"VP8 ") + 8 + 6  # chunk header, 3-byte frame tag, 3-byte start code
    assert data[at - 3 : at] == b"\x9d\x01\x2a"
    struct.pack_into("<HH", data, at, width, height)
    return bytes(data)


def png_with_xmp(xmp_body: bytes) -> bytes:
    """A small PNG carrying an XMP packet (iTXt "XML:com.adobe.xmp") right after IHDR."""
    data = png(photo(64, 48))
    chunk = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_body)
    return data[:33] + chunk + data[33:]


def apng(frames: int = 3) -> bytes:
    base = photo(100, 80)
    imgs = [Image.eval(base, lambda v, k=k: (v + 60 * k) % 256) for k in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, "PNG", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    data = buf.getvalue()
    assert b"acTL" in data, "Pillow did not write an APNG"
    return data


def bmp_declared_bomb(width: int = 30000, height: int = 30000) -> bytes:
    data = bytearray(encode(photo(4, 4), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def palette_with_transparency() -> bytes:
    img = photo(128, 96).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return encode(img, "PNG", transparency=0)


def rgba_png() -> bytes:
    img = photo(128, 96).convert("RGBA")
    alpha = Image.linear_gradient("L").resize(img.size)
    img.putalpha(alpha)
    return encode(img, "PNG")


def cmyk_jpeg() -> bytes:
    return encode(photo(160, 120).convert("CMYK"), "JPEG", quality=90)


def grayscale_jpeg() -> bytes:
    return encode(photo(160, 120).convert("L"), "JPEG", quality=90)


def progressive_jpeg() -> bytes:
    return encode(photo(), "JPEG", quality=85, progressive=True, optimize=True)


def tiff() -> bytes:
    return encode(photo(64, 64), "TIFF")


def ico() -> bytes:
    return encode(photo(64, 64), "ICO", sizes=[(32, 32)])


def bmp() -> bytes:
    return encode(photo(128, 96), "BMP")


def webp() -> bytes:
    return encode(photo(), "WEBP", quality=80)


def pdf() -> bytes:
    """A minimal one-page PDF (hand-written so it is byte-identical on every run)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length 35 >>\nstream\nBT /F1 24 Tf 20 100 Td (hi) Tj ET\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def heif_header_random(seed: int = SEED) -> bytes:
    """An ISO-BMFF 'ftyp heic' box followed by random bytes (looks like HEIC, is not decodable)."""
    rng = random.Random(seed)
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + rng.randbytes(4000)


def random_bytes(n: int = 4096, seed: int = SEED) -> bytes:
    data = random.Random(seed).randbytes(n)
    return b"\x13\x37" + data[2:]  # no known magic number at the start


def svg() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
        b'<script>alert(1)</script><rect width="256" height="256" fill="red"/></svg>\n'
    )


def html() -> bytes:
    return b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)><h1>not an image</h1></body></html>\n"


def jpeg_zip_polyglot() -> bytes:
    """A valid JPEG with a ZIP archive appended: decoders read the JPEG, unzip reads the archive."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("payload.sh", date_time=(2026, 1, 1, 0, 0, 0)), "#!/bin/sh\necho pwned\n")
    return jpeg() + buf.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]

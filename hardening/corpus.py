"""The hostile-input corpus: odd and hostile requests, each with the exact answer it must get.

``cases()`` builds every case in memory (nothing is downloaded). ``python -m hardening.corpus
--out DIR`` writes the request bodies to DIR plus ``DIR/corpus.md`` / ``DIR/corpus.json``: the table
of expected statuses and error codes. ``tests/test_hardening_corpus.py`` sends every case through
the Lambda handler (and the gateway-level ones through the local gateway) and asserts the status
and the error code exactly.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from dataclasses import dataclass, field

from . import images as im

LIMIT_PAD = 7 * 1024 * 1024  # bigger than any image limit the function may set (<= 6 MB payload)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    status: int
    code: str | None  # error code for 4xx; None for 200
    body: bytes = b""
    content_type: str | None = None
    method: str = "POST"
    path: str = "/predict"
    headers: dict = field(default_factory=dict)
    layer: str = "handler"  # "handler": through lambda_handler; "gateway": only over HTTP

    def request_headers(self) -> dict:
        headers = dict(self.headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return headers

    @property
    def file_name(self) -> str:
        return f"{self.name}.bin"


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "hardeningBoundary7MA4YWxk") -> tuple[bytes, str]:
    """(name, filename, content type, data) parts → (body, Content-Type header)."""
    out = []
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(out) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def cases() -> list[Case]:
    """Every case of the corpus (deterministic)."""
    photo_jpeg = im.jpeg()
    photo_png = im.png(im.photo(200, 150))
    J = "application/json"
    c: list[Case] = []
    add = c.append

    # ---- controls: the three body forms work -------------------------------------------------
    add(Case("ok_raw_jpeg", "valid JPEG as the raw body", 200, None, photo_jpeg, "image/jpeg"))
    add(Case("ok_json_base64_png", "valid PNG as base64 in JSON", 200, None, _json({"image": _b64(photo_png)}), J))
    body, ctype = multipart([("image", "face.jpg", "image/jpeg", photo_jpeg)])
    add(Case("ok_multipart_jpeg", "valid JPEG in multipart field `image`", 200, None, body, ctype))
    add(Case("ok_data_url_png", "data:image/png;base64 URL in JSON", 200, None,
             _json({"image": "data:image/png;base64," + _b64(photo_png)}), J))
    add(Case("ok_get_model", "GET /model answers the card", 200, None, b"", None, method="GET", path="/model"))

    # ---- empty / truncated -------------------------------------------------------------------
    add(Case("zero_bytes_raw", "zero-byte body labelled image/jpeg", 400, "missing_body", b"", "image/jpeg"))
    add(Case("zero_bytes_json", "zero-byte body labelled JSON", 400, "missing_body", b"", J))
    add(Case("truncated_jpeg", "JPEG cut in half", 422, "corrupt_image", im.truncated(photo_jpeg, 0.5), "image/jpeg"))
    add(Case("truncated_jpeg_header", "first 20 bytes of a JPEG", 422, "corrupt_image", photo_jpeg[:20], "image/jpeg"))
    add(Case("truncated_png", "PNG cut in half", 422, "corrupt_image", im.truncated(photo_png, 0.5), "image/png"))

    # ---- decompression bombs (rejected from the header, before any pixel is decoded) ----------
    add(Case("bomb_png_30000", "PNG of a few KB declaring 30000x30000", 422, "too_many_pixels",
             im.png_declared_bomb(), "image/png"))
    add(Case("bomb_jpeg_65000", "JPEG whose SOF declares 65000x65000", 422, "too_many_pixels",
             im.jpeg_set_declared_size(im.jpeg(im.photo(64, 64)), 65000, 65000), "image/jpeg"))
    add(Case("bomb_gif_65535", "GIF whose logical screen is 65535x65535", 422, "too_many_pixels",
             im.gif_declared_bomb(), "image/gif"))
    add(Case("bomb_webp_16383", "WebP whose VP8 header declares 16383x16383", 422, "too_many_pixels",
             im.webp_declared_bomb(), "image/webp"))
    add(Case("gif_20000_frames", "460 KB GIF of 20,000 frames (only the first is decoded)", 200, None,
             im.gif_many_frames(20_000), "image/gif"))
    add(Case("bomb_bmp_30000", "BMP header declaring 30000x30000 (a 100-byte file)", 422, "too_many_pixels",
             im.bmp_declared_bomb(), "image/bmp"))

    # ---- metadata ----------------------------------------------------------------------------
    add(Case("exif_huge", "JPEG with a 60 KB EXIF block", 200, None, im.jpeg_with_exif(im.exif_huge()), "image/jpeg"))
    add(Case("exif_malformed", "EXIF IFD claiming 65535 entries, offsets past the end", 200, None,
             im.jpeg_with_exif(im.exif_malformed()), "image/jpeg"))
    add(Case("exif_orientation_bogus", "EXIF orientation 99", 200, None, im.jpeg_with_exif(im.exif_orientation(99)), "image/jpeg"))
    add(Case("exif_orientation_6", "EXIF orientation 6 (rotate)", 200, None,
             im.jpeg_with_exif(im.exif_orientation(6)), "image/jpeg"))
    add(Case("exif_bomb_png", "406 KB PNG eXIf: 5,000 tags sharing one 400 KB blob (2 GB once parsed)", 200, None,
             im.png_with_exif(im.exif_shared_blob(5000, 400_000)), "image/png"))
    add(Case("exif_bomb_jpeg_rotated", "50 KB JPEG EXIF: 2,700 tags sharing one 32 KB blob, orientation 6 (was 291 s)",
             200, None, im.jpeg_with_exif(b"Exif\x00\x00" + im.exif_shared_blob(2700, 32_000, 6)[:65000]), "image/jpeg"))
    add(Case("xmp_regex_bomb", "PNG with a 300 KB XMP packet of repeated 'DigitalSourceType ' (was 267 s)", 200, None,
             im.png_with_xmp(b"DigitalSourceType " * 16_000), "image/png"))
    add(Case("xmp_regex_bomb_tags", "PNG with a 1 MB XMP packet of repeated 'CreatorTool>'", 200, None,
             im.png_with_xmp(b"CreatorTool>" * 90_000), "image/png"))
    add(Case("jpeg_3mb_app_segments", "tiny JPEG carrying 48 x 64 KB of APP15 junk", 200, None,
             im.jpeg_many_app_segments(48), "image/jpeg"))

    # ---- odd but valid pixels ----------------------------------------------------------------
    add(Case("gif_animated", "animated GIF (first frame is used)", 200, None, im.gif_animated(), "image/gif"))
    add(Case("apng", "animated PNG (first frame is used)", 200, None, im.apng(), "image/png"))
    add(Case("cmyk_jpeg", "CMYK JPEG", 200, None, im.cmyk_jpeg(), "image/jpeg"))
    add(Case("png_16bit_gray", "16-bit greyscale PNG", 200, None, im.png_16bit_gray(), "image/png"))
    add(Case("png_16bit_rgb", "48-bit RGB PNG", 200, None, im.png_16bit_rgb(), "image/png"))
    add(Case("png_palette_transparency", "palette PNG with a transparent index", 200, None, im.palette_with_transparency(), "image/png"))
    add(Case("png_rgba", "RGBA PNG with an alpha gradient", 200, None, im.rgba_png(), "image/png"))
    add(Case("jpeg_grayscale", "greyscale JPEG", 200, None, im.grayscale_jpeg(), "image/jpeg"))
    add(Case("jpeg_progressive", "progressive JPEG", 200, None, im.progressive_jpeg(), "image/jpeg"))
    add(Case("bmp", "BMP", 200, None, im.bmp(), "image/bmp"))
    add(Case("webp", "WebP", 200, None, im.webp(), "image/webp"))
    add(Case("png_16x16", "16x16 PNG (the smallest accepted)", 200, None, im.png(im.photo(16, 16)), "image/png"))
    add(Case("png_1x1", "1x1 PNG", 422, "image_too_small", im.png(im.photo(1, 1)), "image/png"))
    add(Case("png_1x5000", "1x5000 PNG", 422, "image_too_small", im.png(im.photo(1, 5000)), "image/png"))
    add(Case("jpeg_zip_polyglot", "JPEG with a ZIP appended (a valid JPEG)", 200, None, im.jpeg_zip_polyglot(), "image/jpeg"))
    add(Case("mislabelled_jpeg_as_png", "JPEG bytes labelled image/png (bytes win)", 200, None, photo_jpeg, "image/png"))

    # ---- not accepted formats / not images ---------------------------------------------------
    add(Case("tiff", "TIFF", 415, "unsupported_format", im.tiff(), "image/tiff"))
    add(Case("ico", "ICO", 415, "unsupported_format", im.ico(), "image/x-icon"))
    add(Case("pdf", "PDF", 415, "unsupported_format", im.pdf(), "image/jpeg"))
    add(Case("svg", "SVG with a script", 415, "unsupported_format", im.svg(), "image/svg+xml"))
    add(Case("heic_random", "random bytes labelled image/heic", 415, "not_an_image", im.random_bytes(), "image/heic"))
    add(Case("heif_header_random", "HEIF ftyp box then random bytes", 415, "unsupported_format", im.heif_header_random(), "image/heic"))
    add(Case("html", "an HTML page labelled image/png", 415, "not_an_image", im.html(), "image/png"))
    add(Case("random_as_jpeg", "random bytes labelled image/jpeg", 415, "not_an_image", im.random_bytes(9000, 7), "image/jpeg"))

    # ---- base64 and data URLs ----------------------------------------------------------------
    b64 = _b64(photo_png)
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    add(Case("base64_newlines", "base64 wrapped at 76 columns (MIME style)", 200, None, _json({"image": wrapped}), J))
    add(Case("base64_spaces", "base64 with spaces every 60 chars", 200, None,
             _json({"image": " ".join(b64[i : i + 60] for i in range(0, len(b64), 60))}), J))
    add(Case("base64_urlsafe", "URL-safe base64 alphabet (-_)", 200, None,
             _json({"image": base64.urlsafe_b64encode(photo_jpeg).decode()}), J))
    padded = photo_jpeg + b"\x00" * ((1 - len(photo_jpeg)) % 3)  # length 3n+1: base64 ends in "=="
    assert _b64(padded).endswith("==")
    add(Case("base64_no_padding", "base64 with the == padding stripped", 200, None,
             _json({"image": _b64(padded).rstrip("=")}), J))
    add(Case("base64_garbage", "`image` is not base64 at all", 400, "invalid_base64", _json({"image": "this is *not* base64!!"}), J))
    add(Case("base64_bad_length", "base64 of impossible length (4n+1)", 400, "invalid_base64", _json({"image": b64[:4 * 20 + 1]}), J))
    add(Case("data_url_wrong_mime", "data:text/plain;base64 URL holding a JPEG (bytes win)", 200, None,
             _json({"image": "data:text/plain;base64," + _b64(photo_jpeg)}), J))
    add(Case("data_url_not_base64", "data:image/png, URL without ;base64", 400, "invalid_base64",
             _json({"image": "data:image/png,%89PNG%0D%0A"}), J))

    # ---- JSON shapes -------------------------------------------------------------------------
    add(Case("json_extra_fields", "JSON with extra fields next to `image`", 200, None,
             _json({"image": b64, "name": "x.png", "threshold": 0.0, "debug": True}), J))
    add(Case("json_image_null", "`image`: null", 400, "missing_field", _json({"image": None}), J))
    add(Case("json_image_number", "`image`: 12345", 400, "invalid_field", _json({"image": 12345}), J))
    add(Case("json_image_nested", "`image`: {\"data\": base64}", 400, "invalid_field", _json({"image": {"data": b64}}), J))
    add(Case("json_image_empty", "`image`: \"\"", 400, "missing_field", _json({"image": ""}), J))
    add(Case("json_missing_image", "`{}`", 400, "missing_field", _json({}), J))
    add(Case("json_array", "a JSON array", 400, "invalid_json", _json([b64]), J))
    add(Case("json_malformed", "truncated JSON", 400, "invalid_json", b'{"image": "abc', J))
    add(Case("json_deep_nesting", "100000 nested arrays (recursion bomb)", 400, "invalid_json", b"[" * 100000 + b"]" * 100000, J))
    add(Case("json_huge_int", "`image`: an integer of 10000 digits", 400, "invalid_json", b'{"image": ' + b"9" * 10000 + b"}", J))
    # application/json is not a binary media type: API Gateway replaces invalid UTF-8 with U+FFFD.
    add(Case("json_not_utf8", "JSON with bytes that are not UTF-8 in `image`", 400, "invalid_base64", b'{"image": "\xff\xfe\xfa"}', J))

    # ---- sizes -------------------------------------------------------------------------------
    big = photo_jpeg + b"\x00" * (LIMIT_PAD - len(photo_jpeg))
    add(Case("raw_over_limit", "7 MB raw body (a JPEG padded with zeros)", 413, "image_too_large", big, "image/jpeg"))
    add(Case("json_over_limit", "7 MB image as base64 in JSON", 413, "image_too_large", _json({"image": _b64(big)}), J))

    # Over API Gateway's own 10 MB limit: the gateway answers (the function never runs).
    huge = photo_jpeg + b"\x00" * (11 * 1024 * 1024 - len(photo_jpeg))
    add(Case("gateway_body_over_10mb", "11 MB raw body: refused by the gateway itself", 413, "request_too_large",
             huge, "image/jpeg", layer="gateway"))
    add(Case("gateway_json_over_10mb", "11 MB JSON body: refused by the gateway itself", 413, "request_too_large",
             _json({"image": "A" * (11 * 1024 * 1024)}), J, layer="gateway"))

    # ---- content types and multipart ---------------------------------------------------------
    add(Case("content_type_text", "JPEG bytes labelled text/plain", 415, "unsupported_media_type", photo_jpeg, "text/plain"))
    add(Case("content_type_missing", "JPEG bytes with no Content-Type", 415, "unsupported_media_type", photo_jpeg, None))
    add(Case("content_type_form_urlencoded", "image=<base64> as a form", 415, "unsupported_media_type",
             b"image=" + b64.encode()[:200], "application/x-www-form-urlencoded"))
    add(Case("content_type_octet_stream", "JPEG bytes as application/octet-stream", 200, None, photo_jpeg,
             "application/octet-stream"))
    add(Case("content_type_json_params", "Application/JSON; charset=UTF-8 (case, parameters)", 200, None,
             _json({"image": b64}), "Application/JSON; charset=UTF-8"))
    body, ctype = multipart([("file", "face.jpg", "image/jpeg", photo_jpeg)])
    add(Case("multipart_wrong_field", "multipart whose file field is `file`, not `image`", 400, "missing_field", body, ctype))
    add(Case("multipart_no_boundary", "multipart/form-data without a boundary", 400, "malformed_multipart",
             body, "multipart/form-data"))
    add(Case("multipart_unterminated", "multipart body cut before the closing boundary", 400, "malformed_multipart",
             body[: len(body) // 2], ctype))
    body, ctype = multipart([("image", None, None, b"data:image/png;base64," + b64.encode())])
    add(Case("multipart_text_field", "multipart `image` as a text field holding a data URL", 200, None, body, ctype))
    body, ctype = multipart([("image", "x.tif", "image/tiff", im.tiff())])
    add(Case("multipart_tiff", "TIFF in multipart", 415, "unsupported_format", body, ctype))

    # ---- routing -----------------------------------------------------------------------------
    add(Case("get_predict", "GET /predict", 405, "method_not_allowed", b"", None, method="GET"))
    add(Case("delete_predict", "DELETE /predict", 405, "method_not_allowed", b"", None, method="DELETE"))
    add(Case("post_model", "POST /model", 405, "method_not_allowed", photo_jpeg, "image/jpeg", path="/model"))
    add(Case("unknown_route", "POST /admin", 404, "not_found", photo_jpeg, "image/jpeg", path="/admin"))

    names = [x.name for x in c]
    assert len(names) == len(set(names)), "duplicate case names"
    return c


# --------------------------------------------------------------------------- table + files
def table(corpus: list[Case]) -> str:
    lines = [
        "| # | case | what | bytes | content type | request | via | status | code |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, k in enumerate(corpus, 1):
        lines.append(
            f"| {i} | `{k.name}` | {k.what.replace('|', '/')} | {len(k.body):,} | {k.content_type or '(none)'} "
            f"| {k.method} {k.path} | {k.layer} | {k.status} | {k.code or '-'} |"
        )
    return "\n".join(lines) + "\n"


def write(corpus: list[Case], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    index = []
    for k in corpus:
        with open(os.path.join(out, k.file_name), "wb") as fh:
            fh.write(k.body)
        index.append({
            "name": k.name, "what": k.what, "file": k.file_name, "bytes": len(k.body),
            "method": k.method, "path": k.path, "headers": k.request_headers(),
            "status": k.status, "code": k.code, "layer": k.layer,
        })
    with open(os.path.join(out, "corpus.json"), "w") as fh:
        json.dump(index, fh, indent=1)
    with open(os.path.join(out, "corpus.md"), "w") as fh:
        fh.write(f"# Hostile-input corpus ({len(corpus)} cases)\n\n" + table(corpus))


def run(corpus: list[Case]) -> dict:
    """Every case through the handler (one warm process): what it answered vs what it must."""
    import time
    import warnings
    from collections import Counter

    from . import harness

    handler = harness.load_handler()
    gateway = None
    rows, statuses = [], Counter()
    for k in corpus:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if k.layer == "gateway":
                gateway = gateway or harness.local_gateway(handler)
                answer = harness.through_gateway(gateway, k.method, k.path, k.request_headers(), k.body)
            else:
                answer = harness.call(handler, harness.event_for(k.method, k.path, k.request_headers(), k.body))
        statuses[answer.status] += 1
        rows.append({"name": k.name, "expected": [k.status, k.code], "got": [answer.status, answer.code],
                     "ok": (answer.status, answer.code) == (k.status, k.code)})
    return {
        "cases": len(corpus),
        "as_expected": sum(r["ok"] for r in rows),
        "server_errors": sum(v for s, v in statuses.items() if s >= 500),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "mismatches": [r for r in rows if not r["ok"]],
        "rows": rows,
        "model": harness.model_path(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/corpus", help="directory for the bodies and the table")
    ap.add_argument("--table", action="store_true", help="print the table (markdown) to stdout")
    ap.add_argument("--run", action="store_true", help="also send every case through the handler and compare")
    args = ap.parse_args(argv)
    corpus = cases()
    write(corpus, args.out)
    if args.table:
        sys.stdout.write(table(corpus))
    print(f"{len(corpus)} cases written to {args.out} (table: {os.path.join(args.out, 'corpus.md')})")
    if not args.run:
        return 0
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    result = run(corpus)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"corpus: {result['cases']} cases through the handler, {result['as_expected']} answered exactly as "
          f"expected, {result['server_errors']} 5xx; statuses {result['statuses']}")
    for r in result["mismatches"]:
        print(f"  MISMATCH {r['name']}: expected {r['expected']}, got {r['got']}")
    return 0 if result["as_expected"] == result["cases"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

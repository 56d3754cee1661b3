"""metadata: EXIF, generator text chunks, C2PA/JUMBF, XMP DigitalSourceType — signals only."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from api_support import encode, face_bytes, face_image, post_raw
from detector import metadata
from detector.preprocess import InputSpec, decode_image

A1111 = ("a portrait photo of a woman, detailed skin\nNegative prompt: blurry\n"
         "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sdxl")
XMP_AI = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia" '
    'xmp:CreatorTool="Adobe Firefly"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def extract(data: bytes) -> dict:
    img = decode_image(data, InputSpec())
    w, h = img.source_size
    return metadata.extract(img, data, img.format, width=w, height=h)


def codes(meta: dict) -> list[str]:
    return [s["code"] for s in meta["signals"]]


def png_with_chunk(png: bytes, ctype: bytes, payload: bytes) -> bytes:
    """Insert a chunk right after IHDR."""
    chunk = struct.pack(">I", len(payload)) + ctype + payload + struct.pack(
        ">I", zlib.crc32(ctype + payload) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def jpeg_with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    seg = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


def jumbf_c2pa_box() -> bytes:
    label = b"c2pa\x00"
    desc = struct.pack(">I", 8 + 16 + 1 + len(label)) + b"jumd" + b"c2pa" + b"\x00\x11\x00\x10\x80\x00\xaa\x00\x38\x9b\x71" + b"\x03" + label
    return struct.pack(">I", 8 + len(desc)) + b"jumb" + desc


def test_plain_real_face_has_basic_fields_and_no_generator_signals():
    meta = extract(face_bytes(0))
    assert meta["format"] == "JPEG" and meta["mime_type"] == "image/jpeg"
    assert meta["bytes"] == len(face_bytes(0))
    assert meta["megapixels"] == pytest.approx(meta["width"] * meta["height"] / 1e6, abs=1e-3)
    assert "generator_text" not in codes(meta) and "c2pa_manifest" not in codes(meta)


def test_png_generation_parameters_and_comfyui_prompt():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    info.add_text("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}')
    info.add_text("Software", "ComfyUI")
    info.add_text("unrelated", "x" * 50)
    meta = extract(encode(face_image(0), "PNG", pnginfo=info))
    assert meta["text"]["parameters"].startswith("a portrait photo")
    assert "prompt" in meta["text"] and "unrelated" not in meta["text"]
    assert codes(meta).count("generator_text") == 2
    assert "generator_software" in codes(meta)


def test_long_text_is_truncated():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", "word " * 5000)
    meta = extract(encode(face_image(0), "PNG", pnginfo=info))
    assert len(meta["text"]["parameters"]) <= metadata.TEXT_LIMIT + 1


def test_jpeg_camera_exif_and_dpi():
    exif = Image.Exif()
    exif[271], exif[272], exif[305], exif[306] = "Canon", "Canon EOS R5", "Firmware 1.8.1", "2024:05:01 10:00:00"
    exif.get_ifd(0x8769)[36867] = "2024:05:01 09:59:58"
    meta = extract(encode(face_image(0), "JPEG", exif=exif, dpi=(300, 300)))
    assert meta["exif"]["make"] == "Canon" and meta["exif"]["model"] == "Canon EOS R5"
    assert meta["exif"]["software"] == "Firmware 1.8.1"
    assert meta["exif"]["datetime_original"] == "2024:05:01 09:59:58"
    assert meta["dpi"] == [300.0, 300.0]
    assert "camera_exif" in codes(meta) and "generator_software" not in codes(meta)


def test_exif_user_comment_with_a1111_parameters():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[37510] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    meta = extract(encode(face_image(0), "JPEG", exif=exif))
    assert meta["exif"]["user_comment"].startswith("a portrait photo")
    assert "generator_text" in codes(meta)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_xmp_digital_source_type(fmt):
    face = face_image(0)
    if fmt == "JPEG":
        data = jpeg_with_segment(encode(face, "JPEG"), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_AI.encode())
    elif fmt == "PNG":
        data = png_with_chunk(encode(face, "PNG"), b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_AI.encode())
    else:
        data = encode(face, "WEBP", xmp=XMP_AI.encode())
    meta = extract(data)
    prov = meta["provenance"]
    assert prov["xmp"] is True
    assert prov["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert prov["creator_tool"] == "Adobe Firefly"
    assert "declared_ai_source" in codes(meta) and "generator_software" in codes(meta)


def test_xmp_digital_capture_is_not_an_ai_declaration():
    xmp = XMP_AI.replace("trainedAlgorithmicMedia", "digitalCapture").replace("Adobe Firefly", "Lightroom")
    data = jpeg_with_segment(encode(face_image(0), "JPEG"), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode())
    meta = extract(data)
    assert "declared_source" in codes(meta) and "declared_ai_source" not in codes(meta)


def test_c2pa_in_jpeg_app11():
    payload = b"JP" + b"\x00\x01" + struct.pack(">I", 1) + jumbf_c2pa_box()
    meta = extract(jpeg_with_segment(encode(face_image(0), "JPEG"), 0xEB, payload))
    assert meta["provenance"]["c2pa"] and meta["provenance"]["jumbf"]
    assert "c2pa_manifest" in codes(meta)


def test_c2pa_in_png_cabx_chunk():
    meta = extract(png_with_chunk(encode(face_image(0), "PNG"), b"caBX", jumbf_c2pa_box()))
    assert meta["provenance"]["c2pa"] is True


def test_c2pa_words_in_pixels_or_comments_are_not_a_manifest():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "this mentions jumb and c2pa but is only text")
    meta = extract(encode(face_image(0), "PNG", pnginfo=info))
    assert meta["provenance"]["c2pa"] is False and "c2pa_manifest" not in codes(meta)


def test_signals_never_change_the_probability(api_app):
    """Same pixels with and without generator metadata → identical fake_probability."""
    face = face_image(0)
    plain = encode(face, "PNG")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    tagged = png_with_chunk(encode(face, "PNG", pnginfo=info), b"caBX", jumbf_c2pa_box())
    s1, b1, _ = post_raw(api_app, plain, "image/png")
    s2, b2, _ = post_raw(api_app, tagged, "image/png")
    assert s1 == s2 == 200
    assert b2["metadata"]["signals"] and not b1["metadata"]["signals"]
    assert b1["fake_probability"] == b2["fake_probability"] and b1["label"] == b2["label"]


def test_damaged_containers_do_not_break_metadata():
    jpeg = encode(face_image(0), "JPEG")
    assert metadata.provenance(jpeg[:2] + b"\xff\xe1\xff\xff" + b"x" * 10, "JPEG")["xmp"] is False
    assert metadata.provenance(b"\x89PNG\r\n\x1a\n\x00\x00", "PNG")["c2pa"] is False
    assert metadata.provenance(b"RIFF\x00\x00\x00\x00WEBPVP8X", "WEBP")["c2pa"] is False


def test_gif_comment_and_frames():
    face = face_image(0)
    data = encode(face, "GIF", save_all=True, append_images=[face.rotate(45)], comment=b"made with Midjourney v6")
    meta = extract(data)
    assert meta["frames"] == 2
    assert meta["text"]["comment"] == "made with Midjourney v6"
    assert "generator_software" in codes(meta)
    img = Image.open(io.BytesIO(data))
    assert img.format == "GIF"


def test_zero_resolution_and_odd_text_stay_valid_json(api_app):
    import json as _json

    exif = Image.Exif()
    from PIL.TiffImagePlugin import IFDRational

    exif[282] = IFDRational(0, 0)  # XResolution 0/0
    exif[283] = IFDRational(0, 0)
    exif[296] = 2
    exif[305] = "Caf\u00e9 \u2603 software"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", "prompt with emoji \U0001F600 and \u00e9")
    for data, ctype in ((encode(face_image(0), "JPEG", exif=exif, dpi=(0, 0)), "image/jpeg"),
                        (encode(face_image(0), "PNG", pnginfo=info), "image/png")):
        resp = api_app.lambda_handler(__import__("api_support").rest_event(
            "POST", "/predict", body=data, content_type=ctype), None)
        assert resp["statusCode"] == 200, resp["body"]
        resp["body"].encode("ascii")  # ASCII-safe body
        body = _json.loads(resp["body"])
        assert body["metadata"]["dpi"] is None or all(v == v for v in body["metadata"]["dpi"])
    assert "\U0001F600" in body["metadata"]["text"]["parameters"]

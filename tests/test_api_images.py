"""The image path: sniffing, every mode, first frame, EXIF orientation, JPEG draft, limits.

Checked on decode_image/preprocess directly (what the pixels become) and through the handler
(what status the client sees).
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from api_support import encode, face_bytes, face_image, png_with_declared_size, post_raw
from detector.errors import UnprocessableImage, UnsupportedMediaType
from detector.preprocess import InputSpec, decode_image, preprocess, sniff_format

SPEC = InputSpec()


def run(data: bytes, **kw) -> np.ndarray:
    return preprocess(decode_image(data, SPEC, **kw), SPEC)


def reference(img: Image.Image) -> np.ndarray:
    """What an already-RGB image of the same content becomes."""
    return run(encode(img.convert("RGB"), "PNG"))


# --------------------------------------------------------------------------- sniffing
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_sniff_real_encodings(fmt):
    assert sniff_format(encode(face_image(0), fmt)) == fmt


def test_sniff_ignores_names_and_rejects_text():
    assert sniff_format(b"Just text saved as face.jpg") is None
    assert sniff_format(b"BM but not a bitmap header, just prose") is None
    assert sniff_format(b"") is None


# --------------------------------------------------------------------------- modes
def test_output_contract_on_a_real_face():
    x = run(face_bytes(0))
    assert x.shape == (SPEC.height, SPEC.width, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05


def test_cmyk_jpeg_matches_rgb():
    face = face_image(0)
    rgb = run(encode(face, "JPEG", quality=95))
    cmyk = run(encode(face.convert("CMYK"), "JPEG", quality=95))
    assert np.abs(rgb - cmyk).mean() < 0.03


def test_palette_png_and_gif():
    face = face_image(1)
    for fmt in ("PNG", "GIF"):
        pal = face.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
        x = run(encode(pal, fmt))
        assert np.abs(x - reference(pal)).max() < 1e-6
        assert np.abs(x - reference(face)).mean() < 0.05


def test_palette_transparency_is_composited_over_white():
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    img.paste(1, (0, 0, 32, 64))  # left half red, right half index 0 = transparent
    x = run(encode(img, "PNG", transparency=0))
    assert np.allclose(x[:, -50:], 1.0)  # transparent → white
    assert np.allclose(x[:, :100, 0], 1.0) and np.allclose(x[:, :100, 1:], 0.0)


def test_la_grayscale_with_alpha():
    gray = face_image(0).convert("L")
    la = Image.merge("LA", (gray, Image.new("L", gray.size, 255)))
    x = run(encode(la, "PNG"))
    assert np.allclose(x[..., 0], x[..., 1]) and np.allclose(x[..., 1], x[..., 2])
    assert np.abs(x - reference(gray)).max() < 1e-6
    clear = Image.merge("LA", (gray, Image.new("L", gray.size, 0)))
    assert np.allclose(run(encode(clear, "PNG")), 1.0)


def test_rgba_alpha_composited_over_white():
    face = face_image(0)
    rgba = face.convert("RGBA")
    assert np.abs(run(encode(rgba, "PNG")) - reference(face)).max() < 1e-6
    rgba.putalpha(0)
    assert np.allclose(run(encode(rgba, "PNG")), 1.0)
    assert np.allclose(run(encode(rgba, "WEBP", lossless=True)), 1.0)


def test_16_bit_grayscale_is_scaled_not_clipped():
    ramp = (np.linspace(0, 65535, 256 * 256).reshape(256, 256)).astype(np.uint16)
    img = Image.fromarray(ramp)
    data = encode(img, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    x = run(data)
    assert x[0, 0, 0] == 0.0 and x[-1, -1, 0] == pytest.approx(1.0, abs=1 / 255)
    assert x.mean() == pytest.approx(0.5, abs=0.01)  # clipping at 255 would give ~1.0


def test_one_bit_bmp():
    img = Image.new("1", (64, 64), 0)
    img.paste(1, (0, 0, 32, 64))
    x = run(encode(img, "BMP"))
    assert x[:, :100].min() == 1.0 and x[:, -100:].max() == 0.0


# --------------------------------------------------------------------------- animation, EXIF
@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_uses_the_first_frame(fmt):
    red, blue = Image.new("RGB", (64, 64), (255, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 255))
    green = Image.new("RGB", (64, 64), (0, 255, 0))
    data = encode(red, fmt, save_all=True, append_images=[blue, green], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    x = run(data)
    assert x[..., 0].mean() > 0.9 and x[..., 2].mean() < 0.1


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# Stored pixels for each EXIF orientation such that a viewer shows the upright image.
_STORE = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


@pytest.mark.parametrize("orientation", sorted(_STORE))
def test_exif_orientation_is_applied(orientation):
    upright = Image.new("RGB", (300, 200), (0, 0, 0))
    upright.paste((255, 255, 255), (0, 0, 150, 100))  # white top-left quarter
    stored = _STORE[orientation](upright)
    x = run(encode(stored, "PNG", exif=_exif(orientation)))
    want = reference(upright)
    assert np.abs(x - want).mean() < 0.01


def test_exif_rotated_real_face_reports_display_size(api_app):
    face = face_image(0).resize((240, 320))
    stored = face.transpose(Image.Transpose.ROTATE_90)  # 320 x 240 stored, orientation 6
    status, body, _ = post_raw(api_app, encode(stored, "JPEG", exif=_exif(6), quality=95), "image/jpeg")
    assert status == 200
    assert (body["image"]["width"], body["image"]["height"]) == (240, 320)
    assert body["metadata"]["exif"]["orientation"] == 6


# --------------------------------------------------------------------------- large JPEGs, limits
def test_large_jpeg_is_decoded_with_draft():
    face = face_image(0).resize((2048, 2048))
    data = encode(face, "JPEG", quality=90)
    img = decode_image(data, SPEC)
    assert img.source_size == (2048, 2048)
    assert SPEC.width <= img.size[0] < 2048 and SPEC.height <= img.size[1] < 2048  # reduced DCT scale
    full = preprocess(Image.open(io.BytesIO(data)).convert("RGB"), SPEC)
    assert np.abs(preprocess(img, SPEC) - full).mean() < 0.02


def test_large_jpeg_through_the_api_reports_the_stored_size(api_app):
    data = encode(face_image(1).resize((3000, 2000)), "JPEG", quality=80)
    status, body, _ = post_raw(api_app, data, "image/jpeg")
    assert status == 200 and (body["image"]["width"], body["image"]["height"]) == (3000, 2000)


def test_min_side_is_inclusive():
    assert run(encode(Image.new("RGB", (16, 16), "red"), "PNG")).shape == (256, 256, 3)
    with pytest.raises(UnprocessableImage) as err:
        run(encode(Image.new("RGB", (16, 15), "red"), "PNG"))
    assert err.value.code == "image_too_small"


def test_pixel_limit_is_a_parameter():
    data = encode(Image.new("RGB", (1000, 1000), "red"), "PNG")
    with pytest.raises(UnprocessableImage) as err:
        run(data, max_pixels=999_999)
    assert err.value.code == "too_many_pixels"
    assert run(data, max_pixels=1_000_000).shape == (256, 256, 3)


@pytest.mark.parametrize("dims", [(60000, 60000), (100000, 1), (1, 100000), (7000, 7000)])
def test_declared_bombs(dims):
    data = png_with_declared_size(*dims)
    with pytest.raises(UnprocessableImage) as err:
        decode_image(data, SPEC)
    assert err.value.code in ("too_many_pixels", "image_too_small")


def test_gif_bomb_header():
    gif = bytearray(encode(Image.new("P", (32, 32)), "GIF"))
    gif[6:10] = (65000).to_bytes(2, "little") + (65000).to_bytes(2, "little")  # logical screen
    with pytest.raises(UnprocessableImage):
        decode_image(bytes(gif), SPEC)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_truncated_files_are_422(fmt):
    data = encode(face_image(0), fmt)
    with pytest.raises(UnprocessableImage) as err:
        run(data[: len(data) // 2])
    assert err.value.code == "corrupt_image"


def test_garbage_after_a_valid_header_is_422():
    data = encode(face_image(0), "PNG")
    with pytest.raises(UnprocessableImage):
        run(data[:64] + bytes(range(256)) * 20)


def test_unsupported_and_not_images_are_415():
    for data, code in ((encode(face_image(0), "TIFF"), "unsupported_format"),
                       (b"GIF8 nope", "not_an_image"),
                       (b"\x00" * 100, "not_an_image")):
        with pytest.raises(UnsupportedMediaType) as err:
            run(data)
        assert err.value.code == code


def test_every_mode_through_the_handler(api_app):
    face = face_image(2)
    cases = {
        "CMYK": encode(face.convert("CMYK"), "JPEG"),
        "P": encode(face.convert("P"), "PNG"),
        "LA": encode(face.convert("LA"), "PNG"),
        "RGBA": encode(face.convert("RGBA"), "PNG"),
        "I;16": encode(Image.fromarray((np.asarray(face.convert("L"), np.uint16) * 257)), "PNG"),
        "L": encode(face.convert("L"), "JPEG"),
        "animated": encode(face, "GIF", save_all=True, append_images=[face.rotate(90)]),
    }
    for name, data in cases.items():
        status, body, _ = post_raw(api_app, data, "application/octet-stream")
        assert status == 200, (name, body)
        assert 0.0 <= body["fake_probability"] <= 1.0

"""The three benchmark uploads: a 256 px face as shipped, and a 1 MP and a 12 MP JPEG photo.

The photos are GENERATED here at bench time (never downloaded, never committed): a portrait, one
shared face upscaled in front of a synthetic out-of-focus scene (no other faces: the face stage's
cost grows with the faces it finds), with sensor-like noise so that the JPEG (quality 90) weighs
about what a phone photo of that size does. Written to artifacts/bench/.
"""
from __future__ import annotations

import json
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# name -> (width, height); None = a shared 256 px face file, used as is
SIZES = {
    "face256": None,
    "photo1mp": (1155, 866),  # 1.00 MP
    "photo12mp": (4000, 3000),  # 12.0 MP
}
FACE_SET = "ffhq-stylegan"  # 256 px JPEG faces
GENERATOR_VERSION = 3
NOISE_SIGMA = 6.0


def _faces(data_dir: str) -> list[str]:
    out = []
    for cls in ("real", "fake"):
        folder = os.path.join(data_dir, FACE_SET, cls)
        out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.lower().endswith(".jpg")]
    if not out:
        raise SystemExit(f"no faces under {data_dir}/{FACE_SET}")
    return out


def _photo(faces: list[str], size: tuple[int, int], seed: int) -> Image.Image:
    """A portrait photo: one person (a shared face, ~45 % of the height) in front of a soft synthetic
    scene (gradient, blurred shapes, sensor noise) with no other faces in it."""
    w, h = size
    rng = random.Random(f"{seed}:{w}x{h}")
    nrng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = nrng.uniform(60, 200, 3), nrng.uniform(40, 160, 3)
    arr = top[None, None, :] + (bottom - top)[None, None, :] * (yy / h)[..., None] + 20 * np.sin(xx / w * 6.0)[..., None]
    scene = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(scene)
    for _ in range(40):  # out-of-focus background objects
        cx, cy, r = rng.randrange(w), rng.randrange(h), rng.randrange(w // 40, w // 6)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(rng.randrange(30, 230) for _ in range(3)))
    scene = scene.filter(ImageFilter.GaussianBlur(radius=max(2, w // 150)))
    side = int(h * 0.45)
    subject = Image.open(rng.choice(faces)).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    scene.paste(subject, ((w - side) // 2, (h - side) // 3))
    arr = np.asarray(scene, dtype=np.float32)
    noise = nrng.normal(0.0, NOISE_SIGMA, size=arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8), "RGB")


def make_inputs(data_dir: str, out_dir: str, seed: int = 7) -> dict:
    """{name: {"path", "width", "height", "bytes", "source"}}; photos cached by their parameters."""
    os.makedirs(out_dir, exist_ok=True)
    faces = _faces(data_dir)
    out = {}
    for name, size in SIZES.items():
        if size is None:
            path = faces[0]
            with Image.open(path) as im:
                w, h = im.size
            out[name] = {"path": path, "width": w, "height": h, "bytes": os.path.getsize(path),
                         "source": f"shared {os.path.relpath(path, data_dir)} as is"}
            continue
        path = os.path.join(out_dir, f"{name}.jpg")
        stamp_path = path + ".json"
        stamp = {"v": GENERATOR_VERSION, "seed": seed, "size": list(size), "noise": NOISE_SIGMA,
                 "faces": len(faces), "first": os.path.basename(faces[0])}
        cached = None
        if os.path.exists(path) and os.path.exists(stamp_path):
            with open(stamp_path, encoding="utf-8") as fh:
                cached = json.load(fh)
        if cached != stamp:
            _photo(faces, size, seed).save(path, "JPEG", quality=90)
            with open(stamp_path, "w", encoding="utf-8") as fh:
                json.dump(stamp, fh)
        out[name] = {"path": path, "width": size[0], "height": size[1], "bytes": os.path.getsize(path),
                     "source": f"generated: one {FACE_SET} face on a synthetic scene + noise, JPEG q90"}
    return out

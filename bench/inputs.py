"""The three benchmark uploads: a 256 px face as shipped, and a 1 MP and a 12 MP JPEG photo.

The photos are GENERATED here at bench time (never downloaded, never committed): shared faces are
upscaled and tiled onto a 4:3 canvas, one large face in the middle, with sensor-like noise so that
the JPEG (quality 90) weighs about what a phone photo of that size does. Written to artifacts/bench/.
"""
from __future__ import annotations

import json
import os
import random

import numpy as np
from PIL import Image, ImageFilter

# name -> (width, height); None = a shared 256 px face file, used as is
SIZES = {
    "face256": None,
    "photo1mp": (1155, 866),  # 1.00 MP
    "photo12mp": (4000, 3000),  # 12.0 MP
}
FACE_SET = "ffhq-stylegan"  # 256 px JPEG faces
GENERATOR_VERSION = 2
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
    w, h = size
    rng = random.Random(f"{seed}:{w}x{h}")
    tile = max(128, w // 8)
    canvas = Image.new("RGB", (w, h))
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            face = Image.open(rng.choice(faces)).convert("RGB").resize((tile, tile), Image.Resampling.BICUBIC)
            canvas.paste(face, (x, y))
    # a soft background, one sharp large face in front (the subject of the photo)
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=max(2, w // 600)))
    side = int(min(w, h) * 0.6)
    subject = Image.open(rng.choice(faces)).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    canvas.paste(subject, ((w - side) // 2, (h - side) // 2))
    arr = np.asarray(canvas, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, NOISE_SIGMA, size=arr.shape).astype(np.float32)
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
                     "source": f"generated: {FACE_SET} faces tiled + noise, JPEG q90"}
    return out

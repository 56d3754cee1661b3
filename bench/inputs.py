"""The three benchmark uploads: a 256 px face as shipped, and a 1 MP and a 12 MP JPEG photo;
and the face-path upload (issue #8): a 12 MP photo with three shared test-split faces.

The photos are GENERATED here at bench time (never downloaded, never committed): a portrait, one
shared face upscaled in front of a synthetic out-of-focus scene (no other faces: the face stage's
cost grows with the faces it finds), with sensor-like noise so that the JPEG (quality 90) weighs
about what a phone photo of that size does. Written to artifacts/bench/.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import sys

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


# ------------------------------------------------------------------ the face path: 12 MP, 3 faces
FACES_PHOTO = {"name": "faces12mp", "size": (4000, 3000), "quality": 90, "faces": 3, "side_range": (500, 900),
               "sets": ("ffhq-stylegan", "lfw-faceswap"), "pool_fraction": 0.1, "seed": 2026}
FACES_GENERATOR_VERSION = 1
FACES_SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                             "faces_support.py")


def _faces_support(data_dir: str | None = None, manifest: str | None = None):
    """A private instance of tests/faces_support.py (the composer the face tests use), loaded once,
    reading the test split of ``manifest`` under ``data_dir`` (the bench's --manifest/--data)."""
    name = "_bench_faces_support"
    fs = sys.modules.get(name)
    if fs is None:
        spec = importlib.util.spec_from_file_location(name, FACES_SUPPORT)
        fs = importlib.util.module_from_spec(spec)
        sys.modules[name] = fs  # dataclasses look their module up there
        spec.loader.exec_module(fs)
    if data_dir:
        fs.DATA = os.path.abspath(data_dir)
    if manifest:
        fs.SPLITS = os.path.abspath(manifest)
    return fs


def match_pasted(boxes: list, pasted: list[dict]) -> list[int | None]:
    """For each pasted face, the index of the detected box on it, or None (the face tests' rule:
    tests/faces_support.py ``match``)."""
    return _faces_support().match(boxes, pasted)


def faces_photo(data_dir: str, manifest: str, out_dir: str | None = None) -> dict:
    """The 12 MP (4000x3000) JPEG q90 with three shared test-split faces (ffhq-stylegan,
    lfw-faceswap; at least one real and one fake) pasted 500-900 px wide at free places on a
    face-free procedural background (tests/faces_support.py ``compose``).

    Returns {"path" (None without ``out_dir``), "data" (the JPEG bytes), "width", "height", "bytes",
    "source", "pasted": [{"path" (relative to data_dir), "label", "box"}]}. With ``out_dir`` the JPEG
    is cached there by its parameters (the chosen faces and the composer's source included)."""
    import numpy as np

    p = FACES_PHOTO
    fs = _faces_support(data_dir, manifest)
    rng = np.random.default_rng(p["seed"])
    pool = [item for item in fs.test_split(p["sets"]) if rng.random() < p["pool_fraction"]]
    chosen = fs.pick_faces(rng, p["faces"], pool)
    with open(FACES_SUPPORT, "rb") as fh:
        composer = hashlib.sha256(fh.read()).hexdigest()
    stamp = {"v": FACES_GENERATOR_VERSION, **{k: list(v) if isinstance(v, tuple) else v for k, v in p.items()},
             "chosen": [[os.path.relpath(f, data_dir), label] for f, label in chosen], "composer": composer}
    path = os.path.join(out_dir, f"{p['name']}.jpg") if out_dir else None
    cached = None
    if path and os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json", encoding="utf-8") as fh:
            cached = json.load(fh)
    if cached and cached.get("stamp") == stamp:
        pasted = cached["pasted"]
        with open(path, "rb") as fh:
            data = fh.read()
    else:
        comp = fs.compose(chosen, p["size"], rng, side_range=p["side_range"])
        data = comp.jpeg(p["quality"])
        pasted = [{"path": os.path.relpath(f["path"], data_dir), "label": f["label"], "box": list(f["box"])}
                  for f in comp.pasted]
        if path:
            os.makedirs(out_dir, exist_ok=True)
            with open(path + ".part", "wb") as fh:
                fh.write(data)
            os.replace(path + ".part", path)
            with open(path + ".json", "w", encoding="utf-8") as fh:
                json.dump({"stamp": stamp, "pasted": pasted}, fh)
    w, h = p["size"]
    return {"path": path, "data": data, "width": w, "height": h, "bytes": len(data), "pasted": pasted,
            "source": f"generated: {len(pasted)} shared test-split faces ({', '.join(p['sets'])}) pasted "
                      f"{p['side_range'][0]}-{p['side_range'][1]} px wide on a face-free background, "
                      f"JPEG q{p['quality']}"}

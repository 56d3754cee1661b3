"""Helpers for the face tests and the face benchmark (not a test module).

Composite photos: shared face images pasted at different sizes onto larger procedural
backgrounds (no faces in them), with the pasted squares known, so tests can check that every
face is found and judged like its plain crop. Nothing is written into the repository.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "faces")
SPLITS = os.path.join(REPO, "models", "splits.json")
FACE_MODELS = os.path.join(REPO, "layers", "model", "faces")
SHIPPED_MODEL = os.path.join(REPO, "layers", "model", "model.tflite")


def model_path() -> str | None:
    """The shipped model (or DETECT_TEST_MODEL, as conftest), else None."""
    path = os.environ.get("DETECT_TEST_MODEL") or SHIPPED_MODEL
    if os.path.isfile(path) and os.path.isfile(os.path.splitext(path)[0] + ".json"):
        return path
    return None


def test_split(sets: tuple[str, ...] | None = None) -> list[tuple[str, str, int]]:
    """(set, absolute path, label) of the test split in models/splits.json (label 1 = fake)."""
    with open(SPLITS, encoding="utf-8") as fh:
        manifest = json.load(fh)
    out = []
    for name, block in manifest["sets"].items():
        if sets and name not in sets:
            continue
        for rel in block["test"]:
            label = 1 if rel.split("/")[0] == "fake" else 0
            out.append((name, os.path.join(DATA, name, rel), label))
    return out


def background(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A face-free cluttered background: smooth colour field, shapes, lines, mild noise."""
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    s = min(width, height)
    for _ in range(int(rng.integers(15, 40))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(s // 30, s // 4)), int(rng.integers(s // 30, s // 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.line([x0, y0, x0 + w, y0 + h], fill=colour, width=max(2, s // 200))
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    arr = np.asarray(img, np.int16) + rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@dataclass
class Composite:
    image: Image.Image
    pasted: list[dict] = field(default_factory=list)  # {"path", "label", "box": (x0,y0,x1,y1)}

    def jpeg(self, quality: int = 92) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def compose(faces: list[tuple[str, int]], size: tuple[int, int], rng: np.random.Generator,
            scale_range: tuple[float, float] = (0.8, 2.0), max_side: float | None = None,
            side_range: tuple[float, float] | None = None, seamless: bool = False) -> Composite:
    """Paste each (path, label) face image, scaled by a random factor in ``scale_range`` (of its
    own size, capped to ``max_side`` px) or to a random width in ``side_range`` px, at a random
    free place on a ``size`` background. ``seamless``: each file's border is first extended by
    reflection (half its width and height on each side), so no paste seam lies near the face;
    the sizes then apply to the extended image."""
    width, height = size
    img = background(width, height, rng)
    placed: list[tuple[int, int, int, int]] = []
    out = Composite(img)
    for path, label in faces:
        face = Image.open(path).convert("RGB")
        if seamless:
            arr = np.asarray(face)
            ph, pw = arr.shape[0] // 2, arr.shape[1] // 2
            face = Image.fromarray(np.pad(arr, ((ph, ph), (pw, pw), (0, 0)), mode="reflect"))
        if side_range:
            side = float(rng.uniform(*side_range))
        else:
            side = face.size[0] * float(rng.uniform(*scale_range))
        if max_side:
            side = min(side, max_side)
        w = int(round(side))
        h = int(round(side * face.size[1] / face.size[0]))
        box = None
        for attempt in range(2000):
            if attempt and attempt % 200 == 0:  # crowded: try a smaller copy
                w, h = int(w * 0.85), int(h * 0.85)
            if w >= width or h >= height:
                continue
            x0 = int(rng.integers(0, width - w))
            y0 = int(rng.integers(0, height - h))
            gap = int(0.1 * w)
            if all(x0 + w + gap <= p[0] or p[2] + gap <= x0 or y0 + h + gap <= p[1]
                   or p[3] + gap <= y0 for p in placed):
                box = (x0, y0, x0 + w, y0 + h)
                break
        if box is None:
            raise RuntimeError("no room for another face")
        face = face.resize((w, h), Image.Resampling.BICUBIC) if (w, h) != face.size else face
        img.paste(face, box[:2])
        placed.append(box)
        out.pasted.append({"path": path, "label": label, "box": box})
    return out


def pick_faces(rng: np.random.Generator, n: int, pool: list[tuple[str, str, int]]) -> list[tuple[str, int]]:
    """n faces from ``pool`` ((set, path, label)), at least one real and one fake when n >= 2."""
    reals = [p for p in pool if p[2] == 0]
    fakes = [p for p in pool if p[2] == 1]
    chosen = []
    for i in range(n):
        group = reals if i == 0 else fakes if i == 1 else (reals if rng.random() < 0.5 else fakes)
        item = group[int(rng.integers(0, len(group)))]
        chosen.append((item[1], item[2]))
    order = rng.permutation(n)
    return [chosen[i] for i in order]


def inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def match(found_boxes: list[tuple[float, ...]], pasted: list[dict]) -> list[int | None]:
    """For each pasted face, the index of the found box whose centre lies in the pasted square
    (the one with the highest IoU when several), or None."""
    result: list[int | None] = []
    for p in pasted:
        best, best_iou = None, 0.0
        for i, b in enumerate(found_boxes):
            if not inside(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), p["box"]):
                continue
            ix = max(0.0, min(b[2], p["box"][2]) - max(b[0], p["box"][0]))
            iy = max(0.0, min(b[3], p["box"][3]) - max(b[1], p["box"][1]))
            inter = ix * iy
            union = (b[2] - b[0]) * (b[3] - b[1]) + (p["box"][2] - p["box"][0]) * (p["box"][3] - p["box"][1]) - inter
            iou = inter / union if union else 0.0
            if best is None or iou > best_iou:
                best, best_iou = i, iou
        result.append(best)
    return result


def composites(n: int, seed: int, detector):
    """``n`` photos of 2-4 test-split faces each (about a tenth of the split, seeded), pasted at
    9-30 % of the long side of 1024x768 to 4000x3000 backgrounds (the face inside is 40-95 % of
    the pasted image): the detector's working range is faces from about 5 % of the long side up.
    Only faces the detector finds in their own image are used (a few UTKFace crops cut the face so
    tightly that no detector sees one; plain-image detection rates are measured separately)."""
    rng = np.random.default_rng(seed)
    found: dict[str, bool] = {}

    def detectable(item):
        if item[1] not in found:
            found[item[1]] = bool(detector.detect(Image.open(item[1]).convert("RGB")))
        return found[item[1]]

    pool = [item for item in test_split() if rng.random() < 0.1]
    pool = [item for item in pool if detectable(item)]
    sizes = [(1600, 1200), (1200, 1600), (2400, 1600), (1024, 768), (4000, 3000)]
    for k in range(n):
        count = int(rng.integers(2, 5))
        size = sizes[k % len(sizes)]
        long_side = max(size)
        yield compose(pick_faces(rng, count, pool), size, rng, side_range=(0.09 * long_side, 0.30 * long_side))

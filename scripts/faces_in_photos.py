#!/usr/bin/env python3
"""How a model does on faces in photos, not on aligned crops (issue #8, docs/faces.md).

Two measurements through the API's own code (``detector.service.Detector.analyze``, face stage on):

- **agreement**: test-split faces pasted 2-4 per photo (tests/faces_support.py ``composites``, as
  the face test, seeds 11-13, 20 photos each): each face's P(fake) in the photo against the API's answer for the same
  face file uploaded alone (median gap, share within 0.05 / 0.15, share with the same label);
- **photo AUC**: every ``--step``-th test-split face pasted alone at 12-30 % of the long side of a
  1024x768 / 1600x1200 / 1200x1600 procedural background; AUC per set of the face's P(fake).
  ``--seamless``: each file's border first extended by reflection, so the face square holds no
  paste seam (a seam is evidence no real photo has: a wide square can learn UTKFace's tight crops).

    .venv/bin/python scripts/faces_in_photos.py [--model layers/model/model.tflite] [--step 2] [--seamless]
        [--skip-agreement] [--json]

Nothing is written; the background generator and composer are tests/faces_support.py's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "functions", "detect")):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402

import faces_support as fs  # noqa: E402
from converter.metrics import auc  # noqa: E402
from detector.faces import FaceDetector  # noqa: E402
from detector.model import Model  # noqa: E402
from detector.service import Detector  # noqa: E402


def agreement(service: Detector, seeds=(11, 12, 13), photos: int = 20) -> dict:
    model = service.model
    alone: dict[str, float] = {}
    out = {}
    for seed in seeds:
        gaps, same, per_set = [], [], {}
        for comp in fs.composites(photos, seed, service.faces):
            answer = service.analyze(comp.jpeg())
            matched = fs.match([f["box"] for f in answer["faces"]], comp.pasted)
            for pasted, i in zip(comp.pasted, matched):
                if i is None:
                    continue
                path = pasted["path"]
                if path not in alone:
                    alone[path] = service.analyze(open(path, "rb").read())["fake_probability"]
                p = answer["faces"][i]["fake_probability"]
                gaps.append(abs(p - alone[path]))
                same.append(model.label(p) == model.label(alone[path]))
                per_set.setdefault(path.split(os.sep)[-3], []).append(gaps[-1])
        gaps = np.asarray(gaps)
        out[seed] = {
            "faces": len(gaps), "median_gap": round(float(np.median(gaps)), 4),
            "within_0.05": round(float(np.mean(gaps <= 0.05)), 4), "within_0.15": round(float(np.mean(gaps <= 0.15)), 4),
            "same_label": round(float(np.mean(same)), 4), "max_gap": round(float(gaps.max()), 4),
            "per_set_median_gap": {k: round(float(np.median(v)), 4) for k, v in sorted(per_set.items())},
        }
        print(f"agreement seed {seed}: {json.dumps(out[seed])}", file=sys.stderr, flush=True)
    return out


def nearest(found_boxes, box) -> int | None:
    """The found box whose centre is nearest the centre of ``box`` and inside it, or None."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    inside = [i for i, b in enumerate(found_boxes) if fs.inside(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), box)]
    return min(inside, key=lambda i: abs((found_boxes[i][0] + found_boxes[i][2]) / 2 - cx)
               + abs((found_boxes[i][1] + found_boxes[i][3]) / 2 - cy), default=None)


def photo_auc(service: Detector, step: int = 2, seed: int = 5, seamless: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {}
    missed = 0
    items = fs.test_split()[::step]
    grow = 2 if seamless else 1  # the extended file is twice the size: the face stays as large
    for k, (name, path, label) in enumerate(items):
        size = [(1024, 768), (1600, 1200), (1200, 1600)][k % 3]
        comp = fs.compose([(path, label)], size, rng, side_range=(0.12 * grow * max(size), 0.30 * grow * max(size)),
                          seamless=seamless)
        answer = service.analyze(comp.jpeg())
        boxes = [f["box"] for f in answer["faces"]]
        # with reflected borders, mirrored half-faces may be found too: take the middle one
        i = nearest(boxes, comp.pasted[0]["box"]) if seamless else fs.match(boxes, comp.pasted)[0]
        if i is None:
            missed += 1
            continue
        rows.setdefault(name, []).append((label, answer["faces"][i]["fake_probability"]))
        if (k + 1) % 250 == 0:
            print(f"  photo AUC: {k + 1}/{len(items)}", file=sys.stderr, flush=True)
    out = {name: {"n": len(r), "auc": round(auc(*map(np.asarray, zip(*r))), 4)} for name, r in sorted(rows.items())}
    everything = [row for r in rows.values() for row in r]
    out["all"] = {"n": len(everything), "auc": round(auc(*map(np.asarray, zip(*everything))), 4),
                  "mean_of_sets": round(float(np.mean([v["auc"] for v in out.values()])), 4), "missed": missed}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "layers", "model", "model.tflite"))
    p.add_argument("--step", type=int, default=2, help="every STEP-th test-split face for the photo AUC")
    p.add_argument("--seamless", action="store_true",
                   help="photo AUC with each file's border extended by reflection before pasting, so the "
                        "face square never meets a paste seam (a wide square can read the seam)")
    p.add_argument("--skip-agreement", action="store_true", help="photo AUC only")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    model = Model.load(args.model)
    service = Detector(model, max_bytes=20_000_000, faces=FaceDetector(fs.FACE_MODELS))
    result = {"model": model.identity, "face_crop": model.spec.face_crop,
              "agreement": {} if args.skip_agreement else agreement(service),
              "photo_auc": photo_auc(service, args.step, seamless=args.seamless), "seamless": args.seamless}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"model {model.identity['version']} (input.face_crop {model.spec.face_crop})"
          + (", photos with seamless pastes" if args.seamless else ""))
    for seed, a in result["agreement"].items():
        print(f"composites seed {seed}: {a['faces']} faces, median gap {a['median_gap']:.3f}, within 0.05 "
              f"{a['within_0.05']:.0%}, within 0.15 {a['within_0.15']:.0%}, same label {a['same_label']:.0%}, "
              f"max {a['max_gap']:.2f}; per set {a['per_set_median_gap']}")
    for name, v in result["photo_auc"].items():
        print(f"photo AUC {name}: n={v['n']} {v['auc']:.4f}" + (f" (mean of sets {v['mean_of_sets']:.4f}, "
                                                               f"missed {v['missed']})" if name == "all" else ""))


if __name__ == "__main__":
    main()

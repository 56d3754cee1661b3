"""Evaluate the EXPORTED .tflite through the serving code (detector.model.Model + detector.preprocess on
the raw file bytes), never Keras, on the test split of the manifest; write the card's test metrics and
the report (ROC curves, reliability diagrams, summary)."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from detector.model import Model, calibrate
from detector.preprocess import scale_pixels

from . import data as D
from . import metrics as M
from .export import write_card


def serving_logits(model: Model, paths: list[str], label: str = "") -> np.ndarray:
    """Logits of the files through the serving code: the whole image, or (a card with
    ``input.face_crop``) its largest face's square, as ``detector.faces.face_input`` cuts it."""
    out = np.empty(len(paths), dtype=np.float64)
    step = max(1, len(paths) // 5)
    for i, p in enumerate(paths):
        out[i] = model.logit(scale_pixels(D.file_pixels(p, model.spec)[0], model.spec))
        if (i + 1) % step == 0:
            print(f"  {label}: {i + 1}/{len(paths)}", file=sys.stderr, flush=True)
    return out


def evaluate(model_path: str, manifest: dict, manifest_path: str, *, data_dirs=None, split: str = "test",
             report_dir: str | None = "reports/model", update_card: bool = True, limit: int | None = None) -> dict:
    t0 = time.time()
    model = Model.load(model_path)  # verifies the sha256 against the card
    T, thr = model.temperature, model.threshold
    results, curves = {}, {}
    for name in manifest["sets"]:
        root = D.resolve_root(manifest, name, data_dirs, manifest_path)
        files = list(manifest["sets"][name][split])
        if limit:
            files = files[:: max(1, len(files) // limit)][:limit]
        labels = np.array([D.label_of(f) for f in files])
        logits = serving_logits(model, [os.path.join(root, f) for f in files], f"{name}/{split}")
        results[name] = M.set_metrics(labels, logits, T, thr)
        curves[name] = (labels, logits)
        r = results[name]
        print(f"{name:16s} n={r['n']:5d} AUC {r['auc']:.4f} acc {r['accuracy']:.4f} prec {r['precision']:.4f} "
              f"rec {r['recall']:.4f} ECE {r['ece_before_calibration']:.4f} -> {r['ece']:.4f}", flush=True)
    results_r = json.loads(json.dumps(results))
    if update_card:
        card = dict(model.card)
        card.setdefault("metrics", {})
        card["metrics"][split] = results
        card["metrics"]["test_source"] = ("`python -m converter evaluate`: the .tflite through the serving code "
                                          + ("(detector.faces.face_input: the largest face's square of the "
                                             "decoded file, detector.model.Model)" if model.spec.face_crop else
                                             "(detector.preprocess.decode_image + preprocess on the file bytes, "
                                             "detector.model.Model)") + ", on the manifest's test split")
        write_card(card, model_path)
        with open(os.path.splitext(model_path)[0] + ".json", encoding="utf-8") as fh:
            results_r = json.load(fh)["metrics"][split]
    if report_dir:
        from .report import write_report
        write_report(report_dir, model.card if not update_card else json.load(open(os.path.splitext(model_path)[0] + ".json")),
                     curves, model_path)
    print(f"evaluated in {time.time() - t0:.0f}s", file=sys.stderr)
    return results_r

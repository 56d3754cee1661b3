"""Calibrate (temperature + threshold on validation), quantize to full-int8 TFLite, gate on parity,
write the model card."""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from detector.model import Model, calibrate, sha256_file
from detector.preprocess import InputSpec

from . import metrics as M
from .train import load_splits, log, predict_logits, setup_tf

PARITY_MAX_AUC_DIFF = 0.005
PARITY_MIN_AGREEMENT = 0.98
MODEL_NAME = "mesonet4-deepfake-faces"

LICENCE = (
    "Research and non-commercial use only, because of the training data: FFHQ (ffhq-stylegan reals) is "
    "CC BY-NC-SA 4.0; UTKFace (generated-faces reals) is for non-commercial research only; the MesoNet "
    "Deepfake face set states no licence (research use); LFW and the StyleGAN / Stable Diffusion fakes are "
    "used for research. The code is the project's; the weights inherit these data terms."
)

DATA_DESCRIPTION = {
    "mesonet-df": "MesoNet 'Deepfake' face crops from online videos (Afchar et al. 2018); face-swap fakes; split by video id",
    "ffhq-stylegan": "140k Real and Fake Faces subset: FFHQ photos (CC BY-NC-SA 4.0) vs StyleGAN faces; split by file",
    "generated-faces": "UTKFace crops (non-commercial research) vs Stable Diffusion 2.1 (SDFD) and StyleGAN2 (thispersondoesnotexist) faces; split by file",
    "lfw-faceswap": "Labeled Faces in the Wild photos vs 3D-model face swaps of them; split by file (one person may recur)",
}

LIMITATIONS = [
    "Indicative figures on small public face sets, not benchmark records; real-world images (other generators, "
    "heavy compression, non-face content, screenshots) can score very differently.",
    "Trained and tested on aligned face crops; whole photos or several faces per image are out of scope.",
    "generated-faces can be separated by sharpness alone (UTKFace reals are softer); check the other sets.",
    "lfw-faceswap may have one person in several splits (identity is not in the file names).",
    "A probability, not proof: never the sole basis for a decision about a person.",
]


# What was tried for this model (the shipped run is the one `make model` reproduces); figures are the
# mean over sets of the per-set validation AUC unless marked otherwise.
EXPERIMENTS = [
    "Shipped: MesoNet-4, 10 epochs x 4,000 images (500 per source x class group), Adam 1e-3, mild "
    "augmentation, early stopping on the mean per-set validation AUC: best epoch 7, mean 0.783 "
    "(mesonet-df 0.975, ffhq-stylegan 0.687, generated-faces 0.994, lfw-faceswap 0.478); ~19 min of training.",
    "Wider variant meso4w (16 filters per block, ~2.8x the multiply-adds): mean 0.649 after 1 epoch vs 0.689 "
    "for MesoNet-4 at the same epoch, and ~2.9x slower: not affordable in the 60-minute budget.",
    "Self-blended images (after Shiohara & Yamasaki 2022; p 0.3 of reals, landmark-free central ellipse), "
    "16-epoch budget: best mean 0.765 after 9 epochs (ffhq-stylegan up to 0.697 early, lfw-faceswap still "
    "0.49-0.50); stopped as it trailed the shipped run.",
    "int8 export: with BatchNorm as separate MUL/ADD ops the int8 model lost up to 0.0045 AUC (mesonet-df; "
    "gate 0.005) and agreed on 98.5% of labels; folding each BN's scale into its conv (exact in float, "
    "max logit drift 2e-6) cut that to <= 0.0007 and >= 99.7%.",
    "Op determinism (tf.config.experimental.enable_op_determinism) costs ~2.5x on CPU: off; seeds are fixed "
    "(tf.keras.utils.set_random_seed, seeded splits, stateless augmentation), so reruns differ only by "
    "floating-point reduction order.",
    "Earlier measurements (same project, 2 data sets): heavy augmentation (p 0.75, JPEG q60, scale 0.5) washed "
    "out GAN traces, so augmentation is mild here; a spectral classifier was no shortcut.",
    "Calibration: the per-set best temperatures conflict (validation: generated-faces 0.52, ffhq-stylegan "
    "0.66, mesonet-df 1.61, lfw-faceswap -> very large since it is at chance), so one temperature cannot "
    "bring every set's ECE under 0.05.",
]


class ParityError(RuntimeError):
    """The int8 model does not reproduce the Keras model closely enough; nothing is written."""


def representative_images(train_sets: dict, spec: InputSpec, n: int, seed: int):
    """Training images (balanced over sets) plus images that hold exact 0.0 and 1.0 pixels, so the
    input quantization covers the whole [0, 1] range."""
    rng = np.random.default_rng(seed)
    per = max(1, n // max(1, len(train_sets)))
    out = []
    scale = np.float32(spec.scale)
    for s in train_sets.values():
        idx = rng.choice(len(s.labels), size=min(per, len(s.labels)), replace=False)
        for i in sorted(idx):
            out.append(np.asarray(s.pixels[i]).astype(np.float32) * scale)
    # pin the input range to exactly [0, 1] without feeding unnatural images (an all-white frame would
    # stretch the ranges of inner activations and cost them int8 resolution): a few pixels of some
    # training images are set to 0.0 and 1.0.
    for k, x in enumerate(out[:8]):
        x[k, 0:2, :] = 0.0
        x[k, 2:4, :] = 1.0
    return out
    return out


def fold_batchnorm(model):
    """An inference copy of a MesoNet-4 model with each BatchNorm (which follows a ReLU) folded away, so the
    int8 graph re-quantizes fewer intermediate tensors. BN is y = a*r + c per channel; with a > 0,
    a*relu(z) = relu(a*z), so a goes into the conv's weights and bias and c becomes one ADD before the
    max-pool (max(r + c) = max(r) + c); the last block's c goes into the dense layer's bias (exact).
    Returns None when a scale is not positive (then the model is converted as it is)."""
    import tensorflow as tf

    cfg_blocks = []
    i = 1
    while True:
        try:
            conv, bn, pool = model.get_layer(f"conv{i}"), model.get_layer(f"bn{i}"), model.get_layer(f"pool{i}")
        except ValueError:
            break
        cfg_blocks.append((conv, bn, pool))
        i += 1
    if not cfg_blocks:
        return None
    folded = []
    for conv, bn, _ in cfg_blocks:
        gamma, beta, mean, var = bn.get_weights()
        a = gamma / np.sqrt(var + bn.epsilon)
        c = beta - a * mean
        if np.any(a <= 0):
            return None
        w, b = conv.get_weights()
        folded.append((w * a, b * a, c))
    x = inp = tf.keras.Input(shape=model.input_shape[1:], name="image")
    for k, ((conv, _, pool), (w, b, c)) in enumerate(zip(cfg_blocks, folded)):
        x = tf.keras.layers.Conv2D(conv.filters, conv.kernel_size, padding=conv.padding, activation="relu",
                                   name=f"conv{k + 1}")(x)
        if k < len(cfg_blocks) - 1:
            x = BiasAdd(c, name=f"shift{k + 1}")(x)
        x = tf.keras.layers.MaxPooling2D(pool.pool_size, padding=pool.padding, name=f"pool{k + 1}")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    d16 = model.get_layer("dense16")
    wd, bd = d16.get_weights()
    c_last = folded[-1][2]
    n_pos = wd.shape[0] // len(c_last)
    bd = bd + np.tile(c_last, n_pos) @ wd  # flatten order is (h, w, c): channel fastest
    x = tf.keras.layers.Dense(16, name="dense16")(x)
    x = tf.keras.layers.LeakyReLU(negative_slope=model.get_layer("leaky").negative_slope, name="leaky")(x)
    out = tf.keras.layers.Dense(1, name="logit")(x)
    new = tf.keras.Model(inp, out, name=model.name + "_folded")
    for k, (w, b, _) in enumerate(folded):
        new.get_layer(f"conv{k + 1}").set_weights([w, b])
    new.get_layer("dense16").set_weights([wd, bd])
    new.get_layer("logit").set_weights(model.get_layer("logit").get_weights())
    return new


def _bias_add_layer():
    import tensorflow as tf

    class _BiasAdd(tf.keras.layers.Layer):
        def __init__(self, bias, **kw):
            super().__init__(**kw)
            self.bias = tf.constant(np.asarray(bias, np.float32))

        def call(self, x):
            return x + self.bias

    return _BiasAdd


def BiasAdd(bias, name=None):
    return _bias_add_layer()(bias, name=name)


def convert(keras_model, rep_images, *, rep_scale: float = 1.0) -> bytes:
    """Full-int8 TFLite (float32 input/output at the edges). ``rep_scale`` != 1 deliberately
    mis-scales the calibration data (used by tests to prove the parity gate rejects it)."""
    import tensorflow as tf

    def rep():
        for x in rep_images:
            yield [np.asarray(x * rep_scale, np.float32)[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.float32
    conv.inference_output_type = tf.float32
    return conv.convert()


def tflite_logits(model_path: str, pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Int8 logits through the serving wrapper (detector.model.Model) on scale_pixels' arrays."""
    m = Model(path=model_path, card={"input": spec.to_card(), "threshold": 0.5})
    scale = np.float32(spec.scale)
    return np.array([m.logit(np.asarray(p).astype(np.float32) * scale) for p in pixels], dtype=np.float64)


def tensor_quantization(model_path: str) -> dict:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover
        from tflite_runtime.interpreter import Interpreter
    it = Interpreter(model_path=model_path)
    dtypes = {}
    n_int8 = n_float = 0
    for t in it.get_tensor_details():
        dt = np.dtype(t["dtype"]).name
        dtypes[dt] = dtypes.get(dt, 0) + 1
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    ops = sorted({op["op_name"] for op in it._get_ops_details()}) if hasattr(it, "_get_ops_details") else []
    # the first op quantizes the float input: its output scale is the input's int8 scale
    q_in = None
    for t in it.get_tensor_details():
        if np.dtype(t["dtype"]) == np.int8 and list(t["shape"]) == list(inp["shape"]):
            q_in = {"scale": float(t["quantization"][0]), "zero_point": int(t["quantization"][1])}
            break
    return {"tensor_dtypes": dtypes, "ops": ops, "int8_input_quantization": q_in,
            "input_dtype": np.dtype(inp["dtype"]).name, "output_dtype": np.dtype(out["dtype"]).name}


def parity(keras_logits: dict, int8_logits: dict, labels: dict, temperature: float, threshold: float) -> dict:
    per = {}
    ok = True
    for n in keras_logits:
        k, q, y = keras_logits[n], int8_logits[n], labels[n]
        auc_k, auc_q = M.auc(y, k), M.auc(y, q)
        agree = float(np.mean((calibrate(k, temperature) >= threshold) == (calibrate(q, temperature) >= threshold)))
        d = abs(auc_k - auc_q)
        passed = bool(d <= PARITY_MAX_AUC_DIFF and agree >= PARITY_MIN_AGREEMENT)
        ok &= passed
        per[n] = {"n": int(len(y)), "auc_keras": round(auc_k, 5), "auc_int8": round(auc_q, 5),
                  "auc_diff": round(d, 5), "label_agreement": round(agree, 5),
                  "max_abs_logit_diff": round(float(np.max(np.abs(k - q))), 4),
                  "mean_abs_logit_diff": round(float(np.mean(np.abs(k - q))), 4), "passed": passed}
    return {"split": "test", "rule": f"per set: |AUC(keras logits) - AUC(int8 logits)| <= {PARITY_MAX_AUC_DIFF} "
                                     f"and the calibrated labels agree on >= {PARITY_MIN_AGREEMENT:.0%} of images",
            "passed": bool(ok), "sets": per}


def export(
    keras_path: str,
    manifest: dict,
    manifest_path: str,
    out_path: str,
    *,
    spec: InputSpec = InputSpec(),
    data_dirs=None,
    cache_dir: str | None = "artifacts/cache",
    seed: int = 1234,
    n_representative: int = 400,
    limit_valid: int | None = None,
    limit_test: int | None = None,
    limit_train: int | None = None,
    rep_scale: float = 1.0,
    version: str = "1.0.0",
    workers: int = 2,
) -> dict:
    tf = setup_tf(seed)
    t0 = time.time()
    model = tf.keras.models.load_model(keras_path)
    training_info = {}
    tpath = os.path.splitext(keras_path)[0] + ".training.json"
    if os.path.exists(tpath):
        with open(tpath, encoding="utf-8") as fh:
            training_info = json.load(fh)
    kw = dict(data_dirs=data_dirs, cache_dir=cache_dir, workers=workers)
    valid = load_splits(manifest, manifest_path, "valid", spec, limit=limit_valid, **kw)

    # ---- calibration on validation (each set x class weighs the same, as in training)
    log("calibrating on the validation split")
    v_logits = {n: predict_logits(model, s.pixels, spec) for n, s in valid.items()}
    all_y = np.concatenate([valid[n].labels for n in valid])
    all_z = np.concatenate([v_logits[n] for n in valid])
    weights = np.concatenate([
        np.where(valid[n].labels == 1, 1.0 / max(1, (valid[n].labels == 1).sum()),
                 1.0 / max(1, (valid[n].labels == 0).sum())) for n in valid])
    temperature = M.fit_temperature(all_y, all_z, weights)
    threshold = M.choose_threshold({n: (valid[n].labels, calibrate(v_logits[n], temperature)) for n in valid})
    log(f"temperature {temperature:.4f}, threshold {threshold:.4f}")
    val_metrics = {n: M.set_metrics(valid[n].labels, v_logits[n], temperature, threshold) for n in valid}

    # ---- quantize
    log("converting to full-int8 TFLite")
    train = load_splits(manifest, manifest_path, "train", spec, limit=limit_train, **kw)
    rep = representative_images(train, spec, n_representative, seed)
    folded = fold_batchnorm(model)
    if folded is not None:
        probe = np.stack(rep[:16])
        drift = float(np.max(np.abs(folded(probe, training=False).numpy() - model(probe, training=False).numpy())))
        log(f"BatchNorm folded for export (max |logit drift| in float on 16 images: {drift:.2e})")
        if drift > 1e-3:
            folded = None
    blob = convert(folded if folded is not None else model, rep, rep_scale=rep_scale)

    tmpdir = tempfile.mkdtemp(prefix="export-")
    try:
        tmp_model = os.path.join(tmpdir, "model.tflite")
        with open(tmp_model, "wb") as fh:
            fh.write(blob)
        # ---- parity gate on every set's test split (Keras logits vs int8 logits, calibrated labels)
        log("parity gate: Keras vs int8 on every set's test split")
        test = load_splits(manifest, manifest_path, "test", spec, limit=limit_test, **kw)
        k_logits = {n: predict_logits(model, s.pixels, spec) for n, s in test.items()}
        q_logits = {n: tflite_logits(tmp_model, s.pixels, spec) for n, s in test.items()}
        par = parity(k_logits, q_logits, {n: s.labels for n, s in test.items()}, temperature, threshold)
        for n, p in par["sets"].items():
            log(f"  {n}: AUC keras {p['auc_keras']:.4f} int8 {p['auc_int8']:.4f} (diff {p['auc_diff']:.4f}), "
                f"labels agree {p['label_agreement']:.2%} {'ok' if p['passed'] else 'FAIL'}")
        if not par["passed"]:
            raise ParityError("int8 export rejected: " + "; ".join(
                f"{n} AUC diff {p['auc_diff']:.4f}, agreement {p['label_agreement']:.2%}"
                for n, p in par["sets"].items() if not p["passed"]))
        quant = {
            "scheme": "full integer (int8 weights and activations, int32 biases), float32 input/output at the edges",
            "batchnorm_folded": folded is not None,
            "converter": f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__}), Optimize.DEFAULT, TFLITE_BUILTINS_INT8",
            "representative_data": f"{len(rep)} training images (balanced over sets); 8 of them hold a few exact "
                                   "0.0 and 1.0 pixels so the input range is exactly [0, 1]",
            "file_bytes": len(blob),
            **tensor_quantization(tmp_model),
        }
        manifest_sets = {n: {k: len(manifest["sets"][n][k]) for k in ("train", "valid", "test")} for n in manifest["sets"]}
        from .network import VARIANTS
        arch = training_info.get("architecture") or {"family": "MesoNet-4", "parameters": int(model.count_params())}
        card = {
            "name": MODEL_NAME,
            "version": version,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "file": os.path.basename(out_path),
            "sha256": None,
            "architecture": arch,
            "variant_choice": training_info.get("variant_choice", f"{arch.get('variant', 'meso4')}"),
            "input": spec.to_card(),
            "output": {"tensor": "logit", "shape": [1, 1], "dtype": "float32",
                       "probability": "P(fake) = sigmoid(logit / temperature)",
                       "label": "FAKE if P(fake) >= threshold else REAL"},
            "temperature": round(float(temperature), 6),
            "threshold": round(float(threshold), 6),
            "threshold_rule": M.THRESHOLD_RULE,
            "calibration": {"method": "temperature scaling: T minimising the NLL of sigmoid(logit/T) on the "
                                      "validation split, every set x class weighted equally",
                            "ece": "expected calibration error, 15 equal-width confidence bins"},
            "metrics": {"test": {}, "validation": val_metrics,
                        "test_source": "filled by `python -m converter evaluate` (the .tflite through the serving code)"},
            "quantization": quant,
            "parity": par,
            "training": {k: training_info[k] for k in ("variant", "seed", "epochs_run", "max_epochs", "best_epoch",
                                                        "best_val_auc", "best_val_auc_mean", "per_group_per_epoch",
                                                        "batch", "optimizer", "sampling", "early_stopping",
                                                        "augmentation", "self_blended_images", "deterministic_ops",
                                                        "init_from", "seconds")
                         if k in training_info},
            "training_data": [
                {"set": n, "description": DATA_DESCRIPTION.get(n, "folder with real/ and fake/"),
                 "split_by": manifest["sets"][n]["group_by"], "images": manifest_sets[n]}
                for n in manifest["sets"]],
            "splits": {"manifest": "models/splits.json", "seed": manifest["seed"], "fractions": manifest["fractions"]},
            "licence": LICENCE,
            "limitations": LIMITATIONS,
            "experiments": EXPERIMENTS,
        }
        os.makedirs(os.path.dirname(os.path.abspath(out_path)) or ".", exist_ok=True)
        shutil.copyfile(tmp_model, out_path)
        card["sha256"] = sha256_file(out_path)
        write_card(card, out_path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    log(f"wrote {out_path} ({len(blob)} bytes) and its card in {time.time() - t0:.0f}s")
    return card


def write_card(card: dict, model_path: str) -> str:
    path = os.path.splitext(model_path)[0] + ".json"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        # figures are rounded for reading; the input block is not (its scale is 1/255 exactly: serving
        # multiplies by it, and 0.00392 would feed the model slightly different inputs than training did)
        json.dump({k: (v if k == "input" else _round(v)) for k, v in card.items()}, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def _round(x, nd=5):
    if isinstance(x, float):
        return round(x, nd) if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _round(v, nd) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v, nd) for v in x]
    if isinstance(x, np.generic):
        return _round(x.item(), nd)
    return x

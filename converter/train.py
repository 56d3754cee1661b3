"""Training: balanced source x class sampling, mild augmentation, early stopping on the MEAN of the
per-set validation AUCs (a pooled AUC hides the weak sets)."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from detector.preprocess import InputSpec

from . import data as D
from .metrics import auc


def setup_tf(seed: int, deterministic: bool = False):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_splits(manifest, manifest_path, split, spec, *, data_dirs=None, cache_dir=None, limit=None, workers=2):
    return {
        name: D.load_split(manifest, name, split, spec, data_dirs=data_dirs, manifest_path=manifest_path,
                           cache_dir=cache_dir, workers=workers, limit=limit)
        for name in manifest["sets"]
    }


def predict_logits(model, pixels: np.ndarray, spec: InputSpec, batch: int = 64) -> np.ndarray:
    """Keras logits for uint8 pixels (scaled with exactly scale_pixels' math)."""
    out = []
    scale = np.float32(spec.scale)
    for i in range(0, len(pixels), batch):
        x = np.asarray(pixels[i:i + batch]).astype(np.float32) * scale
        out.append(model(x, training=False).numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def balanced_epoch(groups: list[np.ndarray], per_group: int, rng: np.random.Generator) -> np.ndarray:
    """Indices for one epoch: ``per_group`` from every source x class group (without replacement
    while a group lasts), shuffled. Every group weighs the same, whatever its size."""
    picks = []
    for g in groups:
        reps = int(np.ceil(per_group / len(g)))
        order = np.concatenate([rng.permutation(g) for _ in range(reps)])[:per_group]
        picks.append(order)
    idx = np.concatenate(picks)
    return idx[rng.permutation(len(idx))]


def fill_outside(img: np.ndarray, valid, rng: np.random.Generator, p_fill: float, pool) -> np.ndarray:
    """A face square's part outside its image (everything but ``valid`` = x0, y0, x1, y1): kept as
    the fill it is served with, or with probability ``p_fill`` replaced by another image of ``pool``
    (maybe mirrored), a noisy flat colour or a smooth random colour field (a third each). In a photo
    that part is whatever surrounds the face: the model must not learn the fill."""
    u = rng.random()
    if u >= p_fill:
        return img
    kind = u / p_fill * 3
    if kind < 1:  # another training image (faces, hair, their backgrounds)
        other = np.asarray(pool[rng.integers(len(pool))])
        other = other[:, ::-1] if rng.random() < 0.5 else other
    elif kind < 2:  # a flat colour with some noise
        noise = rng.normal(0, rng.uniform(0, 12), size=img.shape)
        other = np.clip(rng.integers(0, 256, size=3) + noise, 0, 255).astype(np.uint8)
    else:  # a smooth random colour field (an out-of-focus background)
        from PIL import Image

        coarse = rng.integers(0, 256, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3), dtype=np.uint8)
        other = np.asarray(Image.fromarray(coarse).resize(img.shape[1::-1], Image.Resampling.BICUBIC))
    x0, y0, x1, y1 = (int(v) for v in valid)
    out = other.copy()
    out[y0:y1, x0:x1] = img[y0:y1, x0:x1]
    return out


def train(
    manifest: dict,
    manifest_path: str,
    out_path: str,
    *,
    variant: str = "meso4",
    epochs: int = 30,
    per_group: int | None = None,
    batch: int = 32,
    lr: float = 1e-3,
    patience: int = 6,
    seed: int = 1234,
    spec: InputSpec = InputSpec(),
    data_dirs=None,
    cache_dir: str | None = "artifacts/cache",
    limit_train: int | None = None,
    limit_valid: int | None = None,
    augment_cfg=None,
    deterministic: bool = False,
    workers: int = 2,
    checkpoint: bool = True,
    init_from: str | None = None,
    self_blend: float = 0.0,
) -> dict:
    tf = setup_tf(seed, deterministic)
    from .augment import AugmentConfig, make_augment, make_self_blend
    from .network import build, describe

    augment_cfg = augment_cfg or AugmentConfig()
    t_start = time.time()
    log("loading training and validation pixels (cached after the first run)")
    train_sets = load_splits(manifest, manifest_path, "train", spec, data_dirs=data_dirs, cache_dir=cache_dir,
                             limit=limit_train, workers=workers)
    valid_sets = load_splits(manifest, manifest_path, "valid", spec, data_dirs=data_dirs, cache_dir=cache_dir,
                             limit=limit_valid, workers=workers)
    names = list(train_sets)
    pixels = np.concatenate([np.asarray(train_sets[n].pixels) for n in names])
    labels = np.concatenate([train_sets[n].labels for n in names]).astype(np.float32)
    set_of = np.concatenate([np.full(len(train_sets[n].labels), i) for i, n in enumerate(names)])
    groups = [np.where((set_of == i) & (labels == c))[0] for i in range(len(names)) for c in (0, 1)]
    groups = [g for g in groups if len(g)]
    if per_group is None:
        per_group = int(np.median([len(g) for g in groups]))
    log(f"train: {len(labels)} images, {len(groups)} source x class groups "
        f"({', '.join(str(len(g)) for g in groups)}); {per_group} per group per epoch")

    valid_px = np.concatenate([np.asarray(train_sets[n].valid) for n in names])
    outside = ((valid_px[:, 0] > 0) | (valid_px[:, 1] > 0) | (valid_px[:, 2] < spec.width)
               | (valid_px[:, 3] < spec.height))
    if spec.face_crop:
        log(f"face squares: {int(outside.sum())} of {len(outside)} reach outside their image "
            f"(filled: {spec.face_pad}; p_fill {augment_cfg.p_fill} randomises that)")
    fill_rng = np.random.default_rng(seed + 17)

    augment = make_augment(augment_cfg, spec.scale, spec.size)
    sbi = make_self_blend(self_blend, spec.size)

    def dataset(order: np.ndarray, epoch: int):
        def fetch(i):
            img = np.asarray(pixels[i])
            if outside[i]:
                img = fill_outside(img, valid_px[i], fill_rng, augment_cfg.p_fill, pixels)
            return img, labels[i:i + 1]
        ds = tf.data.Dataset.from_tensor_slices((order.astype(np.int64), np.arange(len(order), dtype=np.int64)))

        def load(i, pos):
            img, y = tf.numpy_function(fetch, [i], (tf.uint8, tf.float32), stateful=True)
            img.set_shape([spec.height, spec.width, 3]); y.set_shape([1])
            s = tf.stack([tf.constant(seed * 1000 + epoch, tf.int64), pos])
            x = augment(img, s)
            if self_blend > 0:
                x, y = sbi(x, y, s)
            return x, y

        return ds.map(load, num_parallel_calls=2, deterministic=True).batch(batch).prefetch(2)

    model = build(variant, spec.size, seed)
    if init_from:
        # warm start (fine-tuning, smoke tests): same variant, weights of an earlier model
        model.set_weights(tf.keras.models.load_model(init_from).get_weights())
        log(f"warm start from {init_from}")
    schedule_lr = tf.Variable(lr, trainable=False, dtype=tf.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=lr)
    model.compile(optimizer=opt, loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)) or ".", exist_ok=True)
    history = []
    best = {"score": -1.0, "epoch": 0, "weights": None}
    stale = 0
    cur_lr = lr
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        order = balanced_epoch(groups, per_group, rng)
        h = model.fit(dataset(order, epoch), epochs=1, verbose=0)
        loss = float(h.history["loss"][-1])
        val = {}
        for n in names:
            v = valid_sets[n]
            val[n] = auc(v.labels, predict_logits(model, v.pixels, spec))
        score = float(np.nanmean(list(val.values())))
        rec = {"epoch": epoch, "loss": round(loss, 5), "lr": cur_lr, "val_auc": {k: round(x, 5) for k, x in val.items()},
               "val_auc_mean": round(score, 5), "seconds": round(time.time() - t0, 1)}
        history.append(rec)
        improved = score > best["score"] + 1e-4
        if improved:
            best = {"score": score, "epoch": epoch, "weights": model.get_weights()}
            stale = 0
            if checkpoint:
                model.save(out_path)  # the best so far, so an interrupted run still leaves a model
        else:
            stale += 1
        log(f"epoch {epoch}/{epochs} loss {loss:.4f} val AUC " +
            " ".join(f"{k}={x:.4f}" for k, x in val.items()) +
            f" mean={score:.4f}{' *' if improved else ''} ({rec['seconds']:.0f}s, lr {cur_lr:.2g})")
        if stale >= patience:
            log(f"early stop: no gain in the mean per-set validation AUC for {patience} epochs")
            break
        if stale and stale % 3 == 0:
            cur_lr = cur_lr / 2
            model.optimizer.learning_rate.assign(cur_lr)
    model.set_weights(best["weights"])
    model.save(out_path)
    from .network import VARIANT_CHOICE
    info = {
        "variant": variant,
        "variant_choice": VARIANT_CHOICE if variant == "meso4" else f"{variant} (set on the command line)",
        "architecture": describe(model, variant),
        "seed": seed,
        "init_from": os.path.basename(init_from) if init_from else None,
        "epochs_run": len(history),
        "max_epochs": epochs,
        "best_epoch": best["epoch"],
        "best_val_auc_mean": round(best["score"], 5),
        "best_val_auc": history[best["epoch"] - 1]["val_auc"],
        "per_group_per_epoch": per_group,
        "batch": batch,
        "optimizer": f"Adam lr {lr} (halved after every 3 epochs without gain), binary cross-entropy on logits",
        "sampling": "every source x class group weighs the same: each epoch draws the same number of images from each",
        "early_stopping": f"mean over sets of the per-set validation AUC, patience {patience}, best weights kept",
        "input": spec.to_card(),
        "augmentation": augment_cfg.to_dict(),
        "self_blended_images": (f"p={self_blend}: a real image becomes a self-blended FAKE (soft central ellipse, "
                                "recoloured/shifted/rescaled copy of itself; after Shiohara & Yamasaki 2022)")
                               if self_blend > 0 else "off",
        "deterministic_ops": deterministic,
        "train_images": {n: int(len(train_sets[n].labels)) for n in names},
        "history": history,
        "seconds": round(time.time() - t_start, 1),
    }
    with open(os.path.splitext(out_path)[0] + ".training.json", "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1)
    log(f"saved {out_path} (best epoch {best['epoch']}, mean val AUC {best['score']:.4f}) in {info['seconds']:.0f}s")
    return info

"""Metrics, temperature scaling and the threshold rule (numpy only)."""
from __future__ import annotations

import numpy as np

from detector.model import calibrate


def auc(labels, scores) -> float:
    """ROC AUC by the rank-sum statistic (ties count half). NaN if one class is missing."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    i = 0
    r = np.arange(1, len(s) + 1, dtype=np.float64)
    uniq, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = r[start] + (counts - 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(labels, scores):
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = np.cumsum(~y)[distinct]
    tpr = np.r_[0.0, tps / max(1, y.sum())]
    fpr = np.r_[0.0, fps / max(1, (~y).sum())]
    return fpr, tpr


def ece(labels, probs, bins: int = 15) -> float:
    """Expected calibration error of P(fake) (equal-width bins, top-label form for a binary task)."""
    y = np.asarray(labels).astype(np.float64)
    p = np.asarray(probs, dtype=np.float64)
    conf = np.where(p >= 0.5, p, 1.0 - p)
    correct = ((p >= 0.5) == (y == 1)).astype(np.float64)
    edges = np.linspace(0.5, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def reliability(labels, probs, bins: int = 10):
    """Per-bin (mean predicted P(fake), fraction fake, count) for a reliability diagram."""
    y = np.asarray(labels).astype(np.float64)
    p = np.asarray(probs, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        rows.append((float(p[m].mean()) if m.any() else np.nan, float(y[m].mean()) if m.any() else np.nan, int(m.sum())))
    return edges, rows


def binary_metrics(labels, probs, threshold: float) -> dict:
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(probs) >= threshold
    tp = int((pred & y).sum()); fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum()); tn = int((~pred & ~y).sum())
    return {
        "accuracy": (tp + tn) / max(1, len(y)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def nll(labels, logits, temperature: float, weights=None) -> float:
    y = np.asarray(labels, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64) / temperature
    # log(1+exp(-|z|)) + max(z,0) - y z
    loss = np.logaddexp(0.0, z) - y * z
    w = np.ones_like(loss) if weights is None else np.asarray(weights, dtype=np.float64)
    return float((loss * w).sum() / w.sum())


def fit_temperature(labels, logits, weights=None) -> float:
    """Temperature T > 0 minimising the (weighted) NLL of sigmoid(logit / T): golden-section on log T."""
    lo, hi = np.log(0.05), np.log(20.0)
    f = lambda lt: nll(labels, logits, float(np.exp(lt)), weights)
    g = (np.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a); fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a); fd = f(d)
    return float(np.exp((a + b) / 2))


THRESHOLD_RULE = (
    "the calibrated P(fake) threshold that maximises the mean over sets of the per-set balanced "
    "accuracy (mean of TPR and TNR) on the validation split; ties -> the value closest to 0.5"
)


def choose_threshold(per_set: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """per_set: name -> (labels, calibrated probabilities). See THRESHOLD_RULE."""
    cands = np.unique(np.concatenate([np.round(p, 4) for _, p in per_set.values()] + [np.linspace(0.01, 0.99, 99)]))
    cands = cands[(cands > 0.0) & (cands < 1.0)]
    best, best_score = 0.5, -1.0
    for t in cands:
        scores = []
        for y, p in per_set.values():
            y = np.asarray(y).astype(bool)
            pred = p >= t
            tpr = (pred & y).sum() / max(1, y.sum())
            tnr = (~pred & ~y).sum() / max(1, (~y).sum())
            scores.append((tpr + tnr) / 2)
        s = float(np.mean(scores))
        if s > best_score + 1e-12 or (abs(s - best_score) <= 1e-12 and abs(t - 0.5) < abs(best - 0.5)):
            best, best_score = float(t), s
    return best


def set_metrics(labels, logits, temperature: float, threshold: float) -> dict:
    p_raw = calibrate(logits, 1.0)
    p = calibrate(logits, temperature)
    m = binary_metrics(labels, p, threshold)
    return {
        "n": int(len(labels)),
        "n_real": int((np.asarray(labels) == 0).sum()),
        "n_fake": int((np.asarray(labels) == 1).sum()),
        "auc": auc(labels, logits),
        "accuracy": m["accuracy"],
        "precision": m["precision"],
        "recall": m["recall"],
        "ece": ece(labels, p),
        "ece_before_calibration": ece(labels, p_raw),
        "confusion": {k: m[k] for k in ("tp", "fp", "fn", "tn")},
    }

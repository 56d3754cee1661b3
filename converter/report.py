"""ROC curves, reliability diagrams (matplotlib, Agg) and a markdown summary."""
from __future__ import annotations

import os

import numpy as np

from detector.model import calibrate

from . import metrics as M


def write_report(report_dir: str, card: dict, curves: dict, model_path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(report_dir, exist_ok=True)
    T = float(card["temperature"])
    for name, (y, z) in curves.items():
        fpr, tpr = M.roc_curve(y, z)
        fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
        ax.plot(fpr, tpr, lw=1.8, label=f"AUC {M.auc(y, z):.3f}")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        ax.set_xlabel("false positive rate (real called fake)")
        ax.set_ylabel("true positive rate (fake caught)")
        ax.set_title(f"ROC, {name} (test, int8)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(os.path.join(report_dir, f"roc-{name}.png"))
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
        for temp, lab, mk in ((1.0, "before (T=1)", "o--"), (T, f"after (T={T:.2f})", "s-")):
            p = calibrate(z, temp)
            _, rows = M.reliability(y, p, bins=10)
            xs = [r[0] for r in rows if r[2] > 0]
            ys = [r[1] for r in rows if r[2] > 0]
            ax.plot(xs, ys, mk, ms=4, label=f"{lab}, ECE {M.ece(y, p):.3f}")
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
        ax.set_xlabel("predicted P(fake)")
        ax.set_ylabel("observed fraction fake")
        ax.set_title(f"Reliability, {name} (test)")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(report_dir, f"reliability-{name}.png"))
        plt.close(fig)

    test = card["metrics"].get("test", {})
    tr = card.get("training", {})
    arch = card.get("architecture", {})
    par = card.get("parity", {})
    lines = [
        f"# Model report: {card['name']} {card['version']}",
        "",
        f"Date {card['date']}; file `{card['file']}` ({card.get('quantization', {}).get('file_bytes', os.path.getsize(model_path))} bytes), "
        f"sha256 `{card['sha256'][:16]}...`. Architecture: {arch.get('variant', '?')} "
        f"({arch.get('parameters', '?')} parameters), {arch.get('description', '')}.",
        "",
        f"Variant choice: {card.get('variant_choice', '')}",
        "",
        "## Test figures (the int8 .tflite through the serving code, per set)",
        "",
        "| set | n | AUC | accuracy | precision | recall | ECE before | ECE after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, r in test.items():
        lines.append(f"| {n} | {r['n']} | {r['auc']:.4f} | {r['accuracy']:.4f} | {r['precision']:.4f} | "
                     f"{r['recall']:.4f} | {r['ece_before_calibration']:.4f} | {r['ece']:.4f} |")
    lines += [
        "",
        f"Calibration: temperature T = {card['temperature']:.4f} (fitted on validation); threshold "
        f"{card['threshold']:.4f} on calibrated P(fake): {card['threshold_rule']}.",
        "",
        "## int8 parity (Keras logits vs int8 logits, test split)",
        "",
        "| set | AUC Keras | AUC int8 | diff | label agreement |",
        "|---|---|---|---|---|",
    ]
    for n, p in par.get("sets", {}).items():
        lines.append(f"| {n} | {p['auc_keras']:.4f} | {p['auc_int8']:.4f} | {p['auc_diff']:.4f} | {p['label_agreement']:.2%} |")
    lines += ["", f"Gate: {par.get('rule', '')}: {'passed' if par.get('passed') else 'FAILED'}.", ""]
    if tr:
        lines += ["## Training", "",
                  f"{tr.get('epochs_run')} epochs (best {tr.get('best_epoch')}, mean per-set validation AUC "
                  f"{tr.get('best_val_auc_mean')}), {tr.get('seconds')} s; {tr.get('sampling')}; "
                  f"early stopping on the {tr.get('early_stopping')}.", ""]
    if card.get("experiments"):
        lines += ["## What was tried", ""] + [f"- {x}" for x in card["experiments"]] + [""]
    lines += ["## Plots", ""]
    for n in curves:
        lines.append(f"- {n}: [ROC](roc-{n}.png), [reliability](reliability-{n}.png)")
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card.get("limitations", [])]
    lines += ["", f"Licence: {card.get('licence', '')}", ""]
    with open(os.path.join(report_dir, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))

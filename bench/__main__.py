"""``python -m bench [--quick]``: our Lambda stack vs the floor and the Flask + TensorFlow stack, in one run.

The floor (bench/worker_floor.py: numpy + Pillow + LiteRT, the classifier and the short-range face
model loaded, the photo draft-decoded and each model run once) is what any LiteRT face handler
pays on this machine. All three are measured side by side (cold starts interleaved, warm requests
in alternating rounds) so that the ratios hold on any machine. Prints a table with ratios and
one met/missed line per target, writes the results as JSON (``--out``) and the table as Markdown
(``--md``) with the machine it ran on. Paths are parameters; the defaults are the shipped ones.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time

from . import measure as M
from .inputs import faces_photo, make_inputs
from .report import check_targets, render_markdown, render_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "bench")


def _first_existing(*paths):
    for p in paths:
        if p and os.path.exists(p):
            return p
    return paths[0]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions (CI): every figure, no speed claims")
    ap.add_argument("--model", default=None,
                    help="int8 .tflite served by ours (default layers/model/model.tflite, else /tmp/smoke-model)")
    ap.add_argument("--card", default=None, help="its card (default: beside the model)")
    ap.add_argument("--keras", default=os.path.join(REPO, "models", "model.keras"),
                    help="the same trained model for the baseline (Keras)")
    ap.add_argument("--manifest", default=os.path.join(REPO, "models", "splits.json"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared", "data", "faces"))
    ap.add_argument("--cache", default=os.path.join(REPO, "artifacts", "cache"), help="decoded-pixel cache")
    ap.add_argument("--work", default=os.path.join(REPO, "artifacts", "bench"))
    ap.add_argument("--baseline-python", default=os.path.join(REPO, ".venv-baseline", "bin", "python"))
    ap.add_argument("--python311", default="python3.11", help="CPython 3.11 for the Lambda-like runtime")
    ap.add_argument("--layer", default=None, help="an already built runtime layer dir (holding python/)")
    ap.add_argument("--cold-runs", type=int, default=None)
    ap.add_argument("--warm-reps", type=int, default=None, help="timed requests per image per stack")
    ap.add_argument("--faces-reps", type=int, default=None,
                    help="timed requests per kind on the 12 MP / 3-face photo (plain, explain)")
    ap.add_argument("--rss-requests", type=int, default=None)
    ap.add_argument("--auc-limit", type=int, default=None, help="test images per set (default all)")
    ap.add_argument("--out", default=None,
                    help="results JSON (default bench/results.json; quick: artifacts/bench/quick/results.json)")
    ap.add_argument("--md", default=None, help="Markdown table (default docs/bench.md; quick: beside --out)")
    args = ap.parse_args(argv)
    q = args.quick
    if args.out is None:
        args.out = os.path.join(REPO, "artifacts", "bench", "quick", "results.json") if q else \
            os.path.join(REPO, "bench", "results.json")
    if args.md is None:
        args.md = os.path.join(os.path.dirname(args.out), "bench.md") if q else os.path.join(REPO, "docs", "bench.md")
    args.cold_runs = args.cold_runs or (2 if q else 21)
    args.warm_reps = args.warm_reps or (6 if q else 60)
    args.faces_reps = args.faces_reps or (5 if q else 40)
    args.rss_requests = args.rss_requests or (30 if q else 200)
    args.auc_limit = args.auc_limit if args.auc_limit is not None else (24 if q else 0)
    args.model = args.model or _first_existing(os.path.join(REPO, "layers", "model", "model.tflite"),
                                               "/tmp/smoke-model/model.tflite")
    args.card = args.card or os.path.splitext(args.model)[0] + ".json"
    return args


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict:
    info = {"cpu": platform.processor() or "", "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", info["cpu"]).strip()
        info["threads_per_core"] = fields.get("Thread(s) per core", "").strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info["memory_gb"] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def faces_inputs(args) -> tuple[dict, dict]:
    """The face-path photo (bench.inputs.faces_photo) and its two REST events (plain, explain)."""
    photo = faces_photo(args.data, args.manifest, args.work)
    return photo, M.write_faces_events(photo, os.path.join(args.work, "events"))


def main(argv=None) -> int:
    args = parse_args(argv)
    t_begin = time.time()
    for path, what in ((args.model, "int8 model"), (args.card, "model card"), (args.keras, "Keras model"),
                       (args.baseline_python, "baseline venv (make bench-venv)"), (args.data, "shared faces"),
                       (args.manifest, "split manifest")):
        if not os.path.exists(path):
            raise SystemExit(f"bench: missing {what}: {path}")
    os.makedirs(args.work, exist_ok=True)
    results = {
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "model": M.model_identity(args.model, args.card, args.keras),
        "settings": {"cold_runs": args.cold_runs, "warm_reps": args.warm_reps, "faces_reps": args.faces_reps,
                     "rss_requests": args.rss_requests,
                     "auc_limit_per_set": args.auc_limit or None},
    }
    with open(args.card, encoding="utf-8") as fh:
        card = json.load(fh)

    log("inputs: a shared 256 px face, generated 1 MP and 12 MP JPEG photos")
    inputs = make_inputs(args.data, args.work)
    results["inputs"] = {k: {kk: vv for kk, vv in v.items() if kk != "path"} for k, v in inputs.items()}
    events = M.write_events(inputs, os.path.join(args.work, "events"))
    log("inputs: a generated 12 MP JPEG with 3 shared test-split faces (the face path, issue #8)")
    photo, faces_events = faces_inputs(args)
    results["inputs"]["faces12mp"] = {k: v for k, v in photo.items() if k not in ("path", "data")}

    log("building the runtime layer (layers/runtime/Makefile, as sam build does) and the function")
    stacks = M.Stacks.build(REPO, args, card)
    results["size"] = M.sizes(stacks, quick=args.quick)

    log(f"cold starts: {args.cold_runs} fresh processes per stack (ours, TensorFlow, the floor, bare), interleaved")
    results["cold_start"] = M.cold_starts(stacks, events, inputs, args.cold_runs, log, warmup=not args.quick)

    log(f"warm latency: {args.warm_reps} requests per image per stack (ours, TensorFlow, the floor, ours "
        "thorough), in alternating rounds")
    results["warm"] = M.warm_latency(stacks, events, inputs, args.warm_reps)

    log(f"faces: 12 MP photo with 3 faces, without and with explain, the floor, thorough: {args.faces_reps} "
        "requests each")
    results["faces"] = M.faces_latency(stacks, faces_events, photo, args.faces_reps)

    log(f"peak RSS: {args.rss_requests} warm requests per stack (all three images in turn), fresh processes")
    results["rss"] = M.peak_rss(stacks, events, inputs, args.rss_requests)

    log("float32 vs int8 TFLite: latency and AUC on the test split")
    results["tflite"] = M.float_vs_int8(stacks, args, card, log)

    warnings = []
    if results["tflite"]["agreement"]["label"] < 0.9:
        warnings.append(f"the float32 conversion of {args.keras} and the int8 {args.model} agree on only "
                        f"{results['tflite']['agreement']['label']:.0%} of labels: not the same trained model?")
    answers = results["warm"]["answers"]
    # Only a whole-image model sees the same pixels in both stacks: with face squares (the card's
    # input.face_crop) ours judges the face's square, the baseline app the whole file as it always did.
    same_input = not card["input"].get("face_crop")
    if same_input and abs(answers["ours"]["face256"]["fake_probability"]
                          - answers["baseline"]["face256"]["fake_probability"]) > 0.1:
        warnings.append("ours and the baseline disagree on the 256 px face by > 0.1: not the same trained model?")
    results["warnings"] = warnings
    for w in warnings:
        log("WARNING: " + w)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_s"] = round(time.time() - t_begin, 1)
    results["targets"] = check_targets(results)
    table = render_table(results)
    print(table)
    for t in results["targets"]:
        print(f"TARGET {t['name']}: {'met' if t['met'] else 'MISSED'} ({t['detail']})")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
        fh.write("\n")
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, "w", encoding="utf-8") as fh:
            fh.write(render_markdown(results))
    log(f"wrote {args.out}" + (f" and {args.md}" if args.md else "") + f" in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

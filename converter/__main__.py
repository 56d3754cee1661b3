"""python -m converter train|export|evaluate|all ...

Data: --data takes a set folder (real/ + fake/, or train|valid|test/{real,fake}) or a folder of such
sets; repeat it to combine folders. The split manifest (--manifest) is written on the first run and
re-read afterwards (pass --new-split to rewrite it); evaluation always re-reads it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import data as D

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "faces")


def expand_data(dirs: list[str]) -> list[str]:
    out = []
    for d in dirs:
        d = os.path.abspath(d)
        if not os.path.isdir(d):
            raise SystemExit(f"--data {d}: not a folder")
        subs = {x.lower() for x in os.listdir(d)}
        if {"real", "fake"} <= subs or subs & set(D.SOURCE_SPLIT_NAMES):
            out.append(d)
        else:
            kids = sorted(os.path.join(d, k) for k in os.listdir(d) if os.path.isdir(os.path.join(d, k)))
            sets = [k for k in kids if {"real", "fake"} <= {x.lower() for x in os.listdir(k)}
                    or {x.lower() for x in os.listdir(k)} & set(D.SOURCE_SPLIT_NAMES)]
            if not sets:
                raise SystemExit(f"--data {d}: holds no real/ + fake/ folders")
            out.extend(sets)
    return out


def get_manifest(args, create: bool) -> dict:
    path = args.manifest
    data_dirs = expand_data(args.data) if args.data else None
    if os.path.exists(path) and not getattr(args, "new_split", False):
        manifest = D.load_manifest(path)
        if data_dirs:
            names = {os.path.basename(os.path.normpath(d)) for d in data_dirs}
            missing = names - set(manifest["sets"])
            if missing:
                raise SystemExit(f"{path} has no split for {sorted(missing)}; pass --new-split to rewrite it")
            manifest["sets"] = {k: v for k, v in manifest["sets"].items() if k in names}
    else:
        if not create:
            raise SystemExit(f"{path}: no split manifest (run `python -m converter train` first)")
        if not data_dirs:
            raise SystemExit("--data is needed to make a split manifest")
        manifest = D.make_manifest(data_dirs, args.seed, base=os.path.dirname(os.path.abspath(path)))
        D.check_no_leak(manifest)
        D.save_manifest(manifest, path)
        print(f"wrote split manifest {path}: " + ", ".join(
            f"{n} {len(s['train'])}/{len(s['valid'])}/{len(s['test'])}" for n, s in manifest["sets"].items()),
            file=sys.stderr)
    D.check_no_leak(manifest)
    args._data_dirs = data_dirs
    return manifest


def cmd_train(args):
    from .augment import AugmentConfig
    from .train import train
    manifest = get_manifest(args, create=True)
    aug = AugmentConfig(**json.loads(args.augment)) if args.augment else None
    from detector.preprocess import InputSpec
    spec = InputSpec()
    if args.face_crop and args.face_crop != "none":
        crop = tuple(float(v) for v in args.face_crop.split(","))
        if len(crop) != 2:
            raise SystemExit("--face-crop takes SCALE,SHIFT_Y (e.g. 0.85,0) or none")
        spec = InputSpec(face_crop=crop, face_pad=args.face_pad)
    info = train(manifest, args.manifest, args.keras, spec=spec, variant=args.variant, epochs=args.epochs,
                 per_group=args.per_group, batch=args.batch, lr=args.lr, patience=args.patience, seed=args.seed,
                 data_dirs=args._data_dirs, cache_dir=args.cache, limit_train=args.limit_train,
                 limit_valid=args.limit_valid, augment_cfg=aug, deterministic=args.deterministic,
                 init_from=args.init_from, self_blend=args.self_blend)
    if args.variant_note:
        info["variant_choice"] = args.variant_note
        with open(os.path.splitext(args.keras)[0] + ".training.json", "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=1)
    return info


def cmd_export(args):
    from .export import ParityError, export
    manifest = get_manifest(args, create=False)
    try:
        card = export(args.keras, manifest, args.manifest, args.model, data_dirs=args._data_dirs,
                      cache_dir=args.cache, seed=args.seed, limit_valid=args.limit_valid,
                      limit_test=args.limit_test, limit_train=args.limit_train, version=args.version)
    except ParityError as exc:
        print(f"EXPORT FAILED: {exc}", file=sys.stderr)
        raise SystemExit(3)
    return card


def cmd_evaluate(args):
    from .evaluate import evaluate
    manifest = get_manifest(args, create=False)
    return evaluate(args.model, manifest, args.manifest, data_dirs=args._data_dirs, report_dir=args.report,
                    limit=args.limit_test)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m converter", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", action="append", help=f"set folder or folder of sets (repeatable; default for "
                                                        f"a new manifest: {DEFAULT_DATA})")
    common.add_argument("--manifest", default=os.path.join(REPO, "models", "splits.json"))
    common.add_argument("--keras", default=os.path.join(REPO, "models", "model.keras"))
    common.add_argument("--model", default=os.path.join(REPO, "layers", "model", "model.tflite"))
    common.add_argument("--report", default=os.path.join(REPO, "reports", "model"))
    common.add_argument("--cache", default=os.path.join(REPO, "artifacts", "cache"))
    common.add_argument("--seed", type=int, default=1234)
    common.add_argument("--limit-train", type=int, default=None, help="per-set cap (smoke runs)")
    common.add_argument("--limit-valid", type=int, default=None)
    common.add_argument("--limit-test", type=int, default=None)
    common.add_argument("--version", default="1.0.0")
    for name in ("train", "all"):
        sp = sub.add_parser(name, parents=[common])
        sp.add_argument("--variant", default="meso4", choices=["meso4", "meso4w"])
        sp.add_argument("--variant-note", default=None, help="why this variant (goes in the card)")
        sp.add_argument("--epochs", type=int, default=10)
        sp.add_argument("--per-group", type=int, default=500, help="images per source x class group per epoch")
        sp.add_argument("--batch", type=int, default=32)
        sp.add_argument("--lr", type=float, default=1e-3)
        sp.add_argument("--patience", type=int, default=4)
        sp.add_argument("--augment", default=None, help="JSON overrides of AugmentConfig")
        sp.add_argument("--new-split", action="store_true")
        sp.add_argument("--self-blend", type=float, default=0.0,
                        help="probability that a real training image becomes a self-blended fake")
        sp.add_argument("--face-crop", default="0.85,0", metavar="SCALE,SHIFT_Y",
                        help="train on each image's largest face cut as a square of SCALE x the face box "
                             "(detector.faces.face_input; the card's input.face_crop); none: whole images")
        sp.add_argument("--face-pad", default="mean", choices=["mean", "edge"],
                        help="what fills a face square where it reaches outside its image")
        sp.add_argument("--init-from", default=None, help="start from this .keras model's weights (fine-tuning)")
        sp.add_argument("--deterministic", action="store_true",
                        help="tf.config.experimental.enable_op_determinism (about 2.5x slower on CPU)")
    sub.add_parser("export", parents=[common])
    sub.add_parser("evaluate", parents=[common])
    args = p.parse_args(argv)
    if args.cmd in ("train", "all") and not args.data and not os.path.exists(args.manifest):
        args.data = [DEFAULT_DATA]
    t0 = time.time()
    if args.cmd == "train":
        cmd_train(args)
    elif args.cmd == "export":
        cmd_export(args)
    elif args.cmd == "evaluate":
        cmd_evaluate(args)
    else:
        cmd_train(args)
        cmd_export(args)
        cmd_evaluate(args)
    print(f"{args.cmd} done in {time.time() - t0:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Only the faces section of ``make bench`` (issues #8, #15): warm latency of the handler as shipped on
a 12 MP photo (4000x3000 JPEG q90) with 3 shared test-split faces, without and with ``?explain=1``,
beside the floor on the same JPEG and the FACE_SEARCH=thorough handler.

The same code as ``make bench`` (``bench.inputs.faces_photo``, ``bench.measure.faces_latency``):
the Lambda handler under the Lambda-like CPython 3.11 with only the built runtime layer and the
function on its path, fed API Gateway REST events; untimed warm-up; fails unless the handler finds
the three pasted faces. Run it with the dev venv:

    .venv/bin/python scripts/bench_faces.py [--model layers/model/model.tflite] [--repeats 15] [--json]

Other ``python -m bench`` options (``--layer``, ``--work``, ``--data``, ``--manifest``, ``--python311``)
are passed through. ``make bench`` measures, judges and reports these figures with all the others.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import measure as M  # noqa: E402
from bench.__main__ import REPO, faces_inputs, parse_args  # noqa: E402
from bench.report import TARGETS  # noqa: E402


def measure(argv: list[str] | None = None, repeats: int = 15) -> dict:
    """``python -m bench`` options (a list) -> the ``faces`` section of bench/results.json."""
    args = parse_args(list(argv or []) + ["--faces-reps", str(repeats)])
    os.makedirs(args.work, exist_ok=True)
    with open(args.card, encoding="utf-8") as fh:
        card = json.load(fh)
    photo, events = faces_inputs(args)
    stacks = M.Stacks.build(REPO, args, card)
    return M.faces_latency(stacks, events, photo, args.faces_reps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed requests of each kind")
    ap.add_argument("--json", action="store_true", help="print the section as JSON")
    args, bench_args = ap.parse_known_args(argv)
    result = measure(bench_args, args.repeats)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    limits = {name: (text, get, limit) for name, text, get, _op, limit, _unit in TARGETS if name.startswith("faces_")}
    for kind, target in (("plain", "faces_12mp_vs_floor"), ("explain", "faces_12mp_explain_vs_floor")):
        r = result[kind]
        text, get, limit = limits[target]
        value = get({"faces": result})
        print(f"12 MP, {result['faces_found']} faces, {kind:7s}: p50 {r['p50']} ms, p95 {r['p95']} ms (n={r['n']}), "
              f"{value:.2f}x the floor, handler {r['handler_timings_ms']}; {'met' if value <= limit else 'MISSED'}: "
              f"{text}")
    r = result["thorough"]
    print(f"FACE_SEARCH=thorough: p50 {r['p50']} ms ({result['ratio_to_floor_p50']['thorough']:.2f}x); the floor "
          f"on the same JPEG: p50 {result['floor']['p50']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

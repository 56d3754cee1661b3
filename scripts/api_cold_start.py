#!/usr/bin/env python3
"""Cold start of the detect function as Lambda runs it: a fresh CPython 3.11 (-S, no site
packages) with only the built function and the trimmed runtime layer on its path, importing
app.py (settings, LiteRT model load, tensors) and answering one event.

    sam build && python scripts/api_cold_start.py [--runs 15] [--event events/predict-binary.json]

Prints, per OPENBLAS_NUM_THREADS setting, the median and minimum (the least disturbed run on a
shared machine) of import+load, first answer and their sum, wall and process CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = r"""
import time, resource
t0 = time.perf_counter()
import json, sys
import app
t1 = time.perf_counter()
with open(sys.argv[1]) as fh:
    event = json.load(fh)
resp = app.lambda_handler(event, None)
t2 = time.perf_counter()
r = resource.getrusage(resource.RUSAGE_SELF)
assert resp["statusCode"] == 200, resp["body"][:300]
print("RESULT " + json.dumps({"import_load": (t1 - t0) * 1e3, "first_answer": (t2 - t1) * 1e3,
      "total": (t2 - t0) * 1e3, "cpu": (r.ru_utime + r.ru_stime) * 1e3}))
"""


# The reference the issue measured (~56 ms wall with OpenBLAS threads, ~16 ms without): numpy +
# LiteRT + model load and tensors, nothing of ours. Printed alongside to scale figures taken on a
# busy machine.
BASELINE = r"""
import time, resource, os, sys
t0 = time.perf_counter()
import numpy
from ai_edge_litert.interpreter import Interpreter
i = Interpreter(model_path=os.environ["MODEL_PATH"], num_threads=1)
i.allocate_tensors()
t1 = time.perf_counter()
r = resource.getrusage(resource.RUSAGE_SELF)
import json
print("RESULT " + json.dumps({"import_load": (t1 - t0) * 1e3, "first_answer": 0.0, "total": (t1 - t0) * 1e3,
      "cpu": (r.ru_utime + r.ru_stime) * 1e3}))
"""


def main(argv=None) -> int:
    build = os.path.join(ROOT, ".aws-sam", "build")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--function", default=os.path.join(build, "DetectFunction"))
    ap.add_argument("--layer", default=os.path.join(build, "RuntimeLayer", "python"))
    ap.add_argument("--model", default=os.path.join(build, "ModelLayer", "model", "model.tflite"))
    ap.add_argument("--event", default=os.path.join(ROOT, "events", "predict-binary.json"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", nargs="+", default=["1", "unset"],
                    help="OPENBLAS_NUM_THREADS values to compare ('unset' = not set)")
    ap.add_argument("--python", default=shutil.which("python3.11") or "python3.11")
    args = ap.parse_args(argv)
    for path in (args.function, args.layer, args.model, args.event):  # noqa: B007
        if not os.path.exists(path):
            print(f"missing {path} (run sam build first)", file=sys.stderr)
            return 2
    report = {}
    for threads in args.threads + [t + "+baseline" for t in args.threads]:
        baseline = threads.endswith("+baseline")
        threads = threads.replace("+baseline", "")
        rows = []
        for _ in range(args.runs):
            env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{args.function}:{args.layer}",
                   "MODEL_PATH": args.model, "PYTHONDONTWRITEBYTECODE": "1", "LOG_LEVEL": "ERROR"}
            if threads != "unset":
                env["OPENBLAS_NUM_THREADS"] = threads
            code = BASELINE if baseline else CHILD
            if threads == "unset":  # app.py sets 1 if unset: defeat that to measure the default
                code = "import os; os.environ['OPENBLAS_NUM_THREADS'] = str(os.cpu_count())\n" + code
            out = subprocess.run([args.python, "-S", "-c", code, args.event], env=env,
                                 capture_output=True, text=True, cwd=args.function)
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
                return 1
            rows.append(json.loads(line[7:]))
        name = threads + (" numpy+LiteRT+model only" if baseline else "")
        report[name] = {k: {"median": round(statistics.median(r[k] for r in rows), 1),
                               "min": round(min(r[k] for r in rows), 1)} for k in rows[0]}
        for k, v in report[name].items():
            print(f"OPENBLAS_NUM_THREADS={name:30s} {k:13s} median {v['median']:7.1f} ms   min {v['min']:7.1f} ms")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The measurements. Every figure is a median (and p95 where it applies) over repeated runs."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass

from detector.model import sha256_file

from .inputs import match_pasted

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "bench")
IMAGES = ("face256", "photo1mp", "photo12mp")


# --------------------------------------------------------------------------- statistics
def pct(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(1, math.ceil(q / 100.0 * len(v)))
    return float(v[k - 1])


def summary(values, nd: int = 2) -> dict:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), nd),
        "p95": round(pct(values, 95), nd),
        "min": round(min(values), nd),
        "mean": round(statistics.fmean(values), nd),
    }


def _rel(path: str) -> str:
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def model_identity(model: str, card: str, keras: str) -> dict:
    with open(card, encoding="utf-8") as fh:
        c = json.load(fh)
    return {
        "int8": _rel(model), "card": _rel(card), "keras": _rel(keras),
        "name": c.get("name"), "version": c.get("version"), "sha256": sha256_file(model),
        "keras_sha256": sha256_file(keras),
        "shipped": os.path.abspath(model) == os.path.join(REPO, "layers", "model", "model.tflite")
        and os.path.abspath(keras) == os.path.join(REPO, "models", "model.keras"),
    }


# --------------------------------------------------------------------------- inputs
def _rest_event():
    sys.path.insert(0, os.path.join(REPO, "events"))
    try:
        from make_events import rest_event
    finally:
        sys.path.pop(0)
    return rest_event


def write_events(inputs: dict, out_dir: str) -> dict:
    """Real API Gateway REST proxy events (events/make_events.py), binary JPEG body, base64 by the gateway."""
    rest_event = _rest_event()
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for name, info in inputs.items():
        with open(info["path"], "rb") as fh:
            data = fh.read()
        event = rest_event("POST", "/predict", body=data, content_type="image/jpeg")
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(event, fh)
        out[name] = path
    return out


def write_faces_events(photo: dict, out_dir: str) -> dict:
    """The face-path photo as two REST events: ``POST /predict`` and ``POST /predict?explain=1``
    (the query string as API Gateway passes it: queryStringParameters + the multi-value form)."""
    rest_event = _rest_event()
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for kind, query in (("plain", None), ("explain", {"explain": "1"})):
        event = rest_event("POST", "/predict", body=photo["data"], content_type="image/jpeg")
        if query:
            event["queryStringParameters"] = dict(query)
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        path = os.path.join(out_dir, f"faces12mp-{kind}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(event, fh)
        out[kind] = path
    return out


# --------------------------------------------------------------------------- the two stacks
def _tree_stamp(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def build_layer(repo: str, work: str) -> str:
    """``make build-RuntimeLayer`` (the template's BuildMethod: makefile), rebuilt when its inputs change."""
    src = os.path.join(repo, "layers", "runtime")
    stamp = _tree_stamp([os.path.join(src, f) for f in sorted(os.listdir(src))
                         if os.path.isfile(os.path.join(src, f))])
    layer = os.path.join(work, "layer")
    stamp_file = os.path.join(work, "layer.stamp")
    if os.path.isdir(os.path.join(layer, "python")) and os.path.exists(stamp_file):
        with open(stamp_file, encoding="utf-8") as fh:
            if fh.read() == stamp:
                return layer
    shutil.rmtree(layer, ignore_errors=True)
    subprocess.run(["make", "-s", "-C", src, "build-RuntimeLayer", f"ARTIFACTS_DIR={layer}"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(stamp_file, "w", encoding="utf-8") as fh:
        fh.write(stamp)
    return layer


def build_function(repo: str, work: str) -> str:
    out = os.path.join(work, "function")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)  # sam build creates ARTIFACTS_DIR before calling the Makefile
    subprocess.run(["make", "-s", "-C", os.path.join(repo, "functions", "detect"), "build-DetectFunction",
                    f"ARTIFACTS_DIR={out}"], check=True, stdout=subprocess.DEVNULL)
    return out


def lambda_python(python311: str, work: str) -> str:
    """A CPython 3.11 with an EMPTY site-packages (a venv without pip), like the Lambda runtime's:
    the layer and the function are the only things on its path."""
    venv = os.path.join(work, "lambda-python")
    exe = os.path.join(venv, "bin", "python")
    if not os.path.exists(exe):
        subprocess.run([python311, "-m", "venv", "--without-pip", venv], check=True)
    return exe


@dataclass
class Stack:
    name: str
    cmd: list
    env: dict
    log: str

    def spawn(self, *args, stdin=None):
        return subprocess.Popen(self.cmd + list(args), env=self.env, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=open(self.log, "ab"), text=True, bufsize=1)


@dataclass
class Stacks:
    ours: Stack
    base: Stack
    layer: str
    function: str
    baseline_python: str
    floor: Stack | None = None  # bench/worker_floor.py: numpy + Pillow + LiteRT, nothing of ours
    bare: Stack | None = None  # the interpreter alone
    ours_thorough: Stack | None = None  # ours with FACE_SEARCH=thorough (tiles on every photo)
    faces: bool = False

    @classmethod
    def build(cls, repo: str, args, card: dict) -> "Stacks":
        from detector.faces import FACE_DECODE_SIDE, SHORT_RANGE, face_model_dir

        work = os.path.abspath(args.work)
        logs = os.path.join(work, "logs")
        os.makedirs(logs, exist_ok=True)
        layer = os.path.abspath(args.layer) if args.layer else build_layer(repo, work)
        function = build_function(repo, work)
        py = lambda_python(args.python311, work)
        # the model layer's faces/ beside the model, as template.yaml's FACE_MODEL_DIR points at it
        face_dir = face_model_dir(os.path.abspath(args.model))
        faces = all(os.path.isfile(os.path.join(face_dir, f))
                    for f in ("face_detection_short_range.tflite", "face_detection_full_range.tflite"))
        ours_env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{layer}/python:{function}",
            "MODEL_PATH": os.path.abspath(args.model),
            "MODEL_CARD_PATH": os.path.abspath(args.card),
            "FACE_MODEL_DIR": face_dir,
            "FACE_SEARCH": "fast",  # template.yaml's FaceSearch default
            "OPENBLAS_NUM_THREADS": "1",  # as template.yaml sets it
            "BENCH_WORKER_LOG": os.path.join(logs, "ours-stdout.log"),
        }
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("OPENBLAS_NUM_THREADS", "PYTHONPATH", "VIRTUAL_ENV")}
        base_env.update({
            "BASELINE_MODEL": os.path.abspath(args.keras),
            "BASELINE_TEMPERATURE": str(card.get("temperature", 1.0)),
            "BASELINE_THRESHOLD": str(card.get("threshold", 0.5)),
            "BENCH_WORKER_LOG": os.path.join(logs, "baseline-stdout.log"),
        })
        # The floor: the same Python and runtime layer, none of our code on the path.
        floor_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": f"{layer}/python",
                     "MODEL_PATH": os.path.abspath(args.model), "OPENBLAS_NUM_THREADS": "1",
                     "BENCH_FLOOR_FACE_MODEL": os.path.join(face_dir, SHORT_RANGE),
                     "BENCH_FLOOR_DRAFT": str(FACE_DECODE_SIDE),
                     "BENCH_WORKER_LOG": os.path.join(logs, "floor-stdout.log")}
        floor_cmd = lambda kind: [py, os.path.join(HERE, "worker_floor.py"), kind]  # noqa: E731
        return cls(
            ours=Stack("ours", [py, os.path.join(HERE, "worker_ours.py")], ours_env,
                       os.path.join(logs, "ours-stderr.log")),
            ours_thorough=Stack("ours_thorough", [py, os.path.join(HERE, "worker_ours.py")],
                                dict(ours_env, FACE_SEARCH="thorough",
                                     BENCH_WORKER_LOG=os.path.join(logs, "ours-thorough-stdout.log")),
                                os.path.join(logs, "ours-thorough-stderr.log")),
            floor=Stack("floor", floor_cmd("floor"), floor_env, os.path.join(logs, "floor-stderr.log")),
            bare=Stack("bare", floor_cmd("bare"), floor_env, os.path.join(logs, "floor-stderr.log")),
            faces=faces,
            base=Stack("baseline", [os.path.abspath(args.baseline_python), os.path.join(HERE, "worker_baseline.py")],
                       base_env, os.path.join(logs, "baseline-stderr.log")),
            layer=layer, function=function, baseline_python=os.path.abspath(args.baseline_python),
        )


# --------------------------------------------------------------------------- installed size
def tree_bytes(path: str) -> tuple[int, int]:
    total = files = 0
    for folder, _, names in os.walk(path):
        for n in names:
            full = os.path.join(folder, n)
            if not os.path.islink(full):
                total += os.path.getsize(full)
                files += 1
    return total, files


def zip_bytes(path: str, out: str) -> int:
    """Zipped as SAM packages a layer (deflate, default level), paths relative to ``path``."""
    tmp = out + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(folder, n)
                zf.write(full, os.path.relpath(full, path))
    os.replace(tmp, out)
    return os.path.getsize(out)


class _Counter:
    """A write-only sink that counts bytes (zip a tree without writing it)."""

    def __init__(self):
        self.n = 0

    def write(self, b):
        self.n += len(b)
        return len(b)

    def flush(self):
        pass


def zip_size_cached(path: str, cache_file: str, compute: bool) -> float | None:
    """Deflated size (MB) of a large tree, cached by the tree's file count and bytes."""
    total, files = tree_bytes(path)
    key = f"{os.path.realpath(path)}:{files}:{total}"
    if os.path.exists(cache_file):
        with open(cache_file, encoding="utf-8") as fh:
            cached = json.load(fh)
        if cached.get("key") == key:
            return cached["mb"]
    if not compute:
        return None
    sink = _Counter()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(folder, n)
                if not os.path.islink(full):
                    zf.write(full, os.path.relpath(full, path))
    mb = round(sink.n / 1e6, 1)
    with open(cache_file, "w", encoding="utf-8") as fh:
        json.dump({"key": key, "mb": mb}, fh)
    return mb


def site_packages(python: str) -> str:
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def sizes(stacks: Stacks, quick: bool = False) -> dict:
    work = os.path.dirname(stacks.layer)
    layer_bytes, layer_files = tree_bytes(stacks.layer)
    layer_zip = zip_bytes(stacks.layer, os.path.join(work, "runtime-layer.zip"))
    fn_bytes, _ = tree_bytes(stacks.function)
    sp = site_packages(stacks.baseline_python)
    base_bytes, base_files = tree_bytes(sp)
    mb = lambda b: round(b / 1e6, 1)  # noqa: E731
    return {
        "layer_unzipped_mb": mb(layer_bytes), "layer_zipped_mb": mb(layer_zip), "layer_files": layer_files,
        "function_code_mb": round(fn_bytes / 1e6, 3),
        "baseline_site_packages_mb": mb(base_bytes), "baseline_files": base_files,
        # zipping 1.5 GB takes a minute: the quick mode reports it only when a full run cached it
        "baseline_zipped_mb": zip_size_cached(sp, os.path.join(work, "baseline-zip.json"), compute=not quick),
        "untrimmed_note": "pinned wheels as pip installs them: ~115 MB (trim.py prints before/after)",
        "ratio_unzipped": round(base_bytes / layer_bytes, 1),
    }


# --------------------------------------------------------------------------- cold start
def _cold_once(stack: Stack, request: str) -> dict:
    t_spawn = time.perf_counter()
    proc = stack.spawn("cold", request)
    line = proc.stdout.readline()
    t_line = time.perf_counter()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if not line or proc.returncode != 0:
        raise RuntimeError(f"{stack.name} cold start failed (exit {proc.returncode}); see {stack.log}")
    d = json.loads(line)
    if d["status"] != 200:
        raise RuntimeError(f"{stack.name} cold start answered {d['status']}; see {stack.log}")
    return {
        "wall_ms": (t_line - t_spawn) * 1e3,  # spawn -> first answer
        "interpreter_ms": (d["t_start"] - t_spawn) * 1e3,  # exec + interpreter start-up
        "in_process_ms": (d["t_answer"] - d["t_import"]) * 1e3,  # import + load + one request
        "import_load_ms": (d["t_imported"] - d["t_import"]) * 1e3,
        "first_request_ms": (d["t_answer"] - d["t_imported"]) * 1e3,
        "cpu_ms_process": (ru.ru_utime + ru.ru_stime) * 1e3,  # whole process incl. exit
        "fake_probability": d.get("fake_probability"),
    }


def cold_starts(stacks: Stacks, events: dict, inputs: dict, runs: int, log, warmup: bool = True) -> dict:
    """Fresh processes, ours and the baseline alternating (order flipped every run), then the
    floor and the bare interpreter; one untimed run of each first so all start from a warm page
    cache. All answer the same 256 px face: ours as an API Gateway event, the baseline as a
    multipart upload, the floor as the JPEG's bytes."""
    face = inputs["face256"]["path"]
    req = {"ours": events["face256"], "baseline": face, "floor": face, "bare": "-"}
    pair = (stacks.ours, stacks.base)
    refs = (stacks.floor, stacks.bare)
    for s in (pair + refs) if warmup else ():
        _cold_once(s, req[s.name])
    samples = {"ours": [], "baseline": [], "floor": [], "bare": []}
    for i in range(runs):
        for s in (pair if i % 2 == 0 else pair[::-1]) + refs:
            samples[s.name].append(_cold_once(s, req[s.name]))
        if (i + 1) % 5 == 0:
            log(f"  cold {i + 1}/{runs}: ours {samples['ours'][-1]['wall_ms']:.0f} ms, floor "
                f"{samples['floor'][-1]['wall_ms']:.0f} ms, baseline {samples['baseline'][-1]['wall_ms']:.0f} ms")
    out = {"request": "face256 (POST /predict, 256 px JPEG)"}
    for name, rows in samples.items():
        out[name] = {k: summary([r[k] for r in rows], 1) for k in rows[0] if k != "fake_probability"}
        out[name]["fake_probability"] = rows[0]["fake_probability"]
    out["ratio_wall_p50"] = round(out["baseline"]["wall_ms"]["p50"] / out["ours"]["wall_ms"]["p50"], 1)
    out["ratio_to_floor_p50"] = round(out["ours"]["wall_ms"]["p50"] / out["floor"]["wall_ms"]["p50"], 2)
    out["floor_note"] = ("bare: the interpreter alone; floor: numpy + Pillow + LiteRT imported, the classifier "
                         "and the short-range face model loaded, the 256 px face decoded and each model run "
                         "once (bench/worker_floor.py); fresh processes of the same Python in the same run")
    out["ours_over_floor_ms"] = round(out["ours"]["wall_ms"]["p50"] - out["floor"]["wall_ms"]["p50"], 1)
    return out


# --------------------------------------------------------------------------- warm workers
class Worker:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.proc = stack.spawn("serve", stdin=subprocess.PIPE)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.stack.name} worker died; see {self.stack.log}")
        return json.loads(line)

    def load(self, name: str, path: str) -> dict:
        r = self.ask(cmd="load", name=name, path=path)
        if r["status"] != 200:
            raise RuntimeError(f"{self.stack.name} answered {r['status']} for {name}; see {self.stack.log}")
        return r

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def _requests(events: dict, inputs: dict) -> dict:
    paths = {k: v["path"] for k, v in inputs.items()}
    return {"ours": events, "ours_thorough": events, "baseline": paths, "floor": paths}


def _median_timings(worker: Worker, name: str, n: int) -> dict:
    """The handler's own timings_ms (decode, faces, inference, ...), median over ``n`` warm requests."""
    rows = [worker.ask(cmd="answer", name=name)["timings_ms"] for _ in range(n)]
    return {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}


def warm_latency(stacks: Stacks, events: dict, inputs: dict, reps: int) -> dict:
    """Warm event -> response of ours, the baseline, the floor and ours with FACE_SEARCH=thorough on
    the three images, in alternating rounds (order flipped each round)."""
    reqs = _requests(events, inputs)
    workers = [Worker(stacks.ours), Worker(stacks.base), Worker(stacks.floor), Worker(stacks.ours_thorough)]
    answers = {}
    try:
        for w in workers:
            answers[w.stack.name] = {n: w.load(n, reqs[w.stack.name][n]) for n in IMAGES}
            for n in IMAGES:  # warm-up, untimed
                w.ask(cmd="time", name=n, n=3)
        rounds = max(1, min(reps, 6 if reps >= 30 else 2))
        per = [reps // rounds + (1 if i < reps % rounds else 0) for i in range(rounds)]
        ms = {w.stack.name: {n: [] for n in IMAGES} for w in workers}
        errors = 0
        for r, k in enumerate(per):
            for n in IMAGES:
                for w in (workers if r % 2 == 0 else workers[::-1]):  # alternate the order
                    got = w.ask(cmd="time", name=n, n=k)
                    ms[w.stack.name][n] += got["ms"]
                    errors += got["errors"]
        # the handler's own timings (decode, face search + crops, inference), median of a few requests
        handler_timings = {n: _median_timings(workers[0], n, 5) for n in IMAGES}
        faces_found = {n: len(workers[0].ask(cmd="answer", name=n)["face_boxes"]) for n in IMAGES}
    finally:
        for w in workers:
            w.close()
    if errors:
        raise RuntimeError(f"{errors} warm requests did not answer 200")
    out = {"what": "event -> response, in process (ours: lambda_handler(event); baseline: Flask test client POST; "
                   "floor: decode + one short-range and one classifier invoke on the JPEG's bytes)"}
    for name in ms:
        out[name] = {n: summary(ms[name][n], 2) for n in IMAGES}
    out["ratio_p50"] = {n: round(out["baseline"][n]["p50"] / out["ours"][n]["p50"], 1) for n in IMAGES}
    out["ratio_to_floor_p50"] = {n: round(out["ours"][n]["p50"] / out["floor"][n]["p50"], 2) for n in IMAGES}
    out["thorough_ratio_to_floor_p50"] = {n: round(out["ours_thorough"][n]["p50"] / out["floor"][n]["p50"], 2)
                                          for n in IMAGES}
    out["ours_handler_timings_ms"] = handler_timings
    out["ours_faces_found"] = faces_found
    out["face_stage"] = stacks.faces
    out["answers"] = {name: {n: {"label": a["label"], "fake_probability": a["fake_probability"]}
                             for n, a in per_img.items()} for name, per_img in answers.items() if name != "floor"}
    return out


FACE_STAGES = ("decode", "faces", "inference", "explain", "metadata", "total")


def faces_latency(stacks: Stacks, events: dict, photo: dict, reps: int) -> dict:
    """Warm event -> response of the handler as shipped (face stage) on the 12 MP photo with three
    pasted faces, without and with ``?explain=1``; beside it, in alternating rounds, the floor on
    the same JPEG (decode + each model once: the one-face floor) and ours with
    FACE_SEARCH=thorough. Untimed warm-up first. Raises unless the handler finds exactly the three
    pasted faces (one detected box centred in each pasted square)."""
    if not stacks.faces:
        raise RuntimeError("faces: the model layer has no faces/ (BlazeFace): the handler answers 503 "
                           "face_models_unavailable without them (make face-models)")
    kinds = ("plain", "explain")
    w, floor, thorough = Worker(stacks.ours), Worker(stacks.floor), Worker(stacks.ours_thorough)
    try:
        answers = {}
        for k in kinds:
            w.load(k, events[k])
            w.ask(cmd="time", name=k, n=2)  # warm-up, untimed
            answers[k] = w.ask(cmd="answer", name=k)
        thorough.load("plain", events["plain"])
        thorough.ask(cmd="time", name="plain", n=2)
        answers["thorough"] = thorough.ask(cmd="answer", name="plain")
        floor.load("photo", photo["path"])
        floor.ask(cmd="time", name="photo", n=2)
        for k, a in answers.items():
            if a["status"] != 200:
                raise RuntimeError(f"faces {k}: answered {a['status']}; see {stacks.ours.log}")
            boxes = a["face_boxes"]
            matched = sum(i is not None for i in match_pasted(boxes, photo["pasted"]))
            if len(boxes) != len(photo["pasted"]) or matched != len(photo["pasted"]):
                raise RuntimeError(f"faces {k}: the handler found {len(boxes)} faces ({matched} of the "
                                   f"{len(photo['pasted'])} pasted ones): {boxes}")
            if (k == "explain") != a["explained"]:
                raise RuntimeError(f"faces {k}: explain map {'missing' if a['explained'] else 'not asked for'}")
        rounds = max(1, min(reps, 6 if reps >= 30 else 2))
        per = [reps // rounds + (1 if i < reps % rounds else 0) for i in range(rounds)]
        timed = [("plain", w, "plain"), ("explain", w, "explain"), ("floor", floor, "photo"),
                 ("thorough", thorough, "plain")]
        ms = {k: [] for k, _, _ in timed}
        errors = 0
        for r, n in enumerate(per):
            for k, worker, name in (timed if r % 2 == 0 else timed[::-1]):
                got = worker.ask(cmd="time", name=name, n=n)
                ms[k] += got["ms"]
                errors += got["errors"]
        # the handler's own timings_ms, median of a few more warm requests of each kind
        timings = {k: _median_timings(w, k, 5) for k in kinds}
        timings["thorough"] = _median_timings(thorough, "plain", 5)
    finally:
        for x in (w, floor, thorough):
            x.close()
    if errors:
        raise RuntimeError(f"faces: {errors} warm requests did not answer 200")
    out = {"what": "event -> response, in process: lambda_handler(event) as shipped (face stage), "
                   "POST /predict and POST /predict?explain=1; floor: decode + one short-range and one "
                   "classifier invoke on the same JPEG; thorough: FACE_SEARCH=thorough",
           "image": {k: photo[k] for k in ("width", "height", "bytes")},
           "faces_pasted": len(photo["pasted"]), "faces_found": len(answers["plain"]["face_boxes"])}
    for k in ms:
        out[k] = summary(ms[k], 2)
        if k in timings:
            out[k]["handler_timings_ms"] = {s: timings[k][s] for s in FACE_STAGES if s in timings[k]}
    out["ratio_to_floor_p50"] = {k: round(out[k]["p50"] / out["floor"]["p50"], 2)
                                 for k in ("plain", "explain", "thorough")}
    out["labels"] = {k: {"label": answers[k]["label"], "fake_probability": answers[k]["fake_probability"]}
                     for k in kinds}
    return out


def peak_rss(stacks: Stacks, events: dict, inputs: dict, requests: int) -> dict:
    reqs = _requests(events, inputs)
    out = {"requests": requests, "mix": "face256, photo1mp, photo12mp in turn"}
    for stack in (stacks.ours, stacks.base):
        w = Worker(stack)
        try:
            idle = w.ask(cmd="rss")
            for n in IMAGES:
                w.load(n, reqs[stack.name][n])
            left = max(0, requests - len(IMAGES))
            got = w.ask(cmd="run", names=list(IMAGES), n=left)
            if got["errors"]:
                raise RuntimeError(f"{stack.name}: {got['errors']} requests failed")
            peak = w.ask(cmd="rss")
        finally:
            w.close()
        out[stack.name] = {"after_import_load_mb": round(idle["maxrss_kb"] / 1024, 1),
                           "peak_mb": round(peak["maxrss_kb"] / 1024, 1),
                           "rss_end_mb": round(peak["rss_kb"] / 1024, 1)}
    out["ratio_peak"] = round(out["baseline"]["peak_mb"] / out["ours"]["peak_mb"], 1)
    return out


# --------------------------------------------------------------------------- float32 vs int8
def float32_model(stacks: Stacks, keras: str, work: str) -> str:
    out = os.path.join(work, "float32", f"model-{sha256_file(keras)[:16]}.tflite")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        subprocess.run([stacks.baseline_python, os.path.join(HERE, "convert_float32.py"), keras, out],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    return out


def float_vs_int8(stacks: Stacks, args, card: dict, log) -> dict:
    import numpy as np

    from converter import data as D
    from converter import metrics as CM
    from detector.model import Model
    from detector.preprocess import InputSpec, load_file

    f32_path = float32_model(stacks, os.path.abspath(args.keras), os.path.abspath(args.work))
    int8 = Model.load(args.model, args.card, verify=True)
    f32 = Model.load(f32_path, args.card, verify=False)  # same card, its sha256 is the int8 file's
    spec = InputSpec.from_card(card)
    x = load_file(os.path.join(args.data, "ffhq-stylegan", "real", sorted(
        os.listdir(os.path.join(args.data, "ffhq-stylegan", "real")))[0]), spec)
    reps = 30 if args.quick else 400
    lat = {"int8": [], "float32": []}
    for m in (int8, f32):
        for _ in range(10):
            m.logit(x)
    clock = time.perf_counter
    for i in range(reps // 10):  # alternating blocks of 10
        for name, m in (("int8", int8), ("float32", f32)) if i % 2 == 0 else (("float32", f32), ("int8", int8)):
            for _ in range(10):
                a = clock()
                m.logit(x)
                lat[name].append((clock() - a) * 1e3)
    # AUC on the test split of the manifest the model was trained with (the converter's reader)
    manifest = D.load_manifest(args.manifest)
    per_set, all_labels, all_int8, all_f32 = {}, [], [], []
    for name in manifest["sets"]:
        data_dirs = [os.path.join(args.data, name)] if os.path.isdir(os.path.join(args.data, name)) else None
        split = D.load_split(manifest, name, "test", spec, data_dirs=data_dirs, manifest_path=args.manifest,
                             cache_dir=args.cache, limit=args.auc_limit or None)
        scale = np.float32(spec.scale)
        li = np.array([int8.logit(np.asarray(p, np.float32) * scale) for p in split.pixels])
        lf = np.array([f32.logit(np.asarray(p, np.float32) * scale) for p in split.pixels])
        per_set[name] = {"n": int(len(split.labels)), "auc_int8": round(CM.auc(split.labels, li), 4),
                         "auc_float32": round(CM.auc(split.labels, lf), 4)}
        all_labels.append(split.labels)
        all_int8.append(li)
        all_f32.append(lf)
        log(f"  {name}: n={len(split.labels)} AUC int8 {per_set[name]['auc_int8']} float32 {per_set[name]['auc_float32']}")
    y, li, lf = np.concatenate(all_labels), np.concatenate(all_int8), np.concatenate(all_f32)
    t = float(card.get("temperature", 1.0))
    thr = float(card.get("threshold", 0.5))
    pi, pf = 1 / (1 + np.exp(-li / t)), 1 / (1 + np.exp(-lf / t))
    return {
        "latency_ms": {k: summary(v, 3) for k, v in lat.items()},
        "ratio_latency_p50": round(statistics.median(lat["float32"]) / statistics.median(lat["int8"]), 2),
        "file_kb": {"int8": round(os.path.getsize(args.model) / 1024, 1),
                    "float32": round(os.path.getsize(f32_path) / 1024, 1)},
        "auc": {"int8": round(CM.auc(y, li), 4), "float32": round(CM.auc(y, lf), 4), "n": int(len(y)),
                "split": f"test split of {_rel(args.manifest)} (all sets pooled)", "per_set": per_set},
        "agreement": {"label": round(float(np.mean((pi >= thr) == (pf >= thr))), 4),
                      "max_abs_probability_diff": round(float(np.max(np.abs(pi - pf))), 4)},
    }

"""Soak: thousands of sequential warm invocations of the handler in one process, as one Lambda
sandbox lives them, with valid and invalid inputs mixed. Prints (and writes as JSON) RSS growth,
open file descriptors and /tmp use, measured after a warm-up pass over every distinct input.

Bounds (the issue's): RSS growth <= 5 MB, no file descriptor left open, /tmp not growing, every
answer the expected one and no 5xx.

/tmp: as root with ``unshare`` available, the run re-executes itself in a private mount namespace
with an empty 512 MB tmpfs on /tmp (Lambda's default ephemeral storage), so every byte found
there was written by the handler. Otherwise the shared /tmp is measured (other processes may
write there too; the figures say which mode was used).
"""
from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from collections import Counter

from . import corpus, harness

ROOT = harness.ROOT
RSS_BOUND_MB = 5.0
ISOLATED_ENV = "HARDENING_SOAK_ISOLATED"
JSON_MARK = "SOAK-JSON: "
DEFAULT_JSON = "artifacts/soak.json"
SHARED_FACES = os.path.join(os.path.dirname(ROOT), "shared", "data", "faces")


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle() -> None:
    """Collect garbage and hand the allocator's free pages back (glibc malloc_trim), so that RSS
    shows what is live, not the last request's freed 7-10 MB body buffers kept for reuse."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def open_fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the listdir's own descriptor, closed already
            continue
    return sorted(out)


def tmp_usage(path: str = "/tmp") -> tuple[int, int]:
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(path, onerror=lambda e: None):
        for name in filenames:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                continue
    return files, size


def real_faces(limit: int) -> list[tuple[str, bytes]]:
    """A few real photos from the shared data set (read-only; by path, never copied)."""
    out = []
    if not os.path.isdir(SHARED_FACES):
        return out
    for source in sorted(os.listdir(SHARED_FACES)):
        for label in ("real", "fake"):
            folder = os.path.join(SHARED_FACES, source, label)
            if not os.path.isdir(folder):
                continue
            names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".jpg"))[:max(1, limit // 8)]
            for n in names:
                with open(os.path.join(folder, n), "rb") as fh:
                    out.append((f"face:{source}/{label}/{n}", fh.read()))
    return out[:limit]


def build_inputs(faces: int = 16) -> list[tuple[str, dict, int]]:
    """(name, event, expected status): the whole corpus plus real face photos (JSON and raw)."""
    inputs = []
    for case in corpus.cases():
        if case.layer != "handler":  # answered by the gateway itself: never reaches the function
            continue
        event = harness.event_for(case.method, case.path, case.request_headers(), case.body)
        inputs.append((case.name, event, case.status))
    for i, (name, data) in enumerate(real_faces(faces)):
        if i % 2:
            body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
            event = harness.event_for("POST", "/predict", {"Content-Type": "application/json"}, body)
        else:
            event = harness.event_for("POST", "/predict", {"Content-Type": "image/jpeg"}, data)
        inputs.append((name, event, 200))
    return inputs


def _fresh(event: dict) -> dict:
    ev = dict(event)
    ev["requestContext"] = {**event["requestContext"], "requestId": str(uuid.uuid4())}
    return ev


def run(n: int, seed: int = 1, faces: int = 16, sample_every: int = 10, handler=None) -> dict:
    t_start = time.perf_counter()
    rss_before_import = rss_kb()
    handler = handler or harness.load_handler()
    inputs = build_inputs(faces)
    valid = sum(1 for _, _, s in inputs if s == 200)
    ctx = harness.LambdaContext()
    statuses: Counter = Counter()
    mismatches: list[str] = []

    def invoke(name, event, expected):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = harness.call(handler, _fresh(event), ctx)
        statuses[answer.status] += 1
        if answer.status != expected and len(mismatches) < 20:
            mismatches.append(f"{name}: expected {expected}, got {answer.status} {answer.code}")

    # Warm-up: every distinct input once (lazy imports, caches, allocator arenas settle).
    for name, event, expected in inputs:
        invoke(name, event, expected)
    raw_base = rss_kb()
    settle()
    base_rss, base_fds, base_tmp = rss_kb(), open_fds(), tmp_usage()
    warm_statuses = Counter(statuses)
    statuses.clear()

    rng = random.Random(seed)
    order = []
    while len(order) < n:
        block = list(range(len(inputs)))
        rng.shuffle(block)
        order += block
    samples = []
    t0 = time.perf_counter()
    for i, k in enumerate(order[:n], 1):
        invoke(*inputs[k])
        if i % sample_every == 0:
            samples.append({"i": i, "rss_mb": round(rss_kb() / 1024, 2)})
    seconds = time.perf_counter() - t0
    raw_end = rss_kb()
    settle()
    end_rss, end_fds, end_tmp = rss_kb(), open_fds(), tmp_usage()
    leaked_fds = sorted(set(end_fds) - set(base_fds))
    peak_sample = max((s["rss_mb"] for s in samples), default=end_rss / 1024)
    # Trend of the raw (untrimmed) RSS, informative only: it swings by the size of the largest
    # body (7-10 MB) depending on whether the allocator kept the last big buffer for reuse.
    half = max(1, len(samples) // 2)
    raw_trend = (max(s["rss_mb"] for s in samples[half:]) - max(s["rss_mb"] for s in samples[:half])
                 if len(samples) > 1 else 0.0)
    result = {
        "invocations": n,
        "distinct_inputs": len(inputs),
        "valid_inputs": valid,
        "invalid_inputs": len(inputs) - valid,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "warmup_statuses": {str(k): v for k, v in sorted(warm_statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "unexpected_answers": mismatches,
        "rss_mb": {
            "before_import": round(rss_before_import / 1024, 1),
            "after_warmup": round(base_rss / 1024, 1),
            "end": round(end_rss / 1024, 1),
            "growth": round((end_rss - base_rss) / 1024, 2),
            "raw_after_warmup": round(raw_base / 1024, 1),
            "raw_end": round(raw_end / 1024, 1),
            "raw_trend": round(raw_trend, 2),
            "max_sampled": peak_sample,
        },
        "rss_samples": samples,
        "fds": {"after_warmup": len(base_fds), "end": len(end_fds), "leaked": leaked_fds},
        "tmp": {
            "isolated": os.environ.get(ISOLATED_ENV) == "1",
            "files_after_warmup": base_tmp[0], "bytes_after_warmup": base_tmp[1],
            "files_end": end_tmp[0], "bytes_end": end_tmp[1],
            "growth_bytes": end_tmp[1] - base_tmp[1], "growth_files": end_tmp[0] - base_tmp[0],
        },
        "ms_per_invocation": round(seconds * 1000 / max(n, 1), 2),
        "seconds": round(time.perf_counter() - t_start, 1),
        "model": harness.model_path(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    result["within_bounds"] = bounds_ok(result)
    return result


def bounds_ok(r: dict) -> bool:
    return (
        r["rss_mb"]["growth"] <= RSS_BOUND_MB
        and not r["fds"]["leaked"]
        and r["fds"]["end"] <= r["fds"]["after_warmup"]
        and r["tmp"]["growth_bytes"] <= 0
        and r["tmp"]["growth_files"] <= 0
        and r["server_errors"] == 0
        and not r["unexpected_answers"]
    )


def report(r: dict) -> str:
    rss, fds, tmp = r["rss_mb"], r["fds"], r["tmp"]
    lines = [
        f"soak: {r['invocations']} warm invocations ({r['distinct_inputs']} distinct inputs: "
        f"{r['valid_inputs']} valid, {r['invalid_inputs']} invalid), {r['ms_per_invocation']} ms each",
        f"  statuses        {r['statuses']}  (5xx: {r['server_errors']}, unexpected: {len(r['unexpected_answers'])})",
        f"  RSS (settled)   {rss['after_warmup']} MB after warm-up -> {rss['end']} MB at the end: "
        f"growth {rss['growth']:+.2f} MB (bound {RSS_BOUND_MB} MB)",
        f"  RSS (raw)       {rss['raw_after_warmup']} -> {rss['raw_end']} MB; trend of the samples "
        f"(second half's max - first half's) {rss['raw_trend']:+.2f} MB; max sampled {rss['max_sampled']} MB",
        f"  open fds        {fds['after_warmup']} after warm-up -> {fds['end']} at the end; leaked: {fds['leaked'] or 'none'}",
        f"  /tmp ({'private tmpfs' if tmp['isolated'] else 'shared'})  {tmp['files_after_warmup']} files / "
        f"{tmp['bytes_after_warmup']} B -> {tmp['files_end']} files / {tmp['bytes_end']} B: growth {tmp['growth_bytes']} B",
        f"  within bounds   {'yes' if r['within_bounds'] else 'NO'}",
    ]
    for m in r["unexpected_answers"][:5]:
        lines.append(f"  unexpected: {m}")
    return "\n".join(lines)


def _reexec_isolated(argv: list[str]) -> int | None:
    """Run this module again with a private, empty /tmp (tmpfs); None if that is not possible."""
    if os.environ.get(ISOLATED_ENV) or os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    env = dict(os.environ, **{ISOLATED_ENV: "1"})
    model = harness.model_path()
    if model and os.path.abspath(model).startswith("/tmp/"):
        # The private /tmp hides the model: serve a copy from the repo's (git-ignored) artifacts/.
        dest = os.path.join(ROOT, "artifacts", "soak-model")
        os.makedirs(dest, exist_ok=True)
        for src in (model, os.path.splitext(model)[0] + ".json"):
            shutil.copy2(src, dest)
        faces = os.path.join(os.path.dirname(model), "faces")  # the face models beside it, if any
        if os.path.isdir(faces):
            shutil.copytree(faces, os.path.join(dest, "faces"), dirs_exist_ok=True)
        env["MODEL_PATH"] = os.path.join(dest, os.path.basename(model))
        env.pop("DETECT_TEST_MODEL", None)
    inner = (
        "mount -t tmpfs -o size=512m,mode=1777 hardening-tmp /tmp && "
        f"exec {sys.executable} -m hardening.soak " + " ".join(_quote(a) for a in argv)
    )
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    # The child's /tmp vanishes with it: it prints its figures, this process writes them.
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
                          env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(JSON_MARK):
            result = json.loads(line[len(JSON_MARK):])
        else:
            print(line)
    if result is None:
        print(f"soak: the isolated run printed no figures (exit {proc.returncode})", file=sys.stderr)
        return proc.returncode or 1
    return _write(result, argv_json(argv))


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description="Soak the handler: RSS, fds and /tmp over warm invocations.")
    ap.add_argument("--n", type=int, default=1000, help="measured invocations after the warm-up pass")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faces", type=int, default=16, help="real face photos from ../shared mixed in")
    ap.add_argument("--json", default=DEFAULT_JSON)
    ap.add_argument("--no-isolate", action="store_true", help="measure the shared /tmp (no private tmpfs)")
    args = ap.parse_args(argv)
    if not args.no_isolate:
        code = _reexec_isolated(argv)
        if code is not None:
            return code
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # one JSON log line per request otherwise
    result = run(args.n, args.seed, args.faces)
    print(report(result), flush=True)
    if os.environ.get(ISOLATED_ENV) == "1":
        print(JSON_MARK + json.dumps(result), flush=True)
        return 0 if result["within_bounds"] else 1
    return _write(result, args.json)


def argv_json(argv: list[str]) -> str:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--json", default=DEFAULT_JSON)
    return ap.parse_known_args(argv)[0].json


def _write(result: dict, json_path: str) -> int:
    path = json_path if os.path.isabs(json_path) else os.path.join(ROOT, json_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"  figures in {path}")
    return 0 if result["within_bounds"] else 1


if __name__ == "__main__":
    sys.exit(main())

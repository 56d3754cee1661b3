"""Fuzzing: zero 5xx is the bar.

Three fuzzers, each counting every case it sends, the statuses it saw and the failures:

* ``gateway`` — schemathesis, driven by docs/openapi.yaml, over HTTP against the local gateway
  (gateway/, the API Gateway emulator in front of the real handler), positive and negative data;
  checks: no 5xx, status documented, content type and body schema as documented, schema-invalid
  requests rejected with a 4xx.
* ``events`` — hypothesis: API Gateway proxy events of every shape the gateway can send (and some
  it cannot) straight into ``lambda_handler``: odd methods, paths, header cases, missing/None fields,
  base64 flags, JSON / multipart / data-URL bodies built from strategies.
* ``images`` — hypothesis: valid files of every accepted format (and a few refused ones) mutated
  byte-wise (bit flips, interesting integers in headers, truncation, insertion, duplication), sent
  as raw bodies: every answer must be 200, 413, 415 or 422.

``python -m hardening.fuzz --cases 10000`` (``make fuzz``) prints the count of cases, the statuses
seen and the failures, writes them as JSON, and exits 1 on any failure.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from . import harness
from . import images as im
from .contract import OPENAPI_PATH

ALLOWED_IMAGE_STATUSES = {200, 413, 415, 422}


@dataclass
class Tally:
    name: str
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    seconds: float = 0.0

    def record(self, status: int | str, failure: str | None = None, repro: dict | None = None) -> None:
        self.cases += 1
        self.statuses[status] += 1
        if failure is not None:
            self.failures.append({"failure": failure[:2000], **(repro or {})})

    @property
    def failed(self) -> int:
        return len(self.failures)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))},
            "failures": self.failed,
            "failure_examples": self.failures[:10],
            "seconds": round(self.seconds, 1),
        }


def _hyp_settings(n: int, seed: int):
    return settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )


def _run_until(tally: Tally, n: int, runner) -> None:
    """Hypothesis may stop a run early (exhausted space); run again until ``n`` cases were sent."""
    for _ in range(20):
        missing = n - tally.cases
        if missing <= 0:
            return
        runner(missing)


def _check_answer(answer: harness.Answer, allowed: set[int] | None = None) -> str | None:
    """None if the handler's answer is acceptable, else why not."""
    if answer.status >= 500:
        return f"{answer.status} {answer.code}: {answer.text[:300]}"
    if allowed is not None and answer.status not in allowed:
        return f"status {answer.status} not in {sorted(allowed)}: {answer.text[:300]}"
    if "Traceback" in answer.text:
        return "traceback in body"
    if answer.status == 204:
        return None if not answer.text else "204 with a body"
    if not isinstance(answer.json, dict):
        return f"{answer.status}: body is not a JSON object: {answer.text[:200]!r}"
    if answer.status >= 400 and not (answer.code and answer.json["error"].get("message")):
        return f"{answer.status}: error body without code/message: {answer.text[:200]}"
    return None


# =========================================================================== events
_METHODS = st.sampled_from(["POST", "GET", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "post", "Get"])
_PATHS = st.sampled_from([
    "/predict", "/model", "/", "/predict/", "/PREDICT", "//predict", "/predict/../model", "/model/x",
    "/%2e%2e/predict", "/predict\x00", "/prédict",
])
_CTYPES = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json",
    "image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/heic", "image/svg+xml",
    "application/octet-stream", "multipart/form-data", "multipart/form-data; boundary=fuzzB",
    "multipart/form-data; boundary=\"fuzzB\"", "multipart/form-data; boundary=", "text/plain",
    "application/x-www-form-urlencoded", "", ";", "image/", "*/*",
])


def _small_images() -> list[bytes]:
    return [
        im.jpeg(im.photo(48, 40)), im.png(im.photo(40, 32)), im.encode(im.photo(32, 32), "WEBP"),
        im.encode(im.photo(32, 24).convert("P"), "GIF"), im.encode(im.photo(24, 24), "BMP"),
        im.png(im.photo(8, 8)), im.tiff(),
    ]


@st.composite
def _multipart_body(draw, images):
    boundary = "fuzzB"
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["image", "file", "Image", "image ", ""]) | st.text(max_size=8))
        filename = draw(st.none() | st.sampled_from(["a.jpg", "", "../../etc/passwd", "x\"y.png"]))
        ctype = draw(st.none() | _CTYPES)
        data = draw(st.sampled_from(images) | st.binary(max_size=300)
                    | st.sampled_from(images).map(lambda b: base64.b64encode(b)))
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "")
        parts.append(head.encode("utf-8", "surrogateescape") + b"\r\n" + data + b"\r\n")
    body = b"".join(parts) + (f"--{boundary}--\r\n".encode() if draw(st.booleans()) else b"")
    if draw(st.booleans()):
        cut = draw(st.integers(0, max(len(body), 0)))
        body = body[:cut]
    return body


_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_JSON = st.recursive(_JSON_LEAF, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


@st.composite
def _image_field(draw, images):
    data = draw(st.sampled_from(images))
    b64 = base64.b64encode(data).decode()
    kind = draw(st.sampled_from(["plain", "urlsafe", "wrapped", "spaces", "dataurl", "dataurl_bad", "cut", "junk", "nopad"]))
    if kind == "urlsafe":
        return base64.urlsafe_b64encode(data).decode()
    if kind == "wrapped":
        return "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    if kind == "spaces":
        return " ".join(b64[i : i + 10] for i in range(0, len(b64), 10))
    if kind == "dataurl":
        mime = draw(st.sampled_from(["image/png", "image/jpeg", "text/plain", "", "image/png;charset=x"]))
        return f"data:{mime};base64,{b64}"
    if kind == "dataurl_bad":
        return draw(st.sampled_from(["data:", "data:,", "data:image/png,abc", "data:;base64,", "DATA:image/png;BASE64,"])) + b64[:40]
    if kind == "cut":
        return b64[: draw(st.integers(0, len(b64)))]
    if kind == "junk":
        pos = draw(st.integers(0, len(b64)))
        return b64[:pos] + draw(st.text(min_size=1, max_size=5)) + b64[pos:]
    if kind == "nopad":
        return b64.rstrip("=")
    return b64


@st.composite
def _body(draw, images):
    """(body bytes or None, content type) pairs of every form."""
    form = draw(st.sampled_from(["json", "json", "raw", "raw", "multipart", "text", "none", "jsonjunk"]))
    if form == "none":
        return None, draw(_CTYPES)
    if form == "json":
        doc = draw(st.fixed_dictionaries({}, optional={"image": _image_field(images) | _JSON, "extra": _JSON}) | _JSON)
        text = json.dumps(doc)
        return text.encode(), draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "", "text/plain"]))
    if form == "jsonjunk":
        return draw(st.binary(max_size=200) | st.text(max_size=200).map(str.encode)), "application/json"
    if form == "raw":
        data = draw(st.sampled_from(images) | st.binary(max_size=500))
        return data, draw(_CTYPES)
    if form == "multipart":
        return draw(_multipart_body(images)), draw(st.sampled_from(["multipart/form-data; boundary=fuzzB", "multipart/form-data; boundary=other", "multipart/form-data"]))
    return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass"), draw(_CTYPES)


@st.composite
def api_gateway_events(draw, images):
    """REST proxy events: the shapes API Gateway sends, plus missing/None fields and odd values."""
    body, ctype = draw(_body(images))
    header_name = st.sampled_from(["Content-Type", "content-type", "CONTENT-TYPE", "Origin", "Accept", "X-Api-Key", "Content-Length", "Host"])
    headers = draw(st.dictionaries(header_name | st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=4))
    if ctype is not None and draw(st.booleans()) or draw(st.booleans()):
        headers[draw(st.sampled_from(["Content-Type", "content-type", "CONTENT-TYPE"]))] = ctype or ""
    binary_types = draw(st.sampled_from([harness.binary_media_types(), ("*/*",), ()]))
    event = harness.event_for(draw(_METHODS), draw(_PATHS), headers, body, binary_types=binary_types)
    # Variations API Gateway produces or a misconfiguration could: None maps, dropped keys, flags.
    if draw(st.booleans()):
        event["multiValueHeaders"] = None if draw(st.booleans()) else {k: [v, v] for k, v in headers.items()}
    if draw(st.integers(0, 9)) == 0:
        event["headers"] = None
    if draw(st.integers(0, 9)) == 0:
        event["isBase64Encoded"] = not event["isBase64Encoded"]
    for key in draw(st.lists(st.sampled_from(["body", "path", "httpMethod", "requestContext", "headers", "isBase64Encoded", "resource"]), max_size=2)):
        event.pop(key, None)
    if draw(st.integers(0, 19)) == 0:
        event["requestContext"] = None
    return event


# strange top-level events (a misrouted invocation, a test console click): 400 bad_event expected
_ODD_EVENTS = st.none() | st.lists(st.integers(), max_size=3) | st.text(max_size=20) | st.integers() | st.dictionaries(st.text(max_size=10), _JSON, max_size=5)


def fuzz_events(n: int, seed: int, handler=None) -> Tally:
    tally = Tally("events")
    handler = handler or harness.load_handler()
    images = _small_images()
    t0 = time.perf_counter()

    def runner(count):
        @_hyp_settings(count, seed)
        @given(event=api_gateway_events(images) | _ODD_EVENTS)
        def one(event):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    answer = harness.call(handler, event)
            except Exception as exc:  # the handler itself raised: a crash in Lambda terms
                tally.record("crash", f"handler raised {type(exc).__name__}: {exc}\n{traceback.format_exc()[-800:]}",
                             {"event": _short(event)})
                return
            problem = _check_answer(answer)
            tally.record(answer.status, problem, {"event": _short(event)} if problem else None)

        one()

    _run_until(tally, n, runner)
    tally.seconds = time.perf_counter() - t0
    return tally


def _short(obj, limit: int = 600) -> str:
    try:
        text = json.dumps(obj, default=repr)
    except (TypeError, ValueError):
        text = repr(obj)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


# =========================================================================== images
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def _seed_images() -> list[tuple[str, bytes, str]]:
    """(name, bytes, content type): every accepted format and flavour, small."""
    p = im.photo(64, 48)
    return [
        ("jpeg", im.jpeg(p), "image/jpeg"),
        ("jpeg_progressive", im.encode(p, "JPEG", progressive=True), "image/jpeg"),
        ("jpeg_exif", im.jpeg_with_exif(im.exif_orientation(6), p), "image/jpeg"),
        ("jpeg_cmyk", im.encode(p.convert("CMYK"), "JPEG"), "image/jpeg"),
        ("png", im.png(p), "image/png"),
        ("png_rgba", im.encode(p.convert("RGBA"), "PNG"), "image/png"),
        ("png_palette_trns", im.encode(p.convert("P"), "PNG", transparency=0), "image/png"),
        ("png_16bit", im.png_16bit_rgb(64, 48), "image/png"),
        ("apng", im.apng(2), "image/png"),
        ("gif_animated", im.gif_animated(2), "image/gif"),
        ("webp", im.encode(p, "WEBP"), "image/webp"),
        ("webp_lossless", im.encode(p, "WEBP", lossless=True), "image/webp"),
        ("bmp", im.encode(p, "BMP"), "image/bmp"),
        ("bmp_rle8", im.encode(p.convert("P"), "BMP", compression="rle8") if _bmp_rle_ok(p) else im.encode(p, "BMP"), "image/bmp"),
        ("tiff", im.tiff(), "image/png"),
        ("ico", im.ico(), "image/png"),
    ]


def _bmp_rle_ok(p) -> bool:
    try:
        im.encode(p.convert("P"), "BMP", compression="rle8")
        return True
    except Exception:
        return False


@st.composite
def mutated_images(draw, seeds):
    name, data, ctype = draw(st.sampled_from(seeds))
    buf = bytearray(data)
    rnd = draw(st.randoms(use_true_random=False))
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        # a tenth of the mutations hit the magic number, half the headers, the rest anywhere
        region = draw(st.sampled_from(["magic"] + ["head"] * 5 + ["any"] * 4))
        lo, hi = {"magic": (0, 12), "head": (12, 512), "any": (0, len(buf))}[region]
        hi = min(hi, len(buf))
        lo = min(lo, hi - 1)
        pos = rnd.randrange(lo, hi)  # uniform: hypothesis' integers lean towards the low end
        op = draw(st.sampled_from(["flip", "byte", "int16", "int32", "truncate", "insert", "duplicate", "delete"]))
        if op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            buf[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFE, 0xFF]))
        elif op in ("int16", "int32"):
            width = 2 if op == "int16" else 4
            value = draw(st.sampled_from(INTERESTING)) & ((1 << (8 * width)) - 1)
            order = draw(st.sampled_from(["big", "little"]))
            buf[pos : pos + width] = value.to_bytes(width, order)
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "duplicate":
            end = min(len(buf), pos + draw(st.integers(1, 256)))
            buf[pos:pos] = buf[pos:end] * draw(st.integers(1, 4))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 64))]
        steps.append(f"{op}@{pos}")
    return name, bytes(buf), ctype, steps


def fuzz_images(n: int, seed: int, handler=None) -> Tally:
    tally = Tally("images")
    handler = handler or harness.load_handler()
    seeds = _seed_images()
    t0 = time.perf_counter()

    def runner(count):
        @_hyp_settings(count, seed)
        @given(sample=mutated_images(seeds))
        def one(sample):
            name, data, ctype, steps = sample
            event = harness.event_for("POST", "/predict", {"Content-Type": ctype}, data)
            repro = {"seed_image": name, "mutations": steps, "bytes_b64": base64.b64encode(data[:4096]).decode(), "size": len(data)}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    answer = harness.call(handler, event)
            except Exception as exc:
                tally.record("crash", f"handler raised {type(exc).__name__}: {exc}", repro)
                return
            if data:
                problem = _check_answer(answer, ALLOWED_IMAGE_STATUSES)
            elif (answer.status, answer.code) != (400, "missing_body"):
                problem = f"an empty body must be 400 missing_body, got {answer!r}"
            else:
                problem = None
            tally.record(answer.status, problem, repro if problem else None)

        one()

    _run_until(tally, n, runner)
    tally.seconds = time.perf_counter() - t0
    return tally


# =========================================================================== gateway (schemathesis)
class LocalGateway:
    """The local gateway (gateway/) on 127.0.0.1:<free port> in a thread, throttle opened up."""

    def __init__(self, handler=None):
        from gateway.server import make_server

        # Fuzzing measures the function, not the throttle: 429s would hide what the handler says.
        self.gateway = harness.local_gateway(handler, rate=1e9, burst=1e9)
        self.httpd = make_server("127.0.0.1", 0, self.gateway)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def fuzz_gateway(n: int, seed: int, handler=None) -> Tally:
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import load_all_checks
    from schemathesis.specs.openapi import checks as oas_checks

    load_all_checks()
    tally = Tally("gateway")
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    checks = [
        schemathesis.checks.not_a_server_error,
        oas_checks.status_code_conformance,
        oas_checks.content_type_conformance,
        oas_checks.response_schema_conformance,
        oas_checks.response_headers_conformance,
        oas_checks.negative_data_rejection,
    ]
    strategies = []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(op.as_strategy(generation_mode=mode))
            except Exception:  # an operation without anything to negate
                continue
    strategy = st.one_of(strategies)
    t0 = time.perf_counter()
    with LocalGateway(handler) as gw, requests.Session() as session:

        def runner(count):
            @_hyp_settings(count, seed)
            @given(case=strategy)
            def one(case):
                try:
                    response = case.call(base_url=gw.url, session=session, timeout=60)
                except Exception as exc:  # the connection itself failed: the gateway died
                    tally.record("no-answer", f"{type(exc).__name__}: {exc}", {"curl": case.as_curl_command(base_url=gw.url)[:1500]})
                    return
                try:
                    case.validate_response(response, checks=checks)
                    problem = None
                except Exception as exc:  # schemathesis' FailureGroup / CheckFailed
                    problem = f"{type(exc).__name__}: {str(exc)[:1500]}"
                if problem is None and response.status_code >= 400:
                    try:
                        body = response.json()
                        ok = isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("code")
                    except ValueError:
                        ok = False
                    if not ok:
                        problem = f"{response.status_code} without an error code: {response.text[:200]!r}"
                tally.record(response.status_code, problem,
                             {"curl": case.as_curl_command(base_url=gw.url)[:1500]} if problem else None)

            one()

        _run_until(tally, n, runner)
    tally.seconds = time.perf_counter() - t0
    return tally


# =========================================================================== CLI
FUZZERS = {"gateway": fuzz_gateway, "events": fuzz_events, "images": fuzz_images}
# schemathesis' generation costs ~0.1-0.3 s a case (CPU), the others a few ms plus the handler.
SHARE = {"gateway": 0.15, "events": 0.45, "images": 0.40}


def run(total: int, seed: int, only: list[str] | None = None) -> dict:
    names = only or list(FUZZERS)
    share = sum(SHARE[k] for k in names)
    handler = harness.load_handler()
    random.seed(seed)
    results = {}
    for name in names:
        count = max(1, round(total * SHARE[name] / share))
        results[name] = FUZZERS[name](count, seed, handler)
        r = results[name]
        print(f"  {name:8s} {r.cases:6d} cases  {r.failed} failures  {r.seconds:6.1f}s  statuses {dict(sorted(r.statuses.items(), key=lambda kv: str(kv[0])))}", flush=True)
    return results


def summary(results: dict) -> dict:
    statuses = Counter()
    for r in results.values():
        statuses.update(r.statuses)
    return {
        "cases": sum(r.cases for r in results.values()),
        "failures": sum(r.failed for r in results.values()),
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "fuzzers": {k: r.as_dict() for k, r in results.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fuzz the detector (zero 5xx is the bar).")
    ap.add_argument("--cases", type=int, default=10_000, help="total cases, split 15/45/40 over gateway/events/images")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--only", nargs="*", choices=list(FUZZERS))
    ap.add_argument("--json", default="artifacts/fuzz.json", help="where to write the figures")
    args = ap.parse_args(argv)
    logging_quiet()
    print(f"fuzzing: {args.cases} cases, seed {args.seed}, model {harness.model_path()}", flush=True)
    t0 = time.perf_counter()
    results = run(args.cases, args.seed, args.only)
    out = summary(results)
    out.update({"seed": args.seed, "seconds": round(time.perf_counter() - t0, 1),
                "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "model": os.path.relpath(harness.model_path(), harness.ROOT) if harness.model_path().startswith(harness.ROOT) else harness.model_path()})
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"fuzz: {out['cases']} cases, statuses {out['statuses']}, {out['server_errors']} 5xx, "
          f"{out['failures']} failures ({out['seconds']} s; figures in {args.json})")
    for name, r in results.items():
        for f in r.failures[:3]:
            print(f"  FAIL {name}: {json.dumps(f)[:1000]}")
    return 1 if out["failures"] else 0


def logging_quiet() -> None:
    """The handler logs one JSON line per request: silence them during fuzzing (errors stay)."""
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import logging

    logging.getLogger("gateway").setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())

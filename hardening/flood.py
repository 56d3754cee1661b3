"""Pixel floods: the largest images the function accepts, as tiny files, and the memory they cost.

A PNG of only zeros compresses about 1000:1, so a ~100-300 KB upload can declare the largest
square under ``MAX_IMAGE_PIXELS`` (40 MP): every pixel is decoded. The peak RSS of one such
request, in a fresh process with the handler warm, must stay well under the function's memory
(template MemorySize), or Lambda kills the sandbox and API Gateway answers 502.

``python -m hardening.flood`` prints the figures for RGBA, grey+alpha, RGB and 16-bit grey, and
for two EXIF bombs (tags sharing one blob: memory in the parser, CPU in re-serialisation).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib


from . import harness
from . import images as im

COLOUR_TYPES = {"rgba": (6, 8, 4), "grey_alpha": (4, 8, 2), "rgb": (2, 8, 3), "grey16": (0, 16, 2)}


# Metadata bombs: small files that cost memory/CPU in the metadata parsers, not in the pixels.
METADATA_BOMBS = {
    "exif_png": lambda: im.png_with_exif(im.exif_shared_blob(5000, 400_000)),
    "exif_jpeg_rotated": lambda: im.jpeg_with_exif(b"Exif\x00\x00" + im.exif_shared_blob(2700, 32_000, 6)[:65000]),
}


def build(kind: str, side: int) -> tuple[bytes, str]:
    """(body, content type) of one flood or metadata bomb."""
    if kind in METADATA_BOMBS:
        data = METADATA_BOMBS[kind]()
        return data, "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return png_flood(side, kind), "image/png"


def png_flood(side: int, kind: str) -> bytes:
    colour, depth, bytes_per_pixel = COLOUR_TYPES[kind]
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + side * bytes_per_pixel)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return im.png_raw(side, side, depth, colour, idat)


def template_limits() -> tuple[int, int]:
    """(MemorySize MB, MAX_IMAGE_PIXELS) of the function in template.yaml (parameter defaults)."""
    settings = harness._settings()
    return settings.memory_mb, int(settings.environment["MAX_IMAGE_PIXELS"])


def _peak_kb() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that across fork+exec, so a
    child of a big parent (pytest after TensorFlow) would report the parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(side: int, kind: str) -> dict:
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    handler = harness.load_handler()
    data, ctype = build(kind, side)
    warm = harness.call(handler, harness.event_for("POST", "/predict", {"Content-Type": "image/jpeg"}, im.jpeg()))
    before = _peak_kb()
    answer = harness.call(handler, harness.event_for("POST", "/predict", {"Content-Type": ctype}, data))
    peak = _peak_kb()
    metadata = kind in METADATA_BOMBS
    return {"kind": kind, "side": None if metadata else side, "pixels": None if metadata else side * side,
            "bytes": len(data), "status": answer.status,
            "code": answer.code, "warm_status": warm.status, "peak_before_mb": round(before / 1024, 1),
            "peak_mb": round(peak / 1024, 1)}


def measure(kind: str, side: int | None = None, env: dict | None = None) -> dict:
    """One flood request in a fresh process (its own peak RSS)."""
    memory_mb, max_pixels = template_limits()
    side = side or int(max_pixels ** 0.5)
    proc = subprocess.run([sys.executable, "-m", "hardening.flood", "--child", kind, str(side)],
                          cwd=harness.ROOT, env=env or dict(os.environ), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"flood child failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["function_memory_mb"] = memory_mb
    result["max_pixels"] = max_pixels
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Peak memory of the largest accepted images (tiny PNG floods).")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "SIDE"), help=argparse.SUPPRESS)
    ap.add_argument("--json", default="artifacts/flood.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(int(args.child[1]), args.child[0])))
        return 0
    rows = [measure(kind) for kind in list(COLOUR_TYPES) + list(METADATA_BOMBS)]
    import time

    for r in rows:
        r["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ok = True
    for r in rows:
        within = r["status"] == 200 and r["peak_mb"] <= 0.85 * r["function_memory_mb"]
        ok &= within
        shape = "EXIF bomb" if r["kind"] in METADATA_BOMBS else f"{r['side']}x{r['side']} ({r['pixels'] / 1e6:.1f} MP)"
        print(f"flood {r['kind']:17s} {shape} in {r['bytes'] / 1000:.0f} KB: "
              f"{r['status']}, peak RSS {r['peak_mb']} MB of {r['function_memory_mb']} MB "
              f"({'ok' if within else 'OVER 85 %'})")
    path = args.json if os.path.isabs(args.json) else os.path.join(harness.ROOT, args.json)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(rows, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

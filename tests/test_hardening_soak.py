"""Soak (short CI version of `make soak`) and memory bounds of the warm handler.

* 300 warm invocations in a fresh process, valid and invalid inputs mixed: settled RSS growth
  <= 5 MB (after gc + malloc_trim, see hardening/soak.py), no file descriptor left open, /tmp (a private tmpfs when
  run as root) not growing, every answer the expected one.
* The soak's own detectors catch an injected leak of memory, of descriptors and of /tmp files.
* A decompression flood just under the pixel limit (a ~100 KB PNG of 40 megapixels with alpha)
  is answered within the function's memory (template MemorySize).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hardening import flood  # noqa: E402
from hardening import soak  # noqa: E402


def _env(model_path) -> dict:
    env = dict(os.environ, MODEL_PATH=str(model_path), PYTHONPATH=str(ROOT), LOG_LEVEL="ERROR")
    env.pop("DETECT_TEST_MODEL", None)
    return env


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_soak_stays_within_bounds(model_path, tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "hardening.soak", "--n", "300", "--faces", "8", "--json", str(out)],
        cwd=ROOT, env=_env(model_path), capture_output=True, text=True, timeout=600,
    )
    print(proc.stdout[-3000:], proc.stderr[-2000:])
    r = json.loads(out.read_text())
    assert r["invocations"] == 300
    assert r["valid_inputs"] >= 20 and r["invalid_inputs"] >= 30
    assert r["server_errors"] == 0 and not r["unexpected_answers"], r["unexpected_answers"]
    assert r["rss_mb"]["growth"] <= 5.0, r["rss_mb"]
    assert not r["fds"]["leaked"] and r["fds"]["end"] <= r["fds"]["after_warmup"], r["fds"]
    assert r["tmp"]["growth_bytes"] <= 0 and r["tmp"]["growth_files"] <= 0, r["tmp"]
    if os.geteuid() == 0 and os.environ.get("CI"):
        assert r["tmp"]["isolated"], "CI runs as root: /tmp must be measured on a private tmpfs"
    assert r["within_bounds"] and proc.returncode == 0


class _Leaky:
    """Wraps the handler and leaks what it is told to, on every call."""

    def __init__(self, handler, memory=0, fds=False, tmpdir=None):
        self.handler, self.memory, self.fds, self.tmpdir = handler, memory, fds, tmpdir
        self.kept, self.files, self.calls = [], [], 0

    def __call__(self, event, context):
        self.calls += 1
        if self.memory:
            self.kept.append(bytearray(os.urandom(16)) * (self.memory // 16))
        if self.fds:
            self.files.append(open(os.devnull, "rb"))  # noqa: SIM115 - the leak under test
        if self.tmpdir:
            with open(os.path.join(self.tmpdir, f"leak-{self.calls}.bin"), "wb") as fh:
                fh.write(b"x" * 1000)
        return self.handler(event, context)

    def close(self):
        for f in self.files:
            f.close()


@pytest.mark.slow
def test_soak_detects_injected_leaks(api_app, monkeypatch, tmp_path):
    tmp = str(tmp_path)
    measure = soak.tmp_usage
    monkeypatch.setattr(soak, "tmp_usage", lambda path="/tmp": measure(tmp))  # this test's own /tmp
    leaky = _Leaky(api_app.lambda_handler, memory=64 * 1024, fds=True, tmpdir=tmp)
    try:
        r = soak.run(150, faces=0, handler=leaky)
    finally:
        leaky.close()
    assert r["rss_mb"]["growth"] > 5.0  # 150 x 64 KB = 9.4 MB kept alive
    assert len(r["fds"]["leaked"]) == 150
    assert r["tmp"]["growth_files"] == 150 and r["tmp"]["growth_bytes"] == 150_000
    assert r["within_bounds"] is False


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["rgba", "grey_alpha", "grey16", "exif_png", "exif_jpeg_rotated"])
def test_pixel_flood_under_the_limit_fits_the_function_memory(model_path, kind):
    r = flood.measure(kind, env=_env(model_path))
    assert r["warm_status"] == 200
    assert r["bytes"] < 420_000 and (r["pixels"] or 0) <= r["max_pixels"]  # a small upload within the limits...
    assert (r["status"], r["code"]) == (200, None)  # ...is served
    # ...and its peak stays under 85 % of the function's memory (Lambda kills the sandbox at 100 %).
    assert r["peak_mb"] <= 0.85 * r["function_memory_mb"], r

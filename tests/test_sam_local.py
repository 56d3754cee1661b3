"""sam local: template -> `sam build` -> Lambda container (the local python3.11 image) -> handler with
both layers -> API answer; the built runtime layer's glibc needs fit AWS's Amazon Linux 2.

Docker tests (@pytest.mark.docker) need dockerd and the image (`make sam-image`): locally they skip
without them, with CI=true they fail. The whole module builds once (`sam build` into a temporary
directory, not the user's .aws-sam) and starts one `sam local start-api` for the API and page tests.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
SAM_SH = SCRIPTS / "sam.sh"
SAM_BIN = ROOT / ".venv-sam" / "bin" / "sam"
DOCKER = "/usr/bin/docker"  # Debian's docker.io client (API 1.41)
IMAGE = "public.ecr.aws/lambda/python:3.11-x86_64"
OUR_IMAGE_MARK = "deepfake-detector sam-local python3.11"
FACES = ROOT.parent / "shared" / "data" / "faces"
EVENTS = sorted((ROOT / "events").glob("*.json"))
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


apt_mirror = _load("sam_apt_mirror", SCRIPTS / "apt_mirror.py")
glibc_check = _load("sam_glibc_check", SCRIPTS / "glibc_check.py")
make_events = _load("sam_make_events", ROOT / "events" / "make_events.py")


@functools.lru_cache(maxsize=1)
def _sam_env() -> dict:
    """This process's environment without the function's own variables (template.yaml's
    Environment): sam local lets a shell variable of the same name override the template's value,
    and in-process tests (the gateway's) set some of them for the local handler, e.g.
    FACE_MODEL_DIR to this checkout's layers/model/faces, which the container does not have."""
    from api_support import load_template

    names = set(load_template()["Resources"]["DetectFunction"]["Properties"]["Environment"]["Variables"])
    return {k: v for k, v in os.environ.items() if k not in names}


def require(ok: bool, why: str) -> None:
    """Skip locally, fail in CI: CI must run every sam-local test."""
    if not ok:
        if IN_CI:
            pytest.fail(f"{why} (CI=true: this test must run)")
        pytest.skip(why)


def docker_ok() -> bool:
    try:
        return subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_comment() -> str | None:
    out = subprocess.run([DOCKER, "image", "inspect", "-f", "{{.Comment}}", IMAGE], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def a_face(label: str = "real") -> Path:
    """A real shared face (first file of the first set, sorted: deterministic)."""
    require(FACES.is_dir(), f"shared faces missing at {FACES}")
    for folder in sorted(FACES.glob(f"*/{label}")):
        files = sorted(folder.glob("*.jpg"))
        if files:
            return files[0]
    pytest.fail(f"no {label} faces under {FACES}")


def without_timings(answer: dict) -> dict:
    """A proxy response with the parts that differ between two runs removed (timings, ids)."""
    body = json.loads(answer["body"])
    for key in ("timings_ms", "request_id"):
        body.pop(key, None)
    if isinstance(body.get("error"), dict):
        body["error"].pop("request_id", None)
    headers = {k: v for k, v in answer.get("headers", {}).items() if k.lower() not in ("x-request-id",)}
    return {"statusCode": answer["statusCode"], "headers": headers, "body": body}


# =========================================================================== no Docker needed
# ---- the Debian mirror is read from apt's configuration, never written into the project ----------
DEB822 = """\
Types: deb
# a comment: http://example.invalid/old
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.test/debian-security
Suites: bookworm-security
Components: main
"""


def _apt_root(tmp_path: Path, sources_list: str | None = None, parts: dict | None = None) -> Path:
    apt = tmp_path / "etc" / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    if sources_list is not None:
        (apt / "sources.list").write_text(sources_list)
    for name, text in (parts or {}).items():
        (apt / "sources.list.d" / name).write_text(text)
    return tmp_path


def test_apt_mirror_reads_deb822_and_skips_security(tmp_path, capsys):
    # security listed first: it must not be chosen (it has no 'bookworm' release)
    first, second = DEB822.split("\n\n")
    root = _apt_root(tmp_path, parts={"debian.sources": second + "\n\n" + first})
    assert apt_mirror.main(["--root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == "http://mirror.example.test/debian"


def test_apt_mirror_reads_one_line_format_with_options(tmp_path, capsys):
    root = _apt_root(tmp_path, sources_list=(
        "# deb http://commented.example.test/debian bookworm main\n"
        "deb-src http://src.example.test/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example.test/debian/ bookworm main contrib\n"))
    assert apt_mirror.main(["--root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == "http://one.example.test/debian"


def test_apt_mirror_prefers_an_entry_listing_the_suite(tmp_path, capsys):
    root = _apt_root(tmp_path, sources_list="deb http://other.example.test/debian trixie main\n",
                     parts={"b.sources": DEB822})
    assert apt_mirror.main(["--root", str(root), "--suite", "bookworm"]) == 0
    assert capsys.readouterr().out.strip() == "http://mirror.example.test/debian"


def test_apt_mirror_fails_clearly_without_a_usable_entry(tmp_path, capsys):
    root = _apt_root(tmp_path, sources_list="deb http://ubuntu.example.test/ubuntu noble main universe\n",
                     parts={"s.sources": DEB822.split("\n\n")[1],
                                      "off.sources": DEB822.split("\n\n")[0] + "\nEnabled: no\n"})
    assert apt_mirror.main(["--root", str(root)]) == 1
    assert "SAM_IMAGE_MIRROR" in capsys.readouterr().err


def test_no_mirror_host_is_written_into_the_sam_local_files():
    mirror = apt_mirror.choose_mirror(apt_mirror.read_entries(Path("/")), "bookworm")
    require(mirror is not None, "this machine's apt configuration names no Debian mirror")
    host = mirror.split("://", 1)[-1].split("/", 1)[0]
    files = [p for p in (ROOT / "docker").rglob("*") if p.is_file()]
    files += [SCRIPTS / n for n in ("build-sam-image.sh", "apt_mirror.py", "sam.sh", "start-dockerd.sh",
                                    "sam-invoke-events.sh", "glibc_check.py", "sam-prune-images.sh")]
    files += [ROOT / "docs" / "sam-local.md", ROOT / "samconfig.toml", Path(__file__)]
    leaks = [str(p.relative_to(ROOT)) for p in files if p.exists() and host in p.read_text(errors="replace")]
    assert len(files) > 8 and not leaks, f"mirror host {host!r} written into {leaks}"


# ---- the glibc scanner: proven on synthetic ELF files, then run on the built layer ---------------
def make_elf(needs: dict[str, list[str]]) -> bytes:
    """A minimal ELF64 shared object whose only content is a .gnu.version_r table for `needs`
    ({library: [version, ...]}), laid out as the linker does (Verneed + Vernaux chains)."""
    strtab = b"\0"
    offsets = {}
    for name in list(needs) + [v for vs in needs.values() for v in vs]:
        if name not in offsets:
            offsets[name] = len(strtab)
            strtab += name.encode() + b"\0"
    verneed = b""
    libs = list(needs)
    for i, lib in enumerate(libs):
        versions = needs[lib]
        size = 16 + 16 * len(versions)
        verneed += struct.pack("<HHIII", 1, len(versions), offsets[lib], 16,
                               size if i < len(libs) - 1 else 0)
        for j, version in enumerate(versions):
            verneed += struct.pack("<IHHII", 0, 0, 2 + j, offsets[version], 16 if j < len(versions) - 1 else 0)
    str_off = 64
    vn_off = str_off + len(strtab)
    sh_off = vn_off + len(verneed)
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1, 0, 0, sh_off,
                         0, 64, 0, 0, 64, 3, 0)
    sections = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    sections += struct.pack("<IIQQQQIIQQ", 0, 3, 2, 0, str_off, len(strtab), 0, 0, 1, 0)  # .dynstr
    sections += struct.pack("<IIQQQQIIQQ", 0, glibc_check.SHT_GNU_VERNEED, 2, 0, vn_off, len(verneed),
                            1, len(libs), 8, 0)  # .gnu.version_r -> .dynstr, len(libs) entries
    return header + strtab + verneed + sections


def test_glibc_scanner_reads_version_needs_of_an_elf():
    data = make_elf({"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28"], "libm.so.6": ["GLIBC_2.29"]})
    assert glibc_check.elf_needs(data) == [("libc.so.6", "GLIBC_2.2.5"), ("libc.so.6", "GLIBC_2.28"),
                                           ("libm.so.6", "GLIBC_2.29")]
    assert glibc_check.elf_needs(b"#!/bin/sh\n" + b"\0" * 60) is None


def test_glibc_scanner_flags_needs_newer_than_amazon_linux_2(tmp_path):
    (tmp_path / "pkg" / "pkg.libs").mkdir(parents=True)
    (tmp_path / "pkg" / "ok.so").write_bytes(make_elf({"libc.so.6": ["GLIBC_2.17", "GLIBC_2.26"]}))
    (tmp_path / "pkg" / "new.so").write_bytes(make_elf({"libc.so.6": ["GLIBC_2.14", "GLIBC_2.27"]}))
    (tmp_path / "pkg" / "cxx.so").write_bytes(make_elf({"libstdc++.so.6": ["GLIBCXX_3.4.29"],
                                                        "libstdc++-1a2b.so.6.0.30": ["GLIBCXX_3.4.30"]}))
    # a library the wheel bundles itself (auditwheel) satisfies its own versions
    (tmp_path / "pkg" / "pkg.libs" / "libstdc++-1a2b.so.6.0.30").write_bytes(make_elf({"libc.so.6": ["GLIBC_2.17"]}))
    (tmp_path / "pkg" / "notes.txt").write_text("not an ELF file")
    files, needs, bad = glibc_check.check(tmp_path)
    assert sorted(files) == ["pkg/cxx.so", "pkg/new.so", "pkg/ok.so", "pkg/pkg.libs/libstdc++-1a2b.so.6.0.30"]
    assert [(b.path, b.version) for b in bad] == [("pkg/cxx.so", "GLIBCXX_3.4.29"), ("pkg/new.so", "GLIBC_2.27")]
    assert glibc_check.highest(needs, "GLIBC") == "GLIBC_2.27"
    assert glibc_check.main([str(tmp_path)]) == 1
    (tmp_path / "pkg" / "new.so").unlink()
    (tmp_path / "pkg" / "cxx.so").unlink()
    assert glibc_check.main([str(tmp_path)]) == 0


# ---- sam build (host only) -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sam_build(tmp_path_factory):
    """`sam build` of the real template into a temporary build dir; returns that dir."""
    require(SAM_BIN.exists(), f"SAM CLI missing at {SAM_BIN} (make sam-venv)")
    require((ROOT / "layers" / "model" / "model.tflite").is_file(), "no layers/model/model.tflite to build the "
            "model layer from (make model)")
    out = tmp_path_factory.mktemp("sam")
    build = out / "build"
    t0 = time.monotonic()
    proc = subprocess.run([str(SAM_SH), "build", "--build-dir", str(build), "--cache-dir", str(out / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"sam build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"\nsam build: {time.monotonic() - t0:.1f}s")
    assert (build / "template.yaml").is_file()
    yield build
    if docker_ok():  # SAM rebuilt its layer image per invoke: drop the stale copies (~200 MB each)
        subprocess.run([str(SCRIPTS / "sam-prune-images.sh")], capture_output=True, timeout=600)


def test_built_runtime_layer_needs_no_glibc_newer_than_aws(sam_build):
    layer = sam_build / "RuntimeLayer"
    files, needs, bad = glibc_check.check(layer)
    # the layer's native code is really there and really scanned
    names = " ".join(files)
    for package in ("ai_edge_litert", "numpy", "PIL"):
        assert f"{package}/" in names, f"no shared objects of {package} in the built layer: {files[:10]}"
    assert any(n.version.startswith("GLIBC_") for n in needs)
    # native code anywhere else in the package (function code, model layer) must fit as well
    for other in ("DetectFunction", "ModelLayer"):
        bad += glibc_check.check(sam_build / other)[2]
    report = "\n".join(f"{n.path} needs {n.version} ({n.library})" for n in bad)
    assert not bad, f"would fail on AWS Lambda python3.11 (Amazon Linux 2, glibc 2.26):\n{report}"


# =========================================================================== Docker
@pytest.fixture(scope="module")
def lambda_image() -> str:
    require(Path(DOCKER).exists(), f"{DOCKER} missing (apt-get install docker.io)")
    require(docker_ok(), "no Docker daemon (scripts/start-dockerd.sh)")
    require(image_comment() is not None, f"no local {IMAGE} (make sam-image)")
    return IMAGE


def built_model(build: Path) -> Path:
    found = sorted((build / "ModelLayer").rglob("model.tflite"))
    assert found, f"the built model layer has no model.tflite: {list((build / 'ModelLayer').rglob('*'))[:10]}"
    return found[0]


@pytest.fixture(scope="module")
def in_process_app(sam_build):
    """The same handler, in this process, with the built model layer: what the container must answer."""
    from conftest import load_app_module

    return load_app_module({"MODEL_PATH": str(built_model(sam_build))})


@pytest.mark.docker
def test_image_is_a_lambda_python311_base_without_mirror_traces(lambda_image):
    comment = image_comment()
    script = ("command -v sh mv chmod cp rm >/dev/null && test -x /var/runtime/bootstrap && "
              "cd /tmp && python3.11 -c 'import sys; sys.path.append(\"/var/runtime\"); import awslambdaric, "
              "encodings.idna, sqlite3, ssl, ctypes; print(sys.version_info[:2])'")
    out = subprocess.run([DOCKER, "run", "--rm", "--entrypoint", "/bin/sh", lambda_image, "-c", script],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(3, 11)"
    if not (comment or "").startswith(OUR_IMAGE_MARK):
        return  # AWS's own image (pulled with internet): nothing of ours to check further
    config = json.loads(subprocess.run([DOCKER, "image", "inspect", "-f", "{{json .Config}}", lambda_image],
                                       capture_output=True, text=True).stdout)
    assert config["WorkingDir"] == "/var/task"
    assert "LANG=C.UTF-8" in config["Env"]
    mirror = apt_mirror.choose_mirror(apt_mirror.read_entries(Path("/")), "bookworm")
    if mirror:
        host = mirror.split("://", 1)[-1].split("/", 1)[0]
        leak = subprocess.run([DOCKER, "run", "--rm", "--entrypoint", "/bin/sh", lambda_image, "-c",
                               'grep -rlF "$0" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; test $? = 1',
                               host], capture_output=True, text=True, timeout=300)
        assert leak.returncode == 0, f"the image names the mirror {host}: {leak.stdout[:500]}{leak.stderr[:500]}"


PROBE_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Probe:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Architectures: [x86_64]
      Handler: probe.handler
      CodeUri: fn/
      Timeout: 30
      Layers: [!Ref ProbeLayer]
  ProbeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
"""
PROBE_CODE = """\
import json, locale, os, sys
import layermod, shadowed

def handler(event, context):
    return {"path": sys.path[:4], "layer": layermod.WHERE, "shadowed": shadowed.WHERE,
            "version": list(sys.version_info[:2]), "cwd": os.getcwd(), "echo": event,
            "encoding": locale.getpreferredencoding(), "function": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "env": {k: os.environ.get(k) for k in ("AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT",
                    "LAMBDA_RUNTIME_DIR", "LANG", "AWS_LAMBDA_FUNCTION_NAME")}}
"""


@pytest.mark.docker
@pytest.mark.slow
def test_image_keeps_the_python311_runtime_contract(lambda_image, tmp_path):
    """A probe function with a layer, invoked by SAM on the image: import order (function code,
    then /opt/python, then the runtime), environment, context and UTF-8 as on AWS."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text(PROBE_TEMPLATE)
    (tmp_path / "fn" / "probe.py").write_text(PROBE_CODE)
    (tmp_path / "fn" / "shadowed.py").write_text("WHERE = 'function'\n")
    (tmp_path / "layer" / "python" / "layermod.py").write_text("WHERE = 'layer'\n")
    (tmp_path / "layer" / "python" / "shadowed.py").write_text("WHERE = 'layer'\n")
    (tmp_path / "event.json").write_text(json.dumps({"ping": "é"}))
    before = set(_sam_images())
    try:
        proc = subprocess.run([str(SAM_SH), "local", "invoke", "Probe", "-t", str(tmp_path / "template.yaml"),
                               "-e", str(tmp_path / "event.json"), "--skip-pull-image"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:  # the probe's own derived image (base + emulator + probe layer) is of no further use
        new = set(_sam_images()) - before
        if new:
            subprocess.run([DOCKER, "rmi", *new], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert out["path"] == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python", "/var/runtime"]
    assert (out["layer"], out["shadowed"]) == ("layer", "function")  # the function's code wins
    assert out["version"] == [3, 11] and out["cwd"] == "/var/task" and out["echo"] == {"ping": "é"}
    assert out["encoding"].upper().replace("-", "") == "UTF8"
    assert out["function"] == "Probe" and 0 < out["remaining_ms"] <= 30_000
    assert out["env"]["LAMBDA_TASK_ROOT"] == "/var/task" and out["env"]["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert out["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"


def _sam_images() -> list[str]:
    out = subprocess.run([DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}", "samcli/lambda-python"],
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()


def _invoke(build: Path, event: Path) -> tuple[dict, str]:
    proc = subprocess.run([str(SAM_SH), "local", "invoke", "DetectFunction", "-t", str(build / "template.yaml"),
                           "-e", str(event), "--skip-pull-image"],
                          cwd=ROOT, env=_sam_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"sam local invoke failed:\n{proc.stderr[-3000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no proxy response on stdout:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1]), proc.stderr


# When sam local stops the container after the answer, the runtime interface client may still be
# waiting for the next event and print this (seen once in ~40 CI invokes); it is the emulator's
# shutdown, after our handler returned, not a traceback of ours.
RUNTIME_TEARDOWN = re.compile(
    r"Traceback \(most recent call last\):\n(?:[ \t]+.*\n)*?[ \t]+File \"/var/runtime/awslambdaric/"
    r"lambda_runtime_client\.py\", line \d+, in wait_next_invocation\n(?:[ \t]+.*\n)*?RuntimeError: Failed to get next\)?")


def without_runtime_teardown(log: str) -> str:
    return RUNTIME_TEARDOWN.sub("<runtime client stopped with the container>", log)


# What each committed event must answer (a new event needs an entry here).
EVENT_EXPECTATIONS = {
    "get-model.json": (200, "card"),
    "predict-json.json": (200, "verdict"),
    "predict-dataurl.json": (200, "verdict"),
    "predict-binary.json": (200, "verdict"),
    "predict-multipart.json": (200, "verdict"),
    "predict-bad-body.json": (400, "invalid_json"),
}


def test_every_event_has_an_expectation():
    assert EVENTS, "events/ has no events"
    assert sorted(e.name for e in EVENTS) == sorted(EVENT_EXPECTATIONS)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("event", EVENTS, ids=[e.stem for e in EVENTS])
def test_sam_local_invoke_answers_as_the_api_defines(event, sam_build, lambda_image, in_process_app):
    status, kind = EVENT_EXPECTATIONS[event.name]
    t0 = time.monotonic()
    answer, log = _invoke(sam_build, event)
    print(f"\nsam local invoke {event.name}: {time.monotonic() - t0:.1f}s -> {answer['statusCode']}")
    body = json.loads(answer["body"])
    assert answer["statusCode"] == status, body
    assert answer["headers"]["Content-Type"].startswith("application/json")
    assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
    if kind == "verdict":
        assert body["label"] in ("REAL", "FAKE")
        assert 0.0 <= body["fake_probability"] <= 1.0
        assert (body["label"] == "FAKE") == (body["fake_probability"] >= body["threshold"])
    elif kind == "card":
        assert body["name"] and body["version"] and body["input"]["size"]
    else:
        assert body["error"]["code"] == kind
        assert "Traceback" not in answer["body"] and "Traceback" not in without_runtime_teardown(log)
    # The container (Debian python3.11 + both built layers, under SAM's emulator) answers exactly
    # what the same handler answers in-process with the same model: same status, headers and body.
    expected = in_process_app.lambda_handler(json.loads(event.read_text()), None)
    assert without_timings(answer) == without_timings(expected)


# ---- sam local start-api ------------------------------------------------------------------------
def _get(url: str, timeout: float = 30.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _post(url: str, data: bytes, content_type: str, timeout: float = 60.0):
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


@pytest.fixture(scope="module")
def sam_api(sam_build, lambda_image, tmp_path_factory):
    """`sam local start-api --warm-containers EAGER` on 127.0.0.1; yields its base URL. Stopped with
    SIGTERM (by PID) at the end; its warm container must be gone afterwards."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("sam-api") / "start-api.log"
    log = open(log_path, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([str(SAM_SH), "local", "start-api", "-t", str(sam_build / "template.yaml"),
                             "--host", "127.0.0.1", "--port", str(port), "--warm-containers", "EAGER",
                             "--skip-pull-image"], cwd=ROOT, env=_sam_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, f"start-api exited {proc.returncode}:\n{log_path.read_text()[-3000:]}"
            try:
                status, _, _ = _get(base + "/model", timeout=30)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            assert time.monotonic() < deadline, f"start-api not answering:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        print(f"\nsam local start-api: first 200 after {time.monotonic() - t0:.1f}s")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
        # SIGTERM lets SAM remove its warm container; anything it left would pile up on the machine
        deadline = time.monotonic() + 30
        while (left := _containers_of(sam_build)) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            subprocess.run([DOCKER, "rm", "-f", *left], capture_output=True)
        assert not left, f"sam local start-api left containers behind: {left}"


def _containers_of(build: Path) -> list[str]:
    """Containers (running or not) that mount something from this test's build dir: ours only."""
    ids = subprocess.run([DOCKER, "ps", "-aq", "--no-trunc"], capture_output=True, text=True, timeout=60).stdout.split()
    if not ids:
        return []
    out = subprocess.run([DOCKER, "inspect", "-f", "{{.Id}} {{range .Mounts}}{{.Source}} {{end}}", *ids],
                         capture_output=True, text=True, timeout=60).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.strip() and any(src.startswith(str(build)) for src in line.split()[1:])]


@pytest.mark.docker
@pytest.mark.slow
def test_start_api_answers_raw_jpeg_and_base64_json_alike(sam_api, in_process_app):
    face = a_face("real")
    data = face.read_bytes()
    t0 = time.monotonic()
    status, raw_body, headers = _post(sam_api + "/predict", data, "image/jpeg")
    warm = time.monotonic() - t0
    assert status == 200, raw_body[:500]
    raw = json.loads(raw_body)
    assert headers.get("Access-Control-Allow-Origin") == "*"
    assert raw["label"] in ("REAL", "FAKE") and raw["image"]["format"] == "JPEG"
    assert raw["image"]["bytes"] == len(data)

    payload = json.dumps({"image": base64.b64encode(data).decode()}).encode()
    status, json_body, _ = _post(sam_api + "/predict", payload, "application/json")
    assert status == 200, json_body[:500]
    as_json = json.loads(json_body)
    for key in ("label", "fake_probability", "confidence", "threshold", "model", "image"):
        assert as_json[key] == raw[key], key
    # and the same verdict as the handler in-process on the same bytes
    event = make_events.rest_event("POST", "/predict", body=data, content_type="image/jpeg")
    expected = json.loads(in_process_app.lambda_handler(event, None)["body"])
    assert expected["fake_probability"] == raw["fake_probability"]
    print(f"\nstart-api warm POST /predict: {warm * 1000:.0f} ms")


@pytest.mark.docker
@pytest.mark.slow
def test_start_api_errors_are_json_4xx(sam_api):
    status, body, headers = _post(sam_api + "/predict", b"plain words, not an image", "text/plain")
    assert status == 415, body[:300]
    assert json.loads(body)["error"]["code"] == "unsupported_media_type"
    status, body, _ = _post(sam_api + "/predict", b'{"image": "%%%"}', "application/json")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_base64", body[:300]
    status, body, _ = _get(sam_api + "/nothing-here")
    assert status == 404 and json.loads(body)["error"]["code"], body[:300]


# ---- the page, served statically, against the sam start-api URL ----------------------------------
@contextlib.contextmanager
def serve_frontend(api_base: str):
    """frontend/ over http.server on 127.0.0.1 as `make publish` deploys it (scripts/publish.py's
    config.js and CSP widening), with the API base pointing at `api_base` (sam local start-api)."""
    publish = _load("sam_publish", SCRIPTS / "publish.py")
    config = publish.config_script({"ApiUrl": api_base + "/"}, {}, "sam-local").encode()
    index = publish.widen_csp((ROOT / "frontend" / "index.html").read_text(), api_base).encode()
    replaced = {"/config.js": (config, "text/javascript"), "/index.html": (index, "text/html; charset=utf-8"),
                "/": (index, "text/html; charset=utf-8")}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path in replaced:
                data, ctype = replaced[path]
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(ROOT / "frontend")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def launch_chromium(playwright):
    """Debian's Chromium, launched as the page tests do (tests/test_page_browser.py)."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    require(bool(shutil.which(chromium)), f"Chromium missing at {chromium} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"])


@pytest.mark.docker
@pytest.mark.browser
@pytest.mark.slow
def test_page_shows_a_verdict_from_sam_start_api(sam_api):
    require((ROOT / "frontend" / "index.html").is_file(), "frontend/ missing")
    from playwright import sync_api

    face = a_face("fake")
    with serve_frontend(sam_api) as page_url, sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url + "/index.html")
            assert page.evaluate("window.detectorPage.predictUrl") == sam_api + "/predict"
            page.set_input_files("#file", str(face))
            verdict = page.locator("[data-testid=verdict]")
            verdict.wait_for(state="visible", timeout=60_000)
            shown = verdict.inner_text().upper()
            history = page.evaluate("window.detectorPage.history()")
            assert errors == []
        finally:
            browser.close()
    assert len(history) == 1
    label = history[0]["label"]
    assert label in ("REAL", "FAKE") and label in shown
    # the page shows what the API answers for the same file
    status, body, _ = _post(sam_api + "/predict", face.read_bytes(), "image/jpeg")
    assert status == 200 and json.loads(body)["fake_probability"] == history[0]["fake_probability"]

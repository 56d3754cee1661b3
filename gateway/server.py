"""Local stand-in for the deployed stack: the page (frontend/) and the API on one origin.

    python -m gateway [--host 127.0.0.1] [--port 3000] [--rate R] [--burst B]

API routes (from template.yaml) go through ``apigw.Gateway`` to functions/detect/app.py's
``lambda_handler`` as API Gateway REST proxy events; everything else is a static file from frontend/.
The stdlib and the Lambda runtime requirements are all it needs.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import mimetypes
import os
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .apigw import Gateway, HttpResponse, TokenBucket
from .template import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_FRONTEND = ROOT / "frontend"
DEFAULT_APP = ROOT / "functions" / "detect" / "app.py"
DEFAULT_MODEL = ROOT / "layers" / "model" / "model.tflite"
DEFAULT_FACE_MODELS = ROOT / "layers" / "model" / "faces"  # make face-models (make run fetches them)

log = logging.getLogger("gateway")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}

# The page may talk to its own origin only (and to the configured API base when published).
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def content_type_for(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return CONTENT_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def load_handler(app_path: Path = DEFAULT_APP):
    """Import app.py as Lambda does (its directory on sys.path) and return ``lambda_handler``."""
    app_path = Path(app_path).resolve()
    if not app_path.exists():
        raise FileNotFoundError(f"{app_path} does not exist")
    code_dir = str(app_path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location("detect_app", app_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler


def config_js(settings) -> str:
    cfg = {"apiBase": "", "source": "local gateway"}
    if settings.max_image_bytes:
        cfg["maxImageBytes"] = settings.max_image_bytes
    return "window.DETECTOR_CONFIG = " + json.dumps(cfg, indent=2) + ";\n"


class BadLength(ValueError):
    """A Content-Length that is not a non-negative integer (API Gateway's edge answers 400)."""


class Handler(BaseHTTPRequestHandler):
    server_version = "detector-gateway/1.0"
    protocol_version = "HTTP/1.1"

    # set by make_server
    gateway: Gateway
    frontend: Path
    config_script: str

    def log_message(self, fmt, *args):  # quieter, one line per request on stderr
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, resp: HttpResponse, head_only: bool = False):
        self.send_response(resp.status)
        names = set()
        for k, v in resp.headers:
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            self.send_header(k, v)
            names.add(k.lower())
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(resp.body)

    def _read_body(self) -> tuple[bytes | None, int | None, bool]:
        """(body, declared length, too_large). Bodies over the limit are not read."""
        limit = self.gateway.max_payload
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data), len(data), False
                if len(data) + size > limit:
                    self.close_connection = True
                    return None, len(data) + size, True
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            raise BadLength() from None
        if length > limit:
            self.close_connection = True  # don't read 10+ MB we will refuse
            return None, length, True
        return (self.rfile.read(length) if length else b""), length, False

    def _static(self, path: str, head_only: bool) -> bool:
        rel = unquote(urlsplit(path).path)
        if rel.endswith("/"):
            rel += "index.html"
        if rel == "/config.js":
            body = self.config_script.encode()
            self._send(HttpResponse(200, [("Content-Type", content_type_for(rel)),
                                          ("Cache-Control", "no-store")], body), head_only)
            return True
        root = self.frontend.resolve()
        target = (root / rel.lstrip("/")).resolve()
        if root not in target.parents and target != root:
            return False
        if not target.is_file():
            return False
        headers = [("Content-Type", content_type_for(str(target))), ("Cache-Control", "no-cache"),
                   ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
        if target.suffix == ".html":
            headers.append(("Content-Security-Policy", CSP))
        self._send(HttpResponse(200, headers, target.read_bytes()), head_only)
        return True

    def _dispatch(self):
        method = self.command
        head_only = method == "HEAD"
        try:
            # The page's files (GET/HEAD of a file in frontend/, "/" = index.html) first; every other
            # request goes to the API routes. Deployed, the page lives on its own (CloudFront) origin.
            if method in ("GET", "HEAD") and self._static(self.path, head_only):
                return
            body, length, too_large = self._read_body()
            resp = self.gateway.invoke(method=method, target=self.path, headers=list(self.headers.items()),
                                       body=body, source_ip=self.client_address[0], content_length=length)
            self._send(resp, head_only)
        except BadLength:
            self.close_connection = True
            self._send(HttpResponse(400, [("Content-Type", "application/json")], b'{"message": "Bad Request"}'))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            log.exception("gateway failure")
            try:
                self._send(HttpResponse(500, [("Content-Type", "application/json")],
                                        b'{"message": "Internal server error"}'))
            except OSError:
                pass

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


def make_server(host: str, port: int, gateway: Gateway, frontend: Path = DEFAULT_FRONTEND,
                config_script: str | None = None) -> ThreadingHTTPServer:
    handler_cls = type("BoundHandler", (Handler,), {
        "gateway": gateway,
        "frontend": Path(frontend),
        "config_script": config_script if config_script is not None else config_js(gateway.settings),
    })
    httpd = ThreadingHTTPServer((host, port), handler_cls)
    httpd.daemon_threads = True
    return httpd


def build_gateway(template: Path = DEFAULT_TEMPLATE, app: Path = DEFAULT_APP, *, rate: float | None = None,
                  burst: float | None = None, handler=None) -> Gateway:
    """Gateway configured from the template; the function's static environment applied first."""
    settings = load_settings(template)
    if rate is not None:
        settings.rate = float(rate)
    if burst is not None:
        settings.burst = int(burst)
    for k, v in settings.environment.items():
        if k not in ("MODEL_PATH", "FACE_MODEL_DIR"):  # Lambda's /opt/model paths: the local ones below
            os.environ.setdefault(k, v)
    os.environ.setdefault("MODEL_PATH", str(DEFAULT_MODEL))
    os.environ.setdefault("FACE_MODEL_DIR", str(DEFAULT_FACE_MODELS))
    if handler is None:
        handler = load_handler(app)
    return Gateway(handler=handler, settings=settings, bucket=TokenBucket(settings.rate, settings.burst))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    ap.add_argument("--rate", type=float, default=float(os.environ["RATE"]) if os.environ.get("RATE") else None,
                    help="throttle steady rate (requests/s); default: template.yaml")
    ap.add_argument("--burst", type=float, default=float(os.environ["BURST"]) if os.environ.get("BURST") else None,
                    help="throttle burst; default: template.yaml")
    ap.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    ap.add_argument("--app", type=Path, default=DEFAULT_APP)
    ap.add_argument("--frontend", type=Path, default=DEFAULT_FRONTEND)
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    model = os.environ.get("MODEL_PATH") or str(DEFAULT_MODEL)
    os.environ["MODEL_PATH"] = model
    if not Path(model).exists():
        print(f"warning: MODEL_PATH={model} does not exist; /predict will answer 503", file=sys.stderr)
    gw = build_gateway(args.template, args.app, rate=args.rate, burst=args.burst)
    httpd = make_server(args.host, args.port, gw, args.frontend)
    host, port = httpd.server_address[:2]
    s = gw.settings
    routes = ", ".join(f"{r.method} {r.resource}" for r in s.routes)
    print(f"Deepfake detector: http://{host}:{port}/  (API: {routes}; throttle {s.rate:g}/s burst {s.burst}; "
          f"model {model})", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0

"""Lambda entry point (handler ``app.lambda_handler``): POST /predict, GET /model.

Module scope runs once per cold start: settings from the environment, the model and the
short-range face model loaded with LiteRT and their tensors allocated. If either can't be loaded
the module still imports, logs the error once, and every request answers 503 (JSON, no traceback):
``model_unavailable``, or ``face_models_unavailable`` when the face models are not where
FACE_MODEL_DIR (or the model layer's faces/) says. Everything else lives in detector/.
"""
import os
import time

_T_IMPORT = time.perf_counter()
# numpy's OpenBLAS starts one thread per core at import (~40 ms); the template sets this too.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from detector import http  # noqa: E402
from detector.config import Config  # noqa: E402
from detector.errors import DetectError, ModelUnavailable  # noqa: E402
from detector.logs import JsonLogger, emf  # noqa: E402

LOG = JsonLogger(service="detect", level=os.environ.get("LOG_LEVEL", "INFO"))
METRICS_NAMESPACE = os.environ.get("METRICS_NAMESPACE", "DeepfakeDetector")
MODEL = None
FACES = None
DETECTOR = None
MODEL_ERROR = None
AUDIT = None
CONFIG = None

try:
    CONFIG = Config.from_env()
    from detector.service import Detector
    from detector.source import load_model

    MODEL = load_model(CONFIG)
    from detector.faces import FaceDetector, face_model_dir

    FACES = FaceDetector(face_model_dir(CONFIG.model_path, CONFIG.face_model_dir), search=CONFIG.face_search)
    DETECTOR = Detector(MODEL, max_bytes=CONFIG.max_image_bytes, max_pixels=CONFIG.max_image_pixels,
                        min_side=CONFIG.min_side, faces=FACES)
    if CONFIG.audit_bucket:
        from detector.audit import AuditLog

        AUDIT = AuditLog(CONFIG.audit_bucket, store_images=CONFIG.audit_store_images,
                         prefix=CONFIG.audit_prefix)
except ModelUnavailable as exc:
    MODEL_ERROR = exc
except Exception as exc:  # misconfiguration must not crash the import: answer 503 instead
    MODEL_ERROR = ModelUnavailable(f"The service is misconfigured: {type(exc).__name__}: {exc}")

INIT_MS = round((time.perf_counter() - _T_IMPORT) * 1000.0, 2)
_COLD = True
if MODEL_ERROR is not None:
    LOG.error("model unavailable", error_code=MODEL_ERROR.code, error=MODEL_ERROR.message, init_ms=INIT_MS)
else:
    LOG.info("model loaded", model=MODEL.identity, init_ms=INIT_MS,
             model_source="s3" if CONFIG.model_s3_uri else "file")


def _cors(request_origin=None):
    origin = CONFIG.cors_allow_origin if CONFIG else os.environ.get("CORS_ALLOW_ORIGIN", "*")
    return http.cors_headers(origin, request_origin)


def _predict(request):
    if DETECTOR is None:
        raise MODEL_ERROR
    max_bytes = CONFIG.max_image_bytes
    image = http.extract_image(request, max_bytes)
    verdict = DETECTOR.analyze(image, request_id=request.request_id,
                               explain=http.explain_requested(request))
    if AUDIT is not None:
        try:
            verdict_key = AUDIT.record(request.request_id, verdict, image)["verdict"]
            LOG.info("audit written", audit_key=verdict_key)
        except Exception as exc:  # best effort: the verdict is still right
            LOG.error("audit write failed", error=type(exc).__name__)
    return verdict


def _model_card():
    if DETECTOR is None:
        raise MODEL_ERROR
    from detector.faces import describe

    card = MODEL.public_card()
    card["faces"] = describe(MODEL.spec, FACES, MODEL.policy)
    card["verdict_rule"] = card["faces"]["verdict_rule"]
    return card


def lambda_handler(event, context):
    global _COLD
    t0 = time.perf_counter()
    cold, _COLD = _COLD, False
    request_id = None
    origin = None
    status = 500
    fields = {}
    try:
        try:
            request = http.parse_event(event, context)
        except DetectError:
            request_id = getattr(context, "aws_request_id", None)
            raise
        request_id, origin = request.request_id, request.origin
        LOG.bind(request_id=request_id, cold_start=cold)
        action = http.route(request)
        if action == "options":
            status = 204
            return http.response(204, None, cors=_cors(origin), request_id=request_id)
        if action == "model":
            body = _model_card()
        else:
            body = _predict(request)
            body["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000.0, 2)
            fields = {"label": body["label"], "fake_probability": body["fake_probability"],
                      "image_format": body["image"]["format"], "image_bytes": body["image"]["bytes"],
                      "timings_ms": body["timings_ms"]}
        status = 200
        return http.response(200, body, cors=_cors(origin), request_id=request_id)
    except DetectError as err:
        status = err.status
        fields = {"error_code": err.code, "error": err.message[:200]}
        return http.error_response(err, cors=_cors(origin), request_id=request_id)
    except Exception as exc:  # a genuine fault: log the type, answer without a traceback
        status = 500
        fields = {"error_code": "internal_error", "error": type(exc).__name__}
        LOG.error("unhandled error", request_id=request_id, exception=repr(exc)[:300])
        err = DetectError("Internal error; the request id identifies it in the logs.")
        return http.error_response(err, cors=_cors(origin), request_id=request_id)
    finally:
        duration_ms = round((time.perf_counter() - t0) * 1000.0, 2)
        timings = fields.get("timings_ms") or {}
        metrics = emf(
            METRICS_NAMESPACE,
            {"Requests": (1, "Count"), "ColdStart": (int(cold), "Count"),
             "DurationMs": (duration_ms, "Milliseconds"),
             "InferenceMs": (timings.get("inference"), "Milliseconds"),
             "FakeVerdicts": (int(fields["label"] == "FAKE") if "label" in fields else None, "Count"),
             "ClientErrors": (int(400 <= status < 500), "Count"), "ServerErrors": (int(status >= 500), "Count")},
            {"Service": "detect"},
        )
        LOG.info(
            "request",
            request_id=request_id,
            cold_start=cold,
            init_ms=INIT_MS if cold else None,
            method=(event or {}).get("httpMethod") if isinstance(event, dict) else None,
            path=(event or {}).get("path") if isinstance(event, dict) else None,
            status=status,
            duration_ms=duration_ms,
            **fields,
            **metrics,
        )

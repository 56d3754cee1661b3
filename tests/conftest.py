# --------------------------------------------------------------------------- detection API (shared)
import importlib.util as _api_importlib_util
import os as _api_os
import sys as _api_sys
import uuid as _api_uuid
from pathlib import Path as _ApiPath

import pytest as _api_pytest

REPO_ROOT = _ApiPath(__file__).resolve().parents[1]
SHARED_FACES = REPO_ROOT.parent / "shared" / "data" / "faces"
SHIPPED_MODEL = REPO_ROOT / "layers" / "model" / "model.tflite"


def resolve_model_path() -> _ApiPath:
    override = _api_os.environ.get("DETECT_TEST_MODEL")  # e.g. a candidate model under evaluation
    if override:
        return _ApiPath(override)
    if SHIPPED_MODEL.exists():
        return SHIPPED_MODEL
    raise FileNotFoundError(f"no model: {SHIPPED_MODEL} (make model) is missing")


@_api_pytest.fixture(scope="session")
def model_path() -> _ApiPath:
    """The .tflite the tests serve (its card is the .json beside it)."""
    try:
        return resolve_model_path()
    except FileNotFoundError as exc:
        _api_pytest.fail(str(exc))


@_api_pytest.fixture
def model_card(model_path) -> dict:
    """The card beside the served .tflite (read per test: callers may edit their copy)."""
    import json

    return json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))


@_api_pytest.fixture(scope="session")
def shared_faces() -> _ApiPath:
    if not SHARED_FACES.is_dir():
        _api_pytest.fail(f"shared face images missing at {SHARED_FACES}")
    return SHARED_FACES


FACE_MODELS = REPO_ROOT / "layers" / "model" / "faces"  # make face-models


def load_app_module(env: dict):
    """Import functions/detect/app.py afresh (a cold start) with exactly ``env`` for its settings.
    FACE_MODEL_DIR defaults to the repo's face models (make face-models), whichever model is served;
    ``FACE_MODEL_DIR=None`` leaves it unset (faces/ beside MODEL_PATH)."""
    keys = ("MODEL_PATH", "MODEL_CARD_PATH", "MODEL_S3_URI", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS",
            "MIN_IMAGE_SIDE", "CORS_ALLOW_ORIGIN", "AUDIT_BUCKET", "AUDIT_STORE_IMAGES", "AUDIT_PREFIX",
            "MODEL_CACHE_DIR", "LOG_LEVEL", "FACE_MODEL_DIR", "FACE_SEARCH")
    env = {"FACE_MODEL_DIR": str(FACE_MODELS), **env}
    saved = {k: _api_os.environ.get(k) for k in keys}
    try:
        for k in keys:
            _api_os.environ.pop(k, None)
        _api_os.environ.update({k: str(v) for k, v in env.items() if v is not None})
        name = f"detect_app_{_api_uuid.uuid4().hex}"
        spec = _api_importlib_util.spec_from_file_location(name, REPO_ROOT / "functions" / "detect" / "app.py")
        module = _api_importlib_util.module_from_spec(spec)
        _api_sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        for k, v in saved.items():
            if v is None:
                _api_os.environ.pop(k, None)
            else:
                _api_os.environ[k] = v


@_api_pytest.fixture(scope="session")
def api_app(model_path):
    """The handler module, loaded once with the test model (as one warm Lambda sandbox)."""
    return load_app_module({"MODEL_PATH": str(model_path)})


# --------------------------------------------------------------------------- page (gateway handler)
@_api_pytest.fixture(scope="session")
def template_handler(model_path):
    """Factory: ``template_handler(**env)`` loads functions/detect/app.py's lambda_handler through the
    gateway's loader (a cold start, as `make run` does) with template.yaml's function environment
    (values already in os.environ win), MODEL_PATH = the test model, FACE_MODEL_DIR = the repo's
    face models (the template's is Lambda's /opt/model/faces), and ``env`` forced over all of them.
    os.environ is restored afterwards."""
    if str(REPO_ROOT) not in _api_sys.path:
        _api_sys.path.insert(0, str(REPO_ROOT))
    from gateway.server import load_handler
    from gateway.template import load_settings

    def make(**env):
        forced = {"MODEL_PATH": str(model_path), "FACE_MODEL_DIR": str(FACE_MODELS),
                  **{k: str(v) for k, v in env.items()}}
        settings = load_settings(REPO_ROOT / "template.yaml")
        saved = dict(_api_os.environ)
        try:
            for k, v in settings.environment.items():
                if k not in forced:
                    _api_os.environ.setdefault(k, v)
            _api_os.environ.update(forced)
            return load_handler(REPO_ROOT / "functions" / "detect" / "app.py")
        finally:
            _api_os.environ.clear()
            _api_os.environ.update(saved)

    return make

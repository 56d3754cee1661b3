"""Settings from the environment (the template's Environment block), read once per cold start."""
from __future__ import annotations

import os
from typing import NamedTuple  # not dataclasses: its import (+inspect) and codegen cost ~10-20 ms of a cold start

DEFAULT_MODEL_PATH = "/opt/model/model.tflite"
DEFAULT_MAX_IMAGE_BYTES = 4_500_000  # base64 → 6 MB, Lambda's synchronous payload limit
DEFAULT_MAX_IMAGE_PIXELS = 24_000_000  # template MaxImagePixels: 40 MP floods peaked near 1 GB
DEFAULT_MIN_SIDE = 16


def _int(env: dict, name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _choice(env: dict, name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first when unset)."""
    raw = (env.get(name) or "").strip().lower() or choices[0]
    if raw not in choices:
        raise ValueError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def _bool(env: dict, name: str) -> bool:
    return (env.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


class Config(NamedTuple):
    model_path: str = DEFAULT_MODEL_PATH
    model_card_path: str | None = None
    model_s3_uri: str | None = None
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    min_side: int = DEFAULT_MIN_SIDE
    cors_allow_origin: str = "*"
    audit_bucket: str | None = None
    audit_store_images: bool = False
    audit_prefix: str = ""
    model_cache_dir: str = "/tmp"
    face_model_dir: str | None = None  # FACE_MODEL_DIR; unset: faces/ beside the model (must be there)
    face_search: str = "fast"  # FACE_SEARCH: fast | thorough (tiles on every photo: every face, slower)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Config":
        env = os.environ if env is None else env
        return cls(
            model_path=(env.get("MODEL_PATH") or "").strip() or DEFAULT_MODEL_PATH,
            model_card_path=(env.get("MODEL_CARD_PATH") or "").strip() or None,
            model_s3_uri=(env.get("MODEL_S3_URI") or "").strip() or None,
            max_image_bytes=_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS),
            min_side=_int(env, "MIN_IMAGE_SIDE", DEFAULT_MIN_SIDE),
            cors_allow_origin=(env.get("CORS_ALLOW_ORIGIN") or "").strip() or "*",
            audit_bucket=(env.get("AUDIT_BUCKET") or "").strip() or None,
            audit_store_images=_bool(env, "AUDIT_STORE_IMAGES"),
            audit_prefix=(env.get("AUDIT_PREFIX") or "").strip().strip("/"),
            model_cache_dir=(env.get("MODEL_CACHE_DIR") or "").strip() or "/tmp",
            face_model_dir=(env.get("FACE_MODEL_DIR") or "").strip() or None,
            face_search=_choice(env, "FACE_SEARCH", ("fast", "thorough")),
        )

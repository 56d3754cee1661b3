"""Where the model comes from: the model layer (``MODEL_PATH``) or S3 (``MODEL_S3_URI``).

With ``MODEL_S3_URI=s3://bucket/key.tflite`` the file and its card (``key.json`` beside it) are
downloaded once per cold start to ``/tmp`` with boto3 (imported only then); ``Model.load`` then
checks the file's sha256 against the card and refuses to serve on a mismatch. A card given by
``MODEL_CARD_PATH`` (e.g. pinned in the model layer) takes precedence over the S3 one.
"""
from __future__ import annotations

import os

from .config import Config
from .errors import ModelUnavailable
from .model import Model, card_path_for


def parse_s3_uri(uri: str) -> tuple[str, str]:
    from urllib.parse import urlparse  # only with MODEL_S3_URI: not on the layer path's cold start

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket or not key:
        raise ModelUnavailable(f"MODEL_S3_URI must look like s3://bucket/key.tflite, got {uri!r}.")
    return bucket, key


def download_model(uri: str, cache_dir: str = "/tmp", *, client=None) -> tuple[str, str]:
    """Fetch ``key.tflite`` and ``key.json`` (once) → local (model_path, card_path)."""
    bucket, key = parse_s3_uri(uri)
    card_key = os.path.splitext(key)[0] + ".json"
    target_dir = os.path.join(cache_dir, "model-s3")
    os.makedirs(target_dir, exist_ok=True)
    model_path = os.path.join(target_dir, os.path.basename(key))
    card_path = card_path_for(model_path)
    if client is None:
        import boto3  # only on this path: ~100+ ms of import nobody else pays

        client = boto3.client("s3")
    for obj_key, path in ((key, model_path), (card_key, card_path)):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            continue  # a warm /tmp from an earlier cold start of this sandbox
        tmp = path + ".part"
        try:
            client.download_file(bucket, obj_key, tmp)
        except Exception as exc:
            raise ModelUnavailable(f"Could not download s3://{bucket}/{obj_key}: {type(exc).__name__}.")
        os.replace(tmp, path)
    return model_path, card_path


def load_model(config: Config, *, s3_client=None) -> Model:
    """The configured model, verified against its card (``ModelUnavailable`` otherwise)."""
    if config.model_s3_uri:
        model_path, card_path = download_model(config.model_s3_uri, config.model_cache_dir, client=s3_client)
        card_path = config.model_card_path or card_path
        try:
            return Model.load(model_path, card_path, verify=True)
        except ModelUnavailable:
            # Never keep a file that failed its check: the next cold start downloads afresh.
            for path in (model_path, card_path_for(model_path)):
                try:
                    os.remove(path)
                except OSError:
                    pass
            raise
    if not os.path.exists(config.model_path):
        raise ModelUnavailable(f"No model at {config.model_path} (is the model layer attached?).")
    return Model.load(config.model_path, config.model_card_path, verify=True)

"""The int8 TFLite detector and its model card, run with LiteRT (never TensorFlow).

The card (``model.json`` beside ``model.tflite``) says how the input is prepared (``input``), what
the output means (a logit), the calibration ``temperature`` and the decision ``threshold``.
"""
from __future__ import annotations

import json
import os

try:  # CPython's own SHA-256: hashlib would load OpenSSL (~4-8 ms of a cold start) for one 37 KB file
    from _sha256 import sha256 as _sha256  # 3.11
except ImportError:  # pragma: no cover - other interpreters (3.12+: _sha2)
    try:
        from _sha2 import sha256 as _sha256
    except ImportError:
        from hashlib import sha256 as _sha256

import numpy as np

from .errors import ModelUnavailable
from .preprocess import InputSpec
from .verdict import Policy

PUBLIC_CARD_FIELDS = (
    "name",
    "version",
    "date",
    "architecture",
    "input",
    "output",
    "temperature",
    "threshold",
    "threshold_rule",
    "verdict_policy",
    "metrics",
    "quantization",
    "training_data",
    "licence",
    "limitations",
    "sha256",
)


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - fallback runtime
        from tflite_runtime.interpreter import Interpreter
    return Interpreter


def sha256_file(path: str) -> str:
    digest = _sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path_for(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + ".json"


def calibrate(logit: np.ndarray | float, temperature: float) -> np.ndarray:
    """Temperature-scaled probability of FAKE: ``sigmoid(logit / T)`` (numerically safe)."""
    z = np.asarray(logit, dtype=np.float64) / float(temperature)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Model:
    """A loaded interpreter plus its card. One per process (module scope in the handler)."""

    def __init__(self, path: str, card: dict) -> None:
        self.path = path
        self.card = card
        self.spec = InputSpec.from_card(self.card)
        self.policy = Policy.from_card(self.card)
        try:
            interpreter = _interpreter_class()(model_path=self.path, num_threads=1)
            interpreter.allocate_tensors()
        except Exception as exc:
            raise ModelUnavailable(f"The model file could not be loaded: {type(exc).__name__}")
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]
        self._output = interpreter.get_output_details()[0]

    @classmethod
    def load(cls, model_path: str, card_path: str | None = None, *, verify: bool = True) -> "Model":
        card_path = card_path or card_path_for(model_path)
        try:
            with open(card_path, encoding="utf-8") as fh:
                card = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"The model card {os.path.basename(card_path)} is unreadable: {exc}")
        if verify:
            expected = card.get("sha256")
            actual = sha256_file(model_path)
            if expected != actual:
                raise ModelUnavailable(
                    "The model file's sha256 does not match its card; refusing to serve."
                )
        return cls(path=model_path, card=card)

    # ------------------------------------------------------------------ card fields
    @property
    def temperature(self) -> float:
        return float(self.card.get("temperature", 1.0))

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    @property
    def identity(self) -> dict:
        return {
            "name": self.card.get("name"),
            "version": self.card.get("version"),
            "sha256": self.card.get("sha256"),
        }

    def public_card(self) -> dict:
        return {k: self.card[k] for k in PUBLIC_CARD_FIELDS if k in self.card}

    # ------------------------------------------------------------------ inference
    def logit(self, x: np.ndarray) -> float:
        """One preprocessed image (H, W, 3) float32 → the model's raw output (a logit)."""
        inp, out = self._input, self._output
        x = x[np.newaxis, ...] if x.ndim == 3 else x
        if inp["dtype"] in (np.int8, np.uint8):
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        else:
            x = x.astype(inp["dtype"], copy=False)
        self._interpreter.set_tensor(inp["index"], x)
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(out["index"])
        if out["dtype"] in (np.int8, np.uint8):
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return float(np.asarray(y).reshape(-1)[0])

    def probability(self, x: np.ndarray) -> float:
        """Calibrated P(fake) for one preprocessed image."""
        return float(calibrate(self.logit(x), self.temperature))

    def label(self, fake_probability: float) -> str:
        return "FAKE" if fake_probability >= self.threshold else "REAL"


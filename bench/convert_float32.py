"""Keras model -> float32 TFLite (no quantization), for the float32 vs int8 comparison.

Runs in .venv-baseline (TensorFlow): ``python bench/convert_float32.py models/model.keras OUT.tflite``.
The float32 file keeps the int8 file's interface (float32 image in, logit out), so the same card and
the same serving wrapper (detector.model.Model) run both.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402


def main(src: str, dst: str) -> None:
    model = tf.keras.models.load_model(src, compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    data = converter.convert()
    tmp = dst + ".part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, dst)
    print(f"float32 tflite: {len(data)} bytes -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""THE BASELINE (not part of the service): the usual deepfake-detector web app this project replaces.

Reproduced faithfully from the typical project layout: Flask, full TensorFlow/Keras imported at
module scope, the trained Keras model loaded once at import, and ``model.predict`` on every request
(multipart upload in field ``file``, Pillow to RGB, resize to the model input, /255, batch of one).
It serves the same trained model (``models/model.keras``) with the same input size and resize filter
as the card, so both stacks answer the same question. Runs only in ``.venv-baseline``.

    BASELINE_MODEL=models/model.keras flask --app bench/baseline_app.py run
"""
import io
import os

import numpy as np
import tensorflow as tf  # noqa: F401  (the point of the baseline: full TF in the process)
from flask import Flask, jsonify, request
from PIL import Image
from tensorflow.keras.models import load_model

MODEL_PATH = os.environ.get("BASELINE_MODEL", "models/model.keras")
IMG_SIZE = (256, 256)
# the card's calibration, so both stacks report the same probability for the same logit
TEMPERATURE = float(os.environ.get("BASELINE_TEMPERATURE", "1.0"))
THRESHOLD = float(os.environ.get("BASELINE_THRESHOLD", "0.5"))

app = Flask(__name__)
model = load_model(MODEL_PATH, compile=False)


@app.route("/predict", methods=["POST"])
def predict():
    if "file" not in request.files:
        return jsonify({"error": "no file"}), 400
    file = request.files["file"]
    try:
        img = Image.open(io.BytesIO(file.read())).convert("RGB")
    except Exception:
        return jsonify({"error": "not an image"}), 400
    img = img.resize(IMG_SIZE, Image.BILINEAR)
    x = np.array(img, dtype=np.float32) / 255.0
    x = np.expand_dims(x, axis=0)
    logit = float(model.predict(x, verbose=0)[0][0])
    prob = float(1.0 / (1.0 + np.exp(-logit / TEMPERATURE)))
    return jsonify({"label": "FAKE" if prob >= THRESHOLD else "REAL", "fake_probability": prob})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))

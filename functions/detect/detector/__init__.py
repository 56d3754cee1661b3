"""Deepfake image detector: decoding, preprocessing and LiteRT inference (no TensorFlow)."""

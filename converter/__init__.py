"""Training, calibration, int8 export and evaluation of the deepfake detector (TensorFlow lives here only)."""

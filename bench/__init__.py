"""`make bench`: the LiteRT/Lambda stack against a Flask + full TensorFlow baseline, side by side.

Run it with ``python -m bench`` (``--quick`` for CI). The workers (``worker_ours.py`` under a bare
Python with only the runtime layer on its path, ``worker_baseline.py`` in ``.venv-baseline``) are
plain scripts so that nothing of this package lands on their import path.
"""

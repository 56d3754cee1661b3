"""Occlusion sensitivity: which regions of a face crop pushed the int8 model toward FAKE.

The crop (the model input, H x W x 3 float32) is cut into a ``grid`` x ``grid`` lattice; each cell
in turn is covered with the crop's mean colour and the model is run again. A cell's value is
``P(fake | crop) - P(fake | crop with the cell covered)``: positive where the region pushed the
probability toward FAKE (covering it lowers P(fake)), negative where it pushed toward REAL.

The model's input is batch 1: a batched copy of the interpreter (resize_tensor_input) costs as
much per sample with XNNPACK on one thread as the plain loop (measured), so this loops.
"""
from __future__ import annotations

import numpy as np

DEFAULT_GRID = 8
MIN_GRID = 2
MAX_GRID = 16


def occlusion_map(model, x: np.ndarray, grid: int = DEFAULT_GRID) -> dict:
    """``x``: one preprocessed crop (H, W, 3). Returns {"grid", "values" (grid x grid list of
    rows, top row first), "base_probability", "max_abs", "method"}."""
    grid = int(grid)
    if not MIN_GRID <= grid <= MAX_GRID:
        raise ValueError(f"grid must be in [{MIN_GRID}, {MAX_GRID}]")
    h, w = x.shape[:2]
    ys = np.linspace(0, h, grid + 1).round().astype(int)
    xs = np.linspace(0, w, grid + 1).round().astype(int)
    fill = x.reshape(-1, x.shape[-1]).mean(axis=0).astype(x.dtype)
    base = float(model.probability(x))
    values = np.zeros((grid, grid), np.float64)
    work = x.copy()
    for r in range(grid):
        for c in range(grid):
            y0, y1, x0, x1 = ys[r], ys[r + 1], xs[c], xs[c + 1]
            saved = work[y0:y1, x0:x1].copy()
            work[y0:y1, x0:x1] = fill
            values[r, c] = base - float(model.probability(work))
            work[y0:y1, x0:x1] = saved
    return {
        "grid": grid,
        "values": [[round(float(v), 4) for v in row] for row in values],
        "base_probability": round(base, 6),
        "max_abs": round(float(np.abs(values).max()), 4),
        "method": (f"occlusion: each of {grid}x{grid} cells of the face crop covered with the crop's "
                   "mean colour; value = P(fake) - P(fake with the cell covered); positive pushed "
                   "toward FAKE"),
    }

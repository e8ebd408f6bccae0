"""Tiny synthetic image folders for training tests: coloured shapes in several formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def make_shapes(folder: Path, n: int = 12, size: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        im = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(180, 255, 3)))
        d = ImageDraw.Draw(im)
        x0, y0 = rng.integers(0, size // 2, 2)
        box = [int(x0), int(y0), int(x0) + size // 2, int(y0) + size // 2]
        colour = tuple(int(c) for c in rng.integers(0, 180, 3))
        (d.ellipse if i % 2 else d.rectangle)(box, fill=colour)
        sub = folder / ("nested" if i % 3 == 0 else ".")
        sub.mkdir(exist_ok=True)
        im.save(sub / f"shape{i:03d}.png")
    return folder

"""Model outputs -> pictures: uint8 arrays, PIL images, grids and animations."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .latent import check_finite


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] in [-1, 1] -> uint8 [B, H, W, C] (rounded)."""
    arr = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).cpu().numpy()


def to_images(img: torch.Tensor) -> list[Image.Image]:
    """[B, C, H, W] in [-1, 1] -> PIL images (uint8, rounded)."""
    arr = to_uint8(img)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    return [Image.fromarray(a[..., 0] if mode == "L" else a, mode) for a in arr]


def make_grid(images: Sequence[Image.Image], cols: int | None = None, pad: int = 2) -> Image.Image:
    """Tile images row-major into one image on a white background."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad), "white")
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid.paste(im.convert("RGB"), (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def save_animation(
    frames: Iterable[Image.Image], path: str | os.PathLike[str], fps: float = 12.0
) -> Path:
    """Write frames as an animated GIF or WebP (by the suffix of ``path``)."""
    path = Path(path)
    fmt = {".gif": "GIF", ".webp": "WEBP"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: animations are written as .gif or .webp")
    fps = check_finite("fps", fps, 1, 60)
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"lossless": True} if fmt == "WEBP" else {"optimize": False}
    frames[0].save(
        path, format=fmt, save_all=True, append_images=frames[1:],
        duration=int(round(1000 / fps)), loop=0, **extra,
    )
    return path


def upscale(image: Image.Image, factor: int) -> Image.Image:
    """Crisp (nearest-neighbour) upscaling that keeps the recipe in ``info``."""
    if factor == 1:
        return image
    out = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
    out.info.update(image.info)
    return out

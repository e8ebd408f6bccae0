"""Projection: find the latent whose image is closest to a picture, so that a person's own image
can be edited with the sliders, mixed and reproduced by a recipe.

The picture is prepared the way training data is (alpha on white, padded to square, Lanczos).
The search starts from the best of a few sampled latents, then Adam moves w (one w for every
layer, or one per layer in "w+") to lower a perceptual distance (EfficientNet-Lite0 features,
``perceptual.py``) plus a pixel term. Everything is seeded: the same picture, settings and
checkpoint give the same latent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .images import to_images
from .latent import check_int, check_seed
from .limits import MAX_PROJECT_STEPS, PROJECT_CANDIDATES
from .perceptual import PerceptualDistance
from .preprocess import MAX_PIXELS, Preprocess, prepare_image
from .recipe import Recipe, readable_file

SPACES = ("w", "w+")
PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "ICO", "MPO")
MAX_SIDE = 16384  # pixels on a picture's longer side
MAX_PADDED_SIDE = 2048  # a longer side is shrunk first: the square it is padded to stays small
PIXEL_WEIGHT = 1.0  # the pixel term's weight beside the perceptual distance
LR = 0.05
_DISTANCE: PerceptualDistance | None = None


def perceptual_distance() -> PerceptualDistance:
    """The frozen feature network, loaded once per process (20 MB of weights)."""
    global _DISTANCE
    if _DISTANCE is None:
        _DISTANCE = PerceptualDistance()
    return _DISTANCE


@dataclass
class Projection:
    """A finished projection: ``ws`` [1, num_ws, w_dim], its image, the loss at each reported
    step, and the recipe (psi 1, the latent inside) that renders the image again."""

    ws: torch.Tensor
    image: Image.Image
    losses: list[float]
    recipe: Recipe


def load_picture(image: Image.Image | str | os.PathLike[str], resolution: int) -> np.ndarray:
    """A picture (a PIL image or a file) as uint8 [R, R, 3], prepared as training data is. Every
    way a file can be wrong is one ValueError; the pixels are decoded only after the size check."""
    if isinstance(image, Image.Image):
        im = image
    else:
        path = readable_file(image)
        try:  # only picture formats: Pillow would otherwise hand EPS to Ghostscript
            im = Image.open(path, formats=PICTURE_FORMATS)
        except Image.DecompressionBombError:
            raise ValueError(f"{path}: over the {MAX_PIXELS:,} pixels a picture may have") from None
        except Exception as e:  # Pillow raises many types for files that are not images
            raise ValueError(f"{path}: not a picture ganart reads ({', '.join(PICTURE_FORMATS)}; "
                             f"{type(e).__name__})") from None
    try:
        if im.width * im.height > MAX_PIXELS or max(im.size) > MAX_SIDE:
            raise ValueError(f"the picture is {im.width}x{im.height}: over the {MAX_PIXELS:,} pixels or "
                             f"{MAX_SIDE:,} on a side a picture may have")
        try:
            if max(im.size) > MAX_PADDED_SIDE:  # padding a long strip to a square would take GBs
                im = _shrink(im, MAX_PADDED_SIDE)
            return prepare_image(im, Preprocess(resolution=resolution))
        except Exception as e:  # truncated or corrupt image data surfaces here, when it is decoded
            raise ValueError(f"the picture cannot be decoded ({type(e).__name__}: {str(e)[:80]})") from None
    finally:
        if im is not image:  # a file this function opened
            im.close()


def _shrink(im: Image.Image, side: int) -> Image.Image:
    """The first frame, its longer side cut to ``side`` (Lanczos, aspect kept)."""
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    scale = side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    if im.mode.startswith("I;16"):  # resized as 32-bit integers; prepare_image scales them to 8 bits
        im = im.convert("I")
    elif im.mode not in ("RGB", "RGBA", "L", "LA", "I", "F"):  # palette, CMYK, ...: alpha kept
        im = im.convert("RGBA")
    return im.resize(size, Image.LANCZOS)


@dataclass
class Step:
    """One reported step of a projection: ``ws`` [1, num_ws, w_dim] so far, its loss, and (every
    few steps, and at the end) its image."""

    step: int
    loss: float
    ws: torch.Tensor
    image: Image.Image | None


def _lr(step: int, steps: int) -> float:
    """Ramp up over the first 5 %, cosine down over the last 25 % (as StyleGAN2's projector)."""
    t = step / max(steps, 1)
    return LR * min(1.0, t / 0.05) * min(1.0, 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / 0.25)))


def project(G, target: np.ndarray, steps: int = 200, seed: int = 0, space: str = "w",
            every: int = 10) -> Iterator[Step]:
    """Yield the search's progress for ``target`` (uint8 [R, R, 3] at G's resolution); the last
    Step holds the answer and its image. ``steps`` 0 gives the best sampled start."""
    steps = check_int("steps", steps, 0, MAX_PROJECT_STEPS)
    every = check_int("every", every, 1, MAX_PROJECT_STEPS)
    seed = check_seed(seed)
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    res = G.cfg.resolution
    if target.shape != (res, res, 3) or target.dtype != np.uint8:
        raise ValueError(f"target must be uint8 [{res}, {res}, 3], got {target.dtype} {target.shape}")
    distance = perceptual_distance()
    t = torch.from_numpy(np.array(target, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        t_feats = distance.features(t)

    def loss_of(img: torch.Tensor) -> torch.Tensor:
        return distance(img, t_feats) + PIXEL_WEIGHT * (img - t).square().mean((1, 2, 3))

    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(PROJECT_CANDIDATES, G.cfg.z_dim, generator=g)
    with torch.no_grad():
        w = G.mapping_net(z)  # [N, w_dim], untruncated
        losses = torch.cat([loss_of(G.synthesis(G.mapping(zc))) for zc in z.split(16)])
    start = w[int(losses.argmin())][None]  # [1, w_dim]
    var = (start if space == "w" else start[:, None].repeat(1, G.num_ws, 1)).clone().requires_grad_(True)
    opt = torch.optim.Adam([var], lr=LR, betas=(0.9, 0.999))

    def ws() -> torch.Tensor:
        return (var[:, None].expand(-1, G.num_ws, -1) if space == "w" else var).detach().clone()

    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps)
        with torch.enable_grad():  # only around the step: the caller's grad mode holds across a yield
            img = G.synthesis(var[:, None].expand(-1, G.num_ws, -1) if space == "w" else var)
            loss = loss_of(img).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if (step + 1) % every == 0 and step + 1 < steps:
            yield Step(step + 1, loss.item(), ws(), to_images(img.detach())[0])
    with torch.no_grad():
        final = ws()
        img = G.synthesis(final)
        loss = float(loss_of(img).sum())
    yield Step(steps, loss, final, to_images(img)[0])

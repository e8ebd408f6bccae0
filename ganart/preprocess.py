"""Pictures made ready for a model the way its training data was: the first frame, alpha on a
background colour, padded (or cropped) to square, Lanczos-resized. Training and projection
share it, so a projected picture is prepared as the model's data was."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor

MAX_PIXELS = 8192 * 8192  # refuse decompression bombs


class DataError(ValueError):
    """A dataset problem the user can fix (missing folder, too few images, missing font)."""


@dataclass(frozen=True)
class Preprocess:
    resolution: int = 64
    background: str = "#ffffff"  # RGBA images are composited on this
    fit: str = "pad"  # non-square: "pad" to square or "crop" the centre

    def __post_init__(self) -> None:
        if not isinstance(self.resolution, int) or not 1 <= self.resolution <= 4096:
            raise DataError(f"resolution must be an integer in [1, 4096], got {self.resolution!r}")
        if self.fit not in ("pad", "crop"):
            raise DataError(f"fit must be 'pad' or 'crop', got {self.fit!r}")
        try:
            ImageColor.getrgb(self.background)
        except ValueError:
            raise DataError(f"background must be a colour like '#ffffff', got {self.background!r}") from None

    def key(self) -> str:
        return f"r{self.resolution}-{self.fit}-{self.background.lstrip('#')}"


def prepare_image(im: Image.Image, pre: Preprocess) -> np.ndarray:
    """One PIL image -> uint8 [R, R, 3]: first frame, alpha on background, square, Lanczos."""
    if getattr(im, "n_frames", 1) > 1:  # animated: the first frame
        im.seek(0)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit: scaled to 8, not clipped to white
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    bg = ImageColor.getrgb(pre.background)[:3]
    if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        base = Image.new("RGBA", im.size, bg + (255,))
        im = Image.alpha_composite(base, im)
    im = im.convert("RGB")  # greyscale, CMYK, ... -> RGB
    w, h = im.size
    if w != h:
        if pre.fit == "crop":
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        else:
            s = max(w, h)
            canvas = Image.new("RGB", (s, s), bg)
            canvas.paste(im, ((s - w) // 2, (s - h) // 2))
            im = canvas
    if im.size != (pre.resolution, pre.resolution):
        im = im.resize((pre.resolution, pre.resolution), Image.LANCZOS)
    return np.asarray(im, dtype=np.uint8)

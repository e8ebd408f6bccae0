"""Training images: a folder of the user's pictures, or the built-in ``emoji`` set.

Images are decoded and resized once into a uint8 array [N, R, R, 3], cached on disk
under a key derived from the files' contents and the preprocessing options, so epochs
never decode images again.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..cache import cached_array
from ..preprocess import MAX_PIXELS, DataError, Preprocess, prepare_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_PACKAGE = "fonts-noto-color-emoji"
EMOJI_LICENSE = (
    "Noto Color Emoji (Debian package fonts-noto-color-emoji): images Apache-2.0, font SIL OFL 1.1"
)
def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def available_memory(cgroup: Path = Path("/sys/fs/cgroup"), meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes of memory a new allocation can take: Linux's MemAvailable, or less where a
    container's cgroup (v2) limit leaves less; None where neither is known."""
    free = None
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            left = int(limit) - int((cgroup / "memory.current").read_text())
            free = left if free is None else min(free, left)
    except (OSError, ValueError):
        pass
    return free


def check_fits(n: int, resolution: int) -> None:
    """Refuse, before decoding anything, a set that cannot sit in memory ([N, R, R, 3] bytes,
    held once) with room to spare for the models and batches (a quarter of what is free)."""
    need, free = n * resolution * resolution * 3, available_memory()
    if free is not None and need > 0.75 * free:
        raise DataError(
            f"{n} images at {resolution}x{resolution} px take {need / 1e9:.1f} GB decoded; this machine "
            f"has {free / 1e9:.1f} GB of memory free: use a lower --resolution or fewer images"
        )


def _decode(blobs: Sequence[tuple[str, bytes | Path]], pre: Preprocess) -> tuple[np.ndarray, list[str]]:
    """(name, PNG bytes or a file's path) -> uint8 [N, R, R, 3] and the names that failed.
    Paths are opened one at a time, so a folder never sits in memory whole; the array is
    allocated once (a list then np.stack would hold it twice)."""
    r = pre.resolution
    check_fits(len(blobs), r)
    arr = np.empty((len(blobs), r, r, 3), np.uint8)
    good, bad = 0, []
    for name, data in blobs:
        try:
            with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError("image too large")
                im.load()
                arr[good] = prepare_image(im, pre)
            good += 1
        except Exception:  # corrupt / unsupported files are skipped and reported together
            bad.append(name)
    return (arr if good == len(arr) else arr[:good].copy()), bad


def _warn_skipped(names: list[str], where: object) -> None:
    if names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        warnings.warn(f"skipped {len(names)} unreadable image file(s) in {where}: {shown}", stacklevel=3)


def _utf8(name: str) -> bool:
    """Whether a file name (as Python decoded it from the file system) is valid UTF-8 text: a
    name with other bytes comes back with surrogates that cannot be hashed, logged or re-created."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(path relative to ``folder``, path) for every image file under it, sorted; files whose
    names are not UTF-8 are skipped with a warning that names them (as their bytes)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    files = list_images(folder)
    named = [(str(p.relative_to(folder)), p) for p in files]
    odd = [name for name, _ in named if not _utf8(name)]
    if odd:
        shown = ", ".join(repr(os.fsencode(name)) for name in odd[:3]) + (", ..." if len(odd) > 3 else "")
        warnings.warn(f"skipped {len(odd)} image file(s) in {folder} whose names are not UTF-8: {shown}",
                      stacklevel=3)
    named = [(name, p) for name, p in named if _utf8(name)]
    if not named:
        raise DataError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return named


def _file_digest(path: Path) -> bytes:
    """sha256 of a file, streamed (an unreadable file hashes as such and is skipped later)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError:
        return b"unreadable"


def load_folder(folder: str | os.PathLike[str], pre: Preprocess = Preprocess()) -> np.ndarray:
    """All readable images under ``folder`` (recursive) as uint8 [N, R, R, 3]."""
    folder = Path(folder)
    blobs = folder_files(folder)
    h = hashlib.sha256(pre.key().encode())
    for name, path in blobs:
        h.update(name.encode() + b"\0" + _file_digest(path))
    skipped: list[str] = []

    def build() -> np.ndarray:
        arr, bad = _decode(blobs, pre)
        skipped.extend(bad)
        return arr

    arr = cached_array(f"datasets/folder-{h.hexdigest()[:24]}", build)
    _warn_skipped(skipped, folder)
    if len(arr) == 0:
        raise DataError(f"{folder}: none of the {len(blobs)} image files could be read")
    return arr


def emoji_font_path() -> Path:
    path = Path(os.environ.get("GANART_EMOJI_FONT", EMOJI_FONT))
    if not path.is_file():
        raise DataError(
            f"the emoji dataset needs {path}: install the Debian package '{EMOJI_PACKAGE}' "
            f"(apt-get install {EMOJI_PACKAGE}) or set GANART_EMOJI_FONT"
        )
    return path


def emoji_pngs(font_path: Path) -> list[tuple[str, bytes]]:
    """Every colour bitmap in the font's CBDT table, as (glyph name, PNG bytes)."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(font_path), lazy=True)
    if "CBDT" not in font:
        raise DataError(f"{font_path}: has no CBDT colour bitmaps")
    strike = font["CBDT"].strikeData[0]
    return [(name, strike[name].imageData) for name in sorted(strike)]


def load_emoji(pre: Preprocess = Preprocess()) -> np.ndarray:
    font = emoji_font_path()
    key = hashlib.sha256(font.read_bytes()).hexdigest()[:24]
    arr = cached_array(f"datasets/emoji-{key}-{pre.key()}", lambda: _decode(emoji_pngs(font), pre)[0])
    return arr


def load_dataset(source: str, pre: Preprocess = Preprocess()) -> np.ndarray:
    """``emoji`` or a folder -> uint8 [N, R, R, 3]."""
    return load_emoji(pre) if source == "emoji" else load_folder(source, pre)


def export_dataset(source: str, out: str | os.PathLike[str], pre: Preprocess = Preprocess()) -> int:
    """Write ``emoji`` or a folder, preprocessed exactly as training sees it, as PNGs under ``out``.

    Emoji are named by glyph (``u1F600.png``); a folder keeps its relative paths (as .png), so
    the result can be inspected, curated and trained on as ``--data OUT``. Refuses a non-empty
    ``out`` rather than mixing with or overwriting other files. Returns the number written.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not an empty folder; choose a new --out")
    if source == "emoji":
        blobs = emoji_pngs(emoji_font_path())
    else:
        if not Path(source).is_dir():
            raise DataError(f"{source}: no such folder")
        blobs = folder_files(Path(source))
    arr, bad = _decode(blobs, pre)
    skipped = set(bad)
    names = [name for name, _ in blobs if name not in skipped]
    if not names:
        raise DataError(f"{source}: none of the {len(blobs)} image files could be read")
    _warn_skipped(bad, source)
    written: set[Path] = set()
    for name, img in zip(names, arr):
        path = (out / name).with_suffix(".png")
        if path in written:  # a.jpg beside a.png: keep both, as a.png and a_jpg.png
            path = path.with_name(f"{Path(name).stem}_{Path(name).suffix[1:]}.png")
        written.add(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    if source == "emoji":
        (out / "LICENSE.txt").write_text(EMOJI_LICENSE + "\n")
    return len(names)


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels [B, 3, R, R] -> float in [-1, 1]: the range G draws in and D reads."""
    return pixels.float().div_(127.5).sub_(1.0)


class ImageBatches:
    """Samples training batches from an in-memory uint8 array with its own generator.

    Returns float tensors [B, 3, R, R] in [-1, 1]; ``mirror`` flips half of them. With
    ``labels`` (int [N], e.g. cluster labels), ``sample_labelled`` also returns the batch's.
    """

    def __init__(self, images: np.ndarray, device: torch.device, seed: int = 0, mirror: bool = False,
                 labels: np.ndarray | None = None) -> None:
        # uint8 [N, R, R, 3], kept as given: on the CPU it shares `images`' memory (a channels-
        # first copy would hold the set twice); each batch is made channels-first instead
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long).to(device)
        self.mirror = mirror
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample(self, batch: int) -> torch.Tensor:
        return self.sample_labelled(batch)[0]

    def sample_labelled(self, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self), (batch,), generator=self.generator).to(self.images.device)
        x = to_model_range(self.images[idx].permute(0, 3, 1, 2).contiguous())
        if self.mirror:
            flip = torch.rand(batch, generator=self.generator) < 0.5
            x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
        return x, None if self.labels is None else self.labels[idx]

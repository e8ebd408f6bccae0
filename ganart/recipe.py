"""Recipes: the small JSON record that reproduces an image exactly, stored inside PNGs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from . import safejson
from .latent import check_finite, check_int, check_seed
from .limits import (
    DEFAULT_METHOD,
    EDIT_LIMIT,
    MAX_LATENT_ROWS,
    MAX_RECIPE_BYTES,
    MAX_RECIPE_FILE_BYTES,
    METHODS,
    NUM_DIRECTIONS,
    PSI_RANGE,
)
from .pngtext import PngTextError, read_text

PNG_KEY = "ganart-recipe"
RECIPE_VERSION = 1  # a recipe from a seed
LATENT_VERSION = 2  # a recipe that carries its latent (a projected image)


def encode_latent(ws: torch.Tensor) -> str:
    """A latent as text that round-trips exactly: "ROWSxDIM:" + base64 of its float32 values
    (little-endian) + ":" + the first 16 hex digits of their sha256."""
    w = ws.detach().to("cpu", torch.float32).reshape(-1, ws.shape[-1]).contiguous()
    if w.shape[0] > MAX_LATENT_ROWS or not torch.isfinite(w).all():
        raise ValueError(f"a latent is at most {MAX_LATENT_ROWS} finite rows, got {tuple(w.shape)}")
    data = w.numpy().astype("<f4").tobytes()
    return f"{w.shape[0]}x{w.shape[1]}:{base64.b64encode(data).decode()}:{hashlib.sha256(data).hexdigest()[:16]}"


def decode_latent(text: str) -> torch.Tensor:
    """The float32 tensor [rows, dim] that encode_latent wrote; ValueError for anything else."""
    try:
        shape, b64, digest = text.split(":")
        rows, dim = (int(v) for v in shape.split("x"))
        data = base64.b64decode(b64, validate=True)
    except (ValueError, TypeError):
        raise ValueError("latent must look like ROWSxDIM:BASE64:CHECKSUM") from None
    if not (1 <= rows <= MAX_LATENT_ROWS and 1 <= dim <= 4096) or len(data) != rows * dim * 4:
        raise ValueError(f"latent holds {len(data)} bytes, not {rows}x{dim} float32 values")
    if hashlib.sha256(data).hexdigest()[:16] != digest:
        raise ValueError("latent checksum does not match its values (the text was changed)")
    w = torch.from_numpy(np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(rows, dim).copy())
    if not torch.isfinite(w).all():
        raise ValueError("latent holds NaN or inf")
    return w


def check_edits(edits: Any, num_directions: int = NUM_DIRECTIONS) -> dict[int, float]:
    """Validate ``{direction_index: amount}``; JSON string keys like "3" are accepted."""
    if edits is None:
        return {}
    if not isinstance(edits, dict):
        raise ValueError(f"edits must be a dict {{direction_index: amount}}, got {type(edits).__name__}")
    out: dict[int, float] = {}
    for key, amount in edits.items():
        try:
            k = int(key)
            if isinstance(key, (bool, float)) or str(k) != str(key).strip():
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"edit direction index must be an integer, got {key!r}") from None
        if not 0 <= k < num_directions:
            raise ValueError(f"edit direction index must be in [0, {num_directions - 1}], got {k}")
        v = check_finite(f"edit amount for direction {k}", amount, -EDIT_LIMIT, EDIT_LIMIT)
        if v != 0.0:
            out[k] = v
    return dict(sorted(out.items()))


def check_layers(layers: Any) -> tuple[int, int] | None:
    """Shape check only (the model's num_ws bounds it later): None or (start, stop)."""
    if layers is None:
        return None
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) != 2:
        raise ValueError(f"layers must be None or a pair (start, stop), got {layers!r}")
    try:
        return (check_int("layer", layers[0]), check_int("layer", layers[1]))
    except ValueError:
        raise ValueError(f"layers must be a pair of integers, got {layers!r}") from None


@dataclass(frozen=True)
class Recipe:
    """Everything needed to regenerate one image bit-identically on the same device."""

    seed: int
    psi: float = 0.7
    edits: dict[int, float] = field(default_factory=dict)
    layers: tuple[int, int] | None = None  # layer range the edits apply to; None = all
    method: str = DEFAULT_METHOD  # which directions the edit indices refer to
    mix_seed: int | None = None  # style mixing: ws of mix_seed on mix_layers
    mix_layers: tuple[int, int] | None = None
    checkpoint: str = ""  # name or Hub id, informational
    sha256: str = ""  # sha256 of model.safetensors; render() checks it when set
    # the w the image starts from instead of the seed's (encode_latent): a projected picture
    latent: str = ""
    version: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "psi", check_finite("psi", self.psi, *PSI_RANGE))
        object.__setattr__(self, "edits", check_edits(self.edits))
        object.__setattr__(self, "layers", check_layers(self.layers))
        object.__setattr__(self, "mix_layers", check_layers(self.mix_layers))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.mix_seed is not None:
            object.__setattr__(self, "mix_seed", check_seed(self.mix_seed, "mix_seed"))
            if self.mix_layers is None:
                raise ValueError("mix_layers is required when mix_seed is set")
        if not isinstance(self.checkpoint, str) or not isinstance(self.sha256, str):
            raise ValueError("checkpoint and sha256 must be strings")
        if not isinstance(self.latent, str):
            raise ValueError("latent must be a string (see ganart.recipe.encode_latent)")
        if self.latent:
            decode_latent(self.latent)  # checks shape, checksum and values
        wanted = LATENT_VERSION if self.latent else RECIPE_VERSION
        if self.version != wanted:
            raise ValueError(f"unsupported recipe version {self.version!r} (a recipe {'with' if self.latent else 'without'} "
                             f"a latent is version {wanted})")

    # --- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["edits"] = {str(k): v for k, v in self.edits.items()}
        for key in ("layers", "mix_layers"):
            d[key] = list(d[key]) if d[key] is not None else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if not isinstance(data, dict):
            raise ValueError("a recipe must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown recipe keys: {', '.join(unknown)}")
        if "seed" not in data:
            raise ValueError("a recipe needs a seed")
        data = dict(data)
        for key in ("layers", "mix_layers"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = safejson.loads(text, MAX_RECIPE_BYTES)
        except ValueError as e:
            raise ValueError(f"recipe is {e}") from None
        return cls.from_dict(data)

    # --- files --------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Recipe:
        """A recipe from a ganart PNG, or from a .json file (the app's Recipe box, the API's output)."""
        path = readable_file(path)
        if path.suffix.lower() != ".json":
            return cls.from_png(path)
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text file") from None
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_png(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read the recipe that ganart embedded in a PNG it saved (its text chunk only: the
        pixels are never decoded)."""
        path = readable_file(path)
        try:
            text = read_text(path, PNG_KEY, MAX_RECIPE_BYTES)
        except PngTextError as e:
            if str(e) == "not a PNG":
                raise ValueError(f"{path}: not a PNG image (it is {_format(path)})") from None
            raise ValueError(f"{path}: not a readable image ({e})") from None
        if text is None:
            raise ValueError(f"{path}: this PNG carries no ganart recipe")
        return cls.from_json(text)


def _format(path: Path) -> str:
    """What a file that is not a PNG is, as far as its header tells (Pillow reads no pixels here)."""
    try:
        with Image.open(path) as im:
            return im.format or "unknown"
    except Exception:
        return "unknown"


def readable_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a file small enough to read (a recipe or a picture never needs 10 MB)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.stat().st_size > MAX_RECIPE_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_RECIPE_FILE_BYTES // (1024 * 1024)} MB")
    return path


def save_png(image: Image.Image, path: str | os.PathLike[str], recipe: Recipe | None = None) -> Path:
    """Save a PNG with its recipe in a text chunk (from ``recipe`` or ``image.info``)."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    text = recipe.to_json() if recipe is not None else image.info.get(PNG_KEY)
    if text:
        info.add_text(PNG_KEY, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)
    return path

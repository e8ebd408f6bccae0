"""Recipes: the small JSON record that reproduces an image exactly, stored inside PNGs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from . import safejson
from .latent import check_finite, check_int, check_seed
from .limits import (
    DEFAULT_METHOD,
    EDIT_LIMIT,
    MAX_RECIPE_BYTES,
    MAX_RECIPE_FILE_BYTES,
    METHODS,
    NUM_DIRECTIONS,
    PSI_RANGE,
)
from .pngtext import PngTextError, read_text

PNG_KEY = "ganart-recipe"
RECIPE_VERSION = 1


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
        if self.version != RECIPE_VERSION:
            raise ValueError(f"unsupported recipe version {self.version!r} (this ganart reads {RECIPE_VERSION})")

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
        path = _readable(path)
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
        path = _readable(path)
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


def _readable(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a file small enough to read (a recipe never needs 10 MB)."""
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

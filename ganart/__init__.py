"""ganart: train a GAN on your own images, then play with it.

Public API: ``Sampler``, ``Recipe``, ``ModelConfig``, ``Generator``, ``Discriminator``,
``load_checkpoint``, ``save_checkpoint``, ``CheckpointError``. Each is imported on first use,
so ``import ganart.latent`` (or the CLI's ``--help``) does not load the Sampler and its
dependencies.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from pathlib import Path
from typing import Any


def _version() -> str:
    """The installed package's version; from pyproject.toml when ganart runs from a checkout
    that was never installed (a Space installs only requirements.txt)."""
    try:
        return metadata.version("ganart")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
        return found.group(1) if found else "0+unknown"


__version__ = _version()

_EXPORTS = {
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ModelConfig": "config",
    "Discriminator": "models",
    "Generator": "models",
    "Recipe": "recipe",
    "Sampler": "sampler",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganart' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""A content-keyed cache of arrays on disk (decoded datasets, Inception features).

Keys name their content (a hash of the inputs and options), so an entry is never stale; a
broken file is rebuilt, never trusted, and nothing is pickled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .files import atomic_write


def cache_root() -> Path:
    """$GANART_CACHE, else $XDG_CACHE_HOME/ganart (~/.cache/ganart)."""
    root = os.environ.get("GANART_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ganart"
    )
    return Path(root)


def cached_array(key: str, build: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored under ``key`` (a relative path without suffix), or ``build()`` saved there."""
    path = cache_root() / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            path.unlink(missing_ok=True)
    arr = build()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)

    atomic_write(path, write)
    return arr

"""Which models the app may load, by the names a visitor sees.

By default a public app serves the folders under ``checkpoints/``, the model it was started
with, and the Hub ids listed in ``GANART_MODELS`` ("user/a,user/b@v2"); any other name is
refused with one message that says nothing about the server's files. Free-form folder paths
and Hub ids are the opt-in of whoever runs the server (``GANART_ALLOW_ANY_MODEL=1``, or
``ganart serve --allow-any-model``), for local use.

Every model has a public name that pages, recipes, links and errors show (a listed folder's
last part, a Hub id; a free-form folder, opened only on request, keeps its path) and a key:
aliases of one model share it, and resolve to the one listed when there is one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CONFIG_NAME
from .hub import HUB_ID

CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
MODELS_ENV = "GANART_MODELS"
ALLOW_ANY_ENV = "GANART_ALLOW_ANY_MODEL"
MAX_NAME = 200  # characters a model name may have
SNAPSHOT = re.compile(r"/\S*/models--[^/\s]+/snapshots/[0-9a-f]+")  # a file's folder in the Hub cache


@dataclass(frozen=True)
class Model:
    name: str  # what pages, recipes, links and errors show
    source: str  # what Sampler.load opens (a folder or a Hub id): never shown
    key: str  # one per model, whatever alias named it


def describe(source: str, by_path: bool = False) -> Model:
    """A folder path or Hub id -> its Model, named by the folder's last part (``by_path``: by its
    full path). ValueError for a name the file system cannot take."""
    source = source.strip()
    if not source or len(source) > MAX_NAME or not source.isprintable():
        raise ValueError(f"a model name is printable text of 1 to {MAX_NAME} characters")
    path = Path(source).expanduser()
    try:
        local = path.exists()
        resolved = path.resolve()
    except (OSError, RuntimeError) as e:  # too long, a symlink loop, ...
        raise ValueError(f"{source[:60]!r} is not a usable model name ({getattr(e, 'strerror', e)})") from None
    if not local and HUB_ID.match(source):
        return Model(source, source, f"hub:{source}")
    return Model(str(resolved) if by_path else resolved.name or source, str(resolved), f"dir:{resolved}")


def shipped(folder: Path = CHECKPOINTS_DIR) -> list[Model]:
    """The checkpoints that ship with the app (folders with a config.json), by name."""
    if not folder.is_dir():
        return []
    return [describe(str(p)) for p in sorted(folder.iterdir()) if (p / CONFIG_NAME).is_file()]


def listed(env: str | None = None) -> list[str]:
    """The Hub ids (or folders) named in GANART_MODELS, comma separated."""
    text = os.environ.get(MODELS_ENV, "") if env is None else env
    return [part.strip() for part in text.split(",") if part.strip()]


class Catalog:
    def __init__(self, default: str, models: Iterable[str] = (), allow_any: bool | None = None,
                 checkpoints: Path = CHECKPOINTS_DIR) -> None:
        self.allow_any = os.environ.get(ALLOW_ANY_ENV) == "1" if allow_any is None else allow_any
        self.default = describe(default)  # the operator's choice: trusted
        self._by_name: dict[str, Model] = {}
        for m in [self.default, *shipped(checkpoints), *(describe(s) for s in models)]:
            known = self._by_name.setdefault(m.name, m)
            if known.key != m.key:
                raise ValueError(f"two models would be called {m.name!r} (rename one folder): {known.source}, {m.source}")
        self._by_key = {m.key: m for m in reversed(self._by_name.values())}

    def names(self) -> list[str]:
        return list(self._by_name)

    def resolve(self, name: str | None) -> Model:
        """The model a page, link or API call names (empty: the default). Outside the list, only
        with allow_any; otherwise one ValueError that reveals nothing about the server."""
        text = name.strip() if isinstance(name, str) else ""
        if not text:
            return self.default
        if text in self._by_name:
            return self._by_name[text]
        if not self.allow_any:
            shown = text[:60] + ("…" if len(text) > 60 else "")
            raise ValueError(f"unknown model {shown!r}: this app serves {', '.join(self.names())}")
        model = describe(text, by_path=True)
        return self._by_key.get(model.key, model)

    def public(self, text: str, model: Model) -> str:
        """``text`` (an error message) with the model's server-side location (its folder, or its
        snapshot in the Hub cache) replaced by its name."""
        if model.source != model.name:
            text = text.replace(model.source, model.name)
        return SNAPSHOT.sub(model.name, text)

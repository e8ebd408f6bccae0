"""The checkpoint format: a folder with ``config.json`` + ``model.safetensors``.

This is the layout of huggingface_hub's ``PyTorchModelHubMixin``, so a Hub repo can
hold a checkpoint unchanged. ``model.safetensors`` is the EMA generator, all that sampling
needs; an optional ``discriminator.safetensors`` beside it lets ``ganart train --init-from``
fine-tune with a trained discriminator. Loading never unpickles: weights come from
safetensors, and ``.pt``/``.pkl`` files are refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import __version__, safejson
from .config import ModelConfig
from .files import atomic_write, atomic_write_bytes, fsync_dir, sha256_file
from .limits import MAX_DIRECTION_NAME, MAX_DIRECTION_NAMES, MAX_META_TEXT, METHODS
from .models import Discriminator, Generator

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
DISCRIMINATOR_NAME = "discriminator.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")
MAX_CONFIG_BYTES = 1 << 20
TOP_LEVEL_KEYS = {"format", "ganart_version", "model", "meta"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and the problem."""


@dataclass
class CheckpointMeta:
    """Free-form-but-typed metadata stored beside the model config."""

    name: str = ""
    dataset: str = ""
    images_seen: int = 0
    license: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    # what the latent directions do, by method: {"sefa": ["colour: blue ↔ red", "", ...]},
    # written by `ganart directions --name` and shown on the app's sliders
    directions: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> CheckpointMeta:
        if not isinstance(data, dict):
            raise CheckpointError(f"{path}: 'meta' must be a JSON object")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise CheckpointError(f"{path}: unknown meta keys: {', '.join(unknown)}")
        problem = meta_problem(data) or direction_names_problem(data.get("directions", {}))
        if problem:
            raise CheckpointError(f"{path}: meta.{problem}")
        return cls(**data)


_NUMBER = (int, float)


def _wrong_type(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, bool) or not isinstance(value, types)


def meta_problem(data: dict[str, Any]) -> str | None:
    """Why the fields of a checkpoint's meta have the wrong types, or None: they are shown in
    the app and the model card, so each is checked at load, before anything can rewrite them."""
    for key in ("name", "dataset", "license"):
        value = data.get(key, "")
        if not isinstance(value, str) or len(value) > MAX_META_TEXT or not value.isprintable():
            return f"{key} must be printable text of at most {MAX_META_TEXT} characters, got {value!r:.60}"
    images = data.get("images_seen", 0)
    if _wrong_type(images, (int,)) or images < 0:
        return f"images_seen must be a whole number >= 0, got {images!r:.60}"
    metrics, training = data.get("metrics", {}), data.get("training", {})
    if not isinstance(metrics, dict):
        return "metrics must be an object"
    for key, result in metrics.items():  # a figure, or a result {fid: ..., kid: ...} of figures
        values = result.items() if isinstance(result, dict) else [("", result)]
        bad = [k for k, v in values if v is not None and _wrong_type(v, (*_NUMBER, str))]
        if bad:
            return f"metrics.{key}{'.' + bad[0] if bad[0] else ''} must be a number or text"
    # training is free-form (its totals are read as 0 where they are not numbers), but an object
    if not isinstance(training, dict) or not isinstance(training.get("init_from", {}), dict):
        return "training (and its init_from) must be an object"
    return None


def direction_names_problem(names: Any) -> str | None:
    """Why ``names`` is not {method: [name, ...]}, or None (names are shown in the app, so bounded)."""
    if not isinstance(names, dict):
        return "directions: must be an object {method: [names]}"
    for method, items in names.items():
        if method not in METHODS:
            return f"directions: unknown method {method!r} ({' or '.join(METHODS)})"
        if not isinstance(items, list) or len(items) > MAX_DIRECTION_NAMES:
            return f"directions: {method}: must be a list of at most {MAX_DIRECTION_NAMES} names"
        for i, name in enumerate(items):
            if not isinstance(name, str) or len(name) > MAX_DIRECTION_NAME or not name.isprintable():
                return f"directions: {method}[{i}]: a name is printable text of at most {MAX_DIRECTION_NAME} characters, got {name!r}"
    return None


@dataclass
class Checkpoint:
    """A loaded checkpoint: the generator (eval mode), its config, metadata and identity."""

    generator: Generator
    config: ModelConfig
    meta: CheckpointMeta
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.meta.name or self.path.name


def _float_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """float32 CPU copies of a module's tensors; refuses non-finite ones."""
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in module.state_dict().items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights: {', '.join(bad[:5])}")
    return state


def _write_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt", "ganart_version": __version__}))


def _read_weights(path: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Read a safetensors file whose tensors must match ``expected`` (a module's state_dict)
    in names and shapes, float and finite; every failure is a CheckpointError naming the file."""
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            keys = set(f.keys())
            missing = sorted(set(expected) - keys)
            extra = sorted(keys - set(expected))
            if missing or extra:
                raise CheckpointError(
                    f"{path}: tensors do not match the config"
                    + (f"; missing: {', '.join(missing[:5])}" if missing else "")
                    + (f"; unexpected: {', '.join(extra[:5])}" if extra else "")
                )
            state = {}
            for k in sorted(keys):
                t = f.get_tensor(k)
                if tuple(t.shape) != tuple(expected[k].shape):
                    raise CheckpointError(
                        f"{path}: tensor {k} has shape {tuple(t.shape)}, "
                        f"config expects {tuple(expected[k].shape)}"
                    )
                if not t.is_floating_point():
                    raise CheckpointError(f"{path}: tensor {k} has dtype {t.dtype}, expected float")
                if not torch.isfinite(t).all():
                    raise CheckpointError(f"{path}: tensor {k} holds NaN or inf")
                state[k] = t.to(torch.float32)
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises its own errors for truncated/corrupt files
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({e})") from None
    return state


def save_discriminator(discriminator: torch.nn.Module, directory: str | os.PathLike[str],
                       kind: str = "residual") -> Path:
    """Write ``discriminator.safetensors`` into a checkpoint folder. ``kind`` (``ganart train
    --discriminator``) goes into its metadata; a residual D's shape is the config.json's."""
    path = Path(directory) / DISCRIMINATOR_NAME
    state = _float_state(discriminator)
    meta = {"format": "pt", "ganart_version": __version__, "discriminator": kind}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
    return path


def _discriminator_file(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if path.is_file() and path.name in (CONFIG_NAME, WEIGHTS_NAME, DISCRIMINATOR_NAME):
        path = path.parent
    return path / DISCRIMINATOR_NAME


def discriminator_kind(source: str | os.PathLike[str]) -> str | None:
    """The kind of D saved beside a checkpoint ("residual" for files from before kinds were
    recorded), or None when there is none."""
    path = _discriminator_file(source)
    if not path.is_file():
        return None
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            return (f.metadata() or {}).get("discriminator", "residual")
    except Exception as e:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({e})") from None


def read_discriminator_state(source: str | os.PathLike[str], expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The saved D's tensors, checked against ``expected`` (the state_dict of a D of its kind)."""
    return _read_weights(_discriminator_file(source), expected)


def check_discriminator(source: str | os.PathLike[str]) -> None:
    """Raise CheckpointError unless the saved D (if any) opens whole with finite float tensors."""
    kind = discriminator_kind(source)
    if kind == "residual":
        load_discriminator(source)
    elif kind is not None:
        with safe_open(_discriminator_file(source), framework="pt", device="cpu") as f:
            shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
        read_discriminator_state(source, shapes)


def load_discriminator(source: str | os.PathLike[str]) -> Discriminator | None:
    """The residual discriminator saved beside a checkpoint's generator, or None when the folder
    has none or holds another kind (sampling never needs one; fine-tuning then starts D from scratch)."""
    if discriminator_kind(source) != "residual":
        return None
    path = _discriminator_file(source)
    cfg, _ = read_config(path.parent / CONFIG_NAME)
    discriminator = Discriminator(cfg)
    discriminator.load_state_dict(read_discriminator_state(path, discriminator.state_dict()), strict=True)
    return discriminator


def save_checkpoint(
    generator: Generator, directory: str | os.PathLike[str], meta: CheckpointMeta | None = None
) -> Path:
    """Save ``generator`` (normally the EMA copy) as a checkpoint folder; returns the folder.

    Refuses non-finite weights: a checkpoint that would render NaNs is never written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = _float_state(generator)
    config = {
        "format": "ganart-checkpoint",
        "ganart_version": __version__,
        "model": generator.cfg.to_dict(),
        "meta": (meta or CheckpointMeta()).__dict__,
    }
    # weights first, config last: a folder whose config.json is new always has new weights
    _write_weights(state, directory / WEIGHTS_NAME)
    atomic_write_bytes(directory / CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode())
    fsync_dir(directory)
    return directory


def read_json(path: Path, max_bytes: int) -> Any:
    """A checkpoint's JSON file, read only when it is at most ``max_bytes``; CheckpointError naming it."""
    if path.stat().st_size > max_bytes:
        raise CheckpointError(f"{path}: {path.name} is larger than {max_bytes} bytes")
    try:
        return safejson.loads(path.read_bytes(), max_bytes)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None


def read_config(path: Path) -> tuple[ModelConfig, CheckpointMeta]:
    """Parse and validate ``config.json``; every failure is a CheckpointError naming the file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing {CONFIG_NAME}")
    data = read_json(path, MAX_CONFIG_BYTES)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: must hold a JSON object")
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise CheckpointError(f"{path}: unknown config keys: {', '.join(unknown)}")
    if data.get("format") != "ganart-checkpoint":
        raise CheckpointError(f"{path}: 'format' must be 'ganart-checkpoint', got {data.get('format')!r}")
    if "model" not in data:
        raise CheckpointError(f"{path}: missing the 'model' section")
    try:
        cfg = ModelConfig.from_dict(data["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config: {e}") from None
    return cfg, CheckpointMeta.from_dict(data.get("meta", {}), path)


def update_meta(folder: str | os.PathLike[str], **changes: Any) -> CheckpointMeta:
    """Set keys of a checkpoint's ``meta`` in its config.json (atomically; weights untouched);
    returns the new meta, validated as a load would."""
    path = Path(folder) / CONFIG_NAME
    read_config(path)  # refuse to edit a config that would not load
    data = json.loads(path.read_text(encoding="utf-8"))
    data["meta"] = {**data.get("meta", {}), **changes}
    meta = CheckpointMeta.from_dict(data["meta"], path)  # before anything is written
    atomic_write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
    return meta


def _refuse_pickles(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: refusing to load a '{path.suffix}' file. Pickle-based checkpoints can run "
            f"arbitrary code when loaded; ganart only loads a folder with {CONFIG_NAME} + {WEIGHTS_NAME}"
        )


def load_checkpoint(source: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder (or its config.json / model.safetensors) onto ``device``."""
    path = Path(source)
    _refuse_pickles(path)
    try:
        if path.is_file() and path.name in (CONFIG_NAME, WEIGHTS_NAME):
            path = path.parent
        exists = path.exists()
    except OSError as e:  # a name too long for the file system, ...
        raise CheckpointError(f"{str(path)[:60]}…: not a usable path ({e.strerror})") from None
    if not exists:
        raise CheckpointError(f"{path}: no such checkpoint folder")
    if not path.is_dir():
        raise CheckpointError(f"{path}: a checkpoint is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
    cfg, meta = read_config(path / CONFIG_NAME)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        hint = f" (found {', '.join(pickles)}, which ganart refuses to unpickle)" if pickles else ""
        raise CheckpointError(f"{weights}: missing{hint}")

    generator = Generator(cfg)
    state = _read_weights(weights, generator.state_dict())
    generator.load_state_dict(state, strict=True)
    generator.eval().requires_grad_(False).to(device)
    return Checkpoint(generator, cfg, meta, path, sha256_file(weights))


def average_checkpoints(sources: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Save the uniform average of several checkpoints' weights (and buffers, e.g. ``w_avg``) to ``out``.

    Meant for snapshots of one run: averaging EMA generators taken minutes apart acts like a
    longer EMA chosen after training (post-hoc), smoothing out the last steps' noise. All
    sources must share one model config; the result carries the newest source's metadata
    (most images seen, metrics cleared) and lists the averaged snapshots under
    ``training["averaged"]``.
    """
    if len(sources) < 2:
        raise CheckpointError(f"averaging needs at least 2 checkpoints, got {len(sources)}")
    out = Path(out)
    cks = [load_checkpoint(s) for s in sources]
    for ck in cks:
        if out.resolve() == ck.path.resolve():
            raise CheckpointError(f"{out}: is one of the sources; write the average to a new folder")
        if ck.config != cks[0].config:
            raise CheckpointError(
                f"{ck.path}: model config differs from {cks[0].path}; only one model shape can be averaged"
            )
    states = [ck.generator.state_dict() for ck in cks]
    # summed in float64, where a handful of float32 values add exactly: source order does not matter
    avg = {k: (sum(s[k].double() for s in states) / len(states)).float() for k in states[0]}
    generator = Generator(cks[0].config)
    generator.load_state_dict(avg, strict=True)
    newest = max(cks, key=lambda ck: ck.meta.images_seen).meta
    training = dict(newest.training)
    training["averaged"] = [{"path": str(ck.path), "images_seen": ck.meta.images_seen, "sha256": ck.sha256}
                            for ck in cks]
    meta = CheckpointMeta(newest.name, newest.dataset, newest.images_seen, newest.license, {}, training)
    return save_checkpoint(generator, out, meta)

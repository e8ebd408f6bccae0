"""Where a run's weights came from, and what it records about itself in its checkpoint.

After ``--init-from``, a run's images, steps and seconds count the whole lineage (the parent's
totals plus its own) and ``training["init_from"]`` holds the parent's, so the run's own share
is the difference; the command recorded is the run's own.
"""

from __future__ import annotations

from typing import Any

import torch

from ..checkpoint import (
    DISCRIMINATOR_NAME,
    CheckpointMeta,
    discriminator_kind,
    load_checkpoint,
    load_discriminator,
    read_discriminator_state,
)
from ..models import Generator, count_params, grown_state
from .config import TrainConfig, flags_for, uses_feature_network
from .data import EMOJI_LICENSE
from .projected import FEATURE_NETWORK, feature_network_sha256
from .selfsupervised import SelfSupervisedDiscriminator

PIXEL_KINDS = ("residual", "selfsupervised")  # Ds learnt from pixels: they grow with G, and share the residual D


def _total(training: dict[str, Any], key: str) -> float:
    """A count from a checkpoint's free-form ``meta.training``; one that is not a number is 0."""
    v = training.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def init_from(source: str, G: Generator, D: torch.nn.Module, kind: str) -> tuple[dict[str, Any], str]:
    """Load G (and D, if the checkpoint saved one of this run's ``kind``) from ``source``: of this
    shape, or a narrower one grown into it with the same outputs (a residual or self-supervised D
    grows with G, and either gives the other its residual D; the projected heads do not depend on
    G's shape). -> (the parent's record, a line for the user)."""
    src = load_checkpoint(source)
    if src.config.classes != G.cfg.classes:
        raise ValueError(f"{source}: trained with --clusters {src.config.classes}, this run has --clusters "
                         f"{G.cfg.classes}: z's regions cannot change in a fine-tune (start from scratch)")
    problem = src.config.growth_problem(G.cfg)
    if problem:
        raise ValueError(f"{source}: cannot fine-tune into this model shape: {problem}")
    G.load_state_dict(grown_state(src.generator.state_dict(), G))
    saved_kind = discriminator_kind(source)
    saved_D, into = None, D
    if saved_kind in PIXEL_KINDS and kind in PIXEL_KINDS:
        saved_D = load_discriminator(source) if saved_kind == "residual" else SelfSupervisedDiscriminator(src.config)
        if saved_kind != "residual":
            saved_D.load_state_dict(read_discriminator_state(source, saved_D.state_dict()))
        if saved_kind != kind:  # the residual D within a self-supervised one, or the other way
            saved_D, into = (saved_D.pixel, D) if kind == "residual" else (saved_D, D.pixel)
        into.load_state_dict(grown_state(saved_D.state_dict(), into))
    elif saved_kind == kind:
        D.load_state_dict(read_discriminator_state(source, D.state_dict()))
    parent = {"source": str(source), "sha256": src.sha256, "images_seen": src.meta.images_seen,
              "steps": int(_total(src.meta.training, "steps")), "seconds": float(_total(src.meta.training, "seconds"))}
    if saved_kind is None:
        d_line = f"no {DISCRIMINATOR_NAME} there, so D starts from scratch (--d-warmup-kimg helps)"
    elif saved_kind != kind and saved_D is None:
        d_line = (f"its {DISCRIMINATOR_NAME} is a {saved_kind} D and this run trains a {kind} one, so D starts "
                  "from scratch (--d-warmup-kimg helps)")
    elif saved_kind != kind:
        d_line = (f"D's residual part from its {DISCRIMINATOR_NAME}" +
                  (" (the decoders start from scratch)" if kind == "selfsupervised" else " (its decoders are left out)"))
    else:
        d_line = f"D from its {DISCRIMINATOR_NAME}"
    message = f"ganart train: G from {source}; {d_line}"
    grown = [f"{name} {count_params(old):,} -> {count_params(new):,}" for name, old, new in (("G", src.generator, G), ("D", saved_D, into))
             if old is not None and count_params(old) != count_params(new)]
    if grown:
        message += "; grown to this shape, same outputs (parameters " + ", ".join(grown) + ")"
    return parent, message


def run_meta(cfg: TrainConfig, name: str, nimg: int, steps: int, seconds: float, aug_p: float,
             parent: dict[str, Any] | None, device: torch.device, world: int) -> CheckpointMeta:
    """The checkpoint metadata of a run that has shown ``nimg`` images in ``steps`` steps."""
    before = parent or {"images_seen": 0, "steps": 0, "seconds": 0.0}
    where = str(device) + ("" if device.type == "cpu" else f" ({torch.cuda.get_device_name(device)})")
    return CheckpointMeta(
        name=name,
        dataset=cfg.data,
        images_seen=before["images_seen"] + nimg,
        license=EMOJI_LICENSE if cfg.data == "emoji" else "",
        training={
            "command": "ganart train " + " ".join(flags_for(cfg)),
            "steps": before["steps"] + steps,
            "seconds": round(before["seconds"] + seconds, 1),
            "device": where,
            "world_size": world,
            "aug_p": round(aug_p, 4),
            "discriminator": cfg.discriminator,
        } | ({"feature_network": f"{FEATURE_NETWORK}, sha256 {feature_network_sha256()}"}
             if uses_feature_network(cfg.discriminator) else {}) | ({"init_from": parent} if parent else {}),
    )

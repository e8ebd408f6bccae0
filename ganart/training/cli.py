"""``ganart train``: one flag per TrainConfig field; the same command alone or under
``torchrun --nproc_per_node=N -m ganart train``."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields

from . import distributed as dist
from .config import (
    AUTO_CLUSTERS,
    AUTO_THREADS,
    DISCRIMINATOR_DEFAULTS,
    DISCRIMINATORS,
    LOSSES,
    LR_DECAYS,
    TrainConfig,
)
from .loop import Trainer

CHOICES = {"discriminator": DISCRIMINATORS, "loss": LOSSES, "lr_decay": LR_DECAYS}


def auto_or_number(auto: int):
    """A flag's parser for "auto" (read as ``auto``) or a whole number."""
    def parse(text: str) -> int:
        if text == "auto":
            return auto
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None
    return parse


PARSERS = {"clusters": auto_or_number(AUTO_CLUSTERS), "threads": auto_or_number(AUTO_THREADS)}
SHOWN = {"clusters": "auto", "threads": "auto"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, same name with dashes. A flag not given is absent from the
    parsed namespace, so its default can depend on --discriminator (TrainConfig.create)."""
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = SHOWN.get(f.name, f.default)
        special = {k: v[f.name] for k, v in DISCRIMINATOR_DEFAULTS.items() if f.name in v}
        shown = f"default: {default!r}" + "".join(f"; {v!r} with --discriminator {k}" for k, v in special.items())
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=shown)
        else:
            parser.add_argument(flag, dest=f.name, type=PARSERS.get(f.name, type(f.default)),
                                default=argparse.SUPPRESS, help=shown, choices=CHOICES.get(f.name))


def config_from(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.create(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    trainer = Trainer(cfg)
    cfg = trainer.cfg  # resolved (batch 0 -> the device's default): what the run records
    if cfg.dry_run:
        print(json.dumps({"config": asdict(cfg), "model": asdict(cfg.model_config()), "gamma": cfg.gamma,
                          "params": trainer.param_counts(), "device": str(trainer.device),
                          "world_size": trainer.world, "amp_bf16": trainer.amp}, indent=2))
        return 0
    trainer.fit()
    dist.finish(trainer.world)
    return 0

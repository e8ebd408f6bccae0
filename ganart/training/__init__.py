"""Training a GAN: ``TrainConfig`` (the options), ``Trainer`` (the loop) and their parts.

config.py the options · data.py the images · augment.py DiffAugment/ADA · loss.py the G and D
losses · snapshot.py exact resume · distributed.py torchrun · hardware.py device and bf16 ·
lineage.py what a run records of its parent · loop.py the Trainer · cli.py ``ganart train``.
"""

from .config import TrainConfig
from .loop import Trainer

__all__ = ["TrainConfig", "Trainer"]

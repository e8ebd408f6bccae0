"""ganart: train a GAN on your own images, then play with it.

Public API: ``Sampler``, ``Recipe``, ``GeneratorConfig``, ``Generator``, ``load_checkpoint``.
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from .config import GeneratorConfig  # noqa: E402
from .models import Discriminator, Generator  # noqa: E402
from .sampler import Recipe, Sampler  # noqa: E402,F401

__all__ = [
    "CheckpointError",
    "Discriminator",
    "Generator",
    "GeneratorConfig",
    "Recipe",
    "Sampler",
    "__version__",
    "load_checkpoint",
    "save_checkpoint",
]

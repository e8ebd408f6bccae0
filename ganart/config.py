"""Typed, validated configuration for the generator and discriminator.

Validation happens in ``__post_init__`` so that an impossible config fails with a
``ValueError`` naming the field before a single tensor is allocated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .limits import RENDER_MEMORY_ENV, render_budget_bytes

MAX_PARAMS = 200_000_000
# fields that set channel widths (or none at all): the ones a checkpoint may be grown along
_WIDTH_FIELDS = ("channel_base", "channel_max", "channel_min", "g_channels", "d_channel_base", "d_channel_max",
                 "mbstd_group")


def _is_pow2(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model: the style-based generator and the discriminator trained with it.

    Channels at resolution ``r`` are ``min(channel_base // r, channel_max)``, so the
    cheap low resolutions are wide and the expensive high ones narrow; ``g_channels``
    sets G's widths level by level instead, where the formula cannot (e.g. 256 at 8 px
    with 64 at 16 px).
    """

    resolution: int = 64
    z_dim: int = 256
    w_dim: int = 256
    # The default shape is sized for CPU training (benchmarks/train_speed.py --shapes ...):
    # 128-64-32-16 channels from 8 px up train 4.5x faster per image than 2048x256 here.
    mapping_layers: int = 2
    mapping_lr_mul: float = 0.01
    channel_base: int = 1024
    channel_max: int = 128
    channel_min: int = 16
    img_channels: int = 3
    use_noise: bool = True
    d_channel_base: int = 0  # 0: same as channel_base
    d_channel_max: int = 0  # 0: same as channel_max
    mbstd_group: int = 4
    # G's widths from 4 px up, one per level; empty: the channel_base formula. D keeps its own.
    g_channels: tuple[int, ...] = ()
    # > 0: z's space is cut into this many regions, one per cluster of the training images
    # (ganart.training.clusters); G adds its region's learned embedding to z and D is told each
    # image's cluster. G still maps z alone, so every caller of a conditional model is unchanged.
    classes: int = 0

    def __post_init__(self) -> None:
        _check_int("resolution", self.resolution, 16, 512)
        if not _is_pow2(self.resolution):
            raise ValueError(f"resolution must be a power of two, got {self.resolution}")
        _check_int("z_dim", self.z_dim, 1, 4096)
        _check_int("w_dim", self.w_dim, 1, 4096)
        _check_int("mapping_layers", self.mapping_layers, 1, 16)
        _check_int("channel_base", self.channel_base, 16, 1 << 20)
        _check_int("channel_max", self.channel_max, 1, 4096)
        _check_int("channel_min", self.channel_min, 1, 4096)
        if self.channel_min > self.channel_max:
            raise ValueError(
                f"channel_min ({self.channel_min}) must not exceed channel_max ({self.channel_max})"
            )
        _check_int("img_channels", self.img_channels, 1, 4)
        _check_int("d_channel_base", self.d_channel_base, 0, 1 << 20)
        _check_int("d_channel_max", self.d_channel_max, 0, 4096)
        _check_int("mbstd_group", self.mbstd_group, 1, 64)
        _check_int("classes", self.classes, 0, 1024)
        if isinstance(self.g_channels, list):  # from JSON
            object.__setattr__(self, "g_channels", tuple(self.g_channels))
        if not isinstance(self.g_channels, tuple):
            raise ValueError(f"g_channels must be a list of integers, got {self.g_channels!r}")
        if self.g_channels:
            levels = len(self.resolutions)
            if len(self.g_channels) != levels:
                raise ValueError(
                    f"g_channels needs one width per level ({levels}: 4 px to {self.resolution} px), "
                    f"got {len(self.g_channels)}"
                )
            for res, c in zip(self.resolutions, self.g_channels):
                _check_int(f"g_channels at {res} px", c, 1, 4096)
        lr = self.mapping_lr_mul
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not (0 < lr <= 1):
            raise ValueError(f"mapping_lr_mul must be a number in (0, 1], got {lr!r}")
        if not isinstance(self.use_noise, bool):
            raise ValueError(f"use_noise must be true or false, got {self.use_noise!r}")
        n = self.generator_params()
        if n > MAX_PARAMS:
            raise ValueError(
                f"channel_base/channel_max/w_dim give a generator of {n:,} parameters, "
                f"over the {MAX_PARAMS:,} limit"
            )

    # --- derived shape -------------------------------------------------------------
    @property
    def log2_res(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def resolutions(self) -> list[int]:
        """Synthesis block resolutions: 4, 8, ..., resolution."""
        return [2**i for i in range(2, self.log2_res + 1)]

    def channels(self, res: int) -> int:
        if self.g_channels:
            return self.g_channels[int(math.log2(res)) - 2]
        return max(min(self.channel_base // res, self.channel_max), self.channel_min)

    def d_channels(self, res: int) -> int:
        base = self.d_channel_base or self.channel_base
        cmax = self.d_channel_max or self.channel_max
        return max(min(base // res, cmax), self.channel_min)

    @property
    def num_ws(self) -> int:
        """One w per conv layer plus one for the final toRGB: 1 at 4x4, 2 per block above."""
        return 2 * (self.log2_res - 2) + 2

    def generator_params(self) -> int:
        """Parameter count computed arithmetically (no tensors), for validation."""
        n = self.z_dim * self.w_dim + self.w_dim  # first mapping layer
        n += self.classes * self.z_dim  # the regions' embeddings
        n += (self.mapping_layers - 1) * (self.w_dim * self.w_dim + self.w_dim)
        c4 = self.channels(4)
        n += c4 * 16  # learned constant

        def conv(cin: int, cout: int, k: int = 3) -> int:
            noise = 1 if self.use_noise else 0
            return cin * cout * k * k + cout + self.w_dim * cin + cin + noise  # conv, affine, noise

        def torgb(cin: int) -> int:
            return cin * self.img_channels + self.img_channels + self.w_dim * cin + cin

        n += conv(c4, c4) + torgb(c4)
        for res in self.resolutions[1:]:
            cin, cout = self.channels(res // 2), self.channels(res)
            n += conv(cin, cout) + conv(cout, cout) + torgb(cout)
        return n

    def render_bytes_per_image(self) -> int:
        """Memory one image takes while G renders it, from the shape alone (as the parameter
        count is): seven float32 activations the size of each level. Peaks measured with VmHWM
        (64 to 512 px, 128 to 256 channels, batches of 1 to 32) were 0.5 to 0.9 of it."""
        return 7 * 4 * sum(res * res * max(self.channels(res), self.img_channels) for res in self.resolutions)

    def render_chunk(self) -> int:
        """How many images of this shape one forward pass may render within the render-memory
        budget (GANART_RENDER_MEMORY_MB; at most 32); ValueError when even one would not fit."""
        per_image, budget = self.render_bytes_per_image(), render_budget_bytes()
        if per_image > budget:
            raise ValueError(
                f"this model ({self.resolution} px) needs about {per_image / 2**20:,.0f} MB to render one image, over "
                f"the render-memory budget of {budget / 2**20:,.0f} MB (set {RENDER_MEMORY_ENV} to allow more)")
        return max(1, min(32, budget // per_image))

    def growth_problem(self, wider: ModelConfig) -> str | None:
        """Why this shape's weights cannot be grown into ``wider`` (None when they can).

        Growing (``models.grown_state``) adds channels to layers and nothing else: every
        other field must match, no layer may lose channels, and D's 4x4 level keeps its
        width: its minibatch-std channel sits after the others and its dense head flattens
        [C, 4, 4], so a wider C would move the weights the old ones line up with.
        """
        fixed = [f.name for f in fields(self) if f.name not in _WIDTH_FIELDS]
        diff = [f"{k} {getattr(self, k)!r} -> {getattr(wider, k)!r}" for k in fixed
                if getattr(self, k) != getattr(wider, k)]
        if diff:
            return "only channel widths can change; " + ", ".join(diff)
        for side, width in (("G", ModelConfig.channels), ("D", ModelConfig.d_channels)):
            for res in self.resolutions:
                old, new = width(self, res), width(wider, res)
                pinned = side == "D" and res == 4
                if new < old or (pinned and new != old):
                    keep = "keep" if pinned else "at least keep"
                    return f"{side} at {res}x{res} would go from {old} to {new} channels; it must {keep} {old}"
        return None

    # --- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**data)

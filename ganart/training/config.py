"""TrainConfig: every training option, one command-line flag each (``ganart train --help``).

The comments beside the defaults say why each is what it is; docs/training.md has the
measurements behind them and docs/configs.md the advice for other data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..config import ModelConfig
from .augment import POLICIES

LR_DECAYS = ("none", "linear", "cosine")
DISCRIMINATORS = ("residual", "projected", "residual+projected", "selfsupervised")
LOSSES = ("standard", "relativistic")
AUTO_CLUSTERS = -1  # --clusters auto: ganart.training.clusters.resolve picks K from the data
AUTO_THREADS = -1  # --threads auto: ganart.training.threads picks the fastest count as the run goes
# What a discriminator trains best with, where it differs from the field defaults below; a flag
# given on the command line still wins (TrainConfig.create). The projected one follows the
# published recipe: hinge loss, no R1, DiffAugment on every image, equal learning rates.
DISCRIMINATOR_DEFAULTS: dict[str, dict[str, object]] = {
    "residual": {},
    "projected": {"lr_g": 0.0002, "lr_d": 0.0002, "r1_gamma": 0.0, "augment": "color,translation,cutout",
                  "aug_p": 1.0, "ada_max_p": 1.0, "ada_target": 0.0, "batch": 32},
    "residual+projected": {},
    "selfsupervised": {},
}


def uses_feature_network(kind: str) -> bool:
    """Whether a --discriminator kind looks through the frozen ImageNet network."""
    return "projected" in kind


def lr_scale(nimg: int, total: int, kind: str) -> float:
    """The learning-rate multiplier after `nimg` of a run's `total` images: 1 for "none"; "linear"
    and "cosine" fall from 1 to 0 at `total` (and stay there)."""
    if kind == "none":
        return 1.0
    t = min(max(nimg / total, 0.0), 1.0)
    return 1.0 - t if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))



@dataclass
class TrainConfig:
    """Every training option; ``ganart train --help`` lists them with these defaults."""

    data: str = "emoji"  # a folder of images, or "emoji"
    out: str = "checkpoints/run"
    # model shape
    resolution: int = ModelConfig.resolution
    z_dim: int = ModelConfig.z_dim
    w_dim: int = ModelConfig.w_dim
    mapping_layers: int = ModelConfig.mapping_layers
    channel_base: int = ModelConfig.channel_base
    channel_max: int = ModelConfig.channel_max
    # G's widths per level from 4 px up, e.g. "256,256,64,32,16" ("": the channel_base formula)
    g_channels: str = ""
    # D's own widths (0: the same as G's); a wider G than D costs less per image, as D runs 3x per step
    d_channel_base: int = ModelConfig.d_channel_base
    d_channel_max: int = ModelConfig.d_channel_max
    # Off by default: per-pixel noise turned into coloured speckle on flat emoji art in every
    # run that had it (docs/training.md); --use-noise for photos with stochastic detail.
    use_noise: bool = False
    # residual: a ResNet D learnt from pixels, logistic loss with R1. projected: D's heads judge
    # the features of a frozen ImageNet EfficientNet-Lite0 (ganart.training.projected), hinge loss.
    # residual+projected: both, their losses summed (the heads train at --lr-heads).
    # selfsupervised: the residual D whose features must also rebuild each real image (FastGAN's
    # decoders, ganart.training.selfsupervised).
    discriminator: str = "residual"
    feature_size: int = 128  # projected: images are resized to this before the frozen network
    # standard: each D's own loss (logistic for the residual D, hinge for the projected one).
    # relativistic (residual or selfsupervised D): R3GAN's (Huang et al. 2024) paired loss, softplus(D(fake) -
    # D(real)) for D and the reverse for G, with R2 (the gradient penalty on fakes) beside R1.
    loss: str = "standard"
    # residual+projected: the projected heads' rate (the published one; like --lr-d, it takes
    # lazy R1's correction, r1_interval / (r1_interval + 1), as one optimiser steps both)
    lr_heads: float = 0.0002
    # Self-conditioning (ganart.training.clusters): the images' k-means clusters of 8x8 colour
    # thumbnails become classes; D judges each image with its cluster, and each fake's cluster is
    # the region of z it came from, so G has to cover every cluster. 0: off (unconditional).
    # auto (-1): the resumed snapshot's or --init-from's K, else one per ~100 images, at most 16,
    # and off below 200 images. At 16 on emoji it beat the unconditional G by 25 FID in 2 hours
    # (docs/training.md).
    clusters: int = AUTO_CLUSTERS
    # Diversity-sensitive G (Yang et al. 2019): half of each G batch are z's drawn in the same
    # regions as the other half, and G's loss adds this weight times how far short of the real
    # images' spread in their cluster those pairs fall (0: off). Against the collapse within a
    # cluster that --clusters leaves open. 1 tied or lost against 0 at 75 min on emoji (its pairs
    # were already as spread as the reals'; docs/training.md).
    diversity: float = 0.0
    mbstd_group: int = ModelConfig.mbstd_group  # D's minibatch-std group: larger sees more of the batch's diversity
    # length
    # Global batch, split across ranks; 0: 8 per rank on CPU, 32 per rank on CUDA. On the CPU
    # 8 gives 4x the updates of 32 for ~13 % fewer images/s; at equal images (43.7 kimg) batch 8
    # scored FID 143.8, 16 149.8-152.1, 32 169.6-180.9 (docs/training.md). A GPU step
    # costs about the same at 8 or 32 (Python dispatch), so there the larger batch is free.
    # Late, fine-tuning the shipped model, batch 32 won instead (FID 110.3 vs 121.8 in 65 min)
    # and 64 then tied with 32: continue a long run with --batch 32 (or 64) --amp off.
    batch: int = 0
    kimg: float = 0.0  # stop after this many thousand real images shown (0: no limit)
    minutes: float = 0.0  # stop after this many minutes (0: no limit)
    max_steps: int = 0  # stop after this many steps (0: no limit)
    # optimisation
    # G slower than D (TTUR): at 64 px, equal rates (0.0025) collapsed to one shape by ~20 kimg
    # (with or without DiffAugment at p = 1), lr_g 0.001 kept varied shapes (one seed, 25 kimg each; docs/training.md).
    lr_g: float = 0.001
    lr_d: float = 0.0025
    r1_gamma: float = 0.1  # picked by hand, not by a sweep; -1: 0.0002 * resolution^2 / batch (SG2-ADA's heuristic)
    r1_interval: int = 16
    # LeCam regulariser weight (Tseng et al. 2021, for limited data; 0: off): D's logits on reals
    # are pulled toward a running mean of its fake logits and vice versa, which bounds how far
    # apart an overfitting D can push them.
    lecam: float = 0.0
    # Anneal both learning rates over the run's --kimg (none | linear | cosine, falling to 0 at
    # --kimg): a late run that swings from snapshot to snapshot settles instead.
    lr_decay: str = "none"
    style_mixing: float = 0.5
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    # data and augmentation
    mirror: bool = False
    fit: str = "pad"
    background: str = "#ffffff"
    # Policies in the order applied (ganart.training.augment.POLICIES), "" for none. "geom" (ADA's scaling
    # and rotation) lowered D's overfitting and FID in an emoji A/B (docs/training.md).
    augment: str = "geom,color,translation,cutout"
    aug_p: float = 0.0  # initial augmentation probability
    ada_target: float = 0.6  # target for r_t = E[sign(D(real))]; 0 keeps aug_p fixed
    # ADA never raises p above this. At p = 1 every real is augmented, so D never sees a clean
    # image and the transforms (rotation above all) "leak" into G's output (Karras et al. 2020,
    # ADA, sec. 2.2; safe to ~0.8 there). 0.8 also beat 1.0 in an emoji A/B (docs/training.md).
    ada_max_p: float = 0.8
    ada_kimg: float = 100.0  # images (k) for p to move 0 -> 1
    ada_interval: int = 4
    # checkpoints
    snapshot_kimg: float = 50.0
    snapshot_minutes: float = 0.0
    keep: int = 3
    resume: str = ""  # "auto": newest good snapshot in --out; or a snapshot folder
    init_from: str = ""  # fine-tune from this checkpoint's generator (and discriminator, if saved)
    # Train D alone for the first this many kimg. When --init-from has no discriminator, D starts
    # from random weights and its first gradients would only push the trained G off course.
    d_warmup_kimg: float = 0.0
    grid: int = 36  # fixed-seed sample grid images per snapshot
    # evaluation (needs the metrics extra; Inception on CPU is ~0.3 s/image, so off by default)
    eval_every: float = 0.0  # log FID/KID every this many kimg (0: never)
    eval_n: int = 500  # generated samples per evaluation (seeds 0..eval_n-1)
    # machinery
    seed: int = 0
    device: str = "auto"
    # "auto": bf16 on CUDA and on CPUs with native bf16 (AVX-512 BF16 or AMX: ~27 % more images/s
    # here, and FID on par at equal images, docs/training.md); fp32 elsewhere. Or "bf16", "off".
    amp: str = "auto"
    # CPU threads: auto keeps the fastest count as the load on the machine changes; a number (0:
    # torch's default) fixes it, which a run that must repeat or resume bit for bit needs
    threads: int = AUTO_THREADS
    log_every: int = 20
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.batch < 0:
            raise ValueError(f"batch must be at least 1 (or 0 for the device's default), got {self.batch}")
        for name in ("r1_interval", "ada_interval", "keep", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("kimg", "minutes", "snapshot_kimg", "snapshot_minutes", "ema_kimg", "ada_kimg", "eval_every",
                     "d_warmup_kimg", "lecam", "diversity"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if not 2 <= self.eval_n <= 50_000:
            raise ValueError(f"eval_n must be in [2, 50000], got {self.eval_n}")
        if self.max_steps < 0 or self.grid < 0:
            raise ValueError("max_steps and grid must be >= 0")
        if self.threads < AUTO_THREADS:
            raise ValueError(f"threads must be auto or a whole number >= 0, got {self.threads}")
        for name in ("lr_g", "lr_d", "lr_heads"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("aug_p", "style_mixing", "ada_target", "ada_max_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.aug_p > self.ada_max_p:
            raise ValueError(f"aug_p ({self.aug_p}) must not exceed ada_max_p ({self.ada_max_p})")
        bad = [p for p in self.policy if p not in POLICIES]
        if bad:
            raise ValueError(f"augment: unknown policy {bad[0]!r} (choose from {', '.join(POLICIES)})")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}")
        if self.lr_decay != "none" and self.kimg <= 0:
            raise ValueError(f"lr_decay {self.lr_decay} needs --kimg: the schedule is measured in images")
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {self.discriminator!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss == "relativistic" and uses_feature_network(self.discriminator):
            raise ValueError("loss relativistic pairs the residual D's logits: use it with --discriminator "
                             "residual or selfsupervised")
        if not AUTO_CLUSTERS <= self.clusters <= 1024:
            raise ValueError(f"clusters must be auto or in [0, 1024], got {self.clusters}")
        if self.clusters > 0 and self.discriminator == "projected":
            raise ValueError("clusters conditions the residual D: use it with --discriminator residual, "
                             "residual+projected or selfsupervised")
        if self.feature_size % 32 or not 64 <= self.feature_size <= 512:
            raise ValueError(f"feature_size must be a multiple of 32 in [64, 512], got {self.feature_size}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be auto, bf16 or off, got {self.amp!r}")
        # one spelling ("256,256,64"), so a resume's shape check does not see " 256, 256,64" as another shape
        self.g_channels = ",".join(map(str, parse_widths(self.g_channels)))
        self._model_config(max(self.clusters, 0))  # validates the model shape

    @classmethod
    def create(cls, **given: object) -> TrainConfig:
        """A config from the options a person gave; the rest take their discriminator's defaults."""
        kind = given.get("discriminator", cls.discriminator)
        if kind not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {kind!r}")
        return cls(**(DISCRIMINATOR_DEFAULTS[str(kind)] | given))  # type: ignore[arg-type]

    @property
    def policy(self) -> tuple[str, ...]:
        return tuple(p for p in self.augment.split(",") if p)

    @property
    def gamma(self) -> float:
        if self.r1_gamma >= 0:
            return self.r1_gamma
        if self.batch == 0:
            raise ValueError("r1_gamma -1 scales with the batch: resolve batch 0 first (Trainer does)")
        return 0.0002 * self.resolution**2 / self.batch

    def model_config(self) -> ModelConfig:
        if self.clusters == AUTO_CLUSTERS:
            raise ValueError("clusters auto depends on the data and the run: resolve it first (Trainer does)")
        return self._model_config(self.clusters)

    def _model_config(self, classes: int) -> ModelConfig:
        return ModelConfig(
            resolution=self.resolution, z_dim=self.z_dim, w_dim=self.w_dim,
            mapping_layers=self.mapping_layers, channel_base=self.channel_base,
            channel_max=self.channel_max, use_noise=self.use_noise, mbstd_group=self.mbstd_group,
            d_channel_base=self.d_channel_base, d_channel_max=self.d_channel_max,
            g_channels=parse_widths(self.g_channels), classes=classes,
        )


def parse_widths(text: str) -> tuple[int, ...]:
    """ "256,256,64" -> (256, 256, 64); "" -> ()."""
    try:
        return tuple(int(part) for part in text.split(",")) if text.strip() else ()
    except ValueError:
        raise ValueError(f"g_channels must be comma-separated integers like 256,256,64,32,16, got {text!r}") from None


def flags_for(cfg: TrainConfig) -> list[str]:
    """The flags that reproduce ``cfg`` (for the model card): those not at its discriminator's defaults."""
    default = TrainConfig.create(discriminator=cfg.discriminator)
    out = []
    for f in fields(TrainConfig):
        v = getattr(cfg, f.name)
        if v != getattr(default, f.name) or f.name in ("data", "out") or (
                f.name == "discriminator" and v != TrainConfig.discriminator):
            flag = "--" + f.name.replace("_", "-")
            if isinstance(v, bool):
                out.append(flag if v else "--no-" + f.name.replace("_", "-"))
            else:
                out += [flag, str(v)]
    return out

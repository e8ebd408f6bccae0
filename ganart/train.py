"""Training: ``ganart train --data DIR|emoji --out checkpoints/NAME``.

One ``TrainConfig`` dataclass holds every knob; each field is a command-line flag of the
same name. The same command runs alone or under ``torchrun --nproc_per_node=N -m ganart train``.

Loop, per step: a generator step (non-saturating logistic loss), a discriminator step
(logistic loss + lazy R1 every ``r1_interval`` steps), an ADA-style update of the
augmentation probability, and an EMA update of the generator the app uses.

Data-parallel training averages gradients across ranks with one all-reduce per step
(gloo on CPU, NCCL on CUDA), as stylegan3's loop does: R1 needs a double backward,
which DistributedDataParallel's hooks do not support.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from . import __version__
from .augment import POLICIES, augment
from .checkpoint import (
    CONFIG_NAME,
    DISCRIMINATOR_NAME,
    WEIGHTS_NAME,
    CheckpointMeta,
    load_checkpoint,
    load_discriminator,
    save_checkpoint,
    save_discriminator,
)
from .config import GeneratorConfig
from .data import EMOJI_LICENSE, ImageBatches, Preprocess, load_dataset
from .card import write_card
from .latent import seeds_to_z
from .models import Discriminator, Generator, grown_state
from .sampler import make_grid, parse_device, resolve_device, to_images

STATE_NAME = "state.safetensors"
SNAPSHOTS = "snapshots"


@dataclass
class TrainConfig:
    """Every training option; ``ganart train --help`` lists them with these defaults."""

    data: str = "emoji"  # a folder of images, or "emoji"
    out: str = "checkpoints/run"
    # model shape
    resolution: int = GeneratorConfig.resolution
    z_dim: int = GeneratorConfig.z_dim
    w_dim: int = GeneratorConfig.w_dim
    mapping_layers: int = GeneratorConfig.mapping_layers
    channel_base: int = GeneratorConfig.channel_base
    channel_max: int = GeneratorConfig.channel_max
    # G's widths per level from 4 px up, e.g. "256,256,64,32,16" ("": the channel_base formula)
    g_channels: str = ""
    # D's own widths (0: the same as G's); a wider G than D costs less per image, as D runs 3x per step
    d_channel_base: int = GeneratorConfig.d_channel_base
    d_channel_max: int = GeneratorConfig.d_channel_max
    # Off by default: per-pixel noise turned into coloured speckle on flat emoji art in every
    # run that had it (README, "Training defaults"); --use-noise for photos with stochastic detail.
    use_noise: bool = False
    mbstd_group: int = GeneratorConfig.mbstd_group  # D's minibatch-std group: larger sees more of the batch's diversity
    # length
    # Global batch, split across ranks; 0: 8 per rank on CPU, 32 per rank on CUDA. On the CPU
    # 8 gives 4x the updates of 32 for ~13 % fewer images/s; at equal images (43.7 kimg) batch 8
    # scored FID 143.8, 16 149.8-152.1, 32 169.6-180.9 (README, "Training defaults"). A GPU step
    # costs about the same at 8 or 32 (Python dispatch), so there the larger batch is free.
    # Late, fine-tuning the shipped model, batch 32 won instead (FID 110.3 vs 121.8 in 65 min)
    # and 64 then tied with 32: continue a long run with --batch 32 (or 64) --amp off.
    batch: int = 0
    kimg: float = 0.0  # stop after this many thousand real images shown (0: no limit)
    minutes: float = 0.0  # stop after this many minutes (0: no limit)
    max_steps: int = 0  # stop after this many steps (0: no limit)
    # optimisation
    # G slower than D (TTUR): at 64 px, equal rates (0.0025) collapsed to one shape by ~20 kimg
    # (with or without DiffAugment at p = 1), lr_g 0.001 kept varied shapes (one seed, 25 kimg each; README).
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
    # Policies in the order applied (ganart.augment.POLICIES), "" for none. "geom" (ADA's scaling
    # and rotation) lowered D's overfitting and FID in an emoji A/B (README, "Training defaults").
    augment: str = "geom,color,translation,cutout"
    aug_p: float = 0.0  # initial augmentation probability
    ada_target: float = 0.6  # target for r_t = E[sign(D(real))]; 0 keeps aug_p fixed
    # ADA never raises p above this. At p = 1 every real is augmented, so D never sees a clean
    # image and the transforms (rotation above all) "leak" into G's output (Karras et al. 2020,
    # ADA, sec. 2.2; safe to ~0.8 there). 0.8 also beat 1.0 in an emoji A/B (README).
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
    # here, and FID on par at equal images, README); fp32 elsewhere. Or "bf16", "off".
    amp: str = "auto"
    threads: int = 0  # CPU threads (0: torch default)
    log_every: int = 20
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.batch < 0:
            raise ValueError(f"batch must be at least 1 (or 0 for the device's default), got {self.batch}")
        for name in ("r1_interval", "ada_interval", "keep", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("kimg", "minutes", "snapshot_kimg", "snapshot_minutes", "ema_kimg", "ada_kimg", "eval_every",
                     "d_warmup_kimg", "lecam"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if not 2 <= self.eval_n <= 50_000:
            raise ValueError(f"eval_n must be in [2, 50000], got {self.eval_n}")
        if self.max_steps < 0 or self.grid < 0 or self.threads < 0:
            raise ValueError("max_steps, grid and threads must be >= 0")
        for name in ("lr_g", "lr_d"):
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
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be auto, bf16 or off, got {self.amp!r}")
        # one spelling ("256,256,64"), so a resume's shape check does not see " 256, 256,64" as another shape
        self.g_channels = ",".join(map(str, _widths(self.g_channels)))
        self.model_config()  # validates the model shape

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

    def model_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            resolution=self.resolution, z_dim=self.z_dim, w_dim=self.w_dim,
            mapping_layers=self.mapping_layers, channel_base=self.channel_base,
            channel_max=self.channel_max, use_noise=self.use_noise, mbstd_group=self.mbstd_group,
            d_channel_base=self.d_channel_base, d_channel_max=self.d_channel_max,
            g_channels=_widths(self.g_channels),
        )


def _widths(text: str) -> tuple[int, ...]:
    """ "256,256,64" -> (256, 256, 64); "" -> ()."""
    try:
        return tuple(int(part) for part in text.split(",")) if text.strip() else ()
    except ValueError:
        raise ValueError(f"g_channels must be comma-separated integers like 256,256,64,32,16, got {text!r}") from None


@dataclass
class Progress:
    """Counters that a resume restores."""

    step: int = 0
    nimg: int = 0
    aug_p: float = 0.0
    ada_sum: float = 0.0  # running sum of sign(D(real)) since the last ADA update
    ada_count: int = 0
    nan_events: int = 0
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _total(training: dict[str, Any], key: str) -> float:
    """A count from a checkpoint's free-form ``meta.training``; one that is not a number is 0."""
    v = training.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


# --- distributed helpers ------------------------------------------------------------------


def dist_info() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere autocast
    emulates it and trains slower than fp32."""
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def emulated_bf16_warning(amp: str, device: torch.device) -> str | None:
    """A line for ``--amp bf16`` asked for on a CPU that would only emulate it: on a 2-core AVX2
    EPYC, benchmarks/train_speed.py trained 0.71 img/s in bf16 against 14.28 in fp32 (README)."""
    if amp != "bf16" or device.type != "cpu" or cpu_has_bf16():
        return None
    return ("ganart train: --amp bf16 on a CPU without native bf16 (no AVX-512 BF16 or AMX): autocast "
            "emulates it (20x slower than fp32 on a 2-core AVX2 EPYC); --amp auto picks fp32 on this CPU")


def default_batch(device: torch.device) -> int:
    """Per-rank batch for ``--batch 0``: small on CPU, where more updates per image pay;
    larger on CUDA, where a step is bound by Python dispatch whatever its batch."""
    return 32 if device.type == "cuda" else 8


def use_bf16(amp: str, device: torch.device) -> bool:
    """``--amp`` resolved: ``auto`` is bf16 on CUDA and on CPUs with native bf16."""
    if amp != "auto":
        return amp == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def training_device(name: str, local_rank: int, cuda_available: bool) -> torch.device:
    """``auto`` -> this rank's GPU or the CPU; a bare ``cuda`` gets this rank's index, since
    ``torch.cuda.set_device`` refuses a device without one (seen on an H200)."""
    if name == "auto":  # not resolve_device's auto: training does not try MPS
        name = "cuda" if cuda_available else "cpu"
    device = parse_device(name)  # ValueError naming a bad device string
    if device.type != "cuda":
        return resolve_device(device)  # checked against this machine
    if not cuda_available:
        raise ValueError(f"device {name!r} is not available: this PyTorch sees no CUDA GPU; use cpu or auto")
    return device if device.index is not None else torch.device("cuda", local_rank)


def all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients across ranks in one flat all-reduce."""
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_reduce_scalar(x: float, world: int, device: torch.device) -> float:
    if world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item())


# --- training state <-> safetensors ---------------------------------------------------------


def _optim_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}/{pid}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def _optim_load(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


LECAM_DECAY = 0.99  # the LeCam paper's running-mean decay, per D step


LR_DECAYS = ("none", "linear", "cosine")


def lr_scale(nimg: int, total: int, kind: str) -> float:
    """The learning-rate multiplier after `nimg` of a run's `total` images: 1 for "none"; "linear"
    and "cosine" fall from 1 to 0 at `total` (and stay there)."""
    if kind == "none":
        return 1.0
    t = min(max(nimg / total, 0.0), 1.0)
    return 1.0 - t if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))


def lecam_anchors(anchors: torch.Tensor, real_mean: torch.Tensor, fake_mean: torch.Tensor) -> torch.Tensor:
    """Running means of D's logits: anchors [3] = (real, fake, started) -> the updated anchors.
    The first update takes the batch means as they are (no bias toward a zero start)."""
    now = torch.stack([real_mean, fake_mean]).detach().float()
    decay = LECAM_DECAY * anchors[2]  # 0 before the first update
    return torch.cat([now.lerp(anchors[:2], decay), anchors.new_ones(1)])


def lecam_penalty(logits_real: torch.Tensor, logits_fake: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """LeCam: reals' logits above the fakes' running mean, and fakes' below the reals', cost their
    squared excess (Tseng et al. 2021, eq. 3)."""
    return (F.relu(logits_real - anchors[1]).square().mean()
            + F.relu(anchors[0] - logits_fake).square().mean())


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _remove_snapshot(folder: Path) -> None:
    """Rename out of the step* namespace first (atomic), then delete: a kill mid-delete
    leaves a .del-* folder, never a half-deleted snapshot that looks complete."""
    doomed = folder.with_name(f".del-{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world, local_rank = dist_info()
        self.device = training_device(cfg.device, local_rank, torch.cuda.is_available())
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if cfg.batch == 0:
            cfg = self.cfg = replace(cfg, batch=default_batch(self.device) * self.world)
        if cfg.batch % self.world:
            raise ValueError(f"batch {cfg.batch} must be divisible by the {self.world} ranks")
        self.local_batch = cfg.batch // self.world
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.amp = use_bf16(cfg.amp, self.device)
        if self.rank == 0 and (warning := emulated_bf16_warning(cfg.amp, self.device)):
            print(warning, file=sys.stderr)
        self.out = Path(cfg.out)
        mcfg = cfg.model_config()
        with torch.random.fork_rng(devices=[]):  # model init without touching the global RNG
            torch.manual_seed(cfg.seed)
            self.G = Generator(mcfg).to(self.device)
            self.D = Discriminator(mcfg).to(self.device)
        self.p = Progress(aug_p=cfg.aug_p)
        # Found once, here: a run that resumes a snapshot takes its weights and its parent's
        # record from there, so --init-from is only read on a fresh start (the parent folder
        # may be gone or replaced by a newer model by the time a fine-tune is resumed).
        self.resume_from = self.find_resume()
        if cfg.init_from and self.resume_from is None:
            self._init_from(cfg.init_from, mcfg)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self._broadcast_params()
        hp = self._optim_hparams()
        self.opt_G = torch.optim.Adam(self.G.parameters(), **hp["opt_G"], eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **hp["opt_D"], eps=1e-8)
        # every random stream is an explicit generator, saved in snapshots for exact resume
        s = cfg.seed * 1000 + self.rank
        self.gen_z = torch.Generator(device="cpu").manual_seed(s + 1)
        self.gen_aug = torch.Generator(device="cpu").manual_seed(s + 2)
        self.gen_noise = torch.Generator(device=self.device).manual_seed(s + 3)
        self.data: ImageBatches | None = None
        self.real: Any = None
        self.stop_requested = False
        self._ada_acc = torch.zeros((), device=self.device)  # sign sum not yet read back
        self.lecam = torch.zeros(3, device=self.device)  # LeCam's running logit means (lecam_anchors)
        self._good: dict[str, Any] | None = None

    # --- setup --------------------------------------------------------------------------
    def _init_from(self, source: str, mcfg: GeneratorConfig) -> None:
        """G (and D, if saved) from a checkpoint: of this shape, or a narrower one grown into it."""
        src = load_checkpoint(source)
        problem = src.config.growth_problem(mcfg)
        if problem:
            raise ValueError(f"{source}: cannot fine-tune into this model shape: {problem}")
        self.G.load_state_dict(grown_state(src.generator.state_dict(), self.G))
        D = load_discriminator(source)
        if D is not None:
            self.D.load_state_dict(grown_state(D.state_dict(), self.D))
        # The parent's totals, kept in the progress so snapshots carry them: a resumed run
        # reports them even if the source folder has since been overwritten (see meta()).
        self.p.extra["init_from"] = {"source": str(source), "sha256": src.sha256, "images_seen": src.meta.images_seen,
                                     "steps": int(_total(src.meta.training, "steps")),
                                     "seconds": float(_total(src.meta.training, "seconds"))}
        if self.rank != 0:
            return
        msg = f"ganart train: G from {source}; " + (
            f"D from its {DISCRIMINATOR_NAME}" if D is not None
            else f"no {DISCRIMINATOR_NAME} there, so D starts from scratch (--d-warmup-kimg helps)")
        now = self.param_counts()
        grown = [f"{k} {_count(m):,} -> {now[k]:,}" for k, m in (("G", src.generator), ("D", D))
                 if m is not None and _count(m) != now[k]]
        if grown:
            msg += "; grown to this shape, same outputs (parameters " + ", ".join(grown) + ")"
        print(msg, file=sys.stderr)

    def _optim_hparams(self, nimg: int = 0) -> dict[str, dict[str, Any]]:
        """Adam's lr and betas per optimiser after `nimg` images, from the config (D's corrected
        for lazy R1, both rates scaled by --lr-decay)."""
        cfg = self.cfg
        mb = cfg.r1_interval / (cfg.r1_interval + 1)
        scale = lr_scale(nimg, int(cfg.kimg * 1000), cfg.lr_decay)
        return {"opt_G": {"lr": cfg.lr_g * scale, "betas": (0.0, 0.99)},
                "opt_D": {"lr": cfg.lr_d * mb * scale, "betas": (0.0, 0.99**mb)}}

    def _set_lr(self) -> None:
        """Keep every param group's lr at the schedule's value for the images seen so far."""
        for name, hp in self._optim_hparams(self.p.nimg).items():
            for g in getattr(self, name).param_groups:
                g["lr"] = hp["lr"]

    def _broadcast_params(self) -> None:
        if self.world > 1:
            for m in (self.G, self.D, self.G_ema):
                for t in list(m.parameters()) + list(m.buffers()):
                    torch.distributed.broadcast(t.data, src=0)

    def load_data(self) -> None:
        pre = Preprocess(self.cfg.resolution, self.cfg.background, self.cfg.fit)
        images = load_dataset(self.cfg.data, pre)
        if len(images) < self.local_batch:
            raise ValueError(f"{self.cfg.data}: {len(images)} images is fewer than the batch of {self.local_batch}")
        self.real = images  # uint8 [N, R, R, 3], the reference set for --eval-every
        self.data = ImageBatches(images, self.device, seed=self.cfg.seed * 1000 + self.rank, mirror=self.cfg.mirror)

    def param_counts(self) -> dict[str, int]:
        return {"G": _count(self.G), "D": _count(self.D)}

    # --- one step ------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    @property
    def g_trains(self) -> bool:
        """False during --d-warmup-kimg, when G (every tensor of it) stays as loaded."""
        return self.p.nimg >= self.cfg.d_warmup_kimg * 1000

    def run_G(self, b: int) -> torch.Tensor:
        cfg = self.cfg
        z = torch.randn(b, cfg.z_dim, generator=self.gen_z).to(self.device)
        with self._autocast():
            ws = self.G.mapping(z)
            if cfg.style_mixing > 0:
                # with probability style_mixing, layers from `cut` on take a second z's w
                r = torch.rand(2, generator=self.gen_z)
                cut = int(r[1] * (self.G.num_ws - 1)) + 1
                z2 = torch.randn(b, cfg.z_dim, generator=self.gen_z).to(self.device)
                if r[0] < cfg.style_mixing:
                    ws = ws.clone()
                    ws[:, cut:] = self.G.mapping(z2)[:, cut:]
            if self.g_trains:
                with torch.no_grad():  # track the mean w for truncation (frozen with G in D's warm-up)
                    self.G.w_avg.copy_(ws[:, 0].float().mean(0).lerp(self.G.w_avg, 0.995))
            return self.G.synthesis(ws, noise_mode="random", generator=self.gen_noise)

    def run_D(self, img: torch.Tensor) -> torch.Tensor:
        img = augment(img, self.p.aug_p, self.cfg.policy, self.gen_aug)
        with self._autocast():
            return self.D(img).float()

    def train_step(self) -> dict[str, float]:
        assert self.data is not None, "call load_data() first"
        cfg, b = self.cfg, self.local_batch
        self.G.train()
        loss_G = torch.zeros((), device=self.device)
        if self.g_trains:
            # generator: maximise log D(G(z))
            self.D.requires_grad_(False)
            loss_G = F.softplus(-self.run_D(self.run_G(b))).mean()
            self.opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            # Alternate: G moves first, then D learns against the updated G (StyleGAN2-ADA's order).
            # A non-finite step is caught below and rolled back, G included.
            all_reduce_grads(list(self.G.parameters()), self.world)
            self.opt_G.step()
            self.D.requires_grad_(True)
        # discriminator: logistic loss, plus lazy R1 on reals
        with torch.no_grad():
            fake = self.run_G(b)
        real = self.data.sample(b)
        do_r1 = self.p.step % cfg.r1_interval == 0 and cfg.gamma > 0
        real_aug = augment(real, self.p.aug_p, cfg.policy, self.gen_aug).detach().requires_grad_(do_r1)
        with self._autocast():
            logits_real = self.D(real_aug).float()
        logits_fake = self.run_D(fake)
        loss_D = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        r1 = torch.zeros((), device=self.device)
        if do_r1:
            (grad,) = torch.autograd.grad(logits_real.sum(), real_aug, create_graph=True)
            r1 = grad.float().square().sum(dim=(1, 2, 3)).mean()
            loss_D = loss_D + r1 * (cfg.gamma / 2 * cfg.r1_interval)
        if cfg.lecam > 0:
            means = torch.stack([logits_real.mean(), logits_fake.mean()]).detach()
            if self.world > 1:  # one set of anchors for all ranks
                torch.distributed.all_reduce(means)
                means /= self.world
            self.lecam = lecam_anchors(self.lecam, means[0], means[1])
            loss_D = loss_D + cfg.lecam * lecam_penalty(logits_real, logits_fake, self.lecam)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()

        finite = float(torch.isfinite(loss_G + loss_D).item())  # the step's one host sync
        if all_reduce_scalar(finite, self.world, self.device) < self.world:
            return self._rollback(loss_G, loss_D)
        all_reduce_grads(list(self.D.parameters()), self.world)
        self.opt_D.step()

        self._update_ada(logits_real.detach())
        self.p.nimg += cfg.batch
        if cfg.lr_decay != "none":
            self._set_lr()  # for the next step, so a snapshot's groups hold its own lr
        self._update_ema()
        self.p.step += 1
        # tensors, not floats: reading them would sync the GPU every step
        return {"loss_G": loss_G.detach(), "loss_D": loss_D.detach(), "r1": r1.detach()}

    def _update_ada(self, logits_real: torch.Tensor) -> None:
        cfg = self.cfg
        if cfg.ada_target <= 0 or not cfg.policy:
            return
        self._ada_acc = self._ada_acc + torch.sign(logits_real).sum()
        self.p.ada_count += logits_real.numel()
        if (self.p.step + 1) % cfg.ada_interval == 0:
            self.p.ada_sum += float(self._ada_acc)
            self._ada_acc = torch.zeros((), device=self.device)
            total = all_reduce_scalar(self.p.ada_sum, self.world, self.device)
            count = all_reduce_scalar(self.p.ada_count, self.world, self.device)
            rt = total / max(count, 1)
            adjust = math.copysign(1, rt - cfg.ada_target) * cfg.batch * cfg.ada_interval / (cfg.ada_kimg * 1000)
            self.p.aug_p = min(max(self.p.aug_p + adjust, 0.0), cfg.ada_max_p)
            self.p.extra["rt"] = rt
            self.p.ada_sum, self.p.ada_count = 0.0, 0

    @torch.no_grad()
    def _update_ema(self) -> None:
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup > 0:
            ema_nimg = min(ema_nimg, self.p.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.copy_(p.detach().lerp(pe, beta))
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # --- non-finite guard -------------------------------------------------------------------
    def remember_good(self) -> None:
        """Keep an in-memory copy of everything a bad step could corrupt."""
        self._good = {
            "G": copy.deepcopy(self.G.state_dict()), "D": copy.deepcopy(self.D.state_dict()),
            "G_ema": copy.deepcopy(self.G_ema.state_dict()),
            "opt_G": copy.deepcopy(self.opt_G.state_dict()), "opt_D": copy.deepcopy(self.opt_D.state_dict()),
            "lecam": self.lecam.clone(),
        }

    def _rollback(self, loss_G: torch.Tensor, loss_D: torch.Tensor) -> dict[str, float]:
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)
        if self._good is not None:
            self.G.load_state_dict(self._good["G"])
            self.D.load_state_dict(self._good["D"])
            self.G_ema.load_state_dict(self._good["G_ema"])
            self.opt_G.load_state_dict(self._good["opt_G"])
            self.opt_D.load_state_dict(self._good["opt_D"])
            self.lecam = self._good["lecam"].clone()
            self._set_lr()  # the restored groups hold the lr of when they were remembered
        self.p.nan_events += 1
        self.p.step += 1  # move on to fresh random draws
        event = {"event": "non_finite_loss", "step": self.p.step, "loss_G": loss_G.item(),
                 "loss_D": loss_D.item(), "rolled_back": self._good is not None}
        self.log(event)
        print(f"ganart train: non-finite loss at step {self.p.step}; rolled back to the last good state",
              file=sys.stderr)
        nan = torch.tensor(float("nan"))
        return {"loss_G": nan, "loss_D": nan, "r1": nan}

    # --- snapshots ------------------------------------------------------------------------
    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        self.p.ada_sum += float(self._ada_acc)  # integer-valued: flushing early changes nothing
        self._ada_acc = torch.zeros((), device=self.device)
        tensors: dict[str, torch.Tensor] = {}
        for name, m in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            for k, v in m.state_dict().items():
                tensors[f"{name}/{k}"] = v.detach().cpu().contiguous()
        tg, groups_g = _optim_tensors("opt_G", self.opt_G)
        td, groups_d = _optim_tensors("opt_D", self.opt_D)
        tensors.update(tg)
        tensors.update(td)
        for name in ("gen_z", "gen_aug", "gen_noise"):
            tensors[f"rng/{name}"] = getattr(self, name).get_state().cpu()
        if self.data is not None:
            tensors["rng/data"] = self.data.generator.get_state()
        tensors["lecam/anchors"] = self.lecam.detach().cpu()
        meta = {
            "ganart_version": __version__,
            "progress": json.dumps(asdict(self.p)),
            "groups": json.dumps({"opt_G": groups_g, "opt_D": groups_d}),
            "config": json.dumps(asdict(self.cfg)),
            "world": str(self.world),
        }
        return tensors, meta

    def load_state(self, folder: Path) -> None:
        """Restore a snapshot. Anything wrong with it (truncated file, missing entries, another
        model shape) is one ValueError naming the snapshot; the trainer is then not to be used."""
        try:
            self._load_state(folder)
        except Exception as e:
            detail = " ".join(str(e).split())[:400] or type(e).__name__
            raise ValueError(f"{folder}: cannot resume from this snapshot: {detail}") from e

    def _load_state(self, folder: Path) -> None:
        with safe_open(folder / STATE_NAME, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if int(meta.get("world", 1)) != self.world:
            raise ValueError(f"saved with {meta.get('world')} ranks, resuming with {self.world}")
        saved = json.loads(meta["config"])
        # shape flags must match the weights; mbstd_group changes no parameter, so it may differ
        shape = {k: v for k, v in asdict(self.cfg).items() if k in GeneratorConfig.__dataclass_fields__}
        diff = [f"{k}={saved[k]!r} (this run: {v!r})" for k, v in shape.items()
                if k != "mbstd_group" and k in saved and saved[k] != v]
        if diff:
            raise ValueError(f"saved with another model shape: {', '.join(diff)}; resume with the snapshot's shape flags")
        for name, m in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            sd = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + "/")}
            m.load_state_dict(sd)
        groups = json.loads(meta["groups"])
        progress = Progress(**json.loads(meta["progress"]))
        for name, hp in self._optim_hparams(progress.nimg).items():
            # The snapshot's param groups carry its learning rates; this run's flags win, so
            # `--resume auto --lr-g X` really trains at X (it was silently ignored before).
            _optim_load(name, getattr(self, name), tensors, [g | hp for g in groups[name]])
            saved_lr = groups[name][0]["lr"]
            if saved_lr != hp["lr"] and self.rank == 0:
                print(f"ganart train: {name} lr {saved_lr:g} in {folder.name} -> {hp['lr']:g} (this run's flags)",
                      file=sys.stderr)
        for name in ("gen_z", "gen_aug"):
            getattr(self, name).set_state(tensors[f"rng/{name}"])
        noise_state = tensors["rng/gen_noise"]
        if noise_state.numel() == self.gen_noise.get_state().numel():
            self.gen_noise.set_state(noise_state)
        else:
            # The noise generator lives on the training device, and a CPU generator's state
            # (5 KB) does not fit a CUDA one (16 B): a snapshot moved between devices
            # resumes with that one stream reseeded; every other stream stays exact.
            print(f"ganart train: {folder} was saved on another device type; the noise RNG "
                  f"restarts from its seed ({self.device.type})", file=sys.stderr)
        if self.data is not None and "rng/data" in tensors:
            self.data.generator.set_state(tensors["rng/data"])
        if "lecam/anchors" in tensors:  # older snapshots have none: LeCam starts afresh
            anchors = tensors["lecam/anchors"]
            if anchors.shape != (3,) or not torch.isfinite(anchors).all():
                raise ValueError(f"lecam/anchors must be 3 finite numbers, got {anchors.tolist()}")
            self.lecam = anchors.float().to(self.device)
        self.p = progress
        if self.p.aug_p > self.cfg.ada_max_p:  # a lower cap given on resume applies at once
            print(f"ganart train: ADA p {self.p.aug_p:g} in {folder.name} capped to {self.cfg.ada_max_p:g} (--ada-max-p)",
                  file=sys.stderr)
            self.p.aug_p = self.cfg.ada_max_p

    def snapshot(self) -> Path | None:
        """Write snapshots/stepNNNNNNNN/ atomically (temp folder + rename), then the
        top-level inference checkpoint; prune old snapshots. Rank 0 only."""
        if self.rank != 0:
            return None
        snaps = self.out / SNAPSHOTS
        snaps.mkdir(parents=True, exist_ok=True)
        final = snaps / f"step{self.p.step:08d}"
        tmp = snaps / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        meta = self.meta()
        save_checkpoint(self.G_ema, tmp, meta)
        tensors, smeta = self.state_tensors()
        save_file(tensors, str(tmp / STATE_NAME), metadata=smeta)
        with open(tmp / STATE_NAME, "rb") as f:
            os.fsync(f.fileno())
        if self.cfg.grid:
            self.sample_grid().save(tmp / "grid.png")
        if final.exists():
            _remove_snapshot(final)
        os.replace(tmp, final)
        # the run folder itself is an inference checkpoint the app can open, with D beside
        # it so that `--init-from OUT` fine-tunes against a trained discriminator
        save_discriminator(self.D, self.out)
        save_checkpoint(self.G_ema, self.out, meta)
        if self.cfg.grid:
            shutil.copyfile(final / "grid.png", self.out / ".grid.png.tmp")
            os.replace(self.out / ".grid.png.tmp", self.out / "grid.png")
        write_card(self.out)  # a generated card is rewritten; a hand-written one keeps its words
        for old in sorted(p for p in snaps.iterdir() if p.name.startswith("step"))[: -self.cfg.keep]:
            _remove_snapshot(old)
        for leftover in snaps.glob(".del-*"):  # from a process killed while deleting
            shutil.rmtree(leftover, ignore_errors=True)
        return final

    def meta(self) -> CheckpointMeta:
        """The run's metadata. After --init-from, images, steps and seconds count the whole
        lineage (the parent's totals plus this run's) and ``training["init_from"]`` holds the
        parent's, so this run's own share is the difference; the command is this run's."""
        cfg = self.cfg
        parent = self.p.extra.get("init_from")
        before = parent or {"images_seen": 0, "steps": 0, "seconds": 0.0}
        return CheckpointMeta(
            name=self.out.name,
            dataset=cfg.data,
            images_seen=before["images_seen"] + self.p.nimg,
            license=EMOJI_LICENSE if cfg.data == "emoji" else "",
            training={
                "command": "ganart train " + " ".join(_flags_for(cfg)),
                "steps": before["steps"] + self.p.step,
                "seconds": round(before["seconds"] + self.p.train_seconds, 1),
                "device": str(self.device) + ("" if self.device.type == "cpu" else f" ({torch.cuda.get_device_name(self.device)})"),
                "world_size": self.world,
                "aug_p": round(self.p.aug_p, 4),
            } | ({"init_from": parent} if parent else {}),
        )

    @torch.inference_mode()
    def sample_grid(self) -> Any:
        z = seeds_to_z(list(range(self.cfg.grid)), self.cfg.z_dim).to(self.device)
        imgs = torch.cat([self.G_ema(c) for c in z.split(16)])
        return make_grid(to_images(imgs), cols=int(math.ceil(math.sqrt(self.cfg.grid))))

    def evaluate(self) -> dict[str, Any]:
        """FID/KID of the EMA generator (psi = 1, seeds 0..eval_n-1) against the training set;
        logged to metrics.jsonl and TensorBoard. Rank 0 only."""
        from . import metrics

        t0 = time.time()
        fake = metrics.sample(self.G_ema, self.cfg.z_dim, self.cfg.eval_n, device=self.device)
        result = metrics.evaluate(self.real, fake)
        record = {"event": "eval", "step": self.p.step, "kimg": self.p.nimg / 1000, **result,
                  "seconds": round(time.time() - t0, 1)}
        self.log(record)
        print(f"ganart train: {record['kimg']:.1f} kimg, N={self.cfg.eval_n}: {metrics.summary(result)}", flush=True)
        return record

    def find_resume(self) -> Path | None:
        spec = self.cfg.resume
        if not spec:
            return None
        if spec != "auto":
            path = Path(spec)
            if not (path / STATE_NAME).is_file():
                raise ValueError(f"{path}: no {STATE_NAME} to resume from")
            return path
        snaps = self.out / SNAPSHOTS
        if not snaps.is_dir():
            return None
        for cand in sorted((p for p in snaps.iterdir() if p.name.startswith("step")), reverse=True):
            try:  # the newest snapshot whose state file opens completely
                with safe_open(cand / STATE_NAME, framework="pt", device="cpu") as f:
                    f.metadata()
                load_checkpoint(cand)
                return cand
            except Exception:
                print(f"ganart train: skipping unreadable snapshot {cand}", file=sys.stderr)
        return None

    def rank_checksums(self) -> list[float]:
        """A float64 checksum of G and D per rank: equal on all ranks when data-parallel
        training kept the replicas in sync."""
        with torch.no_grad():
            local = sum(p.double().sum() * (i + 1) for i, p in enumerate(list(self.G.parameters()) + list(self.D.parameters())))
            local = torch.as_tensor(local, dtype=torch.float64, device=self.device).reshape(1)
        if self.world == 1:
            return [float(local)]
        gathered = [torch.zeros_like(local) for _ in range(self.world)]
        torch.distributed.all_gather(gathered, local)
        return [float(t) for t in gathered]

    # --- logging ------------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # --- the loop -----------------------------------------------------------------------------
    def done(self, start: float) -> bool:
        cfg = self.cfg
        return (
            (cfg.kimg > 0 and self.p.nimg >= cfg.kimg * 1000)
            or (cfg.max_steps > 0 and self.p.step >= cfg.max_steps)
            or (cfg.minutes > 0 and time.time() - start >= cfg.minutes * 60)
            or self.stop_requested
        )

    def fit(self) -> Path | None:
        cfg = self.cfg
        if self.rank == 0:  # an unusable --out fails now, not at the first snapshot
            (self.out / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
        if cfg.eval_every > 0:
            from .metrics import inception_path

            inception_path()  # fail now, not an hour in, when the metrics extra is missing
        self.load_data()
        resume = self.resume_from
        if resume is not None:
            self.load_state(resume)
            if self.rank == 0:
                print(f"ganart train: resumed from {resume} at step {self.p.step}, {self.p.nimg / 1000:.1f} kimg")
        self._install_signal_handlers()
        writer = _tensorboard(self.out) if self.rank == 0 else None
        bar = _progress_bar(cfg, self.p.nimg, self.rank)
        start = time.time()
        last_snap_img, last_snap_time = self.p.nimg, time.time()
        last_eval_img = self.p.nimg
        t_log, img_log = time.time(), self.p.nimg
        self.remember_good()
        last = None
        while not self.done(start):
            t0 = time.time()
            stats = self.train_step()
            self.p.train_seconds += time.time() - t0
            if bar is not None:
                bar.update(cfg.batch)
            if self.p.step % 50 == 0 and stats["loss_G"].isfinite():
                self.remember_good()
            if self.p.step % cfg.log_every == 0:
                stats = {k: float(v) for k, v in stats.items()} | {"aug_p": self.p.aug_p}
                rate = (self.p.nimg - img_log) / max(time.time() - t_log, 1e-9)
                t_log, img_log = time.time(), self.p.nimg
                record = {"step": self.p.step, "kimg": self.p.nimg / 1000, **stats, "img_per_s": rate,
                          "rt": self.p.extra.get("rt")}
                self.log(record)
                if bar is not None:
                    bar.set_postfix(G=f"{stats['loss_G']:.3f}", D=f"{stats['loss_D']:.3f}",
                                    p=f"{stats['aug_p']:.3f}", ips=f"{rate:.0f}")
                if writer is not None:
                    for k in ("loss_G", "loss_D", "r1", "aug_p", "img_per_s"):
                        writer.add_scalar(f"train/{k}", record[k], self.p.nimg)
            by_img = cfg.snapshot_kimg > 0 and self.p.nimg - last_snap_img >= cfg.snapshot_kimg * 1000
            by_time = cfg.snapshot_minutes > 0 and time.time() - last_snap_time >= cfg.snapshot_minutes * 60
            if by_img or by_time:
                last = self.snapshot()
                last_snap_img, last_snap_time = self.p.nimg, time.time()
            if cfg.eval_every > 0 and self.p.nimg - last_eval_img >= cfg.eval_every * 1000:
                last_eval_img = self.p.nimg
                if self.rank == 0:  # the other ranks wait at the next all-reduce
                    record = self.evaluate()
                    if writer is not None:
                        for k in ("fid", "kid"):
                            writer.add_scalar(f"eval/{k}{cfg.eval_n}", record[k], self.p.nimg)
        last_eval_img = self.p.nimg
        last = self.snapshot()
        self.log({"event": "end", "step": self.p.step, "kimg": self.p.nimg / 1000,
                  "nan_events": self.p.nan_events, "rank_checksums": self.rank_checksums()})
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        if self.rank == 0:
            why = "interrupted; saved" if self.stop_requested else "done"
            print(f"ganart train: {why} at step {self.p.step} ({self.p.nimg / 1000:.1f} kimg) -> {self.out}")
        return last

    def _install_signal_handlers(self) -> None:
        def handler(signum, frame):  # finish the current step, save, exit cleanly
            self.stop_requested = True

        try:
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread (e.g. tests): no handlers
            pass


def _progress_bar(cfg: TrainConfig, initial: int, rank: int):
    if rank != 0:
        return None
    from tqdm import tqdm

    total = int(cfg.kimg * 1000) if cfg.kimg else None
    return tqdm(total=total, initial=initial, unit="img", unit_scale=True, dynamic_ncols=True,
                disable=os.environ.get("GANART_NO_PROGRESS") == "1")


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(out / "tensorboard"))


# --- command line ----------------------------------------------------------------------------


def _flags_for(cfg: TrainConfig) -> list[str]:
    """The non-default flags that reproduce ``cfg`` (for the model card)."""
    default = TrainConfig()
    out = []
    for f in fields(TrainConfig):
        v = getattr(cfg, f.name)
        if v != getattr(default, f.name) or f.name in ("data", "out"):
            flag = "--" + f.name.replace("_", "-")
            if isinstance(v, bool):
                out.append(flag if v else "--no-" + f.name.replace("_", "-"))
            else:
                out += [flag, str(v)]
    return out


def add_arguments(parser) -> None:
    """One flag per TrainConfig field, same name with dashes, same default."""
    import argparse

    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, help=f"default: {default!r}")


def run(args) -> int:
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    trainer = Trainer(cfg)
    cfg = trainer.cfg  # resolved (batch 0 -> the device's default): what the run records
    if cfg.dry_run:
        print(json.dumps({"config": asdict(cfg), "model": asdict(cfg.model_config()), "gamma": cfg.gamma,
                          "params": trainer.param_counts(), "device": str(trainer.device),
                          "world_size": trainer.world, "amp_bf16": trainer.amp}, indent=2))
        return 0
    trainer.fit()
    if trainer.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "TrainConfig", "Trainer", "run"]

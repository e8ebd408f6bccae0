"""The training loop: ``Trainer(cfg).fit()``.

Per step: a generator step, a discriminator step (``loss.GANLoss``), an ADA-style update of
the augmentation probability, and an EMA update of the generator the app uses. A step whose
losses are not finite is rolled back to the last good state. Snapshots (``snapshot.py``)
resume exactly: same weights, optimiser moments, RNG streams and counters.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..card import write_card
from ..checkpoint import (
    CheckpointMeta,
    save_checkpoint,
    save_discriminator,
)
from ..files import atomic_copy
from ..images import make_grid, to_images
from ..latent import seeds_to_z
from ..models import Discriminator, Generator, count_params
from ..progress import progress as progress_bar
from . import clusters, lineage, snapshot
from . import distributed as dist
from .config import AUTO_THREADS, TrainConfig, lr_scale, uses_feature_network
from .data import ImageBatches, Preprocess, load_dataset
from .hardware import default_batch, emulated_bf16_warning, training_device, use_bf16
from .loss import GANLoss
from .projected import PixelAndProjected, ProjectedDiscriminator, feature_network_sha256
from .selfsupervised import SelfSupervisedDiscriminator
from .threads import ThreadTuner

GOOD_STATE_EVERY = 50  # steps between in-memory copies that a non-finite step rolls back to


def make_discriminator(cfg: TrainConfig) -> torch.nn.Module:
    """The D that --discriminator names (ganart.training.projected has the projected ones)."""
    if cfg.discriminator == "selfsupervised":
        return SelfSupervisedDiscriminator(cfg.model_config())
    if cfg.discriminator == "projected":
        return ProjectedDiscriminator(cfg.feature_size)
    if cfg.discriminator == "residual+projected":
        return PixelAndProjected(Discriminator(cfg.model_config()), ProjectedDiscriminator(cfg.feature_size))
    return Discriminator(cfg.model_config())


def d_param_groups(D: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """D's Adam groups; beside the residual D, the projected heads train at --lr-heads (lr_mult)."""
    if isinstance(D, PixelAndProjected):
        return [{"params": list(D.pixel.parameters())},
                {"params": list(D.projected.parameters()), "lr_mult": cfg.lr_heads / cfg.lr_d}]
    return [{"params": list(D.parameters())}]


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


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world, local_rank = dist.dist_info()
        self.device = training_device(cfg.device, local_rank, torch.cuda.is_available())
        dist.init(self.device, self.world)
        if cfg.batch == 0:
            cfg = self.cfg = replace(cfg, batch=default_batch(self.device) * self.world)
        if cfg.batch % self.world:
            raise ValueError(f"batch {cfg.batch} must be divisible by the {self.world} ranks")
        self.local_batch = cfg.batch // self.world
        self.last_r1 = torch.zeros(())
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        auto = cfg.threads == AUTO_THREADS and self.device.type == "cpu" and self.world == 1
        self.tuner = ThreadTuner(torch.get_num_threads(), cfg.r1_interval) if auto else None
        self.amp = use_bf16(cfg.amp, self.device)
        if self.rank == 0 and (warning := emulated_bf16_warning(cfg.amp, self.device)):
            print(warning, file=sys.stderr)
        self.out = Path(cfg.out)
        # Found once, here: a run that resumes a snapshot takes its weights and its parent's
        # record from there, so --init-from is only read on a fresh start (the parent folder
        # may be gone or replaced by a newer model by the time a fine-tune is resumed).
        self.resume_from = snapshot.find_resume(self.out, cfg.resume)
        self._images: np.ndarray | None = None
        k, why = clusters.resolve(cfg, self.resume_from, lambda: len(self.images()))
        cfg = self.cfg = replace(cfg, clusters=k)
        if why and self.rank == 0:
            print(f"ganart train: --clusters auto: {k} ({why})", file=sys.stderr)
        mcfg = cfg.model_config()
        with torch.random.fork_rng(devices=[]):  # model init without touching the global RNG
            torch.manual_seed(cfg.seed)
            self.G = Generator(mcfg).to(self.device)
            self.D = make_discriminator(cfg).to(self.device)
        self.progress = Progress(aug_p=cfg.aug_p)
        if cfg.init_from and self.resume_from is None:
            self._init_from(cfg.init_from)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        dist.broadcast_modules([self.G, self.D, self.G_ema], self.world)
        hp = self._optim_hparams()
        self.opt_G = torch.optim.Adam(self.G.parameters(), **hp["opt_G"], eps=1e-8)
        self.opt_D = torch.optim.Adam(d_param_groups(self.D, cfg), **hp["opt_D"], eps=1e-8)
        self._set_lr()
        # every random stream is an explicit generator, saved in snapshots for exact resume
        s = cfg.seed * 1000 + self.rank
        self.loss = GANLoss(self.G, self.D, cfg, self.device, self.amp, self.world,
                            gen_z=torch.Generator(device="cpu").manual_seed(s + 1),
                            gen_aug=torch.Generator(device="cpu").manual_seed(s + 2),
                            gen_noise=torch.Generator(device=self.device).manual_seed(s + 3))
        self.data: ImageBatches | None = None
        self.real: Any = None
        self.stop_requested = False
        self._ada_acc = torch.zeros((), device=self.device)  # sign sum not yet read back
        self._good: dict[str, Any] | None = None

    # --- setup --------------------------------------------------------------------------
    def _init_from(self, source: str) -> None:
        parent, message = lineage.init_from(source, self.G, self.D, self.cfg.discriminator)
        # kept in the progress so snapshots carry the parent's totals: a resumed run reports them
        # even if the source folder has since been overwritten
        self.progress.extra["init_from"] = parent
        if self.rank == 0:
            print(message, file=sys.stderr)

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
        self._set_lr_at(self.progress.nimg)

    def _set_lr_at(self, nimg: int) -> None:
        for name, hp in self._optim_hparams(nimg).items():
            for g in getattr(self, name).param_groups:
                g["lr"] = hp["lr"] * g.get("lr_mult", 1.0)

    def images(self) -> np.ndarray:
        """The training set as decoded, loaded once (``--clusters auto`` counts it before the
        model is built): uint8 [N, R, R, 3], files that cannot be read left out."""
        if self._images is None:
            self._images = load_dataset(self.cfg.data, Preprocess(self.cfg.resolution, self.cfg.background, self.cfg.fit))
        return self._images

    def load_data(self) -> None:
        images = self.images()
        if len(images) < self.local_batch:
            raise ValueError(f"{self.cfg.data}: {len(images)} images is fewer than the batch of {self.local_batch}")
        self.real = images  # uint8 [N, R, R, 3], the reference set for --eval-every
        labels = None
        if self.cfg.clusters:
            labels = clusters.cluster_labels(images, self.cfg.clusters, seed=self.cfg.seed)
            if self.resume_from is None and "init_from" not in self.progress.extra:
                for G in (self.G, self.G_ema):  # a resumed or fine-tuned G keeps its own regions
                    clusters.condition(G, labels)
        self.data = ImageBatches(images, self.device, seed=self.cfg.seed * 1000 + self.rank, mirror=self.cfg.mirror,
                                 labels=labels)
        if self.cfg.diversity > 0:
            self.loss.spread = clusters.spreads(images, labels, seed=self.cfg.seed).to(self.device)

    def param_counts(self) -> dict[str, int]:
        return {"G": count_params(self.G), "D": count_params(self.D)}

    # --- one step ------------------------------------------------------------------------
    @property
    def g_trains(self) -> bool:
        """False during --d-warmup-kimg, when G (every tensor of it) stays as loaded."""
        return self.progress.nimg >= self.cfg.d_warmup_kimg * 1000

    def train_step(self) -> dict[str, torch.Tensor]:
        assert self.data is not None, "call load_data() first"
        cfg, b, p = self.cfg, self.local_batch, self.progress
        self.G.train()
        loss_G = torch.zeros((), device=self.device)
        if self.g_trains:
            # Alternate: G moves first, then D learns against the updated G (StyleGAN2-ADA's order).
            # A non-finite step is caught below and rolled back, G included.
            self.opt_G.zero_grad(set_to_none=True)
            paired = self.data.sample_labelled(b) if cfg.loss == "relativistic" else None
            loss_G = self.loss.accumulate_G(b, p.aug_p, paired)
            dist.all_reduce_grads(list(self.G.parameters()), self.world)
            self.opt_G.step()
        self.opt_D.zero_grad(set_to_none=True)
        do_r1 = p.step % cfg.r1_interval == 0 and cfg.gamma > 0
        real, labels = self.data.sample_labelled(b)
        loss_D, r1, verdicts = self.loss.accumulate_D(real, p.aug_p, do_r1, self.g_trains, labels)

        finite = float(torch.isfinite(loss_G + loss_D).item())  # the step's one host sync
        if dist.all_reduce_scalar(finite, self.world, self.device) < self.world:
            return self._rollback(loss_G, loss_D)
        if do_r1:  # lazy: one step in r1_interval pays it, and the log shows the newest
            self.last_r1 = r1
        dist.all_reduce_grads(list(self.D.parameters()), self.world)
        self.opt_D.step()

        self._update_ada(verdicts)
        p.nimg += cfg.batch
        if cfg.lr_decay != "none":
            self._set_lr()  # for the next step, so a snapshot's groups hold its own lr
        self._update_ema()
        p.step += 1
        # tensors, not floats: reading them would sync the GPU every step
        extra = {"rebuild": self.loss.rebuild} if cfg.discriminator == "selfsupervised" else {}
        if cfg.diversity > 0:
            extra["shortfall"] = self.loss.shortfall
        return {"loss_G": loss_G, "loss_D": loss_D, "r1": self.last_r1, **extra}

    def _update_ada(self, verdicts: torch.Tensor) -> None:
        """Move the augmentation probability toward D's overfitting target every ada_interval
        steps: r_t = E[sign(verdict)] above ada_target means D is too sure of the reals. A verdict
        is D(real), or D(real) - D(paired fake) with the relativistic loss."""
        cfg, p = self.cfg, self.progress
        if cfg.ada_target <= 0 or not cfg.policy:
            return
        self._ada_acc = self._ada_acc + torch.sign(verdicts).sum()
        p.ada_count += verdicts.numel()
        if (p.step + 1) % cfg.ada_interval == 0:
            p.ada_sum += float(self._ada_acc)
            self._ada_acc = torch.zeros((), device=self.device)
            total = dist.all_reduce_scalar(p.ada_sum, self.world, self.device)
            count = dist.all_reduce_scalar(p.ada_count, self.world, self.device)
            rt = total / max(count, 1)
            adjust = math.copysign(1, rt - cfg.ada_target) * cfg.batch * cfg.ada_interval / (cfg.ada_kimg * 1000)
            p.aug_p = min(max(p.aug_p + adjust, 0.0), cfg.ada_max_p)
            p.extra["rt"] = rt
            p.ada_sum, p.ada_count = 0.0, 0

    @torch.no_grad()
    def _update_ema(self) -> None:
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup > 0:
            ema_nimg = min(ema_nimg, self.progress.nimg * cfg.ema_rampup)
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
            "lecam": self.loss.lecam.clone(),
        }

    def _rollback(self, loss_G: torch.Tensor, loss_D: torch.Tensor) -> dict[str, torch.Tensor]:
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)
        if self._good is not None:
            for name in ("G", "D", "G_ema", "opt_G", "opt_D"):
                getattr(self, name).load_state_dict(self._good[name])
            self.loss.lecam = self._good["lecam"].clone()
            self._set_lr()  # the restored groups hold the lr of when they were remembered
        self.progress.nan_events += 1
        self.progress.step += 1  # move on to fresh random draws
        self.log({"event": "non_finite_loss", "step": self.progress.step, "loss_G": loss_G.item(),
                  "loss_D": loss_D.item(), "rolled_back": self._good is not None})
        print(f"ganart train: non-finite loss at step {self.progress.step}; rolled back to the last good state",
              file=sys.stderr)
        nan = torch.tensor(float("nan"))
        return {"loss_G": nan, "loss_D": nan, "r1": nan}

    # --- snapshots ------------------------------------------------------------------------
    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    def _rngs(self) -> dict[str, torch.Generator]:
        rngs = {"gen_z": self.loss.gen_z, "gen_aug": self.loss.gen_aug, "gen_noise": self.loss.gen_noise}
        return rngs | ({"data": self.data.generator} if self.data is not None else {})

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        self.progress.ada_sum += float(self._ada_acc)  # integer-valued: flushing early changes nothing
        self._ada_acc = torch.zeros((), device=self.device)
        tensors, meta = snapshot.capture(self._modules(), {"opt_G": self.opt_G, "opt_D": self.opt_D}, self._rngs(),
                                         self.loss.lecam, asdict(self.progress), asdict(self.cfg), self.world)
        if uses_feature_network(self.cfg.discriminator):  # the frozen weights are not saved: say which they were
            meta["feature_network_sha256"] = feature_network_sha256()
        return tensors, meta

    def load_state(self, folder: Path) -> None:
        """Restore a snapshot. Anything wrong with it (truncated file, missing entries, another
        model shape) is one ValueError naming the snapshot; the trainer is then not to be used."""
        try:
            self._load_state(folder)
        except Exception as e:
            raise snapshot.cannot_resume(folder, e) from e

    def _load_state(self, folder: Path) -> None:
        tensors, meta = snapshot.read_state(folder)
        if int(meta.get("world", 1)) != self.world:
            raise ValueError(f"saved with {meta.get('world')} ranks, resuming with {self.world}")
        saved_cfg = json.loads(meta["config"])
        problem = snapshot.shape_problem(saved_cfg, asdict(self.cfg)) or snapshot.discriminator_problem(
            saved_cfg, meta, self.cfg.discriminator, self.cfg.feature_size,
            feature_network_sha256() if uses_feature_network(self.cfg.discriminator) else None)
        if problem:
            raise ValueError(problem)
        snapshot.load_modules(self._modules(), tensors)
        groups = json.loads(meta["groups"])
        progress = Progress(**json.loads(meta["progress"]))
        for name, hp in self._optim_hparams(progress.nimg).items():
            # The snapshot's param groups carry its learning rates; this run's flags win, so
            # `--resume auto --lr-g X` really trains at X.
            snapshot.optim_load(name, getattr(self, name), tensors, [g | hp for g in groups[name]])
            saved_lr = groups[name][0]["lr"]
            if saved_lr != hp["lr"] and self.rank == 0:
                print(f"ganart train: {name} lr {saved_lr:g} in {folder.name} -> {hp['lr']:g} (this run's flags)",
                      file=sys.stderr)
        for g, fresh in zip(self.opt_D.param_groups, d_param_groups(self.D, self.cfg)):
            g["lr_mult"] = fresh.get("lr_mult", 1.0)  # this run's --lr-heads, as for the rates above
        self._set_lr_at(progress.nimg)
        for name in ("gen_z", "gen_aug", "gen_noise"):
            if f"rng/{name}" not in tensors:
                raise ValueError(f"missing rng/{name}")
        for name in snapshot.restore_rngs(self._rngs(), tensors):  # the noise RNG lives on the device
            print(f"ganart train: {folder} was saved on another device type; the {name} RNG "
                  f"restarts from its seed ({self.device.type})", file=sys.stderr)
        anchors = snapshot.lecam_anchors(tensors)
        if anchors is not None:
            self.loss.lecam = anchors.float().to(self.device)
        self.progress = progress
        if progress.aug_p > self.cfg.ada_max_p:  # a lower cap given on resume applies at once
            print(f"ganart train: ADA p {progress.aug_p:g} in {folder.name} capped to {self.cfg.ada_max_p:g} "
                  "(--ada-max-p)", file=sys.stderr)
            progress.aug_p = self.cfg.ada_max_p

    def snapshot(self) -> Path | None:
        """Write snapshots/stepNNNNNNNN/, then the run folder's own inference checkpoint (with D
        beside it, so `--init-from OUT` fine-tunes against a trained discriminator), its grid and
        card; prune old snapshots. Rank 0 only."""
        if self.rank != 0:
            return None
        meta = self.meta()
        tensors, tensor_meta = self.state_tensors()
        grid = self.sample_grid() if self.cfg.grid else None
        final = snapshot.write_snapshot(self.out, self.progress.step, self.G_ema, meta, tensors, tensor_meta, grid)
        save_discriminator(self.D, self.out, self.cfg.discriminator)
        save_checkpoint(self.G_ema, self.out, meta)
        if grid is not None:
            atomic_copy(final / snapshot.GRID_NAME, self.out / snapshot.GRID_NAME)
        write_card(self.out)  # a generated card is rewritten; a hand-written one keeps its words
        snapshot.prune(self.out, self.cfg.keep)
        return final

    def meta(self) -> CheckpointMeta:
        return lineage.run_meta(self.cfg, self.out.name, self.progress.nimg, self.progress.step,
                                self.progress.train_seconds, self.progress.aug_p, self.progress.extra.get("init_from"),
                                self.device, self.world)

    @torch.inference_mode()
    def sample_grid(self) -> Any:
        z = seeds_to_z(list(range(self.cfg.grid)), self.cfg.z_dim).to(self.device)
        imgs = torch.cat([self.G_ema(c) for c in z.split(16)])
        return make_grid(to_images(imgs), cols=int(math.ceil(math.sqrt(self.cfg.grid))))

    def evaluate(self) -> dict[str, Any]:
        """FID/KID of the EMA generator (psi = 1, seeds 0..eval_n-1) against the training set;
        logged to metrics.jsonl and TensorBoard. Rank 0 only."""
        from .. import metrics

        t0 = time.time()
        fake = metrics.sample(self.G_ema, self.cfg.z_dim, self.cfg.eval_n, device=self.device)
        result = metrics.evaluate(self.real, fake)
        record = {"event": "eval", "step": self.progress.step, "kimg": self.progress.nimg / 1000, **result,
                  "seconds": round(time.time() - t0, 1)}
        self.log(record)
        print(f"ganart train: {record['kimg']:.1f} kimg, N={self.cfg.eval_n}: {metrics.summary(result)}", flush=True)
        return record

    def rank_checksums(self) -> list[float]:
        return dist.rank_checksums([self.G, self.D], self.world, self.device)

    def log(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # --- the loop -----------------------------------------------------------------------------
    def done(self, start: float) -> bool:
        cfg, p = self.cfg, self.progress
        return (
            (cfg.kimg > 0 and p.nimg >= cfg.kimg * 1000)
            or (cfg.max_steps > 0 and p.step >= cfg.max_steps)
            or (cfg.minutes > 0 and time.time() - start >= cfg.minutes * 60)
            or self.stop_requested
        )

    def _tune_threads(self, seconds: float, plain: bool = True) -> None:
        """Feed --threads auto one step's time (``plain``: not a rolled-back step)."""
        if not plain:
            self.tuner.discard()
            return
        count = self.tuner.step(seconds, self.cfg.batch)
        if count is not None:
            torch.set_num_threads(count)
        if self.tuner.news:
            print(f"ganart train: {self.tuner.news}", file=sys.stderr)
            self.log({"event": "threads", "step": self.progress.step, "kimg": self.progress.nimg / 1000,
                      "threads": self.tuner.current, "why": self.tuner.news})
            self.tuner.news = ""

    def fit(self) -> Path | None:
        cfg = self.cfg
        if self.rank == 0:  # an unusable --out fails now, not at the first snapshot
            (self.out / snapshot.SNAPSHOTS).mkdir(parents=True, exist_ok=True)
        if cfg.eval_every > 0:
            from ..metrics import inception_path

            inception_path()  # fail now, not an hour in, when the metrics extra is missing
        self.load_data()
        if self.resume_from is not None:
            self.load_state(self.resume_from)
            if self.rank == 0:
                print(f"ganart train: resumed from {self.resume_from} at step {self.progress.step}, "
                      f"{self.progress.nimg / 1000:.1f} kimg")
        self._install_signal_handlers()
        writer = _tensorboard(self.out) if self.rank == 0 else None
        bar = progress_bar(int(cfg.kimg * 1000) or None, self.progress.nimg) if self.rank == 0 else None
        start = time.time()
        last_snap_img, last_snap_time = self.progress.nimg, time.time()
        last_eval_img = self.progress.nimg
        t_log, img_log = time.time(), self.progress.nimg
        self.remember_good()
        while not self.done(start):
            t0 = time.time()
            stats = self.train_step()
            p = self.progress
            p.train_seconds += (took := time.time() - t0)
            if self.tuner is not None:
                self._tune_threads(took, plain=bool(stats["loss_G"].isfinite()))
            if bar is not None:
                bar.update(cfg.batch)
            if p.step % GOOD_STATE_EVERY == 0 and stats["loss_G"].isfinite():
                self.remember_good()
            if p.step % cfg.log_every == 0:
                values = {k: float(v) for k, v in stats.items()} | {"aug_p": p.aug_p}
                rate = (p.nimg - img_log) / max(time.time() - t_log, 1e-9)
                t_log, img_log = time.time(), p.nimg
                record = {"step": p.step, "kimg": p.nimg / 1000, **values, "img_per_s": rate, "rt": p.extra.get("rt")}
                self.log(record)
                if bar is not None:
                    bar.set_postfix(G=f"{values['loss_G']:.3f}", D=f"{values['loss_D']:.3f}",
                                    p=f"{values['aug_p']:.3f}", ips=f"{rate:.0f}")
                if writer is not None:
                    for k in ("loss_G", "loss_D", "r1", "aug_p", "img_per_s"):
                        writer.add_scalar(f"train/{k}", record[k], p.nimg)
            by_img = cfg.snapshot_kimg > 0 and p.nimg - last_snap_img >= cfg.snapshot_kimg * 1000
            by_time = cfg.snapshot_minutes > 0 and time.time() - last_snap_time >= cfg.snapshot_minutes * 60
            if by_img or by_time:
                self.snapshot()
                last_snap_img, last_snap_time = p.nimg, time.time()
                if self.tuner is not None:
                    self.tuner.discard()  # the next step pays for the pause (caches, pages)
            if cfg.eval_every > 0 and p.nimg - last_eval_img >= cfg.eval_every * 1000:
                last_eval_img = p.nimg
                if self.rank == 0:  # the other ranks wait at the next all-reduce
                    record = self.evaluate()
                    if writer is not None:
                        for k in ("fid", "kid"):
                            writer.add_scalar(f"eval/{k}{cfg.eval_n}", record[k], p.nimg)
                if self.tuner is not None:
                    self.tuner.discard()
        last = self.snapshot()
        if self.tuner is not None:  # the process's later work starts from all threads again
            torch.set_num_threads(self.tuner.rungs[0])
        p = self.progress
        self.log({"event": "end", "step": p.step, "kimg": p.nimg / 1000,
                  "nan_events": p.nan_events, "rank_checksums": self.rank_checksums()})
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        if self.rank == 0:
            why = "interrupted; saved" if self.stop_requested else "done"
            print(f"ganart train: {why} at step {p.step} ({p.nimg / 1000:.1f} kimg) -> {self.out}")
        return last

    def _install_signal_handlers(self) -> None:
        def handler(signum, frame):  # finish the current step, save, exit cleanly
            self.stop_requested = True

        try:
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread (e.g. tests): no handlers
            pass


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(out / "tensorboard"))

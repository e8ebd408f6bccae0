"""The GAN loss as an object (stylegan3's split): ``run_G`` and ``run_D`` are the two networks'
forward passes, ``accumulate_G`` / ``accumulate_D`` compute one phase's loss and its gradients.

With the residual D, G: the non-saturating logistic loss; D: the logistic loss (or, with
--loss relativistic, R3GAN's paired softplus(D(fake) - D(real)) and R2 on fakes beside R1); the
self-supervised D adds its decoders' reconstruction of the reals to D's loss. With --diversity, G's
loss adds, for pairs of fakes drawn from the same region of z, how far short of the real images'
spread in their cluster they fall (``diversity_shortfall``). With the
projected D, the hinge loss its authors use (G: -D(G(z)); D: relu(1 - D(x)) + relu(1 + D(G(z)))),
reals and fakes through D in separate calls (its BatchNorm sees one kind at a time). Either:
lazy R1 on augmented reals every ``r1_interval`` steps when gamma > 0, and optionally LeCam. The optimiser steps stay with the loop, which
checks that a step is finite (and all ranks agree) before any weight moves.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F

from ..models import Generator
from .augment import augment
from .clusters import partners
from .config import TrainConfig
from .distributed import all_reduce_mean
from .selfsupervised import REBUILD_WEIGHT

LECAM_DECAY = 0.99  # the LeCam paper's running-mean decay, per D step
W_AVG_DECAY = 0.995  # the mean w that truncation pulls toward, tracked as training goes
# Beside the residual D, the projected one sees every image shifted and cut out (DiffAugment at
# p = 1, as published) on top of ADA's transforms; not recoloured: colour is the pixel D's to judge.
FEATURE_POLICY = ("translation", "cutout")
G_LOSS = {"logistic": lambda fake: F.softplus(-fake).mean(), "hinge": lambda fake: -fake.mean()}
D_LOSS = {"logistic": lambda real, fake: F.softplus(fake).mean() + F.softplus(-real).mean(),
          "hinge": lambda real, fake: F.relu(1 + fake).mean() + F.relu(1 - real).mean()}


def lecam_anchors(anchors: torch.Tensor, real_mean: torch.Tensor, fake_mean: torch.Tensor) -> torch.Tensor:
    """Running means of D's logits: anchors [3] = (real, fake, started) -> the updated anchors.
    The first update takes the batch means as they are (no bias toward a zero start)."""
    now = torch.stack([real_mean, fake_mean]).detach().float()
    decay = LECAM_DECAY * anchors[2]  # 0 before the first update
    return torch.cat([now.lerp(anchors[:2], decay), anchors.new_ones(1)])


def diversity_shortfall(fake: torch.Tensor, pairs: int, labels: torch.Tensor | None,
                        spread: torch.Tensor) -> torch.Tensor:
    """Fakes [B, C, H, W] whose first ``pairs`` rows pair with the last ``pairs`` (each pair from
    one region of z) -> the mean of relu(1 - distance / spread[class]): 0 once every pair is as
    far apart (mean absolute pixel difference) as random real pairs of its cluster. The reward
    stops there, so G is never paid for noise beyond the data's own variety (Yang et al. 2019,
    "Diversity-Sensitive Conditional GANs", with the cap taken from the data)."""
    a, b = fake[:pairs].float(), fake[fake.shape[0] - pairs:].float()
    distance = (a - b).abs().mean(dim=(1, 2, 3))
    cap = spread[labels[:pairs]] if labels is not None else spread[0].expand(pairs)
    return F.relu(1 - distance / cap.clamp_min(1e-6)).mean()


def lecam_penalty(logits_real: torch.Tensor, logits_fake: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """LeCam: reals' logits above the fakes' running mean, and fakes' below the reals', cost their
    squared excess (Tseng et al. 2021, eq. 3)."""
    return (F.relu(logits_real - anchors[1]).square().mean()
            + F.relu(anchors[0] - logits_fake).square().mean())


class GANLoss:
    """G and D's losses for one rank. Every random draw comes from the three generators
    given here (latents, augmentation, G's noise inputs), which snapshots save for exact resume."""

    def __init__(self, G: Generator, D: torch.nn.Module, cfg: TrainConfig, device: torch.device, amp: bool,
                 world: int, gen_z: torch.Generator, gen_aug: torch.Generator, gen_noise: torch.Generator) -> None:
        self.G, self.D, self.cfg = G, D, cfg
        self.device, self.amp, self.world = device, amp, world
        self.gen_z, self.gen_aug, self.gen_noise = gen_z, gen_aug, gen_noise
        self.lecam = torch.zeros(3, device=device)  # LeCam's running logit means (lecam_anchors)
        self.rebuild = torch.zeros((), device=device)  # the self-supervised D's last reconstruction error
        self.spread = torch.ones(1, device=device)  # per cluster, for --diversity (clusters.spreads)
        self.shortfall = torch.zeros((), device=device)  # the last diversity_shortfall

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def run_G(self, b: int, track_w_avg: bool, pairs: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``b`` fresh images and, for a conditional G, their classes (the regions of their z);
        with probability ``style_mixing`` the layers from a random cut on take a second latent's
        w. ``track_w_avg``: move G's mean w toward this batch's. ``pairs``: the last that many z's
        are ``clusters.partners`` of the first ones."""
        cfg = self.cfg
        z = torch.randn(b - pairs, cfg.z_dim, generator=self.gen_z).to(self.device)
        if pairs:
            net = self.G.mapping_net
            dirs = net.class_dirs if net.classes else z.new_zeros(0, cfg.z_dim)
            z = torch.cat([z, partners(z[:pairs], dirs, self.gen_z)])
        labels = self.G.mapping_net.classes_of(z) if self.G.cfg.classes else None
        with self.autocast():
            ws = self.G.mapping(z)
            if cfg.style_mixing > 0:
                r = torch.rand(2, generator=self.gen_z)
                cut = int(r[1] * (self.G.num_ws - 1)) + 1
                z2 = torch.randn(b, cfg.z_dim, generator=self.gen_z).to(self.device)
                if r[0] < cfg.style_mixing:
                    ws = ws.clone()
                    ws[:, cut:] = self.G.mapping(z2)[:, cut:]
            if track_w_avg:
                with torch.no_grad():
                    self.G.w_avg.copy_(ws[:, 0].float().mean(0).lerp(self.G.w_avg, W_AVG_DECAY))
            return self.G.synthesis(ws, noise_mode="random", generator=self.gen_noise), labels

    def logits(self, img: torch.Tensor, labels: torch.Tensor | None = None,
               rebuild: bool = False) -> dict[str, torch.Tensor]:
        """D's logits on augmented images, by the loss they take: "logistic" (the residual D) and/or
        "hinge" (the projected D; beside the residual one it also gets its own DiffAugment).
        ``rebuild`` (reals): the self-supervised D's reconstruction loss comes too, as "rebuild".
        ``labels``: the images' classes, for a conditional (pixel) D."""
        kind = self.cfg.discriminator
        with self.autocast():
            if kind == "selfsupervised" and rebuild:
                logits, error = self.D.judge_and_rebuild(img, self.gen_aug, labels)
                return {"logistic": logits.float(), "rebuild": error}
            if kind in ("residual", "selfsupervised"):
                return {"logistic": self.D(img, labels=labels).float()}
            if kind == "projected":
                return {"hinge": self.D(img).float()}
            feature_img = augment(img, 1.0, FEATURE_POLICY, self.gen_aug)
            return {"logistic": self.D.pixel(img, labels=labels).float(),
                    "hinge": self.D.projected(feature_img).float()}

    def run_D(self, img: torch.Tensor, aug_p: float, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.logits(augment(img, aug_p, self.cfg.policy, self.gen_aug), labels)

    def accumulate_G(self, b: int, aug_p: float,
                     real: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> torch.Tensor:
        """G's loss (-log D(G(z)) for the logistic D, -D(G(z)) for the hinge one; with the
        relativistic loss, softplus(D(x) - D(G(z))) on the ``real`` (x, its labels)), with its
        gradients in G (D's weights are left untouched)."""
        self.D.requires_grad_(False)
        try:
            pairs = b // 2 if self.cfg.diversity > 0 else 0
            fake, labels = self.run_G(b, track_w_avg=True, pairs=pairs)
            out = self.run_D(fake, aug_p, labels)
            if self.cfg.loss == "relativistic":
                assert real is not None, "the relativistic loss pairs each fake with a real"
                with torch.no_grad():
                    real_logits = self.run_D(real[0], aug_p, real[1])["logistic"]
                loss = F.softplus(real_logits - out["logistic"]).mean()
            else:
                loss = sum(G_LOSS[k](v) for k, v in out.items())
            if pairs:
                shortfall = diversity_shortfall(fake, pairs, labels, self.spread)
                loss = loss + self.cfg.diversity * shortfall
                self.shortfall = shortfall.detach()  # logged beside G's loss, which includes it
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        return loss.detach()

    def accumulate_D(self, real: torch.Tensor, aug_p: float, do_r1: bool, track_w_avg: bool,
                     labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """D's loss on ``real`` (with its ``labels`` for a conditional D) and as many fresh fakes,
        with its gradients in D.
        -> (loss, the gradient penalty or 0: R1, plus R2 with the relativistic loss, what ADA
        watches: D's logits on the reals, or with the relativistic loss each real's margin over its
        paired fake, as only differences of logits mean anything there)."""
        cfg = self.cfg
        relativistic = cfg.loss == "relativistic"
        with torch.no_grad():
            fake, fake_labels = self.run_G(real.shape[0], track_w_avg)
        real_aug = augment(real, aug_p, cfg.policy, self.gen_aug).detach().requires_grad_(do_r1)
        reals = self.logits(real_aug, labels, rebuild=True)
        rebuild = reals.pop("rebuild", None)
        fake_aug = augment(fake, aug_p, cfg.policy, self.gen_aug).detach().requires_grad_(do_r1 and relativistic)
        fakes = self.logits(fake_aug, fake_labels)
        if relativistic:
            loss = F.softplus(fakes["logistic"] - reals["logistic"]).mean()
        else:
            loss = sum(D_LOSS[k](reals[k], fakes[k]) for k in reals)
        if rebuild is not None:
            loss = loss + REBUILD_WEIGHT * rebuild
            self.rebuild = rebuild.detach()  # logged beside D's loss, which includes it
        # the logits that ADA, R1 and LeCam watch: the pixel D's where there is one
        watched = "logistic" if "logistic" in reals else "hinge"
        logits_real, logits_fake = reals[watched], fakes[watched]
        r1 = torch.zeros((), device=self.device)
        if do_r1:
            pairs = [(logits_real, real_aug)] + ([(logits_fake, fake_aug)] if relativistic else [])
            for logits, x in pairs:
                (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
                r1 = r1 + grad.float().square().sum(dim=(1, 2, 3)).mean()
            loss = loss + r1 * (cfg.gamma / 2 * cfg.r1_interval)
        if cfg.lecam > 0:
            means = all_reduce_mean(torch.stack([logits_real.mean(), logits_fake.mean()]).detach(), self.world)
            self.lecam = lecam_anchors(self.lecam, means[0], means[1])
            loss = loss + cfg.lecam * lecam_penalty(logits_real, logits_fake, self.lecam)
        loss.backward()
        verdicts = logits_real - logits_fake if relativistic else logits_real
        return loss.detach(), r1.detach(), verdicts.detach()

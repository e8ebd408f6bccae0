"""DiffAugment-style differentiable augmentations with an adaptive probability (ADA-like).

Each augmentation is applied to each image independently with probability ``p``; all
randomness comes from an explicit ``torch.Generator`` so training resumes exactly.
x: [B, C, H, W] in [-1, 1].

``geom`` adds ADA's general geometric transforms (isotropic and anisotropic scaling, arbitrary
rotation; Karras et al. 2020), which that paper found to do most of the work on small datasets.
Rotation by any angle "leaks" into the generator if every real is rotated, so keep
``--ada-max-p`` below 1 with it (ADA: safe up to p ~ 0.8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device).to(device)


def _randn(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(n, generator=g, device=g.device).to(device)


def _gate(x: torch.Tensor, y: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Per-sample choice: y with probability p, else x."""
    keep = (_rand(x.shape[0], g, x.device) < p)[:, None, None, None]
    return torch.where(keep, y, x)


def color(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    y = x + (_rand(b, g, x.device) - 0.5)[:, None, None, None]  # brightness
    mean = y.mean(dim=1, keepdim=True)
    y = (y - mean) * (_rand(b, g, x.device) * 2)[:, None, None, None] + mean  # saturation
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * (_rand(b, g, x.device) + 0.5)[:, None, None, None] + mean  # contrast
    return _gate(x, y, p, g)


def translation(x: torch.Tensor, p: float, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = (_rand(b, g, x.device) * (2 * sh + 1)).long() - sh
    ty = (_rand(b, g, x.device) * (2 * sw + 1)).long() - sw
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + tx[:, None, None] + 1).clamp(0, h + 1)
    gx = (gx[None] + ty[:, None, None] + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # shifted-in pixels are 0 (mid-grey)
    idx = (gy * (w + 2) + gx).reshape(b, 1, -1).expand(-1, x.shape[1], -1)
    y = padded.reshape(b, x.shape[1], -1).gather(2, idx).reshape_as(x)
    return _gate(x, y, p, g)


def cutout(x: torch.Tensor, p: float, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (_rand(b, g, x.device) * (h + 1 - ch % 2)).long()
    cx = (_rand(b, g, x.device) * (w + 1 - cw % 2)).long()
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy[:, None, None]).abs() * 2 < ch) & ((xs - cx[:, None, None]).abs() * 2 < cw)
    y = x * (~inside)[:, None].to(x.dtype)
    return _gate(x, y, p, g)


def geom(x: torch.Tensor, p: float, g: torch.Generator, log2_std: float = 0.2) -> torch.Tensor:
    """Per image, each with probability p: isotropic scale 2^N(0, log2_std^2), rotation
    U(-pi, pi), anisotropic scale 2^N(0, log2_std^2); one bilinear resample with mirrored borders
    (on white-background art the border is white). Images that drew no transform are returned
    untouched, not resampled, so D still sees unblurred reals."""
    b = x.shape[0]
    draws = [(_rand(b, g, x.device) < p) for _ in range(3)]  # always draw: RNG use independent of p
    iso = torch.where(draws[0], _randn(b, g, x.device) * log2_std, 0.0).exp2()
    angle = torch.where(draws[1], (_rand(b, g, x.device) * 2 - 1) * torch.pi, 0.0)
    aniso = torch.where(draws[2], _randn(b, g, x.device) * log2_std, 0.0).exp2()
    sx, sy, cos, sin = iso * aniso, iso / aniso, angle.cos(), angle.sin()
    zero = torch.zeros_like(cos)
    # theta [B, 2, 3]: output pixel -> where to read it from, in [-1, 1] coordinates
    theta = torch.stack([torch.stack([cos * sx, -sin * sy, zero], 1), torch.stack([sin * sx, cos * sy, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    applied = (draws[0] | draws[1] | draws[2])[:, None, None, None]
    return torch.where(applied, y, x)


_OPS = {"color": color, "translation": translation, "cutout": cutout, "geom": geom}
POLICIES = tuple(_OPS)


def augment(x: torch.Tensor, p: float, policy: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    if p <= 0 or not policy:
        return x
    for name in policy:
        x = _OPS[name](x, p, g)
    return x

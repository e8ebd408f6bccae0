"""A compact style-based generator (StyleGAN2-like) and its discriminator, in pure PyTorch.

Read top to bottom: equalised-LR layers, the modulated conv, the mapping network,
the synthesis network, the generator that ties them together, then the discriminator.

No custom CUDA ops: everything is ordinary conv/linear/interpolate, so the same code
runs on CPU, CUDA and MPS. Modulation is done as *input scaling -> one shared-weight
conv -> output demodulation*, which keeps a batch as one big convolution (fast on CPU)
instead of a grouped conv with one weight per sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

LRELU_GAIN = math.sqrt(2.0)


# --- batch invariance -----------------------------------------------------------------
# On CPU a sample's pixels must not depend on what else is in its batch (a recipe rendered
# alone must match the same recipe rendered in a grid). Two kernels break that: GEMM picks
# different blockings for M=1 and M>1, and conv2d takes a non-oneDNN path for batch 1 at
# small sizes. At CPU inference we therefore run linear maps row by row and always send
# convs through oneDNN (batch-invariant). Training and GPUs use the plain batched ops.


def _invariant(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and not torch.is_grad_enabled() and x.shape[0] > 1


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear; row by row at CPU inference so each row's result is batch-independent."""
    if not _invariant(x):
        return F.linear(x, weight, bias)
    return torch.cat([F.linear(row, weight, bias) for row in x.split(1)])


def conv2d(
    x: torch.Tensor, weight: torch.Tensor, padding: int, weight_mkldnn: torch.Tensor | None = None
) -> torch.Tensor:
    """F.conv2d that always takes oneDNN at CPU inference (PyTorch's batch-1 small-input
    fallback gives different rounding from the batched oneDNN kernel)."""
    small = x.shape[0] == 1 and x.numel() <= 20480
    if weight_mkldnn is not None and small and x.dtype == torch.float32 and not torch.is_grad_enabled():
        return F.conv2d(x.to_mkldnn(), weight_mkldnn, padding=padding).to_dense()
    return F.conv2d(x, weight, padding=padding)


def _version(t: torch.Tensor) -> int:
    try:
        return t._version
    except RuntimeError:  # inference tensors (made under inference_mode) are immutable
        return -1


def _training(module: nn.Module) -> bool:
    return torch.is_grad_enabled() and any(p.requires_grad for p in module.parameters(recurse=False))


class InferenceCache:
    """Caches a layer's derived tensors (scaled weights, ...) while it is used for inference.

    Recomputing them every call costs as much as a small conv on CPU. The cache key is each
    own parameter/buffer's version counter and storage, so ``load_state_dict``, ``.to()`` or
    an optimiser step invalidates it. Reassigning the tuple is atomic: safe across threads.
    Rendering (no grad) and projecting (grad through the activations, frozen weights) each
    keep their own: tensors made under inference mode cannot be saved for a backward pass.
    """

    _cache: tuple | None = None
    _grad_cache: tuple | None = None

    def cached(self: nn.Module, compute):  # type: ignore[misc]
        if _training(self):
            return compute()
        tensors = list(self._parameters.values()) + list(self._buffers.values())
        key = tuple((_version(t), t.data_ptr(), t.device, t.dtype) for t in tensors if t is not None)
        slot = "_grad_cache" if torch.is_grad_enabled() else "_cache"
        cache = getattr(self, slot)
        if cache is None or cache[0] != key:
            if slot == "_cache":
                with torch.no_grad():
                    cache = (key, compute())
            else:  # the weights are frozen, so no graph is built; grad mode keeps oneDNN's path off
                cache = (key, compute())
            setattr(self, slot, cache)
        return cache[1]


class EqualLinear(InferenceCache, nn.Module):
    """Linear layer with equalised learning rate: weights stored at unit scale."""

    def __init__(
        self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.w_gain = lr_mul / math.sqrt(cin)
        self.b_gain = lr_mul
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gain = LRELU_GAIN if self.act else 1.0  # lrelu(a*x) = a*lrelu(x): fold the gain in
        weight, bias = self.cached(
            lambda: (self.weight * (self.w_gain * gain), self.bias * (self.b_gain * gain))
        )
        x = linear(x, weight, bias)
        return F.leaky_relu(x, 0.2, inplace=not torch.is_grad_enabled()) if self.act else x


class EqualConv2d(nn.Module):
    """Plain (unmodulated) conv with equalised learning rate; used by the discriminator."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, act: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = 1.0 / math.sqrt(cin * k * k)
        self.act = act
        self.pad = k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.act else x


class ModulatedConv2d(InferenceCache, nn.Module):
    """Style-modulated 3x3 (or 1x1) conv.

    x: [B, Cin, H, W], w: [B, w_dim] -> [B, Cout, H', W'].
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        w_dim: int,
        k: int = 3,
        demodulate: bool = True,
        up: bool = False,
        resolution: int = 4,
        use_noise: bool = False,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)  # w -> per-input-channel style
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.gain = 1.0 / math.sqrt(cin * k * k)
        self.demodulate = demodulate
        self.up = up
        self.act = act
        self.pad = k // 2
        self.use_noise = use_noise
        if use_noise:
            # 'const' noise is a fixed buffer so inference is deterministic per seed.
            self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def _prepare(self) -> tuple:
        """(scaled weight, squared weight summed over the kernel [Cout, Cin],
        bias offset [1, Cout, 1, 1], bias + const-noise offset [1, Cout, H, W],
        the weight as a oneDNN tensor for CPU inference or None).

        lrelu's gain is folded into the offsets here and into the scale in forward,
        since lrelu(a*x) = a*lrelu(x) for a > 0: one multiply, one add, one lrelu per layer.
        """
        gain = LRELU_GAIN if self.act else 1.0
        weight = self.weight * self.gain
        wsq = weight.square().sum(dim=(2, 3))
        offset = self.bias[None, :, None, None] * gain
        const = offset + self.noise_const * (self.noise_strength * gain) if self.use_noise else offset
        cpu_inference = weight.device.type == "cpu" and not torch.is_grad_enabled() and self.pad > 0
        return weight, wsq, offset, const, weight.to_mkldnn() if cpu_inference else None

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        weight, wsq, offset, const_offset, weight_mkldnn = self.cached(self._prepare)
        styles = self.affine(w)  # [B, Cin]
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if self.pad == 0:
            # 1x1 (toRGB): per-sample weights are tiny, so one batched matmul beats conv2d
            b, c, h, wd = x.shape
            wb = weight.flatten(1)[None] * styles[:, None, :]  # [B, Cout, Cin]
            x = torch.bmm(wb, x.reshape(b, c, h * wd)).reshape(b, -1, h, wd)
        else:
            x = conv2d(x * styles[:, :, None, None], weight, self.pad, weight_mkldnn)
        gain = LRELU_GAIN if self.act else 1.0
        if not self.use_noise or noise_mode == "none":
            pass
        elif noise_mode == "const":
            offset = const_offset
        else:
            b, _, h, wd = x.shape
            # the generator must live on x's device (training passes one per device)
            noise = torch.randn((b, 1, h, wd), generator=generator, device=x.device, dtype=x.dtype)
            offset = offset + noise * (self.noise_strength * gain)
        if self.demodulate:
            # d[b, o] = 1 / sqrt(sum_i,k (W[o,i,k] * s[b,i])^2); [B, Cout]
            scale = torch.rsqrt(linear(styles.square(), wsq) + 1e-8)[:, :, None, None] * gain
        else:
            scale = gain
        if torch.is_grad_enabled():
            x = x * scale + offset
        else:  # inference: x is a fresh tensor, update it in place (saves allocations)
            x = x.mul_(scale).add_(offset)
        if self.act:
            x = F.leaky_relu(x, 0.2, inplace=not torch.is_grad_enabled())
        return x


class MappingNetwork(nn.Module):
    """z [B, z_dim] -> w [B, w_dim]: normalise, then an MLP with a low learning rate.

    With ``classes`` > 0 the normalised z first gets its region's embedding added: the regions
    cut z's space by the largest of z . dirs[k] + bias[k] (fixed buffers; the biases are set by
    ``fit_region_bias``, via ``training.clusters.condition``, so that each region is as likely as
    its cluster of training images). The
    embeddings start at zero, so a conditional G starts out as the unconditional one.
    """

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float, classes: int = 0) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_mul=lr_mul, act=True) for a, b in zip(dims[:-1], dims[1:])
        )
        self.classes = classes
        if classes:
            g = torch.Generator().manual_seed(classes)
            dirs = torch.randn(classes, z_dim, generator=g)
            self.register_buffer("class_dirs", dirs / dirs.norm(dim=1, keepdim=True))
            self.register_buffer("class_bias", torch.zeros(classes))
            self.class_embed = nn.Parameter(torch.zeros(classes, z_dim))

    @staticmethod
    def normalize(z: torch.Tensor) -> torch.Tensor:
        return z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)

    def classes_of(self, z: torch.Tensor) -> torch.Tensor:
        """The region (class) of each z [B, z_dim] -> int64 [B]; all 0 for an unconditional G."""
        if not self.classes:
            return torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        return class_regions(self.normalize(z.float()), self.class_dirs, self.class_bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.normalize(z)
        if self.classes:
            x = x + self.class_embed[class_regions(x.float(), self.class_dirs, self.class_bias)].to(x.dtype)
        for layer in self.layers:
            x = layer(x)
        return x


def class_regions(x: torch.Tensor, dirs: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x [B, D] -> the index of the largest x . dirs[k] + bias[k], int64 [B]."""
    return (x @ dirs.T + bias).argmax(dim=1)


def fit_region_bias(dirs: torch.Tensor, priors: torch.Tensor, samples: int = 1 << 16, steps: int = 300,
                    seed: int = 0) -> torch.Tensor:
    """Biases that make region k of ``class_regions`` hold a share ``priors[k]`` of normal z's:
    multiplicative steps on a fixed sample (seeded, so the same on every run and rank)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, dirs.shape[1], generator=g)
    scores = MappingNetwork.normalize(z) @ dirs.T
    target = priors.double() / priors.sum()
    bias = torch.zeros(dirs.shape[0], dtype=torch.float64)
    for _ in range(steps):
        share = torch.bincount((scores.double() + bias).argmax(1), minlength=len(bias)).double() / samples
        bias += 0.5 * (target.log() - share.clamp_min(0.5 / samples).log())
        bias -= bias.mean()
    return bias.float()


class SynthesisBlock(nn.Module):
    """One resolution: (upsampling conv,) conv, toRGB. Consumes 2 ws (1 at 4x4) + 1 for toRGB."""

    def __init__(self, cfg: ModelConfig, res: int) -> None:
        super().__init__()
        cout = cfg.channels(res)
        self.res = res
        if res == 4:
            self.const = nn.Parameter(torch.randn(1, cout, 4, 4))
            self.conv0 = None
        else:
            cin = cfg.channels(res // 2)
            self.conv0 = ModulatedConv2d(
                cin, cout, cfg.w_dim, up=True, resolution=res, use_noise=cfg.use_noise
            )
        self.conv1 = ModulatedConv2d(cout, cout, cfg.w_dim, resolution=res, use_noise=cfg.use_noise)
        self.torgb = ModulatedConv2d(
            cout, cfg.img_channels, cfg.w_dim, k=1, demodulate=False, act=False
        )

    @property
    def num_conv(self) -> int:
        return 1 if self.conv0 is None else 2


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> image [B, C, R, R] (roughly in [-1, 1]).

    w index layout for a 64 px model (num_ws = 10): 0 = 4x4 conv, 1-2 = 8x8, 3-4 = 16x16,
    5-6 = 32x32, 7-8 = 64x64, 9 = final toRGB. Each block's toRGB uses the next w, as in
    StyleGAN2, so layer ranges map to coarse (low index) -> fine (high index) features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(SynthesisBlock(cfg, r) for r in cfg.resolutions)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        x = img = None
        i = 0
        for block in self.blocks:
            if block.conv0 is None:
                x = block.const.expand(ws.shape[0], -1, -1, -1)
            else:
                x = block.conv0(x, ws[:, i], noise_mode, generator)
                i += 1
            x = block.conv1(x, ws[:, i], noise_mode, generator)
            i += 1
            y = block.torgb(x, ws[:, i])  # the next w drives toRGB
            if img is None:
                img = y
            else:
                img = F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False) + y
        return img


class Generator(nn.Module):
    """z -> image. ``mapping`` gives per-layer ws so callers can mix and edit them."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping_net = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.mapping_lr_mul, cfg.classes)
        self.synthesis_net = SynthesisNetwork(cfg)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    @property
    def num_ws(self) -> int:
        return self.cfg.num_ws

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """z [B, z_dim] -> ws [B, num_ws, w_dim], truncated toward ``w_avg`` by psi."""
        w = self.mapping_net(z)
        if psi != 1.0:
            w = truncate(w, self.w_avg, psi)
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesis(
        self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.synthesis_net(ws, noise_mode, generator)

    def forward(self, z: torch.Tensor, psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, psi), noise_mode)

    def style_affines(self) -> list[EqualLinear]:
        """The affine layers w -> style, in ws order (used by SeFa)."""
        out: list[EqualLinear] = []
        for block in self.synthesis_net.blocks:
            if block.conv0 is not None:
                out.append(block.conv0.affine)
            out.append(block.conv1.affine)
        out.append(self.synthesis_net.blocks[-1].torgb.affine)
        return out


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    """Pull w toward the average w: psi=1 unchanged, 0 the average, <0 the 'opposite'."""
    return w_avg + psi * (w - w_avg)


# --- discriminator ----------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
    """Residual block: two 3x3 convs and a 1x1 skip, then 2x average-pool down."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(cin, cin, 3)
        self.conv1 = EqualConv2d(cin, cout, 3)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(self.skip(x), 2)
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + y) * (1 / math.sqrt(2))


class Discriminator(nn.Module):
    """image [B, C, R, R] -> realness logit [B, 1]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        res = cfg.resolution
        self.fromrgb = EqualConv2d(cfg.img_channels, cfg.d_channels(res), 1)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(cfg.d_channels(r), cfg.d_channels(r // 2))
            for r in reversed(cfg.resolutions[1:])
        )
        c4 = cfg.d_channels(4)
        self.mbstd_group = cfg.mbstd_group
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, act=True)
        self.out = EqualLinear(c4, 1)
        if cfg.classes:  # the projection discriminator's class term (Miyato & Koyama 2018), from zero
            self.class_embed = nn.Parameter(torch.zeros(cfg.classes, c4))

    def minibatch_std(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.mbstd_group, b)
        while b % g:  # largest group size that divides the batch
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [B/g]
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, img: torch.Tensor, maps: list[torch.Tensor] | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """``maps``, if given, receives each block's output (R/2 px down to 4 px). ``labels`` [B]
        (a conditional D's classes of the images) add each one's class embedding . features."""
        x = self.fromrgb(img)
        for block in self.blocks:
            x = block(x)
            if maps is not None:
                maps.append(x)
        x = self.conv(self.minibatch_std(x))
        h = self.fc(x.flatten(1))
        out = self.out(h)
        if labels is not None:
            if not self.cfg.classes:
                raise ValueError("labels given to an unconditional discriminator")
            out = out + (self.class_embed[labels].to(h.dtype) * h).sum(dim=1, keepdim=True)
        return out


# --- growing a trained model --------------------------------------------------------------


def grown_state(state: dict[str, torch.Tensor], into: nn.Module) -> dict[str, torch.Tensor]:
    """A narrower model's ``state`` embedded in ``into``'s wider layers, computing the same function.

    Each tensor that grew is a layer with more channels (its config passed
    ``ModelConfig.growth_problem``): dim 0 is its outputs, dim 1 (weights) its inputs.
    The old block goes into the leading corner; the new input columns are zero, so the new
    channels add nothing until trained (their gradients are not zero); the new output rows
    (and the new channels of G's 4x4 constant) keep ``into``'s fresh init. Equalised-LR
    weights are divided by sqrt(fan_in) at run time, so the copied block is multiplied by
    sqrt(new_in / old_in): the effective weights stay exact.
    Tensors of equal shape are copied as they are.
    """
    target = into.state_dict()
    if state.keys() != target.keys():
        missing, extra = sorted(target.keys() - state.keys()), sorted(state.keys() - target.keys())
        raise ValueError(f"cannot grow: tensors missing {missing[:3]}, unexpected {extra[:3]}")
    out: dict[str, torch.Tensor] = {}
    for name, big in target.items():
        small = state[name].to(big.device, big.dtype)
        if small.shape == big.shape:
            out[name] = small.clone()
            continue
        if small.ndim != big.ndim or small.shape[2:] != big.shape[2:] or any(
            s > b for s, b in zip(small.shape, big.shape)
        ):
            raise ValueError(f"cannot grow {name}: {tuple(small.shape)} does not fit in {tuple(big.shape)}")
        grown = big.detach().clone()
        scale = 1.0
        # G's learned 4x4 input [1, C, 4, 4] is an activation, not a weight: its new channels
        # keep their random init (so the zero columns they feed get gradients), the old ones
        # are copied unscaled.
        if grown.ndim >= 2 and not name.endswith(".const"):
            grown[:, small.shape[1] :] = 0
            scale = math.sqrt(big.shape[1] / small.shape[1])
        grown[tuple(slice(0, n) for n in small.shape)] = small * scale
        out[name] = grown
    return out

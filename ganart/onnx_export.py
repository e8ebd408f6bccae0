"""The synthesis network (ws -> image) as ONNX, for rendering in a visitor's browser
(onnxruntime-web) or with any ONNX runtime. The mapping network stays with the caller: the
page receives w per seed and does the latent math itself (``ganart/web/latent.mjs``).

Exports are cached by the weights' sha256, so a restarted app does not export again.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .cache import cache_root
from .files import atomic_write
from .models import Generator, count_params

OPSET = 18  # pinned: onnxruntime-web 1.30 runs it
EXPORT_VERSION = 1  # raise when the synthesis code changes what an export holds: a new cache entry
INPUT, OUTPUT = "ws", "image"


class _Synthesis(torch.nn.Module):
    def __init__(self, G: torch.nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.G.synthesis(ws)  # constant noise, as every ganart render


def export_synthesis(G: Generator, path: str | Path, *, fold: bool = True, warm: bool = True) -> Path:
    """Write G's synthesis network as ONNX: input "ws" float32 [1, num_ws, w_dim], output
    "image" float32 [1, C, R, R] in about [-1, 1] (pixels: round((clamp(x, -1, 1) + 1) * 127.5)).
    ``fold`` / ``warm``: constant folding, and from the layers' cached weights (both off: the
    variants that experiments/onnx_variants.py compares)."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; a clear message beats its own)
    except ImportError:
        raise RuntimeError("exporting ONNX needs the onnx package: pip install onnx") from None
    path = Path(path)
    # a fresh copy on the CPU in float32 (the original's inference cache holds oneDNN tensors),
    # traced with grad mode on: the oneDNN fast path of CPU inference is not an ONNX operator
    fresh = Generator(G.cfg)
    fresh.load_state_dict({k: v.float().cpu() for k, v in G.state_dict().items()})
    net = _Synthesis(fresh.eval().requires_grad_(False))
    ws = torch.zeros(1, G.num_ws, G.cfg.w_dim)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.enable_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            # one pass first fills each layer's cache of derived weights (scaled, squared and
            # summed for demodulation): the trace takes those as constants, so the file holds
            # each weight once, ready to use, and the page's runtime needs no graph optimisation
            if warm:
                net(ws)
            torch.onnx.export(net, (ws,), str(tmp), opset_version=OPSET, dynamo=False, do_constant_folding=fold,
                              input_names=[INPUT], output_names=[OUTPUT])

    atomic_write(path, write)
    return path


def cached_export(G: Generator, sha256: str) -> Path:
    """The ONNX file of the weights with this sha256, exported on first use (keyed also by the
    export's own version and torch's, which write it)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    torch_version = torch.__version__.replace("+", "-")
    path = onnx_dir() / f"{sha256}-v{EXPORT_VERSION}-opset{OPSET}-torch{torch_version}.onnx"
    if not path.is_file():
        export_synthesis(G, path)
    return path


def export_bytes(G: Generator) -> int:
    """G's synthesis weights and buffers in float32, known before exporting: an export takes
    ~10-15 % more (the derived sums for demodulation, the noise offsets)."""
    return 4 * (count_params(G.synthesis_net) + sum(b.numel() for b in G.synthesis_net.buffers()))


def onnx_dir() -> Path:
    """Where exports are cached (the app serves this folder to the page, nothing above it)."""
    return cache_root() / "onnx"

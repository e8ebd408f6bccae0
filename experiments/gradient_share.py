"""How much of G's gradient each part of a residual+projected D gives: the norm of d(G loss)/d(image)
from the pixel D's logistic loss and from the projected heads' hinge loss, on 16 fixed samples of
a snapshot (the figure behind docs/training.md section 11).

    python experiments/gradient_share.py runs/d/residual-projected/snapshots/step00003676
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart.training import TrainConfig, Trainer  # noqa: E402
from ganart.training.snapshot import load_modules, read_state  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot", help="a snapshot folder of a --discriminator residual+projected run")
    ap.add_argument("--n", type=int, default=16)
    args = ap.parse_args()
    tensors, meta = read_state(Path(args.snapshot))
    saved = json.loads(meta["config"])
    if saved.get("discriminator") != "residual+projected":
        raise SystemExit(f"{args.snapshot}: not a residual+projected run")
    shape = {k: saved[k] for k in ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                                   "g_channels", "d_channel_base", "d_channel_max", "use_noise", "feature_size")}
    t = Trainer(TrainConfig.create(data="emoji", out="/tmp/unused", discriminator="residual+projected",
                                   clusters=saved.get("clusters", 0), **shape))
    load_modules({"G": t.G, "D": t.D}, tensors)
    z = torch.randn(args.n, t.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        img = t.G(z)
    parts = {"pixel (logistic)": lambda x: F.softplus(-t.D.pixel(x)).mean(),
             "projected (hinge)": lambda x: (-t.D.projected(x)).mean()}
    for name, loss_of in parts.items():
        x = img.clone().requires_grad_(True)
        loss = loss_of(x)
        (grad,) = torch.autograd.grad(loss, x)
        print(f"{name}: G loss {loss.item():.3f}, gradient norm {grad.norm().item():.4g}")


if __name__ == "__main__":
    main()

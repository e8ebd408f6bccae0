"""Training speed on this machine: images/s of the default config, the step's achieved
GFLOP/s as a fraction of a same-run fp32 matmul, and its dispatched ops (the count that bounds
a small model's step on a GPU, where each op is a kernel launch).

    python benchmarks/train_speed.py [--resolution 64] [--batch 32] [--steps 6]
        [--shapes 2048x256,1024x256]   # channel_base x channel_max candidates, one line each
        [--amp off,bf16]               # precision arms, measured one after the other
        [--aug-p 0.6]                  # ADA's augmentations applied with this probability
        [--discriminators residual,residual+projected] [--feature-sizes 64,96,128]
                                       # D arms; a projected one at each feature-network input size
    python benchmarks/train_speed.py --threads 2,1,auto [--beside 1] [--seconds 90] [--batch 8 --amp bf16]
                                       # thread-count arms, each for --seconds, beside N busy threads
                                       # of another process (the app, a browser: the machine shared)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import count_work, matmul_gflops  # noqa: E402

from ganart.training import TrainConfig, Trainer  # noqa: E402
from ganart.training.config import uses_feature_network  # noqa: E402
from ganart.training.data import ImageBatches  # noqa: E402
from ganart.training.threads import ThreadTuner  # noqa: E402

# another process's busy threads: small matmuls, one thread each, until killed
BUSY = "import torch; torch.set_num_threads(1); a = torch.randn(256, 256)\nwhile True: a = torch.tanh(a @ a / 16)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--shapes", default="", help="comma-separated BASExMAX channel shapes (default: the default config)")
    ap.add_argument("--aug-p", type=float, default=0.0, help="augmentation probability (fixed)")
    ap.add_argument("--amp", default="off", help="comma-separated precision arms: off, bf16")
    ap.add_argument("--discriminators", default="residual", help="comma-separated --discriminator arms")
    ap.add_argument("--feature-sizes", default="128", help="comma-separated --feature-size arms (projected Ds)")
    ap.add_argument("--threads", default="", help="comma-separated thread-count arms: N or auto (default: none)")
    ap.add_argument("--beside", type=int, default=0, help="with --threads: busy threads of another process meanwhile")
    ap.add_argument("--seconds", type=float, default=90.0, help="with --threads: how long each arm trains")
    args = ap.parse_args()
    if args.threads:
        return measure_threads(args)
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul: {peak:.1f} GFLOP/s")
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",") if s] or [
        (TrainConfig.channel_base, TrainConfig.channel_max)]
    sizes = [int(v) for v in args.feature_sizes.split(",")]
    for base, cmax in shapes:
        for amp in args.amp.split(","):
            for kind in args.discriminators.split(","):
                for size in sizes if uses_feature_network(kind) else sizes[:1]:
                    measure(args, base, cmax, peak, amp, kind, size)


def random_trainer(args: argparse.Namespace, tmp: str, **flags) -> Trainer:
    """A Trainer on random pixels (speed does not depend on content)."""
    cfg = TrainConfig.create(data="unused", out=tmp, resolution=args.resolution, batch=args.batch,
                             aug_p=args.aug_p, ada_target=0.0, ada_max_p=1.0,
                             clusters=0, **flags)  # random pixels have no clusters; they cost a small matmul
    t = Trainer(cfg)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (256, args.resolution, args.resolution, 3), dtype=np.uint8)
    t.data = ImageBatches(images, t.device, seed=0)
    return t


def measure_threads(args: argparse.Namespace) -> None:
    """img/s of each thread-count arm over --seconds of steps, with --beside busy threads running
    in another process the whole time; auto starts at all cores and probes every 10 s at first."""
    most = torch.get_num_threads()
    print(f"torch {torch.__version__}, {most} threads by default; {args.beside} busy thread(s) beside; "
          f"batch {args.batch}, amp {args.amp}, {args.seconds:g} s per arm")
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.beside)]
    try:
        for arm in args.threads.split(","):
            torch.set_num_threads(most)
            with tempfile.TemporaryDirectory() as tmp:
                t = random_trainer(args, tmp, amp=args.amp.split(",")[0], threads=-1 if arm == "auto" else int(arm))
                if arm == "auto":
                    t.tuner = ThreadTuner(most, t.cfg.r1_interval, first_gap=10.0)
                for _ in range(3):
                    t.train_step()  # warm-up
                steps, start = 0, time.perf_counter()
                while (now := time.perf_counter()) - start < args.seconds:
                    t.train_step()
                    if t.tuner is not None:
                        t._tune_threads(time.perf_counter() - now)
                    steps += 1
                rate = steps * args.batch / (time.perf_counter() - start)
            print(f"--threads {arm}: {rate:.1f} img/s" + (f", ending at {t.tuner.current}" if t.tuner else ""), flush=True)
    finally:
        for p in busy:
            p.kill()


def measure(args: argparse.Namespace, base: int, cmax: int, peak: float, amp: str, kind: str, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = random_trainer(args, tmp, channel_base=base, channel_max=cmax, amp=amp, discriminator=kind,
                           feature_size=size, threads=0)
        cfg = t.cfg
        t.train_step()  # warm-up (and the lazy-R1 step 0)
        # FLOPs of a plain step and of an R1 step, weighted as they occur (1 in r1_interval)
        plain, plain_ops = count_work(t.train_step)
        t.progress.step = 0
        r1, r1_ops = count_work(t.train_step)
        flops = (plain * (cfg.r1_interval - 1) + r1) / cfg.r1_interval
        ops = (plain_ops * (cfg.r1_interval - 1) + r1_ops) / cfg.r1_interval  # what bounds a GPU step
        t.progress.step = 1
        start = time.perf_counter()
        for _ in range(args.steps):
            t.train_step()
        dt = (time.perf_counter() - start) / args.steps
    params = cfg.model_config().generator_params()
    d = kind + (f" at {size} px" if uses_feature_network(kind) else "")
    print(f"{args.resolution}px {base}x{cmax} (G {params / 1e6:.2f} M params), D {d}, batch {args.batch}, amp {amp}: "
          f"{args.batch / dt:.2f} img/s, {dt * 1e3:.0f} ms/step, "
          f"{flops / 1e9:.1f} GFLOP/step, {ops:,.0f} ops/step, {flops / dt / 1e9:.1f} GFLOP/s = {100 * flops / dt / 1e9 / peak:.0f}% of matmul")


if __name__ == "__main__":
    main()

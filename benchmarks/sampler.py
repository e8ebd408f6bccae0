"""Sampler speed on this machine: single-image latency, batched throughput, and the
generator's achieved GFLOP/s as a fraction of a same-run fp32 matmul.

    python benchmarks/sampler.py [--resolutions 64,128,256] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import count_flops, matmul_gflops, percentiles  # noqa: E402

from ganart import ModelConfig, Sampler, save_checkpoint  # noqa: E402
from ganart.latent import seeds_to_z  # noqa: E402
from ganart.models import Generator  # noqa: E402


def bench(sampler: Sampler, single_runs: int, batch: int) -> dict[str, float]:
    G = sampler.G
    for s in range(3):
        sampler.generate(s)
    lat = []
    for s in range(single_runs):  # the full public path: seed -> PIL image with recipe
        t = time.perf_counter()
        sampler.generate(1000 + s)
        lat.append(time.perf_counter() - t)
    p50, p95 = percentiles(lat, 50, 95)
    ws = sampler.ws_for([sampler.recipe(s) for s in range(batch)])
    with torch.no_grad():
        flops = count_flops(lambda: G.synthesis(G.mapping(seeds_to_z(list(range(batch)), G.cfg.z_dim))))
    with torch.inference_mode():
        G.synthesis(ws)
        t = time.perf_counter()
        reps = 3
        for _ in range(reps):
            G.synthesis(G.mapping(seeds_to_z(list(range(batch)), G.cfg.z_dim)))
        dt = (time.perf_counter() - t) / reps
    return {"p50_ms": p50 * 1e3, "p95_ms": p95 * 1e3, "img_per_s": batch / dt, "gflops": flops / dt / 1e9,
            "gflop_per_img": flops / batch / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolutions", default="64,128,256")
    ap.add_argument("--checkpoint", help="also time this checkpoint")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_gflops()
    print(f"fp32 matmul 2048^3: {peak:.1f} GFLOP/s (same-run peak)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = []
        for r in (int(x) for x in args.resolutions.split(",")):
            cfg = ModelConfig(resolution=r)
            torch.manual_seed(0)
            targets.append((f"default shape {r}px", save_checkpoint(Generator(cfg), Path(tmp) / f"r{r}")))
        if args.checkpoint:
            targets.append((args.checkpoint, Path(args.checkpoint)))
        for name, path in targets:
            t = time.perf_counter()
            sampler = Sampler.load(path, device="cpu")
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            sampler._compute_directions()
            dir_s = time.perf_counter() - t
            res = bench(sampler, args.runs, args.batch)
            rows.append((name, res))
            print(
                f"{name:>22}: single p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms | "
                f"batch {args.batch}: {res['img_per_s']:.1f} img/s, {res['gflop_per_img']:.2f} GFLOP/img, "
                f"{res['gflops']:.1f} GFLOP/s = {100 * res['gflops'] / peak:.0f}% of matmul | "
                f"load {load_s:.2f} s (directions {dir_s:.2f} s)"
            )


if __name__ == "__main__":
    main()

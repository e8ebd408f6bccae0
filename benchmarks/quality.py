"""Quality at equal wall-clock: the classic PyTorch DCGAN tutorial recipe against ganart's
default training config (unconditional, --clusters 0, as DCGAN is), on the same data and machine, one after the other; prints both FIDs
(same N, same latent seeds 0..N-1, psi = 1, same Inception features of the real set).

    python benchmarks/quality.py [--data emoji] [--minutes 20] [--n 2000] [--threads 0]

With --discriminators (or --arm NAME:FLAGS, repeated, for any `ganart train` flags), ganart
against ganart instead: one `ganart train` per arm, from scratch, side by side (one thread each, `--resume auto`, so a rerun continues them), each for
--minutes of wall time, snapshots every --snapshot-minutes; then every snapshot is scored
(Inception FID at --curve-n: the curve against CPU hours) and the last one fully (FID, KID,
precision, recall at --n, and the random-CNN FD and class-histogram check of ganart.leakage):

    python benchmarks/quality.py --discriminators residual,residual+projected --out runs/d \
        --minutes 120 --snapshot-minutes 20 [--curve-n 500] [--score-only]
    python benchmarks/quality.py --arm "residual:--discriminator residual" \
        --arm "relativistic:--loss relativistic" --out runs/d --minutes 120

DCGAN here is the tutorial's recipe as published: nz=100, ngf=ndf=64, BatchNorm,
ConvTranspose generator, Adam lr 2e-4 betas (0.5, 0.999), batch 64, BCE loss, N(0, 0.02) init.
Its samples are drawn the way the tutorial draws them (generator in train mode, batches of 64).
Each side gets `--minutes` of training-loop wall time, measured from its first step; data
loading and evaluation are outside the clock.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart import metrics  # noqa: E402
from ganart.training import TrainConfig, Trainer  # noqa: E402
from ganart.training.data import ImageBatches, Preprocess, load_dataset  # noqa: E402

NZ, NGF, NDF, DCGAN_BATCH = 100, 64, 64, 64


def dcgan_generator(res: int) -> nn.Sequential:
    """z [B, 100, 1, 1] -> [B, 3, res, res]: 4x4 from a 4x4 transposed conv, then x2 per layer."""
    n_up = int(math.log2(res)) - 2
    ch = [NGF * 2 ** (n_up - 1 - i) for i in range(n_up)]  # 64 px: 512, 256, 128, 64
    layers: list[nn.Module] = [nn.ConvTranspose2d(NZ, ch[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
    for a, b in zip(ch[:-1], ch[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ch[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def dcgan_discriminator(res: int) -> nn.Sequential:
    """[B, 3, res, res] -> logit [B] (the tutorial's Sigmoid is folded into the BCE-with-logits)."""
    n_down = int(math.log2(res)) - 2
    ch = [NDF * 2**i for i in range(n_down)]  # 64 px: 64, 128, 256, 512
    layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for a, b in zip(ch[:-1], ch[1:]):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(ch[-1], 1, 4, 1, 0, bias=False), nn.Flatten(0)]
    return nn.Sequential(*layers)


def dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def train_dcgan(images: np.ndarray, minutes: float, n: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    res = images.shape[1]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = dcgan_generator(res), dcgan_discriminator(res)
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = ImageBatches(images, torch.device("cpu"), seed=seed)
    ones, zeros = torch.ones(DCGAN_BATCH), torch.zeros(DCGAN_BATCH)
    steps, start = 0, time.time()
    while time.time() - start < minutes * 60:
        real = data.sample(DCGAN_BATCH)
        fake = G(torch.randn(DCGAN_BATCH, NZ, 1, 1, generator=gen))
        loss_D = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(
            D(fake.detach()), zeros)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = F.binary_cross_entropy_with_logits(D(fake), ones)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        steps += 1
    seconds = time.time() - start
    fake = metrics.sample(lambda z: G(z[:, :, None, None]), NZ, n)  # train-mode BN, as the tutorial samples
    return fake, {"images_seen": steps * DCGAN_BATCH, "seconds": seconds}


def train_ganart(data: str, minutes: float, n: int, threads: int) -> tuple[np.ndarray, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        # unconditional, like the DCGAN recipe (--clusters is measured by the --arm comparisons);
        # a fixed thread count, as the DCGAN side has
        cfg = TrainConfig(data=data, out=tmp, minutes=minutes, grid=0, clusters=0, threads=threads)
        t = Trainer(cfg)
        t.fit()
        fake = metrics.sample(t.G_ema, cfg.z_dim, n, device=t.device)
        return fake, {"images_seen": t.progress.nimg, "seconds": t.progress.train_seconds}


def parse_arms(args: argparse.Namespace) -> dict[str, list[str]]:
    """Arm name -> its own `ganart train` flags, from --discriminators and --arm NAME:FLAGS."""
    arms = {kind: ["--discriminator", kind] for kind in args.discriminators.split(",") if kind}
    for spec in args.arm:
        name, sep, flags = spec.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--arm {spec!r}: expected NAME:FLAGS, e.g. 'relativistic:--loss relativistic'")
        arms[name.strip()] = shlex.split(flags)
    return arms


def train_arms(arms: dict[str, list[str]], out: Path, args: argparse.Namespace) -> None:
    """Each arm's run in OUT/NAME (a name safe for folders), side by side."""
    procs = []
    for kind, flags in arms.items():
        cmd = [sys.executable, "-m", "ganart", "train", "--data", args.data, "--out", str(out / arm_name(kind)),
               *flags, "--minutes", str(args.minutes), "--snapshot-minutes",
               str(args.snapshot_minutes), "--keep", "1000", "--threads", "1", "--resume", "auto"]
        log = open(out / f"{arm_name(kind)}.log", "a")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, "GANART_NO_PROGRESS": "1"}))
        print("started:", " ".join(cmd[2:]), flush=True)
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a training run failed: see the logs in {out}")


def arm_name(kind: str) -> str:
    return kind.replace("+", "-")


def score_arm(folder: Path, real: np.ndarray, n: int, curve_n: int, curve_only: bool = False,
              at_hours: float = 0.0) -> dict:
    """FID at curve_n for every snapshot (hours of training steps, images), then the full
    scores of the newest one (or, with ``at_hours``, the one nearest that many hours: arms of
    different lengths compared at equal time); its grid of the first 36 seeds goes to
    FOLDER/final-grid.png (or grid-SNAPSHOT.png)."""
    from ganart import leakage
    from ganart.images import make_grid
    from ganart.sampler import Sampler
    from ganart.training.snapshot import snapshot_folders

    ref = metrics.reference_features(real)
    curve = []
    for snap in snapshot_folders(folder):
        done = snap / f"fid{curve_n}.json"  # scored already (a rerun, or scoring while the runs go on)
        if done.is_file():
            curve.append(json.loads(done.read_text()))
            continue
        s = Sampler.load(str(snap))
        t = s.checkpoint.meta
        fid = metrics.fid_kid(ref, metrics.features(s.seed_images(curve_n, psi=1.0)))["fid"]
        curve.append({"snapshot": snap.name, "hours": round(t.training.get("seconds", 0) / 3600, 3),
                      "images": t.images_seen, f"fid{curve_n}": round(fid, 2)})
        done.write_text(json.dumps(curve[-1]) + "\n")
        print(f"  {folder.name} {snap.name}: {curve[-1]['hours']:.2f} h, {t.images_seen:,} images, "
              f"FID{curve_n} {fid:.2f}", flush=True)
    if curve_only:
        return {"curve": curve}
    chosen = min(curve, key=lambda c: abs(c["hours"] - at_hours))["snapshot"] if at_hours else curve[-1]["snapshot"]
    last = Sampler.load(str(folder / "snapshots" / chosen))
    fake = last.seed_images(n, psi=1.0)
    final = metrics.fid_kid(ref, metrics.features(fake)) | leakage.second_space(real, fake)
    grid = folder / ("final-grid.png" if chosen == curve[-1]["snapshot"] else f"grid-{chosen}.png")
    make_grid(list(map(Image.fromarray, fake[:36])), cols=6).save(grid)
    meta = last.checkpoint.meta
    return {"curve": curve, "final": final, "images": meta.images_seen, "grid": str(grid),
            "hours": meta.training.get("seconds", 0) / 3600}


def compare_discriminators(args: argparse.Namespace) -> None:
    arms = parse_arms(args)
    kinds = list(arms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.score_only:
        train_arms(arms, out, args)
    real = load_dataset(args.data, Preprocess(resolution=TrainConfig.resolution))
    results = {kind: score_arm(out / arm_name(kind), real, args.n, args.curve_n, args.curve_only, args.at_hours)
               for kind in kinds}
    if args.curve_only:
        return
    (out / args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n| arm | images | hours of steps | FID{args.n} | random-CNN FD (floor) | class JS (floor) "
          "| precision | recall |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, r in results.items():
        f = r["final"]
        print(f"| {kind} | {r['images']:,} | {r['hours']:.2f} | {f['fid']:.2f} | {f['fd_random']:.2f} "
              f"({f['fd_random_floor']:.2f}) | {f['class_js']:.3f} ({f['class_js_floor']:.3f}) | "
              f"{f['precision']:.3f} | {f['recall']:.3f} |")
    print(f"grids: {', '.join(r['grid'] for r in results.values())}; {out / args.json}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="emoji", help="a folder of images, or 'emoji'")
    ap.add_argument("--minutes", type=float, default=20.0, help="training wall time for each side")
    ap.add_argument("--n", type=int, default=2000, help="generated samples per FID")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--discriminators", default="", help="ganart vs ganart: comma-separated --discriminator arms")
    ap.add_argument("--arm", action="append", default=[], metavar="NAME:FLAGS",
                    help="ganart vs ganart: an arm and its own `ganart train` flags (repeatable)")
    ap.add_argument("--out", default="runs/quality", help="with --discriminators: the arms' run folders")
    ap.add_argument("--snapshot-minutes", type=float, default=20.0, help="with --discriminators: curve spacing")
    ap.add_argument("--curve-n", type=int, default=500, help="with --discriminators: samples per curve FID")
    ap.add_argument("--score-only", action="store_true", help="with --discriminators: score the runs in --out")
    ap.add_argument("--curve-only", action="store_true", help="with --score-only: only the snapshots' curve FIDs")
    ap.add_argument("--at-hours", type=float, default=0.0,
                    help="with --score-only: fully score each arm's snapshot nearest this many hours (0: the newest)")
    ap.add_argument("--json", default="quality.json", help="with --discriminators/--arm: the results file in --out")
    args = ap.parse_args()
    if args.discriminators or args.arm:
        return compare_discriminators(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = TrainConfig.resolution
    real = load_dataset(args.data, Preprocess(resolution=res))
    metrics.reference_features(real)  # computed (or read from the cache) before either clock starts
    print(f"{args.data}: {len(real)} images at {res} px; {args.minutes:g} min each; N={args.n}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        # measured: batch-8 bf16 steps ran 29 % slower (train_speed.py, 39.3 -> 27.9 img/s)
        print("warning: OMP_WAIT_POLICY=PASSIVE puts OpenMP threads to sleep between the many small ops "
              "of a small-batch step; ganart's side will train slower than this machine can", flush=True)
    rows = []
    for name, run in (("dcgan", lambda: train_dcgan(real, args.minutes, args.n)),
                      ("ganart", lambda: train_ganart(args.data, args.minutes, args.n, args.threads))):
        fake, info = run()
        result = metrics.evaluate(real, fake)
        rows.append((name, info, result))
        print(f"{name:7s} {info['images_seen']:>8,d} images in {info['seconds'] / 60:5.1f} min "
              f"({info['images_seen'] / info['seconds']:5.1f} img/s): {metrics.summary(result)}", flush=True)
    ratio = rows[1][2]["fid"] / rows[0][2]["fid"]
    print(f"ganart FID / DCGAN FID = {ratio:.3f} (target <= 0.5: {'met' if ratio <= 0.5 else 'missed'})")


if __name__ == "__main__":
    main()

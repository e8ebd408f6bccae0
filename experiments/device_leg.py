"""One fine-tuning leg on a lent GPU, sized by a throughput measurement made in the same run.

A device lease here is ~15 minutes, start-up included, so there is one try: this script measures,
plans and trains in one command, and on a CPU it runs the same way (small --batches) to be
tested before a lease.

    python experiments/device_leg.py --init-from DIR --minutes 6.5 --out /tmp/leg \\
        [--export $OUT/leg] [--batches 64,128,256,512] [--steps 32] [--min-step-rate 0.6] \\
        [--dry-run] -- --data emoji --mirror --lr-decay cosine ...   # any other `ganart train` flags

1. Images/s and steps/s of the leg's own config (model, D, augmentations at the starting p, the
   real data) at each candidate batch: warm-up steps, then --steps timed steps.
2. The batch: the largest whose steps/s is at least --min-step-rate of the smallest batch's. A
   small model's GPU step is bound by kernel launches, so a larger batch costs little time until
   arithmetic starts to bound it; past that it buys images with steps.
3. --kimg is set so the learning-rate schedule ends inside --minutes at the measured rate (90 %
   of it: logging, snapshots), and --minutes stays as a hard stop; then the leg trains.
4. --export gets config.json, model.safetensors, discriminator.safetensors, README.md,
   metrics.jsonl and grid.png, flat (the device tool brings back at most 8 files).

The model shape is the init checkpoint's (this is a continuation, not a growth step), and
ADA's p starts where the init's run ended unless --aug-p is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart.checkpoint import load_checkpoint  # noqa: E402
from ganart.training import TrainConfig, Trainer  # noqa: E402
from ganart.training.cli import add_arguments  # noqa: E402

EXPORTED = ("config.json", "model.safetensors", "discriminator.safetensors", "README.md", "metrics.jsonl", "grid.png")
# flags this script sets itself
OWN = ("out", "batch", "kimg", "minutes", "max_steps", "init_from", "resume", "dry_run")
# model-shape fields that TrainConfig and the checkpoint's ModelConfig share
SHAPE = ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "use_noise",
         "mbstd_group", "d_channel_base", "d_channel_max", "g_channels")


@dataclass
class Rate:
    batch: int
    img_per_s: float
    steps_per_s: float


def leg_config(init_from: str, train_flags: list[str]) -> TrainConfig:
    """`ganart train` flags -> the leg's config, with the init's model shape and ending p."""
    parser = argparse.ArgumentParser(prog="device_leg.py -- (ganart train flags)")
    add_arguments(parser)
    given = parser.parse_args(train_flags)
    own = [f"--{n.replace('_', '-')}" for n in OWN if hasattr(given, n)]
    if own:
        raise SystemExit(f"device_leg.py: {', '.join(own)} are set by this script, not after --")
    # kimg is planned after the measurement; 1 stands in so a decaying schedule validates
    cfg = TrainConfig.create(**vars(given) | {"kimg": 1.0})
    src = load_checkpoint(init_from)
    shape = {k: getattr(src.config, k) for k in SHAPE}
    shape["g_channels"] = ",".join(str(c) for c in shape["g_channels"])
    cfg = replace(cfg, init_from=init_from, **shape)
    if not hasattr(given, "aug_p"):  # continue ADA where the init's run left it
        cfg = replace(cfg, aug_p=float(src.meta.training.get("aug_p", cfg.aug_p)))
    return cfg


def measure(cfg: TrainConfig, batch: int, steps: int) -> Rate:
    """Images/s of `cfg` at `batch`: 3 warm-up steps (cuDNN picks its kernels), then `steps`
    timed ones, which include R1 steps in their usual share when steps is a multiple of 16."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(replace(cfg, out=tmp, batch=batch, ada_target=0.0))
        t.load_data()
        sync = torch.cuda.synchronize if t.device.type == "cuda" else (lambda: None)
        for _ in range(3):
            t.train_step()
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            t.train_step()
        sync()
        seconds = time.perf_counter() - start
        del t
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return Rate(batch, batch * steps / seconds, steps / seconds)


def pick(rates: list[Rate], min_step_rate: float) -> Rate:
    """The largest batch still stepping at `min_step_rate` of the smallest batch's steps/s."""
    base = min(rates, key=lambda r: r.batch).steps_per_s
    return max((r for r in rates if r.steps_per_s >= min_step_rate * base), key=lambda r: r.batch)


def planned_kimg(rate: Rate, minutes: float, share: float = 0.9) -> float:
    """Thousands of images that fit in `share` of `minutes` at `rate` (at least one batch)."""
    return max(round(rate.img_per_s * minutes * 60 * share) / 1000, rate.batch / 1000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init-from", required=True, help="checkpoint folder to continue (its D too, if saved)")
    ap.add_argument("--minutes", type=float, required=True, help="training time, a hard stop")
    ap.add_argument("--out", required=True, help="the run folder")
    ap.add_argument("--export", default="", help="copy the run's final files here, flat")
    ap.add_argument("--batches", default="64,128,256,512")
    ap.add_argument("--steps", type=int, default=32, help="timed steps per batch")
    ap.add_argument("--min-step-rate", type=float, default=0.6)
    ap.add_argument("--dry-run", action="store_true", help="measure and print the plan; train nothing")
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = ap.parse_args(argv[:split])
    batches = sorted({int(b) for b in args.batches.split(",") if b})
    if not batches or min(batches) < 1 or args.minutes <= 0 or args.steps < 1 or not 0 < args.min_step_rate <= 1:
        raise SystemExit("device_leg.py: need --batches >= 1, --minutes > 0, --steps >= 1, 0 < --min-step-rate <= 1")
    cfg = leg_config(args.init_from, argv[split + 1:])
    print(f"torch {torch.__version__}; cuda: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    rates = []
    for b in batches:
        rates.append(measure(cfg, b, args.steps))
        r = rates[-1]
        print(f"batch {r.batch:5d}: {r.img_per_s:9.1f} img/s, {r.steps_per_s:6.2f} steps/s", flush=True)
    best = pick(rates, args.min_step_rate)
    cfg = replace(cfg, out=args.out, batch=best.batch, kimg=planned_kimg(best, args.minutes), minutes=args.minutes)
    plan = {"batch": cfg.batch, "kimg": cfg.kimg, "minutes": cfg.minutes, "aug_p": cfg.aug_p,
            "g_channels": cfg.g_channels, "init_from": cfg.init_from}
    print("plan: " + json.dumps(plan), flush=True)
    if args.dry_run:
        return 0
    start = time.time()
    trainer = Trainer(cfg)
    trainer.fit()
    out, p = Path(args.out), trainer.progress
    sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    print("done: " + json.dumps({"kimg": p.nimg / 1000, "steps": p.step, "wall_s": round(time.time() - start, 1),
                                 "nan_events": p.nan_events, "sha256": sha}))
    if args.export:
        dest = Path(args.export)
        dest.mkdir(parents=True, exist_ok=True)
        for name in EXPORTED:
            if (out / name).exists():
                shutil.copy2(out / name, dest / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

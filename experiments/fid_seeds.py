"""How much a checkpoint's FID moves with the seed set: ``ganart eval``'s figures on other seeds.

``ganart eval --n 2000`` always samples seeds 0..1999, so two checkpoints a few tenths of FID
apart may differ by nothing but those seeds. This scores N samples from each seed block
START..START+N-1 (START 0 is the eval's own set) against the dataset's cached features:

    python experiments/fid_seeds.py CHECKPOINT [--starts 0,100000,200000] [--n 2000] [--psi 1.0]

One line per block: FID, KID, precision/recall (ψ 1 by default, as the eval targets use).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart.metrics import features, fid_kid, reference_features, sample, summary  # noqa: E402
from ganart.sampler import Sampler  # noqa: E402
from ganart.training.data import Preprocess, load_dataset  # noqa: E402

BATCH = 100


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="emoji", help="a folder of images, or 'emoji'")
    ap.add_argument("--starts", default="0,100000,200000", help="first seed of each block")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--psi", type=float, default=1.0)
    args = ap.parse_args()
    starts = [int(s) for s in args.starts.split(",")]
    if not 2 <= args.n <= 50_000 or min(starts) < 0:
        sys.exit(f"--n must be in [2, 50000] and starts >= 0, got {args.n} and {starts}")
    s = Sampler.load(args.checkpoint, device="cpu")
    real_f = reference_features(load_dataset(args.data, Preprocess(resolution=s.resolution)))
    for start in starts:
        t = time.perf_counter()
        fake = sample(lambda z: s.G(z, psi=args.psi), s.z_dim, args.n, batch=BATCH, start=start)
        print(f"seeds {start}-{start + args.n - 1}: {summary(fid_kid(real_f, features(fake)))}"
              f"  ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

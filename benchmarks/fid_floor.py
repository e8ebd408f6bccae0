"""The FID a perfect model would score against a dataset: real images in place of samples.

A model's ``ganart eval --n N`` figure is only meaningful beside this floor. Two rows:

- N images drawn from the set itself against the whole set (what ``ganart eval`` compares;
  a perfect generator's samples would overlap the set about as much);
- two disjoint parts of the set (N against the rest), which do not share images.

    python benchmarks/fid_floor.py [--data emoji] [--n 2000] [--resolution 64] [--seed 0]

Reuses the cached reference features, so after one ``ganart eval`` it takes seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart.metrics import fid_kid, reference_features, summary  # noqa: E402
from ganart.training.data import Preprocess, load_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="emoji", help="a folder of images, or 'emoji'")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    real = load_dataset(args.data, Preprocess(resolution=args.resolution))
    if not 2 <= args.n < len(real) - 1:
        sys.exit(f"--n must be in [2, {len(real) - 2}] for {len(real)} images, got {args.n}")
    feats = reference_features(real)
    pick = np.random.default_rng(args.seed).choice(len(real), args.n, replace=False)
    rest = np.setdiff1d(np.arange(len(real)), pick)
    for label, ref, part in ((f"{args.n} of the set vs all {len(real)}", feats, feats[pick]),
                             (f"{args.n} vs the other {len(rest)} (disjoint)", feats[rest], feats[pick])):
        r = fid_kid(ref, part)
        print(f"{args.data} {args.resolution} px, {label}: {summary(r)}")


if __name__ == "__main__":
    main()

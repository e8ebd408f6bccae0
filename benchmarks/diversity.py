"""Shape diversity: mean pairwise IoU of the non-white masks over seeds 0..N-1 at psi = 1, for
each checkpoint, beside the same figure for N random training images. A model collapsed into one
shape in many colours scores far above the data.

    python benchmarks/diversity.py checkpoints/emoji64 [more checkpoints ...] [--n 64] [--data emoji]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart import Sampler  # noqa: E402
from ganart.metrics import mask_iou  # noqa: E402
from ganart.training.data import Preprocess, load_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--data", default="emoji", help="a folder of images, or 'emoji'")
    args = ap.parse_args()
    resolutions = []
    for source in args.checkpoints:
        s = Sampler.load(source, device="cpu")
        resolutions.append(s.resolution)
        fake = s.seed_images(args.n, psi=1.0)
        print(f"{source} ({s.resolution} px): {s.checkpoint.meta.images_seen:,} images seen, "
              f"mask IoU {mask_iou(fake):.3f}")
    for res in sorted(set(resolutions)):
        real = load_dataset(args.data, Preprocess(resolution=res))
        pick = np.random.default_rng(0).choice(len(real), min(args.n, len(real)), replace=False)
        print(f"{args.data} ({res} px, {len(pick)} random images): mask IoU {mask_iou(real[pick]):.3f}")


if __name__ == "__main__":
    main()

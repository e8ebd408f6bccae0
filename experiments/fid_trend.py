"""FID against images seen over a checkpoint's lineage, and how many images a target FID needs
if the trend held: the arithmetic behind the README's "How far FID ≤ 60 is on this CPU".

    python experiments/fid_trend.py [CHECKPOINT] [--from-kimg 740] [--target 60] [--img-per-s 21]

The points are the card's "Earlier cuts" list (FID, kimg) plus the checkpoint's own FID₂₀₀₀ and
images seen (config.json). Two least-squares fits over the points from --from-kimg on: FID linear
in log10(images), and a power law (log FID linear in log10(images)). Both mix the lineage's
changes of recipe with its images, so the answer is a scale, not a forecast.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

# "86.1 / 0.040 (twenty-second, 3,472 kimg" in the card's list of earlier cuts
EARLIER = re.compile(r"(\d+\.\d) / 0\.\d+\s+\(([a-z-]+), ([\d,]+) kimg")


def earlier_cuts(card: str) -> str:
    """The card's "Earlier cuts: ..." text, up to the card's next bullet."""
    listed = card[card.index("Earlier cuts:"):]
    return listed[: listed.index("\n- ")]


def lineage_points(ckpt: Path) -> list[tuple[float, float]]:
    """(kimg, FID) for each earlier cut the card lists, oldest first, then the checkpoint's own."""
    listed = earlier_cuts((ckpt / "README.md").read_text())
    points = sorted((float(k.replace(",", "")), float(f)) for f, _, k in EARLIER.findall(listed))
    meta = json.loads((ckpt / "config.json").read_text())["meta"]
    return points + [(meta["images_seen"] / 1000, meta["metrics"]["fid2000_psi1"]["fid"])]


def fits(points: list[tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """slope and intercept of FID on log10(kimg), and of log10(FID) on log10(kimg)."""
    k = np.log10([p[0] for p in points])
    f = np.array([p[1] for p in points])
    return {"log-linear": tuple(np.polyfit(k, f, 1)), "power": tuple(np.polyfit(k, np.log10(f), 1))}


def kimg_for(fid: float, name: str, slope: float, intercept: float) -> float:
    y = fid if name == "log-linear" else np.log10(fid)
    return float(10 ** ((y - intercept) / slope))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default="checkpoints/emoji64")
    ap.add_argument("--from-kimg", type=float, default=740.0, help="fit the cuts from here on")
    ap.add_argument("--target", type=float, default=60.0)
    ap.add_argument("--img-per-s", type=float, default=21.0, help="training speed to turn images into hours")
    args = ap.parse_args()
    points = [p for p in lineage_points(Path(args.checkpoint)) if p[0] >= args.from_kimg]
    now_kimg, now_fid = points[-1]  # the checkpoint itself (a sibling cut may list as many kimg)
    print(f"{len(points)} cuts from {points[0][0]:,.0f} to {now_kimg:,.0f} kimg; FID {points[0][1]} -> {now_fid:.2f}")
    for name, (slope, icpt) in fits(points).items():
        need = kimg_for(args.target, name, slope, icpt)
        per = f"{slope:.1f} FID per tenfold images" if name == "log-linear" else f"FID ~ images^{slope:.3f}"
        more = need - now_kimg
        print(f"{name:10s}: {per}; FID {args.target:g} at {need / 1000:,.1f} M images, {more / 1000:,.1f} M more "
              f"({more * 1000 / args.img_per_s / 3600:,.0f} h at {args.img_per_s:g} img/s)")


if __name__ == "__main__":
    main()

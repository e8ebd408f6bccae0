"""FID against images seen over a checkpoint's lineage, and how many images a target FID needs
if the trend held: the arithmetic behind the README's "How far FID ≤ 60 is on this CPU".

    python experiments/fid_trend.py [CHECKPOINT] [--from-kimg 740] [--target 60] [--img-per-s 21]

The points are the earlier cuts in the checkpoint's lineage.json (kimg, FID; cuts with no kimg
recorded are left out) plus the checkpoint's own FID₂₀₀₀ and images seen (config.json). Two
least-squares fits over the points from --from-kimg on: FID linear in log10(images), and a power
law (log FID linear in log10(images)). Both mix the lineage's changes of recipe with its images,
so the answer is a scale, not a forecast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart.card import LINEAGE_NAME, read_lineage  # noqa: E402
from ganart.checkpoint import CONFIG_NAME, read_config  # noqa: E402


def lineage(ckpt: Path) -> dict:
    found = read_lineage(ckpt)
    if found is None:
        raise SystemExit(f"{ckpt}: no {LINEAGE_NAME} to read the earlier cuts from")
    return found


def earlier_cuts(ckpt: Path) -> list[dict]:
    """The lineage's cuts before the checkpoint's own that record their images (kimg), oldest first."""
    found = lineage(ckpt)
    cuts = [c for c in found["cuts"] if c["cut"] != found.get("cut") and c.get("kimg") is not None]
    return sorted(cuts, key=lambda c: c["kimg"])


def lineage_points(ckpt: Path) -> list[tuple[float, float]]:
    """(kimg, FID) for each earlier cut, oldest first, then the checkpoint's own from config.json,
    under the metrics key the lineage's FIDs were measured as."""
    points = [(float(c["kimg"]), float(c["fid"])) for c in earlier_cuts(ckpt)]
    meta = read_config(ckpt / CONFIG_NAME)[1]
    key = lineage(ckpt).get("metric", {}).get("key", "fid2000_psi1")
    return points + [(meta.images_seen / 1000, meta.metrics[key]["fid"])]


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

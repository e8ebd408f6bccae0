"""FID against images seen over a checkpoint's lineage, and how many images a target FID needs
if the trend held: the arithmetic behind docs/scaling.md's "How far FID ≤ 60 is on a CPU".

    python experiments/fid_trend.py [CHECKPOINT] [--from-kimg 740] [--target 60] [--img-per-s 21]
    python experiments/fid_trend.py --curve runs/quality.json --arm NAME [--from-kimg 100] [--at-hours 8]

The points are the earlier cuts in the checkpoint's lineage.json (kimg, FID; cuts with no kimg
recorded are left out) plus the checkpoint's own FID₂₀₀₀ and images seen (config.json). Two
least-squares fits over the points from --from-kimg on: FID linear in log10(images), and a power
law (log FID linear in log10(images)). Both mix the lineage's changes of recipe with its images,
so the answer is a scale, not a forecast.

With --curve, the points are instead one arm's FID₅₀₀ curve from `benchmarks/quality.py` (its
snapshots' images and hours of training steps), shifted onto FID₂₀₀₀ by the arm's final score
(the offset between its last FID₅₀₀ and its FID₂₀₀₀); the same two fits then say what FID₂₀₀₀ the
arm would have at --at-hours, and when it would reach the target and the checkpoint's own FID.
Beside them: the images the checkpoint's lineage needed for the arm's final FID₂₀₀₀.
"""

from __future__ import annotations

import argparse
import json
import re
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


def curve_points(path: Path, arm: str) -> tuple[list[tuple[float, float]], float, dict]:
    """(kimg, curve FID + offset) along one arm's curve in a quality.py results file, the offset
    that puts its last point on its full FID, and the arm's record."""
    results = json.loads(path.read_text(encoding="utf-8"))
    if arm not in results or not results[arm].get("curve") or "final" not in results[arm]:
        raise SystemExit(f"{path}: no scored curve for arm {arm!r} (arms: {', '.join(results) or 'none'})")
    rec = results[arm]
    key = next((k for k in rec["curve"][0] if re.fullmatch(r"fid\d+", k)), None)  # fid{--curve-n}
    if key is None:
        raise SystemExit(f"{path}: arm {arm!r}'s curve has no fid<N> values")
    final = min(rec["curve"], key=lambda c: abs(c["images"] - rec["images"]))
    offset = rec["final"]["fid"] - final[key]
    return [(c["images"] / 1000, c[key] + offset) for c in rec["curve"]], offset, rec


def lineage_kimg_at(ckpt: Path, fid: float) -> float | None:
    """The images (k) the lineage needed to reach ``fid``: linear in log10(kimg) between the two
    cuts around it; None when no two cuts bracket it."""
    pts = lineage_points(ckpt)
    for (k0, f0), (k1, f1) in zip(pts, pts[1:]):
        if f0 > fid >= f1:
            t = (f0 - fid) / (f0 - f1)
            return float(10 ** (np.log10(k0) + t * (np.log10(k1) - np.log10(k0))))
    return None


def lineage_line(ckpt: Path, fid: float, kimg: float) -> str:
    then = lineage_kimg_at(ckpt, fid)
    if then is not None:
        return f"{ckpt.name}'s lineage reached FID {fid:.2f} at {then:,.0f} kimg: {then / kimg:.1f}x the images"
    pts = lineage_points(ckpt)
    if fid >= pts[0][1]:
        return f"{ckpt.name}'s lineage was already below FID {fid:.2f} at its first recorded cut ({pts[0][0]:,.0f} kimg)"
    return f"{ckpt.name}'s lineage never reached FID {fid:.2f} (its best: {min(f for _, f in pts):.2f})"


def forecast_curve(args: argparse.Namespace) -> None:
    ckpt = Path(args.checkpoint)
    points, offset, rec = curve_points(Path(args.curve), args.arm)
    fitted = [p for p in points if p[0] >= args.from_kimg]
    if len(fitted) < 3:
        raise SystemExit(f"only {len(fitted)} curve points from {args.from_kimg:g} kimg on; fit at least 3 (lower --from-kimg)")
    now_kimg, now = rec["images"] / 1000, rec["final"]["fid"]
    if args.at_hours <= rec["hours"]:
        raise SystemExit(f"--at-hours {args.at_hours:g} is not after the arm's {rec['hours']:.2f} h: it forecasts ahead")
    if args.img_per_s is not None and args.img_per_s <= 0:
        raise SystemExit(f"--img-per-s must be above 0, got {args.img_per_s:g}")
    kimg_per_h = now_kimg / rec["hours"]
    own = read_config(ckpt / CONFIG_NAME)[1]
    own_fid = own.metrics[lineage(ckpt).get("metric", {}).get("key", "fid2000_psi1")]["fid"]
    print(f"{args.arm}: FID2000 {now:.2f} at {now_kimg:,.0f} kimg, {rec['hours']:.2f} h of steps "
          f"({kimg_per_h * 1000 / 3600:.1f} img/s on average); its curve, shifted by {offset:+.2f} onto that FID "
          f"(one snapshot's difference), fitted over {len(fitted)} snapshots from {fitted[0][0]:,.0f} kimg")
    print(lineage_line(ckpt, now, now_kimg))
    # hours still to go run at --img-per-s when given (a run slowed by other work early on), else
    # at the arm's average so far
    per_h = args.img_per_s * 3.6 if args.img_per_s is not None else kimg_per_h
    at = now_kimg + (args.at_hours - rec["hours"]) * per_h
    for name, (slope, icpt) in fits(fitted).items():
        fid_at = slope * np.log10(at) + icpt if name == "log-linear" else 10 ** (slope * np.log10(at) + icpt)
        per = f"{slope:.1f} FID per tenfold images" if name == "log-linear" else f"FID ~ images^{slope:.3f}"
        if slope >= 0:
            print(f"{name:10s}: {per}: the fitted curve is not falling, so it reaches no lower FID")
            continue
        reach = "; ".join(f"FID {t:.2f} at {kimg_for(t, name, slope, icpt) / 1000:,.2f} M images "
                          f"({rec['hours'] + (kimg_for(t, name, slope, icpt) - now_kimg) / per_h:,.1f} h)"
                          for t in (own_fid, args.target))
        print(f"{name:10s}: {per}; FID {fid_at:.1f} at {args.at_hours:g} h ({at / 1000:,.2f} M images); {reach}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--curve", help="a benchmarks/quality.py results file: fit one arm's FID500 curve instead")
    ap.add_argument("--arm", help="with --curve: the arm's name")
    ap.add_argument("--at-hours", type=float, default=8.0, help="with --curve: the hours of steps to forecast at")
    ap.add_argument("checkpoint", nargs="?", default="checkpoints/emoji64")
    ap.add_argument("--from-kimg", type=float, help="fit the points from here on (default: 740 for cuts, 100 for a curve)")
    ap.add_argument("--target", type=float, default=60.0)
    ap.add_argument("--img-per-s", type=float,
                    help="training speed to turn images into hours (default: 21 for cuts, a curve's own average)")
    args = ap.parse_args()
    if args.from_kimg is None:
        args.from_kimg = 100.0 if args.curve else 740.0
    if args.img_per_s is None and not args.curve:
        args.img_per_s = 21.0
    if args.curve and not args.arm:
        ap.error("--curve needs --arm: the name of the arm whose curve to fit")
    if args.curve:
        return forecast_curve(args)
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

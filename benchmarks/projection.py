"""Projection quality and speed: pictures the model was trained on and pictures it never saw,
reconstructed by the best of many random seeds and by projection at several step counts.

    python benchmarks/projection.py [--checkpoint checkpoints/emoji64] [--n 100] [--seeds 10000]
                                    [--steps 0,100,200] [--out test-output/projection]

Prints mean PSNR (dB, higher is better) and perceptual distance (ganart.perceptual, lower is
better) per method and set, and the seconds per projection; writes sheets of originals beside
reconstructions and of one reconstruction edited by three sliders, to look at.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganart import Sampler  # noqa: E402
from ganart.images import make_grid, upscale  # noqa: E402
from ganart.projection import perceptual_distance  # noqa: E402
from ganart.training.data import Preprocess, load_dataset  # noqa: E402

SYMBOLS = "☺☹★☆♥♦♣♠☀☁☂☃☎✈✉✌✍✎✏✂✆✇♞♜♛♚♪♫☕⚓⚡⚽⚾⛄⛅⛔⛪⛺⛽✨❄❤➜⬆⬇⬅➡✿❀❁❂❃☘⚘⚜♻⚐⚑"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def unseen(n: int, res: int, seed: int = 0) -> np.ndarray:
    """Pictures no emoji model saw: glyphs of another font (DejaVu Sans symbols, where installed)
    in random colours, and drawings of random shapes, made here."""
    rng = np.random.default_rng(seed)
    out = []
    font = ImageFont.truetype(str(DEJAVU), int(res * 0.8)) if DEJAVU.is_file() else None
    for i in range(n):
        im = Image.new("RGB", (res, res), "white")
        d = ImageDraw.Draw(im)
        colour = tuple(int(c) for c in rng.integers(0, 230, 3))
        if font is not None and i % 2 == 0:
            d.text((res / 2, res / 2), SYMBOLS[(i // 2) % len(SYMBOLS)], font=font, fill=colour, anchor="mm")
        else:
            for _ in range(int(rng.integers(1, 4))):
                x0, y0 = rng.integers(4, res // 2, 2)
                x1, y1 = rng.integers(res // 2, res - 4, 2)
                shape = [d.ellipse, d.rectangle, d.polygon][int(rng.integers(0, 3))]
                box = [(int(x0), int(y0)), (int(x1), int(y1))]
                fill = tuple(int(c) for c in rng.integers(0, 256, 3))
                if shape is d.polygon:
                    shape([*box, (int(x0), int(y1))], fill=fill, outline=colour)
                else:
                    shape(box, fill=fill, outline=colour, width=2)
        out.append(np.asarray(im))
    return np.stack(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 127.5 - 1


def perceptual(a: np.ndarray, b: np.ndarray) -> float:
    d = perceptual_distance()
    with torch.no_grad():
        return float(d(to_tensor(a[None]), d.features(to_tensor(b[None]))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default="checkpoints/emoji64")
    ap.add_argument("--n", type=int, default=100, help="pictures per set")
    ap.add_argument("--seeds", type=int, default=10_000, help="random seeds the best-seed baseline picks from")
    ap.add_argument("--steps", default="0,100,200")
    ap.add_argument("--out", default="test-output/projection")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    torch.manual_seed(0)
    s = Sampler.load(args.checkpoint, device="cpu")
    res = s.resolution
    emoji = load_dataset("emoji", Preprocess(resolution=res))
    sets = {"trained": emoji[:: max(len(emoji) // args.n, 1)][: args.n], "unseen": unseen(args.n, res)}
    t0 = time.time()
    bank = s.seed_images(args.seeds, psi=1.0)  # uint8 [S, R, R, 3]
    print(f"{torch.__version__}, {torch.get_num_threads()} threads; {args.seeds:,} seeds rendered in "
          f"{time.time() - t0:.0f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, pictures in sets.items():
        scores: dict[str, list[tuple[float, float]]] = {}
        seconds, sheet = [], []
        for i, pic in enumerate(pictures):
            target = pic.astype(np.int32)
            best = int(np.concatenate([((chunk.astype(np.int32) - target) ** 2).mean((1, 2, 3))  # int16 would overflow
                                       for chunk in np.array_split(bank, 20)]).argmin())
            seed_img = bank[best].astype(np.uint8)
            scores.setdefault(f"best of {args.seeds:,} seeds", []).append((psnr(seed_img, pic), perceptual(seed_img, pic)))
            for n in steps:
                t = time.time()
                p = s.project(Image.fromarray(pic), steps=n, seed=0)
                if n == steps[-1]:
                    seconds.append(time.time() - t)
                rec = np.asarray(p.image)
                scores.setdefault(f"projection, {n} steps", []).append((psnr(rec, pic), perceptual(rec, pic)))
            if i < 8:
                sheet += [Image.fromarray(pic), Image.fromarray(seed_img), p.image]
                if i == 0:
                    edits = [s.render(p.recipe.__class__.from_dict({**p.recipe.to_dict(), "edits": {str(k): 3.0}}))
                             for k in range(3)]
                    make_grid([upscale(im, 4) for im in [Image.fromarray(pic), p.image, *edits]], cols=5).save(
                        out / f"{name}-edited.png")
        make_grid([upscale(im, 2) for im in sheet], cols=3).save(out / f"{name}-sheet.png")
        for method, vals in scores.items():
            arr = np.array(vals)
            rows.append((name, method, arr[:, 0].mean(), arr[:, 1].mean()))
        print(f"{name}: {len(pictures)} pictures; projection ({steps[-1]} steps) p50 {np.median(seconds):.1f} s, "
              f"max {max(seconds):.1f} s per picture", flush=True)
    print("\n| set | method | PSNR (dB) | perceptual distance |\n| --- | --- | --- | --- |")
    for name, method, p, d in rows:
        print(f"| {name} | {method} | {p:.2f} | {d:.4f} |")
    print(f"\nsheets: {out}/*-sheet.png (picture, best seed, projection), {out}/*-edited.png")


if __name__ == "__main__":
    main()

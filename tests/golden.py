"""Golden references: the pixels and latents ganart promises, stored under tests/golden/.

A recipe is a promise: the same recipe on the same checkpoint gives the same pixels in every
later release. tests/test_golden.py compares today's values with the stored ones; only this
script writes them, and it prints what changed, so a change of pixels is a decision (with a
recipe-format version bump), never an accident:

    python tests/golden.py            # compare and print what differs (writes nothing)
    python tests/golden.py --write    # store today's values (make golden)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden"
REFERENCE = GOLDEN / "reference.json"
DEFAULT = ROOT / "checkpoints" / "emoji64"
Z_SEEDS = (0, 1, 42, 123456789, 2**32 - 1)
Z_VALUES = 8  # the first few of each z: enough to tell any change of the stream

# renders of the shipped model: every part of a recipe that reaches the pixels
RECIPES: dict[str, dict[str, Any]] = {
    "seed0": {"seed": 0},
    "seed42-psi1": {"seed": 42, "psi": 1.0},
    "max-seed-psi-neg": {"seed": 2**32 - 1, "psi": -0.5},
    "sefa-edits": {"seed": 7, "psi": 0.5, "edits": {0: 2.0, 3: -1.5}},
    "pca-edits": {"seed": 7, "psi": 0.5, "edits": {1: 2.5}, "method": "pca"},
    "sefa-layers": {"seed": 7, "edits": {2: 3.0}, "layers": (2, 6)},
    "mix": {"seed": 3, "mix_seed": 11, "mix_layers": (0, 3)},
    "pca-mix-layers": {"seed": 9, "psi": 0.8, "edits": {0: -2.0}, "method": "pca", "layers": (0, 4),
                       "mix_seed": 12, "mix_layers": (4, 10)},
}
WALKS: dict[str, dict[str, Any]] = {  # one frame of a walk (the frame between keyframes)
    "walk-z-frame5": {"keyframes": [1, 2, 3], "frames_per_segment": 4, "space": "z", "frame": 5},
    "walk-w-frame6": {"keyframes": [4, 5], "frames_per_segment": 4, "space": "w", "frame": 6,
                      "edits": {1: 1.5}},
}
TINY_RECIPE = {"seed": 5, "psi": 0.6, "edits": {1: 2.0}}


def cpu_capability() -> str:
    """The kernel family torch picked (AVX512, AVX2, ...): exact pixels are promised per device."""
    return torch.backends.cpu.get_cpu_capability()


def pixels_sha(image: Image.Image) -> str:
    return hashlib.sha256(np.asarray(image).tobytes()).hexdigest()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format="PNG")  # pixels only, no recipe chunk
    return buf.getvalue()


def tiny_sampler():
    sys.path.insert(0, str(HERE))
    from conftest import tiny_generator

    from ganart import Sampler
    from ganart.checkpoint import Checkpoint, CheckpointMeta

    G = tiny_generator(seed=0).eval().requires_grad_(False)
    return Sampler(Checkpoint(G, G.cfg, CheckpointMeta(name="tiny"), Path("tiny"), "tiny"), device="cpu")


def compute() -> tuple[dict[str, Any], dict[str, Image.Image]]:
    """Today's values: (the reference record, the images by name)."""
    from ganart import Recipe, Sampler
    from ganart.latent import seed_to_z
    from ganart.recipe import LATENT_VERSION, RECIPE_VERSION, encode_latent

    s = Sampler.load(DEFAULT, device="cpu")
    images: dict[str, Image.Image] = {}
    for name, kwargs in RECIPES.items():
        images[name] = s.render(s.recipe(**kwargs))
    for name, w in WALKS.items():
        frames = s.walk(w["keyframes"], w["frames_per_segment"], space=w["space"], edits=w.get("edits"))
        images[name] = next(f for i, f in enumerate(frames) if i == w["frame"])
    tiny = tiny_sampler()
    images["tiny"] = tiny.render(tiny.recipe(**TINY_RECIPE))
    # a recipe that carries its latent (what projection makes): seed 5's w, edited
    with torch.inference_mode():
        w = s.G.mapping(seed_to_z(5, s.z_dim))[:, :1]
    latent = Recipe(seed=0, psi=1.0, edits={1: 2.0}, latent=encode_latent(w), version=LATENT_VERSION)
    images["latent-w"] = s.render(latent)
    record = {
        "about": "written by `python tests/golden.py --write`; compared by tests/test_golden.py",
        "cpu_capability": cpu_capability(),
        "torch": torch.__version__.split("+")[0],
        "checkpoint_sha256": s.sha256,
        "recipe_version": RECIPE_VERSION,
        "seed_to_z": {str(seed): seed_to_z(seed, 256)[0, :Z_VALUES].tolist() for seed in Z_SEEDS},
        "renders": {name: {"sha256": pixels_sha(im), "png": f"{name}.png"} for name, im in images.items()},
    }
    return record, images


def metric_images() -> tuple[np.ndarray, np.ndarray]:
    """Two fixed sets of 16 uint8 images [16, 64, 64, 3], made here (no font, no model): soft
    colour noise, and discs of varying colour and size on white."""
    from PIL import ImageDraw

    rng = np.random.default_rng(2026)
    noise = rng.integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    a = np.stack([np.asarray(Image.fromarray(n).resize((64, 64), Image.BILINEAR)) for n in noise])
    discs = []
    for i in range(16):
        im = Image.new("RGB", (64, 64), "white")
        r = 10 + i
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        ImageDraw.Draw(im).ellipse((32 - r, 32 - r, 32 + r, 32 + r), fill=colour, outline="black")
        discs.append(np.asarray(im))
    return a, np.stack(discs)


def compute_lite0() -> list[float]:
    """EfficientNet-Lite0's last-stage features of the first fixed image, averaged over space:
    the perceptual distance projection uses rests on them."""
    from ganart.perceptual import PerceptualDistance

    a, _ = metric_images()
    x = torch.from_numpy(a[:1]).permute(0, 3, 1, 2).float() / 127.5 - 1
    d = PerceptualDistance()
    with torch.no_grad():
        feats = d.net.features((torch.nn.functional.interpolate((x + 1) / 2, size=(128, 128), mode="bilinear",
                                                                align_corners=False) - d.mean) / d.std)
    return feats[-1].mean((2, 3))[0, :16].tolist()


def compute_inception() -> dict[str, Any]:
    """Inception features of the first image of each set, and the metrics between the sets."""
    from ganart import metrics

    a, b = metric_images()
    fa, fb = metrics.features(a), metrics.features(b)
    result = metrics.fid_kid(fa, fb, kid_subset=16)
    return {"features_a0": fa[0, :64].tolist(), "features_b0": fb[0, :64].tolist(),
            "norms": [float(np.linalg.norm(fa[0])), float(np.linalg.norm(fb[0]))],
            **{k: result[k] for k in ("fid", "kid", "kid_std", "precision", "recall")}}


def stored() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two records, one line each."""
    lines = [f"{key}: {old.get(key)} -> {new[key]}" for key in ("checkpoint_sha256", "recipe_version", "cpu_capability", "torch")
             if old.get(key) != new[key]]
    for seed, z in new["seed_to_z"].items():
        before = old.get("seed_to_z", {}).get(seed)
        if before is None or not np.allclose(before, z, rtol=0, atol=1e-6):
            lines.append(f"seed_to_z[{seed}]: {before} -> {z}")
    for name, r in new["renders"].items():
        before = old.get("renders", {}).get(name, {}).get("sha256")
        if before != r["sha256"]:
            lines.append(f"render {name}: sha256 {str(before)[:12]} -> {r['sha256'][:12]}")
    for key in ("inception", "lite0"):
        if old.get(key) != new.get(key, old.get(key)):
            lines.append(f"{key} features or metrics changed")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="store today's values as the references")
    args = ap.parse_args()
    new, images = compute()
    new["inception"] = compute_inception()
    new["lite0"] = compute_lite0()
    old = stored() if REFERENCE.is_file() else {}
    changed = differences(old, new)
    print("\n".join(changed) if changed else "no change from the stored references")
    if args.write:
        GOLDEN.mkdir(exist_ok=True)
        for name, im in images.items():
            (GOLDEN / f"{name}.png").write_bytes(png_bytes(im))
        REFERENCE.write_text(json.dumps(new, indent=2) + "\n")
        print(f"wrote {REFERENCE} and {len(images)} PNGs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``ganart`` command line: ``ganart sample`` (and the other subcommands as they land).

User mistakes (bad seeds, missing checkpoints, ...) print one clear line and exit 2;
only real bugs show a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .latent import check_finite, check_seed, layer_slice, parse_keyframes, parse_layers
from .limits import (
    APP_RENDER_BATCH,
    DEFAULT_METHOD,
    DEFAULT_PROJECT_STEPS,
    KIND_SCAN,
    MAX_ANIMATION_PIXELS,
    MAX_SEEDS,
    METHODS,
)

if TYPE_CHECKING:
    from .recipe import Recipe

def parse_seeds(text: str) -> list[int]:
    """'0-15,42' -> [0, 1, ..., 15, 42] (order kept, duplicates dropped)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"bad seed range {part!r}: use numbers like 0-15,42") from None
        a, b = check_seed(a), check_seed(b)
        if b < a:
            raise ValueError(f"bad seed range {part!r}: end before start")
        if len(seeds) + (b - a + 1) > MAX_SEEDS:
            raise ValueError(f"too many seeds (at most {MAX_SEEDS} per run)")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return list(dict.fromkeys(seeds))


def parse_edits(items: list[str]) -> dict[int, float]:
    """['0=2.5', '3=-1'] -> {0: 2.5, 3: -1.0}."""
    edits: dict[int, float] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(f"bad --edit {item!r}: use INDEX=AMOUNT, e.g. 0=2.5")
        try:
            edits[int(k)] = float(v)
        except ValueError:
            raise ValueError(f"bad --edit {item!r}: use INDEX=AMOUNT, e.g. 0=2.5") from None
    return edits


def png_name(r: Recipe) -> str:
    """seed0000000007.png; a mix names its second seed too, so it never overwrites the plain image."""
    return f"seed{r.seed:010d}" + (f"-mix{r.mix_seed:010d}" if r.mix_seed is not None else "") + ".png"


def _recipe_model(recipe: Recipe) -> str:
    """The shipped model a recipe names. A recipe file is not trusted to choose what is
    loaded (a path or a Hub id in a stranger's PNG): anything else needs --checkpoint."""
    from .catalog import shipped

    models = {m.name: m.source for m in shipped()}
    if recipe.checkpoint in models:
        return models[recipe.checkpoint]
    if not recipe.checkpoint:
        raise ValueError("the recipe names no checkpoint: pass --checkpoint")
    raise ValueError(f"the recipe names the model {recipe.checkpoint[:80]!r}, which is not one that ships with "
                     f"ganart ({', '.join(models) or 'none'}): pass --checkpoint to choose what to load")


def cmd_sample(args: argparse.Namespace) -> int:
    from .catalog import describe
    from .images import make_grid
    from .recipe import Recipe, save_png
    from .sampler import Sampler

    out = Path(args.out)
    if args.mix_layers is not None and args.mix_seed is None:
        raise ValueError("--mix-layers needs --mix-seed (the seed whose styles those layers take)")
    if args.recipe:
        recipe = Recipe.from_file(args.recipe)
        sampler = Sampler.load(args.checkpoint or _recipe_model(recipe), device=args.device)
        image = sampler.render(recipe)
        path = save_png(image, out / png_name(recipe))
        print(path)
        return 0
    if not args.checkpoint:
        raise ValueError("--checkpoint is required (or --recipe IMAGE.png)")
    seeds = parse_seeds(args.seeds)
    edits = parse_edits(args.edit or [])
    layers = parse_layers(args.layers)
    # recipes record the model's public name (a folder's name, a Hub id), not a path on this machine
    sampler = Sampler.load(args.checkpoint, device=args.device, name=describe(args.checkpoint).name)
    if args.kind is not None:  # as many seeds of the kind as --seeds names, from its lowest on
        first, wanted = min(seeds), len(seeds)
        seeds = sampler.seeds_of_kind(args.kind, first, wanted)
        if len(seeds) < wanted:
            print(f"ganart sample: kind {args.kind} is rare: {len(seeds)} of its seeds among the {KIND_SCAN:,} "
                  f"from {first} on, not {wanted}", file=sys.stderr)
    mix_layers = None
    if args.mix_seed is not None:  # B's styles on these layers, A's (each --seeds seed) elsewhere
        text, groups = args.mix_layers or "coarse", sampler.layer_groups()
        try:
            mix_layers = groups[text] if text in groups else parse_layers(text)
            layer_slice(mix_layers, sampler.num_ws)
        except ValueError:
            raise ValueError(f"bad --mix-layers {text!r}: use {', '.join(groups)}, or START-STOP "
                             f"with 0 <= START < STOP <= {sampler.num_ws}") from None
    recipes = [sampler.recipe(s, args.psi, edits, layers, args.method, args.mix_seed, mix_layers)
               for s in seeds]  # validate all first
    rank, world = _dist_rank()
    mine = recipes[rank::world]  # torchrun: each process renders a disjoint share of the seeds
    images = []
    for i in range(0, len(mine), 32):
        chunk = sampler.render_many(mine[i : i + 32])
        for r, im in zip(mine[i : i + 32], chunk):
            print(save_png(im, out / png_name(r)))
        if args.grid:
            images += chunk
    if args.grid and world == 1:
        grid = make_grid(images)
        grid.save(out / "grid.png")
        print(out / "grid.png")
    return 0


def cmd_animate(args: argparse.Namespace) -> int:
    """A walk through keyframe seeds as a GIF/WebP, or as numbered PNGs (for ffmpeg) in a folder."""
    from .images import save_animation, upscale
    from .sampler import Sampler, walk_length

    keys = parse_keyframes(args.keyframes)  # not parse_seeds: "1-3" is no walk, and 1,2,1 is one
    check_finite("--fps", args.fps, 1, 60)
    if not 1 <= args.scale <= 16:
        raise ValueError(f"--scale must be in [1, 16], got {args.scale}")
    out = Path(args.out)
    as_file = out.suffix.lower() in (".gif", ".webp")
    if not as_file and out.suffix:
        raise ValueError(f"--out {out}: write a .gif, a .webp, or a folder for PNG frames")
    sampler = Sampler.load(args.checkpoint, device=args.device)
    frames = sampler.walk(keys, args.segment_frames, loop=not args.no_loop, psi=args.psi, space=args.space,
                          edits=parse_edits(args.edit or []), layers=parse_layers(args.layers), method=args.method)
    total = walk_length(len(keys), args.segment_frames, loop=not args.no_loop)
    side = sampler.resolution * args.scale
    if as_file and total * side * side > MAX_ANIMATION_PIXELS:  # a GIF/WebP is assembled in memory
        raise ValueError(f"{total} frames of {side}x{side} are too many for one {out.suffix} file: "
                         f"lower --scale or --segment-frames, or write PNG frames to a folder")
    frames = (upscale(f, args.scale) for f in frames)
    if as_file:
        print(save_animation(frames, out, fps=args.fps))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.save(out / f"frame{i:05d}.png")
    print(f"wrote {total} frames to {out} (e.g. ffmpeg -framerate {args.fps:g} -i {out}/frame%05d.png walk.mp4)")
    return 0


def name_directions(folder: str, method: str, items: list[str]) -> list[str]:
    """['0=colour: blue ↔ red', '3='] -> the method's names in FOLDER's config.json, set (empty
    text clears one); returns the new list. The app shows them on its sliders."""
    from .card import write_card
    from .checkpoint import CONFIG_NAME, read_config, update_meta
    from .limits import NUM_DIRECTIONS

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not Path(folder).expanduser().is_dir():  # a Hub id resolves into a cache that must stay as downloaded
        raise ValueError(f"{folder}: directions are named in a local checkpoint folder (copy a Hub model to one)")
    cfg, meta = read_config(Path(folder) / CONFIG_NAME)
    count = min(NUM_DIRECTIONS, cfg.w_dim)
    names = list(meta.directions.get(method, []))
    for item in items:
        k, sep, text = item.partition("=")
        if not sep or not k.strip().isdigit():
            raise ValueError(f"bad --name {item!r}: use INDEX=TEXT, e.g. 0='colour: blue ↔ red'")
        if not int(k) < count:
            raise ValueError(f"bad --name {item!r}: this model has directions 0-{count - 1}")
        names += [""] * (int(k) + 1 - len(names))
        names[int(k)] = text.strip()
    while names and not names[-1]:
        names.pop()
    update_meta(folder, directions={**meta.directions, method: names})
    write_card(folder)
    return names


def cmd_directions(args: argparse.Namespace) -> int:
    """A sheet of what the first K directions do: rows = directions, columns = amounts per seed;
    or, with --name, what they do written into the checkpoint (the app's slider labels)."""
    from .sampler import Sampler

    if args.name:
        names = name_directions(args.checkpoint, args.method, args.name)
        for i, name in enumerate(names):
            print(f"{args.method} {i}: {name or '(unnamed)'}")
        return 0
    try:
        amounts = [float(a) for a in args.amounts.split(",")]
    except ValueError:  # it said only "could not convert string to float: 'x'"
        raise ValueError(f"bad --amounts {args.amounts!r}: use comma-separated numbers, e.g. --amounts=-3,0,3") from None
    if not amounts or len(amounts) > 9:
        raise ValueError("--amounts takes 1 to 9 comma-separated numbers")
    sampler = Sampler.load(args.checkpoint, device=args.device)
    sheet = sampler.directions_sheet(parse_seeds(args.seeds)[:8], args.count, amounts, args.psi, args.method)
    out = Path(args.out or Path(args.checkpoint) / f"directions-{args.method}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(out)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """FID/KID of a checkpoint against a dataset; results go into its config.json."""
    from . import metrics
    from .card import CARD_NAME, write_card
    from .checkpoint import CONFIG_NAME, read_config, update_meta
    from .images import make_grid
    from .sampler import Sampler
    from .training.data import Preprocess, load_dataset

    if not 2 <= args.n <= 50_000:
        raise ValueError(f"--n must be in [2, 50000], got {args.n}")
    if not 0 <= args.nearest <= 16:  # checked before any work, so a bad K writes nothing
        raise ValueError(f"--nearest must be in [0, 16] (training images beside each sample), got {args.nearest}")
    sampler = Sampler.load(args.checkpoint, device=args.device)
    real = load_dataset(args.data, Preprocess(resolution=sampler.resolution))
    fake = sampler.seed_images(args.n, psi=args.psi)
    real_f, fake_f = metrics.reference_features(real), metrics.features(fake)
    result = metrics.fid_kid(real_f, fake_f)
    result.update(psi=args.psi, dataset=args.data)
    print(f"{metrics.summary(result)}  N={args.n} fake vs {len(real)} real, psi={args.psi}")
    if args.second_space:
        from . import leakage

        result.update(leakage.second_space(real, fake))
        print(leakage.summary(result))
    folder = sampler.checkpoint.path
    if args.write and not Path(args.checkpoint).expanduser().exists():
        # a Hub id resolves into huggingface_hub's cache, whose files must stay as downloaded
        print(f"results not written: {args.checkpoint} is not a local folder (copy it to one to keep them)")
    elif args.write:
        now = read_config(folder / CONFIG_NAME)[1]  # as it is on disk now, not as loaded minutes ago
        update_meta(folder, metrics={**now.metrics, f"fid{args.n}_psi{args.psi:g}": result})
        if write_card(folder):
            print(folder / CARD_NAME)
    if args.nearest:
        from PIL import Image

        idx = metrics.nearest(fake_f[:16], real_f, args.nearest)
        tiles = []
        for i, row in enumerate(idx):  # each row: a sample, then its nearest training images
            tiles.append(Image.fromarray(fake[i]))
            tiles += [Image.fromarray(real[j]) for j in row]
        sheet = make_grid(tiles, cols=args.nearest + 1)
        out = Path(args.out or folder) / "nearest.png"
        sheet.save(out)
        print(out)
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    """Your own picture in the model's latent space: the reconstruction (its recipe inside), the
    picture beside it, and optionally the search as an animation."""
    from .catalog import describe
    from .images import make_grid, save_animation, upscale
    from .latent import check_int
    from .limits import MAX_PROJECT_STEPS
    from .projection import load_picture
    from .recipe import save_png
    from .sampler import Sampler

    check_int("--steps", args.steps, 0, MAX_PROJECT_STEPS)
    sampler = Sampler.load(args.checkpoint, device="cpu", name=describe(args.checkpoint).name)
    from PIL import Image

    picture = load_picture(args.image, sampler.resolution)  # prepared once, checked before any work
    frames = []

    def keep(step) -> None:
        if args.animation and step.image is not None:
            frames.append(upscale(step.image, 4))

    p = sampler.project(Image.fromarray(picture), args.steps, args.seed, args.space, every=max(args.steps // 24, 1), on_step=keep)
    out, stem = Path(args.out), Path(args.image).stem
    print(save_png(p.image, out / f"{stem}-projected.png", p.recipe))
    side = [upscale(Image.fromarray(picture), 4), upscale(p.image, 4)]
    make_grid(side, cols=2).save(out / f"{stem}-compare.png")
    print(out / f"{stem}-compare.png")
    if args.animation:
        print(save_animation(frames, out / f"{stem}-progress.gif", fps=12))
    print(f"loss {p.losses[0]:.4f} -> {p.losses[-1]:.4f} over {args.steps} steps ({args.space})")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """The synthesis network (ws -> image) as ONNX; without --out, into the cache the app serves."""
    from .catalog import describe
    from .onnx_export import cached_export, export_synthesis
    from .sampler import Sampler

    sampler = Sampler.load(args.checkpoint, device="cpu", name=describe(args.checkpoint).name)
    path = export_synthesis(sampler.G, args.out) if args.out else cached_export(sampler.G, sampler.sha256)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MB; input ws [1, {sampler.num_ws}, {sampler.G.cfg.w_dim}])")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """The training set as PNGs, exactly as `ganart train --data SOURCE` sees it."""
    from .training.data import Preprocess, export_dataset

    n = export_dataset(args.source, args.out, Preprocess(args.resolution, args.background, args.fit))
    print(f"wrote {n} images ({args.resolution}x{args.resolution}) to {args.out}")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from .checkpoint import average_checkpoints

    print(average_checkpoints(args.sources, args.out))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .hub import push

    files = push(args.checkpoint, args.repo, private=args.private, dry_run=args.dry_run)
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} to {args.repo}{' (private)' if args.private else ''}: {', '.join(files)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """`python app.py` with flags: the Gradio app on HOST:PORT for a checkpoint."""
    import os

    from .limits import check_render_batch

    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in [1, 65535], got {args.port}")
    check_render_batch(args.batch, "--batch")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .ui import DEFAULT_CHECKPOINT, build_demo, launch

    demo = build_demo(args.checkpoint or str(DEFAULT_CHECKPOINT), batch=args.batch,
                      allow_any_model=True if args.allow_any_model else None)
    launch(demo, host=args.host, port=args.port)
    return 0


def _dist_rank() -> tuple[int, int]:
    import os

    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganart", description="Train a GAN on your images and play with it.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate PNGs (each carries its recipe)")
    s.add_argument("--checkpoint", help="checkpoint folder or Hub id user/name[@revision]")
    s.add_argument("--seeds", default="0-7", help="seeds and ranges, e.g. 0-15,42")
    s.add_argument("--psi", type=float, default=0.7, help="truncation psi in [-1, 2]")
    s.add_argument("--edit", action="append", metavar="INDEX=AMOUNT", help="direction edit, repeatable")
    s.add_argument("--layers", help="layer range START-STOP the edits apply to")
    s.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    s.add_argument("--kind", type=int, help="a --clusters model: as many seeds of this kind (0: the largest "
                   "cluster) as --seeds names, from its lowest seed on")
    s.add_argument("--grid", action="store_true", help="also write grid.png")
    s.add_argument("--mix-seed", type=int, help="style mixing: this seed's styles on --mix-layers")
    s.add_argument("--mix-layers", help="coarse (default), middle, fine or START-STOP: the layers --mix-seed gives")
    s.add_argument("--recipe", help="regenerate the image a ganart PNG (or a recipe .json) describes")
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default="samples")
    s.set_defaults(func=cmd_sample)

    m = sub.add_parser("animate", help="a walk through keyframe seeds: GIF, WebP or PNG frames")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--keyframes", default="1,2,3", help="seeds the walk passes through, e.g. 1,2,3")
    m.add_argument("--segment-frames", type=int, default=24, help="frames from one keyframe to the next")
    m.add_argument("--fps", type=float, default=24.0)
    m.add_argument("--psi", type=float, default=0.7)
    m.add_argument("--space", choices=["z", "w"], default="z", help="slerp in z, or lerp in w")
    m.add_argument("--no-loop", action="store_true", help="stop at the last keyframe (default: back to the first)")
    m.add_argument("--edit", action="append", metavar="INDEX=AMOUNT", help="direction edit on every frame")
    m.add_argument("--layers", help="layer range START-STOP the edits apply to")
    m.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    m.add_argument("--scale", type=int, default=4, help="crisp (nearest) upscale factor")
    m.add_argument("--out", default="walk.gif", help=".gif, .webp, or a folder for numbered PNG frames")
    m.add_argument("--device", default="auto")
    m.set_defaults(func=cmd_animate)

    d = sub.add_parser("directions", help="a sheet showing what each latent direction does")
    d.add_argument("--checkpoint", required=True)
    d.add_argument("--method", default=DEFAULT_METHOD, help=" or ".join(METHODS))
    d.add_argument("--count", type=int, default=8, help="directions (rows)")
    d.add_argument("--seeds", default="0-2", help="seeds per row (at most 8)")
    d.add_argument("--amounts", default="-3,-1.5,0,1.5,3", help="edit amounts per seed, in stds of w (write --amounts=-3,0,3)")
    d.add_argument("--psi", type=float, default=0.7)
    d.add_argument("--out", help="PNG path (default: CHECKPOINT/directions-METHOD.png)")
    d.add_argument("--device", default="auto")
    d.add_argument("--name", action="append", metavar="INDEX=TEXT",
                   help="write what direction INDEX does into the checkpoint (the app's slider label); repeatable")
    d.set_defaults(func=cmd_directions)

    e = sub.add_parser("eval", help="FID/KID against a dataset (offline Inception-v3)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default="emoji", help="a folder of images, or 'emoji'")
    e.add_argument("--n", type=int, default=2000, help="generated samples")
    e.add_argument("--psi", type=float, default=1.0)
    e.add_argument("--nearest", type=int, default=0, metavar="K", help="write nearest.png: samples beside K nearest")
    e.add_argument("--no-second-space", dest="second_space", action="store_false",
                   help="skip the random-CNN FD and the class-histogram check (ganart.leakage)")
    e.add_argument("--no-write", dest="write", action="store_false", help="do not store results in config.json")
    e.add_argument("--out", help="folder for nearest.png (default: the checkpoint)")
    e.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_eval)

    j = sub.add_parser("project", help="find your own picture in the model: a recipe the sliders can edit")
    j.add_argument("--checkpoint", required=True)
    j.add_argument("--image", required=True, help="a picture (PNG, JPEG, WebP, GIF: the first frame)")
    j.add_argument("--steps", type=int, default=DEFAULT_PROJECT_STEPS, help="optimisation steps (0: best sampled start)")
    j.add_argument("--seed", type=int, default=0, help="seeds the sampled starts")
    j.add_argument("--space", choices=["w", "w+"], default="w", help="one w for all layers, or one per layer")
    j.add_argument("--animation", action="store_true", help="also write the search as a GIF")
    j.add_argument("--out", default="projected", help="folder for the PNGs")
    j.set_defaults(func=cmd_project)

    x = sub.add_parser("export-onnx", help="the synthesis network (ws -> image) as ONNX, for browsers and runtimes")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", help="the .onnx file (default: the cache, keyed by the weights' sha256)")
    x.set_defaults(func=cmd_export_onnx)

    g = sub.add_parser("data", help="write a dataset (emoji, or a folder) as training-ready PNGs")
    g.add_argument("source", help="'emoji' (Debian's Noto Color Emoji) or a folder of images")
    g.add_argument("--out", required=True, help="new folder for the PNGs")
    g.add_argument("--resolution", type=int, default=64)
    g.add_argument("--background", default="#ffffff", help="colour transparent pixels are composited on")
    g.add_argument("--fit", choices=["pad", "crop"], default="pad", help="non-square images: pad or centre-crop")
    g.set_defaults(func=cmd_data)

    a = sub.add_parser("average", help="average the weights of snapshots of one run (a post-hoc, longer EMA)")
    a.add_argument("sources", nargs="+", help="checkpoint folders with one model shape, e.g. RUN/snapshots/step*")
    a.add_argument("--out", required=True, help="new checkpoint folder for the average")
    a.set_defaults(func=cmd_average)

    u = sub.add_parser("push", help="publish a checkpoint to a Hugging Face model repo")
    u.add_argument("--checkpoint", required=True)
    u.add_argument("--repo", required=True, help="USER/NAME")
    u.add_argument("--private", action="store_true")
    u.add_argument("--dry-run", action="store_true", help="list what would be uploaded, send nothing")
    u.set_defaults(func=cmd_push)

    v = sub.add_parser("serve", help="serve the app (python app.py with flags)")
    v.add_argument("--checkpoint", help="default: the shipped checkpoints/emoji64")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=7860)
    v.add_argument("--batch", type=int, default=APP_RENDER_BATCH, help="concurrent /generate requests merged per forward pass")
    v.add_argument("--allow-any-model", action="store_true",
                   help="let visitors load any folder or Hub id (local use; GANART_ALLOW_ANY_MODEL=1 does the same)")
    v.set_defaults(func=cmd_serve)

    from .training.cli import add_arguments, run

    t = sub.add_parser("train", help="train a GAN on a folder of images (or 'emoji')")
    add_arguments(t)
    t.set_defaults(func=run)
    return p


def error_text(e: Exception) -> str:
    """The one line a user sees. An OSError from the system (an --out under a file, no
    permission, a full disk) reads 'PATH: reason' rather than '[Errno 20] Not a directory: PATH'."""
    if isinstance(e, FileExistsError) and e.filename:  # only mkdir(exist_ok=True) raises it here
        return f"{e.filename}: exists and is not a folder"
    if isinstance(e, OSError) and e.filename and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:  # CheckpointError is a ValueError
        print(f"ganart {args.command}: error: {error_text(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganart {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

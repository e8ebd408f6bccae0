"""The Sampler: a pure-PyTorch service that turns seeds and recipes into images.

It knows nothing of Gradio; the app, the CLI and outside scripts all call it. Everything
it does is a function of (checkpoint, recipe), so results are reproducible, and it holds
no mutable per-request state, so many threads can call it at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import Checkpoint, load_checkpoint
from .latent import (
    apply_edits,
    check_finite,
    check_int,
    check_seed,
    layer_slice,
    lerp,
    mix_ws,
    pca_directions,
    project_std,
    seeds_to_z,
    sefa_directions,
    slerp,
)
from .models import truncate
from .recipe import METHODS, NUM_DIRECTIONS, PNG_KEY, PSI_RANGE, Recipe

MAX_BATCH = 256
MAX_KEYFRAMES = 64
MAX_FRAMES_PER_SEGMENT = 240
MAX_FRAMES = 2000
PCA_SAMPLES = 10_000
DIRECTION_SEED = 0  # the seed of the w samples behind PCA and the direction stds


DEVICE_TYPES = ("cpu", "cuda", "mps")  # where a generator can run (not "meta", "xla", ...)


def parse_device(device: str | torch.device) -> torch.device:
    """A device name -> torch.device; ValueError for a name torch or ganart cannot use."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {str(device)!r}: {e}") from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device {str(device)!r} cannot run a model; use one of {', '.join(DEVICE_TYPES)} or auto")
    return dev


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def device_problem(dev: torch.device) -> str | None:
    """Why `dev` cannot be used on this machine, or None. (It crashed deep inside torch
    before: "Torch not compiled with CUDA enabled" with a traceback.)"""
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "this PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)"
        if dev.index is not None and dev.index >= count:
            return f"this machine has {count} CUDA GPU(s), numbered from 0"
    if dev.type == "mps" and not _mps_available():
        return "this PyTorch has no Apple MPS device here"
    return None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA, else MPS, else CPU; any other name is checked against this machine."""
    if str(device) != "auto":
        dev = parse_device(device)
        problem = device_problem(dev)
        if problem:
            raise ValueError(f"device {str(device)!r} is not available: {problem}; use cpu or auto")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] in [-1, 1] -> uint8 [B, H, W, C] (rounded)."""
    arr = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).cpu().numpy()


def to_images(img: torch.Tensor) -> list[Image.Image]:
    """[B, C, H, W] in [-1, 1] -> PIL images (uint8, rounded)."""
    arr = to_uint8(img)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    return [Image.fromarray(a[..., 0] if mode == "L" else a, mode) for a in arr]


def make_grid(images: Sequence[Image.Image], cols: int | None = None, pad: int = 2) -> Image.Image:
    """Tile images row-major into one image on a white background."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad), "white")
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid.paste(im.convert("RGB"), (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def walk_length(keyframes: int, frames_per_segment: int, loop: bool = True) -> int:
    """Frames in a walk: one segment per keyframe when it loops back, else one fewer plus the last frame."""
    return keyframes * frames_per_segment if loop else (keyframes - 1) * frames_per_segment + 1


def save_animation(
    frames: Iterable[Image.Image], path: str | os.PathLike[str], fps: float = 12.0
) -> Path:
    """Write frames as an animated GIF or WebP (by the suffix of ``path``)."""
    path = Path(path)
    fmt = {".gif": "GIF", ".webp": "WEBP"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: animations are written as .gif or .webp")
    fps = check_finite("fps", fps, 1, 60)
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"lossless": True} if fmt == "WEBP" else {"optimize": False}
    frames[0].save(
        path, format=fmt, save_all=True, append_images=frames[1:],
        duration=int(round(1000 / fps)), loop=0, **extra,
    )
    return path


class Sampler:
    """Generate images from one checkpoint. Create with ``Sampler.load(source)``."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", source: str = "") -> None:
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.G = checkpoint.generator.to(self.device).eval().requires_grad_(False)
        self.source = source or str(checkpoint.path)
        self._directions = self._compute_directions()
        with torch.inference_mode():  # fill the layers' inference caches once, up front
            self.G.synthesis(self.G.mapping(seeds_to_z([0], self.z_dim).to(self.device)))

    @classmethod
    def load(cls, source: str | os.PathLike[str], device: str | torch.device = "auto") -> Sampler:
        """Load from a checkpoint folder (or a Hub id "user/name[@revision]", see ganart.hub)."""
        from .hub import resolve_checkpoint  # keeps huggingface_hub off the import path

        folder = resolve_checkpoint(str(source))
        dev = resolve_device(device)
        return cls(load_checkpoint(folder, device="cpu"), dev, source=str(source))

    # --- model facts ------------------------------------------------------------------
    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    @property
    def z_dim(self) -> int:
        return self.G.cfg.z_dim

    @property
    def resolution(self) -> int:
        return self.G.cfg.resolution

    @property
    def name(self) -> str:
        return self.checkpoint.name

    @property
    def sha256(self) -> str:
        return self.checkpoint.sha256

    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """Coarse / middle / fine layer ranges (by resolution: <=8, 16-32, >=64)."""
        n = self.num_ws
        coarse = min(3, n - 2)
        middle = min(coarse + 4, n - 1)
        return {"coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, n)}

    # --- directions -------------------------------------------------------------------
    def _compute_directions(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """SeFa and PCA directions ([K, w_dim] each) with the std of w along each."""
        k = min(NUM_DIRECTIONS, self.G.cfg.w_dim)
        with torch.inference_mode():
            g = torch.Generator(device="cpu").manual_seed(DIRECTION_SEED)
            z = torch.randn(PCA_SAMPLES, self.z_dim, generator=g).to(self.device)
            w = self.G.mapping_net(z).float().cpu()
            affines = [a.weight.detach().float().cpu() for a in self.G.style_affines()]
        sefa = sefa_directions(affines, k)
        pca, pca_std = pca_directions(w, k)
        return {"sefa": (sefa, project_std(w, sefa)), "pca": (pca, pca_std)}

    def directions(self, method: str = "sefa") -> tuple[torch.Tensor, torch.Tensor]:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        return self._directions[method]

    @property
    def num_directions(self) -> int:
        return self._directions["sefa"][0].shape[0]

    def direction_label(self, index: int, method: str = "sefa") -> str:
        """A slider's label: 'Direction 3', or 'Direction 3: size' where the checkpoint names it."""
        self.directions(method)  # checks the method
        names = self.checkpoint.meta.directions.get(method, [])
        name = names[index] if 0 <= index < len(names) else ""
        return f"Direction {index}: {name}" if name else f"Direction {index}"

    # --- recipes -> latents -> pixels --------------------------------------------------
    def recipe(
        self,
        seed: int,
        psi: float = 0.7,
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = "sefa",
        mix_seed: int | None = None,
        mix_layers: tuple[int, int] | None = None,
    ) -> Recipe:
        """A validated recipe for this checkpoint (raises ValueError on bad arguments)."""
        r = Recipe(
            seed=seed, psi=psi, edits=edits or {}, layers=layers, method=method,
            mix_seed=mix_seed, mix_layers=mix_layers, checkpoint=self.source, sha256=self.sha256,
        )
        self._check_recipe_fits(r)
        return r

    def _check_recipe_fits(self, r: Recipe) -> None:
        layer_slice(r.layers, self.num_ws)
        if r.mix_layers is not None:
            layer_slice(r.mix_layers, self.num_ws)
        bad = [k for k in r.edits if k >= self.num_directions]
        if bad:
            raise ValueError(f"edit direction index must be below {self.num_directions}, got {bad[0]}")

    def ws_for(self, recipes: Sequence[Recipe]) -> torch.Tensor:
        """Recipes -> ws [B, num_ws, w_dim] (truncation, mixing, then edits)."""
        z = seeds_to_z([r.seed for r in recipes], self.z_dim).to(self.device)
        with torch.inference_mode():
            ws = self.G.mapping(z).clone()  # [B, L, w_dim], untruncated
            mixers = [r for r in recipes if r.mix_seed is not None]
            if mixers:
                zb = seeds_to_z([r.mix_seed for r in mixers], self.z_dim).to(self.device)
                ws_b = self.G.mapping(zb)
                j = 0
                for i, r in enumerate(recipes):
                    if r.mix_seed is not None:
                        ws[i : i + 1] = mix_ws(ws[i : i + 1], ws_b[j : j + 1], layer_slice(r.mix_layers, self.num_ws))
                        j += 1
            out = []
            for i, r in enumerate(recipes):
                wi = truncate(ws[i : i + 1], self.G.w_avg, r.psi)
                dirs, stds = self.directions(r.method)
                out.append(apply_edits(wi, r.edits, dirs, stds, layer_slice(r.layers, self.num_ws)))
            return torch.cat(out)

    def synthesize(self, ws: torch.Tensor) -> list[Image.Image]:
        """ws [B, num_ws, w_dim] -> images. Chunked so memory stays bounded."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.G.cfg.w_dim):
            raise ValueError(f"ws must have shape [B, {self.num_ws}, {self.G.cfg.w_dim}], got {tuple(ws.shape)}")
        if not torch.isfinite(ws).all():
            raise ValueError("ws holds NaN or inf")
        images: list[Image.Image] = []
        with torch.inference_mode():
            for chunk in ws.to(self.device).split(32):
                images += to_images(self.G.synthesis(chunk))
        return images

    def render_many(self, recipes: Sequence[Recipe]) -> list[Image.Image]:
        """Render recipes in one batch; each image carries its recipe in ``info``."""
        recipes = list(recipes)
        if not 1 <= len(recipes) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} images, got {len(recipes)}")
        for r in recipes:
            if not isinstance(r, Recipe):
                raise ValueError(f"expected a Recipe, got {type(r).__name__}")
            if r.sha256 and r.sha256 != self.sha256:
                raise ValueError(
                    f"recipe was made with checkpoint {r.checkpoint or '?'} (sha256 {r.sha256[:12]}…), "
                    f"but this sampler holds {self.name} (sha256 {self.sha256[:12]}…)"
                )
            self._check_recipe_fits(r)
        images = self.synthesize(self.ws_for(recipes))
        for im, r in zip(images, recipes):
            im.info[PNG_KEY] = replace(r, checkpoint=r.checkpoint or self.source, sha256=self.sha256).to_json()
        return images

    def render(self, recipe: Recipe) -> Image.Image:
        """Regenerate the exact image a recipe describes."""
        return self.render_many([recipe])[0]

    # --- convenience API ----------------------------------------------------------------
    def generate(
        self,
        seed: int,
        psi: float = 0.7,
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = "sefa",
    ) -> Image.Image:
        return self.render(self.recipe(seed, psi, edits, layers, method))

    def generate_batch(
        self,
        seeds: Sequence[int],
        psi: float = 0.7,
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = "sefa",
    ) -> list[Image.Image]:
        seeds = list(seeds)
        if not 1 <= len(seeds) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} seeds, got {len(seeds)}")
        return self.render_many([self.recipe(s, psi, edits, layers, method) for s in seeds])

    def seed_images(self, n: int, psi: float = 1.0) -> np.ndarray:
        """uint8 RGB [n, H, W, 3] for seeds 0..n-1, in batches of MAX_BATCH: the sample set
        that evaluation and the diversity figure score."""
        return np.stack([np.asarray(im.convert("RGB")) for i in range(0, n, MAX_BATCH)
                         for im in self.generate_batch(range(i, min(i + MAX_BATCH, n)), psi=psi)])

    def grid(self, seeds: Sequence[int], cols: int | None = None, **kwargs) -> Image.Image:
        return make_grid(self.generate_batch(seeds, **kwargs), cols)

    def directions_sheet(
        self,
        seeds: Sequence[int] = (0, 1, 2),
        count: int = 8,
        amounts: Sequence[float] = (-3.0, -1.5, 0.0, 1.5, 3.0),
        psi: float = 0.7,
        method: str = "sefa",
    ) -> Image.Image:
        """One row per direction 0..count-1: for each seed, the image edited by each amount
        (in stds of w along the direction), so what each slider does can be seen at a glance."""
        if count < 1 or not seeds or not amounts:
            raise ValueError("a directions sheet needs count >= 1, at least one seed and one amount")
        count = min(count, self.num_directions)
        recipes = [self.recipe(s, psi, {k: a} if a else {}, None, method)
                   for k in range(count) for s in seeds for a in amounts]
        images: list[Image.Image] = []
        for i in range(0, len(recipes), MAX_BATCH):
            images += self.render_many(recipes[i : i + MAX_BATCH])
        return make_grid(images, cols=len(seeds) * len(amounts))

    def mix(
        self,
        seed_a: int,
        seed_b: int,
        layers: tuple[int, int] | str = "coarse",
        psi: float = 0.7,
    ) -> Image.Image:
        """Seed A's styles everywhere except ``layers`` (a range or coarse/middle/fine), which take seed B's."""
        if isinstance(layers, str):
            groups = self.layer_groups()
            if layers not in groups:
                raise ValueError(f"layers must be a (start, stop) pair or one of {', '.join(groups)}")
            layers = groups[layers]
        return self.render(self.recipe(seed_a, psi, mix_seed=check_seed(seed_b, "seed_b"), mix_layers=layers))

    def walk(
        self,
        keyframes: Sequence[int],
        frames_per_segment: int = 24,
        loop: bool = True,
        psi: float = 0.7,
        space: str = "z",
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = "sefa",
    ) -> Iterator[Image.Image]:
        """Yield the frames of a walk through keyframe seeds, one at a time.

        space="z": slerp between the seeds' z (then map); space="w": lerp between their
        truncated w. With loop=True the walk returns to the first keyframe.
        """
        keyframes = [check_seed(s, "keyframe seed") for s in keyframes]
        if not 2 <= len(keyframes) <= MAX_KEYFRAMES:
            raise ValueError(f"a walk needs 2 to {MAX_KEYFRAMES} keyframes, got {len(keyframes)}")
        frames_per_segment = check_int("frames_per_segment", frames_per_segment, 1, MAX_FRAMES_PER_SEGMENT)
        if space not in ("z", "w"):
            raise ValueError(f"space must be 'z' or 'w', got {space!r}")
        total = walk_length(len(keyframes), frames_per_segment, loop)
        if total > MAX_FRAMES:
            raise ValueError(f"this walk has {total} frames, over the {MAX_FRAMES} limit")
        base = self.recipe(keyframes[0], psi, edits, layers, method)  # validates the rest
        dirs, stds = self.directions(method)
        lsl = layer_slice(layers, self.num_ws)
        z = seeds_to_z(keyframes, self.z_dim).to(self.device)
        with torch.inference_mode():
            w_keys = self.G.mapping(z, base.psi)[:, :1]  # [K, 1, w_dim]
        return self._walk_frames(z, w_keys, total, frames_per_segment, space, base, dirs, stds, lsl)

    def _walk_frames(self, z, w_keys, total, fps_seg, space, base, dirs, stds, lsl) -> Iterator[Image.Image]:
        k = z.shape[0]
        for f in range(total):
            seg, step = divmod(f, fps_seg)
            a, b = seg % k, (seg + 1) % k
            t = step / fps_seg
            with torch.inference_mode():
                if space == "z":
                    ws = self.G.mapping(slerp(z[a : a + 1], z[b : b + 1], t), base.psi)
                else:
                    ws = lerp(w_keys[a : a + 1], w_keys[b : b + 1], t).expand(-1, self.num_ws, -1)
                ws = apply_edits(ws, base.edits, dirs, stds, lsl)
            yield self.synthesize(ws)[0]




class RenderBatcher:
    """Merges concurrent ``render`` calls from many threads into batched forward passes.

    Each caller validates its own recipe first (so a bad request is that caller's error
    alone), then waits while a worker thread renders up to ``max_batch`` queued recipes at
    once. The Sampler is batch-invariant on CPU, so pixels never depend on the batching.
    """

    def __init__(self, sampler: Sampler, max_batch: int = 8, window_s: float = 0.004) -> None:
        import queue

        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be in [1, {MAX_BATCH}], got {max_batch}")
        self.sampler = sampler
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: queue.Queue = queue.Queue()
        self.batches: list[int] = []  # sizes of the last batches, for tests and benchmarks
        self._closed = False
        self._lock = threading.Lock()  # a render never queues behind close()'s stop mark
        self._worker = threading.Thread(target=self._run, name="ganart-render-batcher", daemon=True)
        self._worker.start()

    def render(self, recipe: Recipe) -> Image.Image:
        from concurrent.futures import Future

        if not isinstance(recipe, Recipe):
            raise ValueError(f"expected a Recipe, got {type(recipe).__name__}")
        self.sampler._check_recipe_fits(recipe)  # the caller's error, raised in the caller
        fut: Future | None = None
        with self._lock:
            if not self._closed:
                fut = Future()
                self._queue.put((recipe, fut))
        if fut is None:  # closed while this caller still held it: render alone
            return self.sampler.render(recipe)
        return fut.result()

    def close(self) -> None:
        """Stop the worker once the renders already queued are served (it holds the Sampler,
        so a batcher left running kept its model in memory for good)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)

    def _run(self) -> None:
        import queue
        import time

        while True:
            first = self._queue.get()
            if first is None:
                return
            items, stop = [first], False
            deadline = time.monotonic() + self.window_s
            while len(items) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            self._serve(items)
            if stop:
                return

    def _serve(self, items: list) -> None:
        """Render one batch of (recipe, future) pairs and hand each caller its image or error."""
        self.batches = (self.batches + [len(items)])[-1000:]
        try:
            images = self.sampler.render_many([r for r, _ in items])
        except Exception:
            # a batch-level failure (e.g. a sha mismatch): render each alone, so each
            # caller gets its own result or its own error
            for r, fut in items:
                try:
                    fut.set_result(self.sampler.render(r))
                except Exception as e:
                    fut.set_exception(e)
            return
        for (_, fut), img in zip(items, images):
            fut.set_result(img)


__all__ = ["PSI_RANGE", "Recipe", "RenderBatcher", "Sampler", "make_grid", "save_animation", "to_images"]

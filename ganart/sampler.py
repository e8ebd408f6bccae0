"""The Sampler: a pure-PyTorch service that turns seeds and recipes into images.

It knows nothing of Gradio; the app, the CLI and outside scripts all call it. Everything
it does is a function of (checkpoint, recipe), so results are reproducible, and it holds
no mutable per-request state, so many threads can call it at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .checkpoint import CONFIG_NAME, Checkpoint, CheckpointError, load_checkpoint, read_config
from .config import ModelConfig
from .devices import resolve_device
from .images import make_grid, to_images
from .latent import (
    apply_edits,
    check_int,
    check_seed,
    group_means,
    layer_slice,
    lerp,
    mix_ws,
    pca_directions,
    project_std,
    seeds_to_z,
    sefa_directions,
    slerp,
)
from .limits import (
    DEFAULT_METHOD,
    DEFAULT_PROJECT_STEPS,
    KIND_SCAN,
    MAX_BATCH,
    MAX_FRAMES,
    MAX_FRAMES_PER_SEGMENT,
    MAX_KEYFRAMES,
    MAX_SEED,
    MAX_SEEDS,
    METHODS,
    NUM_DIRECTIONS,
)
from .models import truncate
from .recipe import LATENT_VERSION, PNG_KEY, RECIPE_VERSION, Recipe, decode_latent, encode_latent

if TYPE_CHECKING:
    from .projection import Projection, Step

PCA_SAMPLES = 10_000
DIRECTION_SEED = 0  # the seed of the w samples behind PCA and the direction stds


def render_chunk(cfg: ModelConfig) -> int:
    try:
        return cfg.render_chunk()
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def walk_length(keyframes: int, frames_per_segment: int, loop: bool = True) -> int:
    """Frames in a walk: one segment per keyframe when it loops back, else one fewer plus the last frame."""
    return keyframes * frames_per_segment if loop else (keyframes - 1) * frames_per_segment + 1


class Sampler:
    """Generate images from one checkpoint. Create with ``Sampler.load(source)``."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", source: str = "") -> None:
        self.chunk = render_chunk(checkpoint.config)  # images per forward pass, within the memory budget
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.G = checkpoint.generator.to(self.device).eval().requires_grad_(False)
        self.source = source or str(checkpoint.path)
        z, w = self._sample_w()
        self._directions = self._compute_directions(w)
        k = self.G.cfg.classes
        kinds = self.G.mapping_net.classes_of(z).cpu()
        # A conditional model's psi pulls each seed toward its own cluster's mean w: toward the
        # global mean, every cluster would fade into one average colour.
        self._centres = (group_means(w, kinds, k, self.G.w_avg.float().cpu()).to(self.device) if k else None)
        self._kind_shares = (torch.bincount(kinds, minlength=k) / len(kinds)).tolist() if k else []
        with torch.inference_mode():  # fill the layers' inference caches once, up front
            self.G.synthesis(self.G.mapping(seeds_to_z([0], self.z_dim).to(self.device)))

    @classmethod
    def load(cls, source: str | os.PathLike[str], device: str | torch.device = "auto",
             name: str | None = None) -> Sampler:
        """Load from a checkpoint folder (or a Hub id "user/name[@revision]", see ganart.hub).
        ``name``: what recipes record as the checkpoint (default: ``source`` as given). A model
        over the render-memory budget is refused from its config.json, before its weights load."""
        from .hub import resolve_checkpoint  # keeps huggingface_hub off the import path

        folder = resolve_checkpoint(str(source))
        dev = resolve_device(device)
        if (folder / CONFIG_NAME).is_file():
            render_chunk(read_config(folder / CONFIG_NAME)[0])
        return cls(load_checkpoint(folder, device="cpu"), dev, source=name or str(source))

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

    # --- kinds (a model trained with --clusters) ---------------------------------------
    @property
    def kind_shares(self) -> list[float]:
        """The share of seeds of each kind (kind k: the k-th largest cluster of the training
        images); empty for a model trained without --clusters."""
        return list(self._kind_shares)

    def kinds_of(self, seeds: Sequence[int]) -> list[int]:
        """Each seed's kind (all 0 for a model without kinds)."""
        z = seeds_to_z([check_seed(s) for s in seeds], self.z_dim).to(self.device)
        return self.G.mapping_net.classes_of(z).tolist()

    def seeds_of_kind(self, kind: int | None, start: int, count: int) -> list[int]:
        """The first ``count`` seeds from ``start`` on whose kind is ``kind`` (None: any kind).
        Looks through at most KIND_SCAN seeds, so a rare kind may give fewer; none found is an error."""
        start, count = check_seed(start, "start"), check_int("count", count, 1, MAX_SEEDS)
        if kind is None:
            if start + count - 1 > MAX_SEED:
                raise ValueError(f"seeds must stay below {MAX_SEED}")
            return list(range(start, start + count))
        kinds = len(self._kind_shares)
        if not kinds:
            raise ValueError(f"{self.name} has no kinds: it was trained without --clusters")
        kind = check_int("kind", kind, 0, kinds - 1)
        found: list[int] = []
        end = min(start + KIND_SCAN, MAX_SEED + 1)
        for lo in range(start, end, 4096):
            seeds = range(lo, min(lo + 4096, end))
            found += [s for s, k in zip(seeds, self.kinds_of(seeds)) if k == kind]
            if len(found) >= count:
                return found[:count]
        if not found:
            later = ": try a later first seed" if end <= MAX_SEED else " (the last seeds)"
            raise ValueError(f"no seed of kind {kind} among seeds {start} to {end - 1}{later}")
        return found

    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """Coarse / middle / fine layer ranges (by resolution: <=8, 16-32, >=64)."""
        n = self.num_ws
        coarse = min(3, n - 2)
        middle = min(coarse + 4, n - 1)
        return {"coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, n)}

    # --- directions -------------------------------------------------------------------
    def _sample_w(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed sample of z (on the device) and their w (float32, CPU)."""
        with torch.inference_mode():
            g = torch.Generator(device="cpu").manual_seed(DIRECTION_SEED)
            z = torch.randn(PCA_SAMPLES, self.z_dim, generator=g).to(self.device)
            return z, self.G.mapping_net(z).float().cpu()

    def _compute_directions(self, w: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """SeFa and PCA directions ([K, w_dim] each) with the std of w along each."""
        k = min(NUM_DIRECTIONS, self.G.cfg.w_dim)
        with torch.inference_mode():
            affines = [a.weight.detach().float().cpu() for a in self.G.style_affines()]
        sefa = sefa_directions(affines, k)
        pca, pca_std = pca_directions(w, k)
        return {"sefa": (sefa, project_std(w, sefa)), "pca": (pca, pca_std)}

    def centres(self, z: torch.Tensor) -> torch.Tensor:
        """What psi pulls each z's w toward, [B, 1, w_dim]: the mean w of its cluster for a
        model trained with ``--clusters``, else the mean w."""
        if self._centres is None:
            return self.G.w_avg.expand(z.shape[0], 1, -1)
        return self._centres[self.G.mapping_net.classes_of(z)].unsqueeze(1)

    def truncated(self, z: torch.Tensor, psi: float) -> torch.Tensor:
        """z [B, z_dim] -> ws [B, num_ws, w_dim], pulled toward their centres by psi (1: untouched)."""
        ws = self.G.mapping(z)
        return ws if psi == 1.0 else truncate(ws, self.centres(z).to(ws), psi)

    def directions(self, method: str = DEFAULT_METHOD) -> tuple[torch.Tensor, torch.Tensor]:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        return self._directions[method]

    @property
    def num_directions(self) -> int:
        return self._directions["sefa"][0].shape[0]

    def direction_label(self, index: int, method: str = DEFAULT_METHOD) -> str:
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
        method: str = DEFAULT_METHOD,
        mix_seed: int | None = None,
        mix_layers: tuple[int, int] | None = None,
        latent: str = "",
    ) -> Recipe:
        """A validated recipe for this checkpoint (raises ValueError on bad arguments).
        ``latent``: a projected picture's w (``encode_latent``), used instead of the seed's."""
        r = Recipe(
            seed=seed, psi=psi, edits=edits or {}, layers=layers, method=method,
            mix_seed=mix_seed, mix_layers=mix_layers, checkpoint=self.source, sha256=self.sha256,
            latent=latent, version=LATENT_VERSION if latent else RECIPE_VERSION,
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
        if r.latent:
            rows, dim = decode_latent(r.latent).shape
            if rows not in (1, self.num_ws) or dim != self.G.cfg.w_dim:
                raise ValueError(f"the recipe's latent is {rows}x{dim}; this model takes 1 or {self.num_ws} "
                                 f"rows of {self.G.cfg.w_dim}")

    def ws_for(self, recipes: Sequence[Recipe]) -> torch.Tensor:
        """Recipes -> ws [B, num_ws, w_dim] (truncation, mixing, then edits)."""
        z = seeds_to_z([r.seed for r in recipes], self.z_dim).to(self.device)
        with torch.inference_mode():
            ws = self.G.mapping(z).clone()  # [B, L, w_dim], untruncated
            # psi pulls each layer toward the centre of the seed it came from
            cs = self.centres(z).expand(-1, self.num_ws, -1).clone()
            for i, r in enumerate(recipes):  # a projected picture starts from its own w, not its seed's
                if r.latent:
                    ws[i] = decode_latent(r.latent).to(ws).expand(self.num_ws, -1)
                    cs[i] = self.G.w_avg  # no seed, so no cluster: the mean w
            mixers = [r for r in recipes if r.mix_seed is not None]
            if mixers:
                zb = seeds_to_z([r.mix_seed for r in mixers], self.z_dim).to(self.device)
                ws_b, cs_b = self.G.mapping(zb), self.centres(zb).expand(-1, self.num_ws, -1)
                j = 0
                for i, r in enumerate(recipes):
                    if r.mix_seed is not None:
                        lsl = layer_slice(r.mix_layers, self.num_ws)
                        ws[i : i + 1] = mix_ws(ws[i : i + 1], ws_b[j : j + 1], lsl)
                        cs[i : i + 1] = mix_ws(cs[i : i + 1], cs_b[j : j + 1], lsl)
                        j += 1
            out = []
            for i, r in enumerate(recipes):
                wi = truncate(ws[i : i + 1], cs[i : i + 1].to(ws), r.psi)
                dirs, stds = self.directions(r.method)
                out.append(apply_edits(wi, r.edits, dirs, stds, layer_slice(r.layers, self.num_ws)))
            return torch.cat(out)

    def seed_w(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A seed's w [1, w_dim], untruncated (what ``ws_for`` starts from, broadcast to every
        layer), and the w [w_dim] its psi pulls toward."""
        z = seeds_to_z([check_seed(seed)], self.z_dim).to(self.device)
        with torch.inference_mode():
            return self.G.mapping(z)[0, :1].float().cpu().clone(), self.centres(z)[0, 0].float().cpu().clone()

    def onnx_file(self) -> Path:
        """The synthesis network as ONNX, exported on first use and cached by the weights' sha256."""
        from .onnx_export import cached_export

        return cached_export(self.G, self.sha256)

    def synthesize(self, ws: torch.Tensor) -> list[Image.Image]:
        """ws [B, num_ws, w_dim] -> images. Chunked so memory stays bounded."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.G.cfg.w_dim):
            raise ValueError(f"ws must have shape [B, {self.num_ws}, {self.G.cfg.w_dim}], got {tuple(ws.shape)}")
        if not torch.isfinite(ws).all():
            raise ValueError("ws holds NaN or inf")
        images: list[Image.Image] = []
        with torch.inference_mode():
            for chunk in ws.to(self.device).split(self.chunk):
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

    # --- your own picture ---------------------------------------------------------------
    def project_steps(self, image: Image.Image | str | os.PathLike[str], steps: int = DEFAULT_PROJECT_STEPS,
                      seed: int = 0, space: str = "w", every: int = 10) -> Iterator[Step]:
        """The search for the latent closest to ``image``, step by step (every ``every`` steps an
        image, for callers that show progress); the last step is the answer. See projection.py."""
        from .projection import load_picture, project

        target = load_picture(image, self.resolution)
        return project(self.G, target, steps=steps, seed=seed, space=space, every=every)

    def project(self, image: Image.Image | str | os.PathLike[str], steps: int = DEFAULT_PROJECT_STEPS,
                seed: int = 0, space: str = "w", every: int = 10,
                on_step: Callable[[Step], None] | None = None) -> Projection:
        """The latent closest to ``image``, its rendering, the loss per reported step, and a recipe
        that reproduces it (psi 1, its w inside): sliders, mixing and PNGs work from it.
        ``on_step`` sees each reported step (every ``every`` steps) as it happens."""
        from .projection import Projection

        losses = []
        for step in self.project_steps(image, steps, seed, space, every):
            losses.append(step.loss)
            if on_step is not None:
                on_step(step)
        recipe = self.projected_recipe(step.ws, seed, space)
        return Projection(ws=step.ws, image=self.render(recipe), losses=losses, recipe=recipe)

    def projected_recipe(self, ws: torch.Tensor, seed: int = 0, space: str = "w") -> Recipe:
        """The recipe (psi 1) of a projection's ``ws`` [1, num_ws, w_dim]: one row in "w", all in "w+"."""
        return self.recipe(seed, psi=1.0, latent=encode_latent(ws[:, :1] if space == "w" else ws))

    # --- convenience API ----------------------------------------------------------------
    def generate(
        self,
        seed: int,
        psi: float = 0.7,
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = DEFAULT_METHOD,
    ) -> Image.Image:
        return self.render(self.recipe(seed, psi, edits, layers, method))

    def generate_batch(
        self,
        seeds: Sequence[int],
        psi: float = 0.7,
        edits: dict[int, float] | None = None,
        layers: tuple[int, int] | None = None,
        method: str = DEFAULT_METHOD,
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
        method: str = DEFAULT_METHOD,
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
        method: str = DEFAULT_METHOD,
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
            w_keys = self.truncated(z, base.psi)[:, :1]  # [K, 1, w_dim]
        return self._walk_frames(z, w_keys, total, frames_per_segment, space, base, dirs, stds, lsl)

    def _walk_frames(self, z, w_keys, total, frames_per_segment, space, base, dirs, stds, lsl) -> Iterator[Image.Image]:
        k = z.shape[0]
        for f in range(total):
            seg, step = divmod(f, frames_per_segment)
            a, b = seg % k, (seg + 1) % k
            t = step / frames_per_segment
            with torch.inference_mode():
                if space == "z":
                    ws = self.truncated(slerp(z[a : a + 1], z[b : b + 1], t), base.psi)
                else:
                    ws = lerp(w_keys[a : a + 1], w_keys[b : b + 1], t).expand(-1, self.num_ws, -1)
                ws = apply_edits(ws, base.edits, dirs, stds, lsl)
            yield self.synthesize(ws)[0]


__all__ = ["Recipe", "Sampler", "walk_length"]

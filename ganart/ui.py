"""The Gradio app: a thin layer over ``Sampler``. Callbacks only parse widget values and
call the service. Every limit lives in ``ganart.limits``: the Sampler enforces the library's,
the callbacks here the stricter ``APP_*`` caps of a public server, and the widgets take their
ranges from the same constants.

``build_demo(source)`` returns the Blocks; ``app.py`` launches it.
"""

from __future__ import annotations

import html
import json
import os
import random
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from .catalog import CHECKPOINTS_DIR, Catalog, listed
from .checkpoint import CheckpointError
from .images import save_animation, upscale
from .latent import check_finite, parse_keyframes, parse_layers
from .limits import (
    APP_EXPLORE_MAX,
    APP_HISTORY,
    APP_LINK_LATENT,
    APP_PROJECT_STEPS,
    APP_QUEUE,
    APP_RENDER_BATCH,
    APP_SLIDER_RANGE,
    APP_SLIDERS,
    APP_WALK_FRAMES,
    DEFAULT_METHOD,
    DEFAULT_PROJECT_STEPS,
    MAX_RECIPE_FILE_BYTES,
    MAX_SEED,
    METHODS,
    PSI_RANGE,
    check_render_batch,
)
from .recipe import PNG_KEY, Recipe, decode_latent, save_png
from .sampler import Sampler, walk_length
from .ui_files import out_dir, start_sweeper
from .ui_models import Samplers, page_call
from .ui_project import Projecting
from .ui_values import (
    ANY_KIND,
    DISPLAY_SCALE,
    edits_of,
    kind_choices,
    kind_of,
    latent_state,
    page_latent,
    seed_of,
    whole,
)
from .ui_web import head, static_paths, web_state

# upscale crisply (never blur the pixels) and let the main images fill their column
CSS = """
img { image-rendering: pixelated; }
#create-image img, #frame img, #child img, #target img { width: 100% !important; height: 100% !important; object-fit: contain; }
#history .grid-container { grid-template-columns: repeat(auto-fill, 88px) !important; }
.ganart-hidden { display: none !important; }
"""
# (Gradio spreads a gallery's first few images over its whole width, cutting each in half in
# the 120 px history strip; fixed 88 px thumbnails fit it whole)
# the page's link follows the controls, so a copied link reproduces the image: the model (when
# not the default: DEFAULT_MODEL is filled in by build_demo), and the layer range whenever there
# are edits (without edits it changes nothing)
URL_JS = """(state, model, seed, psi, method, lo, hi, ...amounts) => {
  const q = new URLSearchParams();
  if (model && model !== DEFAULT_MODEL) q.set("model", model);
  q.set("seed", String(seed)); q.set("psi", String(psi)); q.set("method", method);
  const at = state ? state.indexOf("@") : -1;  // a projected picture: its latent, when short enough
  if (at > 0 && state.slice(0, at) === String(seed)) {
    const latent = state.slice(at + 1);
    q.set("latent", latent.length <= LINK_LATENT ? latent : "png");
  }
  const edits = amounts.map((a, i) => a ? `${i}:${a}` : "").filter(Boolean).join(",");
  if (edits) { q.set("edits", edits); q.set("layers", `${lo}-${hi}`); }
  history.replaceState(null, "", "?" + q.toString());
}"""
# every image the app returns is a file on the server (each slider frame a PNG): every 10 minutes,
# what is over an hour old is deleted, or a public Space fills its disk
CACHE_TTL = (600, 3600)
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "emoji64"


class App(Projecting):
    """The callbacks, independent of widget layout (so they are testable as plain functions)."""

    def __init__(self, samplers: Samplers) -> None:
        self.samplers = samplers

    def recipe(self, model, seed, psi, method, layer_lo, layer_hi, *amounts, state: Any = "") -> Recipe:
        """The controls' recipe; ``state``: the page's latent box (a projected picture)."""
        s = self.samplers.get(model)
        lo, hi = whole(layer_lo, "Layer range start"), whole(layer_hi, "Layer range end")
        layers = None if (lo, hi) == (0, s.num_ws) else (lo, hi)
        seed = seed_of(seed)
        return page_call(s.recipe, seed, psi, edits_of(list(amounts)), layers, method, latent=page_latent(state, seed))

    def generate(self, model, seed, psi, method, layer_lo, layer_hi, *amounts):
        """-> (image shown 4x, recipe JSON)."""
        return self.generate_from(model, "", seed, psi, method, layer_lo, layer_hi, *amounts)

    def generate_from(self, model, state, seed, psi, method, layer_lo, layer_hi, *amounts):
        """``generate`` for the page, which may hold a projected picture's latent."""
        r = self.recipe(model, seed, psi, method, layer_lo, layer_hi, *amounts, state=state)
        img = self.samplers.render(model, r)
        return upscale(img, DISPLAY_SCALE), r.to_json()

    def web_state(self, model, state, seed, method) -> str:
        """What the page needs to render this seed (or projected picture) itself (ui_web)."""
        s = self.samplers.get(model)
        seed = seed_of(seed)
        if method not in METHODS:
            raise gr.Error(f"Directions must be one of {', '.join(METHODS)}, got {method!r}")
        latent = page_latent(state, seed)
        key = f"{model or ''}\n{state if latent else seed}"  # page.mjs paints only while its controls say the same
        if not latent:
            return web_state(s, key, *s.seed_w(seed), method)
        page_call(s.recipe, seed, latent=latent)  # checks that it fits this model
        return web_state(s, key, decode_latent(latent), s.G.w_avg, method)

    def model_changed(self, model, layers_model: str | None, method):
        """Another model picked: the header names it, the layer range spans its layers (the
        old range stayed, so a model with more layers was edited on only the first few) and the
        sliders take its direction names. One handler, so a model that fails to load is one error.
        ``layers_model``: the model the layer range was last set for; when a link has just set the
        model together with its range, that range stays."""
        s = self.samplers.get(model)
        source = self.samplers.source(model)
        labels = self.slider_labels(model, method)
        if source == layers_model:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), *labels
        # a projected picture belongs to the model it was found in
        return (_header(s), gr.update(maximum=s.num_ws - 1, value=0),
                gr.update(maximum=s.num_ws, value=s.num_ws), source, "", *labels)

    def more(self, model, start, count, kind) -> int:
        """Explore's next first seed: the one after the last shown."""
        last = self.explored_seeds(model, start, count, kind)[-1]
        if last >= MAX_SEED:
            raise gr.Error(f"These are the last seeds: seeds stop at {MAX_SEED}")
        return last + 1

    def kinds(self, model) -> dict:
        """Explore's kind menu for a model: shown only for one trained with --clusters."""
        shares = self.samplers.get(model).kind_shares
        return gr.update(choices=kind_choices(shares), value=ANY_KIND, visible=bool(shares))

    def slider_labels(self, model, method) -> list[dict]:
        """The sliders named for what the model's directions do (where its checkpoint says)."""
        s = self.samplers.get(model)
        return [gr.update(label=page_call(s.direction_label, i, method)) for i in range(APP_SLIDERS)]

    @staticmethod
    def remember(history: list[tuple[Any, str]], image, recipe_json: str):
        """Add the shown image to the session's history (newest first, 24 kept)."""
        if not recipe_json or image is None or (history and history[0][1] == recipe_json):
            return history, gr.skip()
        history = [(image, recipe_json)] + [h for h in history if h[1] != recipe_json][: APP_HISTORY - 1]
        return history, [(img, _caption_of(Recipe.from_json(r))) for img, r in history]

    def from_history(self, model, history: list[tuple[Any, str]], evt: gr.SelectData):
        index = evt.index
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(history):
            raise gr.Error(f"No such image in the history: {index!r}")
        r = page_call(Recipe.from_json, history[index][1])
        s = self.samplers.get(model)
        lo, hi = r.layers or (0, s.num_ws)
        return [r.seed, r.psi, r.method, lo, hi, *[r.edits.get(i, 0.0) for i in range(APP_SLIDERS)],
                latent_state(r)]

    def download(self, model, seed, psi, method, layer_lo, layer_hi, *amounts) -> list[str]:
        """PNG files at native and 4x size, each carrying its recipe."""
        return self.download_from(model, "", seed, psi, method, layer_lo, layer_hi, *amounts)

    def download_from(self, model, state, seed, psi, method, layer_lo, layer_hi, *amounts) -> list[str]:
        """``download`` for the page, which may hold a projected picture's latent."""
        r = self.recipe(model, seed, psi, method, layer_lo, layer_hi, *amounts, state=state)
        img = page_call(self.samplers.get(model).render, r)
        folder = out_dir()
        stem = "picture" if r.latent else f"seed{r.seed}"
        return [str(save_png(img, folder / f"{stem}.png")),
                str(save_png(upscale(img, DISPLAY_SCALE), folder / f"{stem}-4x.png"))]

    def explored_seeds(self, model, start, count, kind) -> list[int]:
        """The seeds Explore shows: ``count`` from ``start`` on, of one kind or any."""
        s = self.samplers.get(model)
        start, count = seed_of(start), whole(count, "Count")
        if not 1 <= count <= APP_EXPLORE_MAX:
            raise gr.Error(f"Explore shows 1 to {APP_EXPLORE_MAX} seeds at a time")
        kind = kind_of(kind, len(s.kind_shares))
        if kind is None and start + count - 1 > MAX_SEED:
            raise gr.Error(f"Seeds must stay below {MAX_SEED}")
        return page_call(s.seeds_of_kind, kind, start, count)

    def explore(self, model, start, count, psi, kind=ANY_KIND):
        """Stream a grid: yields the gallery as it grows."""
        s = self.samplers.get(model)
        shown = self.explored_seeds(model, start, count, kind)
        items: list[tuple[Image.Image, str]] = []
        for i in range(0, len(shown), 4):
            seeds = shown[i : i + 4]
            for seed, img in zip(seeds, page_call(s.generate_batch, seeds, psi)):
                items.append((upscale(img, 2), str(seed)))
            yield items

    def walk(self, model, keyframes_text, frames_per_segment, fps, psi):
        """Stream frames while they are made, then the animation file."""
        s = self.samplers.get(model)
        keys = page_call(parse_keyframes, keyframes_text)
        n = whole(frames_per_segment, "Frames per segment")
        fps = page_call(check_finite, "fps", fps, 1, 60)  # checked before the frames are made, not after
        if walk_length(len(keys), n) > APP_WALK_FRAMES:
            raise gr.Error(f"At most {APP_WALK_FRAMES} frames per animation ({len(keys)} keyframes x {n})")
        frames = []
        for frame in page_call(s.walk, keys, n, True, psi):
            frames.append(frame)
            yield upscale(frame, DISPLAY_SCALE), None
        path = out_dir() / "walk.gif"
        save_animation([upscale(f, 2) for f in frames], path, fps=fps)
        yield upscale(frames[-1], DISPLAY_SCALE), str(path)

    def mix(self, model, seed_a, seed_b, split, psi):
        s = self.samplers.get(model)
        img = page_call(s.mix, seed_of(seed_a), seed_of(seed_b), split, psi)
        return upscale(img, DISPLAY_SCALE), img.info[PNG_KEY]

    def breed(self, model, seed_a, seed_b, psi, count: int = 6, rng_seed: int | None = None):
        """Children with random splits and small mutations; returns gallery items."""
        s = self.samplers.get(model)
        a, b = seed_of(seed_a), seed_of(seed_b)
        rng = random.Random(rng_seed if rng_seed is not None else (a * 1_000_003 + b) % MAX_SEED)
        items = []
        for _ in range(int(count)):
            lo = rng.randrange(0, s.num_ws - 1)
            hi = rng.randrange(lo + 1, s.num_ws + 1)
            mutation = {rng.randrange(s.num_directions): round(rng.uniform(-1.5, 1.5), 2)}
            r = page_call(s.recipe, a, psi, mutation, None, DEFAULT_METHOD, mix_seed=b, mix_layers=(lo, hi))
            img = page_call(s.render, r)
            items.append((upscale(img, 2), r.to_json()))
        return items

    def from_url(self, model, request: gr.Request):
        """?model=user/name&seed=7&psi=0.5&method=pca&edits=0:1.5,3:-2&layers=2-5[&latent=...] -> the
        model and Create controls. A bad link is a warning naming what is wrong, over the default
        image (an error here left the page empty). -> [model, layers_model, header, seed, psi,
        method, layer from, layer to, *sliders, latent box]"""
        try:
            return self._from_url(model, dict(request.query_params) if request is not None else {})
        except gr.Error as e:  # escaped: a crafted link must not put a working HTML link in the toast
            gr.Warning(html.escape(e.message))
            return self._from_url(None, {})

    def _from_url(self, model, q: dict[str, str]):
        source = self.samplers.source(q.get("model") or model)
        s = self.samplers.get(source)
        seed = seed_of(q.get("seed", 0))
        try:
            psi = float(q.get("psi", 0.7))
        except ValueError:
            raise gr.Error(f"Bad psi in the link: {q.get('psi')!r}") from None
        amounts = [0.0] * APP_SLIDERS
        for part in filter(None, q.get("edits", "").split(",")):
            k, _, v = part.partition(":")
            try:
                if not k.strip().isdigit():  # "-1:2" set the last slider through Python's negative index
                    raise ValueError(k)
                amounts[int(k)] = float(v)
            except (ValueError, IndexError):
                raise gr.Error(f"Bad edits in the link: {part!r} (use index:amount, index 0-{APP_SLIDERS - 1})") from None
        lo, hi = 0, s.num_ws
        if q.get("layers"):
            try:
                lo, hi = parse_layers(q["layers"])
            except ValueError:
                raise gr.Error(f"Bad layers in the link: {q['layers']!r} (use from-to, e.g. 2-5)") from None
        method = q.get("method", DEFAULT_METHOD)
        layers = None if (lo, hi) == (0, s.num_ws) else (lo, hi)
        latent = q.get("latent", "")
        if latent == "png":  # URL_JS writes this when the latent is too long for a link
            raise gr.Error("This link's picture was projected with a latent too long for a link: drop its PNG "
                           "in the restore box instead")
        r = page_call(s.recipe, seed, psi, edits_of(amounts), layers, method, latent=latent)  # validates everything
        if source == self.samplers.source(model):  # the sliders already span its layers
            layer_lo, layer_hi = lo, hi  # (plain values: an update with a new maximum lands a tick late,
        else:  # and the first render could read the old range)
            layer_lo, layer_hi = gr.update(maximum=s.num_ws - 1, value=lo), gr.update(maximum=s.num_ws, value=hi)
        return [source, source, _header(s), r.seed, r.psi, r.method, layer_lo, layer_hi, *amounts, latent_state(r)]

    def open_child(self, model, evt: gr.SelectData):
        """A bred child, clicked: show it large with its recipe, its parents in the seed fields."""
        r = page_call(Recipe.from_json, _caption(evt))
        img = self.samplers.render(model, r)
        return upscale(img, DISPLAY_SCALE), r.to_json(), r.seed, r.mix_seed

    @staticmethod
    def pick(evt: gr.SelectData):
        """An Explore image clicked: its seed (the caption), opened in Create."""
        caption = _caption(evt)
        if not caption.strip().isdigit():
            raise gr.Error(f"Seed must be a whole number from 0 to {MAX_SEED}, got {caption[:20]!r}")
        return seed_of(caption), gr.Tabs(selected="create"), ""  # a seed, not a projected picture

    def restore(self, model, path):
        """A PNG the app made -> every Create control, and the exact image."""
        if path is None:
            raise gr.Error("Drop a PNG that ganart made")
        p = Path(path)
        if p.stat().st_size > MAX_RECIPE_FILE_BYTES:
            raise gr.Error(f"That file is over {MAX_RECIPE_FILE_BYTES // 2**20} MB")
        try:
            r = Recipe.from_png(p)
        except ValueError as e:  # the upload's name, not where the server keeps it
            raise gr.Error(str(e).replace(str(p), p.name)) from None
        if r.mix_seed is not None:
            raise gr.Error("This PNG is a mix; open it with the Mix tab's seeds")
        s = self.samplers.get(model)
        img = page_call(s.render, r)
        lo, hi = r.layers or (0, s.num_ws)
        amounts = [r.edits.get(i, 0.0) for i in range(APP_SLIDERS)]
        return [r.seed, r.psi, r.method, lo, hi, *amounts, upscale(img, DISPLAY_SCALE), r.to_json(), latent_state(r)]


def _caption(evt: gr.SelectData) -> str:
    """A gallery item's caption, from an event any client may craft."""
    value = evt.value
    caption = value.get("caption") if isinstance(value, dict) else None
    if not isinstance(caption, str):
        raise gr.Error("That gallery item carries no caption")
    return caption


def _caption_of(r: Recipe) -> str:
    return "your picture" if r.latent else f"seed {r.seed}"


def _header(s: Sampler) -> str:
    return f"# ganart\nPlay with **{s.name}** ({s.resolution}px). Drag a slider: the image follows."


def build_demo(default_source: str, batch: int = APP_RENDER_BATCH,
               delete_cache: tuple[int, int] | None = CACHE_TTL, allow_any_model: bool | None = None) -> gr.Blocks:
    """The app. ``batch``: up to this many concurrent /generate requests share one forward
    pass (1 = no batching). ``delete_cache``: (every, older than) seconds, Gradio's own cleanup
    of the files the app wrote."""
    if delete_cache is not None:
        start_sweeper(*delete_cache)
    catalog = Catalog(default_source, listed(), allow_any=allow_any_model)
    samplers = Samplers(default_source, batch=check_render_batch(batch), catalog=catalog)
    default = catalog.default.name  # the page and its links show names, never server paths
    app = App(samplers)
    try:
        s = samplers.get(public=False)
    except gr.Error as e:  # at start-up, not in a request: a plain error for app.py and `ganart serve`
        raise CheckpointError(e.message) from None
    gr.set_static_paths(static_paths())  # ganart/web and the ONNX exports, nothing else
    with gr.Blocks(title="ganart", delete_cache=delete_cache) as demo:
        header = gr.Markdown(_header(s))
        layers_model = gr.State(default)  # the model the layer range was set for
        with gr.Row():
            # shipped models listed by folder name (the value stays the path the server loads)
            label = "Model (a name, a folder or a Hub id user/name)" if catalog.allow_any else "Model"
            model = gr.Dropdown(choices=catalog.names(), value=default, label=label,
                                allow_custom_value=catalog.allow_any, elem_id="model")
        with gr.Tabs() as tabs:
            with gr.Tab("Create", id="create"):
                with gr.Row():
                    with gr.Column(scale=3):
                        image = gr.Image(label="Image", type="pil", format="png", interactive=False, height=480,
                                         elem_id="create-image")
                        # painted by the page itself while a slider moves (ui_web); hidden until it works
                        gr.HTML('<canvas width="1" height="1" aria-label="Image"></canvas>', elem_id="create-canvas")
                        recipe_box = gr.Textbox(label="Recipe", interactive=False, elem_id="recipe")
                        history = gr.State([])
                        history_gallery = gr.Gallery(label="History (click to restore)", columns=8, rows=1, height=120,
                                                     object_fit="contain",
                                                     elem_id="history")
                        with gr.Accordion("Start from your image", open=True):
                            with gr.Row():
                                picture = gr.File(label="Drop a picture: the model finds its closest image, then "
                                                  "the sliders edit it", file_types=["image"], type="filepath",
                                                  elem_id="picture", scale=2)
                                target_view = gr.Image(label="As the model sees it", type="pil", format="png",
                                                       interactive=False, height=140, elem_id="target", scale=1)
                            steps = gr.Slider(10, APP_PROJECT_STEPS, value=DEFAULT_PROJECT_STEPS, step=10,
                                              label="Search steps (more: closer and slower)", elem_id="steps")
                    with gr.Column(scale=2):
                        with gr.Row():
                            prev_btn = gr.Button("◀", min_width=40)
                            seed = gr.Number(value=0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                                             elem_id="seed")
                            next_btn = gr.Button("▶", min_width=40)
                            dice = gr.Button("🎲", min_width=40, elem_id="dice")
                        psi = gr.Slider(*PSI_RANGE, value=0.7, step=0.05, label="Truncation ψ", elem_id="psi")
                        method = gr.Radio(list(METHODS), value=DEFAULT_METHOD, label="Directions", elem_id="method")
                        with gr.Row():
                            layer_lo = gr.Slider(0, s.num_ws - 1, value=0, step=1, label="Edit layers from",
                                                 elem_id="layer-lo")
                            layer_hi = gr.Slider(1, s.num_ws, value=s.num_ws, step=1, label="to", elem_id="layer-hi")
                        sliders = [gr.Slider(-APP_SLIDER_RANGE, APP_SLIDER_RANGE, value=0, step=0.1,
                                             label=s.direction_label(i, DEFAULT_METHOD), elem_id=f"dir{i}")
                                   for i in range(APP_SLIDERS)]
                        with gr.Row():
                            reset = gr.Button("Reset sliders")
                            save = gr.Button("Download PNG")
                        files = gr.File(label="PNG (native and 4x, recipe embedded)", file_count="multiple")
                        upload = gr.File(label="Drop a ganart PNG to restore it", file_types=[".png"], type="filepath")
                        # "SEED@LATENT" while the image is a projected picture (latent_state); hidden
                        latent_box = gr.Textbox(visible=False, label="latent", elem_id="latent")
                        web = gr.Textbox(visible=False, label="web state", elem_id="web")  # ui_web.web_state, for the page
                        # what a drag asks of the server when the page cannot render (hidden by CSS: the
                        # page clicks it)
                        server_render = gr.Button("render", elem_id="server-render", elem_classes=["ganart-hidden"])
            controls = [model, seed, psi, method, layer_lo, layer_hi, *sliders]
            # the page's own events render from the latent box too; the API's /generate takes seeds
            page_controls = [model, latent_box, *controls[1:]]
            with gr.Tab("Explore", id="explore"):
                with gr.Row():
                    ex_start = gr.Number(value=0, label="First seed", precision=0)
                    ex_count = gr.Slider(16, 36, value=16, step=4, label="How many")
                    ex_kind = gr.Dropdown(kind_choices(s.kind_shares), value=ANY_KIND, label="Kind",
                                          visible=bool(s.kind_shares), allow_custom_value=True,  # kind_of checks
                                          info="the model's clusters of training images, largest first",
                                          elem_id="explore-kind")
                    ex_btn = gr.Button("Show", variant="primary")
                    ex_more = gr.Button("More")
                gallery = gr.Gallery(label="Click one to open it in Create", columns=6, elem_id="explore")
            with gr.Tab("Animate", id="animate"):
                with gr.Row():
                    keys = gr.Textbox(value="1, 2, 3", label="Keyframe seeds")
                    segment_frames = gr.Slider(2, 60, value=12, step=1, label="Frames per segment")
                    fps = gr.Slider(1, 30, value=12, step=1, label="fps")
                with gr.Row():
                    go = gr.Button("Animate", variant="primary", elem_id="animate")
                    stop = gr.Button("Stop", elem_id="stop")
                frame = gr.Image(label="Live", type="pil", format="png", interactive=False, height=400, elem_id="frame")
                anim = gr.File(label="Animation")
            with gr.Tab("Mix", id="mix"):
                with gr.Row():
                    mix_a = gr.Number(value=1, label="Parent A", precision=0)
                    mix_b = gr.Number(value=2, label="Parent B", precision=0)
                    split = gr.Radio(["coarse", "middle", "fine"], value="coarse", label="B gives the")
                    mix_btn = gr.Button("Mix", variant="primary")
                    breed_btn = gr.Button("Breed")
                child = gr.Image(label="Child", type="pil", format="png", interactive=False, height=400, elem_id="child")
                child_recipe = gr.Textbox(label="Recipe", interactive=False)
                children = gr.Gallery(label="Children", columns=6)

        # --- Create events: sliders follow while dragging, full update on release ---------
        outs = [image, recipe_box]
        # Up to `batch` requests run at once and
        # the RenderBatcher merges them into one forward pass (Gradio's own batch=True would
        # fail every request in a batch for one caller's bad input).
        generate_fn = dict(fn=app.generate, concurrency_limit=max(batch, 1), concurrency_id="render")
        page_fn = dict(fn=app.generate_from, inputs=page_controls, outputs=outs, api_visibility="private")
        # what the page renders from (ui_web), after a seed, projected picture, model or method change
        web_fn = dict(fn=app.web_state, inputs=[model, latent_box, seed, method], outputs=web, api_visibility="private",
                      show_progress="hidden")
        remember = dict(fn=app.remember, inputs=[history, image, recipe_box], outputs=[history, history_gallery],
                        api_visibility="private", show_progress="hidden")
        # the history records settled images (after a seed change or a slider release)
        # registered first so it owns the name. The API's /generate: the same render, without the browser-only history bookkeeping
        api_trigger = gr.Button(visible=False)
        api_trigger.click(**generate_fn, inputs=controls, outputs=outs, api_name="generate")
        seed.change(**{**generate_fn, **page_fn}, show_progress="hidden").then(**remember)
        # a drag paints in the page (no request) or, without the runtime, asks the server as before
        page_values = [latent_box, *controls]
        server_render.click(**{**generate_fn, **page_fn}, trigger_mode="always_last", show_progress="hidden")
        for c in [psi, layer_lo, layer_hi, *sliders]:
            c.input(None, page_values, None, js="(...v) => window.ganart ? window.ganart.drag(...v) : "
                    "document.querySelector('#server-render').click()", api_visibility="private")
            # always_last: a release while the last one renders is rendered after it ("once",
            # the default, dropped it, and the exact image stayed one release behind)
            c.release(**page_fn, show_progress="hidden", trigger_mode="always_last").then(**remember)
        # once per seed, projected picture, model or method: what the page renders from
        api_web = gr.Button(visible=False)  # /web_state for any client; registered first, so it owns the name
        api_web.click(**{**web_fn, "api_visibility": "public"}, api_name="web_state")
        gr.on([seed.change, method.change, latent_box.change], **web_fn)
        web.change(None, [web, *page_values], None, js="(web, ...v) => window.ganart && window.ganart.setState(web, v)",
                   api_visibility="private")
        # any image the server sends (a release, a seed, a reset, the search for your picture) is
        # the exact one: shown instead of the page's preview until the next drag
        image.change(None, None, None, js="() => window.ganart && window.ganart.showServer()", api_visibility="private")
        # the seed buttons and typing a seed leave a projected picture (in the page: no request;
        # the first render after typing already ignores it, see ui_values.page_latent)
        seed.input(None, None, latent_box, js="() => ''", api_visibility="private")
        prev_btn.click(lambda v: (max(seed_of(v) - 1, 0), ""), seed, [seed, latent_box], api_visibility="private")
        next_btn.click(lambda v: (min(seed_of(v) + 1, MAX_SEED), ""), seed, [seed, latent_box], api_visibility="private")
        dice.click(lambda: (random.randrange(MAX_SEED + 1), ""), None, [seed, latent_box], api_visibility="private")
        method.change(**page_fn)
        method.change(app.slider_labels, [model, method], sliders, api_visibility="private", show_progress="hidden")
        changed = model.change(app.model_changed, [model, layers_model, method],
                               [header, layer_lo, layer_hi, layers_model, latent_box, *sliders],
                               api_visibility="private")
        changed.success(**page_fn).success(**web_fn)
        changed.success(app.kinds, model, ex_kind, api_visibility="private", show_progress="hidden")
        reset.click(lambda: [0.0] * APP_SLIDERS, None, sliders, api_visibility="private").then(**page_fn)
        save.click(app.download_from, page_controls, files, api_visibility="private")
        api_download = gr.Button(visible=False)
        api_download.click(app.download, controls, files, api_name="download")
        upload.upload(app.restore, [model, upload], [seed, psi, method, layer_lo, layer_hi, *sliders, image,
                                                      recipe_box, latent_box], api_name="restore")
        history_gallery.select(app.from_history, [model, history],
                               [seed, psi, method, layer_lo, layer_hi, *sliders, latent_box],
                               api_visibility="private").then(**page_fn)
        opened = demo.load(app.from_url, [model], [model, layers_model, header, seed, psi, method, layer_lo, layer_hi, *sliders,
                                          latent_box], api_visibility="private")
        opened.then(**page_fn)
        opened.then(**web_fn)  # beside the first render, not after it: the page's first frame waits on it
        # one projection at a time: it holds both cores for seconds
        project_fn = dict(concurrency_limit=1, concurrency_id="project")
        api_project = gr.Button(visible=False)  # registered first, so it owns the name /project
        api_project.click(app.project_api, [model, picture, steps], outs, api_name="project", **project_fn)
        picture.upload(app.project, [model, picture, steps],
                       [image, recipe_box, latent_box, seed, psi, method, layer_lo, layer_hi, *sliders, target_view],
                       api_visibility="private", **project_fn).then(**remember)
        # keep the page URL in step with the image (in the browser only), so a copied link reproduces it
        url_js = URL_JS.replace("DEFAULT_MODEL", json.dumps(default)).replace("LINK_LATENT", str(APP_LINK_LATENT))
        for c in [latent_box, *controls]:
            c.change(None, [latent_box, *controls], None, js=url_js, api_visibility="private")

        # --- Explore ---------------------------------------------------------------------
        ex_btn.click(app.explore, [model, ex_start, ex_count, psi, ex_kind], gallery, api_name="explore")
        ex_more.click(app.more, [model, ex_start, ex_count, ex_kind], ex_start,
                      api_visibility="private").success(app.explore, [model, ex_start, ex_count, psi, ex_kind],
                                                        gallery, api_visibility="private")

        gallery.select(app.pick, None, [seed, tabs, latent_box], api_visibility="private")

        # --- Animate -----------------------------------------------------------------------
        run = go.click(app.walk, [model, keys, segment_frames, fps, psi], [frame, anim], api_name="walk")
        stop.click(None, None, None, cancels=[run], api_visibility="private")

        # --- Mix ----------------------------------------------------------------------------
        mix_btn.click(app.mix, [model, mix_a, mix_b, split, psi], [child, child_recipe], api_name="mix")
        breed_btn.click(app.breed, [model, mix_a, mix_b, psi], children, api_name="breed")
        children.select(app.open_child, [model], [child, child_recipe, mix_a, mix_b], api_visibility="private")
    demo.ganart_head = head(s)  # launch() adds it to the page
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **kwargs):
    return demo.queue(max_size=APP_QUEUE, default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", host), server_port=port, share=False,
        max_file_size=MAX_RECIPE_FILE_BYTES, css=CSS, head=getattr(demo, "ganart_head", ""), **kwargs)

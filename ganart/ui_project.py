"""Create's "Start from your image": a dropped picture projected into the model, streamed while
the search runs, then handed to Create's controls (App inherits these callbacks)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from .images import upscale
from .limits import APP_PROJECT_STEPS, APP_SLIDERS
from .projection import load_picture
from .ui_models import Samplers
from .ui_values import DISPLAY_SCALE, latent_state, whole


class Projecting:
    samplers: Samplers

    def project(self, model, path, steps, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        """A dropped picture -> the model's closest image, streamed while the search runs, then the
        Create controls set for it, so the sliders edit it. Yields [image, recipe, latent box,
        seed, psi, method, layer from, layer to, *sliders, the picture as the model sees it]."""
        s = self.samplers.get(model)
        if path is None:
            raise gr.Error("Drop a picture (PNG, JPEG, WebP, GIF, ...) to start from it")
        n = whole(steps, "Search steps")
        if not 1 <= n <= APP_PROJECT_STEPS:
            raise gr.Error(f"Search steps must be from 1 to {APP_PROJECT_STEPS}, got {n}")
        p = Path(path)
        try:  # the upload's name in messages, not where the server keeps it
            target = Image.fromarray(load_picture(p, s.resolution))
            skip = [gr.skip()] * (7 + APP_SLIDERS)  # all but the image and the picture
            yield upscale(target, DISPLAY_SCALE), *skip, upscale(target, DISPLAY_SCALE)
            for step in s.project_steps(target, n, every=max(n // 10, 1)):
                progress(step.step / n, desc="Finding your picture in the model")
                if step.step < n and step.image is not None:
                    yield upscale(step.image, DISPLAY_SCALE), *skip, gr.skip()
            r = s.projected_recipe(step.ws)
        except ValueError as e:
            raise gr.Error(str(e).replace(str(p), p.name)) from None
        img = self.samplers.render(model, r)
        yield (upscale(img, DISPLAY_SCALE), r.to_json(), latent_state(r), r.seed, r.psi, r.method, 0, s.num_ws,
               *[0.0] * APP_SLIDERS, gr.skip())

    def project_api(self, model, path, steps, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        """/project: (the closest image, its recipe with the latent inside), streamed."""
        for out in self.project(model, path, steps, progress):
            yield out[0], out[1]

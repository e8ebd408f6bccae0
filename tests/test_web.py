"""Rendering in the visitor's browser: the ONNX export against PyTorch (Python's onnxruntime),
the page's latent math against ganart's (Node runs ganart/web/latent.mjs), the pinned runtime
files, and what the server sends the page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from ganart import Sampler
from ganart.latent import seeds_to_z
from ganart.onnx_export import EXPORT_VERSION, OPSET, cached_export, export_bytes, export_synthesis
from ganart.recipe import encode_latent
from ganart.ui_web import decode
from ganart.web_runtime import CDN, FILES, WEB_DIR

ort = pytest.importorskip("onnxruntime")
NODE = shutil.which("node")


def onnx_pixels(path, ws: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"ws": ws.astype(np.float32)})[0]
    return np.round((np.clip(out, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("which", ["default shape", "emoji64"])
def test_the_onnx_export_renders_as_pytorch_does(which, tmp_path):
    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    if which == "emoji64":
        s = Sampler.load("checkpoints/emoji64")
    else:  # the default ModelConfig at 16 px, so the test stays fast
        torch.manual_seed(0)
        from ganart.config import ModelConfig
        from ganart.models import Generator

        ck = save_checkpoint(Generator(ModelConfig(resolution=16)), tmp_path / "d", CheckpointMeta(name="d"))
        s = Sampler.load(ck)
    path = export_synthesis(s.G, tmp_path / "g.onnx")
    recipes = [s.recipe(seed, psi=0.7, edits={0: 1.5, 2: -2.0}) for seed in range(4)]
    expected = np.stack([np.asarray(im) for im in s.render_many(recipes)])
    got = np.concatenate([onnx_pixels(path, s.ws_for([r]).numpy()) for r in recipes])
    close = np.abs(got.astype(int) - expected.astype(int)) <= 1
    assert close.mean() >= 0.999, f"{close.mean():.5f} of pixels within 1/255"
    assert path.stat().st_size <= 1.25 * export_bytes(s.G)  # each weight once (+ derived sums), near the estimate
    if which == "emoji64":
        assert path.stat().st_size <= 12 * 2**20


def test_exports_are_cached_by_the_weights_sha256(sampler, tmp_path, monkeypatch):
    monkeypatch.setenv("GANART_CACHE", str(tmp_path))
    path = cached_export(sampler.G, sampler.sha256)
    assert path.parent == tmp_path / "onnx" and path.name.startswith(f"{sampler.sha256}-v{EXPORT_VERSION}-opset{OPSET}-")
    stamp = path.stat().st_mtime_ns
    assert sampler.onnx_file() == path and path.stat().st_mtime_ns == stamp  # not exported again
    with pytest.raises(ValueError, match="64 hex digits"):
        cached_export(sampler.G, "../../etc")


def test_export_onnx_on_the_command_line(session_ckpt, tmp_path, capsys):
    from ganart.cli import main

    assert main(["export-onnx", "--checkpoint", str(session_ckpt), "--out", str(tmp_path / "t.onnx")]) == 0
    assert (tmp_path / "t.onnx").is_file() and "input ws [1, 6, 32]" in capsys.readouterr().out


def _node_ws(state: dict, calls: list[list]) -> list[np.ndarray]:
    """ws computed by latent.mjs in Node for each (psi, lo, hi, amounts)."""
    script = f"""
import {{ decodeF32, wsFor }} from {json.dumps((WEB_DIR / "latent.mjs").as_uri())};
let text = ""; for await (const chunk of process.stdin) text += chunk;
const {{ state, calls }} = JSON.parse(text);
const s = {{ ...state, w: decodeF32(state.w), w_avg: decodeF32(state.w_avg), dirs: decodeF32(state.dirs),
            stds: decodeF32(state.stds) }};
console.log(JSON.stringify(calls.map(([psi, lo, hi, amounts]) => {{
  const ws = wsFor(s, psi, lo, hi, amounts);
  return ws && Array.from(ws);
}})));
"""
    out = subprocess.run([NODE, "--input-type=module", "-e", script], input=json.dumps({"state": state, "calls": calls}),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [None if v is None else np.array(v, dtype=np.float32) for v in json.loads(out)]


@pytest.mark.skipif(NODE is None and os.environ.get("CI") != "true", reason="Node.js is not installed")
@pytest.mark.parametrize("ckpt", ["session_ckpt", "clusters_ckpt"])
def test_the_pages_latent_math_is_ganarts(ckpt, request):
    """latent.mjs gives Sampler.ws_for's ws for the same seed or latent, psi, edits and layers
    (with --clusters, psi pulls toward the seed's cluster's mean w)."""
    from ganart.ui import App
    from ganart.ui_models import Samplers

    path = request.getfixturevalue(ckpt)
    sampler = Sampler.load(path, device="cpu")
    app = App(Samplers(str(path)))
    calls = [(0.7, 0, 6, [0, 0, 0]), (0.35, 2, 5, [1.5, 0, -2.25]), (1.0, 0, 6, [0, 4.9, 0]), (-0.5, 1, 2, [3, 3, 3])]
    g = torch.Generator().manual_seed(1)
    w, w_plus = encode_latent(torch.randn(1, 32, generator=g)), encode_latent(torch.randn(6, 32, generator=g))
    seeds = [("", i) for i in range(5)]  # seeds of at least two clusters for clusters_ckpt
    assert ckpt == "session_ckpt" or len(set(sampler.G.mapping_net.classes_of(seeds_to_z(range(5), 32)).tolist())) > 1
    for latent, seed in seeds + [(w, 0), (w_plus, 3)]:  # seeds, a projected w, a projected w+
        state = json.loads(app.web_state(None, f"{seed}@{latent}" if latent else "", seed, "pca"))
        if ckpt == "clusters_ckpt":  # psi pulls a seed toward its cluster's centre, not the mean w
            assert (decode(state["w_avg"]) == sampler.G.w_avg.numpy()).all() == bool(latent)
        got = _node_ws(state, calls + [(0.7, 4, 2, [1, 0, 0])])
        assert got[-1] is None  # a layer range the server refuses: no preview
        for (psi, lo, hi, amounts), ws in zip(calls, got):
            layers = None if (lo, hi) == (0, 6) else (lo, hi)
            r = sampler.recipe(seed, psi, dict(enumerate(amounts)), layers, "pca", latent=latent)
            want = sampler.ws_for([r]).numpy().reshape(-1)
            np.testing.assert_allclose(ws, want, rtol=0, atol=2e-6)


def test_what_the_server_sends_the_page(session_ckpt, sampler):
    import gradio as gr

    from ganart.ui import App
    from ganart.ui_models import Samplers

    app = App(Samplers(str(session_ckpt)))
    state = json.loads(app.web_state(None, "", 5, "sefa"))
    assert state["key"] == "\n5" and state["method"] == "sefa" and state["onnx"].startswith("gradio_api/file=")
    assert json.loads(app.web_state("tiny", "", 5, "sefa"))["key"] == "tiny\n5"  # the model is part of it
    assert (state["resolution"], state["num_ws"], state["w_dim"]) == (16, 6, 32)
    assert np.array_equal(decode(state["w"]), sampler.seed_w(5)[0].numpy().reshape(-1))
    assert np.array_equal(decode(state["w_avg"]), sampler.G.w_avg.numpy())
    dirs, stds = sampler.directions("sefa")
    assert np.array_equal(decode(state["stds"]), stds[:8].numpy())
    assert decode(state["dirs"]).size == 8 * 32
    with pytest.raises(gr.Error, match="Directions must be one of"):
        app.web_state(None, "", 5, "<script>")
    with pytest.raises(gr.Error, match="SEED@LATENT"):
        app.web_state(None, "nonsense", 5, "sefa")
    with pytest.raises(gr.Error, match="this model takes"):  # a latent of another model's width
        app.web_state(None, f"5@{encode_latent(torch.zeros(1, 8))}", 5, "sefa")


def test_the_runtime_is_the_pinned_one_local_or_from_the_cdn(monkeypatch, tmp_path):
    from ganart import web_runtime

    local = web_runtime.runtime_config(lambda p: f"local:{p.name}")
    if os.environ.get("CI") == "true":  # `make test` fetches it (make web)
        assert local["source"] == "local"
    if local["source"] == "local":  # the files served are the pinned bytes
        assert local["module"] == "local:ort.wasm.bundle.min.mjs"
        assert web_runtime.sri(web_runtime.LOCAL_DIR / "ort-wasm-simd-threaded.wasm") == local["wasm_integrity"]
        assert (web_runtime.LOCAL_DIR / "LICENSE.md").read_text().count("sha384-") == 2
    monkeypatch.setattr(web_runtime, "LOCAL_DIR", tmp_path)  # no copy: the CDN, same pins
    cdn = web_runtime.runtime_config(lambda p: "unused")
    assert cdn["source"] == "cdn" and cdn["wasm"] == CDN + "ort-wasm-simd-threaded.wasm"
    assert (cdn["module_integrity"], cdn["wasm_integrity"]) == tuple(FILES.values())
    (tmp_path / "ort.wasm.bundle.min.mjs").write_text("tampered")  # a changed file is not served
    (tmp_path / "ort-wasm-simd-threaded.wasm").write_text("tampered")
    assert web_runtime.local_copy() is None


def test_a_model_too_large_for_the_page_stays_on_the_server(session_ckpt, monkeypatch):
    from ganart import ui_web
    from ganart.ui import App
    from ganart.ui_models import Samplers

    monkeypatch.setattr(ui_web, "APP_WEB_MODEL_MB", 0)
    state = json.loads(App(Samplers(str(session_ckpt))).web_state(None, "", 5, "sefa"))
    assert state["onnx"] is None and "over 0" in state["reason"]  # page.mjs falls back on this
    assert "model" not in json.loads(ui_web.head(Samplers(str(session_ckpt)).get()).split(">", 1)[1].split("<")[0])

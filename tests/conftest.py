"""Shared fixtures: tiny models that build and run in milliseconds."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's cache (files the app hands out, the client's downloads) goes to a folder of this
# run, removed at its end: service-level calls have no server whose delete_cache would clean
# them, and thousands of files piled up in /tmp/gradio. Read at import, so set before gradio.
GRADIO_CACHE = tempfile.mkdtemp(prefix="ganart-tests-gradio-")
os.environ["GRADIO_TEMP_DIR"] = GRADIO_CACHE

from ganart.checkpoint import CheckpointMeta, save_checkpoint  # noqa: E402
from ganart.config import ModelConfig  # noqa: E402
from ganart.models import Generator  # noqa: E402

pytest_plugins = ["ci_skips"]  # under CI=true a skip is a failure

TINY = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"


def tiny_config(**overrides) -> ModelConfig:
    return ModelConfig(**{**TINY, **overrides})


def tiny_generator(seed: int = 0, **overrides) -> Generator:
    torch.manual_seed(seed)
    G = Generator(tiny_config(**overrides))
    with torch.no_grad():  # non-zero noise strengths and w_avg, so every buffer matters
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        G.w_avg.normal_(0, 0.1)
    return G


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(tiny_generator(), tmp_path / "tiny", CheckpointMeta(name="tiny", dataset="unit"))


@pytest.fixture(scope="session")
def session_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_checkpoint(tiny_generator(), tmp_path_factory.mktemp("ck") / "tiny", CheckpointMeta(name="tiny"))


@pytest.fixture(scope="session")
def clusters_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model as ``--clusters 4`` trains it: the clusters' embeddings far apart."""
    G = tiny_generator(classes=4)
    with torch.no_grad():
        G.mapping_net.class_embed.normal_(0, 3)
    return save_checkpoint(G, tmp_path_factory.mktemp("ck") / "clusters", CheckpointMeta(name="clusters"))


@pytest.fixture(scope="session")
def sampler(session_ckpt: Path):
    from ganart import Sampler

    return Sampler.load(session_ckpt, device="cpu")


@pytest.fixture
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(session_ckpt):
    """The app on the tiny model, launched once for the API and browser tests."""
    from ganart.ui import build_demo, launch

    demo = build_demo(str(session_ckpt))
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def open_app_url(session_ckpt):
    """The app as run locally with GANART_ALLOW_ANY_MODEL=1: a visitor may open any folder."""
    from ganart.ui import build_demo, launch

    demo = build_demo(str(session_ckpt), allow_any_model=True)
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, session_ckpt):
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-gan"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(session_ckpt / name, snap / name)
    (snap / "evil.pkl").write_bytes(b"\x80\x04never loaded")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "v1").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A fake Hub (tests/fakehub.py) on 127.0.0.1, with huggingface_hub pointed at it, online, a fresh cache in
    tmp_path and no token: add repos with ``fake_hub.add_repo``, read what was asked in ``fake_hub.requests``."""
    import huggingface_hub
    from fakehub import FakeHub

    hub = FakeHub().start()
    try:
        _point_huggingface_hub_at(hub.url, tmp_path, monkeypatch)
        yield hub
    finally:
        huggingface_hub.close_session()  # no pooled connection to a server that is gone
        hub.stop()


def _point_huggingface_hub_at(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_ENDPOINT and a fresh HF_HUB_CACHE, online, no token; and the values huggingface_hub computed from the
    environment when it was imported (monkeypatch undoes all of it after the test)."""
    import huggingface_hub
    import huggingface_hub.constants as c
    import huggingface_hub.hf_api as hf_api
    import huggingface_hub.utils._http as hf_http

    cache, home = tmp_path / "fake-hub-cache", tmp_path / "fake-hub-home"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGINGFACE_CO_STAGING", "HF_TOKEN",
                 "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"HF_ENDPOINT": url, "HF_HUB_CACHE": str(cache), "HF_HOME": str(home),
                        "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    # read from the environment at import time
    monkeypatch.setattr(c, "ENDPOINT", url)
    monkeypatch.setattr(c, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(c, "HF_URL_HOSTS", c.HF_URL_HOSTS | {"127.0.0.1"})
    monkeypatch.setattr(hf_http, "_HUB_ORIGINS", hf_http._HUB_ORIGINS | {hf_http._url_origin(url)})
    monkeypatch.setattr(hf_api.api, "endpoint", url)  # the module-level HfApi behind huggingface_hub.<function>
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(c, "HF_HOME", str(home))
    monkeypatch.setattr(c, "HF_TOKEN_PATH", str(home / "token"))  # no stored token is sent to the fake
    monkeypatch.setattr(c, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    huggingface_hub.close_session()  # the next client is made with this environment (proxies)


@pytest.fixture(scope="session", autouse=True)
def _remove_gradio_cache():
    yield
    shutil.rmtree(GRADIO_CACHE, ignore_errors=True)


@pytest.fixture
def train_env(tmp_path, monkeypatch):
    """Training tests: a cache of their own and no progress bar."""
    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANART_NO_PROGRESS", "1")


@pytest.fixture
def shapes(tmp_path) -> Path:
    """A tiny folder of 12 coloured shapes to train on."""
    from shapes import make_shapes

    return make_shapes(tmp_path / "shapes", n=12)

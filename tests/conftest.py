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


@pytest.fixture(scope="session", autouse=True)
def _remove_gradio_cache():
    yield
    shutil.rmtree(GRADIO_CACHE, ignore_errors=True)

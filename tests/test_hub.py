"""Loading from the Hub through huggingface_hub's real cache code, offline (HF_HUB_OFFLINE=1),
with a cache this test fills in the library's own layout."""

import shutil

import numpy as np
import pytest

from ganart import CheckpointError, Sampler

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


def test_load_hub_id_offline_from_cache(hub_cache, sampler):
    s = Sampler.load("someone/tiny-gan", device="cpu")
    assert np.array_equal(np.asarray(s.generate(3)), np.asarray(sampler.generate(3)))
    s2 = Sampler.load("someone/tiny-gan@v1", device="cpu")
    assert s2.sha256 == s.sha256


def test_missing_repo_offline_is_a_clear_error(hub_cache):
    with pytest.raises(CheckpointError, match="someone/nothing-here: not in the local cache"):
        Sampler.load("someone/nothing-here", device="cpu")


def test_missing_weights_in_cached_repo(hub_cache):
    (hub_cache / "models--someone--tiny-gan" / "snapshots" / COMMIT / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        Sampler.load("someone/tiny-gan", device="cpu")


def test_push_dry_run_and_missing_token(session_ckpt, tmp_path, monkeypatch):
    import subprocess
    import sys

    from ganart.hub import model_card, push

    assert push(session_ckpt, "me/tiny", dry_run=True) == ["config.json", "model.safetensors", "README.md"]
    card = model_card(session_ckpt)
    assert card.startswith("---\nlicense: apache-2.0") and "unconditional-image-generation" in card
    assert "  - gan\n" in card and "  - ganart\n" in card
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "ganart", "push", "--checkpoint", str(session_ckpt), "--repo",
                        "me/tiny"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "no Hugging Face token" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "ganart", "push", "--checkpoint", str(session_ckpt), "--repo",
                        "me/tiny", "--dry-run", "--private"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "would upload to me/tiny (private)" in r.stdout
    with pytest.raises(CheckpointError, match="USER/NAME"):
        push(session_ckpt, "not a repo", dry_run=True)

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

"""Loading from the Hub through huggingface_hub's real cache code, offline (HF_HUB_OFFLINE=1),
with a cache this test fills in the library's own layout."""

import shutil

import numpy as np
import pytest
from conftest import COMMIT

from ganart import CheckpointError, Sampler


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

    from ganart.card import model_card
    from ganart.hub import push

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


def test_generated_card_metadata_is_what_the_hub_reads(session_ckpt):
    """The Hub files a model by its card's YAML, read with huggingface_hub: the pipeline, library
    and licence must parse there, and a data name that is no Hub dataset id must stay out of
    `datasets:` (the Hub would link it as one). The sections come in the order a visitor needs."""
    from huggingface_hub import ModelCard

    from ganart.card import model_card

    text = model_card(session_ckpt)
    data = ModelCard(text).data.to_dict()
    assert data["pipeline_tag"] == "unconditional-image-generation" and data["library_name"] == "ganart"
    assert data["license"] == "apache-2.0" and "datasets" not in data
    heads = ["## Use", "## Data and licence", "## Training", "## Metrics", "## What the sliders do", "## Limitations"]
    assert [text.index(h) for h in heads] == sorted(text.index(h) for h in heads)
    assert "No quality measured yet" in text and "lineage.json" not in text  # a fresh plain run has neither


def test_lineage_json_is_pushed_and_read_into_the_card(session_ckpt, tmp_path):
    """A checkpoint's lineage.json travels with it to the Hub, and the card reads the real-image
    floor and the legs from it as data; one the card cannot read is an error naming the file."""
    import json

    from ganart.card import LINEAGE_NAME, model_card
    from ganart.hub import push

    ck = tmp_path / "ck"
    shutil.copytree(session_ckpt, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["meta"]["metrics"]["fid50_psi1"] = {"fid": 87.654, "kid": 0.0123, "kid_std": 0.0004, "n_fake": 50,
                                            "n_real": 60, "psi": 1.0, "precision": 0.25, "recall": 0.125}
    (ck / "config.json").write_text(json.dumps(cfg))
    floor = {"command": "python benchmarks/fid_floor.py --n 50",
             "rows": [{"label": "50 vs the other 10", "n_fake": 50, "n_real": 10, "fid": 9.87},
                      {"label": "50 of the set vs all 60", "n_fake": 50, "n_real": 60, "fid": 3.21,
                       "precision": 1.0, "recall": 0.9}]}
    legs = [{"leg": 1, "device": "cpu", "ancestor": True}, {"leg": 2, "device": "cuda (X1)", "ancestor": True},
            {"leg": 3, "device": "cpu", "ancestor": False}]
    (ck / LINEAGE_NAME).write_text(json.dumps({"format": "ganart-lineage", "version": 1, "cut": 2,
                                               "floor": {"fid50_psi1": floor}, "legs": legs,
                                               "cuts": [{"cut": 1, "leg": 1, "kimg": 1, "fid": 99.0}]}))
    assert push(ck, "me/tiny", dry_run=True) == ["config.json", "model.safetensors", "README.md", LINEAGE_NAME]
    card = model_card(ck)
    assert "| 50 of the set vs all 60 | 3.21 | 1.000 / 0.900 |" in card and "| 50 vs the other 10 | 9.87 |" in card
    # the limitation compares like with like: the floor row against the same 60 real images
    assert "FID 87.7 (`fid50_psi1`) where real images score 3.21 (50 of the set vs all 60): 84.4 above" in card
    assert "Precision 0.250: about 25 % of samples" in card
    assert "2 training legs (1 on cpu, 1 on cuda (X1)), plus 1 sibling run" in card
    assert f"[{LINEAGE_NAME}]({LINEAGE_NAME})" in card

    (ck / LINEAGE_NAME).write_text(json.dumps({"format": "ganart-lineage", "version": 1, "legs": [{"leg": "1"}]}))
    with pytest.raises(CheckpointError, match=r"lineage\.json: 'legs' must be a list"):
        model_card(ck)


def test_model_card_is_written_refreshed_and_hand_written_words_are_kept(session_ckpt, tmp_path):
    import json

    from ganart.card import GENERATED, METRICS_BEGIN, METRICS_END, card_text, write_card

    ck = tmp_path / "ck"
    shutil.copytree(session_ckpt, ck)
    assert write_card(ck) and GENERATED in (ck / "README.md").read_text()
    assert "| not measured |" in (ck / "README.md").read_text()
    assert not write_card(ck)  # already up to date: not rewritten

    cfg = json.loads((ck / "config.json").read_text())
    cfg["meta"]["metrics"]["fid50_psi1"] = {"fid": 87.654, "kid": 0.0123, "kid_std": 0.0004, "n_fake": 50,
                                            "n_real": 60, "psi": 1.0}
    (ck / "config.json").write_text(json.dumps(cfg))
    assert write_card(ck) and "| fid50_psi1 | 87.65 | 12.30 ± 0.40 | 50 vs 60 | 1.0 |" in (ck / "README.md").read_text()

    # a hand-written card: only the block between the markers changes
    words = "# My model\n\nHand-written words.\n\n"
    (ck / "README.md").write_text(f"{words}{METRICS_BEGIN}\nold table\n{METRICS_END}\n\nMore words.\n")
    assert write_card(ck)
    text = (ck / "README.md").read_text()
    assert text.startswith(words) and text.endswith(f"{METRICS_END}\n\nMore words.\n")
    assert "old table" not in text and "87.65" in text and GENERATED not in text
    # ... and one without markers is left exactly as it is
    (ck / "README.md").write_text(words)
    assert not write_card(ck) and (ck / "README.md").read_text() == words
    assert card_text(ck) == words  # what `ganart push` uploads


def test_oversized_files_on_the_hub_are_refused_before_download(hub_cache, monkeypatch, sampler):
    """A hostile repo's 50 GB model.safetensors filled the disk before the loader could refuse it:
    the sizes the Hub reports are checked first. The Hub cannot be reached from here, so its answer
    is stood in for with huggingface_hub's own RepoFile objects, built from the JSON the Hub sends;
    the download itself is the library's real snapshot_download on the offline cache."""
    import huggingface_hub
    from huggingface_hub.hf_api import RepoFile

    sizes = {"config.json": 900, "model.safetensors": 50 * 10**9, "README.md": 2000}
    asked, fetched = [], []
    real_download = huggingface_hub.snapshot_download

    def paths_info(self, repo_id, paths, *, revision=None, **kw):
        asked.append((repo_id, revision))
        return [RepoFile(path=p, size=sizes[p], oid="0" * 40,
                         lfs={"size": sizes[p], "oid": "0" * 64, "pointerSize": 134})
                for p in paths if p in sizes]

    def download(repo_id, **kw):
        fetched.append(repo_id)
        return real_download(repo_id, **kw)

    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", paths_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    with pytest.raises(CheckpointError, match=r"evil/huge: model\.safetensors is 50,000 MB on the Hub"):
        Sampler.load("evil/huge@v2", device="cpu")
    assert asked == [("evil/huge", "v2")] and fetched == []

    sizes.update({"model.safetensors": 10**6, "README.md": 10**9})  # nor a 1 GB card
    with pytest.raises(CheckpointError, match=r"README\.md is 1,000 MB"):
        Sampler.load("someone/tiny-gan", device="cpu")
    assert fetched == []

    sizes["README.md"] = 2000  # a sane repo is fetched
    s = Sampler.load("someone/tiny-gan", device="cpu")
    assert fetched == ["someone/tiny-gan"] and s.sha256 == sampler.sha256

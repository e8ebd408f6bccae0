"""Loading from the Hub through huggingface_hub's real cache code, offline (HF_HUB_OFFLINE=1),
with a cache this test fills in the library's own layout."""

import re
import shutil
from pathlib import Path

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


# --- against a fake Hub on 127.0.0.1 (tests/fakehub.py): the real huggingface_hub client, over HTTP ---------

MAIN_SHA = "a1" * 20
V1_SHA = "b2" * 20


def _checkpoint_files(tmp_path: Path, seed: int) -> tuple[dict[str, bytes], Path]:
    """A tiny checkpoint's files (config, weights, card) as bytes, and the checkpoint folder they came from."""
    from conftest import tiny_generator

    from ganart.checkpoint import CheckpointMeta, save_checkpoint

    folder = save_checkpoint(tiny_generator(seed=seed), tmp_path / f"seed{seed}", CheckpointMeta(name=f"seed{seed}"))
    files = {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}
    return {**files, "README.md": f"# tiny, seed {seed}\n".encode()}, folder


def _pixels(s: Sampler) -> np.ndarray:
    return np.asarray(s.generate(3))


def test_fake_hub_revision_selects_the_commit(fake_hub, tmp_path):
    """main and v1 point to different commits with different weights: "@v1" gets v1's, no "@" gets main's
    (as the repo info asked for and the files fetched show), a commit id works, and an unknown revision or
    repo is a clear error."""
    import hashlib

    main_files, main_folder = _checkpoint_files(tmp_path, seed=1)
    v1_files, v1_folder = _checkpoint_files(tmp_path, seed=2)
    fake_hub.add_repo("someone/tiny", refs={"main": MAIN_SHA, "v1": V1_SHA},
                      commits={MAIN_SHA: main_files, V1_SHA: v1_files})
    main_local, v1_local = Sampler.load(main_folder, device="cpu"), Sampler.load(v1_folder, device="cpu")
    assert main_local.sha256 != v1_local.sha256 and not np.array_equal(_pixels(main_local), _pixels(v1_local))

    v1 = Sampler.load("someone/tiny@v1", device="cpu")
    assert v1.sha256 == hashlib.sha256(v1_files["model.safetensors"]).hexdigest() == v1_local.sha256
    assert np.array_equal(_pixels(v1), _pixels(v1_local))
    asked = [(r.method, r.kind, r.revision) for r in fake_hub.requests if r.kind in ("info", "paths-info")]
    assert asked == [("GET", "info", "v1"), ("POST", "paths-info", V1_SHA), ("GET", "info", "v1")]
    assert {r.revision for r in fake_hub.requests if r.kind in ("tree", "resolve")} == {V1_SHA}

    fake_hub.clear()
    main = Sampler.load("someone/tiny", device="cpu")
    assert main.sha256 == main_local.sha256 and np.array_equal(_pixels(main), _pixels(main_local))
    assert [(r.kind, r.revision) for r in fake_hub.requests if r.kind in ("info", "paths-info")] == [
        ("info", "main"), ("paths-info", MAIN_SHA), ("info", "main")]  # sizes checked at the commit fetched
    assert {r.revision for r in fake_hub.requests if r.kind in ("tree", "resolve")} == {MAIN_SHA}

    assert Sampler.load(f"someone/tiny@{V1_SHA}", device="cpu").sha256 == v1_local.sha256  # a commit id
    with pytest.raises(CheckpointError, match=r"^someone/tiny@nope: the repo has no revision 'nope'$"):
        Sampler.load("someone/tiny@nope", device="cpu")
    with pytest.raises(CheckpointError, match=r"^someone/nothing: no such model repo on the Hub"):
        Sampler.load("someone/nothing", device="cpu")
    assert fake_hub.errors == [] and all(r.kind != "unknown" for r in fake_hub.requests)


def test_fake_hub_fetches_only_the_checkpoint_files(fake_hub, tmp_path):
    """A repo with a pickle, a big .bin, notes and a subfolder (holding a model.safetensors too): only
    config.json, model.safetensors and README.md are fetched (no GET, not even a HEAD, of anything else)
    and only they land in the cache. The tree listing comes in pages, as the Hub sends it."""
    files, folder = _checkpoint_files(tmp_path, seed=3)
    big = bytes(range(256)) * 4096  # 1 MiB of real bytes
    extra = {"evil.pkl": b"\x80\x04never fetched", "big.bin": big, "notes.txt": b"notes\n",
             "sub/model.safetensors": files["model.safetensors"], "sub/evil.pkl": b"\x80\x04nor this"}
    fake_hub.add_repo("someone/crowded", refs={"main": MAIN_SHA}, commits={MAIN_SHA: {**files, **extra}})
    fake_hub.page_size = 3

    s = Sampler.load("someone/crowded", device="cpu")
    assert s.sha256 == Sampler.load(folder, device="cpu").sha256
    wanted = ["README.md", "config.json", "model.safetensors"]
    assert sorted(fake_hub.files_fetched("someone/crowded", "GET")) == wanted
    assert sorted(fake_hub.files_fetched("someone/crowded", "HEAD")) == wanted
    assert sum(r.kind == "tree" for r in fake_hub.requests) == 3  # 9 entries (files and the folder), 3 a page

    from fakehub import iter_files

    repo = tmp_path / "fake-hub-cache" / "models--someone--crowded"
    assert list(iter_files(repo / "snapshots")) == [f"{MAIN_SHA}/{n}" for n in wanted]
    blobs = sorted((repo / "blobs").iterdir())
    assert len(blobs) == 3 and sum(b.stat().st_size for b in blobs) == sum(len(files[n]) for n in wanted)
    assert not any("authorization" in r.headers for r in fake_hub.requests)  # no token leaves for a test server
    assert fake_hub.errors == [] and all(r.kind != "unknown" for r in fake_hub.requests)


@pytest.mark.parametrize("name", ["model.safetensors", "README.md", "config.json"])
def test_fake_hub_oversized_file_is_refused_before_any_download(fake_hub, tmp_path, name):
    """The Hub says a file is over ganart's cap (the fake announces a size its bytes are not): refused with the
    size the Hub reported, before a single file is asked for (no HEAD, no GET, not even the repo listing)."""
    from fakehub import FakeFile

    from ganart.hub import MAX_HUB_BYTES

    files, _ = _checkpoint_files(tmp_path, seed=4)
    cap = MAX_HUB_BYTES[name]
    fake_hub.add_repo("evil/huge", refs={"main": MAIN_SHA},
                      commits={MAIN_SHA: {**files, name: FakeFile(files[name], reported_size=cap + 1)}})
    size = f"{(cap + 1) / 1e6:,.0f}"
    with pytest.raises(CheckpointError, match=rf"^evil/huge: {re.escape(name)} is {size} MB on the Hub, over the "
                                              rf"{cap / 1e6:,.0f} MB a ganart checkpoint can need; not downloaded$"):
        Sampler.load("evil/huge", device="cpu")
    assert [(r.method, r.kind) for r in fake_hub.requests] == [("GET", "info"), ("POST", "paths-info")]
    assert not (tmp_path / "fake-hub-cache" / "models--evil--huge").exists()


def test_fake_hub_repo_that_is_not_a_ganart_checkpoint(fake_hub, tmp_path):
    """A transformers-style repo: its config.json alone is fetched and refused, its weights never
    are, and what was fetched is deleted (five such repos once left 501 MB on the disk)."""
    import json

    files, _ = _checkpoint_files(tmp_path, seed=5)
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8}
    fake_hub.add_repo("someone/bert", refs={"main": MAIN_SHA},
                      commits={MAIN_SHA: {**files, "config.json": json.dumps(config).encode()}})
    with pytest.raises(CheckpointError, match=r"^someone/bert: not a checkpoint this app can use \(unknown config keys: "
                                              r"architectures, hidden_size, model_type\)$"):
        Sampler.load("someone/bert", device="cpu")
    assert fake_hub.files_fetched("someone/bert") == ["config.json"]
    cache = tmp_path / "fake-hub-cache"
    assert not (cache / "models--someone--bert").exists() or not any((cache / "models--someone--bert").rglob("*.*"))


def test_fake_hub_sizes_unknown_means_nothing_is_downloaded(fake_hub, tmp_path):
    """When the Hub cannot say how big the files are, nothing is fetched (the size cap was
    skipped and a 944 MB file came down); a checkpoint already in the cache still loads."""
    files, _ = _checkpoint_files(tmp_path, seed=6)
    fake_hub.add_repo("someone/tiny", refs={"main": MAIN_SHA}, commits={MAIN_SHA: files})
    fake_hub.failing = {"paths-info"}
    with pytest.raises(CheckpointError, match="someone/tiny: not in the local cache and the Hub cannot be reached"):
        Sampler.load("someone/tiny", device="cpu")
    assert fake_hub.files_fetched("someone/tiny") == [] and fake_hub.files_fetched("someone/tiny", "HEAD") == []
    fake_hub.failing = set()
    first = Sampler.load("someone/tiny", device="cpu")  # now it is cached
    fake_hub.failing = {"paths-info"}
    fake_hub.clear()
    assert Sampler.load("someone/tiny", device="cpu").sha256 == first.sha256
    assert fake_hub.files_fetched("someone/tiny") == []


def test_fake_hub_downloads_stay_under_the_quota_least_recently_used_out(fake_hub, tmp_path, monkeypatch):
    from huggingface_hub import scan_cache_dir

    from ganart.hub import QUOTA_ENV

    for i, name in enumerate(("someone/a", "someone/b", "someone/c")):
        files, _ = _checkpoint_files(tmp_path, seed=10 + i)  # the same shape: the same size on disk
        fake_hub.add_repo(name, refs={"main": MAIN_SHA}, commits={MAIN_SHA: files})
    cache = tmp_path / "fake-hub-cache"

    def cached() -> set[str]:
        return {p.name for p in cache.glob("models--*") if any(p.rglob("*.safetensors"))}

    Sampler.load("someone/a", device="cpu")
    size = next(iter(scan_cache_dir().repos)).size_on_disk
    monkeypatch.setenv(QUOTA_ENV, str(2.5 * size / 2**20))  # room for two
    Sampler.load("someone/b", device="cpu")
    Sampler.load("someone/a", device="cpu")  # a is used again: b is now the least recent
    assert cached() == {"models--someone--a", "models--someone--b"}
    Sampler.load("someone/c", device="cpu")
    assert cached() == {"models--someone--a", "models--someone--c"}
    monkeypatch.setenv(QUOTA_ENV, "0")  # even at 0 the model just loaded stays
    Sampler.load("someone/b", device="cpu")
    assert cached() == {"models--someone--b"}


def test_fake_hub_a_ref_that_moves_after_the_check_is_refused(fake_hub, tmp_path, monkeypatch):
    """The sizes were read for the ref, and the files fetched for whatever it named a moment
    later: a push in between brought unchecked weights."""
    from ganart import hub

    main_files, _ = _checkpoint_files(tmp_path, seed=1)
    v1_files, _ = _checkpoint_files(tmp_path, seed=2)
    fake_hub.add_repo("someone/moving", refs={"main": MAIN_SHA}, commits={MAIN_SHA: main_files, V1_SHA: v1_files})
    real = hub._commit_and_sizes

    def checked_then_pushed(repo_id, revision):
        answer = real(repo_id, revision)
        fake_hub.repos["someone/moving"]["refs"]["main"] = V1_SHA  # the owner pushes now
        return answer

    monkeypatch.setattr(hub, "_commit_and_sizes", checked_then_pushed)
    with pytest.raises(CheckpointError, match="someone/moving: the repo changed while it was being checked"):
        Sampler.load("someone/moving", device="cpu")
    assert "model.safetensors" not in fake_hub.files_fetched("someone/moving")


def test_fake_hub_a_model_over_the_render_budget_is_refused_before_its_weights(fake_hub, tmp_path, monkeypatch):
    from ganart.limits import RENDER_MEMORY_ENV

    files, _ = _checkpoint_files(tmp_path, seed=3)
    fake_hub.add_repo("someone/wide", refs={"main": MAIN_SHA}, commits={MAIN_SHA: files})
    monkeypatch.setenv(RENDER_MEMORY_ENV, "0.01")
    with pytest.raises(CheckpointError, match="someone/wide: not a checkpoint this app can use \\(this model \\(16 px\\)"):
        Sampler.load("someone/wide", device="cpu")
    assert fake_hub.files_fetched("someone/wide") == ["config.json"]
    assert not list((tmp_path / "fake-hub-cache").glob("models--someone--wide/snapshots/*/*"))


def test_the_quota_setting_is_checked(monkeypatch):
    from ganart.hub import QUOTA_ENV, hub_quota_bytes

    for bad in ("inf", "-1", "lots", "nan"):
        monkeypatch.setenv(QUOTA_ENV, bad)
        with pytest.raises(CheckpointError, match="GANART_HUB_CACHE_MB must be a number of MB >= 0"):
            hub_quota_bytes()
    monkeypatch.setenv(QUOTA_ENV, "1.5")
    assert hub_quota_bytes() == int(1.5 * 2**20)

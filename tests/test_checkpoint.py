import json
import struct

import pytest
import torch
from conftest import tiny_generator
from safetensors.torch import save_file

from ganart.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)


def test_save_load_round_trip_is_bit_identical(tmp_path):
    G = tiny_generator(seed=3)
    meta = CheckpointMeta(name="x", dataset="shapes", images_seen=1234, license="MIT", metrics={"fid": 12.5})
    save_checkpoint(G, tmp_path / "ck", meta)
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.config == G.cfg
    assert ck.meta == meta
    a, b = G.state_dict(), ck.generator.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    z = torch.randn(2, G.cfg.z_dim)
    with torch.inference_mode():
        assert torch.equal(G.eval()(z), ck.generator(z))
    assert len(ck.sha256) == 64
    # the folder holds exactly the Hub mixin layout
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_refuses_pickle_files(tmp_path):
    for name in ["model.pt", "model.pkl", "network-snapshot.pth"]:
        p = tmp_path / name
        p.write_bytes(b"\x80\x04not really")
        with pytest.raises(CheckpointError, match="refusing to load"):
            load_checkpoint(p)


def test_folder_with_only_a_pickle_says_so(tiny_ckpt):
    (tiny_ckpt / WEIGHTS_NAME).unlink()
    (tiny_ckpt / "pytorch_model.bin").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"missing.*pytorch_model.bin.*refuses to unpickle"):
        load_checkpoint(tiny_ckpt)


def test_missing_pieces(tmp_path, tiny_ckpt):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    (tiny_ckpt / CONFIG_NAME).rename(tmp_path / "cfg.json")
    with pytest.raises(CheckpointError, match="missing config.json"):
        load_checkpoint(tiny_ckpt)


def test_truncated_weights(tiny_ckpt):
    w = tiny_ckpt / WEIGHTS_NAME
    data = w.read_bytes()
    for cut in [len(data) // 2, 5, 0]:
        w.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"model.safetensors: truncated or corrupt"):
            load_checkpoint(tiny_ckpt)


def test_hostile_header_length(tiny_ckpt):
    # a header claiming to be 2^60 bytes long must not make us allocate it
    (tiny_ckpt / WEIGHTS_NAME).write_bytes(struct.pack("<Q", 1 << 60) + b"{}")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tiny_ckpt)


def test_bad_config_json(tiny_ckpt):
    cfg_path = tiny_ckpt / CONFIG_NAME
    good = json.loads(cfg_path.read_text())
    cases = [
        ("{not json", "not valid JSON"),
        (json.dumps({**good, "surprise": 1}), "unknown config keys: surprise"),
        (json.dumps({**good, "model": {**good["model"], "depth": 3}}), "unknown model config keys: depth"),
        (json.dumps({**good, "model": {**good["model"], "resolution": 20}}), "power of two"),
        (json.dumps({**good, "format": "other"}), "'format' must be"),
        (json.dumps({**good, "meta": {"foo": 1}}), "unknown meta keys: foo"),
        # direction names become slider labels: bounded, printable text only
        (json.dumps({**good, "meta": {"directions": ["a"]}}), r"meta.directions: must be an object"),
        (json.dumps({**good, "meta": {"directions": {"ica": []}}}), "unknown method 'ica'"),
        (json.dumps({**good, "meta": {"directions": {"sefa": "colour"}}}), "sefa: must be a list of at most 64"),
        (json.dumps({**good, "meta": {"directions": {"sefa": [""] * 65}}}), "sefa: must be a list of at most 64"),
        (json.dumps({**good, "meta": {"directions": {"pca": ["ok", 3]}}}), r"pca\[1\]: a name is printable text"),
        (json.dumps({**good, "meta": {"directions": {"sefa": ["x" * 61]}}}), "at most 60 characters"),
        (json.dumps({**good, "meta": {"directions": {"sefa": ["red\n<b>"]}}}), "printable"),
        ("[1, 2]", "JSON object"),
    ]
    for text, message in cases:
        cfg_path.write_text(text)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tiny_ckpt)


def test_shape_mismatch_and_missing_tensors(tiny_ckpt):
    cfg_path = tiny_ckpt / CONFIG_NAME
    good = json.loads(cfg_path.read_text())
    good["model"]["channel_max"] = 16  # the stored tensors are 32 wide
    cfg_path.write_text(json.dumps(good))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(tiny_ckpt)
    state = {"w_avg": torch.zeros(32)}
    save_file(state, str(tiny_ckpt / WEIGHTS_NAME))
    good["model"]["channel_max"] = 32
    cfg_path.write_text(json.dumps(good))
    with pytest.raises(CheckpointError, match="missing: "):
        load_checkpoint(tiny_ckpt)


def test_non_finite_weights_never_saved_nor_loaded(tmp_path, tiny_ckpt):
    G = tiny_generator()
    with torch.no_grad():
        G.w_avg[0] = float("nan")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(G, tmp_path / "bad")
    assert not (tmp_path / "bad" / WEIGHTS_NAME).exists()
    state = tiny_generator().state_dict()
    state["w_avg"] = state["w_avg"].clone()
    state["w_avg"][0] = float("inf")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tiny_ckpt / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="NaN or inf"):
        load_checkpoint(tiny_ckpt)


def test_average_is_the_mean_of_weights_and_buffers_and_keeps_newest_meta(tmp_path):
    from ganart.checkpoint import average_checkpoints

    gens = [tiny_generator(seed=s) for s in (1, 2, 3)]
    for i, G in enumerate(gens):
        G.w_avg.fill_(float(i))  # buffers are averaged too
        save_checkpoint(G, tmp_path / f"s{i}", CheckpointMeta(name="run", images_seen=100 * (i + 1),
                                                              metrics={"fid": 50.0 - i}, training={"steps": i}))
    out = average_checkpoints([tmp_path / "s2", tmp_path / "s0", tmp_path / "s1"], tmp_path / "avg")
    ck = load_checkpoint(out)
    for k, v in ck.generator.state_dict().items():
        expected = sum(G.state_dict()[k].double() for G in gens) / 3
        assert torch.allclose(v.double(), expected, atol=1e-7), k
    assert torch.all(ck.generator.w_avg == 1.0)
    assert ck.meta.images_seen == 300 and ck.meta.name == "run"
    assert ck.meta.metrics == {}  # the average's quality is unknown until it is evaluated
    assert ck.meta.training["steps"] == 2
    assert [a["images_seen"] for a in ck.meta.training["averaged"]] == [300, 100, 200]
    # order of sources does not change a single bit
    other = load_checkpoint(average_checkpoints([tmp_path / f"s{i}" for i in range(3)], tmp_path / "avg2"))
    for k, v in ck.generator.state_dict().items():
        assert torch.equal(v, other.generator.state_dict()[k]), k


def test_average_refuses_mismatched_shapes_single_sources_and_overwriting_a_source(tmp_path):
    from ganart.checkpoint import average_checkpoints

    save_checkpoint(tiny_generator(seed=1), tmp_path / "a")
    save_checkpoint(tiny_generator(seed=2), tmp_path / "b")
    save_checkpoint(tiny_generator(seed=3, w_dim=16), tmp_path / "c")
    with pytest.raises(CheckpointError, match="at least 2"):
        average_checkpoints([tmp_path / "a"], tmp_path / "out")
    with pytest.raises(CheckpointError, match="model config differs"):
        average_checkpoints([tmp_path / "a", tmp_path / "c"], tmp_path / "out")
    with pytest.raises(CheckpointError, match="one of the sources"):
        average_checkpoints([tmp_path / "a", tmp_path / "b"], tmp_path / "b")
    assert not (tmp_path / "out").exists()


def _resave(folder, change):
    """The folder's tensors with ``change(state)`` applied, written back as they are."""
    from safetensors.torch import load_file

    state = load_file(str(folder / WEIGHTS_NAME))
    change(state)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / WEIGHTS_NAME))


def test_each_weights_guard_on_its_own(tiny_ckpt):
    """Each check of the weights file, alone: an integer tensor, an extra tensor, a missing one."""
    _resave(tiny_ckpt, lambda s: s.update(w_avg=torch.zeros(32, dtype=torch.int32)))
    with pytest.raises(CheckpointError, match="tensor w_avg has dtype torch.int32, expected float"):
        load_checkpoint(tiny_ckpt)
    _resave(tiny_ckpt, lambda s: s.update(w_avg=torch.zeros(32), extra=torch.zeros(1)))
    with pytest.raises(CheckpointError, match="tensors do not match the config; unexpected: extra$"):
        load_checkpoint(tiny_ckpt)
    _resave(tiny_ckpt, lambda s: (s.pop("extra"), s.pop("w_avg")))
    with pytest.raises(CheckpointError, match="tensors do not match the config; missing: w_avg$"):
        load_checkpoint(tiny_ckpt)


def test_config_over_a_megabyte_is_refused_before_parsing(tiny_ckpt):
    cfg_path = tiny_ckpt / CONFIG_NAME
    good = json.loads(cfg_path.read_text())
    good["meta"]["name"] = "x" * (1 << 20)  # valid JSON, a valid model: only its size is wrong
    cfg_path.write_text(json.dumps(good))
    with pytest.raises(CheckpointError, match=f"config.json is larger than {1 << 20} bytes"):
        load_checkpoint(tiny_ckpt)


def test_a_save_that_fails_midway_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    """Weights first, config last, each through a temp file: a failure while writing either
    leaves the previous checkpoint loadable with its own config (injected, not timed)."""
    import ganart.checkpoint as checkpoint
    import ganart.files as files

    folder = save_checkpoint(tiny_generator(seed=1), tmp_path / "ck", CheckpointMeta(name="old"))
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    new = tiny_generator(seed=2)

    def weights_fail(state, path):
        raise OSError("disk full while writing weights")

    monkeypatch.setattr(checkpoint, "_write_weights", weights_fail)
    with pytest.raises(OSError, match="weights"):
        save_checkpoint(new, folder, CheckpointMeta(name="new"))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == old  # config.json not touched first
    monkeypatch.undo()

    real_atomic = files.atomic_write

    def torn(path, write):  # the config write dies half-way through its temp file
        def half(tmp):
            write(tmp)
            tmp.write_bytes(tmp.read_bytes()[:20])
            raise OSError("killed while writing config.json")

        real_atomic(path, half)

    monkeypatch.setattr(files, "atomic_write", torn)
    with pytest.raises(OSError, match="config.json"):
        save_checkpoint(new, folder, CheckpointMeta(name="new"))
    monkeypatch.undo()
    assert (folder / CONFIG_NAME).read_bytes() == old[CONFIG_NAME]  # never a torn config
    assert sorted(p.name for p in folder.iterdir()) == sorted(old)  # no temp files left behind
    assert load_checkpoint(folder).meta.name == "old"

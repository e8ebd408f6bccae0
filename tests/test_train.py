"""Training: real steps on a tiny model and a tiny synthetic folder (seconds, on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from shapes import make_shapes

from ganart.checkpoint import load_checkpoint
from ganart.cli import main
from ganart.training import TrainConfig, Trainer
from ganart.training.config import lr_scale
from ganart.training.hardware import training_device, use_bf16
from ganart.training.loss import LECAM_DECAY, lecam_anchors, lecam_penalty
from ganart.training.snapshot import STATE_NAME

TINY = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
            batch=4, grid=4, r1_interval=2, ada_interval=2, aug_p=0.5, ada_kimg=1.0, log_every=1)
TINY_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]


@pytest.fixture(autouse=True)
def env(train_env):
    pass


def trainer(tmp_path: Path, data: Path, name: str = "run", **kw) -> Trainer:
    return Trainer(TrainConfig(data=str(data), out=str(tmp_path / name), **{**TINY, **kw}))


def full_state(t: Trainer) -> dict[str, torch.Tensor]:
    tensors, _ = t.state_tensors()
    return tensors


def test_steps_change_weights_and_stay_finite(tmp_path, shapes):
    t = trainer(tmp_path, shapes)
    t.load_data()
    before = {k: v.clone() for k, v in t.G.state_dict().items()}
    d_before = {k: v.clone() for k, v in t.D.state_dict().items()}
    for _ in range(3):
        stats = t.train_step()
    assert all(torch.isfinite(v) for v in stats.values())
    assert any(not torch.equal(before[k], v) for k, v in t.G.state_dict().items())
    assert any(not torch.equal(d_before[k], v) for k, v in t.D.state_dict().items())
    assert t.progress.nimg == 12 and t.progress.step == 3
    assert 0 <= t.progress.aug_p <= 1 and t.progress.aug_p != 0.5  # ADA moved the probability


def test_fit_writes_checkpoint_snapshots_grid_and_metrics(tmp_path, shapes):
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                 "--max-steps", "4", "--snapshot-kimg", "0.008", "--keep", "2"]) == 0
    out = tmp_path / "run"
    ck = load_checkpoint(out)  # the run folder opens like any checkpoint
    assert ck.meta.images_seen == 16 and ck.meta.dataset == str(shapes)
    assert "ganart train" in ck.meta.training["command"]
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["step00000004"] or len(snaps) == 2  # keep=2 prunes older ones
    assert (out / "grid.png").is_file()
    card = (out / "README.md").read_text()  # a model card beside the weights, up to date
    assert "16 images seen" in card and ck.meta.training["command"] in card and "![samples](grid.png)" in card
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss_G" in r] == [1, 2, 3, 4]
    assert {"loss_G", "loss_D", "aug_p", "img_per_s"} <= set(records[0])
    assert records[-1]["event"] == "end"


def test_the_log_shows_the_lazy_r1_penalty(tmp_path, shapes):
    """R1 runs every r1_interval steps; a log line between them carries the newest value, not 0
    (with log_every = r1_interval the logged step never was an R1 step)."""
    out = tmp_path / "run"
    assert main(["train", "--data", str(shapes), "--out", str(out), *TINY_FLAGS, "--r1-interval", "4",
                 "--log-every", "4", "--max-steps", "12", "--r1-gamma", "1"]) == 0
    r1 = [json.loads(line)["r1"] for line in (out / "metrics.jsonl").read_text().splitlines()[:-1]]
    assert len(r1) == 3 and all(v > 0 for v in r1), r1


def test_dry_run_prints_config_and_param_counts(tmp_path, shapes, capsys):
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "x"), *TINY_FLAGS, "--dry-run"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["resolution"] == 16 and info["params"]["G"] > 0 and info["params"]["D"] > 0
    assert not (tmp_path / "x").exists()
    flags = [f for f in TINY_FLAGS if not f.startswith("--batch=")]
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "x"), *flags, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["batch"] == 8  # batch 0 as resolved on this CPU


def test_mbstd_group_flag_reaches_the_discriminator_and_the_checkpoint(tmp_path, shapes):
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                 "--mbstd-group", "2", "--max-steps", "1"]) == 0
    assert load_checkpoint(tmp_path / "run").config.mbstd_group == 2
    assert trainer(tmp_path, shapes, mbstd_group=2).D.mbstd_group == 2
    with pytest.raises(ValueError, match="mbstd_group"):
        TrainConfig(mbstd_group=0)


def test_g_channels_flag_reaches_the_generator_and_the_checkpoint(tmp_path, shapes):
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                 "--g-channels", "32,48,16", "--max-steps", "1"]) == 0
    cfg = load_checkpoint(tmp_path / "run").config
    assert cfg.g_channels == (32, 48, 16) and cfg.channels(8) == 48
    for bad in ("32,x,16", "32,48"):
        with pytest.raises(ValueError, match="g_channels"):
            TrainConfig(resolution=16, g_channels=bad)
    # the same widths spelled with spaces are the same shape: a resume accepts them
    first = trainer(tmp_path, shapes, "widths", max_steps=1, g_channels="32,48,16")
    first.fit()
    again = trainer(tmp_path, shapes, "widths", max_steps=2, g_channels=" 32, 48, 16", resume="auto")
    again.fit()
    assert again.progress.step == 2 and again.G.cfg.g_channels == (32, 48, 16)


def test_exact_resume(tmp_path, shapes):
    # noise inputs on (off by default): their random stream must resume exactly too
    straight = trainer(tmp_path, shapes, "straight", max_steps=6, use_noise=True)
    straight.fit()
    first = trainer(tmp_path, shapes, "split", max_steps=3, use_noise=True)
    first.fit()
    second = trainer(tmp_path, shapes, "split", max_steps=6, resume="auto", use_noise=True)
    second.fit()
    assert second.progress.step == 6 and second.progress.nimg == straight.progress.nimg
    assert second.progress.aug_p == straight.progress.aug_p
    a, b = full_state(straight), full_state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_lecam_anchors_and_penalty():
    start = torch.zeros(3)
    a = lecam_anchors(start, torch.tensor(2.0), torch.tensor(-1.0))
    assert a.tolist() == [2.0, -1.0, 1.0]  # the first batch's means, not pulled toward 0
    b = lecam_anchors(a, torch.tensor(4.0), torch.tensor(1.0))
    assert torch.allclose(b[:2], torch.tensor([LECAM_DECAY * 2 + (1 - LECAM_DECAY) * 4,
                                               LECAM_DECAY * -1 + (1 - LECAM_DECAY) * 1]))
    # reals below the fakes' anchor and fakes above the reals' anchor cost nothing
    assert lecam_penalty(torch.tensor([-2.0, -1.5]), torch.tensor([3.0, 2.5]), a) == 0
    # otherwise the squared excess: reals (0.5 - -1)^2 / 2 ; fakes (2 - 1)^2 / 2
    expect = (1.5**2 + 0) / 2 + (0 + 1.0**2) / 2
    assert lecam_penalty(torch.tensor([0.5, -3.0]), torch.tensor([1.0, 5.0]), a).item() == pytest.approx(expect)


def test_lecam_changes_d_steps_and_resumes_exactly(tmp_path, shapes):
    plain = trainer(tmp_path, shapes, "plain", max_steps=2)
    plain.fit()
    straight = trainer(tmp_path, shapes, "straight", max_steps=4, lecam=0.5)
    straight.fit()
    anchors = straight.loss.lecam
    assert anchors[2] == 1 and torch.isfinite(anchors).all() and anchors[0] != 0
    # same seed, same data: only the regulariser differs, so D's weights do after 2 steps
    first = trainer(tmp_path, shapes, "split", max_steps=2, lecam=0.5)
    first.fit()
    assert any(not torch.equal(v, first.D.state_dict()[k]) for k, v in plain.D.state_dict().items())
    second = trainer(tmp_path, shapes, "split", max_steps=4, resume="auto", lecam=0.5)
    second.fit()
    a, b = full_state(straight), full_state(second)
    assert a.keys() == b.keys() and "lecam/anchors" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_lr_scale_schedules():
    assert [lr_scale(n, 100, "none") for n in (0, 50, 100, 200)] == [1.0, 1.0, 1.0, 1.0]
    assert [lr_scale(n, 100, "linear") for n in (0, 25, 100, 200)] == [1.0, 0.75, 0.0, 0.0]
    cos = [lr_scale(n, 100, "cosine") for n in (0, 25, 50, 100, 200)]
    assert cos == pytest.approx([1.0, (1 + 0.5**0.5) / 2, 0.5, 0.0, 0.0])


def test_lr_decay_needs_kimg_and_a_known_schedule():
    with pytest.raises(ValueError, match="needs --kimg"):
        TrainConfig(lr_decay="cosine", minutes=5)
    with pytest.raises(ValueError, match="lr_decay must be one of none, linear, cosine, got 'step'"):
        TrainConfig(lr_decay="step", kimg=1)


def test_lr_decay_anneals_both_rates_and_resumes_exactly(tmp_path, shapes):
    # 4 steps of batch 4 = --kimg 0.016; cosine: the rates are scaled by 1, .85, .5, .15, then 0
    kw = dict(kimg=0.016, lr_decay="cosine")
    plain = trainer(tmp_path, shapes, "plain", kimg=0.016)
    plain.fit()
    straight = trainer(tmp_path, shapes, "straight", **kw)
    straight.fit()
    assert straight.progress.step == 4
    assert straight.opt_G.param_groups[0]["lr"] == 0 and straight.opt_D.param_groups[0]["lr"] == 0
    assert plain.opt_G.param_groups[0]["lr"] == plain.cfg.lr_g
    assert any(not torch.equal(v, straight.G.state_dict()[k]) for k, v in plain.G.state_dict().items())
    first = trainer(tmp_path, shapes, "split", max_steps=2, **kw)
    first.fit()
    snap = max((tmp_path / "split" / "snapshots").iterdir())
    with safe_open(snap / STATE_NAME, framework="pt") as f:
        groups = json.loads(f.metadata()["groups"])
    # the snapshot holds the rate its next step uses: half way through a cosine, half the rate
    assert groups["opt_G"][0]["lr"] == pytest.approx(first.cfg.lr_g / 2)
    second = trainer(tmp_path, shapes, "split", resume="auto", **kw)
    second.fit()
    a, b = full_state(straight), full_state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_a_snapshot_from_another_device_type(tmp_path, shapes, capsys):
    # A CPU snapshot resumed on CUDA: the device-side noise generator's saved state has the
    # other device's size (CPU 5,056 bytes, CUDA 16). That raised "RNG state is wrong size" on
    # an H200; now the one stream is reseeded, with a warning, and training goes on.
    trainer(tmp_path, shapes, "run", max_steps=2).fit()
    snap = next((tmp_path / "run" / "snapshots").iterdir())
    with safe_open(snap / STATE_NAME, framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    assert tensors["rng/gen_noise"].numel() > 16
    tensors["rng/gen_noise"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA Philox state's size
    save_file(tensors, str(snap / STATE_NAME), metadata=meta)
    second = trainer(tmp_path, shapes, "run", max_steps=4, resume=str(snap))
    second.fit()
    assert second.progress.step == 4
    assert "saved on another device type" in capsys.readouterr().err


def test_training_device_gives_cuda_an_index():
    # Trainer(device="cuda") called torch.cuda.set_device(torch.device("cuda")), which raises
    # "Expected a torch.device with a specified index" (seen on an H200; no GPU in CI).
    assert training_device("cuda", 0, True) == torch.device("cuda", 0)
    assert training_device("cuda", 3, True) == torch.device("cuda", 3)  # torchrun's LOCAL_RANK
    assert training_device("cuda:1", 0, True) == torch.device("cuda", 1)
    assert training_device("auto", 2, True) == torch.device("cuda", 2)
    assert training_device("auto", 0, False) == torch.device("cpu")
    assert training_device("cpu", 5, True) == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        training_device("gpu0", 0, False)
    # no GPU: a named CUDA device is refused up front (it died in torch.cuda.set_device with
    # "module 'torch._C' has no attribute '_cuda_setDevice'"), and "meta" is no place to train
    with pytest.raises(ValueError, match="device 'cuda' is not available: this PyTorch sees no CUDA GPU"):
        training_device("cuda", 0, False)
    with pytest.raises(ValueError, match="device 'meta' cannot run a model"):
        training_device("meta", 0, False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_train_on_a_missing_gpu_is_a_clear_error(tmp_path, shapes, capsys):
    for device, message in (("cuda", "device 'cuda' is not available"), ("meta", "device 'meta' cannot run a model")):
        assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                     "--max-steps", "1", "--device", device]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("avx512_bf16, amx", [(False, False), (True, False), (False, True)])
def test_amp_auto_is_bf16_on_cuda_and_on_cpus_that_compute_it_natively(monkeypatch, avx512_bf16, amx):
    # bf16 autocast trains ~27 % faster on an AVX-512 BF16 CPU; without native bf16 it is emulated
    # (slower than fp32), so auto must stay fp32 there.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert use_bf16("auto", cpu) is (avx512_bf16 or amx)
    assert use_bf16("auto", cuda) is True
    assert use_bf16("off", cuda) is False and use_bf16("off", cpu) is False
    assert use_bf16("bf16", cpu) is True


@pytest.mark.parametrize("native", [False, True])
def test_explicit_bf16_on_a_cpu_that_emulates_it_is_warned_about(tmp_path, shapes, monkeypatch, capsys, native):
    # Seen on a 2-core AVX2 EPYC: --amp bf16 trained at 1.2 img/s against 23.5 in fp32, silently.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    t = trainer(tmp_path, shapes, amp="bf16")
    assert t.amp is True  # asked for explicitly, so honoured either way
    err = capsys.readouterr().err
    assert ("--amp bf16 on a CPU without native bf16" in err) is not native, err
    trainer(tmp_path / "off", shapes, amp="off")
    trainer(tmp_path / "auto", shapes, amp="auto")
    assert "native bf16" not in capsys.readouterr().err


def test_batch_0_is_the_devices_default_per_rank(tmp_path, shapes):
    assert TrainConfig().batch == 0
    t = trainer(tmp_path, shapes, batch=0)
    assert t.cfg.batch == t.local_batch == 8  # the CPU's; the resolved value is what snapshots record
    t.load_data()
    t.train_step()
    assert t.progress.nimg == 8


def test_bad_configs_and_data(tmp_path, shapes):
    with pytest.raises(ValueError, match="resolution"):
        TrainConfig(resolution=48)
    with pytest.raises(ValueError, match="batch"):
        TrainConfig(batch=-1)
    with pytest.raises(ValueError, match="unknown policy"):
        TrainConfig(augment="color,blur")
    with pytest.raises(ValueError, match="fewer than the batch"):
        trainer(tmp_path, make_shapes(tmp_path / "few", n=2)).load_data()
    r = subprocess.run([sys.executable, "-m", "ganart", "train", "--data", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "o"), *TINY_FLAGS], capture_output=True, text=True)
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr


def test_unusable_out_fails_before_the_first_step(tmp_path, shapes, capsys):
    # --out under a file: the run trained until its first snapshot, then died with a
    # NotADirectoryError traceback (an hour's work lost at the default snapshot interval)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert main(["train", "--data", str(shapes), "--out", str(blocker / "run"), *TINY_FLAGS,
                 "--max-steps", "2", "--snapshot-kimg", "0"]) == 2
    err = capsys.readouterr().err
    assert f"ganart train: error: {blocker / 'run' / 'snapshots'}: Not a directory" in err, err
    assert "step" not in err.replace("snapshots", "")  # no training step was logged


@pytest.mark.parametrize("kind", ["residual", "residual+projected", "projected", "selfsupervised"])
def test_non_finite_loss_rolls_back(tmp_path, shapes, kind):
    t = trainer(tmp_path, shapes, lecam=0.5, discriminator=kind, feature_size=64)
    t.load_data()
    t.train_step()
    t.remember_good()
    good_anchors = t.loss.lecam.clone()
    good = {k: v.clone() for k, v in t.D.state_dict().items()}
    good_G = {k: v.clone() for k, v in t.G.state_dict().items()}
    with torch.no_grad():
        next(t.D.parameters()).view(-1)[0] = float("inf")  # poison: the next losses are not finite
    stats = t.train_step()
    assert torch.isnan(stats["loss_D"])
    assert t.progress.nan_events == 1
    for k, v in t.D.state_dict().items():
        assert torch.equal(v, good[k])  # rolled back to the last good state
    for k, v in t.G.state_dict().items():
        assert torch.equal(v, good_G[k])  # G stepped before D in this step: undone too
    assert torch.equal(t.loss.lecam, good_anchors)  # LeCam's running means saw the bad logits: undone
    assert torch.isfinite(t.train_step()["loss_D"])  # and training goes on
    events = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "non_finite_loss" and events[0]["rolled_back"]


def test_init_from_fine_tunes(tmp_path, shapes):
    base = trainer(tmp_path, shapes, "base", max_steps=2)
    base.fit()
    ft = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"), seed=7)
    src = load_checkpoint(tmp_path / "base").generator.state_dict()
    for k, v in ft.G.state_dict().items():
        assert torch.equal(v, src[k])


def test_init_from_run_reports_the_lineage_totals_and_keeps_them_on_resume(tmp_path, shapes):
    # A fine-tuned model has seen its parent's images too: its config and card count them
    # (they reported only the last run's before), and a resumed run still reports the parent
    # it started from after that folder was overwritten by a newer model.
    base = trainer(tmp_path, shapes, "base", max_steps=2)
    base.fit()
    trainer(tmp_path, shapes, "newer", max_steps=4).fit()
    parent = load_checkpoint(tmp_path / "base")
    assert parent.meta.images_seen == 8 and "init_from" not in parent.meta.training
    first = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"), max_steps=1)
    first.fit()
    shutil.rmtree(tmp_path / "base")
    shutil.copytree(tmp_path / "newer", tmp_path / "base")
    second = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"), max_steps=3, resume="auto")
    second.fit()
    ft = load_checkpoint(tmp_path / "ft").meta
    own = ft.training
    assert own["init_from"] == {"source": str(tmp_path / "base"), "sha256": parent.sha256, "images_seen": 8,
                                "steps": 2, "seconds": parent.meta.training["seconds"]}
    assert ft.images_seen == 8 + 12 and own["steps"] == 2 + 3
    assert own["seconds"] == pytest.approx(parent.meta.training["seconds"] + second.progress.train_seconds, abs=0.11)
    assert "--init-from" in own["command"]
    card = (tmp_path / "ft" / "README.md").read_text()
    assert "20 images seen" in card and f"Fine-tuned from `{tmp_path / 'base'}`" in card
    assert f"sha256 {parent.sha256[:12]}" in card and "had seen 8 images in 2 steps" in card
    # the parent folder gone entirely: the resume reads the snapshot, not --init-from (it
    # failed before: the constructor loaded the parent before fit() found the snapshot)
    shutil.rmtree(tmp_path / "base")
    third = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"), max_steps=4, resume="auto")
    assert third.progress.step == 0 and third.resume_from is not None
    third.fit()
    ft = load_checkpoint(tmp_path / "ft").meta
    assert ft.training["init_from"]["sha256"] == parent.sha256 and ft.training["steps"] == 2 + 4
    # without a snapshot to resume, a missing parent is still an error that names it
    with pytest.raises(ValueError, match="base: no such checkpoint folder"):
        trainer(tmp_path, shapes, "fresh", init_from=str(tmp_path / "base"), resume="auto")
    shutil.copytree(tmp_path / "newer", tmp_path / "base")
    # a hand-edited parent whose totals are not numbers still fine-tunes; they count as 0
    cfg = json.loads((tmp_path / "base" / "config.json").read_text())
    cfg["meta"]["training"].update(steps="many", seconds=None)
    (tmp_path / "base" / "config.json").write_text(json.dumps(cfg))
    odd = trainer(tmp_path, shapes, "odd", init_from=str(tmp_path / "base"))
    assert odd.meta().training["init_from"]["steps"] == 0 and odd.meta().training["seconds"] == 0.0


def test_init_from_a_narrower_checkpoint_grows_it_into_this_shape(tmp_path, shapes, capsys):
    from ganart.checkpoint import load_discriminator

    base = trainer(tmp_path, shapes, "base", max_steps=2)
    base.fit()
    # G wider at 16 px, D as it was: both load, and both compute what the checkpoint did
    wide = trainer(tmp_path, shapes, "wide", init_from=str(tmp_path / "base"), channel_base=512, d_channel_base=256,
                   max_steps=2)
    err = capsys.readouterr().err
    assert "grown to this shape, same outputs" in err and "G " in err and "D " not in err.split("parameters")[1]
    assert wide.G.cfg.channels(16) == 32 and wide.D.cfg.d_channels(16) == 16
    src = load_checkpoint(tmp_path / "base").generator
    ws = src.mapping(torch.randn(3, src.cfg.z_dim))
    with torch.no_grad():
        assert torch.allclose(wide.G_ema.synthesis(ws), src.synthesis(ws), atol=1e-5)
    for k, v in load_discriminator(tmp_path / "base").state_dict().items():
        assert torch.equal(wide.D.state_dict()[k], v)
    conv = wide.G.synthesis_net.blocks[-1].conv1
    assert conv.weight[:, 16:].abs().sum() == 0
    wide.fit()  # it trains: the new channels' zero input columns move, and the run saves the wide shape
    assert conv.weight[:, 16:].abs().sum() > 0
    assert load_checkpoint(tmp_path / "wide").config.channels(16) == 32
    # a shape it cannot grow into is refused by name, before any training
    with pytest.raises(ValueError, match="cannot fine-tune into this model shape: only channel widths can change; w_dim 32 -> 64"):
        trainer(tmp_path, shapes, "bad", init_from=str(tmp_path / "base"), w_dim=64)
    with pytest.raises(ValueError, match="G at 16x16 would go from 32 to 16 channels"):
        trainer(tmp_path, shapes, "back", init_from=str(tmp_path / "wide"))


def test_run_folder_carries_d_and_init_from_loads_both(tmp_path, shapes, capsys):
    from ganart.checkpoint import DISCRIMINATOR_NAME, CheckpointError, load_discriminator
    from ganart.hub import push

    base = trainer(tmp_path, shapes, "base", max_steps=2)
    base.fit()
    saved = load_discriminator(tmp_path / "base")
    assert saved is not None  # the run folder holds D beside G: bit-identical round trip
    for k, v in base.D.state_dict().items():
        assert torch.equal(v, saved.state_dict()[k])
    assert DISCRIMINATOR_NAME in push(tmp_path / "base", "me/tiny", dry_run=True)
    ft = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"), seed=7)
    assert "D from its discriminator.safetensors" in capsys.readouterr().err
    for k, v in ft.D.state_dict().items():
        assert torch.equal(v, saved.state_dict()[k])
    # a checkpoint without one: D starts from scratch, and the message says so
    (tmp_path / "base" / DISCRIMINATOR_NAME).rename(tmp_path / "d.safetensors")
    assert load_discriminator(tmp_path / "base") is None
    trainer(tmp_path, shapes, "ft2", init_from=str(tmp_path / "base"))
    assert "D starts from scratch" in capsys.readouterr().err
    # a truncated one is refused, by name, rather than half-loaded (and never published)
    data = (tmp_path / "d.safetensors").read_bytes()
    (tmp_path / "base" / DISCRIMINATOR_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="discriminator.safetensors: truncated or corrupt"):
        trainer(tmp_path, shapes, "ft3", init_from=str(tmp_path / "base"))
    with pytest.raises(CheckpointError, match="discriminator.safetensors"):
        push(tmp_path / "base", "me/tiny", dry_run=True)


def test_d_warmup_trains_d_alone_then_both(tmp_path, shapes):
    # batch 4: 0.008 kimg = two steps of D alone, then G moves too
    t = trainer(tmp_path, shapes, d_warmup_kimg=0.008)
    t.load_data()
    g0 = {k: v.clone() for k, v in t.G.state_dict().items()}  # w_avg too: truncation must not move
    d0 = {k: v.clone() for k, v in t.D.state_dict().items()}
    for _ in range(2):
        assert torch.isfinite(t.train_step()["loss_D"])
    assert all(torch.equal(v, t.G.state_dict()[k]) for k, v in g0.items())
    assert all(torch.equal(v, t.G_ema.state_dict()[k]) for k, v in g0.items())
    assert any(not torch.equal(v, t.D.state_dict()[k]) for k, v in d0.items())
    t.train_step()
    assert any(not torch.equal(v, t.G.state_dict()[k]) for k, v in g0.items())
    with pytest.raises(ValueError, match="d_warmup_kimg"):
        TrainConfig(data="x", out="y", d_warmup_kimg=float("nan"))


def _spawn(args: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "GANART_CACHE": str(tmp_path / "cache"), "GANART_NO_PROGRESS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganart", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["residual", "projected"])
def test_sigterm_saves_and_exits_cleanly(tmp_path, shapes, kind):
    out = tmp_path / "run"
    proc = _spawn(["--data", str(shapes), "--out", str(out), *TINY_FLAGS, "--max-steps", "100000",
                   "--snapshot-kimg", "0", "--discriminator", kind, "--feature-size", "64"], tmp_path)
    _wait_for(lambda: (out / "metrics.jsonl").is_file() and len((out / "metrics.jsonl").read_text().splitlines()) >= 3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted; saved" in stdout
    snap = sorted((out / "snapshots").iterdir())[-1]
    assert load_checkpoint(snap).meta.images_seen > 0
    assert (snap / STATE_NAME).is_file()


def _newest_snapshot(out: Path) -> str:
    snaps = sorted(p.name for p in (out / "snapshots").glob("step*")) if (out / "snapshots").exists() else []
    return snaps[-1] if snaps else ""


@pytest.mark.slow
def test_kill_9_during_saves_leaves_a_good_checkpoint(tmp_path, shapes):
    """Snapshot every step and SIGKILL at several moments: every completed snapshot and the
    run folder's checkpoint stay loadable, and --resume auto continues."""
    out = tmp_path / "run"
    args = ["--data", str(shapes), "--out", str(out), *TINY_FLAGS, "--max-steps", "100000",
            "--snapshot-kimg", "0.004", "--keep", "3", "--grid", "16"]
    for delay in (0.0, 0.13, 0.29, 0.41):
        newest = _newest_snapshot(out)
        proc = _spawn(args + ["--resume", "auto"], tmp_path)
        _wait_for(lambda newest=newest: _newest_snapshot(out) > newest)  # this process saved one
        time.sleep(delay)
        proc.kill()  # SIGKILL: no handler runs
        proc.wait(timeout=30)
        for snap in sorted((out / "snapshots").glob("step*")):
            load_checkpoint(snap)
            with safe_open(str(snap / STATE_NAME), framework="pt") as f:
                assert "G/w_avg" in f.keys()
        if (out / "config.json").exists():  # absent only if killed before the very first save
            load_checkpoint(out)
    final = Trainer(TrainConfig(data=str(shapes), out=str(out), resume="auto", **{**TINY, "max_steps": 0}))
    assert final.resume_from is not None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["residual", "residual+projected"])
def test_torchrun_two_processes_stay_in_sync(tmp_path, shapes, kind):
    out = tmp_path / "ddp"
    env = {**os.environ, "GANART_CACHE": str(tmp_path / "cache"), "GANART_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganart",
         "train", "--data", str(shapes), "--out", str(out), *TINY_FLAGS, "--max-steps", "3", "--snapshot-kimg", "0",
         "--discriminator", kind, "--feature-size", "64"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    end = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "end" and end["step"] == 3 and end["kimg"] == 0.012  # global batch 4 x 3 steps
    sums = end["rank_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]  # identical weights on both ranks
    assert [p.name for p in (out / "snapshots").iterdir()] == ["step00000003"]  # one writer: rank 0
    assert load_checkpoint(out).meta.training["world_size"] == 2


def test_resume_trains_at_this_runs_learning_rates(tmp_path, shapes, capsys):
    # The snapshot's optimiser param groups carried their lr, and loading them silently
    # overrode `--resume auto --lr-g X`: a lower-lr continuation trained at the old rate.
    trainer(tmp_path, shapes, "run", max_steps=2).fit()
    second = trainer(tmp_path, shapes, "run", max_steps=3, resume="auto", lr_g=0.0005, lr_d=0.001)
    second.fit()
    mb = TINY["r1_interval"] / (TINY["r1_interval"] + 1)
    assert [g["lr"] for g in second.opt_G.param_groups] == [0.0005]
    assert [g["lr"] for g in second.opt_D.param_groups] == [pytest.approx(0.001 * mb)]
    assert second.opt_D.param_groups[0]["betas"] == (0.0, pytest.approx(0.99**mb))
    err = capsys.readouterr().err
    assert "opt_G lr 0.001 in step00000002 -> 0.0005" in err and "opt_D lr" in err
    # the optimiser's moments still came from the snapshot
    assert all(len(s) for s in second.opt_G.state.values()) and second.opt_G.state


def test_resume_with_another_model_shape_names_the_flag(tmp_path, shapes, capsys):
    # It died in load_state_dict with a 25-line size-mismatch traceback.
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(shapes), "--out", out, *TINY_FLAGS, "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--data", str(shapes), "--out", out, *TINY_FLAGS, "--channel-base=512",
                 "--max-steps", "4", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "channel_base=256 (this run: 512)" in err and "Traceback" not in err
    # mbstd_group changes no weight: resuming with another group size is allowed
    assert main(["train", "--data", str(shapes), "--out", out, *TINY_FLAGS, "--mbstd-group=2",
                 "--max-steps", "3", "--resume", "auto"]) == 0


@pytest.mark.parametrize("damage", ["truncate", "no_config", "bad_tensor", "bad_lecam"])
def test_resume_from_a_damaged_snapshot_is_a_clear_error(tmp_path, shapes, capsys, damage):
    trainer(tmp_path, shapes, "run", max_steps=2).fit()
    snap = next((tmp_path / "run" / "snapshots").iterdir())
    state = snap / STATE_NAME
    if damage == "truncate":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    else:
        with safe_open(state, framework="pt") as f:
            meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
        if damage == "no_config":
            del meta["config"]
        elif damage == "bad_lecam":  # was loaded as it was: a --lecam run then failed at its first step
            tensors["lecam/anchors"] = torch.tensor([float("nan"), 0.0])
        else:
            tensors["G/synthesis_net.blocks.0.const"] = torch.zeros(1, 2, 3)
        save_file(tensors, str(state), metadata=meta)
    capsys.readouterr()
    assert main(["train", "--data", str(shapes), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                 "--max-steps", "4", "--resume", str(snap)]) == 2
    err = capsys.readouterr().err
    assert f"{snap}: cannot resume from this snapshot" in err and "Traceback" not in err
    if damage == "bad_lecam":
        assert "lecam/anchors" in err


def test_ada_max_p_caps_the_probability_and_applies_on_resume(tmp_path, shapes, capsys):
    t = trainer(tmp_path, shapes, "cap", aug_p=0.0, ada_max_p=0.02)
    for step in range(20):  # every real scored "real": r_t = 1 > target, so p climbs to the cap
        t.progress.step = step
        t._update_ada(torch.ones(4, 1))
    assert t.progress.aug_p == 0.02
    # a run saved at p = 0.5, resumed with a lower cap, augments at the cap from its first step
    trainer(tmp_path, shapes, "run", max_steps=2, ada_target=0.0).fit()
    resumed = trainer(tmp_path, shapes, "run", max_steps=2, resume="auto", aug_p=0.0, ada_max_p=0.25)
    resumed.load_data()
    resumed.load_state(resumed.resume_from)
    assert resumed.progress.aug_p == 0.25
    assert "ADA p 0.5 in step00000002 capped to 0.25" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ada_max_p"):
        TrainConfig(ada_max_p=1.5)
    with pytest.raises(ValueError, match=r"aug_p \(0.5\) must not exceed ada_max_p"):
        TrainConfig(aug_p=0.5, ada_max_p=0.4)


def _device_leg():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "experiments" / "device_leg.py"
    spec = importlib.util.spec_from_file_location("device_leg", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module, path


def test_device_leg_picks_the_largest_batch_that_keeps_its_step_rate():
    leg, _ = _device_leg()
    R = leg.Rate
    # launch-bound up to 256 (steps/s barely fall), arithmetic-bound past it
    rates = [R(64, 1280, 20.0), R(128, 2400, 18.75), R(256, 3500, 13.7), R(512, 4000, 7.8)]
    assert leg.pick(rates, 0.6).batch == 256
    assert leg.pick(rates, 0.9).batch == 128
    assert leg.pick(rates, 0.3).batch == 512
    assert leg.planned_kimg(R(256, 3500, 13.7), minutes=6.5) == 1228.5  # 90 % of 6.5 min at 3,500 img/s
    assert leg.planned_kimg(R(8, 1.0, 0.1), minutes=0.01) == 0.008  # never less than one batch


def test_device_leg_measures_plans_trains_and_exports(tmp_path, shapes):
    """experiments/device_leg.py, the prepared script for a GPU lease, end to end on the CPU:
    it measures each batch, trains the planned leg from the init (its shape and ending p, not
    the flags' defaults) and exports the files the device tool can bring back."""
    base = trainer(tmp_path, shapes, "base", max_steps=2, g_channels="32,32,16", aug_p=0.25, ada_target=0.0)
    base.fit()
    _, script = _device_leg()
    out, export = tmp_path / "leg", tmp_path / "export"
    flags = ["--data", str(shapes), "--grid", "4", "--lr-decay", "cosine", "--threads", "1", "--log-every", "1"]
    cmd = [sys.executable, str(script), "--init-from", str(tmp_path / "base"), "--minutes", "0.1",
           "--out", str(out), "--export", str(export), "--batches", "2,4", "--steps", "2"]
    r = subprocess.run([*cmd, "--", *flags], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "batch     2:" in r.stdout and "batch     4:" in r.stdout
    plan = json.loads(r.stdout.split("plan: ")[1].splitlines()[0])
    assert plan["batch"] in (2, 4) and plan["kimg"] > 0 and plan["aug_p"] == 0.25
    assert sorted(p.name for p in export.iterdir()) == sorted(
        ["README.md", "config.json", "discriminator.safetensors", "grid.png", "metrics.jsonl", "model.safetensors"])
    ck = load_checkpoint(export)
    assert ck.config == base.cfg.model_config()  # the init's shape, though no shape flag was given
    cmd_line = ck.meta.training["command"]
    assert f"--batch {plan['batch']} --kimg {plan['kimg']}" in cmd_line and "--g-channels 32,32,16" in cmd_line
    done = json.loads(r.stdout.split("done: ")[1].splitlines()[0])
    assert ck.meta.images_seen == 2 * 4 + done["steps"] * plan["batch"]  # the init's images and the leg's
    # the flags it sets itself are refused after --, by name, before anything runs
    r = subprocess.run([*cmd, "--dry-run", "--", *flags, "--batch", "8", "--kimg", "3"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "--batch, --kimg are set by this script" in r.stderr


def test_resume_mid_ada_interval_keeps_every_counter(tmp_path, shapes):
    """A snapshot taken between two ADA updates holds the sign sum not yet read back: without
    it, the resumed run's next r_t (and so p) is computed from half the evidence."""
    from dataclasses import asdict

    kw = dict(ada_interval=2, ada_target=0.6)
    straight = trainer(tmp_path, shapes, "straight", max_steps=4, **kw)
    straight.fit()
    trainer(tmp_path, shapes, "split", max_steps=3, **kw).fit()  # saved after step 3 of an interval of 2
    second = trainer(tmp_path, shapes, "split", max_steps=4, resume="auto", **kw)
    second.fit()

    def counters(t: Trainer) -> dict:
        return {k: v for k, v in asdict(t.progress).items() if k != "train_seconds"}

    assert "rt" in straight.progress.extra
    assert counters(second) == counters(straight)


def test_keep_prunes_to_the_newest_snapshots(tmp_path, shapes):
    t = trainer(tmp_path, shapes, max_steps=5, snapshot_kimg=0.004, keep=2)  # a snapshot every step
    t.fit()
    assert sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir()) == ["step00000004", "step00000005"]


def test_resume_auto_takes_the_newest_readable_snapshot(tmp_path, shapes, capsys):
    trainer(tmp_path, shapes, max_steps=3, snapshot_kimg=0.004, keep=5).fit()
    snaps = tmp_path / "run" / "snapshots"
    assert trainer(tmp_path, shapes, resume="auto").resume_from == snaps / "step00000003"
    state = snaps / "step00000003" / STATE_NAME
    state.write_bytes(state.read_bytes()[:100])  # truncated, as by a full disk
    assert trainer(tmp_path, shapes, resume="auto").resume_from == snaps / "step00000002"
    assert f"skipping unreadable snapshot {snaps / 'step00000003'}" in capsys.readouterr().err


def test_prune_clears_what_a_killed_snapshot_left(tmp_path, shapes):
    import os

    from ganart.training.snapshot import SNAPSHOTS, prune

    t = trainer(tmp_path, shapes, max_steps=1)
    t.fit()
    snaps = tmp_path / "run" / SNAPSHOTS
    (snaps / ".tmp-step00000009-999999").mkdir()  # a process killed mid-write
    (snaps / f".tmp-step00000010-{os.getpid()}").mkdir()  # this process, writing now
    prune(tmp_path / "run", keep=3)
    assert sorted(p.name for p in snaps.iterdir()) == [f".tmp-step00000010-{os.getpid()}", "step00000001"]


def _rng_states(t: Trainer) -> list[torch.Tensor]:
    return [g.get_state() for g in (t.loss.gen_z, t.loss.gen_aug, t.loss.gen_noise)]


def _set_rng_states(t: Trainer, states: list[torch.Tensor]) -> None:
    for g, s in zip((t.loss.gen_z, t.loss.gen_aug, t.loss.gen_noise), states):
        g.set_state(s)


def test_relativistic_loss_pairs_reals_and_fakes(tmp_path, shapes):
    import torch.nn.functional as F

    t = trainer(tmp_path, shapes, loss="relativistic", aug_p=0.0, ada_target=0.0, amp="off")
    t.load_data()
    real = t.data.sample(4)
    states = _rng_states(t)
    loss_D, _, verdicts = t.loss.accumulate_D(real, 0.0, do_r1=False, track_w_avg=False)
    _set_rng_states(t, states)
    with torch.no_grad():
        fake, _ = t.loss.run_G(4, track_w_avg=False)
        expected = F.softplus(t.D(fake).float() - t.D(real).float()).mean()
        margins = t.D(real).float() - t.D(fake).float()
    assert loss_D.item() == pytest.approx(expected.item(), rel=1e-4)  # D: fakes below their paired reals
    # ADA reads each real's margin over its paired fake: a logit offset (which this loss never
    # pins) must not move it. It read D(real) alone, whose sign drifted: p stayed at 0.
    assert torch.allclose(verdicts, margins, atol=1e-4)
    with torch.no_grad():
        t.D.out.bias += 5.0
    _set_rng_states(t, states)
    t.D.zero_grad()
    assert torch.allclose(t.loss.accumulate_D(real, 0.0, do_r1=False, track_w_avg=False)[2], margins, atol=1e-4)
    with torch.no_grad():
        t.D.out.bias -= 5.0
    states = _rng_states(t)
    loss_G = t.loss.accumulate_G(4, 0.0, (real, None))
    _set_rng_states(t, states)
    with torch.no_grad():
        expected = F.softplus(t.D(real).float() - t.D(t.loss.run_G(4, track_w_avg=False)[0]).float()).mean()
    assert loss_G.item() == pytest.approx(expected.item(), rel=1e-4)  # G: the reverse
    # R2 beside R1: the penalty of a regularised step is larger than R1 alone would be
    _, r1_r2, _ = t.loss.accumulate_D(real, 0.0, do_r1=True, track_w_avg=False)
    std = trainer(tmp_path, shapes, "std", aug_p=0.0, ada_target=0.0, amp="off")
    std.G.load_state_dict(t.G.state_dict())
    std.D.load_state_dict(t.D.state_dict())
    _, r1_only, _ = std.loss.accumulate_D(real, 0.0, do_r1=True, track_w_avg=False)
    assert r1_r2.item() > r1_only.item() > 0
    with pytest.raises(ValueError, match="loss relativistic pairs the residual D's logits"):
        TrainConfig(loss="relativistic", discriminator="projected")
    with pytest.raises(ValueError, match="loss must be one of standard, relativistic"):
        TrainConfig(loss="wgan")


def test_relativistic_loss_resumes_exactly(tmp_path, shapes):
    straight = trainer(tmp_path, shapes, "straight", max_steps=4, loss="relativistic")
    straight.fit()
    trainer(tmp_path, shapes, "split", max_steps=2, loss="relativistic").fit()
    second = trainer(tmp_path, shapes, "split", max_steps=4, resume="auto", loss="relativistic")
    second.fit()
    a, b = full_state(straight), full_state(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.isfinite(v).all() for v in a.values())

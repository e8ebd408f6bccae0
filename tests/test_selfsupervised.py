"""The self-supervised discriminator (the residual D with FastGAN's decoders) and the runs that
use it. Tiny models at 32 px, so both decoders exist."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganart.card import card_text
from ganart.checkpoint import DISCRIMINATOR_NAME, discriminator_kind, load_checkpoint
from ganart.config import ModelConfig
from ganart.hub import push
from ganart.training import TrainConfig, Trainer
from ganart.training.selfsupervised import SelfSupervisedDiscriminator, quarter

TINY = dict(resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
            batch=4, grid=4, r1_interval=2, ada_interval=2, ada_kimg=1.0, log_every=1)


@pytest.fixture(autouse=True)
def env(train_env):
    pass


def trainer(tmp_path: Path, data: Path, name: str = "run", kind: str = "selfsupervised", **kw) -> Trainer:
    return Trainer(TrainConfig.create(data=str(data), out=str(tmp_path / name), discriminator=kind, **{**TINY, **kw}))


def tiny_d(resolution: int = 32) -> SelfSupervisedDiscriminator:
    torch.manual_seed(0)
    return SelfSupervisedDiscriminator(ModelConfig(resolution=resolution, channel_base=256, channel_max=32))


def test_a_quarter_is_the_same_place_in_a_map_and_in_its_image():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert quarter(x, 0).flatten().tolist() == [0, 1, 4, 5]
    assert quarter(x, 1).flatten().tolist() == [2, 3, 6, 7]
    assert quarter(x, 2).flatten().tolist() == [8, 9, 12, 13]
    assert quarter(x, 3).flatten().tolist() == [10, 11, 14, 15]
    img = torch.zeros(1, 3, 32, 32)
    img[..., 16:, :16] = 1.0  # bottom left: the 16x16 map's rows 8-15, columns 0-7
    assert quarter(img, 2).min() == 1 and quarter(img, 3).max() == 0 and quarter(torch.zeros(2, 8, 16, 16), 2).shape[-1] == 8


def test_the_part_decoder_reads_the_quarter_of_the_map_that_it_paints(monkeypatch):
    from ganart.training import selfsupervised

    D = tiny_d()
    img = torch.randn(2, 3, 32, 32)
    maps: list[torch.Tensor] = []
    D.pixel(img, maps)
    seen, targets = [], []
    D.part.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    real_error = selfsupervised.rebuild_error
    monkeypatch.setattr(selfsupervised, "rebuild_error", lambda p, t: targets.append(t) or real_error(p, t))
    for seed in range(6):
        q = int(torch.randint(4, (1,), generator=torch.Generator().manual_seed(seed)))
        D.judge_and_rebuild(img, torch.Generator().manual_seed(seed))
        assert torch.equal(seen[-1], quarter(maps[0], q)) and torch.equal(targets[-1], quarter(img, q))
        assert torch.equal(targets[-2], img)  # the whole decoder: the whole image


def test_the_decoders_learn_to_rebuild_the_reals_from_ds_features(shapes):
    """A real reconstruction loss: a few hundred Adam steps on one batch shrink it well below
    where it starts, and the gradients reach D's own blocks (what the loss is there to shape)."""
    from ganart.training.data import Preprocess, load_folder, to_model_range

    D = tiny_d()
    img = to_model_range(torch.from_numpy(load_folder(shapes, Preprocess(resolution=32))[:8]).permute(0, 3, 1, 2))
    gen = torch.Generator().manual_seed(0)
    logits, first = D.judge_and_rebuild(img, gen)
    assert logits.shape == (8, 1) and torch.isfinite(first)
    first.backward()
    assert D.pixel.blocks[0].conv0.weight.grad.abs().sum() > 0 and D.part[-2].weight.grad.abs().sum() > 0
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    for _ in range(150):
        opt.zero_grad()
        loss = D.judge_and_rebuild(img, gen)[1]
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first.item()
    assert D(img).shape == (8, 1)  # fakes and G's step: the logits alone, no decoder runs


@pytest.mark.parametrize(("resolution", "painted"), [(16, 8), (64, 32), (256, 128), (512, 128)])
def test_the_decoders_paint_half_the_image_size_up_to_128_px(resolution, painted):
    D = tiny_d(resolution)
    assert D.whole(torch.zeros(1, D.pixel.cfg.d_channels(8), 8, 8)).shape[-1] == painted
    if D.part is not None:
        assert D.part(torch.zeros(1, D.pixel.cfg.d_channels(16), 8, 8)).shape[-1] == painted


def test_at_16_px_there_is_no_16_px_map_for_the_part_decoder():
    D = tiny_d(16)
    assert D.part is None
    _, loss = D.judge_and_rebuild(torch.zeros(2, 3, 16, 16), torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)


def test_training_steps_move_the_decoders_and_g_and_stay_finite(tmp_path, shapes):
    t = trainer(tmp_path, shapes)
    t.load_data()
    dec = {k: v.clone() for k, v in t.D.whole.state_dict().items()}
    g = {k: v.clone() for k, v in t.G.state_dict().items()}
    for _ in range(3):
        stats = t.train_step()
    assert all(torch.isfinite(v) for v in stats.values())
    assert 0 < stats["rebuild"] < stats["loss_D"]  # logged on its own too; D's loss includes it
    assert any(not torch.equal(dec[k], v) for k, v in t.D.whole.state_dict().items())
    assert any(not torch.equal(g[k], v) for k, v in t.G.state_dict().items())


@pytest.mark.parametrize("loss", ["standard", "relativistic"])
def test_exact_resume_with_the_decoders(tmp_path, shapes, loss):
    straight = trainer(tmp_path, shapes, "straight", max_steps=4, loss=loss)
    straight.fit()
    trainer(tmp_path, shapes, "split", max_steps=2, loss=loss).fit()
    second = trainer(tmp_path, shapes, "split", max_steps=4, resume="auto", loss=loss)
    second.fit()
    a, b = straight.state_tensors()[0], second.state_tensors()[0]
    assert a.keys() == b.keys() and any("whole." in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    training = load_checkpoint(tmp_path / "split").meta.training
    assert training["discriminator"] == "selfsupervised" and "feature_network" not in training
    assert "with FastGAN's decoders" in card_text(tmp_path / "split")
    with pytest.raises(ValueError, match="saved with --discriminator selfsupervised \\(this run: residual\\)"):
        trainer(tmp_path, shapes, "split", kind="residual", max_steps=5, resume="auto", loss=loss).fit()


def test_init_from_and_push_keep_the_decoders(tmp_path, shapes, capsys):
    base = trainer(tmp_path, shapes, "base", max_steps=2)
    base.fit()
    assert discriminator_kind(tmp_path / "base") == "selfsupervised"
    assert DISCRIMINATOR_NAME in push(tmp_path / "base", "me/tiny", dry_run=True)
    ft = trainer(tmp_path, shapes, "ft", init_from=str(tmp_path / "base"))
    assert "D from its discriminator.safetensors" in capsys.readouterr().err
    for k, v in base.D.state_dict().items():
        assert torch.equal(v.float(), ft.D.state_dict()[k].float()), k
    # the residual D inside it serves a residual run, and a residual run's D a self-supervised one
    res = trainer(tmp_path, shapes, "res", kind="residual", init_from=str(tmp_path / "base"), max_steps=1)
    assert "D's residual part from its discriminator.safetensors (its decoders are left out)" in capsys.readouterr().err
    for k, v in base.D.pixel.state_dict().items():
        assert torch.equal(v.float(), res.D.state_dict()[k].float()), k
    res.fit()
    back = trainer(tmp_path, shapes, "back", init_from=str(tmp_path / "res"))
    assert "(the decoders start from scratch)" in capsys.readouterr().err
    for k, v in res.D.state_dict().items():
        assert torch.equal(v.float(), back.D.pixel.state_dict()[k].float()), k
    # a wider G keeps this D (D does not grow): same logits, same reconstructions
    wide = trainer(tmp_path, shapes, "wide", init_from=str(tmp_path / "base"), channel_base=512, channel_max=64,
                   d_channel_base=256, d_channel_max=32)
    assert "grown to this shape, same outputs" in capsys.readouterr().err
    img, gen = torch.randn(2, 3, 32, 32), torch.Generator()
    with torch.no_grad():
        a, rebuilt_a = base.D.judge_and_rebuild(img, gen.manual_seed(1))
        b, rebuilt_b = wide.D.judge_and_rebuild(img, gen.manual_seed(1))
    assert torch.allclose(a, b, atol=1e-4) and torch.allclose(rebuilt_a, rebuilt_b, atol=1e-4)
    trainer(tmp_path, shapes, "p", kind="projected", feature_size=64, init_from=str(tmp_path / "base"))
    assert "is a selfsupervised D and this run trains a projected one, so D starts from scratch" in \
        capsys.readouterr().err

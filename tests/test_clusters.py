"""Self-conditioning (--clusters): k-means labels for a folder without labels, z's regions sized
to the clusters, the conditional G and D, and the runs that train them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganart.card import card_text
from ganart.checkpoint import load_checkpoint
from ganart.config import ModelConfig
from ganart.latent import seed_to_z
from ganart.models import Discriminator, Generator, MappingNetwork, class_regions, fit_region_bias
from ganart.recipe import encode_latent
from ganart.sampler import Sampler
from ganart.training import TrainConfig, Trainer
from ganart.training.clusters import (
    auto_clusters,
    cluster_labels,
    kmeans,
    partners,
    resolve,
    spreads,
    thumbnails,
)
from ganart.training.config import AUTO_CLUSTERS, flags_for
from ganart.training.loss import diversity_shortfall

TINY = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
            batch=4, grid=4, r1_interval=2, ada_interval=2, aug_p=0.5, ada_kimg=1.0, log_every=1)
SMALL = ModelConfig(resolution=16, z_dim=32, w_dim=32, channel_base=256, channel_max=32)


@pytest.fixture(autouse=True)
def env(train_env):
    pass


def trainer(tmp_path: Path, data: Path, name: str = "run", **kw) -> Trainer:
    return Trainer(TrainConfig.create(data=str(data), out=str(tmp_path / name), **{**TINY, **kw}))


def coloured(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy flat images of one colour per group: uint8 [N, 16, 16, 3] and each one's group."""
    rng = np.random.default_rng(seed)
    colours = [(230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30)]
    imgs, groups = [], []
    for g, n in enumerate(sizes):
        base = np.array(colours[g], dtype=np.int16)
        for _ in range(n):
            imgs.append(np.clip(base + rng.integers(-20, 21, (16, 16, 3)), 0, 255).astype(np.uint8))
            groups.append(g)
    order = rng.permutation(len(imgs))
    return np.stack(imgs)[order], np.array(groups)[order]


def test_clusters_find_the_groups_numbered_by_size_and_the_same_every_time():
    imgs, groups = coloured([5, 15, 10])
    labels = cluster_labels(imgs, 3)
    # group 1 (15 images) is cluster 0, group 2 (10) cluster 1, group 0 (5) cluster 2
    assert labels.tolist() == [{1: 0, 2: 1, 0: 2}[g] for g in groups]
    assert np.array_equal(cluster_labels(imgs, 3), labels)
    imgs, _ = coloured([3, 12, 7, 20])
    for seed in range(4):  # k-means++ picks its seeds in another order each time; the numbering holds
        counts = np.bincount(cluster_labels(imgs, 4, seed=seed), minlength=4).tolist()
        assert counts == sorted(counts, reverse=True) and sum(counts) == 42, counts
    assert thumbnails(imgs).shape == (42, 8 * 8 * 3)


def test_every_cluster_keeps_an_image():
    # more clusters than the data has groups: the extra ones take far-off images, none stays empty
    imgs, _ = coloured([10, 10])
    labels = cluster_labels(imgs, 5)
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2, 3, 4]
    x = torch.rand(7, 4, dtype=torch.float64)
    assert kmeans(x, 7).shape == (7, 4)


def test_bad_cluster_counts_are_clear_errors(shapes):
    with pytest.raises(ValueError, match=r"clusters must be between 1 and the number of images \(4\), got 5"):
        kmeans(torch.rand(4, 3, dtype=torch.float64), 5)
    with pytest.raises(ValueError, match=r"clusters must be auto or in \[0, 1024\], got -2"):
        TrainConfig(clusters=-2)
    with pytest.raises(ValueError, match="clusters conditions the residual D"):
        TrainConfig.create(clusters=4, discriminator="projected")
    with pytest.raises(ValueError, match="classes must be in"):
        ModelConfig(classes=5000)


def uncounted() -> int:
    raise AssertionError("K was not the data's to pick here, so the images need no counting")


def test_clusters_auto_is_one_per_hundred_images_and_keeps_what_the_weights_were_trained_with(tmp_path, shapes,
                                                                                              capsys):
    from shapes import make_shapes

    from ganart.cli import main

    assert [auto_clusters(n) for n in (0, 12, 199, 200, 982, 1699, 3926, 10**6)] == [0, 0, 0, 2, 9, 16, 16, 16]
    assert TrainConfig().clusters == AUTO_CLUSTERS  # the default
    with pytest.raises(ValueError, match="clusters auto depends on the data"):
        TrainConfig().model_config()
    many = make_shapes(tmp_path / "many", n=250, size=16)
    fresh = trainer(tmp_path, many, "fresh")
    assert fresh.cfg.clusters == 2 and fresh.G.cfg.classes == 2 and fresh.D.class_embed.shape[0] == 2
    flags = flags_for(fresh.cfg)  # the card's command names the K used
    assert flags[flags.index("--clusters") + 1] == "2"
    assert trainer(tmp_path, shapes, "few").cfg.clusters == 0  # 12 images
    assert resolve(TrainConfig.create(data=str(many), discriminator="projected"), None, uncounted)[0] == 0
    assert "--clusters auto: 2 (one per 100 of 250 images, at most 16, none below 200)" in capsys.readouterr().err
    # files that do not decode are not images: 250 that do and 160 that do not make 2 clusters, not 4
    for i in range(160):
        (many / f"broken{i:03d}.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 160 unreadable image file"):
        assert trainer(tmp_path, many, "broken").cfg.clusters == 2
    assert "one per 100 of 250 images" in capsys.readouterr().err
    for f in many.glob("broken*.png"):
        f.unlink()
    # z's regions cannot change, so a resumed run and a fine-tune keep their weights' K, whatever
    # auto would pick for the folder
    trainer(tmp_path, shapes, "three", max_steps=1, clusters=3).fit()
    resumed = trainer(tmp_path, shapes, "three", max_steps=2, resume="auto")
    assert resumed.cfg.clusters == 3 and resumed._images is None  # K came without reading the data
    assert "--clusters auto: 3 (as the snapshot was trained)" in capsys.readouterr().err
    resumed.fit()
    assert resumed.progress.step == 2
    trainer(tmp_path, shapes, "plain", max_steps=1).fit()
    assert trainer(tmp_path, many, "tuned", init_from=str(tmp_path / "plain")).cfg.clusters == 0
    tuned3 = trainer(tmp_path, many, "tuned3", init_from=str(tmp_path / "three"))
    assert tuned3.cfg.clusters == 3 and tuned3._images is None
    with pytest.raises(ValueError, match="trained with --clusters 3, and the projected D takes no clusters"):
        resolve(TrainConfig.create(data=str(many), discriminator="projected", init_from=str(tmp_path / "three")), None,
                uncounted)
    # the command line spells it auto or a number
    flags = ["train", "--data", str(many), "--out", str(tmp_path / "cli"), "--dry-run"]
    capsys.readouterr()
    assert main([*flags, "--clusters", "auto"]) == 0
    assert '"clusters": 2' in capsys.readouterr().out
    assert main([*flags, "--clusters", "5"]) == 0
    assert '"clusters": 5' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*flags, "--clusters", "some"])
    assert "--clusters: expected auto or a whole number, got 'some'" in capsys.readouterr().err


def test_z_regions_take_the_clusters_shares():
    dirs = torch.nn.functional.normalize(torch.randn(6, 32, generator=torch.Generator().manual_seed(3)), dim=1)
    priors = torch.tensor([40.0, 25, 15, 10, 7, 3])
    bias = fit_region_bias(dirs, priors)
    z = torch.randn(40_000, 32, generator=torch.Generator().manual_seed(99))  # not the fitting sample
    share = torch.bincount(class_regions(MappingNetwork.normalize(z), dirs, bias), minlength=6) / len(z)
    assert torch.allclose(share, priors / priors.sum(), atol=0.012), share


def test_a_conditional_g_and_d_start_as_the_unconditional_ones():
    torch.manual_seed(0)
    G0, D0 = Generator(SMALL), Discriminator(SMALL)
    cond = ModelConfig(**(SMALL.to_dict() | {"classes": 3}))
    torch.manual_seed(0)
    G, D = Generator(cond), Discriminator(cond)
    assert sum(p.numel() for p in G.parameters()) == cond.generator_params()
    z = torch.randn(6, 32, generator=torch.Generator().manual_seed(1))
    img = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    labels = G.mapping_net.classes_of(z)
    with torch.no_grad():
        assert torch.equal(G(z), G0(z))  # the embeddings start at zero
        assert torch.equal(D(img, labels=labels), D0(img))
        G.mapping_net.class_embed.normal_()
        D.class_embed.normal_()
        assert not torch.allclose(G(z), G0(z))
        # D adds each image's class embedding . its features
        h = D.fc(D.conv(D.minibatch_std(torch.nn.Sequential(D.fromrgb, *D.blocks)(img))).flatten(1))
        expect = D0(img) + (D.class_embed[labels] * h).sum(1, keepdim=True)
        assert torch.allclose(D(img, labels=labels), expect, atol=1e-5)
    with pytest.raises(ValueError, match="labels given to an unconditional discriminator"):
        D0(img, labels=labels)
    assert G0.mapping_net.classes_of(z).tolist() == [0] * 6


@pytest.mark.parametrize("flags", [{}, {"loss": "relativistic"}, {"discriminator": "selfsupervised",
                                                                   "resolution": 32}, {"diversity": 1.0}])
def test_a_clustered_run_trains_both_embeddings_and_resumes_exactly(tmp_path, shapes, flags):
    straight = trainer(tmp_path, shapes, "straight", max_steps=4, clusters=3, **flags)
    straight.fit()
    net = straight.G.mapping_net
    labels = cluster_labels(straight.real, 3)
    assert torch.equal(straight.data.labels, torch.from_numpy(labels))
    # the regions were sized to the clusters before training (G_ema keeps the same cut)
    expect = fit_region_bias(net.class_dirs, torch.bincount(torch.from_numpy(labels), minlength=3).double())
    assert torch.equal(net.class_bias, expect) and torch.equal(straight.G_ema.mapping_net.class_bias, expect)
    D = getattr(straight.D, "pixel", straight.D)
    assert net.class_embed.abs().sum() > 0 and D.class_embed.abs().sum() > 0  # both learnt
    first = trainer(tmp_path, shapes, "split", max_steps=2, clusters=3, **flags)
    first.fit()
    second = trainer(tmp_path, shapes, "split", max_steps=4, clusters=3, resume="auto", **flags)
    second.fit()
    a, b = straight.state_tensors()[0], second.state_tensors()[0]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_partners_share_the_region_and_length_and_nothing_else():
    net = MappingNetwork(64, 32, 2, 0.01, classes=6)
    net.class_bias.copy_(torch.linspace(-1, 1, 6))
    z = torch.randn(2000, 64, generator=torch.Generator().manual_seed(1))
    p = partners(z, net.class_dirs, torch.Generator().manual_seed(2))
    assert torch.equal(net.classes_of(p), net.classes_of(z))
    torch.testing.assert_close(p.norm(dim=1), z.norm(dim=1))
    torch.testing.assert_close(p @ net.class_dirs.T, z @ net.class_dirs.T, atol=1e-4, rtol=0)
    # the rest is redrawn: beyond the 6 shared directions of 64, a partner is a stranger
    assert abs(torch.nn.functional.cosine_similarity(p, z).mean().item() - 6 / 64) < 0.02
    assert 0.97 < p.std().item() < 1.03
    again = partners(z, net.class_dirs, torch.Generator().manual_seed(2))
    assert torch.equal(again, p)  # one generator, one answer
    # no regions: fresh normal z's
    fresh = partners(z, torch.zeros(0, 64), torch.Generator().manual_seed(3))
    assert fresh.shape == z.shape and abs(fresh.std().item() - 1) < 0.03 and not torch.equal(fresh, z)


def test_spreads_are_the_mean_distance_of_real_pairs_in_each_cluster():
    black, white = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
    grey = np.full((16, 16, 3), 51, np.uint8)
    images = np.stack([black, white, black, white, grey, grey, grey, white])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    s = spreads(images, labels, seed=0)
    # cluster 0: every pair of two different images is black against white, 2.0 apart on [-1, 1];
    # pairs of one image with itself are not counted (black with black counts as 0: same pixels)
    pairs = torch.randint(4, (2, 256), generator=torch.Generator().manual_seed(0))
    a, b = pairs
    kinds = torch.tensor([0, 1, 0, 1])
    expect = (2.0 * (kinds[a] != kinds[b]).float())[a != b].mean()
    assert s[0].item() == pytest.approx(expect.item())
    assert s[1].item() == 0.0  # three identical greys
    assert s[2].item() == pytest.approx((s[0].item() + 0.0) / 2)  # one image: the others' mean
    one = spreads(images, None)
    assert one.shape == (1,) and 0 < one.item() < 2


def test_diversity_shortfall_rewards_pairs_up_to_their_clusters_spread():
    same = torch.zeros(4, 3, 8, 8)
    spread = torch.tensor([0.5, 1.0])
    assert diversity_shortfall(same, 2, torch.tensor([0, 1, 0, 1]), spread).item() == 1.0
    apart = torch.cat([torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5)])
    # class 0 pair: 0.5 apart, as far as its cluster's reals (no shortfall); class 1: half as far
    assert diversity_shortfall(apart, 2, torch.tensor([0, 1, 0, 1]), spread).item() == pytest.approx(0.25)
    far = torch.cat([torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 1.5)])
    assert diversity_shortfall(far, 2, None, spread).item() == 0.0  # beyond the spread: no more reward
    # an odd batch: the middle image has no partner
    odd = torch.cat([torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 9.0), torch.full((1, 3, 8, 8), 0.25)])
    assert diversity_shortfall(odd, 1, None, spread).item() == pytest.approx(0.5)


def test_diversity_pairs_fakes_of_one_region_and_pushes_g(tmp_path, shapes):
    plain = trainer(tmp_path, shapes, "plain", max_steps=2, clusters=3)
    plain.fit()
    t = trainer(tmp_path, shapes, "div", max_steps=2, clusters=3, diversity=1.0)
    t.fit()
    torch.testing.assert_close(t.loss.spread, spreads(t.real, t.data.labels.numpy()))
    assert 0 <= t.loss.shortfall.item() <= 1
    assert any(not torch.equal(v, t.G.state_dict()[k]) for k, v in plain.G.state_dict().items())
    rows = [r for r in (tmp_path / "div" / "metrics.jsonl").read_text().splitlines() if '"shortfall"' in r]
    assert rows, "the shortfall is logged"
    # the last half of G's batch are partners of the first half: their z's share a region
    seen = []
    real_randn = torch.randn

    def spy(*args, **kw):
        out = real_randn(*args, **kw)
        seen.append(out)
        return out

    torch.randn = spy
    try:
        fake, labels = t.loss.run_G(4, track_w_avg=False, pairs=2)
    finally:
        torch.randn = real_randn
    z = seen[0]
    assert z.shape[0] == 2 and labels is not None and torch.equal(labels[:2], labels[2:])
    assert torch.equal(labels[:2], t.G.mapping_net.classes_of(z))
    with pytest.raises(ValueError, match="diversity"):
        TrainConfig.create(data=str(shapes), diversity=-1)


def test_fakes_are_judged_with_the_class_of_their_z(tmp_path, shapes):
    t = trainer(tmp_path, shapes, clusters=3)
    t.load_data()
    with torch.no_grad():
        t.G.mapping_net.class_bias.copy_(torch.tensor([0.0, 0.0, 50.0]))  # every z in region 2
        _, labels = t.loss.run_G(4, track_w_avg=False)
    assert labels.tolist() == [2, 2, 2, 2]


def test_a_clustered_checkpoint_samples_and_says_so(tmp_path, shapes):
    t = trainer(tmp_path, shapes, max_steps=2, clusters=3)
    t.fit()
    out = tmp_path / "run"
    assert load_checkpoint(str(out)).config.classes == 3
    s = Sampler.load(str(out))
    a, b = np.asarray(s.generate(seed=5, psi=0.7)), np.asarray(Sampler.load(str(out)).generate(seed=5, psi=0.7))
    assert np.array_equal(a, b) and a.shape == (16, 16, 3)
    assert "Self-conditioned on 3 clusters" in card_text(out)
    assert "--clusters 3" in load_checkpoint(str(out)).meta.training["command"]


def test_reals_and_fakes_are_judged_with_their_own_classes(tmp_path, shapes):
    import torch.nn.functional as F

    t = trainer(tmp_path, shapes, clusters=3, aug_p=0.0, ada_target=0.0, amp="off", style_mixing=0.0)
    t.load_data()
    with torch.no_grad():
        t.D.class_embed.normal_()  # so that a wrong class moves the logits
    real, real_labels = t.data.sample_labelled(4)
    gens = (t.loss.gen_z, t.loss.gen_aug, t.loss.gen_noise)
    states = [g.get_state() for g in gens]
    loss_D = t.loss.accumulate_D(real, 0.0, do_r1=False, track_w_avg=False, labels=real_labels)[0]
    loss_G = t.loss.accumulate_G(4, 0.0)
    for g, s in zip(gens, states):
        g.set_state(s)
    with torch.no_grad():
        fake, fake_labels = t.loss.run_G(4, track_w_avg=False)
        expect_D = F.softplus(t.D(fake, labels=fake_labels)).mean() + F.softplus(-t.D(real, labels=real_labels)).mean()
        fake2, labels2 = t.loss.run_G(4, track_w_avg=False)
        expect_G = F.softplus(-t.D(fake2, labels=labels2)).mean()
    assert loss_D.item() == pytest.approx(expect_D.item(), rel=1e-5)
    assert loss_G.item() == pytest.approx(expect_G.item(), rel=1e-5)


def test_resuming_with_other_clusters_names_the_flag(tmp_path, shapes, capsys):
    from ganart.cli import main

    flags = ["train", "--data", str(shapes), "--out", str(tmp_path / "run"),
             *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]
    assert main([*flags, "--max-steps", "1"]) == 0  # unconditional
    capsys.readouterr()
    assert main([*flags, "--clusters", "3", "--max-steps", "2", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "clusters=0 (this run: 3)" in err and "Traceback" not in err


def test_fine_tuning_across_cluster_counts_is_a_clear_error(tmp_path, shapes):
    trainer(tmp_path, shapes, "plain", max_steps=1).fit()
    with pytest.raises(ValueError, match="trained with --clusters 0, this run has --clusters 3"):
        trainer(tmp_path, shapes, "tuned", clusters=3, init_from=str(tmp_path / "plain"))
    trainer(tmp_path, shapes, "three", max_steps=1, clusters=3).fit()
    tuned = trainer(tmp_path, shapes, "tuned3", clusters=3, init_from=str(tmp_path / "three"), max_steps=1)
    assert torch.equal(tuned.G.mapping_net.class_bias, load_checkpoint(str(tmp_path / "three")).generator.mapping_net.class_bias)


def test_psi_pulls_each_seed_toward_its_clusters_mean_w(clusters_ckpt):
    s = Sampler.load(str(clusters_ckpt), device="cpu")
    G = s.G
    z = torch.randn(40_000, 32, generator=torch.Generator().manual_seed(99))  # not the Sampler's sample
    with torch.no_grad():
        w, k = G.mapping_net(z), G.mapping_net.classes_of(z)
    means = torch.stack([w[k == c].mean(0) for c in range(4)])
    assert torch.pdist(torch.cat([means, w.mean(0, keepdim=True)])).min() > 1  # apart, and from the mean w
    seeds = list(range(12))
    zs = torch.cat([seed_to_z(i, 32) for i in seeds])
    kinds = G.mapping_net.classes_of(zs)
    centres = s.centres(zs)[:, 0]
    assert torch.allclose(centres, means[kinds], atol=0.2)  # two samples' noise
    ws = s.ws_for([s.recipe(i, psi=0.0) for i in seeds])
    assert torch.equal(ws, centres[:, None].expand(-1, 6, -1))  # psi 0: exactly the cluster's centre
    a = next(i for i in seeds if kinds[i] != kinds[0])
    assert not np.array_equal(np.asarray(s.generate(a, psi=0.0)), np.asarray(s.generate(0, psi=0.0)))
    # mixed layers go toward the centre of the seed they came from
    mixed = s.ws_for([s.recipe(0, psi=0.0, mix_seed=a, mix_layers=(0, 2))])[0]
    assert torch.equal(mixed[:2], centres[a].expand(2, -1)) and torch.equal(mixed[2:], centres[0].expand(4, -1))
    # a walk's keyframes are the seeds' own images, in z and in w
    for space in ("z", "w"):
        frames = list(s.walk([0, a], frames_per_segment=3, psi=0.5, space=space))
        for f, seed in ((0, 0), (3, a)):
            assert np.array_equal(np.asarray(frames[f]), np.asarray(s.generate(seed, psi=0.5))), (space, f)
    # a projected picture has no seed, so it goes toward the mean w
    latent = encode_latent(w[:1])
    assert torch.equal(s.ws_for([s.recipe(0, psi=0.0, latent=latent)])[0, 0], G.w_avg)
    for seed in (0, a):  # what the page truncates toward
        w0, centre = s.seed_w(seed)
        assert torch.equal(centre, centres[seed])
        assert torch.allclose(w0, s.ws_for([s.recipe(seed, psi=1.0)])[0, :1], atol=1e-5)


def test_seeds_of_a_kind_are_the_seeds_whose_z_falls_in_its_region(clusters_ckpt, session_ckpt):
    s = Sampler.load(str(clusters_ckpt), device="cpu")
    shares = s.kind_shares
    assert len(shares) == 4 and sum(shares) == pytest.approx(1.0) and min(shares) > 0.05
    kinds = s.kinds_of(range(200))
    assert kinds == s.G.mapping_net.classes_of(torch.cat([seed_to_z(i, 32) for i in range(200)])).tolist()
    for kind in range(4):
        expect = [i for i in range(50, 200) if kinds[i] == kind][:6]
        assert s.seeds_of_kind(kind, 50, 6) == expect
    assert s.seeds_of_kind(None, 7, 3) == [7, 8, 9]
    with pytest.raises(ValueError, match="kind must be in \\[0, 3\\], got 4"):
        s.seeds_of_kind(4, 0, 6)
    with pytest.raises(ValueError, match="tiny has no kinds: it was trained without --clusters"):
        Sampler.load(str(session_ckpt), device="cpu").seeds_of_kind(0, 0, 6)
    assert Sampler.load(str(session_ckpt), device="cpu").kind_shares == []
    # a kind almost no z falls in: what the search finds, or a clear error when it finds none
    with torch.no_grad():
        s.G.mapping_net.class_bias[3] = -40.0
    with pytest.raises(ValueError, match="no seed of kind 3 among seeds 0 to 65535: try a later first seed"):
        s.seeds_of_kind(3, 0, 6)
    with pytest.raises(ValueError, match=f"no seed of kind 3 among seeds {2**32 - 9} to {2**32 - 1} \\(the last"):
        s.seeds_of_kind(3, 2**32 - 9, 6)

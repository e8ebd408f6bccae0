import pytest
import torch
from conftest import tiny_config, tiny_generator

from ganart.models import Discriminator, Generator, grown_state, truncate


def test_generator_shapes_and_range():
    G = tiny_generator().eval()
    z = torch.randn(3, G.cfg.z_dim)
    with torch.no_grad():
        ws = G.mapping(z)
        assert ws.shape == (3, G.num_ws, G.cfg.w_dim)
        img = G.synthesis(ws)
    assert img.shape == (3, 3, 16, 16)
    assert torch.isfinite(img).all()


def test_truncation_moves_toward_w_avg():
    G = tiny_generator().eval()
    z = torch.randn(2, G.cfg.z_dim)
    with torch.no_grad():
        w1 = G.mapping(z, psi=1.0)[:, 0]
        w0 = G.mapping(z, psi=0.0)[:, 0]
        wh = G.mapping(z, psi=0.5)[:, 0]
    assert torch.allclose(w0, G.w_avg.expand_as(w0), atol=1e-6)
    assert torch.allclose(wh, truncate(w1, G.w_avg, 0.5), atol=1e-6)


def test_per_layer_ws_matter():
    """Changing the w of one layer changes the image: ws really are per layer."""
    G = tiny_generator().eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.cfg.z_dim)).clone()
        a = G.synthesis(ws)
        ws[:, G.num_ws - 1] += 1.0
        b = G.synthesis(ws)
    assert not torch.equal(a, b)


def test_training_mode_backprop_with_random_noise():
    G = tiny_generator().train()
    D = Discriminator(tiny_config())
    g = torch.Generator().manual_seed(1)
    img = G.synthesis(G.mapping(torch.randn(4, G.cfg.z_dim)), noise_mode="random", generator=g)
    loss = D(img).mean()
    loss.backward()
    grads = [p.grad for p in G.parameters()]
    assert all(gr is not None for gr in grads)
    assert D(img.detach()).shape == (4, 1)


def test_inference_cache_follows_weight_changes():
    G = tiny_generator().eval().requires_grad_(False)
    z = torch.randn(1, G.cfg.z_dim)
    with torch.inference_mode():
        before = G(z)
    G.load_state_dict(tiny_generator(seed=5).state_dict())
    fresh = tiny_generator(seed=5).eval().requires_grad_(False)
    with torch.inference_mode():
        after = G(z)
        expected = fresh(z)
    assert not torch.equal(before, after)
    assert torch.equal(after, expected)


def test_no_grad_output_matches_training_path():
    """The fused inference path computes the same function as the autograd path."""
    G = tiny_generator().eval()
    z = torch.randn(2, G.cfg.z_dim)
    with torch.inference_mode():
        fast = G(z)
    slow = G(z).detach()
    assert torch.allclose(fast, slow, atol=1e-5)


def test_batch_invariance_on_cpu():
    """A sample's pixels do not depend on the rest of its batch."""
    G = Generator(tiny_config()).eval().requires_grad_(False)
    z = torch.randn(5, G.cfg.z_dim)
    with torch.inference_mode():
        full = G(z)
        single = torch.cat([G(z[i : i + 1]) for i in range(5)])
        pairs = torch.cat([G(z[i : i + 2]) for i in range(0, 4, 2)] + [G(z[4:])])
    assert torch.equal(full, single)
    assert torch.equal(full, pairs)


def test_discriminator_minibatch_std_odd_batch():
    D = Discriminator(tiny_config())
    assert D(torch.randn(3, 3, 16, 16)).shape == (3, 1)


def grown_generator(wide_cfg, seed: int):
    """A tiny G grown into ``wide_cfg``, checked to compute the same images; (small, wide, ws)."""
    small = tiny_generator(use_noise=True).eval()
    assert small.cfg.growth_problem(wide_cfg) is None
    wide = Generator(wide_cfg)
    wide.load_state_dict(grown_state(small.state_dict(), wide))
    wide.eval()
    ws = small.mapping(torch.randn(4, small.cfg.z_dim, generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        for mode in ("const", "none"):
            assert torch.allclose(wide.synthesis(ws, mode), small.synthesis(ws, mode), atol=1e-5)
    return small, wide, ws


def test_grown_model_computes_the_same_function_and_its_new_channels_train():
    wide_cfg = tiny_config(use_noise=True, channel_base=512)
    small, wide, ws = grown_generator(wide_cfg, seed=1)
    assert wide_cfg.channels(16) == 2 * small.cfg.channels(16)  # the 16 px layers really grew
    torch.manual_seed(0)
    d_small = Discriminator(small.cfg)
    d_wide = Discriminator(wide_cfg)
    d_wide.load_state_dict(grown_state(d_small.state_dict(), d_wide))
    img = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(d_wide(img), d_small(img), atol=1e-5)
    assert sum(p.numel() for p in d_wide.parameters()) > sum(p.numel() for p in d_small.parameters())
    # the new input columns start at zero but get gradients, so the new channels can learn
    conv = wide.synthesis_net.blocks[-1].conv1
    assert conv.weight[:, small.cfg.channels(16):].abs().sum() == 0
    wide.train()
    wide.synthesis(ws.detach(), "random").square().mean().backward()
    assert conv.weight.grad[:, small.cfg.channels(16):].abs().sum() > 0


def test_growing_the_4px_level_keeps_the_function_and_the_new_constant_channels_train():
    wide_cfg = tiny_config(use_noise=True, channel_max=64, channel_base=512, d_channel_max=32)
    small, wide, ws = grown_generator(wide_cfg, seed=2)
    assert (wide_cfg.channels(4), small.cfg.channels(4)) == (64, 32)
    assert wide_cfg.d_channels(4) == small.cfg.d_channels(4)
    old, new = small.synthesis_net.blocks[0].const, wide.synthesis_net.blocks[0].const
    assert torch.equal(new[:, :32], old)  # copied unscaled: the constant is not a weight
    assert new[:, 32:].abs().sum() > 0  # fresh channels, so the zero columns they feed can learn
    conv = wide.synthesis_net.blocks[0].conv1
    wide.train()
    wide.synthesis(ws.detach(), "random").square().mean().backward()
    assert conv.weight[:, 32:].abs().sum() == 0
    assert conv.weight.grad[:, 32:].abs().sum() > 0


def test_growing_one_middle_level_with_g_channels_keeps_the_function():
    # only 8 px widens: no channel_base formula does that
    _, wide, ws = grown_generator(tiny_config(use_noise=True, g_channels=(32, 64, 16)), seed=3)
    block8, block16 = wide.synthesis_net.blocks[1], wide.synthesis_net.blocks[2]
    assert block8.conv1.weight.shape[:2] == (64, 64) and block16.conv0.weight.shape[:2] == (16, 64)
    wide.train()
    wide.synthesis(ws.detach(), "random").square().mean().backward()
    # the 16 px block reads the new 8 px channels through zero columns that get gradients
    assert block16.conv0.weight[:, 32:].abs().sum() == 0
    assert block16.conv0.weight.grad[:, 32:].abs().sum() > 0


def test_grown_state_refuses_tensors_that_do_not_fit():
    wide = tiny_generator(channel_base=512)
    with pytest.raises(ValueError, match="does not fit"):
        tiny_generator().load_state_dict(grown_state(wide.state_dict(), tiny_generator()))
    with pytest.raises(ValueError, match="tensors missing"):
        grown_state(tiny_generator().state_dict(), tiny_generator(use_noise=False))

"""Differentiable augmentations: identity at p = 0, seeded, gradients flow, geometry is right."""

import math

import pytest
import torch
import torch.nn.functional as F

from ganart.training.augment import POLICIES, augment, geom


def images(b: int = 8, res: int = 16) -> torch.Tensor:
    return torch.rand(b, 3, res, res, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.mark.parametrize("policy", POLICIES)
def test_p0_is_identity_and_p1_changes_the_images(policy):
    x = images()
    assert torch.equal(augment(x, 0.0, (policy,), torch.Generator().manual_seed(0)), x)
    y = augment(x, 1.0, (policy,), torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.isfinite(y).all()
    changed = (y - x).abs().flatten(1).amax(1) > 1e-4
    # translation may draw a (0, 0) shift for an image (1 in 25 at 16 px); nothing else may
    assert changed.sum() >= (7 if policy == "translation" else 8), f"{policy}: {changed.tolist()}"


@pytest.mark.parametrize("policy", POLICIES)
def test_same_generator_state_same_result_and_gradients_reach_the_input(policy):
    x = images().requires_grad_(True)
    a = augment(x, 0.7, (policy,), torch.Generator().manual_seed(3))
    b = augment(x, 0.7, (policy,), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    (g,) = torch.autograd.grad(a.square().sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_geom_uses_the_generator_the_same_way_at_any_p():
    # resume exactness: the draws consumed must not depend on p (ADA moves p between steps)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    geom(images(), 0.1, g1)
    geom(images(), 0.9, g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_geom_keeps_untouched_images_exact_and_mirrors_borders():
    x = images(64)
    y = geom(x, 0.3, torch.Generator().manual_seed(0))
    same = (y == x).flatten(1).all(1)
    # P(no transform drawn) = 0.7^3 = 0.34; those are returned as they were, not resampled
    assert 0.1 < same.float().mean() < 0.6
    flat = torch.full((4, 3, 16, 16), 0.25)  # a flat image stays flat under any rotation/scale
    assert torch.allclose(geom(flat, 1.0, torch.Generator().manual_seed(0)), flat, atol=1e-6)


def test_geom_rotates_about_the_centre():
    # a bright dot right of centre must land on the circle of the same radius, at other angles
    res = 33
    x = -torch.ones(64, 1, res, res)
    x[:, :, 16, 24] = 1.0
    y = geom(x, 1.0, torch.Generator().manual_seed(0), log2_std=0.0)  # rotation only
    cy, cx = torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    w = F.relu(y[:, 0] + 1)  # brightness above the background
    my = (w * cy).sum((1, 2)) / w.sum((1, 2)) - 16
    mx = (w * cx).sum((1, 2)) / w.sum((1, 2)) - 16
    radius = (my.square() + mx.square()).sqrt()
    assert torch.allclose(radius, torch.full_like(radius, 8.0), atol=1.0)
    angles = torch.atan2(my, mx)
    assert angles.max() - angles.min() > math.pi  # spread over the circle, not one direction

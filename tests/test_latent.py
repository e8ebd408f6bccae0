import math

import numpy as np
import pytest
import torch

from ganart.latent import (
    MAX_SEED,
    apply_edits,
    check_int,
    check_seed,
    layer_slice,
    mix_ws,
    pca_directions,
    seed_to_z,
    sefa_directions,
    slerp,
)
from ganart.recipe import check_edits


def test_seed_to_z_is_deterministic_and_seed_specific():
    assert torch.equal(seed_to_z(7, 16), seed_to_z(7, 16))
    assert not torch.equal(seed_to_z(7, 16), seed_to_z(8, 16))
    assert seed_to_z(MAX_SEED, 4).shape == (1, 4)


@pytest.mark.parametrize("bad", [-1, MAX_SEED + 1, 1.5, "3", None, float("nan"), True])
def test_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        check_seed(bad)


def test_integral_float_seed_is_accepted():
    assert check_seed(5.0) == 5


def test_check_int_takes_numpy_ints_and_returns_python_ints():
    # numpy ints were taken as seeds but refused as layer indices and frame counts
    for v in (np.int64(4), np.uint8(4), 4.0, np.float32(4.0)):
        out = check_int("n", v, 1, 8)
        assert out == 4 and type(out) is int
    assert check_int("n", -7) == -7  # no bounds given: any whole number


@pytest.mark.parametrize("bad", [1.5, "4", b"4", True, None, float("nan"), float("inf"), [4]])
def test_check_int_rejects_what_is_not_a_whole_number(bad):
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 8\], got"):
        check_int("n", bad, 1, 8)


def test_check_int_names_the_range():
    with pytest.raises(ValueError, match=r"n must be in \[1, 8\], got 9"):
        check_int("n", np.int64(9), 1, 8)


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(1, 64), torch.randn(1, 64)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    lo, hi = sorted([a.norm().item(), b.norm().item()])
    assert lo - 1e-3 <= mid.norm().item() <= hi + 1e-3  # stays on the shell, unlike lerp
    assert torch.allclose(slerp(a, a, 0.3), a, atol=1e-5)  # parallel: no NaN


def test_sefa_directions_are_orthonormal_eigvecs():
    torch.manual_seed(0)
    weights = [torch.randn(8, 16), torch.randn(4, 16)]
    d = sefa_directions(weights, 5)
    assert d.shape == (5, 16)
    assert torch.allclose(d @ d.t(), torch.eye(5), atol=1e-5)
    a = torch.cat([w / w.norm(dim=1, keepdim=True) for w in weights])
    energies = ((a @ d.t()) ** 2).sum(0)
    assert torch.all(energies[:-1] >= energies[1:] - 1e-5)  # sorted by importance


def test_pca_recovers_dominant_axis():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5000, 8, generator=g) * torch.tensor([5.0, 1, 1, 1, 1, 1, 1, 0.1])
    d, std = pca_directions(w, 3)
    assert abs(d[0, 0].item()) > 0.99
    assert math.isclose(std[0].item(), 5.0, rel_tol=0.05)
    assert d[0, 0] > 0  # canonical sign


def test_edits_apply_only_to_layer_range():
    ws = torch.zeros(1, 6, 4)
    dirs, stds = torch.eye(4), torch.tensor([2.0, 1, 1, 1])
    out = apply_edits(ws, {0: 1.5}, dirs, stds, layer_slice((2, 4), 6))
    assert torch.equal(out[0, 2:4, 0], torch.tensor([3.0, 3.0]))
    assert out[0, :2].abs().sum() == 0 and out[0, 4:].abs().sum() == 0
    assert torch.equal(apply_edits(ws, {}, dirs, stds, slice(0, 6)), ws)


def test_mix_ws():
    a, b = torch.zeros(1, 5, 2), torch.ones(1, 5, 2)
    m = mix_ws(a, b, layer_slice((1, 3), 5))
    assert m[0, :, 0].tolist() == [0, 1, 1, 0, 0]


@pytest.mark.parametrize("bad", [(3, 3), (-1, 2), (0, 99), (2, 1), "0-3", (0.5, 2), None.__class__])
def test_layer_slice_rejects(bad):
    with pytest.raises(ValueError, match="layers"):
        layer_slice(bad, 10)


def test_check_edits():
    assert check_edits({"2": 1, 0: -0.5, 3: 0}) == {0: -0.5, 2: 1.0}
    assert check_edits({31: 1.0}) == {31: 1.0}  # the last direction
    for bad, msg in [
        ({0: float("nan")}, "finite"),
        ({0: float("inf")}, "finite"),
        ({0: 1e9}, r"\[-20.0, 20.0\]"),
        ({-1: 1}, "index"),
        ({99: 1}, "index"),
        ({32: 1}, r"edit direction index must be in \[0, 31\], got 32"),  # one past the last
        ({"x": 1}, "integer"),
        ({0: "big"}, "number"),
        ([1, 2], "dict"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_edits(bad)

"""The promise of a recipe, pinned: today's latents and pixels against the stored references
(tests/golden/, written only by `python tests/golden.py --write`, which prints what changed).

Exact pixels are promised per device: on a CPU whose kernels differ from the references'
(AVX2 against AVX-512), a render may differ by one level in a few pixels, and no more."""

from __future__ import annotations

import numpy as np
import pytest
from golden import GOLDEN, RECIPES, WALKS, compute, cpu_capability, differences, pixels_sha, stored
from PIL import Image

from ganart.latent import seed_to_z

REF = stored()
SAME_KERNELS = REF["cpu_capability"] == cpu_capability()


@pytest.fixture(scope="module")
def today():
    return compute()


def test_seed_to_z_is_the_stored_stream():
    for seed, values in REF["seed_to_z"].items():
        z = seed_to_z(int(seed), 256)[0, : len(values)].tolist()
        assert np.allclose(z, values, rtol=0, atol=0 if SAME_KERNELS else 1e-6), seed


def test_the_references_cover_every_part_of_a_recipe():
    used = {key for kwargs in RECIPES.values() for key in kwargs} | {"space", "frame"}
    assert {"seed", "psi", "edits", "method", "layers", "mix_seed", "mix_layers"} <= used
    assert {w["space"] for w in WALKS.values()} == {"z", "w"}
    for name, r in REF["renders"].items():  # the stored PNGs are the stored hashes
        assert pixels_sha(Image.open(GOLDEN / r["png"]).convert("RGB")) == r["sha256"], name


def test_renders_are_the_stored_pixels(today):
    record, images = today
    assert record["checkpoint_sha256"] == REF["checkpoint_sha256"], (
        "the shipped checkpoint changed: look at the new renders, then `python tests/golden.py --write`")
    assert record["recipe_version"] == REF["recipe_version"]
    assert set(images) == set(REF["renders"])
    if SAME_KERNELS:
        assert not differences(REF, record), "\n".join(differences(REF, record))
        return
    for name, image in images.items():  # other kernels: at most one level, in at most 0.5 % of values
        got = np.asarray(image).astype(int)
        want = np.asarray(Image.open(GOLDEN / REF["renders"][name]["png"]).convert("RGB")).astype(int)
        diff = np.abs(got - want)
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.005, (name, diff.max(), (diff > 0).mean())

import hashlib
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ganart import Recipe, Sampler
from ganart.images import save_animation
from ganart.limits import MAX_BATCH, MAX_FRAMES
from ganart.recipe import save_png


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


def render_concurrently(batcher, recipes: list[Recipe]) -> list:
    """Each recipe rendered through ``batcher`` from its own thread, all at once: the image, or
    the ValueError that caller got."""
    from concurrent.futures import ThreadPoolExecutor

    def call(r):
        try:
            return batcher.render(r)
        except ValueError as e:
            return e

    with ThreadPoolExecutor(len(recipes)) as pool:
        return list(pool.map(call, recipes))


def test_generate_is_deterministic_and_seed_dependent(sampler):
    a, b = sampler.generate(1), sampler.generate(1)
    assert a.size == (16, 16) and a.mode == "RGB"
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(sampler.generate(2)))
    assert not np.array_equal(pixels(a), pixels(sampler.generate(1, psi=0.2)))


def test_same_pixels_across_processes(session_ckpt, sampler):
    code = (
        "import hashlib,sys,numpy as np; from ganart import Sampler;"
        "s=Sampler.load(sys.argv[1], device='cpu');"
        "print(hashlib.sha256(np.asarray(s.generate(123, psi=0.5, edits={1: 2.0})).tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(session_ckpt)], capture_output=True, text=True, check=True)
    here = hashlib.sha256(pixels(sampler.generate(123, psi=0.5, edits={1: 2.0})).tobytes()).hexdigest()
    assert out.stdout.strip() == here


def test_batch_equals_single(sampler):
    seeds = [0, 5, 9, 2**32 - 1]
    batch = sampler.generate_batch(seeds, psi=0.9)
    for s, im in zip(seeds, batch):
        assert np.array_equal(pixels(im), pixels(sampler.generate(s, psi=0.9)))


def test_threads_give_the_same_images(sampler):
    seeds = list(range(8))
    expected = {s: pixels(sampler.generate(s, edits={0: 1.0})) for s in seeds}
    results: dict[int, list[np.ndarray]] = {s: [] for s in seeds}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                results[seed].append(pixels(sampler.generate(seed, edits={0: 1.0})))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for s in seeds:
        assert len(results[s]) == 5
        assert all(np.array_equal(r, expected[s]) for r in results[s])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seed=-1), "seed"),
        (dict(seed=2**32), "seed"),
        (dict(seed="7"), "seed"),
        (dict(seed=1, psi=float("nan")), "psi"),
        (dict(seed=1, psi=2.5), "psi"),
        (dict(seed=1, psi="x"), "psi"),
        (dict(seed=1, edits={0: float("inf")}), "finite"),
        (dict(seed=1, edits={0: 100.0}), "edit amount"),
        (dict(seed=1, edits={32: 1.0}), "index"),  # the tiny model has 32 directions: 0-31
        (dict(seed=1, layers=(0, 99)), "layers"),
        (dict(seed=1, layers=(4, 2)), "layers"),
        (dict(seed=1, method="ica"), "method"),
    ],
)
def test_generate_rejects_bad_arguments(sampler, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampler.generate(**kwargs)


def test_last_direction_index_is_valid(sampler):
    assert sampler.num_directions == 32
    assert sampler.generate(1, edits={31: 1.0}).size == (16, 16)


def test_edits_change_only_what_they_should(sampler):
    base = pixels(sampler.generate(4))
    edited = pixels(sampler.generate(4, edits={0: 3.0}))
    assert not np.array_equal(base, edited)
    assert np.array_equal(base, pixels(sampler.generate(4, edits={0: 0.0})))
    # edits confined to the last layer (toRGB) change colour, not the feature maps: still differs
    fine = pixels(sampler.generate(4, edits={0: 3.0}, layers=(sampler.num_ws - 1, sampler.num_ws)))
    assert not np.array_equal(base, fine) and not np.array_equal(edited, fine)


def test_directions_are_stable_across_loads(session_ckpt, sampler):
    other = Sampler.load(session_ckpt, device="cpu")
    for method in ("sefa", "pca"):
        d1, s1 = sampler.directions(method)
        d2, s2 = other.directions(method)
        assert d1.shape == (32, 32)
        assert np.array_equal(d1.numpy(), d2.numpy()) and np.array_equal(s1.numpy(), s2.numpy())
        assert (s1 > 0).all()


def test_mix(sampler):
    n = sampler.num_ws
    a, b = pixels(sampler.generate(10)), pixels(sampler.generate(11))
    assert np.array_equal(pixels(sampler.mix(10, 11, (0, n))), b)  # all layers from B -> B
    child = pixels(sampler.mix(10, 11, "coarse"))
    assert not np.array_equal(child, a) and not np.array_equal(child, b)
    with pytest.raises(ValueError, match="coarse"):
        sampler.mix(10, 11, "medium")
    with pytest.raises(ValueError, match="seed_b"):
        sampler.mix(10, -3, "fine")


def test_walk_yields_frames_lazily(sampler, tmp_path):
    it = sampler.walk([1, 2, 3], frames_per_segment=4, loop=True)
    first = next(it)  # a generator: frames come one at a time
    frames = [first, *it]
    assert len(frames) == 12
    assert len({pixels(f).tobytes() for f in frames}) > 6
    open_walk = list(sampler.walk([1, 2], frames_per_segment=3, loop=False, space="w"))
    assert len(open_walk) == 4
    assert np.array_equal(pixels(open_walk[0]), pixels(sampler.generate(1)))  # lerp t=0 is exact in w
    for suffix in (".gif", ".webp"):
        path = save_animation(frames, tmp_path / f"walk{suffix}", fps=10)
        with Image.open(path) as im:
            assert im.n_frames == 12


@pytest.mark.parametrize(
    "args, message",
    [
        (([1], 4), "keyframes"),
        (([1, 2], 0), "frames_per_segment"),
        (([1, 2], 10_000), "frames_per_segment"),
        ((list(range(60)), 240), f"over the {MAX_FRAMES}"),
        (([1, -2], 4), "seed"),
    ],
)
def test_walk_rejects_bad_arguments(sampler, args, message):
    with pytest.raises(ValueError, match=message):
        sampler.walk(*args)


def test_numpy_ints_work_as_layers_and_frame_counts(sampler):
    # they were refused: "layers must be a pair of integers, got (0, np.int64(2))"
    r = sampler.recipe(np.int64(3), edits={np.int64(0): 2.0}, layers=(np.int64(0), np.int64(2)))
    assert r.layers == (0, 2) and all(type(v) is int for v in r.layers)
    assert Recipe.from_json(r.to_json()) == r  # plain ints, so it serialises
    assert np.array_equal(pixels(sampler.render(r)), pixels(sampler.generate(3, edits={0: 2.0}, layers=(0, 2))))
    assert len(list(sampler.walk(np.array([1, 2]), frames_per_segment=np.int64(2)))) == 4


def test_batch_limits(sampler):
    with pytest.raises(ValueError, match="batch"):
        sampler.generate_batch([])
    with pytest.raises(ValueError, match="batch"):
        sampler.generate_batch(range(MAX_BATCH + 1))
    too_many = [sampler.recipe(0)] * (MAX_BATCH + 1)  # render_many's own check, for any caller
    with pytest.raises(ValueError, match=f"a batch holds 1 to {MAX_BATCH} images, got {MAX_BATCH + 1}"):
        sampler.render_many(too_many)
    with pytest.raises(ValueError, match="a batch holds 1 to"):
        sampler.render_many([])
    grid = sampler.grid([0, 1, 2, 3, 4], cols=3)
    assert grid.size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)


def test_recipe_png_round_trip_is_bit_identical(sampler, tmp_path):
    im = sampler.mix(21, 22, "fine", psi=0.6)
    edited = sampler.render(Recipe(
        seed=21, psi=0.6, edits={2: -1.5}, layers=(1, 5), mix_seed=22,
        mix_layers=sampler.layer_groups()["fine"], sha256=sampler.sha256,
    ))
    for image in (im, edited):
        path = save_png(image, tmp_path / "x.png")
        recipe = Recipe.from_png(path)
        again = sampler.render(recipe)
        assert np.array_equal(pixels(again), pixels(image))
        with Image.open(path) as reread:
            assert np.array_equal(pixels(reread), pixels(image))
    assert Recipe.from_png(tmp_path / "x.png").edits == {2: -1.5}


def test_recipe_json_round_trip_and_validation():
    r = Recipe(seed=3, psi=1.2, edits={1: 0.5}, layers=(0, 4), mix_seed=9, mix_layers=(4, 8))
    assert Recipe.from_json(r.to_json()) == r
    for text, message in [
        ('{"seed": 1, "evil": 2}', "unknown recipe keys"),
        ('{"psi": 1}', "needs a seed"),
        ('{"seed": 1, "psi": NaN}', "psi"),
        ('{"seed": 1, "mix_seed": 4}', "mix_layers"),
        ('{"seed": 1, "version": 99}', "version"),
        ("not json", "JSON"),
    ]:
        with pytest.raises(ValueError, match=message):
            Recipe.from_json(text)


def test_recipe_from_bad_pngs(tmp_path):
    jpg = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(jpg, format="JPEG")
    with pytest.raises(ValueError, match="not a PNG"):
        Recipe.from_png(jpg)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    with pytest.raises(ValueError, match="carries no ganart recipe"):
        Recipe.from_png(plain)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ValueError, match="not a readable image"):
        Recipe.from_png(corrupt)
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(ValueError, match="larger than 10 MB"):
        Recipe.from_png(huge)
    with pytest.raises(ValueError, match="no such file"):
        Recipe.from_png(tmp_path / "missing.png")


def test_render_refuses_recipe_from_another_checkpoint(sampler):
    r = Recipe(seed=1, sha256="0" * 64, checkpoint="other")
    with pytest.raises(ValueError, match="made with checkpoint other"):
        sampler.render(r)


def test_render_batcher_merges_threads_and_isolates_errors(sampler):

    from ganart.batching import RenderBatcher

    batcher = RenderBatcher(sampler, max_batch=8, window_s=0.05)
    recipes = [sampler.recipe(s) for s in range(12)]
    results = render_concurrently(batcher, recipes + [Recipe(seed=1, layers=(3, 99))])
    assert isinstance(results[-1], ValueError) and "layers" in str(results[-1])
    for r, im in zip(recipes, results[:-1]):
        assert np.array_equal(pixels(im), pixels(sampler.render(r)))
    assert max(batcher.batches) > 1  # concurrent calls really shared forward passes
    assert sum(batcher.batches) == len(recipes)  # the bad one failed in its caller, never joined a batch
    with pytest.raises(ValueError, match="max_batch"):
        RenderBatcher(sampler, max_batch=0)


def test_render_batcher_close_stops_its_thread_and_late_callers_still_get_images(sampler):
    """A batcher's worker thread held its Sampler forever: close() ends it once the queued
    renders are served, and a request that races the close renders alone instead of hanging."""
    from ganart.batching import RenderBatcher

    batcher = RenderBatcher(sampler, max_batch=4)
    r = sampler.recipe(5)
    assert np.array_equal(pixels(batcher.render(r)), pixels(sampler.render(r)))
    batcher.close()
    batcher._worker.join(timeout=5)
    assert not batcher._worker.is_alive()
    assert np.array_equal(pixels(batcher.render(r)), pixels(sampler.render(r)))
    batcher.close()  # twice is fine


def test_seed_images_spans_batches_and_matches_single_renders(sampler):
    """More seeds than one batch holds (benchmarks/diversity.py --n 300 used to raise)."""
    imgs = sampler.seed_images(MAX_BATCH + 2, psi=1.0)
    assert imgs.shape[0] == MAX_BATCH + 2 and imgs.dtype == np.uint8 and imgs.shape[-1] == 3
    last = np.asarray(sampler.generate(MAX_BATCH + 1, psi=1.0).convert("RGB"))
    assert np.array_equal(imgs[-1], last)


def test_a_batch_of_mixes_gives_each_recipe_its_own_mix_seed(sampler):
    """Batched mixes with different mix seeds, image by image against single renders (every
    mix once took the first mix seed of its batch)."""
    recipes = [sampler.recipe(s, mix_seed=m, mix_layers=(0, 3)) for s, m in ((1, 10), (2, 20), (3, 30))]
    recipes.insert(1, sampler.recipe(4))  # a plain recipe between mixes
    batch = sampler.render_many(recipes)
    singles = [pixels(sampler.render(r)) for r in recipes]
    for i, (im, single) in enumerate(zip(batch, singles)):
        assert np.array_equal(pixels(im), single), i
    assert not np.array_equal(singles[2], pixels(sampler.render(sampler.recipe(2, mix_seed=10, mix_layers=(0, 3)))))


def test_every_image_of_a_batch_over_one_chunk_is_its_own(sampler):
    """synthesize() renders in chunks of 32: all 70 images of a batch, in order."""
    seeds = list(range(100, 170))
    batch = sampler.generate_batch(seeds, psi=0.9)
    for seed, im in zip(seeds, batch):
        assert np.array_equal(pixels(im), pixels(sampler.generate(seed, psi=0.9))), seed


def test_pca_and_sefa_edits_are_different_directions(sampler):
    base = pixels(sampler.generate(3))
    sefa, pca = (pixels(sampler.generate(3, edits={0: 3.0}, method=m)) for m in ("sefa", "pca"))
    assert not np.array_equal(sefa, base) and not np.array_equal(pca, base) and not np.array_equal(sefa, pca)
    dirs = {m: sampler.directions(m)[0] for m in ("sefa", "pca")}
    assert not torch.allclose(dirs["sefa"], dirs["pca"])


def test_render_batcher_isolates_a_recipe_that_fails_its_whole_batch(sampler):
    """A recipe from another checkpoint fails render_many for the batch it lands in; the
    batcher then renders each alone: only that caller gets the error."""

    from ganart.batching import RenderBatcher

    batcher = RenderBatcher(sampler, max_batch=8, window_s=0.2)
    good = [sampler.recipe(s) for s in range(5)]
    results = render_concurrently(batcher, good + [Recipe(seed=1, sha256="0" * 64, checkpoint="other")])
    batcher.close()
    assert max(batcher.batches) == 6  # all six shared one batch, the alien one included
    assert isinstance(results[-1], ValueError) and "recipe was made with checkpoint other" in str(results[-1])
    for r, im in zip(good, results[:-1]):
        assert isinstance(im, Image.Image) and np.array_equal(pixels(im), pixels(sampler.render(r)))

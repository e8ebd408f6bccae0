import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shapes import make_shapes

from ganart.training.data import (
    DataError,
    ImageBatches,
    Preprocess,
    export_dataset,
    list_images,
    load_dataset,
    load_emoji,
    load_folder,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))


def test_mixed_formats_and_bad_files(tmp_path):
    d = make_shapes(tmp_path / "imgs", n=4)
    rgba = Image.new("RGBA", (30, 20), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(d / "transparent.png")
    Image.new("L", (16, 16), 40).save(d / "grey.jpg")
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (16, 16), "green").save(d / "pic.webp")
    Image.new("RGB", (16, 16), "yellow").save(d / "pic.bmp")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    (d / "notes.txt").write_text("ignored: not an image suffix")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\).*broken.png"):
        arr = load_folder(d, Preprocess(resolution=16, background="#00ff00"))
    assert arr.shape == (9, 16, 16, 3) and arr.dtype == np.uint8
    names = [p.name for p in list_images(d) if p.name != "broken.png"]  # the loader's order
    transparent = arr[names.index("transparent.png")]
    green = np.array([0, 255, 0])
    assert np.abs(transparent[8, 8].astype(int) - green).max() <= 4  # alpha composited on the background
    assert np.abs(transparent[0, 8].astype(int) - green).max() <= 4  # padded (30x20 -> square) with it too
    assert tuple(arr[names.index("grey.jpg")][4, 4]) == (40, 40, 40)  # greyscale -> RGB
    assert tuple(arr[names.index("anim.gif")][4, 4])[0] > 200  # first frame (red)


def test_crop_vs_pad(tmp_path):
    d = tmp_path / "wide"
    d.mkdir()
    im = Image.new("RGB", (40, 20), "white")
    im.paste((0, 0, 0), (0, 0, 10, 20))  # black band on the left edge
    im.save(d / "wide.png")
    padded = load_folder(d, Preprocess(resolution=16, fit="pad"))[0]
    cropped = load_folder(d, Preprocess(resolution=16, fit="crop"))[0]
    assert padded[8, 0].max() < 60  # the band survives padding
    assert cropped[8, 0].min() > 200  # and is cut off by a centre crop


def test_cache_is_used_and_keyed_by_content(tmp_path):
    d = make_shapes(tmp_path / "imgs", n=3)
    pre = Preprocess(resolution=16)
    a = load_folder(d, pre)
    cache_files = list((tmp_path / "cache" / "datasets").glob("*.npy"))
    assert len(cache_files) == 1
    assert np.array_equal(np.load(cache_files[0]), a)
    # a second load reads the cache (the file is not rewritten)
    mtime = cache_files[0].stat().st_mtime_ns
    assert np.array_equal(load_folder(d, pre), a)
    assert cache_files[0].stat().st_mtime_ns == mtime
    # changing one image's content gives a new key
    Image.new("RGB", (24, 24), "black").save(next(d.glob("*.png")))
    b = load_folder(d, pre)
    assert len(list((tmp_path / "cache" / "datasets").glob("*.npy"))) == 2
    assert not np.array_equal(a, b)
    # a corrupt cache file is rebuilt, not trusted
    newest = max((tmp_path / "cache" / "datasets").glob("*.npy"), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(b"junk")
    assert np.array_equal(load_folder(d, pre), b)
    assert np.array_equal(np.load(newest), b)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_folder(tmp_path / "empty")
    bad = tmp_path / "allbad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="none of the 1 image files could be read"):
            load_folder(bad)
    with pytest.raises(DataError, match="fit"):
        Preprocess(fit="stretch")
    with pytest.raises(DataError, match="background"):
        Preprocess(background="not-a-colour")


def test_emoji_missing_font_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("GANART_EMOJI_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(DataError, match="fonts-noto-color-emoji"):
        load_emoji()


def test_emoji_dataset_from_the_debian_font():
    from pathlib import Path

    from ganart.training.data import EMOJI_FONT, emoji_pngs

    if not Path(EMOJI_FONT).is_file():
        pytest.skip("fonts-noto-color-emoji is not installed (.ci/run installs it)")
    assert len(emoji_pngs(Path(EMOJI_FONT))) == 3926
    arr = load_dataset("emoji", Preprocess(resolution=16))
    assert arr.shape == (3926, 16, 16, 3)
    assert arr[:, 0, 0].mean() > 240  # composited on white, padded with white


def test_image_batches_are_seeded(tmp_path):
    import torch

    arr = load_folder(make_shapes(tmp_path / "imgs", n=6), Preprocess(resolution=16))
    a = ImageBatches(arr, torch.device("cpu"), seed=1, mirror=True).sample(5)
    b = ImageBatches(arr, torch.device("cpu"), seed=1, mirror=True).sample(5)
    assert a.shape == (5, 3, 16, 16) and torch.equal(a, b)
    assert -1.0 <= a.min() and a.max() <= 1.0
    # the set is held once: the batches' source shares the array's memory (it was a
    # channels-first copy), and each plain batch is training images, channels first, in [-1, 1]
    plain = ImageBatches(arr, torch.device("cpu"), seed=2)
    assert plain.images.data_ptr() == arr.ctypes.data
    real = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1
    for x in plain.sample(8):
        assert x.is_contiguous() and any(torch.equal(x, r) for r in real)


def test_export_writes_what_training_sees_and_refuses_to_overwrite(tmp_path):
    from ganart.training.data import export_dataset

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    Image.new("RGBA", (40, 20), (255, 0, 0, 128)).save(src / "a.png")
    Image.new("RGB", (30, 30), (0, 0, 255)).save(src / "a.jpg")  # same stem: both kept
    Image.new("L", (8, 8), 77).save(src / "sub" / "grey.bmp")
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    pre = Preprocess(resolution=16, background="#00ff00")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        assert export_dataset(str(src), tmp_path / "out", pre) == 3
    out = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert out == ["a.png", "a_png.png", "sub/grey.png"]
    # the exported folder trains on exactly the arrays the source does (PNG is lossless)
    with pytest.warns(UserWarning):
        want = load_folder(src, pre)
    got = load_folder(tmp_path / "out", Preprocess(resolution=16))
    assert sorted(map(bytes, want)) == sorted(map(bytes, got))
    with pytest.raises(DataError, match="not an empty folder"):
        export_dataset(str(src), tmp_path / "out", pre)
    with pytest.raises(DataError, match="no such folder"):
        export_dataset(str(tmp_path / "nope"), tmp_path / "out2", pre)
    with pytest.raises(DataError, match="resolution must be"):
        Preprocess(resolution=0)


def test_export_emoji_names_glyphs_and_carries_the_licence(tmp_path):
    from ganart.training.data import EMOJI_FONT, export_dataset

    if not Path(EMOJI_FONT).is_file():
        if os.environ.get("CI"):
            pytest.fail("fonts-noto-color-emoji must be installed in CI")
        pytest.skip("fonts-noto-color-emoji is not installed (.ci/run installs it)")
    r = subprocess.run([sys.executable, "-m", "ganart", "data", "emoji", "--out", str(tmp_path / "e"),
                        "--resolution", "16"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote 3926 images (16x16)" in r.stdout
    files = sorted((tmp_path / "e").glob("*.png"))
    assert len(files) == 3926 and (tmp_path / "e" / "u1F600.png").is_file()
    assert "Apache-2.0" in (tmp_path / "e" / "LICENSE.txt").read_text()
    got = load_folder(tmp_path / "e", Preprocess(resolution=16))
    assert sorted(map(bytes, got)) == sorted(map(bytes, load_dataset("emoji", Preprocess(resolution=16))))
    with pytest.raises(DataError, match="not an empty folder"):
        export_dataset("emoji", tmp_path / "e")


def test_a_folder_is_read_one_file_at_a_time(tmp_path):
    """Loading (and exporting) a folder holds one file's bytes at a time: it read every file
    into memory before decoding any, so a folder of photos larger than RAM could not be used."""
    import tracemalloc

    d = tmp_path / "big"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):  # incompressible 512x512 noise: ~0.8 MB per PNG, ~9 MB in all
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(d / f"{i}.png")
    total = sum(p.stat().st_size for p in d.iterdir())
    for work in (lambda: load_folder(d, Preprocess(resolution=16)),
                 lambda: export_dataset(str(d), tmp_path / "out", Preprocess(resolution=16))):
        tracemalloc.start()
        try:
            work()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < total / 3, f"peak {peak / 1e6:.1f} MB for {total / 1e6:.1f} MB of files"
    assert len(list((tmp_path / "out").glob("*.png"))) == 12


def test_a_folder_decodes_into_one_array(tmp_path):
    """The decoded set is allocated once: it was a list of images and then np.stack's copy,
    twice the set's size at the peak."""
    import tracemalloc

    d = make_shapes(tmp_path / "imgs", n=12)
    tracemalloc.start()
    try:
        arr = load_folder(d, Preprocess(resolution=256))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert arr.shape == (12, 256, 256, 3)
    assert peak < 1.3 * arr.nbytes, (peak, arr.nbytes)  # the array plus one image in flight


def test_a_set_too_big_for_memory_is_refused_before_decoding(tmp_path):
    """A resolution no machine could hold (here 4096 px, 50 MB per image decoded) gets a clear
    error before the first image is decoded, not an out-of-memory kill after minutes of work."""
    from ganart.training.data import available_memory

    free = available_memory()
    if free is None:
        pytest.skip("this OS does not report available memory")
    per_image = 4096 * 4096 * 3
    n = 2 * free // per_image + 1  # twice what is free: no change in free memory between here and the check flips it
    d = tmp_path / "many"
    d.mkdir()
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), "red").save(tiny)
    for i in range(n):
        (d / f"{i}.png").write_bytes(tiny.read_bytes())
    with pytest.raises(DataError, match=rf"^{n} images at 4096x4096 px take .* GB decoded; .* use a lower --resolution"):
        load_folder(d, Preprocess(resolution=4096))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))


def test_available_memory_honours_a_container_limit(tmp_path):
    from ganart.training.data import available_memory

    # A fixed meminfo: the live one moves between two reads while anything else runs (this
    # test failed once with a training run beside it).
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683828 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n")
    host = 22000000 * 1024
    assert available_memory(tmp_path / "no-cgroup", meminfo) == host  # no limit files
    cg = tmp_path / "cgroup"
    cg.mkdir()
    (cg / "memory.max").write_text("max\n")
    (cg / "memory.current").write_text("1000\n")
    assert available_memory(cg, meminfo) == host  # "max": no limit
    (cg / "memory.max").write_text("3000000\n")  # a 3 MB container with 1 kB used
    assert available_memory(cg, meminfo) == 2999000
    assert available_memory(cg, tmp_path / "no-meminfo") == 2999000  # the limit alone
    assert available_memory(tmp_path / "no-cgroup", tmp_path / "no-meminfo") is None
    real = available_memory()  # this machine's, from /proc/meminfo
    assert real is not None and real > 0

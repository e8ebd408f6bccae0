import json
import os
from pathlib import Path

import numpy as np
import pytest

from ganart import metrics
from ganart.metrics import frechet_distance, kid, stats


def test_frechet_matches_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)
    # full covariances: invariant to a shared rotation
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    got = frechet_distance(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_kid_is_unbiased():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3000, 16))
    assert frechet_distance(*stats(a), *stats(a)) == pytest.approx(0, abs=1e-6)
    b = rng.normal(size=(3000, 16))  # same distribution, fresh samples
    c = rng.normal(loc=0.5, size=(3000, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=500)
    shifted, _ = kid(a, c, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: centred on 0 for one distribution
    assert shifted > 20 * abs(same)


def test_precision_recall_tell_fidelity_from_coverage():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(1500, 8))
    same = metrics.precision_recall(real, rng.normal(size=(1000, 8)))
    assert min(same) > 0.6  # one distribution: most of either set lies in the other's manifold
    # collapse: every fake near one real mode -> faithful (precision ~1) but covering little
    collapsed = metrics.precision_recall(real, rng.normal(scale=0.05, size=(1000, 8)))
    assert collapsed[0] > 0.95 and collapsed[1] < 0.1
    # off the data: fakes far away are not inside the real manifold at all
    assert metrics.precision_recall(real, rng.normal(loc=10, size=(1000, 8)))[0] == 0
    with pytest.raises(metrics.MetricsError, match="more than 3 samples"):
        metrics.precision_recall(real, real[:3])
    result = metrics.fid_kid(real, rng.normal(size=(1000, 8)), kid_subset=500)
    assert result["precision"] == pytest.approx(same[0], abs=0.1) and "recall" in metrics.summary(result)
    assert "precision" not in metrics.fid_kid(real[:3], real[3:6], kid_subset=3)


@pytest.fixture(scope="module")
def inception_ready():
    try:
        metrics.inception_path()
    except metrics.MetricsError as e:
        pytest.skip(str(e))


def test_nearest_finds_the_closest_real_features_in_order():
    real = np.array([[0.0, 0.0], [10.0, 0.0], [3.0, 0.0], [0.0, 7.0]])
    fake = np.array([[2.5, 0.0], [9.0, 1.0]])
    assert metrics.nearest(fake, real, 3).tolist() == [[2, 0, 3], [1, 2, 0]]
    for k in (0, -1, 5):  # -1 silently dropped the farthest image instead of naming the mistake
        with pytest.raises(ValueError, match=rf"k must be in \[1, 4\].*got {k}"):
            metrics.nearest(fake, real, k)


def test_inception_fid_orders_real_vs_noise(inception_ready, tmp_path):
    """Two halves of one dataset score far lower than the dataset against noise."""
    import os

    from shapes import make_shapes

    from ganart.training.data import Preprocess, load_folder

    os.environ["GANART_CACHE"] = str(tmp_path / "cache")
    imgs = load_folder(make_shapes(tmp_path / "s", n=40, size=32), Preprocess(resolution=32))
    noise = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    f = metrics.reference_features(imgs)
    assert f.shape == (40, 2048)
    assert np.array_equal(metrics.reference_features(imgs), f)  # second call: the cache
    fn = metrics.features(noise)
    halves = frechet_distance(*stats(f[::2]), *stats(f[1::2]))
    vs_noise = frechet_distance(*stats(f[:20]), *stats(fn))
    assert halves * 3 < vs_noise


def test_eval_cli_writes_metrics(inception_ready, session_ckpt, tmp_path, monkeypatch):
    import shutil

    from shapes import make_shapes

    from ganart.cli import main

    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))
    ck = tmp_path / "ck"
    shutil.copytree(session_ckpt, ck)
    data = make_shapes(tmp_path / "s", n=12, size=16)
    assert main(["eval", "--checkpoint", str(ck), "--data", str(data), "--n", "12", "--nearest", "2"]) == 0
    cfg = json.loads((ck / "config.json").read_text())
    result = cfg["meta"]["metrics"]["fid12_psi1"]
    assert result["fid"] > 0 and result["n_fake"] == 12 and result["n_real"] == 12
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert (ck / "nearest.png").is_file()
    # beside Inception: the random-CNN FD and the class-histogram divergence, each with its floor
    assert result["fd_random"] > 0 and result["fd_random_floor"] > 0 and 0 <= result["class_js"] <= 1
    # ... and into the model card (generated here, as the folder had none), each labelled by its space
    card = (ck / "README.md").read_text()
    assert f"| fid12_psi1 | {result['fid']:.2f} |" in card
    assert f"| fid12_psi1 | {result['fd_random']:.2f} ({result['fd_random_floor']:.2f}) |" in card
    assert "random-CNN FD" in card and "Inception-v3 features" in card


def test_eval_of_a_hub_id_leaves_the_hub_cache_untouched(inception_ready, hub_cache, tmp_path, monkeypatch, capsys):
    from shapes import make_shapes

    from ganart.cli import main

    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))
    files = sorted(p for p in hub_cache.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    data = make_shapes(tmp_path / "s", n=12, size=16)
    assert main(["eval", "--checkpoint", "someone/tiny-gan", "--data", str(data), "--n", "12",
                 "--out", str(tmp_path)]) == 0
    assert "results not written: someone/tiny-gan is not a local folder" in capsys.readouterr().out
    assert sorted(p for p in hub_cache.rglob("*") if p.is_file()) == files
    assert all(p.read_bytes() == data for p, data in before.items())


def test_sample_uses_seeds_in_order_and_evaluate_scores(inception_ready, tmp_path, monkeypatch):
    """metrics.sample gives seeds 0..n-1 whatever the batch size; evaluate gives FID/KID."""
    import torch

    from ganart.latent import seeds_to_z

    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))
    colour = torch.nn.Linear(8, 3)

    def gen(z: torch.Tensor) -> torch.Tensor:  # z [B, 8] -> flat-colour images [B, 3, 16, 16]
        return torch.tanh(colour(z))[:, :, None, None].expand(-1, -1, 16, 16)

    a = metrics.sample(gen, 8, 10, batch=3)
    b = metrics.sample(gen, 8, 10, batch=64)
    assert a.shape == (10, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert np.array_equal(metrics.sample(gen, 8, 4, batch=3, start=5), a[5:9])  # experiments/fid_seeds.py
    with torch.no_grad():
        first = ((gen(seeds_to_z([0], 8)).clamp(-1, 1) + 1) * 127.5).round()[0, :, 0, 0]
    assert a[0, 0, 0].tolist() == first.to(torch.uint8).tolist()
    result = metrics.evaluate(a, b[::-1].copy())
    assert result["fid"] == pytest.approx(0, abs=1e-3) and result["n_fake"] == 10
    with pytest.raises(metrics.MetricsError, match="at least 2"):
        metrics.evaluate(a, a[:1])


def test_train_eval_every_logs_fid(inception_ready, tmp_path, monkeypatch):
    from shapes import make_shapes

    from ganart.cli import main

    monkeypatch.setenv("GANART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANART_NO_PROGRESS", "1")
    data = make_shapes(tmp_path / "s", n=12, size=16)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--resolution", "16", "--z-dim", "32",
                 "--w-dim", "32", "--channel-base", "256", "--channel-max", "32", "--batch", "4",
                 "--grid", "4", "--max-steps", "4", "--eval-every", "0.008", "--eval-n", "6"]) == 0
    evals = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r.get("event") == "eval"]
    assert [r["kimg"] for r in evals] == [0.008, 0.016]
    assert all(r["fid"] > 0 and r["n_fake"] == 6 and r["n_real"] == 12 for r in evals)


def test_train_eval_settings_are_checked():
    from ganart.training import TrainConfig

    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=float("nan"))
    with pytest.raises(ValueError, match="eval_n"):
        TrainConfig(eval_n=1)


def test_mask_iou_measures_shape_sameness_not_colour():
    img = np.full((4, 8, 8, 3), 255, np.uint8)
    img[:, 2:6, 2:6] = [[200, 30, 30]], [[30, 200, 30]], [[30, 30, 200]], [[90, 90, 0]]
    assert metrics.mask_iou(img) == pytest.approx(1.0)  # one square in four colours
    apart = np.full((2, 8, 8, 3), 255, np.uint8)
    apart[0, :4], apart[1, 4:] = 0, 0
    assert metrics.mask_iou(apart) == 0.0
    apart[1, 2:4] = 0  # overlap of 2 rows out of 8 covered
    assert metrics.mask_iou(apart) == pytest.approx(2 / 8)
    with pytest.raises(metrics.MetricsError):
        metrics.mask_iou(img[:1])


def test_ab_benchmark_trains_arms_side_by_side_and_scores_each(inception_ready, tmp_path):
    """experiments/ab.py: every arm trains in its own folder with its own flags, then each gets
    its own FID from `ganart eval`, in the table and results.json."""
    import subprocess
    import sys

    from shapes import make_shapes

    data = make_shapes(tmp_path / "s", n=12, size=16)
    out = tmp_path / "ab"
    common = (f"--data {data} --resolution 16 --z-dim 32 --w-dim 32 --channel-base 256 --channel-max 32 "
              "--batch 4 --grid 4 --max-steps 3")
    script = Path(__file__).resolve().parent.parent / "experiments" / "ab.py"
    r = subprocess.run([sys.executable, str(script), "--out", str(out), "--common", common, "--arm", "ctrl=",
                        "--arm", "big-lr=--lr-g 0.01 --seed 1", "--n", "6"], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "GANART_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["ctrl", "big-lr"]
    for name, res in results.items():
        assert res["images"] == 12 and res["fid"] > 0 and 0 <= res["precision"] <= 1, res
        arm = json.loads((out / name / "config.json").read_text())["meta"]
        assert arm["metrics"]["fid6_psi1"]["fid"] == res["fid"]  # eval scored this arm's own weights
        assert f"| {name} | 12 |" in r.stdout
    assert results["big-lr"]["command"].endswith("--lr-g 0.01 --seed 1 --threads 1")
    assert results["ctrl"]["fid"] != results["big-lr"]["fid"]
    # mistakes are named before anything trains
    for args, message in [(["--arm", "x"], "bad --arm 'x'"), (["--arm", "a=", "--arm", "a=--seed 2"], "share a name"),
                          (["--arm", "a=--out y"], "--out is ab.py's own")]:
        r = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "ab2"), "--common", common, *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and message in r.stderr and not (tmp_path / "ab2").exists(), (args, r.stderr)


def test_inception_features_and_metrics_of_fixed_images_are_the_stored_ones(inception_ready):
    """Published figures must not shift silently: the features of two fixed image sets (made
    by tests/golden.py) and FID/KID between them, against the values stored there."""
    from golden import compute_inception, stored

    want, got = stored()["inception"], compute_inception()
    for key in ("features_a0", "features_b0", "norms"):
        assert np.allclose(got[key], want[key], rtol=0, atol=1e-4), key
    assert got["fid"] == pytest.approx(want["fid"], rel=1e-4)
    assert got["kid"] == pytest.approx(want["kid"], rel=1e-4)

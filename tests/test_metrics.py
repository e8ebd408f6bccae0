import json

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


@pytest.fixture(scope="module")
def inception_ready():
    try:
        metrics.inception_path()
    except metrics.MetricsError as e:
        pytest.skip(str(e))


def test_inception_fid_orders_real_vs_noise(inception_ready, tmp_path):
    """Two halves of one dataset score far lower than the dataset against noise."""
    import os

    from shapes import make_shapes

    from ganart.data import Preprocess, load_folder

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
    assert (ck / "nearest.png").is_file()

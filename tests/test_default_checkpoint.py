"""The checkpoint we ship is the first thing users see: it must load and render."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from ganart import Sampler
from ganart.checkpoint import load_checkpoint
from ganart.metrics import mask_iou

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "checkpoints" / "emoji64"


def test_default_checkpoint_loads_and_renders():
    ck = load_checkpoint(DEFAULT)
    assert ck.config.resolution == 64 and ck.meta.dataset == "emoji"
    assert "Apache-2.0" in ck.meta.license
    assert sum(p.stat().st_size for p in DEFAULT.iterdir()) <= 20 * 1024 * 1024  # the one binary we ship
    assert (DEFAULT / "README.md").is_file()
    s = Sampler.load(DEFAULT, device="cpu")
    a, b = np.asarray(s.generate(0)), np.asarray(s.generate(1))
    assert a.shape == (64, 64, 3) and not np.array_equal(a, b)
    assert a.std() > 5  # a real picture, not a flat field
    # the app's eight sliders say what they do (read off `ganart directions` sheets of this cut)
    for method in ("sefa", "pca"):
        assert all(s.direction_label(i, method).startswith(f"Direction {i}: ") for i in range(8)), method


def test_default_checkpoint_is_not_mode_collapsed():
    """The first two shipped models drew one blob in many colours (mask IoU 0.85 and 0.76 over
    64 seeds; real emoji: 0.38; the third cut: 0.43). Shapes must vary, not just colours."""
    s = Sampler.load(DEFAULT, device="cpu")
    assert mask_iou(s.seed_images(64, psi=1.0)) < 0.6  # python benchmarks/diversity.py prints it


def test_default_checkpoint_card_reports_measured_quality():
    ck = load_checkpoint(DEFAULT)
    fid = ck.meta.metrics["fid2000_psi1"]
    assert fid["n_fake"] == 2000 and fid["n_real"] == 3926 and fid["psi"] == 1.0
    card = (DEFAULT / "README.md").read_text()
    assert f"{fid['fid']:.1f}" in card and "ganart train" in card
    assert (DEFAULT / "grid.png").is_file() and (DEFAULT / "nearest.png").is_file()


def test_default_checkpoint_card_is_generated_current_and_short():
    """The card is the Hub's first page for this model: generated from config.json and lineage.json,
    so regenerating it changes nothing (`write_card`, or any `ganart eval` of the checkpoint, does),
    at most 8 KB, and with metadata that huggingface_hub itself reads."""
    from huggingface_hub import ModelCard

    from ganart.card import GENERATED, card_text

    raw = (DEFAULT / "README.md").read_bytes()
    assert len(raw) <= 8192, f"the card is {len(raw):,} bytes; its history belongs in lineage.json"
    text = raw.decode("utf-8")
    assert GENERATED in text  # else card_text would hand back the file itself and the next line prove nothing
    assert text == card_text(DEFAULT), "stale card: regenerate it with ganart.card.write_card"
    data = ModelCard(text).data.to_dict()
    assert data["pipeline_tag"] == "unconditional-image-generation" and data["library_name"] == "ganart"
    assert data["license"] == "apache-2.0" and "datasets" not in data


def test_fid_trend_reads_every_earlier_cut_off_the_lineage():
    """experiments/fid_trend.py fits the lineage.json's earlier cuts: a point it dropped would quietly
    move the README's extrapolation. The lineage's own entry for this cut must match config.json."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from fid_trend import fits, kimg_for, lineage_points

    from ganart.card import read_lineage

    lineage = read_lineage(DEFAULT)
    assert [c["cut"] for c in lineage["cuts"]] == list(range(1, lineage["cut"] + 1))
    meta = load_checkpoint(DEFAULT).meta
    fid = meta.metrics[lineage["metric"]["key"]]["fid"]
    own = lineage["cuts"][-1]
    assert round(own["kimg"] * 1000) == meta.images_seen and own["fid"] == round(fid, 1)
    listed = [(c["kimg"], c["fid"]) for c in lineage["cuts"][:-1] if c["kimg"] is not None]

    points = lineage_points(DEFAULT)
    assert len(listed) >= 20 and sorted(points[:-1]) == sorted(listed)  # every listed cut, then this one
    assert points[-1] == (meta.images_seen / 1000, meta.metrics["fid2000_psi1"]["fid"])
    late = [p for p in points if p[0] >= 740]
    slope, icpt = fits(late)["log-linear"]
    assert slope < 0 and kimg_for(60, "log-linear", slope, icpt) > points[-1][0]  # 60 lies ahead
    assert all(cmd.startswith("ganart train ") for leg in lineage["legs"] for cmd in leg["commands"])


def test_default_checkpoint_carries_a_discriminator_for_fine_tuning():
    """`ganart train --init-from checkpoints/emoji64` starts D from the shipped one: it must
    load and tell real emoji from the shipped generator's samples (it was trained against them).
    Since the eighth cut it is the D trained alongside that generator: it ranks reals above
    samples but can sit near its own zero on them, so the test asks for ranking, not a sign."""
    import torch

    from ganart.checkpoint import load_discriminator
    from ganart.training.data import Preprocess, load_dataset, to_model_range

    D = load_discriminator(DEFAULT)
    assert D is not None
    real = load_dataset("emoji", Preprocess(resolution=64))[::61][:64]  # 64 spread over the set
    fake = Sampler.load(DEFAULT, device="cpu").seed_images(64, psi=1.0)

    def logits(images: np.ndarray) -> torch.Tensor:
        x = to_model_range(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))
        with torch.no_grad():
            return D.eval()(x).flatten()

    r, f = logits(real), logits(fake)
    auc = (r[:, None] > f[None, :]).float().mean()  # (real, sample) pairs ranked right
    # the card quotes these figures: `pytest -s tests/test_default_checkpoint.py -k discriminator`
    print(f"\nD mean logit: reals {r.mean():.2f}, samples {f.mean():.2f}; reals called real "
          f"{int((r > 0).sum())}/64, samples called fake {int((f < 0).sum())}/64; pair AUC {auc:.3f}")
    assert r.mean() > f.mean() + 1  # measured for the twenty-third cut: 3.62 vs -1.98 (twenty-second: 3.64 vs -1.92)
    assert (r > 0).float().mean() > 0.75  # measured: 64 of 64
    assert auc > 0.9  # measured: 1.000 (seventeenth cut: 0.998)


def dockerfile_cmd_and_env() -> tuple[list[str], dict[str, str]]:
    """The CMD (exec form) and the ENV of our Dockerfile."""
    import json
    import re
    import shlex

    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    env = {}
    for line in re.findall(r"^ENV (.*)$", text, re.M):
        for item in shlex.split(line):
            k, _, v = item.partition("=")
            env[k] = v
    return cmd, env


def test_dockerfile_lints_clean():
    import shutil

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    r = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_cmd_serves_the_ui(session_ckpt, tmp_path):
    """The Dockerfile's exact CMD (= `python app.py`, what `make run` starts), with its ENV,
    answers HTTP 200 with the ganart page."""
    import os
    import time
    import urllib.request

    from conftest import free_port

    cmd, docker_env = dockerfile_cmd_and_env()
    assert cmd == ["python", "app.py"] and docker_env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    port = free_port()
    env = {**os.environ, **{k: v for k, v in docker_env.items() if k not in ("PATH", "HOME")},
           "GANART_CHECKPOINT": str(session_ckpt), "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, *cmd[1:]], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200 and "ganart" in r.read().decode()
                    break
            except OSError:
                assert time.time() < end, "app.py did not answer within 120 s"
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

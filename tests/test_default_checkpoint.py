"""The checkpoint we ship is the first thing users see: it must load and render."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from ganart import Sampler
from ganart.checkpoint import WEIGHTS_NAME, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "checkpoints" / "emoji64"


def test_default_checkpoint_loads_and_renders():
    ck = load_checkpoint(DEFAULT)
    assert ck.config.resolution == 64 and ck.meta.dataset == "emoji"
    assert "Apache-2.0" in ck.meta.license
    assert (DEFAULT / WEIGHTS_NAME).stat().st_size <= 20 * 1024 * 1024
    assert (DEFAULT / "README.md").is_file()
    s = Sampler.load(DEFAULT, device="cpu")
    a, b = np.asarray(s.generate(0)), np.asarray(s.generate(1))
    assert a.shape == (64, 64, 3) and not np.array_equal(a, b)
    assert a.std() > 5  # a real picture, not a flat field


def test_app_entry_point_renders_a_grid(session_ckpt, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True,
                       env={"GANART_CHECKPOINT": str(session_ckpt), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "samples" / "grid.png").is_file()

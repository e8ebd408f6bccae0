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


def test_app_py_serves_the_ui(session_ckpt, tmp_path):
    """`python app.py` (what `make run` starts) answers HTTP 200 with the ganart page."""
    import os
    import time
    import urllib.request

    from conftest import free_port

    port = free_port()
    env = {**os.environ, "GANART_CHECKPOINT": str(session_ckpt), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
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

"""Shared benchmark helpers: a same-run fp32 matmul peak and FLOP counting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Achieved GFLOP/s of a large fp32 matmul on this machine, now (the 'peak')."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * repeats / best / 1e9


class _FlopCounter(TorchDispatchMode):
    """Counts FLOPs with PyTorch's own per-op formulas (conv, matmul, their backwards).

    FlopCounterMode itself also tracks modules, which breaks on in-place inference code."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.ops = 0  # every dispatched op: on a GPU each is (at least) one kernel launch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.ops += 1
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_work(fn) -> tuple[int, int]:
    """(FLOPs, dispatched ops) of one call of ``fn``; FLOPs of convolutions and matrix products.

    Not under inference_mode: there composite ops (conv2d, linear) reach the counter whole,
    unmatched by the per-op formulas."""
    with torch.inference_mode(False), _FlopCounter() as counter:
        fn()
    return counter.total, counter.ops


def count_flops(fn) -> int:
    return count_work(fn)[0]


def percentiles(samples: list[float], *ps: float) -> list[float]:
    s = sorted(samples)
    return [s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] for p in ps]


ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import sys
from ganart.ui import build_demo, launch
demo = build_demo(sys.argv[1], batch=int(sys.argv[2]))
launch(demo, port=int(sys.argv[3]), quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_up(url: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up")


def start_server(checkpoint: str, batch: int = 8) -> tuple[subprocess.Popen, str]:
    """The app in a process of its own on a free loopback port -> (process, URL), once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-c", SERVER, checkpoint, str(batch), str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_up(url)
    except BaseException:
        server.terminate()
        raise
    return server, url

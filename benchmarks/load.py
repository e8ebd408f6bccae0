"""Load test of /generate: N concurrent gradio_client clients x M requests each against a
server started here (loopback only), with and without request batching.

    python benchmarks/load.py [--clients 32] [--requests 20] [--checkpoint checkpoints/emoji64]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentiles  # noqa: E402

from ganart.catalog import describe  # noqa: E402

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


def run(checkpoint: str, batch: int, clients: int, requests: int) -> dict[str, float]:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-c", SERVER, checkpoint, str(batch), str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_up(url)
        conns = [Client(url, verbose=False) for _ in range(clients)]
        model = describe(checkpoint).name  # the app names its models; it never takes a path
        conns[0].predict(model, 0, 0.7, "sefa", 0, 10, *[0.0] * 8, api_name="/generate")  # warm
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def worker(i: int) -> None:
            for j in range(requests):
                t = time.perf_counter()
                try:
                    conns[i].predict(model, i * 1000 + j, 0.7, "sefa", 0, 10, *[0.0] * 8,
                                     api_name="/generate")
                    with lock:
                        latencies.append(time.perf_counter() - t)
                except Exception as e:  # counted, never hidden
                    with lock:
                        errors.append(repr(e)[:200])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        cpu0, own0 = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        server_cpu = cpu_seconds(server.pid) - cpu0
        client_cpu = cpu_seconds(os.getpid()) - own0
    finally:
        server.terminate()
        server.wait(timeout=30)
    p50, p99 = percentiles(latencies, 50, 99) if latencies else (float("nan"),) * 2
    return {"ok": len(latencies), "errors": len(errors), "p50": p50, "p99": p99,
            "throughput": len(latencies) / wall, "first_error": errors[0] if errors else "",
            "server_cpu_ms": 1e3 * server_cpu / max(len(latencies), 1),
            "client_cpu_ms": 1e3 * client_cpu / max(len(latencies), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "emoji64"))
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    print(f"/generate load: {args.clients} clients x {args.requests} requests, {args.checkpoint}")
    for batch in (1, 8):
        r = run(args.checkpoint, batch, args.clients, args.requests)
        label = "batching off" if batch == 1 else f"batching <= {batch}"
        print(f"{label:>14}: {r['ok']} ok, {r['errors']} errors, p50 {r['p50'] * 1e3:.0f} ms, "
              f"p99 {r['p99'] * 1e3:.0f} ms, {r['throughput']:.1f} req/s, "
              f"CPU per request: server {r['server_cpu_ms']:.0f} ms + clients {r['client_cpu_ms']:.0f} ms "
              f"(on {os.cpu_count()} cores) {r['first_error']}")


if __name__ == "__main__":
    main()

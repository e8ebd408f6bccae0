"""Load test of what the page asks of the server now that slider drags render in the browser:
page loads, seed changes (the seed's w, and the image), slider releases (one exact render) and
downloads, for N simulated users against a server started here (loopback only).

    python benchmarks/load.py [--users 32] [--actions 20] [--think 1,3] [--ramp 10] [--checkpoint ...]

Each user opens the page (GET /, /generate, /web_state, and as a first visit the model's ONNX
file and the runtime, ~26 MB for emoji64; ``--cached`` leaves those out), then does ``--actions`` actions picked
at random (seed change 30 %, release 60 %, download 10 %) with a think time drawn from
``--think`` seconds between them: a person dragging a slider releases it every second or two.
Users arrive over ``--ramp`` seconds (``--ramp 0``: all 32 open the page in the same instant).
The load generator is raw HTTP against Gradio's API (httpx, asyncio, one thread), so it takes
little CPU from the server it measures; both CPU figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, cpu_seconds, percentiles, start_server  # noqa: E402

from ganart.catalog import describe  # noqa: E402
from ganart.limits import APP_SLIDERS  # noqa: E402
from ganart.ui_web import file_url  # noqa: E402
from ganart.web_runtime import runtime_config  # noqa: E402


async def call(client, api: str, data: list) -> list:
    """One Gradio API call over plain HTTP: POST, then read the event stream to its end."""
    r = await client.post(f"gradio_api/call/{api}", json={"data": data})
    r.raise_for_status()
    event = r.json()["event_id"]
    async with client.stream("GET", f"gradio_api/call/{api}/{event}") as stream:
        kind = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind in ("complete", "error"):
                if kind == "error":
                    raise RuntimeError(f"{api}: {line[6:200]}")
                return json.loads(line[6:])
    raise RuntimeError(f"{api}: the stream ended without a result")


async def user(i: int, url: str, model: str, args, record) -> None:
    import httpx

    rng = random.Random(i)
    seed, amounts = i * 1000, [0.0] * APP_SLIDERS
    await asyncio.sleep(rng.uniform(0, args.ramp))  # visitors arrive over the ramp, not all in one instant
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        def controls():
            return [model, seed, 0.7, "sefa", 0, args.num_ws, *amounts]

        async def action(name: str, *calls) -> None:
            t = time.perf_counter()
            try:
                await asyncio.gather(*calls)
                record(name, time.perf_counter() - t, None)
            except Exception as e:  # counted, never hidden
                record(name, time.perf_counter() - t, repr(e)[:200])

        async def page():
            (await client.get("")).raise_for_status()
            await call(client, "generate", controls())

        async def files():  # what a first visit's page downloads: the model's network, the runtime
            state = json.loads((await call(client, "web_state", [model, "", seed, "sefa"]))[0])
            for url in ([] if args.cached else [state["onnx"], *args.runtime]):
                async with client.stream("GET", url) as r:
                    r.raise_for_status()
                    async for _ in r.aiter_bytes():
                        pass

        await action("page load", page(), files())
        for _ in range(args.actions):
            await asyncio.sleep(rng.uniform(*args.think))
            pick = rng.random()
            if pick < 0.3:
                seed = rng.randrange(2**32)
                await action("seed change", call(client, "generate", controls()),
                             call(client, "web_state", [model, "", seed, "sefa"]))
            elif pick < 0.9:
                amounts[rng.randrange(APP_SLIDERS)] = round(rng.uniform(-5, 5), 1)
                await action("release", call(client, "generate", controls()))
            else:
                await action("download", call(client, "download", controls()))


async def drive(url: str, model: str, args) -> tuple[dict, float]:
    results: dict[str, list] = {}

    def record(name: str, seconds: float, error: str | None) -> None:
        results.setdefault(name, []).append((seconds, error))

    start = time.perf_counter()
    await asyncio.gather(*(user(i, url, model, args, record) for i in range(args.users)))
    return results, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "emoji64"))
    ap.add_argument("--users", type=int, default=32)
    ap.add_argument("--actions", type=int, default=20, help="actions per user after the page load")
    ap.add_argument("--think", default="1,3", help="seconds between a user's actions: min,max")
    ap.add_argument("--ramp", type=float, default=10, help="users arrive over this many seconds (0: all at once)")
    ap.add_argument("--cached", action="store_true", help="page loads without the model and runtime downloads")
    ap.add_argument("--batch", type=int, default=8, help="the server's render batch (ganart serve --batch)")
    args = ap.parse_args()
    args.think = tuple(float(v) for v in args.think.split(","))
    server, url = start_server(args.checkpoint, args.batch)
    try:
        model = describe(args.checkpoint).name
        from ganart import Sampler

        args.num_ws = Sampler.load(args.checkpoint).num_ws
        rt = runtime_config(file_url)  # the server runs here: the same local copy, if any
        args.runtime = [rt["module"], rt["wasm"]] if rt["source"] == "local" else []
        warm = argparse.Namespace(**{**vars(args), "users": 1, "actions": 0, "ramp": 0})
        asyncio.run(drive(url, model, warm))  # export, load
        cpu0, own0 = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        results, wall = asyncio.run(drive(url, model, args))
        server_cpu, client_cpu = cpu_seconds(server.pid) - cpu0, cpu_seconds(os.getpid()) - own0
    finally:
        server.terminate()
        server.wait(timeout=30)
    every = [r for rs in results.values() for r in rs]
    errors = [e for _, e in every if e]
    print(f"{args.users} users arriving over {args.ramp:g} s x (page load{' (cached)' if args.cached else ''} + "
          f"{args.actions} actions, think {args.think[0]:g}-{args.think[1]:g} s), "
          f"{describe(args.checkpoint).name}, batch {args.batch}, {os.cpu_count()} cores; {wall:.0f} s")
    print("| action | count | errors | p50 | p99 |\n| --- | --- | --- | --- | --- |")
    for name in ("page load", "seed change", "release", "download", "all"):
        rs = every if name == "all" else results.get(name, [])
        if rs:
            p50, p99 = percentiles([t for t, _ in rs], 50, 99)
            print(f"| {name} | {len(rs)} | {sum(1 for _, e in rs if e)} | {p50 * 1e3:.0f} ms | {p99 * 1e3:.0f} ms |")
    print(f"server CPU {server_cpu:.1f} s = {1e3 * server_cpu / len(every):.0f} ms per action; "
          f"load generator CPU {1e3 * client_cpu / len(every):.0f} ms per action; {len(every) / wall:.1f} actions/s")
    if errors:
        print(f"first error: {errors[0]}")


if __name__ == "__main__":
    main()

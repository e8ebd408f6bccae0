"""Slider drags in headless Chromium, frame by frame: rendered in the page (onnxruntime-web,
the default) and, in the same run, by the server (the runtime blocked: the fallback, and how
every drag worked before).

    python benchmarks/browser.py [--checkpoint checkpoints/emoji64] [--steps 25] [--drags 3] [--loads 5]

Prints the time from the page opening to its first painted frame (model download included),
the exported model's size, and per drag step the time from the slider's input event to the
new image on screen, with the requests sent to the server while the mouse was held.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentiles, start_server  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# for server rendering: each new image's time after the input event that asked for it
RECORD_SERVER = """() => {
  window.bench = { input: 0, frames: [] };
  document.addEventListener("input", () => { window.bench.input = performance.now(); }, true);
  const box = document.querySelector("#create-image");
  let last = null;
  new MutationObserver(() => box.querySelectorAll("img").forEach((img) => {
    if (img.src && img.src !== last) { last = img.src; window.bench.frames.push(performance.now() - window.bench.input); }
  })).observe(box, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
}"""


def drag(page, elem_id: str, steps: int, count_frames: str) -> list[str]:
    """Hold a slider and move it ``steps`` times, each after the previous frame arrived ->
    the requests sent while the mouse was held."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))
    box = page.locator(f"#{elem_id} input[type=range]").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        before = page.evaluate(count_frames)
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.45 * i / steps), y)
        try:
            page.wait_for_function(f"{count_frames} > {before}", timeout=5_000)
        except Exception:
            pass  # a step that painted nothing new (the same slider value) is not waited for
    held = list(sent)
    page.mouse.up()
    page.wait_for_timeout(1_000)
    return held


def first_frame(browser, url: str) -> float:
    """Seconds from opening the page in a fresh context (nothing cached) to its first painted frame."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function("window.ganart && window.ganart.paints > 0", timeout=60_000)
    seconds = time.perf_counter() - t
    ctx.close()
    return seconds


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "emoji64"))
    ap.add_argument("--steps", type=int, default=25, help="moves per drag")
    ap.add_argument("--drags", type=int, default=3, help="drags, each on another slider")
    ap.add_argument("--loads", type=int, default=5, help="fresh page visits timed to their first frame")
    args = ap.parse_args()
    server, url = start_server(args.checkpoint)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                        args=FLAGS, headless=True)
            for mode in ("page", "server"):
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                page = ctx.new_page()
                if mode == "server":
                    page.route("**/ort.wasm.bundle.min.mjs", lambda route: route.abort())
                t = time.perf_counter()
                page.goto(url)
                if mode == "page":
                    page.wait_for_function("window.ganart && window.ganart.paints > 0", timeout=60_000)
                    firsts = [time.perf_counter() - t] + [first_frame(browser, url) for _ in range(args.loads - 1)]
                    print(f"first frame after the page opened, {args.loads} fresh visits (empty caches): "
                          f"p50 {percentiles(firsts, 50)[0]:.2f} s, max {max(firsts):.2f} s (runtime from "
                          f"{page.evaluate('window.ganart.source')}, model {page.evaluate('window.ganart.onnxBytes') / 2**20:.1f} MB)")
                    t = page.evaluate("window.ganart.times")  # ms after navigation, when each part was ready
                    print("  first visit: " + ", ".join(f"{k} {t[k] / 1e3:.2f} s" for k in
                                                       ("start", "runtime", "model", "state", "painted") if k in t)
                          + " (start: Gradio's page runs ganart/web/page.mjs)")
                    counter, frames = "window.ganart.paints", "window.ganart.frames"
                else:
                    page.wait_for_function("window.ganart && window.ganart.failed", timeout=60_000)
                    page.locator("#create-image img").first.wait_for()
                    page.evaluate(RECORD_SERVER)
                    counter, frames = "window.bench.frames.length", "window.bench.frames"
                start = page.evaluate(f"{frames}.length")
                held = []
                for k in range(args.drags):
                    held += drag(page, f"dir{k}", args.steps, counter)
                ms = page.evaluate(f"{frames}.slice({start})")
                if mode == "page":
                    runs = page.evaluate(f"window.ganart.runs.slice({start})")
                    print(f"onnxruntime-web session.run alone: p50 {percentiles(runs, 50)[0]:.1f} ms")
                p50, p95 = percentiles(ms, 50, 95)
                label = "in the page" if mode == "page" else "on the server"
                print(f"rendered {label}: {len(ms)} frames over {args.drags} drags of {args.steps} steps: "
                      f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(ms):.1f} ms; "
                      f"{len(held)} requests while the mouse was held")
                ctx.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

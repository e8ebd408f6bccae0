"""A/B training arms side by side, then FID / KID / precision / recall of each: the protocol
behind the README's "Training defaults, and the evidence for them", in one command.

    python experiments/ab.py --out runs/ab \\
        --common "--data emoji --init-from checkpoints/emoji64 --kimg 90 --batch 64" \\
        --arm control= --arm half-lr="--lr-g 0.001 --lr-d 0.00125" \\
        [--threads 1] [--n 2000] [--sequential]

Each arm runs `ganart train --out OUT/NAME COMMON ARM --threads T`. All arms start together, one
process each, so they share the machine evenly (give each arm the same --kimg or --minutes in
COMMON); `--sequential` runs them one after another instead. On a GPU put `--device cuda` in
COMMON and the arms share it. When all have ended, each arm's final checkpoint is scored with
`ganart eval --data DATA --n N --psi 1.0` (DATA is COMMON's --data; the result also lands in the
arm's config.json and card), and the table is printed and written to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path


def parse_arm(text: str) -> tuple[str, list[str]]:
    name, sep, flags = text.partition("=")
    if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SystemExit(f"ab.py: bad --arm {text!r}: use NAME=FLAGS (NAME of letters, digits, - and _)")
    return name, shlex.split(flags)


def option(args: list[str], flag: str) -> str | None:
    """The value of `flag` in an argument list (`--flag V` or `--flag=V`), else None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def ganart(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganart", *args]


def run_arms(commands: dict[str, list[str]], out: Path, sequential: bool) -> dict[str, int]:
    """Start every arm (or one at a time), logging to OUT/NAME.log; returns each exit code.
    Ctrl-C stops every arm the way ganart train expects (SIGTERM: save, then exit)."""
    env = {**os.environ, "GANART_NO_PROGRESS": "1"}
    procs: dict[str, subprocess.Popen] = {}
    codes: dict[str, int] = {}
    try:
        for name, cmd in commands.items():
            with open(out / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            print(f"[{name}] started: {shlex.join(cmd[2:])}", flush=True)
            if sequential:
                codes[name] = procs[name].wait()
        for name, p in procs.items():
            codes[name] = p.wait()
    except KeyboardInterrupt:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in procs.items():
            codes[name] = p.wait()
        raise
    return codes


def arm_result(folder: Path, n: int) -> dict:
    """Images, seconds and the eval metrics of a finished arm, from its config.json: its own
    share of a fine-tuning lineage (the config counts the parent's totals too)."""
    meta = json.loads((folder / "config.json").read_text())["meta"]
    training = meta["training"]
    parent = training.get("init_from") or {}
    images = meta["images_seen"] - parent.get("images_seen", 0)
    seconds = training["seconds"] - parent.get("seconds", 0.0)
    metrics = meta.get("metrics", {}).get(f"fid{n}_psi1", {})  # what `ganart eval --n N --psi 1.0` wrote
    return {"images": images, "seconds": round(seconds, 1), "img_per_s": round(images / max(seconds, 1e-9), 2),
            **{k: metrics.get(k) for k in ("fid", "kid", "kid_std", "precision", "recall")}}


def table(results: dict[str, dict]) -> str:
    lines = ["| arm | images | img/s | FID | KID ×1e3 | precision | recall |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        if r.get("fid") is None:
            lines.append(f"| {name} | {r.get('images', '-')} | - | failed: {r.get('error', 'no metrics')} | | | |")
            continue
        lines.append(f"| {name} | {r['images']:,} | {r['img_per_s']:.1f} | {r['fid']:.2f} | "
                     f"{r['kid'] * 1e3:.1f} ± {r['kid_std'] * 1e3:.1f} | {r['precision']:.3f} | {r['recall']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="a new folder: one run folder and log per arm, results.json")
    ap.add_argument("--common", default="", help="ganart train flags every arm gets (quote them)")
    ap.add_argument("--arm", action="append", required=True, help="NAME=FLAGS, one per arm (FLAGS may be empty)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per arm")
    ap.add_argument("--n", type=int, default=2000, help="samples per FID")
    ap.add_argument("--sequential", action="store_true", help="one arm after another, not side by side")
    args = ap.parse_args()
    common = shlex.split(args.common)
    arms = dict(parse_arm(a) for a in args.arm)
    if len(arms) != len(args.arm):
        raise SystemExit("ab.py: two arms share a name")
    data = option(common, "--data")
    if data is None:
        raise SystemExit("ab.py: --common needs --data (the arms' training data, also what eval scores against)")
    if option(common, "--out") is not None or any(option(f, "--out") is not None for f in arms.values()):
        raise SystemExit("ab.py: --out is ab.py's own (each arm trains in OUT/NAME)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"ab.py: {out} exists and is not empty; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    commands = {name: ganart("train", "--out", str(out / name), *common, *flags, "--threads", str(args.threads))
                for name, flags in arms.items()}
    start = time.time()
    codes = run_arms(commands, out, args.sequential)
    print(f"trained in {(time.time() - start) / 60:.1f} min", flush=True)
    results: dict[str, dict] = {}
    for name in arms:
        folder = out / name
        if codes[name] != 0 or not (folder / "config.json").is_file():
            results[name] = {"error": f"train exited {codes[name]} (see {out / name}.log)"}
            continue
        ev = subprocess.run(ganart("eval", "--checkpoint", str(folder), "--data", data, "--n", str(args.n),
                                   "--psi", "1.0"), capture_output=True, text=True,
                            env={**os.environ, "GANART_NO_PROGRESS": "1"})
        (out / f"{name}.eval.log").write_text(ev.stdout + ev.stderr)
        results[name] = arm_result(folder, args.n) if ev.returncode == 0 else {
            "error": f"eval exited {ev.returncode} (see {out / name}.eval.log)"}
        results[name]["command"] = shlex.join(["ganart", *commands[name][3:]])
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"(N = {args.n}, psi = 1; {out / 'results.json'})")


if __name__ == "__main__":
    main()

"""Three ways to export the synthesis network, and what each costs: file size, and Python
onnxruntime's time to open it and to render one image (1 thread), with and without graph
optimisation. ganart ships the third (ganart/onnx_export.py).

    python experiments/onnx_variants.py [--checkpoint checkpoints/emoji64] [--repeats 30]

1. constant folding from the raw weights (torch's default)
2. no constant folding
3. constant folding after one pass, so each layer's cached derived weights are the constants
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganart import Sampler  # noqa: E402
from ganart.onnx_export import export_synthesis  # noqa: E402


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default="checkpoints/emoji64")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    s = Sampler.load(args.checkpoint)
    ws = s.ws_for([s.recipe(3)]).numpy()
    variants = {"folded from raw weights": (True, False), "no folding": (False, False),
                "folded from cached weights (shipped)": (True, True)}
    print("| export | size | open, optimised | frame p50, optimised | open, no optimisation | frame p50, none |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (fold, warm) in variants.items():
            path = Path(tmp) / "g.onnx"
            export_synthesis(s.G, path, fold=fold, warm=warm)
            cells = [name, f"{path.stat().st_size / 2**20:.1f} MB"]
            for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.graph_optimization_level = level
                t = time.perf_counter()
                sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                opened = time.perf_counter() - t
                sess.run(None, {"ws": ws})
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    out = sess.run(None, {"ws": ws})[0]
                    times.append(time.perf_counter() - t)
                ref = np.asarray(s.render(s.recipe(3)), dtype=np.int16)
                got = np.round((np.clip(out[0], -1, 1) + 1) * 127.5).transpose(1, 2, 0).astype(np.int16)
                assert np.abs(got - ref).max() <= 1, name
                cells += [f"{opened * 1e3:.0f} ms", f"{statistics.median(times) * 1e3:.1f} ms"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

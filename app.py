"""ganart app entry point.

Until the Gradio UI lands (ganart/ui.py), this renders a sample grid from the default
checkpoint so `make run` shows the model works end to end.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganart import Sampler

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "emoji64"


def main() -> None:
    source = os.environ.get("GANART_CHECKPOINT", str(DEFAULT_CHECKPOINT))
    sampler = Sampler.load(source)
    out = Path("samples")
    out.mkdir(exist_ok=True)
    sampler.grid(range(36), cols=6, psi=0.7).save(out / "grid.png")
    print(f"{sampler.name}: wrote {out / 'grid.png'}")


if __name__ == "__main__":
    main()

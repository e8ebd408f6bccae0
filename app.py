"""ganart app: `python app.py` serves the Gradio UI at http://127.0.0.1:7860.

GANART_CHECKPOINT picks the model (a folder or a Hub id); the default is the shipped one.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ganart import CheckpointError  # noqa: E402
from ganart.ui import DEFAULT_CHECKPOINT, build_demo, launch  # noqa: E402

try:
    demo = build_demo(os.environ.get("GANART_CHECKPOINT", str(DEFAULT_CHECKPOINT)))
except CheckpointError as e:  # a missing or broken model: say which, no traceback
    print(f"ganart app: error: {e}", file=sys.stderr)
    raise SystemExit(2) from None

if __name__ == "__main__":
    launch(demo, port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))

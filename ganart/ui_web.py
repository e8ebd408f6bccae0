"""Rendering Create's image in the visitor's browser (``ganart/web/page.mjs``): what the page
loads (onnxruntime-web, pinned in ``web_runtime``), and what the server sends it per seed,
model and direction method (the seed's w, the w its psi pulls toward, the slider directions, the exported
synthesis network's URL). Files are served from two folders only: ``ganart/web`` and the
ONNX export cache.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import numpy as np
import torch

from .limits import APP_SLIDERS, APP_WEB_MODEL_MB
from .onnx_export import export_bytes, onnx_dir
from .sampler import Sampler
from .web_runtime import WEB_DIR, runtime_config

# in <head>, not the app's css (Gradio scopes that inside its container): page.mjs sets
# .ganart-web on <html> once it renders, and back off when it falls back to the server
PAGE_CSS = """
#create-canvas { display: none; }
.ganart-web #create-canvas { display: block; }
.ganart-web #create-image { display: none; }
#create-canvas canvas { width: 100%; height: 480px; object-fit: contain; image-rendering: pixelated; }
"""
_export_lock = threading.Lock()  # one export per model, not one per waiting request
_failed: dict[str, str] = {}  # weights' sha256 -> why their export failed (not retried per request)


def static_paths() -> list[Path]:
    onnx_dir().mkdir(parents=True, exist_ok=True)
    return [WEB_DIR, onnx_dir()]


def file_url(path: Path) -> str:
    """Gradio's URL for a file in a static path (relative: it works under any root path)."""
    return f"gradio_api/file={Path(path).resolve()}"


def head(default: Sampler | None = None) -> str:
    """The page's <head> additions: the runtime's URLs and pins, the default model's network (so
    the page fetches both while it opens), and the module that uses them."""
    config = runtime_config(file_url)
    path = _export(default)[0] if default is not None else None
    if path is not None:
        config["model"] = {"url": file_url(path), "shape": [1, default.num_ws, default.G.cfg.w_dim]}
    config = json.dumps(config).replace("</", "<\\/")
    return (f'<script id="ganart-web-config" type="application/json">{config}</script>\n'
            f'<script type="module" src="{file_url(WEB_DIR / "page.mjs")}"></script>\n'
            f"<style>{PAGE_CSS}</style>")


def _export(s: Sampler) -> tuple[Path | None, str]:
    """The model's exported network (exported now if needed), or None and why the page cannot have it."""
    estimate = export_bytes(s.G)
    if estimate > APP_WEB_MODEL_MB * 2**20:  # checked before exporting, not after
        return None, f"model is {estimate / 2**20:.0f} MB, over {APP_WEB_MODEL_MB}"
    if s.sha256 in _failed:
        return None, _failed[s.sha256]
    try:
        with _export_lock:
            path = s.onnx_file()
    except Exception as e:  # any failure to export: the page stays on server rendering
        _failed[s.sha256] = f"export failed ({type(e).__name__})"
        return None, _failed[s.sha256]
    size = path.stat().st_size
    if size > APP_WEB_MODEL_MB * 2**20:
        return None, f"model is {size / 2**20:.0f} MB, over {APP_WEB_MODEL_MB}"
    return path, ""


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().float().cpu().contiguous().numpy().astype("<f4").tobytes()).decode()


def web_state(s: Sampler, key: str, w: torch.Tensor, centre: torch.Tensor, method: str) -> str:
    """JSON for page.mjs: everything a frame needs besides the sliders. ``key`` names what ``w``
    is (the page paints only while its controls still say the same); ``w`` [rows, w_dim];
    ``centre`` [w_dim]: what psi pulls it toward (``Sampler.centres``)."""
    base = {"key": key, "method": method}
    path, reason = _export(s)
    if path is None:
        return json.dumps({**base, "onnx": None, "reason": reason})
    size = path.stat().st_size
    dirs, stds = s.directions(method)
    n = min(APP_SLIDERS, len(stds))
    return json.dumps({
        **base, "onnx": file_url(path), "onnx_bytes": size, "resolution": s.resolution, "num_ws": s.num_ws,
        "w_dim": s.G.cfg.w_dim, "w": _b64(w), "w_avg": _b64(centre), "dirs": _b64(dirs[:n]),
        "stds": _b64(stds[:n]),
    })


def decode(b64: str) -> np.ndarray:
    """The float32 values of a state field (for tests and benchmarks)."""
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")

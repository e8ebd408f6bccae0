"""onnxruntime-web, the runtime that renders the generator in a visitor's browser: which
version and files, pinned by their sha384, and where the page loads them from.

A local copy (``make web`` fetches it from npm into ``ganart/web/ort/``) is served by the app
itself: tests and offline use need no internet. Without it (a Hugging Face Space installs only
requirements.txt), the page loads the same pinned files from a CDN, and the browser refuses
them unless their sha384 matches (Subresource Integrity). Either way the bytes are the ones
pinned here; the 14 MB WASM binary is never committed.

    python -m ganart.web_runtime FOLDER   # copy the files out of an unpacked npm package, checked
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
from pathlib import Path

VERSION = "1.30.0"  # npm onnxruntime-web (MIT licence)
# the ES module with its WASM glue inside (one file, no workers with one thread), and the
# SIMD WASM binary. WebGPU would need the 28 MB JSEP build: not worth it for a 64 px model.
FILES = {
    "ort.wasm.bundle.min.mjs": "sha384-PLWz+nHEVHpjwBsO0YVdvQj6n5814Iv8E3b8FG0Rp/uIAtjFMCKOpP66iPzedrIG",
    "ort-wasm-simd-threaded.wasm": "sha384-vjBJ1z7qrhkTyYsNqKeF6c7N+nOJSU94czEo+tvZcu8G75JparGq9kB+kTnEUNVM",
}
MODULE, WASM = FILES
CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{VERSION}/dist/"
WEB_DIR = Path(__file__).resolve().parent / "web"
LOCAL_DIR = WEB_DIR / "ort"


def sri(path: Path) -> str:
    """A file's Subresource Integrity value (sha384)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def local_copy() -> Path | None:
    """The fetched copy's folder when every file is there and matches its pin, else None."""
    if all((LOCAL_DIR / name).is_file() and sri(LOCAL_DIR / name) == pin for name, pin in FILES.items()):
        return LOCAL_DIR
    return None


def runtime_config(file_url) -> dict:
    """What the page needs to load the runtime: each file's URL and sha384. ``file_url(path)``:
    how the app serves a local file."""
    local = local_copy()
    urls = {name: file_url(local / name) if local else CDN + name for name in FILES}
    return {"version": VERSION, "source": "local" if local else "cdn",
            "module": urls[MODULE], "module_integrity": FILES[MODULE],
            "wasm": urls[WASM], "wasm_integrity": FILES[WASM]}


def install(package_dir: Path) -> None:
    """Copy the pinned files out of an unpacked npm package (``npm pack`` + tar), refusing any
    that differ from their pin, with the package's licence record beside them."""
    dist = package_dir / "dist"
    meta = json.loads((package_dir / "package.json").read_text())
    if meta.get("version") != VERSION:
        raise SystemExit(f"expected onnxruntime-web {VERSION}, got {meta.get('version')}")
    for name, pin in FILES.items():
        if sri(dist / name) != pin:
            raise SystemExit(f"{name}: sha384 differs from the pin in ganart/web_runtime.py")
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(dist / name, LOCAL_DIR / name)
    (LOCAL_DIR / "LICENSE.md").write_text(
        f"onnxruntime-web {VERSION} from npm (https://www.npmjs.com/package/onnxruntime-web), "
        f"licence: {meta.get('license')} (Copyright (c) Microsoft Corporation).\n"
        + "".join(f"- {name}: {pin}\n" for name, pin in FILES.items()))
    print(f"onnxruntime-web {VERSION}: {', '.join(FILES)} -> {LOCAL_DIR}")


if __name__ == "__main__":
    install(Path(sys.argv[1]))

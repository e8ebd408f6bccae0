"""Files the app hands out: where they go, and the empty folders Gradio's cleanup leaves."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from gradio.utils import get_upload_folder


def sweep_empty_folders(root: Path, older_than_s: float) -> int:
    """Remove the empty folders under ``root`` (not ``root``) unchanged for ``older_than_s``:
    Gradio's delete_cache removes the files it wrote, never the folder each one sat in, and a
    busy app left thousands a minute. Returns how many went."""
    now, removed = time.time(), 0
    for folder, _subfolders, names in os.walk(root, topdown=False):
        path = Path(folder)
        if path == root or names:
            continue
        try:
            if now - path.stat().st_mtime >= older_than_s and not any(path.iterdir()):
                path.rmdir()
                removed += 1
        except OSError:  # in use, or gone meanwhile
            continue
    return removed


def start_sweeper(every_s: float, older_than_s: float) -> None:
    """One thread per process sweeps Gradio's cache folder on delete_cache's schedule (the
    shortest any app of the process asked for)."""
    global _SWEEPER
    with _SWEEPER_LOCK:
        _SCHEDULE[0], _SCHEDULE[1] = min(_SCHEDULE[0], every_s), min(_SCHEDULE[1], older_than_s)
        if _SWEEPER is not None and _SWEEPER.is_alive():
            return

        def run() -> None:
            last = time.monotonic()
            while True:
                time.sleep(0.5)
                if time.monotonic() - last >= _SCHEDULE[0]:
                    sweep_empty_folders(Path(get_upload_folder()), _SCHEDULE[1])
                    last = time.monotonic()

        _SWEEPER = threading.Thread(target=run, name="ganart-cache-sweeper", daemon=True)
        _SWEEPER.start()


_SWEEPER: threading.Thread | None = None
_SWEEPER_LOCK = threading.Lock()
_SCHEDULE = [float("inf"), float("inf")]  # (every, older than) seconds


def out_dir() -> Path:
    """A new folder for files the app hands out, inside Gradio's cache: Gradio serves them
    without a copy, and its delete_cache removes them (temp folders elsewhere were never deleted)."""
    root = Path(get_upload_folder())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="ganart-", dir=root))

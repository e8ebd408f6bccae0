"""Progress for long jobs: a live bar on a terminal, a plain line now and then elsewhere.

On a pipe or a log file a tqdm bar rewrites one line with carriage returns hundreds of
times; a log wants a line per half minute instead.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

LINE_EVERY_S = 30.0


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close``, printed as whole lines every ``every_s``."""

    def __init__(self, total: int | None, initial: int, unit: str, file: TextIO, every_s: float = LINE_EVERY_S) -> None:
        self.n, self.total, self.unit, self.file, self.every_s = initial, total, unit, file, every_s
        self.postfix: dict[str, Any] = {}
        self.start = self.last = time.monotonic()
        self.start_n = initial

    def update(self, n: int) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every_s:
            self.print()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values

    def print(self) -> None:
        self.last = time.monotonic()
        rate = (self.n - self.start_n) / max(self.last - self.start, 1e-9)
        done = f"{self.n:,}/{self.total:,}" if self.total else f"{self.n:,}"
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        print(f"{done} {self.unit} ({rate:.1f} {self.unit}/s{extra})", file=self.file, flush=True)

    def close(self) -> None:
        self.print()


def progress(total: int | None, initial: int = 0, unit: str = "img", file: TextIO | None = None) -> Any:
    """A tqdm bar on a terminal, a LineProgress elsewhere, None when GANART_NO_PROGRESS=1."""
    if os.environ.get("GANART_NO_PROGRESS") == "1":
        return None
    file = file or sys.stderr
    if not file.isatty():
        return LineProgress(total, initial, unit, file)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, unit_scale=True, dynamic_ncols=True, file=file)
